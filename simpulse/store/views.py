"""The snapshot's view (``snapshot.view``): what one compile needs, without parsing the whole
snapshot. Standard library only (the shim reads it).

A mathlib-sized snapshot is ~4 MB, nearly all of it module records (one per module and
toolchain); everything else — every context's arms, joint blocks, regressions, the global arms,
the counters — is ~60 KB. The view holds the same statistics split in two: the *core* (the
statistics with every toolchain's ``modules`` emptied) and the module records hashed into
buckets, each bucket a separate small JSON array. A reader parses the core and, on demand, the
one bucket that holds a record it asks for (`LazyModules`): a compile reads its own module's
record (and, for a tail event, that event's module's), not 6,000 of them.

Consistency: the view is written from the very statistics written to ``snapshot.json``, after
it, under the same lock, and carries that snapshot's cursor, ``stats_crc`` and ``written``
stamp. A reader takes the view only when those equal the ones at the head of the current
``snapshot.json`` (a 300-byte read) and every byte it parses passes its own CRC; otherwise the
view is stale or damaged and the reader loads the snapshot in full. So a view never shows the
learner other numbers than the full load would: the same statistics, the same cursor, the same
tail folded on top (`Store.load`).

Layout: one header line (JSON) and then the data it points into, offsets counted from the end
of the header line::

    {"view":1,"cursor":{...},"stats_crc":"…","written":…,"snap_bytes":N,
     "core":[length,crc],"b":[offset_0,…,offset_B],"bcrc":[crc_0,…]}\\n
    <core JSON><bucket 0: [[toolchain,module,record],…]>…<bucket B-1>

A record ``(toolchain, module)`` lives in bucket ``crc32(toolchain + "\\0" + module) % B``.
"""

from __future__ import annotations

import os
import zlib

from simpulse import _fastjson as json   # `json` without `re`: the shim imports this module

TYPE_CHECKING = False        # `typing` costs the shim an import; mypy reads this name as typing's
if TYPE_CHECKING:
    from _collections_abc import dict_items, dict_keys, dict_values
    from collections.abc import Iterable, Iterator, Mapping
    from typing import Any

    from simpulse.model.records import Stats
    from simpulse.store.simindex import Rows as SectionRows
    from simpulse.store.store import Cursor

    Base = dict[str, Any]        # {"stats_crc", "cursor", "written"}: the snapshot a view belongs to
    Head = tuple[Any, Any, Any, Any]   # (schema, cursor, written, stats_crc) of a snapshot.json
    Rows = dict[tuple[str, str], Any]  # (toolchain, module) → record, as stored

VIEW_NAME = "snapshot.view"
VIEW_VERSION = 1
PER_BUCKET = 8          # records per bucket on average: a lookup parses ~8 short strings
_HEAD_READ = 1024       # the head of snapshot.json (schema, cursor, written, stats_crc) fits


def _bucket(toolchain: str, module: str, n: int) -> int:
    return zlib.crc32(f"{toolchain}\0{module}".encode("utf-8", "surrogatepass")) % n


def splittable(stats: object) -> bool:
    """Statistics of the learner's shape: toolchains whose module records are a table."""
    tcs = stats.get("toolchains") if type(stats) is dict else None
    return type(tcs) is dict and all(type(tc) is dict and isinstance(tc.get("modules"), dict) for tc in tcs.values())


def validator_name(validate: object) -> str:
    """How a view names the check its core passed when written (`Store.load(validate=)`): the
    function and simpulse's version, so another version checks again."""
    from simpulse import __version__
    return f"{getattr(validate, '__module__', '?')}.{getattr(validate, '__qualname__', '?')}@{__version__}"


