"""The view's similarity sections (`snapshot.view`, header field ``"sim"``): per toolchain and
context, the parts of that context's module records the similarity model reads
(`simpulse.model.similar._entry`: a record's ``g``, ``s``, ``b`` and ``x``), so that a compile
builds its context's neighbour index from one section instead of decoding every record.

A record belongs to the section of context ``ctx`` exactly when the full path
(`similar.Index.context`) would index it: its ``k`` is ``ctx``, a record kept as a string holds
the text ``"k":"<ctx>"`` (the substring test that path starts with), and it has a signature
(``g``; without one `_entry` indexes nothing). A section is a JSON object
``{module: {"g":…,"s":…,"b":…,"x":…}}`` (keys the record lacks left out). A toolchain with a
record that cannot be decoded gets no sections: its readers take the full path, which meets the
record as it would without a view. Standard library only; imported when a view is written and
when a compile reads a section (not on the shim's import path).
"""

from __future__ import annotations

import zlib

from simpulse import _fastjson as json

KEYS = ("g", "s", "b", "x")


def slim(raw) -> tuple[str, dict] | None:
    """(context, section item) of one record as stored (a JSON string or a dict), or None when
    the full path would not index it. Raises ValueError when the record cannot be decoded."""
    rec = json.loads(raw) if isinstance(raw, str) else raw
    if type(rec) is not dict:
        raise ValueError("record is not an object")
    ctx = rec.get("k")
    if type(ctx) is not str or not rec.get("g"):
        return None
    if isinstance(raw, str) and '"k":"' + ctx + '"' not in raw:
        return None
    return ctx, {k: rec[k] for k in KEYS if k in rec}


def build(modules: dict) -> dict[str, dict] | None:
    """context → section of one toolchain's records (a plain table), or None when some record
    cannot be decoded (no sections for that toolchain)."""
    out: dict[str, dict] = {}
    try:
        for name, raw in modules.items():
            got = slim(raw)
            if got is not None:
                out.setdefault(got[0], {})[name] = got[1]
    except (ValueError, RecursionError, TypeError):
        return None
    return out


def encode(section: dict) -> bytes:
    return json.dumps(section, separators=(",", ":")).encode("ascii")


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
    except (ValueError, RecursionError, TypeError):
        return None
    for (g, ctx), items in touched.items():
        sec = view.sim_section(g, ctx) if ctx in have[g] else {}
        if sec is None:
            return None
        for name, item in items.items():
            if item is None:
                sec.pop(name, None)
        for name, item in items.items():
            if item is not None:
                sec[name] = item
        if sec:
            out[g][ctx] = _sealed(sec)
        else:
            out[g].pop(ctx, None)
    return out
