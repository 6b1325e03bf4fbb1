"""The objective: what one compile costs the build (docs/learning.md, "The objective").

A user waits for the whole build, not for one module. Lake runs one job per core and each
`lean` sizes its task pool to the cores too, so during most of a build the machine is taken: a
compile then holds the others up by the CPU it uses, not by its own wall time. With `c` the
compile's CPU time (its `lean`, pool included: `os.wait4`), `n` the compiles running (the mean
of the counts at its start and end, itself included; `shim/running.py`) and `k` the cores:

    share = c · n / k                    how long it would take on its fair share (k / n cores)
    w     = clamp((n − 1) / (k − 1), 0, 1)   how much of the machine the build itself takes
    cost  = wall^(1 − w) · share^w       (w = 1 when k = 1)

Alone (n = 1: a chain of imports, the build's tail) a compile costs its wall time: the build
waits for it, and a strategy that spreads it over idle cores is worth its wall time. With a
compile on every core (n ≥ k) it costs its fair-share time: a strategy that saves CPU saves
build time even where it makes the module itself slower, and one that only spreads the module
over more threads gains nothing. In between, a geometric blend.

Why not `max(wall, share)`: on a machine that others load too (the benchmarks' shared 2 cores,
a laptop), wall times stretch with the outside load, the `share` term is then never the larger,
and the objective falls back to each module's wall time; and with every core taken, a compile's
wall time is about its fair share anyway, so `max` changes little. CPU time is also far less
noisy than wall time on a loaded machine.

`objective = "module"` (simpulse.toml) keeps each compile's own wall time. An event without CPU
time, concurrency or cores (older events, `record`, the learning benchmark's) costs its wall time
under either objective, exactly: the learning benchmark's figures do not move.

Standard library only: the fold imports it on the shim's path.
"""

from __future__ import annotations

import math

from simpulse.model.tunables import PLAUSIBLE_SECONDS

OBJECTIVES = ("build", "module")
DEFAULT = "build"
_MAX_CONC = 1e5     # more compiles than this at once, or more cores, is not a plausible count


def _finite(v: object) -> float | None:
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
        return None
    return float(v)


def cost(wall: float, cpu: object = None, conc: object = None, cores: object = None,
         objective: str = DEFAULT) -> float:
    """One compile's cost in seconds; `wall` itself when the objective is "module", when any of
    `cpu`, `conc`, `cores` is absent or implausible, or when the compile ran alone."""
    if objective != "build":
        return wall
    c, n, k = _finite(cpu), _finite(conc), _finite(cores)
    if c is None or n is None or k is None:
        return wall
    if not (0 < c and 1 <= n <= _MAX_CONC and 1 <= k <= _MAX_CONC):
        return wall
    share = c * n / k
    lo, hi = PLAUSIBLE_SECONDS
    if not lo <= share <= hi:
        return wall
    w = 1.0 if k <= 1 else min(1.0, (n - 1) / (k - 1))
    if w <= 0.0:
        return wall
    if w >= 1.0:
        return share
    return math.exp((1.0 - w) * math.log(wall) + w * math.log(share))


def event_cost(ev: dict[str, object], wall: float) -> float:
    """The cost of a compile event whose (checked) wall time is `wall`: by the objective it was
    recorded under (`objective`, absent: "build")."""
    if ev.get("kind") != "compile" or ev.get("conc") is None:
        return wall
    return cost(wall, ev.get("cpu"), ev.get("conc"), ev.get("cores"), str(ev.get("objective") or DEFAULT))