def _layout(core_b: bytes, buckets: list[bytes], cursor: Cursor, base: Base, snap_bytes: int,
            crcs: list[int] | None = None, valid: str | None = None,
            sims: Mapping[str, Mapping[str, tuple[bytes, int] | None]] | None = None) -> bytes:
    """The view's bytes; ``crcs``: the buckets' checksums where known (None: computed);
    ``valid``: the `validator_name` of a check the statistics passed; ``sims``: the similarity
    sections, toolchain → context → (bytes, crc32) (`simindex`), after the buckets."""
    offsets = [len(core_b)]
    if crcs is None:
        crcs = [zlib.crc32(data) for data in buckets]
    for data in buckets:
        offsets.append(offsets[-1] + len(data))
    head: dict[str, Any] = {"view": VIEW_VERSION, "cursor": cursor, "base": base, "snap_bytes": snap_bytes,
            "valid": valid, "core": [len(core_b), zlib.crc32(core_b)], "b": offsets, "bcrc": crcs}
    tail: list[bytes] = []
    if sims is not None:
        at = offsets[-1]
        index: dict[str, dict[str, list[int]]] = {}
        for g, secs in sims.items():
            index[g] = {}
            for ctx, sec in secs.items():
                assert sec is not None     # (`encode_successor` fills in the unchanged ones)
                data, crc = sec
                index[g][ctx] = [at, at + len(data), crc]
                at += len(data)
                tail.append(data)
        head["sim"], head["end"] = index, at
    line = json.dumps(head, separators=(",", ":")).encode("ascii")
    return b"".join([line, b"\n", core_b, *buckets, *tail])


def _core_bytes(stats: Stats) -> bytes:
    core = dict(stats)
    core["toolchains"] = {g: {**tc, "modules": {}} for g, tc in stats["toolchains"].items()}
    return json.dumps(core, separators=(",", ":")).encode("ascii")


