"""The view's similarity sections (`snapshot.view`, header field ``"sim"``): per toolchain and
context, the parts of that context's module records the similarity model reads
(`simpulse.model.similar._entry`: a record's ``g``, ``s``, ``b`` and ``x``), so that a compile
builds its context's neighbour index from one section instead of decoding every record, and
decodes the rest of a record only for the modules it looks at (the nearest ones).

A record belongs to the section of context ``ctx`` exactly when the full path
(`similar.Index.context`) would index it: its ``k`` is ``ctx``, a record kept as a string holds
the text ``"k":"<ctx>"`` (the substring test that path starts with), and it has a signature
(``g``) and something measured (a strategy's cell or a breakage: without either `_entry`
indexes nothing). A section holds per module its item ``[g, rest, d]`` (`slim`): the signatures
as float64, the rest as text decoded only for the modules a decision looks at (`encode`). A
toolchain with a record that cannot be decoded gets no sections: its readers take the full path,
which meets the record as it would without a view. Standard library only; imported when a view is written and
when a compile reads a section (not on the shim's import path).
"""

from __future__ import annotations

import sys
import zlib
from itertools import accumulate

from simpulse import _fastjson as json

TYPE_CHECKING = False        # `typing` costs the shim an import; mypy reads this name as typing's
if TYPE_CHECKING:
    from typing import Any

    from simpulse.model.records import Stats
    from simpulse.store.views import View

    Item = list[Any]                         # [g, rest, d] (`slim`)
    Section = dict[str, Item]                # module → item
    Sealed = tuple[bytes, int]               # a section's bytes and their crc32

    _RowDict = dict[str, Any]
else:
    _RowDict = dict

KEYS = ("s", "b", "x")
_BIG = sys.byteorder == "big"


def slim(raw: Any) -> tuple[str, Item] | None:
    """(context, section item) of one record as stored (a JSON string or a dict), or None when
    the full path would not index it (`similar._entry` would give None). The item is
    ``[g, rest, d]``: the signature, the record's ``s``/``b``/``x`` as compact JSON (decoded
    only for the modules a decision looks at), and ``len(x)`` when the entry predicts the
    module's level from its features (one strategy measured, ``x`` present), else 0. Raises
    ValueError when the record cannot be decoded."""
    rec = json.loads(raw) if isinstance(raw, str) else raw
    if type(rec) is not dict:
        raise ValueError("record is not an object")
    ctx, g = rec.get("k"), rec.get("g")
    if type(ctx) is not str or not g:
        return None
    if type(g) is not list or not all(type(v) is float for v in g):
        raise ValueError("a signature of other than floats")     # (kept as float64: not exactly)
    if isinstance(raw, str) and '"k":"' + ctx + '"' not in raw:
        return None
    cells = sum(1 for v in rec.get("s", {}).values() if v and v[0] > 0)
    if not cells and not frozenset(rec.get("b", ())):
        return None
    x = rec.get("x")
    rest = json.dumps({k: rec[k] for k in KEYS if k in rec}, separators=(",", ":"))
    return ctx, [g, rest, len(x) if cells == 1 and x else 0]


def build(modules: dict[str, Any]) -> dict[str, Section] | None:
    """context → section (module → item) of one toolchain's records (a plain table), or None
    when some record cannot be decoded (no sections for that toolchain)."""
    out: dict[str, Section] = {}
    try:
        for name, raw in modules.items():
            got = slim(raw)
            if got is not None:
                out.setdefault(got[0], {})[name] = got[1]
    except (ValueError, RecursionError, TypeError, AttributeError, IndexError):
        return None
    return out


def encode(section: Section) -> bytes:
    """A section's bytes: a JSON header line ``{"names","dims","d","rl"}`` (the modules, their
    signatures' lengths, their ``d``, their ``rest``'s lengths), then every signature as
    little-endian float64 (parsing 15,000 decimal floats was most of a decision's cost), then
    every ``rest`` (ASCII JSON) one after another."""
    return _join([], [], [], [], [], [], section)


