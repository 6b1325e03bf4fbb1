"""Neighbours by signature: the `n` modules nearest a module, exactly as sorting all of them by
(distance, name) would give, without sorting all of them (`closest`), and for many modules at
once with numpy (`closest_many`, for `simpulse stats`: not on the shim's path). Used by the
similarity model (`simpulse.model.similar`), which reads the first SCAN of them. Standard
library only at import.
"""

from __future__ import annotations

import math

TYPE_CHECKING = False        # `typing` costs the shim an import; mypy reads this name as typing's
if TYPE_CHECKING:
    from collections.abc import Iterable

SCAN = 48         # the neighbours a module's list holds (`similar.SCAN`: 4 K)
TIE = 1e-12       # relative gap under which numpy's distance order is not trusted (`closest_many`)


def closest(sig: list[float], sigs: Iterable[tuple[str, list[float]]], skip: str | None,
            n: int = SCAN) -> list[str]:
    """The `n` names of `sigs` (name, signature) nearest `sig` but `skip`, nearest first: the
    first `n` of all of them sorted by (distance, name), without sorting all of them (the
    distances alone are sorted, to find the `n`-th; only those within it are ranked)."""
    dist, k = math.dist, len(sig)
    ds: list[float] = []
    ns: list[str] = []
    for name, g in sigs:
        if name != skip and len(g) == k:
            ds.append(dist(sig, g))
            ns.append(name)
    return _first(ds, ns, n)


def _first(ds: list[float], ns: list[str], n: int) -> list[str]:
    """The names of the `n` least (distance, name) pairs of `ds` and `ns`, least first."""
    if len(ds) > n:
        cut = sorted(ds)[n - 1]
        pairs = sorted([(d, name) for d, name in zip(ds, ns) if d <= cut])
    else:
        pairs = sorted(zip(ds, ns))
    return [name for _, name in pairs[:n]]


def closest_many(queries: dict[str, list[float]], sigs: list[tuple[str, list[float]]],
                 n: int = SCAN) -> dict[str, list[str]]:
    """`closest` of every module of `queries` (module → signature) among `sigs`, the same lists:
    numpy finds, per module, the candidates within (a hair over) its `n`-th distance in blocks,
    and ranks them (math.dist ranks a module's where two distances are too close to call). Not
    on the shim's path (numpy): `stats` explains hundreds of modules a context, each of which
    would measure its distance to every other."""
    import numpy as np
    dist = math.dist
    out: dict[str, list[str]] = {}
    dims = {len(g) for _, g in sigs}
    if len(dims) != 1 or len(sigs) <= n + 1:
        return {m: closest(g, sigs, m, n) for m, g in queries.items()}
    k = dims.pop()
    names = [name for name, _ in sigs]
    where = {name: i for i, name in enumerate(names)}
    rank = np.empty(len(names), dtype=np.int64)           # names in Python's string order
    rank[sorted(range(len(names)), key=names.__getitem__)] = np.arange(len(names))
    every_l = [g for _, g in sigs]
    every = np.array(every_l, dtype=float)
    norms = (every * every).sum(axis=1)
    if not norms.max() < 1e4:                  # (not a signature `signature` computes) exact, slowly
        return {m: closest(g, sigs, m, n) for m, g in queries.items()}
    todo = [(m, g) for m, g in queries.items() if len(g) == k]
    out.update({m: closest(g, sigs, m, n) for m, g in queries.items() if len(g) != k})
    for lo in range(0, len(todo), 256):
        block = todo[lo:lo + 256]
        q = np.array([g for _, g in block], dtype=float)
        # squared distances as |q|² + |e|² − 2 q·e: off by ~1e-10 at most (the squared norms
        # are below 1e4), so every module within 1e-9 of a row's n-th is a candidate
        d2 = (q * q).sum(axis=1)[:, None] + norms[None, :] - 2.0 * (q @ every.T)
        for r, (m, _) in enumerate(block):
            i = where.get(m)
            if i is not None:
                d2[r, i] = np.inf
        cut = np.partition(d2, n - 1, axis=1)[:, n - 1]
        rows, cols = np.nonzero(d2 <= (cut + 1e-9 * (1.0 + np.abs(cut)))[:, None])    # row by row
        # the candidates' distances, from their differences (within a few ulps of math.dist),
        # ranked per row by (distance, name); a row where two different signatures among its
        # first n + 1 are closer than TIE apart (rounding might order them otherwise) is ranked
        # with math.dist, as `closest` ranks (equal signatures are equally far either way)
        diff = q[rows] - every[cols]
        d = np.sqrt((diff * diff).sum(axis=1))
        order = np.lexsort((rank[cols], d, rows))
        rows, cols, d = rows[order], cols[order], d[order]
        ends = np.cumsum(np.bincount(rows, minlength=len(block))).tolist()
        starts = [0] + ends[:-1]
        near = np.zeros(len(d), dtype=bool)
        near[1:] = (rows[1:] == rows[:-1]) & (d[1:] - d[:-1] <= TIE * (1.0 + d[1:]))
        near[1:] &= (every[cols[1:]] != every[cols[:-1]]).any(axis=1)
        near_l, cols_l = near.tolist(), cols.tolist()
        for (m, g), start, end in zip(block, starts, ends):
            if any(near_l[start + 1:min(end, start + n + 1)]):
                js = [j for j in cols_l[start:end] if names[j] != m]
                out[m] = _first([dist(g, every_l[j]) for j in js], [names[j] for j in js], n)
            else:
                out[m] = [names[j] for j in cols_l[start:min(end, start + n)]]
    return out