def encode_view(stats: Stats, cursor: Cursor, base: Base, snap_bytes: int, valid: str | None = None) -> bytes:
    """The view of ``stats``, which cover the events up to ``cursor``; ``base``: the head of the
    snapshot.json the view belongs to (``{"stats_crc", "cursor", "written"}``)."""
    records = [(g, name, raw) for g, tc in stats["toolchains"].items() for name, raw in tc["modules"].items()]
    n = max(1, len(records) // PER_BUCKET + 1)
    buckets: list[list[list[Any]]] = [[] for _ in range(n)]
    for g, name, raw in records:
        buckets[_bucket(g, name, n)].append([g, name, raw])
    from simpulse.store import simindex
    return _layout(_core_bytes(stats), [json.dumps(b, separators=(",", ":")).encode("ascii") for b in buckets],
                   cursor, base, snap_bytes, valid=valid, sims=simindex.sections(stats))


def encode_successor(view: View, stats: Stats, cursor: Cursor, valid: str | None = None) -> bytes | None:
    """A view of ``stats`` — loaded through ``view`` and folded on to ``cursor`` — for the same
    snapshot: the core re-encoded, the buckets no changed record falls in copied as they are
    (what makes it cheap: a few ms for 6,000 records), the others rewritten. None when the
    statistics' records cannot be told apart that way (a table was emptied of a record, or is
    not lazy and large): the caller writes a full checkpoint instead."""
    n = len(view.crcs)
    changed: dict[int, Rows] = {}
    per_tc: dict[str, dict[str, Any]] = {}          # the same records per toolchain (the similarity sections)
    whole: set[str] = set()
    for g, tc in stats["toolchains"].items():
        m = tc["modules"]
        names: Iterable[str]
        if isinstance(m, LazyModules):
            if m._removed:
                return None
            names = m._dirty
        elif len(m) <= 4 * PER_BUCKET * 64:
            names = m.keys()      # a toolchain new since the view (created by the tail): all new
            whole.add(g)
        else:
            return None
        for name in names:
            raw = dict.__getitem__(m, name)
            changed.setdefault(_bucket(g, name, n), {})[(g, name)] = raw
            per_tc.setdefault(g, {})[name] = raw
    from simpulse.store import simindex
    sims = simindex.successor_sections(view, per_tc, whole)
    if sims is not None:
        for g, secs in sims.items():
            for ctx, got in secs.items():
                if got is None:           # unchanged: copied with its checksum, as the buckets
                    lo, hi, crc = view.head["sim"][g][ctx]
                    data = view._read(lo, hi)
                    if len(data) != hi - lo:
                        return None
                    secs[ctx] = (data, crc)
    # the unchanged buckets are copied with their checksums, unchecked: damage in them stays
    # detectable by whoever reads them next, exactly as in the view they come from
    lo = view.offsets[0]
    old = view._read(lo, view.offsets[-1])
    if len(old) != view.offsets[-1] - lo:
        return None
    buckets: list[bytes] = []
    crcs: list[int] = []
    for i in range(n):
        if i in changed:
            rows = dict(view.bucket(i))
            rows.update(changed[i])
            data = json.dumps([[g, name, raw] for (g, name), raw in rows.items()],
                              separators=(",", ":")).encode("ascii")
            crcs.append(zlib.crc32(data))
        else:
            data = old[view.offsets[i] - lo:view.offsets[i + 1] - lo]
            crcs.append(view.crcs[i])
        buckets.append(data)
    return _layout(_core_bytes(stats), buckets, cursor, view.head["base"], view.head.get("snap_bytes", 0), crcs,
                   valid, sims)


def base_of(head: Head | None) -> Base | None:
    """The key a view names its snapshot by, from `snapshot_head`'s result."""
    if head is None:
        return None
    _schema, cursor, written, crc = head
    return {"stats_crc": crc, "cursor": cursor, "written": written}


def snapshot_head(raw: bytes) -> Head | None:
    """(schema, cursor, written, stats_crc) from the first bytes of a snapshot.json, or None."""
    marker = raw.find(b',"stats":')
    if marker < 0:
        return None
    try:
        head = json.loads(raw[:marker] + b"}")
    except (ValueError, RecursionError):
        return None
    if type(head) is not dict:
        return None
    return head.get("schema"), head.get("cursor"), head.get("written"), head.get("stats_crc")


class View:
    """A view file held open (its inode: a checkpoint that renames a new view over it changes
    nothing for this reader); the header and the core read at once, each bucket read and
    checked when first asked for. The descriptor is closed when the view is dropped."""

    __slots__ = ("fd", "base", "offsets", "crcs", "head", "_parsed", "path", "__weakref__")

    def __init__(self, fd: int, path: str = VIEW_NAME) -> None:
        self.fd = fd
        self.path = path
        self._parsed: dict[int, Rows] = {}
        try:
            self._open()
        except BaseException:
            self.fd = -1
            os.close(fd)
            raise

    def _open(self) -> None:
        fd = self.fd
        first = os.pread(fd, 1 << 16, 0)
        nl = first.find(b"\n")
        while nl < 0 and len(first) % (1 << 16) == 0 and first:
            more = os.pread(fd, 1 << 20, len(first))
            if not more:
                break
            first += more
            nl = first.find(b"\n")
        if nl < 0:
            raise ValueError("no header line")
        head = json.loads(first[:nl])
        if type(head) is not dict or head.get("view") != VIEW_VERSION:
            raise ValueError("not a view of this version")
        offsets, crcs, core = head.get("b"), head.get("bcrc"), head.get("core")
        if not (type(offsets) is list and type(crcs) is list and len(offsets) == len(crcs) + 1 and crcs
                and type(core) is list and len(core) == 2 and offsets[0] == core[0]
                and offsets == sorted(offsets) and type(offsets[-1]) is int
                and type(head.get("end", 0)) is int
                and nl + 1 + max(offsets[-1], head.get("end", 0)) == os.fstat(fd).st_size):
            raise ValueError("malformed header")
        self.head: dict[str, Any] = head
        self.base = nl + 1
        self.offsets: list[int] = offsets
        self.crcs: list[int] = crcs

    def __del__(self) -> None:
        fd, self.fd = getattr(self, "fd", -1), -1
        if fd >= 0:
            try:
                os.close(fd)
            except OSError:
                pass

    def _read(self, lo: int, hi: int) -> bytes:
        data = os.pread(self.fd, hi - lo, self.base + lo)
        return data

    def core(self) -> Stats:
        data = self._read(0, self.offsets[0])
        if zlib.crc32(data) != self.head["core"][1]:
            raise ValueError("core checksum mismatch")
        core: Stats = json.loads(data)
        return core

    def bucket(self, i: int) -> Rows:
        got = self._parsed.get(i)
        if got is None:
            got = {}
            try:
                data = self._read(self.offsets[i], self.offsets[i + 1])
                ok = zlib.crc32(data) == self.crcs[i]
                if ok:
                    for g, name, raw in json.loads(data):
                        got[(g, name)] = raw
            except (OSError, ValueError, RecursionError, TypeError):
                ok = False
            if not ok:
                self.discard()
                raise ViewDamaged(f"{VIEW_NAME}: bucket {i} is damaged; removed (the next loads read the snapshot)")
            self._parsed[i] = got
        return got

    def discard(self) -> None:
        """Remove the damaged view from the state directory (best effort): the next loads read
        the snapshot in full, and the next checkpoint writes a good view."""
        try:
            os.unlink(self.path)
        except OSError:
            pass

    def sim_index(self) -> dict[str, dict[str, Any]] | None:
        """toolchain → context → [lo, hi, crc32] of the similarity sections (`simindex`), or
        None when the view has none (written without them)."""
        sim: dict[str, dict[str, Any]] | None = self.head.get("sim")
        return sim if type(sim) is dict and all(type(v) is dict for v in sim.values()) else None

    def sim_section(self, toolchain: str, ctx: str) -> dict[str, list[Any]] | None:
        """The context's section, freshly parsed (module → `simindex.slim` item); {} for a context
        without indexed modules in a toolchain that has sections; None when the toolchain has
        none or the section is damaged (the caller takes the full path: slower, same numbers)."""
        data = self.sim_bytes(toolchain, ctx)
        if not data:
            return None if data is None else {}
        from simpulse.store.simindex import decode
        try:
            return decode(data)
        except (ValueError, RecursionError, TypeError):
            return None

    def sim_rows(self, toolchain: str, ctx: str) -> SectionRows | None:
        """The context's section as `simindex.Rows` (rows decoded when asked for); None as
        `sim_section` (an empty section: empty rows)."""
        data = self.sim_bytes(toolchain, ctx)
        if data is None:
            return None
        from simpulse.store.simindex import rows
        try:
            return rows(data)
        except (ValueError, RecursionError, TypeError):
            return None

    def sim_bytes(self, toolchain: str, ctx: str) -> bytes | None:
        """The context's section as written, checked (b"" for none); None as `sim_section`."""
        secs = (self.sim_index() or {}).get(toolchain)
        if secs is None:
            return None
        at = secs.get(ctx)
        if at is None:
            return b""
        try:
            lo, hi, crc = at
            if not self.offsets[-1] <= lo <= hi:
                return None
            data = self._read(lo, hi)
        except (OSError, ValueError, TypeError):
            return None
        return data if len(data) == hi - lo and zlib.crc32(data) == crc else None

    def lookup(self, toolchain: str, module: str) -> Any:
        return self.bucket(_bucket(toolchain, module, len(self.crcs))).get((toolchain, module), _MISSING)

    def records(self, toolchain: str) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for i in range(len(self.crcs)):
            for (g, name), raw in self.bucket(i).items():
                if g == toolchain:
                    out[name] = raw
        return out


class ViewDamaged(Exception):
    """A bucket failed its checksum: `Store.load` starts over from the snapshot; met later
    (a decision), the shim fails open for this compile, and the view is gone for the next."""


_MISSING = object()


class LazyModules(dict[str, "Any"]):
    """A toolchain's module records, read from the view as they are asked for. Behaves as the
    full table would: a lookup of a record not yet read reads its bucket; anything that needs
    the whole table (iterating, its length, removing) reads every record first (`full`)."""

    __slots__ = ("_view", "_tc", "_all", "_dirty", "_removed")

    def __init__(self, view: View, toolchain: str) -> None:
        super().__init__()
        self._view, self._tc, self._all = view, toolchain, False
        self._dirty: set[str] = set()        # records set since the view was read (`encode_successor`)
        self._removed = False

    def _want(self, key: object) -> None:
        if not self._all and not dict.__contains__(self, key) and isinstance(key, str):
            raw = self._view.lookup(self._tc, key)
            if raw is not _MISSING:
                dict.__setitem__(self, key, raw)

    def context_records(self, ctx: str) -> SectionRows | None:
        """module → row (`simindex.Rows`) of every record the similarity index of context ``ctx``
        takes (`simindex.slim`), from the view's section with the records set since the view
        was read laid over it (as items); None when that cannot be known exactly (no or a
        damaged section, a record removed, one that cannot be decoded): the caller iterates the
        table instead."""
        if self._removed:
            return None
        sec = self._view.sim_rows(self._tc, ctx)
        if sec is None:
            return None
        if self._dirty:
            from simpulse.store.simindex import slim
            try:
                for name in self._dirty:
                    got = slim(dict.__getitem__(self, name))
                    if got is not None and got[0] == ctx:
                        sec[name] = got[1]
                    else:
                        sec.pop(name, None)
            except (ValueError, RecursionError, TypeError, KeyError, AttributeError, IndexError):
                return None
        return sec

    def full(self) -> LazyModules:
        if not self._all:
            for name, raw in self._view.records(self._tc).items():
                if not dict.__contains__(self, name):
                    dict.__setitem__(self, name, raw)
            self._all = True
        return self

    @property
    def complete(self) -> bool:
        return self._all

    def get(self, key: str, default: Any = None) -> Any:
        self._want(key)
        return dict.get(self, key, default)

    def __getitem__(self, key: str) -> Any:
        self._want(key)
        return dict.__getitem__(self, key)

    def __contains__(self, key: object) -> bool:
        self._want(key)
        return dict.__contains__(self, key)

    def __setitem__(self, key: str, value: Any) -> None:
        self._dirty.add(key)
        dict.__setitem__(self, key, value)

    def setdefault(self, key: str, default: Any = None) -> Any:
        self._want(key)
        if not dict.__contains__(self, key):
            self._dirty.add(key)
        return dict.setdefault(self, key, default)

    def update(self, *args: Any, **kw: Any) -> None:
        for k, v in dict(*args, **kw).items():
            self[k] = v

    def pop(self, key: str, *default: Any) -> Any:
        self.full()
        self._removed = True
        return dict.pop(self, key, *default)

    def __delitem__(self, key: str) -> None:
        self.full()
        self._removed = True
        dict.__delitem__(self, key)

    def popitem(self) -> tuple[str, Any]:
        self.full()
        self._removed = True
        return dict.popitem(self)

    def clear(self) -> None:
        self._all = self._removed = True
        dict.clear(self)

    def keys(self) -> dict_keys[str, Any]:
        return dict.keys(self.full())

    def values(self) -> dict_values[str, Any]:
        return dict.values(self.full())

    def items(self) -> dict_items[str, Any]:
        return dict.items(self.full())

    def __iter__(self) -> Iterator[str]:
        return dict.__iter__(self.full())

    def __len__(self) -> int:
        return dict.__len__(self.full())

    def __eq__(self, other: object) -> bool:
        return dict.__eq__(self.full(), other)

    def __ne__(self, other: object) -> bool:
        return dict.__ne__(self.full(), other)

    __hash__ = None

    def copy(self) -> dict[str, Any]:
        return dict(dict.items(self.full()))

    def __repr__(self) -> str:
        return f"LazyModules({self._tc!r}, {dict.__len__(self)} read{', all' if self._all else ''})"

    def __reduce__(self) -> tuple[Any, ...]:
        return (dict, (self.copy(),))


def attach(core: Stats, view: View) -> Stats:
    """The core's toolchains given lazily read module tables (the core's own are empty)."""
    for g, tc in core["toolchains"].items():
        tc["modules"] = LazyModules(view, g)
    return core


def detach(stats: Stats) -> bool:
    """Every lazy module table read in full and made a plain dict (before the statistics are
    written or handed on). True when some table had to be read whole here."""
    read = False
    for tc in stats.get("toolchains", {}).values():
        m = tc.get("modules") if type(tc) is dict else None
        if isinstance(m, LazyModules):
            read |= not m.complete
            tc["modules"] = m.copy()
    return read


def materialized(stats: Stats) -> bool:
    """True when some lazy module table has been read whole (a context-wide refresh ran)."""
    return any(isinstance(tc.get("modules"), LazyModules) and tc["modules"].complete
               for tc in stats.get("toolchains", {}).values() if type(tc) is dict)