def _join(names: list[str], dims: list[int], ds: list[int], rl: list[int], gparts: list[bytes], rparts: list[bytes],
          more: Section) -> bytes:
    """The bytes of a section of the rows given in pieces (signature bytes, rest bytes) and the
    items of ``more`` after them."""
    if more:
        # `struct`, not `array`: the shim writes sections, and `array` imports `collections` (~2 ms)
        from struct import pack
        flat: list[float] = []
        for name, (g, rest, d) in more.items():
            names.append(name)
            dims.append(len(g))
            ds.append(d)
            flat.extend(g)
            r = rest.encode("ascii")
            rl.append(len(r))
            rparts.append(r)
        gparts.append(pack(f"<{len(flat)}d", *flat))
    head = json.dumps({"names": names, "dims": dims, "d": ds, "rl": rl}, separators=(",", ":")).encode("ascii")
    return b"".join([head, b"\n", *gparts, *rparts])


def _parts(data: bytes) -> tuple[list[str], list[int], list[int], list[int], bytes, bytes] | None:
    """(names, dims, ds, rl, signature bytes, rest bytes) of a section, or None."""
    nl = data.find(b"\n")
    head = json.loads(data[:nl]) if nl > 0 else None
    if type(head) is not dict:
        return None
    names, dims, ds, rl = head.get("names"), head.get("dims"), head.get("d"), head.get("rl")
    if not (type(names) is type(dims) is type(ds) is type(rl) is list and len(names) == len(dims) == len(ds) == len(rl)):
        return None
    total = sum(dims)
    raw = data[nl + 1:nl + 1 + 8 * total]
    blob = data[nl + 1 + 8 * total:]
    if len(raw) != 8 * total or len(blob) != sum(rl):
        return None
    return names, dims, ds, rl, raw, blob


def decode(data: bytes) -> Section | None:
    """A section's bytes as module → item, or None when they are not a section."""
    got = rows(data) if data else None
    return None if got is None else {name: got.item(v) for name, v in got.items()}


class Rows(_RowDict):
    """A section read for one decision: module → its row in the section's bytes (an int), or an
    item (`slim`) laid over it (`LazyModules.context_records`). A row's item is built only when
    asked for (`item`): a decision ranks every module by its signature (a slice of `flat`, the
    signatures read at once) and decodes the rest of the nearest ones' only."""

    __slots__ = ("names", "flat", "at", "dims", "ds", "pos", "rl", "blob")
    names: list[str]
    flat: list[float]
    at: list[int]
    dims: list[int]
    ds: list[int]
    pos: list[int]
    rl: list[int]
    blob: bytes

    def item(self, v: Any) -> Item:
        """The item of a value of this table (a row's number, or an item already)."""
        if type(v) is not int:
            return list(v)
        a, p = self.at[v], self.pos[v]
        return [self.flat[a:a + self.dims[v]], self.blob[p:p + self.rl[v]].decode("ascii"), self.ds[v]]


def rows(data: bytes) -> Rows | None:
    """A section's bytes as `Rows` (nothing decoded but the header and the signatures; b"":
    none), or None when they are not a section."""
    got = _parts(data) if data else ([], [], [], [], b"", b"")
    if got is None:
        return None
    names, dims, ds, rl, raw, blob = got
    out = Rows(zip(names, range(len(names))))        # (a name twice: its last row, as `decode`)
    out.names, out.flat = names, _floats(raw)
    out.dims, out.ds, out.rl, out.blob = dims, ds, rl, blob
    out.at, out.pos = list(accumulate(dims, initial=0)), list(accumulate(rl, initial=0))
    return out


def _floats(raw: bytes) -> list[float]:
    if _BIG:
        from array import array
        flat = array("d")
        flat.frombytes(raw)
        flat.byteswap()
        return flat.tolist()
    got: Any = memoryview(raw).cast("d").tolist()        # (floats; typed as ints) no import on the shim's path
    return got  # type: ignore[no-any-return]


