"""Contexts that split themselves into parts, by what the modules' sources look like.

A context is a heuristic: one context can hold modules of kinds that respond differently to the
strategies (list-induction lemmas and rewriting lemmas both read as `simp_heavy`). The
neighbours' offsets (`simpulse.model.similar`) correct a module's prediction, but the decision's
uncertainty, its exploration and its breakage remain the context's, which the context's most
common kind dominates: a kind whose best strategy differs rarely gets to try it. So a context
splits, once its modules show it, into *parts*: a part is a context of its own for the learner
(its own joint posterior, exploration, breakage, levels and neighbours; the others' evidence as a
shared prior, as between any two contexts), named ``<context>.<tactic>``.

* **Where a module goes** (`assign`, at a decision). A module keeps the part its record names
  (``"p"``: where it last compiled) while its source's tactic profile (`similar.signature`) is unchanged. Otherwise it joins the
  part whose centre — the mean profile of the modules that joined it — is nearest, if that is
  within `RADIUS`; farther from every centre than that, it founds a new part (at most
  `MAX_PARTS` a context; past them, the nearest). A context's first part is the context itself,
  under its own name: a context whose modules look alike never splits and reads as before.
* **The centres** are statistics like any other: the fold (`joined`) adds a module's profile
  to its part's centre when a compile of it lands in a part it was not in, so a replay of the
  log rebuilds them. `stats["parts"]`: context → [[part, Σ profile, modules], ...] (all
  toolchains: a part is about what sources look like, not about the compiler).
* **The radius** is in profile units: per tactic, log(1 + 10 × uses per declaration), so 2.5
  is, e.g., a tactic used on every declaration (2.4) against one never used, or the same
  tactic at a rate 12 times another's. Profiles from fewer than `MIN_DECLARATIONS` declarations
  are too coarse to found a part (they join the nearest). `tiny` modules never split their
  context (cheap, and their profiles are noise).

Measured (SIMULATED, docs/learning.md, "Parts"): on the benchmark workloads whose contexts hold
hidden kinds, splitting so recovers what the learner does when told each module's kind.
Standard library only: the shim decides and folds with it.
"""

from __future__ import annotations

import math

TYPE_CHECKING = False        # `typing` costs the shim an import; mypy reads this name as typing's
if TYPE_CHECKING:
    from typing import Any

    from simpulse.model.records import ModuleRecord, Stats

RADIUS = 2.5               # profile distance past which a module founds a part (see above)
MAX_PARTS = 4              # parts per context, the first (the context's own name) included
MIN_DECLARATIONS = 3       # a module founds a part only with this many declarations
NO_SPLIT = frozenset({"tiny"})
SEP = "."


def parent(ctx: str) -> str:
    """The context a part belongs to (a context is its own first part)."""
    return ctx.split(SEP, 1)[0]


def _centre(part: list[Any]) -> list[float]:
    n = part[2] or 1
    return [v / n for v in part[1]]


def assign(stats: Stats, context: str, sig: list[float] | None, mod: ModuleRecord | None,
           declarations: float | None = None) -> str:
    """The part of `context` the module compiles in (`context` itself where it has not split).
    `sig`: the module's tactic profile now (None: unknown — it keeps its record's part);
    `mod`: its record, if any; `declarations`: how many its source has (None: unknown)."""
    base = parent(context)
    k = mod.get("p") if mod else None
    mine = k if isinstance(k, str) and parent(k) == base else None
    if mine is not None and (sig is None or sig == mod.get("g")):
        return mine                            # unchanged profile: the part it was in
    if sig is None or base in NO_SPLIT:
        return base
    parts = stats.get("parts", {}).get(base)
    if not parts:
        return base
    best, best_d = base, math.inf
    for p in parts:
        if p[2] <= 0:
            continue
        d = math.dist(sig, _centre(p)) if len(p[1]) == len(sig) else math.inf
        if d < best_d:
            best, best_d = p[0], d
    if best_d <= RADIUS or len(parts) >= MAX_PARTS or (declarations is not None and declarations < MIN_DECLARATIONS):
        return best
    return _new_name(base, sig, parts)


def _new_name(base: str, sig: list[float], parts: list[list[Any]]) -> str:
    """``<context>.<tactic>``: the tactic the module uses most beyond the context's first part
    (``.2``, ``.3`` … after it if that name is taken)."""
    from simpulse.model.similar import SIG_KEYS
    first = _centre(parts[0]) if len(parts[0][1]) == len(sig) and parts[0][2] > 0 else [0.0] * len(sig)
    i = max(range(len(sig)), key=lambda j: (sig[j] - first[j], -j))
    name = f"{base}{SEP}{SIG_KEYS[i] if i < len(SIG_KEYS) else 'part'}"
    taken = {p[0] for p in parts}
    out, n = name, 2
    while out in taken:
        out, n = f"{name}{SEP}{n}", n + 1
    return out


def joined(stats: Stats, ctx: str, sig: list[float] | None, was: str | None,
           was_sig: list[float] | None = None) -> None:
    """The fold's hook: a compile of a module of profile `sig` landed in `ctx`, where its
    record said `was` (with the profile `was_sig`) before. A module new to the part adds its
    profile to the part's centre (the part is created if this is its first module) and takes
    its old one out of the part it left; one whose profile an edit changed moves its part's
    centre by the difference."""
    if sig is None:
        return
    base = parent(ctx)
    if base in NO_SPLIT:
        return
    if ctx == was:
        p = _find(stats, ctx)
        if p is not None and was_sig is not None and was_sig != sig and len(was_sig) == len(sig) == len(p[1]):
            p[1] = [round(a - b + c, 4) for a, b, c in zip(p[1], was_sig, sig)]
        return
    old = _find(stats, was) if isinstance(was, str) and was_sig is not None else None   # (another
    if old is not None and old[2] > 0 and len(old[1]) == len(was_sig):          # context's, if reclassified)
        old[1] = [round(a - b, 4) for a, b in zip(old[1], was_sig)]   # it left: its profile leaves the centre
        old[2] -= 1
    p = _find(stats, ctx)
    if p is not None:
        if len(p[1]) == len(sig):
            p[1] = [round(a + b, 4) for a, b in zip(p[1], sig)]
            p[2] += 1
        return
    parts = stats.setdefault("parts", {}).setdefault(base, [])
    if ctx != base and not parts:
        # a part named before its context's first part has a module (an import, a record of
        # another project's): the context's own name comes first all the same
        parts.append([base, [0.0] * len(sig), 0])
    parts.append([ctx, [round(v, 4) for v in sig], 1])


def _find(stats: Stats, name: str) -> list[Any] | None:
    """The part named `name` ([name, Σ profile, modules joined]), or None."""
    for p in (stats.get("parts") or {}).get(parent(name), ()):
        if p[0] == name:
            return p
    return None


def lines(stats: Stats) -> list[str]:
    """One line per context that has split (for `stats`): its parts and how many modules joined
    each."""
    out = []
    for base, ps in sorted((stats.get("parts") or {}).items()):
        if len(ps) >= 2:
            each = ", ".join(f"{p[0]} ({p[2]})" for p in ps)
            out.append(f"{base} split by its modules' tactics into {len(ps)} parts (modules joined): {each}")
    return out
