"""The view's similarity sections (`snapshot.view`, header field ``"sim"``): per toolchain and
context, the parts of that context's module records the similarity model reads
(`simpulse.model.similar._entry`: a record's ``g``, ``s``, ``b`` and ``x``), so that a compile
builds its context's neighbour index from one section instead of decoding every record, and
decodes the rest of a record only for the modules it looks at (the nearest ones).

A record belongs to the section of context ``ctx`` exactly when the full path
(`similar.Index.context`) would index it: its ``k`` is ``ctx``, a record kept as a string holds
the text ``"k":"<ctx>"`` (the substring test that path starts with), and it has a signature
(``g``) and something measured (a strategy's cell or a breakage: without either `_entry`
indexes nothing). A section is one compact JSON row ``[module, g, rest, d]`` (`slim`) a line, so
that a successor view rebuilds a section by replacing lines (`splice`), without parsing it. A
toolchain with a record that cannot be decoded gets no sections: its readers take the full path,
which meets the record as it would without a view. Standard library only; imported when a view is written and
when a compile reads a section (not on the shim's import path).
"""

from __future__ import annotations

import zlib

from simpulse import _fastjson as json

KEYS = ("s", "b", "x")


def slim(raw) -> tuple[str, list] | None:
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
    if isinstance(raw, str) and '"k":"' + ctx + '"' not in raw:
        return None
    cells = sum(1 for v in rec.get("s", {}).values() if v and v[0] > 0)
    if not cells and not frozenset(rec.get("b", ())):
        return None
    x = rec.get("x")
    rest = json.dumps({k: rec[k] for k in KEYS if k in rec}, separators=(",", ":"))
    return ctx, [g, rest, len(x) if cells == 1 and x else 0]


def build(modules: dict) -> dict[str, dict] | None:
    """context → section (module → item) of one toolchain's records (a plain table), or None
    when some record cannot be decoded (no sections for that toolchain)."""
    out: dict[str, dict] = {}
    try:
        for name, raw in modules.items():
            got = slim(raw)
            if got is not None:
                out.setdefault(got[0], {})[name] = got[1]
    except (ValueError, RecursionError, TypeError, AttributeError, IndexError):
        return None
    return out


def _row(name: str, item: list) -> bytes:
    return json.dumps([name, *item], separators=(",", ":")).encode("ascii")


def encode(section: dict) -> bytes:
    """One compact JSON row ``[module, g, rest, d]`` a line (JSON text holds no raw newline)."""
    return b"\n".join(_row(name, item) for name, item in section.items())


def decode(data: bytes) -> dict | None:
    """A section's bytes as module → item, or None when they are not a section."""
    rows = json.loads(b"[" + data.replace(b"\n", b",") + b"]")
    if type(rows) is not list or not all(type(r) is list and len(r) == 4 for r in rows):
        return None
    return {r[0]: r[1:] for r in rows}


def splice(data: bytes, items: dict) -> bytes:
    """A section's bytes with the rows of ``items``' modules removed and, for those whose item is
    not None, the new rows appended: a successor's cheap rebuild (no parse of the others)."""
    prefixes = tuple(b"[" + json.dumps(name).encode("ascii") + b"," for name in items)
    rows = [row for row in data.split(b"\n") if row and not row.startswith(prefixes)] if data else []
    rows += [_row(name, item) for name, item in items.items() if item is not None]
    return b"\n".join(rows)


def sections(stats: dict) -> dict[str, dict[str, tuple[bytes, int]]]:
    """toolchain → context → (bytes, crc32): the sections of a full view of ``stats``."""
    out = {}
    for g, tc in stats["toolchains"].items():
        built = build(tc["modules"])
        if built is not None:
            out[g] = {ctx: _sealed(sec) for ctx, sec in built.items()}
    return out


def _sealed(sec: dict) -> tuple[bytes, int]:
    data = encode(sec)
    return data, zlib.crc32(data)


def successor_sections(view, changed: dict, whole: set) -> dict[str, dict[str, tuple[bytes, int] | None]] | None:
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
    out: dict[str, dict[str, tuple[bytes, int] | None]] = {g: dict.fromkeys(ctxs) for g, ctxs in have.items()}
    touched: dict[tuple[str, str], dict] = {}     # (toolchain, context) → {module: item or None}
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
        data = splice(old, items)
        if data:
            out[g][ctx] = (data, zlib.crc32(data))
        else:
            out[g].pop(ctx, None)
    return out