def splice(data: bytes, items: dict[str, Item | None]) -> bytes:
    """A section's bytes with the rows of ``items``' modules removed and, for those whose item is
    not None, set anew at the end: a successor's rebuild of a section a changed record left or
    joined — the other rows copied as bytes, not decoded. Raises ValueError when ``data`` is not
    a section."""
    more = {name: item for name, item in items.items() if item is not None}
    if not data:
        return encode(more) if more else b""
    got = _parts(data)
    if got is None:
        raise ValueError("not a section")
    names, dims, ds, rl, raw, blob = got
    kn: list[str] = []
    kd: list[int] = []
    kds: list[int] = []
    krl: list[int] = []
    gparts: list[bytes] = []
    rparts: list[bytes] = []
    at = pos = 0
    g0 = r0 = 0                 # where the current run of kept rows began
    for name, k, d, r in zip(names, dims, ds, rl):
        if name in items:
            gparts.append(raw[8 * g0:8 * at])
            rparts.append(blob[r0:pos])
            g0, r0 = at + k, pos + r
        else:
            kn.append(name)
            kd.append(k)
            kds.append(d)
            krl.append(r)
        at += k
        pos += r
    gparts.append(raw[8 * g0:8 * at])
    rparts.append(blob[r0:pos])
    if not kn and not more:
        return b""
    return _join(kn, kd, kds, krl, gparts, rparts, more)


def sections(stats: Stats) -> dict[str, dict[str, Sealed]]:
    """toolchain → context → (bytes, crc32): the sections of a full view of ``stats``."""
    out: dict[str, dict[str, Sealed]] = {}
    for g, tc in stats["toolchains"].items():
        built = build(tc["modules"])
        if built is not None:
            out[g] = {ctx: _sealed(sec) for ctx, sec in built.items()}
    return out


def _sealed(sec: Section) -> Sealed:
    data = encode(sec)
    return data, zlib.crc32(data)


def successor_sections(view: View, changed: dict[str, dict[str, Any]], whole: set[str]) -> dict[str, dict[str, Sealed | None]] | None:
    """The sections of a successor of ``view`` (toolchain → context → (bytes, crc32), or None
    for a section copied unchanged from ``view``): those of the contexts a changed record left
    or joined rebuilt from the view's section and the changed records, the others copied.
    ``changed``: toolchain → {module: record}; ``whole``: the toolchains whose ``changed`` is
    their whole table (new since the view). A toolchain the view has no sections for gets none
    (unless whole). None when the view has no sections or one cannot be rebuilt: the successor
    carries none, and its readers take the full path."""
    have = view.sim_index()
    if have is None:
        return None
    out: dict[str, dict[str, Sealed | None]] = {g: dict.fromkeys(ctxs) for g, ctxs in have.items()}
    touched: dict[tuple[str, str], dict[str, Item | None]] = {}     # (toolchain, context) → {module: item or None}
    try:
        for g, recs in changed.items():
            if g not in have:
                built = build(recs) if g in whole else None
                if built is not None:
                    out[g] = {ctx: _sealed(sec) for ctx, sec in built.items()}
                continue
            for name, raw in recs.items():
                new = slim(raw)
                old = view.lookup(g, name)
                old = slim(old) if isinstance(old, (str, dict)) else None
                if old is not None:
                    touched.setdefault((g, old[0]), {})[name] = None
                if new is not None:
                    touched.setdefault((g, new[0]), {})[name] = new[1]
    except (ValueError, RecursionError, TypeError, AttributeError, IndexError):
        return None
    for (g, ctx), items in touched.items():
        old = view.sim_bytes(g, ctx) if ctx in have[g] else b""
        if old is None:
            return None          # damaged: not carried on (its readers would not see it)
        try:
            data = splice(old, items)
        except (ValueError, RecursionError, TypeError):
            return None
        if data:
            out[g][ctx] = (data, zlib.crc32(data))
        else:
            out[g].pop(ctx, None)
    return out
