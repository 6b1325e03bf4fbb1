"""The learner: the one API used by the shim, the CLI and the benchmarks.

    learner = Learner(state_dir, policy="thompson", seed=0)
    decision = learner.choose(module="Fixtures.Arith", source=b"...")
    learner.observe(decision, seconds=1.23, ok=True)

Model (docs/learning.md). A build compiles a module once, so a reward cannot compare a module
with itself inside one build. Log compile time is modelled as

    log t = μ_module + δ_(context, strategy) + ε,     δ_(context, baseline) = 0

Every observation of a module, under any strategy, informs both: its residual against the
module's current level ``μ̂`` is evidence on δ (weighted by how well μ̂ is known), and the
observation de-biased by the current δ̂ updates μ̂. A strategy that breaks a module is charged
what it cost: ``log((t_failed + t_baseline) / t_baseline)`` — the fallback compile of the same
module in the same invocation is its own baseline.

The statistics are a plain JSON-able dict folded event by event (`fold`), so the store can
snapshot them and replay only the tail of the event log. Standard library only.
"""

from __future__ import annotations

import math
import os
import random
import time

from simpulse import _fastjson as json   # `json` without `re` (hot path)
from simpulse._record import Record

from simpulse.errors import SimpulseError
from simpulse.policy import joint as J
from simpulse.policy import posterior as P
from simpulse.policy.policies import POLICIES, ArmView, greedy
from simpulse.strategy.catalogue import BASELINE, Catalogue, Strategy

SCHEMA = 1
MODES = ("auto", "confident", "shadow")

MODULE_MEMORY = 8          # a module's mean under a strategy covers its last ~8 compiles
SHARE_KAPPA = 0.15         # a context borrows at most this many pseudo-observations from the other contexts
TOOLCHAIN_DISCOUNT = 0.25  # evidence from an earlier toolchain counts this much
TOOLCHAIN_CAP = 6.0        # ... and at most this many pseudo-observations
SLOWER = math.log(1 / 0.95)   # safety: recent results below 95% of baseline
RECENT = 6                 # ... judged on the median of the last 6 results in the context
COOLDOWN = 60              # a suspension for slowness is re-probed after 60 compiles in the context
CONFIDENT = 0.8
IMPORT_TRUST = 0.5         # prior probability that an import's evidence on a context describes this project ...
IMPORT_POOL = 0.5          # ... the other contexts' evidence on it counting half
IMPORT_EVEN = 0.5 - 1e-9   # below this, the model without the import is the likelier (even odds: with it)
TEMPERATURE_RANGE = (0.25, 4.0)   # exploration scale ∝ 1 / (module's cost relative to its context), clipped
OUTLIER_CLIP = 2.5         # a compile's slowdown against its expected log-time counts at most 2.5 σ
BREAK_PRIOR = (0.5, 10.0)  # Beta prior on the share of a context's modules a may-break strategy breaks
SAFE_BREAK_PRIOR = (0.5, 30.0)  # ... and one declared safe, once it has failed in the context
EVIDENCE_FLOOR = 2.0       # every strategy gets evidence worth 2 paired compiles in a context ...
FLOOR_COST = 0.5           # ... from modules under half the context's typical cost ...
FLOOR_AFTER = 30           # ... once the context has 30 compiles
BREAKING = (0.2, 0.95)     # suspended for failures: P(breaks > 20% of the context's modules) ≥ 0.95 ...
BREAKING_LAPSE = 8         # ... until COOLDOWN × 2^min(failures, 8) compiles in the context since it last ran
BREAK_COST = 1.65          # cost ratio of a failure (attempt + fallback over baseline) before one is seen
DEBIAS_REFRESH = 4         # de-biasing uses δ̂ re-solved every 4 module updates of a context
POOLED = "*"               # key of the regression over every context
REG_MIN = 2                # a regression predicts once it has REG_MIN × (number of features) points
REG_RIDGE = 0.1            # ridge on the log(lines) slope of the per-context level regression
BETA_PRIOR = (0.05, 1.0)   # pseudo-observations behind the joint model's prior on β (intercept, log(lines) slope)
PREDICTION_REFRESH = (0.25, 0.02)  # a context's modules are re-added when its level prediction's weight
                                   # moves by > 25% and > 0.02 compiles' worth
CARRY_MIN = 3              # carried levels predict once a context has 3 compiles of carried modules
SECONDARY = (10.0, 10.0)   # ridge of the stale regression / β prior weight on the slopes after log(lines):
                           # declarations and tactic counts must earn their place; size predicts first


def prob_rate_above(f: int, n: int, theta: float) -> float:
    """P(p > θ) for a failure rate p after f failures in n trials, on a uniform prior:
    Beta(f + 1, n − f + 1), whose tail is P(Binomial(n + 1, θ) ≤ f)."""
    f, n = max(0, f), max(0, n)
    if f >= n + 1:
        return 1.0
    return min(1.0, sum(math.comb(n + 1, j) * theta ** j * (1 - theta) ** (n + 1 - j) for j in range(f + 1)))


def _below_evidence_floor(block: dict | None, views: list[ArmView]) -> int | None:
    """The candidate with the least evidence in the context's joint block (its diagonal: a
    paired compile counts 1, a compile against a predicted level about w/(1+w)), if that is
    under EVIDENCE_FLOOR."""
    if not block:
        return None
    pos = {k: i for i, k in enumerate(block["names"])}
    info = [(block["M"][pos[v.name]][pos[v.name]] if v.name in pos else 0.0, i)
            for i, v in enumerate(views) if v.post is not None]
    low = min(info, default=None)
    return low[1] if low is not None and low[0] < EVIDENCE_FLOOR else None


def empty_stats() -> dict:
    return {"schema": SCHEMA, "toolchains": {}, "order": [], "counters": _new_counters()}


def _new_counters(ts: float | None = None) -> dict:
    return {"since": ts, "compiles": 0, "explore": 0, "strategy_failed": 0, "module_failed": 0,
            "slower": 0, "faster": 0, "seconds": 0.0, "baseline_est_seconds": 0.0,
            "fallback_seconds": 0.0, "regret_seconds": 0.0, "records": 0, "benches": 0,
            "imports": 0, "recent_regret": []}


def _tc(stats: dict, toolchain: str) -> dict:
    tcs = stats["toolchains"]
    tc = tcs.get(toolchain)
    if tc is None:
        tc = tcs[toolchain] = {"arms": {}, "glob": {}, "recent": {}, "modules": {}, "ctx": {},
                               "secs": {}, "explore": [0, 0], "first": None, "last": None}
    return tc


def earlier_toolchain(stats: dict, toolchain: str) -> dict | None:
    """The statistics of the newest toolchain other than `toolchain` (what a toolchain change
    carries over, discounted: `Learner.arm_prior`, `carry_level`), or None."""
    for name in reversed(stats["order"]):
        if name != toolchain:
            return stats["toolchains"].get(name)
    return None


def carry_level(stats: dict, toolchain: str, module: str, mod: dict) -> None:
    """Give the module record `mod` (under `toolchain`) the level the newest earlier toolchain
    measured for the module, as "o", once: a Lean upgrade changes compile times, but rarely
    which modules are slow — what a first build without levels lacks most."""
    if "o" in mod:
        return
    prev = earlier_toolchain(stats, toolchain)
    rec = module_record(prev, module) if prev else None
    level = _level(prev, rec) if rec else None
    if level is not None and math.isfinite(level):
        mod["o"] = round(level, 5)


def _arm(table: dict, ctx: str, strategy: str) -> list:
    c = table.setdefault(ctx, {})
    a = c.get(strategy)
    if a is None:
        a = c[strategy] = P.new_arm()
    return a


def _block(tc: dict, ctx: str) -> dict:
    """The context's joint block (`simpulse.policy.joint`), created empty when missing."""
    return tc.setdefault("J", {}).setdefault(ctx, J.new_block())


def _evidence_block(tc: dict | None, ctx: str) -> dict | None:
    """The joint block the context's posterior is computed from: its own, or — state written
    before the joint model — its per-strategy contrasts taken as direct observations."""
    if tc is None:
        return None
    block = tc.get("J", {}).get(ctx)
    if block is None and tc["arms"].get(ctx):
        block = J.from_arms(tc["arms"][ctx])
    return block


def _delta_hat(tc: dict, ctx: str, strategy: str, memo: dict | None = None) -> float:
    """Current estimate of δ(ctx, strategy): the mean of the context's joint block on a unit
    prior at 0 (what de-biases a module's observations under other strategies); `memo` caches
    the context's estimates within one update."""
    if strategy == BASELINE:
        return 0.0
    if memo is None:
        memo = {}
    means = memo.get(ctx)
    if means is None:
        block = _evidence_block(tc, ctx)
        if block is not None and "mu" in block and block.get("age", 0) < DEBIAS_REFRESH:
            means = block["mu"]     # recent enough: δ̂ moves slowly, a solve per event is waste
        else:
            names = [k for k in block["names"] if k != BASELINE and not k.startswith(J.FEATURE)] if block else []
            means = {}
            if names:
                jp = joint_of(tc, ctx, block, names, {k: (0.0, 1.0) for k in names})
                means = {k: round(m, 5) for k, m in zip(names, jp.mean)}
            if block is not None and block is tc.get("J", {}).get(ctx):
                block["mu"], block["age"] = means, 0
        memo[ctx] = means
    return means.get(strategy, 0.0)


def importance_weight(tc: dict, ctx: str, y: float) -> float:
    """Slow modules count more: weight √(t / typical t in the context), clipped to [0.3, 3]."""
    c = tc["ctx"].get(ctx)
    if not c or c[0] < 3:
        return 1.0
    typical = c[1] / c[0]
    return min(3.0, max(0.3, math.exp(0.5 * (y - typical))))


def fold(stats: dict, ev: dict) -> dict:
    """Add one event to the sufficient statistics. Pure bookkeeping: no I/O, no randomness."""
    kind = ev.get("kind")
    counters = stats["counters"]
    if kind == "reset":
        stats["counters"] = _new_counters(ev.get("ts"))
        return stats
    if kind == "import":
        _fold_import(stats, ev)
        return stats
    if kind not in ("compile", "record", "bench"):
        return stats
    try:
        toolchain = str(ev.get("toolchain") or "unknown")
        ctx = str(ev["context"])
        strategy = str(ev["strategy"])
        module = str(ev.get("module") or ev.get("path") or "?")
        outcome = ev.get("outcome", "ok")
        wall = float(ev["wall"])
    except (KeyError, TypeError, ValueError):
        return stats
    if not (wall > 0 and math.isfinite(wall)):
        return stats
    tc = _tc(stats, toolchain)
    ts = ev.get("ts")
    tc["first"] = tc["first"] or ts
    tc["last"] = ts
    if kind == "compile":
        tc["simulated"] = bool(ev.get("simulated"))
    order = stats["order"]
    if not order or order[-1] != toolchain:
        if toolchain in order:
            order.remove(toolchain)
        order.append(toolchain)
    if counters.get("since") is None:
        counters["since"] = ts
    if kind == "record":
        counters["records"] += 1
    elif kind == "bench":
        counters["benches"] += 1
    else:
        counters["compiles"] += 1
        bf = ev.get("import_bf")
        if isinstance(bf, (int, float)) and math.isfinite(bf) and "imp" in tc:
            # what this decision's context's own evidence said of the import (`Learner.models`)
            tc["imp"].setdefault("bf", {})[ctx] = round(float(bf), 4)
        if ev.get("explore"):
            counters["explore"] += 1
            tc["explore"][0] += 1
        tc["explore"][1] += 1

    if outcome == "module_failed":
        counters["module_failed"] += 1
        counters["seconds"] += wall + float(ev.get("fallback_wall") or 0.0)
        return stats

    arm = _arm(tc["arms"], ctx, strategy)
    glob = tc["glob"].setdefault(strategy, P.new_arm())
    recent = tc["recent"].setdefault(ctx, {}).setdefault(strategy, [])
    ctx_n = tc.setdefault("ctxn", {})
    ctx_n[ctx] = idx = ctx_n.get(ctx, 0) + 1
    features = ev.get("features") if isinstance(ev.get("features"), dict) else None

    local = kind == "compile"      # record/bench events were measured elsewhere: no counters
    if outcome == "strategy_failed":
        # The fallback compile of the same module in the same invocation is the baseline: a
        # failure costs log((t_failed + t_baseline) / t_baseline), counted once and for good.
        # Breakage is a property of the context: it is not shared with other contexts.
        fb = float(ev.get("fallback_wall") or 0.0)
        if local:
            counters["strategy_failed"] += 1
            counters["fallback_seconds"] += fb
            counters["seconds"] += wall + fb
        arm[4] += 1
        glob[4] += 1
        mod = module_record(tc, module) or {"s": {}, "c": {}}
        carry_level(stats, toolchain, module, mod)
        # Lean is deterministic: the failure stands for this version of the source (under this
        # toolchain: records are per toolchain). Without a hash: "*" + the last hash seen, if any
        h = ev.get("source_hash") if isinstance(ev.get("source_hash"), str) else None
        _age_failures(mod, h)
        mod.setdefault("f", {})[strategy] = h or "*" + mod.get("h", "")
        _remember_source(mod, ev, ctx, features)
        if fb > 0:
            r = math.log((wall + fb) / fb)
            P.add(arm, r, 1.0)
            J.add_failure(_block(tc, ctx), strategy, r)
            _push_recent(recent, r, idx)
            if local:
                counters["slower"] += 1
                counters["baseline_est_seconds"] += fb
                _observe_module(tc, mod, ctx, BASELINE, math.log(fb), features)
        _put_module(tc, module, mod)
        _refresh_predictions(tc, ctx, mod.get("x"))
        return stats

    y = math.log(wall)
    if kind in ("record", "bench") and ev.get("baseline_wall"):
        # Measured elsewhere against its own baseline: a paired observation, counted once.
        b = float(ev["baseline_wall"])
        if b > 0 and math.isfinite(b):
            r = y - math.log(b)
            P.add(arm, r, 1.0)
            J.add_direct(_block(tc, ctx), strategy, r)
            P.add(glob, r, 1.0)
            _push_recent(recent, r, idx)
        return stats

    counters["seconds"] += wall
    secs = tc.setdefault("secs", {}).setdefault(ctx, {})
    secs[strategy] = round(secs.get(strategy, 0.0) + wall, 6)
    memo: dict = {}
    mod = module_record(tc, module)
    level = _level(tc, mod, memo)
    if mod is None:
        mod = {"s": {}, "c": {}}
    carry_level(stats, toolchain, module, mod)
    r = _observe_module(tc, mod, ctx, strategy, y, features, memo)
    if "f" in mod:
        _age_failures(mod, ev.get("source_hash") if isinstance(ev.get("source_hash"), str) else None)
    _remember_source(mod, ev, ctx, features)
    _put_module(tc, module, mod)
    if _refresh_predictions(tc, ctx, mod.get("x")):
        memo.clear()               # δ̂ may have moved with the block
    arm[3] += 1
    glob[3] += 1
    if r is not None:
        if r < 0:
            arm[5] += 1
            glob[5] += 1
        _push_recent(recent, r, idx)
    if level is not None:
        est_base = math.exp(level)
        counters["baseline_est_seconds"] += est_base
        if wall < est_base:
            counters["faster"] += 1
        elif strategy != BASELINE and y - level > SLOWER:
            counters["slower"] += 1
        best = min([0.0] + [_delta_hat(tc, ctx, s, memo) for s in tc["arms"].get(ctx, {}) if s != BASELINE])
        regret = max(0.0, wall - math.exp(level + best))
        counters["regret_seconds"] += regret
        recent_regret = counters.setdefault("recent_regret", [])
        recent_regret.append(round(regret, 4))
        del recent_regret[:-100]
    else:
        counters["baseline_est_seconds"] += wall * math.exp(-_delta_hat(tc, ctx, strategy, memo))
    return stats


def _remember_source(mod: dict, ev: dict, ctx: str, features: dict | None) -> None:
    """Keep the classification of the module's source (its hash → its context; the features
    the learner uses are the vector `x` of the record): the next compile of the same source
    needs no classifier (see `Learner._classify`)."""
    h = ev.get("source_hash")
    if isinstance(h, str):
        mod["h"] = h[:16]
        mod["k"] = ctx


def _age_failures(mod: dict, h: str | None) -> None:
    """A compile of the module's source of hash `h` dates the failures recorded without one
    ("*" + the hash the module had then, or "*" alone if it had none): one whose module has
    been seen with another source since is dropped (an edited source is eligible again); the
    others are bound to `h` — the version they failed on, as far as the learner can tell."""
    f = mod.get("f")
    if not f or not h:
        return
    for k, v in list(f.items()):
        if v.startswith("*"):
            was = v[1:]
            if was and was != h[:16]:
                del f[k]
            else:
                f[k] = h


def _push_recent(recent: list, r: float, idx: int) -> None:
    recent.append([round(r, 5), idx])
    del recent[:-RECENT]


def feature_vector(features: dict | None) -> list[float] | None:
    """The small vector the per-context level regression and `lints` use:
    [1, log(1+lines), log(1+declarations), log(1+simp calls), log(1+arithmetic tactics)]."""
    if not features:
        return None
    g = features.get

    def num(*keys):
        total = 0.0
        for k in keys:
            v = g(k)
            if isinstance(v, (int, float)) and math.isfinite(v) and v > 0:
                total += float(v)
        return total

    return [1.0, math.log1p(num("lines")), math.log1p(num("declarations")),
            math.log1p(num("simp", "simp_only", "simp_all", "simp_star", "simp_query")),
            math.log1p(num("omega", "decide", "norm_num", "arith"))]


def _solve(A: list, b: list) -> list[float] | None:
    """Solve A x = b (A symmetric positive definite, small) by Gaussian elimination."""
    n = len(b)
    M = [list(row) + [b[i]] for i, row in enumerate(A)]
    for c in range(n):
        piv = max(range(c, n), key=lambda r: abs(M[r][c]))
        if abs(M[piv][c]) < 1e-12:
            return None
        M[c], M[piv] = M[piv], M[c]
        for r in range(c + 1, n):
            f = M[r][c] / M[c][c]
            if f:
                for k in range(c, n + 1):
                    M[r][k] -= f * M[c][k]
    x = [0.0] * n
    for c in reversed(range(n)):
        x[c] = (M[c][n] - sum(M[c][k] * x[k] for k in range(c + 1, n))) / M[c][c]
    return x


def _reg_add(tc: dict, ctx: str, x: list[float], y: float, sign: float = 1.0) -> None:
    reg = tc.setdefault("reg", {}).get(ctx)
    d = len(x)
    if reg is None:
        reg = tc["reg"][ctx] = {"A": [[0.0] * d for _ in range(d)], "b": [0.0] * d, "yy": 0.0, "n": 0}
    A, b = reg["A"], reg["b"]
    for i in range(d):
        b[i] += sign * x[i] * y
        Ai = A[i]
        for j in range(d):
            Ai[j] += sign * x[i] * x[j]
    reg["yy"] += sign * y * y
    reg["n"] += int(sign)
    reg["age"] = reg.get("age", 0) + 1


def regression_fit(tc: dict, ctx: str, d: int) -> tuple[list[float], float] | None:
    """(β, residual variance) of the context's ridge regression of de-biased log-times on
    features — or, while the context has fewer than REG_MIN × d compiles, of the regression over
    every context, so that a context's first compiles already learn."""
    regs = tc.get("reg", {})
    reg = regs.get(ctx)
    if reg is None or reg["n"] < REG_MIN * d:
        # too few compiles in the context yet: the regression over every context (its misfit
        # includes the contexts' differences, so its predictions weigh less)
        reg = regs.get(POOLED)
        if reg is None or reg["n"] < REG_MIN * d:
            return None
    fit = reg.get("fit")
    if fit is None or reg.get("age", 0) >= DEBIAS_REFRESH or len(fit[0]) != d:
        # re-solved every few additions, like δ̂: the fit moves slowly
        A = [[reg["A"][i][j] + ((REG_RIDGE if i == 1 else SECONDARY[0]) if i == j and i > 0 else 0.0)
              for j in range(d)] for i in range(d)]
        beta = _solve(A, reg["b"])
        if beta is None:
            return None
        rss = reg["yy"] - J.dot(beta, reg["b"])
        fit = reg["fit"] = [[round(b, 6) for b in beta], round(rss / max(1, reg["n"] - d), 6)]
        reg["age"] = 0
    return fit[0], fit[1]


def predicted_level(tc: dict, ctx: str, x: list[float] | None) -> tuple[float, float] | None:
    """(predicted log-time under baseline, its effective number of observations) for a module
    with features x, from `regression_fit`."""
    if x is None:
        return None
    fit = regression_fit(tc, ctx, len(x))
    if fit is None:
        return None
    beta, s2 = fit
    return J.dot(beta, x), _prediction_weight(tc, s2)


def carry_fit(tc: dict, ctx: str) -> tuple[float, float, float] | None:
    """Levels carried from an earlier toolchain, in the context: (their mean shift — a de-biased
    log-time now minus the module's level then —, the residual variance around it, and what a
    carried level is worth in compiles of the module, like `_prediction_weight`), once the
    context has CARRY_MIN compiles of modules with a carried level; else None. The variance is
    taken around the mean shift, so a toolchain that changes every module's time alike costs
    nothing, one that reorders them gets carried levels that weigh little."""
    c = tc.get("creg", {}).get(ctx)
    if not c or c[0] < CARRY_MIN:
        return None
    n, s1, s2 = c
    mean = s1 / n
    var = max(0.0, (s2 - n * mean * mean) / (n - 1))
    return round(mean, 5), round(var, 6), round(_prediction_weight(tc, var), 5)


def carried_level(tc: dict, ctx: str, mod: dict | None) -> tuple[float, float] | None:
    """(predicted log-time under baseline, weight) of a module from the level an earlier
    toolchain measured (record "o") and the context's shift (`carry_fit`), or None."""
    o = mod.get("o") if mod else None
    if not isinstance(o, (int, float)):
        return None
    cf = carry_fit(tc, ctx)
    return None if cf is None else (o + cf[0], cf[2])


def level_prior(tc: dict, ctx: str, mod: dict | None, x: list[float] | None) -> tuple[float, float] | None:
    """(predicted level, weight) of a module not yet compiled: its carried level
    (`carried_level`) or its features' prediction (`predicted_level`), whichever weighs more —
    the same choice `_joint_add` makes for its pseudo-observation."""
    return _weightier(carried_level(tc, ctx, mod), predicted_level(tc, ctx, x))


def _weightier(carried, predicted):
    """Of a carried level and a features' prediction ((level, weight) or None), the one that
    weighs more — the carried one on a tie; itself, not a copy."""
    if carried is None or carried[1] <= 0:
        return predicted
    return carried if predicted is None or carried[1] >= predicted[1] else predicted


def _prediction_weight(tc: dict, s2: float) -> float:
    """What a level predicted with residual variance s2 is worth, in compiles of the module. s2
    is the level's misfit τ² plus one compile's timing noise σ²: a prediction is worth σ² / τ²
    compiles (at most one). The same for every module of a context."""
    noise = noise_var(tc)
    tau2 = max(s2 - noise, noise)
    return min(1.0, noise / tau2)


def _refresh_predictions(tc: dict, ctx: str, x: list | None) -> bool:
    """Keep the weight of every module's level prediction in the context's joint block current.

    A module joins the block with its prediction weighted by what the regression was worth when
    it was compiled (`_joint_add`): nothing before the context had a regression, little while
    only the regression pooled over contexts (whose misfit includes their differences) could
    predict it. Once the weight has moved by more than PREDICTION_REFRESH (a share of the one
    the block was last brought to, and an absolute floor) every module of the context is
    re-added at the current weight — so a first build's early modules count as much as its
    later ones. Rare (the weight settles after a few dozen compiles of the context); a pass
    decodes only the context's module records. `x`: the features of the module just compiled
    (their length is the regression's). The same for the weight of levels carried from an
    earlier toolchain (`carry_fit`): once it moves, the context's carried modules are re-added
    at it (the first ones, added before carried levels predicted, then take them). True when a
    pass ran."""
    fit = regression_fit(tc, ctx, len(x)) if isinstance(x, list) else None
    f = round(_prediction_weight(tc, fit[1]), 5) if fit is not None else None
    cf = carry_fit(tc, ctx)
    cw = cf[2] if cf is not None else None
    rel, least = PREDICTION_REFRESH
    moved = False
    for key, value in (("pw", f), ("cw", cw)):
        done = tc.setdefault(key, {})
        if value is None or (ctx in done and abs(value - done[ctx]) <= max(rel * done[ctx], least)):
            continue
        done[ctx] = value
        moved = True
    if not moved:
        return False
    d = len(x) if isinstance(x, list) else None
    f = tc["pw"].get(ctx)
    # records are compact JSON (`_put_module`): those of other contexts are skipped undecoded
    tag = '"j":[' + json.dumps(ctx) + ","
    for name, raw in list(tc["modules"].items()):
        if isinstance(raw, str) and tag not in raw:
            continue
        mod = module_record(tc, name)
        j = mod.get("j") if mod else None
        mx = mod.get("x") if mod else None
        if not (isinstance(j, list) and len(j) == 4 and j[0] == ctx):
            continue
        feat = f if isinstance(mx, list) and len(mx) == d else None
        if cw and isinstance(mod.get("o"), (int, float)) and (feat is None or cw >= feat):
            if isinstance(j[2], dict) and j[3] == cw:
                continue                      # carried, at the current weight
        elif feat is None or (isinstance(j[2], list) and j[3] == feat):
            continue                          # no prediction to bring up to date, or up to date
        _joint_remove(tc, mod)
        _joint_add(tc, mod, ctx, mx if isinstance(mx, list) else None, f, j[1])
        _put_module(tc, name, mod)
    return True


def beta_prior(tc: dict | None, ctx: str, feats: list[str]) -> dict[str, tuple[float, float]]:
    """The prior (μ0, κ0) of the joint model's regression coefficients β (`feats`): centred on
    `regression_fit` (the level regression de-biased as each compile arrived: cheap, stale,
    but a fair guess — and the only source for a context's first compiles, where it is the
    regression pooled over contexts), with BETA_PRIOR pseudo-observations (intercept, log(lines)
    slope) and SECONDARY[1] on every other slope."""
    numeric = [f for f in feats if f != J.SHIFT]
    fit = regression_fit(tc, ctx, len(numeric)) if tc and numeric else None
    out = {f: (fit[0][i] if fit else 0.0, BETA_PRIOR[0] if i == 0 else BETA_PRIOR[1] if i == 1 else SECONDARY[1])
           for i, f in enumerate(numeric)}
    if J.SHIFT in feats:
        # the shift of carried levels: centred on their mean residual, as weak as the intercept
        c = carry_fit(tc, ctx) if tc else None
        out[J.SHIFT] = (c[0] if c else 0.0, BETA_PRIOR[0])
    return out


def on_strategies(tc: dict | None, ctx: str, block: dict | None) -> dict | None:
    """The block's evidence on the strategies alone: its regression coefficients β integrated
    out on their prior (`beta_prior`, `J.without_features`)."""
    feats = J.features_of(block)
    return J.without_features(block, beta_prior(tc, ctx, feats)) if feats else block


def joint_of(tc: dict | None, ctx: str, block: dict | None, names: list[str], prior: dict, **kw) -> J.Joint:
    """`J.joint` over `names` on `on_strategies(block)`: exactly the strategies' marginal posterior."""
    return J.joint(on_strategies(tc, ctx, block), names, prior, **kw)


def noise_var(tc: dict) -> float:
    """Posterior mean of one compile's timing variance on log-time, from repeated compiles of
    the same module under the same strategy (pure error), on the prior IG(α0, β0)."""
    e, f = tc.get("noise") or (0.0, 0.0)
    return (P.BETA0 + e / 2.0) / (P.ALPHA0 + f / 2.0 - 1.0)


def own_arms(tc: dict, ctx: str) -> dict:
    """The context's per-strategy arms without what imports brought into them (kept apart in
    ``tc["imp"]``, `_fold_import`): the project's own compiles."""
    arms = tc["arms"].get(ctx, {})
    imported = (tc.get("imp") or {}).get("arms", {}).get(ctx)
    if not imported:
        return arms
    arms = dict(arms)
    for name, arm in imported.items():
        if name in arms:
            arms[name] = [x - y for x, y in zip(arms[name], arm)]
    return arms


def without_import(block: dict, tc: dict, ctx: str) -> tuple[dict, dict]:
    """The context's evidence without what imports brought into it: (`block` − the imported
    block, `own_arms`). `block` is the context's block with β already integrated out
    (`J.without_features`): imports carry strategies only, so subtracting them commutes with
    integrating β out."""
    own = J.new_block()
    J.merge(own, block)
    J.merge(own, tc["imp"]["J"][ctx], -1.0)
    # an imported failure, subtracted again, can leave a rounding residue
    own["fail"] = {n: [round(f, 6), r] for n, (f, r) in own.get("fail", {}).items() if f > 1e-6}
    return own, own_arms(tc, ctx)


def import_odds(with_import: J.Joint, own: J.Joint, imported: J.Joint, prior: dict) -> float:
    """log Bayes factor of "the import describes this context" (H1: the strategies' prior is
    the catalogue's plus the imported evidence) against "it does not" (H0: the catalogue's
    prior alone), on the project's own evidence, levels' regression integrated out.

    For a Gaussian likelihood exp((bᵀδ − ½ δᵀAδ)/σ²) and a prior of precision P and mean P⁻¹h
    (in σ² units), the evidence is |P|^½ |P + A|^-½ exp((‖b + h‖²_(P+A)⁻¹ − ‖h‖²_P⁻¹) / 2σ²),
    the rest being the same under both. `with_import`, `own`: the posteriors under H1 and H0;
    `imported`: H1's prior alone (the import on the catalogue prior); σ² the own posterior's."""
    ld1, f1 = with_import.evidence_terms()
    ld0, f0 = own.evidence_terms()
    ldp, fp = imported.evidence_terms()
    ld_cat = sum(math.log(k0) for _, k0 in (prior[n] for n in own.names))
    f_cat = sum(k0 * mu0 * mu0 for mu0, k0 in (prior[n] for n in own.names))
    sigma2 = own.beta / max(own.alpha - 1.0, 1e-3)
    return 0.5 * ((ldp - ld1) - (ld_cat - ld0)) + ((f1 - fp) - (f0 - f_cat)) / (2.0 * sigma2)


def _fold_import(stats: dict, ev: dict) -> None:
    """Merge exported sufficient statistics as evidence scaled by the import's weight.

    ``ev["toolchains"]``: {githash: {"arms": {ctx: {strategy: arm}}, "glob": {strategy: arm}}}
    with arms of six numbers (see `simpulse.policy.posterior`). At weight 1 the statistics add
    exactly; below 1 every sum and count is scaled (discounted evidence). The imported share
    of each context's block and arms (and of the global arms and the noise) is also kept
    apart, in ``tc["imp"]``, so that the learner can weigh it against the project's own
    evidence (`Learner.models`) and an export can leave it out. With ``ev["origin"]`` (the
    exporting state's id) the share is also kept per origin, in ``tc["imp"]["by"]``, and an
    import of an origin seen before first takes out what the earlier one brought: a newer
    export of the same state holds the earlier one's evidence already. The import command
    validates the payload before writing the event.
    """
    try:
        w = float(ev.get("weight", 1.0))
        payload = ev["toolchains"]
    except (KeyError, TypeError, ValueError):
        return
    if not (0 < w <= 1) or not isinstance(payload, dict):
        return
    origin = ev.get("origin") if isinstance(ev.get("origin"), str) else None
    stats["counters"]["imports"] = stats["counters"].get("imports", 0) + 1
    # the imports whose evidence the statistics hold (`simpulse stats`): one replaced by a
    # newer export of its origin leaves the list
    held = stats.setdefault("imports", [])
    replaced = [e for e in held if origin is not None and e.get("origin") == origin]
    held[:] = [e for e in held if e not in replaced]
    held.append({"id": ev.get("id"), "source": ev.get("source"), "weight": w, "ts": ev.get("ts"),
                 "origin": origin, "replaces": replaced[-1].get("source") if replaced else None})
    for tc in stats["toolchains"].values():
        imp = tc.get("imp") or {}
        # the contexts' verdicts were on the imports before this one: each is taken again at
        # its next compile, and until then none is pooled (`Learner.models`)
        imp.pop("bf", None)
        earlier = imp.get("by", {}).pop(origin, None) if origin is not None else None
        if earlier is not None:
            _merge_share(tc, [imp], {"arms": earlier["arms"], "glob": earlier["glob"],
                                     "joint": earlier["J"], "noise": earlier["noise"]}, -1.0)
    for githash, data in payload.items():
        tc = _tc(stats, str(githash))
        if data.get("simulated"):
            tc["simulated"] = True
        if str(githash) not in stats["order"]:
            stats["order"].insert(0, str(githash))    # imported knowledge never becomes "current"
        imp = tc.setdefault("imp", {"arms": {}, "J": {}})
        shares = [imp]
        if origin is not None:
            shares.append(imp.setdefault("by", {}).setdefault(
                origin, {"arms": {}, "glob": {}, "J": {}, "noise": [0.0, 0.0]}))
        _merge_share(tc, shares, data, w)


def _merge_share(tc: dict, shares: list[dict], data: dict, scale: float) -> None:
    """Add `scale` × one toolchain's exported statistics (`data`: arms, glob, joint, noise) to
    the toolchain's statistics `tc` and to each imported share in `shares`. With a negative
    `scale` (an earlier import taken out), what is left at rounding level is set to 0."""
    def add(target: list, values) -> None:
        for i in range(len(target)):
            v = target[i] + scale * float(values[i])
            target[i] = 0.0 if scale < 0 and abs(v) < 1e-9 else v

    for ctx, by_strategy in (data.get("arms") or {}).items():
        for name, arm in by_strategy.items():
            for table in [tc["arms"]] + [sh["arms"] for sh in shares]:
                add(_arm(table, str(ctx), str(name)), arm)
    for name, arm in (data.get("glob") or {}).items():
        for table in [tc["glob"]] + [sh.setdefault("glob", {}) for sh in shares]:
            add(table.setdefault(str(name), P.new_arm()), arm)
    joint = data.get("joint")
    if joint is None:
        # a file written before the joint model: its contrasts, as direct evidence
        joint = {ctx: J.from_arms(by) for ctx, by in (data.get("arms") or {}).items()}
    for ctx, block in joint.items():
        into = _block(tc, str(ctx))
        J.merge(into, block, scale)
        into.pop("mu", None)          # re-solved at the next use
        for sh in shares:             # the imported share, kept apart (`import_odds`, exports)
            J.merge(sh["J"].setdefault(str(ctx), J.new_block()), block, scale)
    nz = data.get("noise")
    if isinstance(nz, list) and len(nz) == 2:
        for table in [tc.setdefault("noise", [0.0, 0.0])] + [sh.setdefault("noise", [0.0, 0.0]) for sh in shares]:
            add(table, nz)


def module_record(tc: dict, module: str) -> dict | None:
    """A module's record, decoded. Records are kept as compact JSON strings in the statistics
    so that loading a snapshot of a 6,000-module project parses 6,000 strings, not 6,000 nested
    structures (6× faster); only the modules an update or a decision touches are decoded."""
    raw = tc["modules"].get(module)
    if raw is None:
        return None
    return json.loads(raw) if isinstance(raw, str) else raw


def module_level(stats: dict, toolchain: str, module: str) -> float | None:
    """The module's estimated baseline compile time in seconds (e^μ̂), or None if unknown."""
    tc = stats["toolchains"].get(toolchain)
    level = _level(tc, module_record(tc, module)) if tc else None
    return math.exp(level) if level is not None else None


def _put_module(tc: dict, module: str, rec: dict) -> None:
    tc["modules"][module] = json.dumps(rec, separators=(",", ":"))


def _level(tc: dict, mod: dict | None, memo: dict | None = None) -> float | None:
    """The module's de-biased level μ̂ (log seconds under baseline), from all its observations."""
    if not mod:
        return None
    if memo is None:
        memo = {}
    n_tot, acc = 0, 0.0
    ctx = mod.get("k", "")
    for strategy, (n, sy, *_) in mod["s"].items():
        n_tot += n
        acc += sy - n * _delta_hat(tc, ctx, strategy, memo)
    return acc / n_tot if n_tot else None


def _observe_module(tc: dict, mod: dict, ctx: str, strategy: str, y: float,
                    features: dict | None = None, memo: dict | None = None) -> float | None:
    """Record y under `strategy` in the module record `mod`, then refresh its contributions.

    For every non-baseline strategy k seen on the module, its contribution to the arm is the
    contrast ȳ_k − ref_k, with precision weight n_k·N_ref/(n_k + N_ref) (σ² = 1) times the
    importance weight of the module. The reference is, in order of preference:
      1. the module's own baseline compiles (exact: δ_baseline = 0);
      2. its compiles under other strategies, de-biased by their current δ̂ (their errors are
         shared by all modules, so such a contrast counts a quarter);
      3. the level predicted from its features by the context's regression (worth σ²/τ² of
         a paired compile, see `predicted_level`): how a first build learns.
    The module's previous contributions are subtracted first: each module counts once per
    strategy, so recompiling a module under the same strategy never manufactures confidence.
    Returns the residual of this observation against its reference (None without one).
    """
    if memo is None:
        memo = {}
    x = feature_vector(features)
    x = [round(v, 5) for v in x] if x is not None else mod.get("x")
    s = mod["s"]
    # Robustness: timings have a heavy upper tail (a busy machine, a cold cache). Against
    # what the module is expected to take under the strategy, a slowdown counts at most
    # OUTLIER_CLIP noise standard deviations, so one outlier cannot flip a ranking. (A compile
    # faster than expected is not clipped: machines do not make compiles fast by accident,
    # and a strategy's first good results must count in full.)
    # A level carried from an earlier toolchain is worth w compiles: the bound widens by its
    # uncertainty, σ²/w — a carried level can be far off (an upgrade that reorders the modules'
    # times). (Widening it for the features' prediction as well cost 1.4 ± 1.3 points by 500 on
    # 120 seeds: there, as with its weight, the tighter bound suits a first build better.)
    expected = _level(tc, mod, memo) if s else None
    spread = 1.0
    if expected is None:
        carried = carried_level(tc, ctx, mod)
        p = _weightier(carried, predicted_level(tc, ctx, x))
        expected = p[0] if p is not None else None
        if p is not None and p is carried:
            spread += 1.0 / max(p[1], 1e-3)
    if expected is not None:
        expected += _delta_hat(tc, ctx, strategy, memo)
        h = OUTLIER_CLIP * math.sqrt(noise_var(tc) * spread)
        y = min(y, expected + h)
    _joint_remove(tc, mod)
    entry = s.get(strategy)
    if entry is None:
        entry = s[strategy] = [0, 0.0, 0.0]
    elif len(entry) < 3:
        entry.append(entry[1] * entry[1] / entry[0] if entry[0] else 0.0)
    if entry[0] >= MODULE_MEMORY:
        f = (MODULE_MEMORY - 1) / entry[0]
        entry[1] *= f
        entry[2] *= f
        entry[0] = MODULE_MEMORY - 1
    entry[0] += 1
    entry[1] = round(entry[1] + y, 5)
    entry[2] = round(entry[2] + y * y, 5)
    old_ctx = mod.get("k", ctx)
    mod["k"] = ctx
    deb = y - _delta_hat(tc, ctx, strategy, memo)
    c = tc["ctx"].setdefault(ctx, [0, 0.0])
    c[0] += 1
    c[1] += deb
    if x is not None:
        _reg_add(tc, ctx, x, deb)
        _reg_add(tc, POOLED, x, deb)
    if isinstance(mod.get("o"), (int, float)):
        cr = tc.setdefault("creg", {}).setdefault(ctx, [0, 0.0, 0.0])
        r = deb - mod["o"]
        cr[0] += 1
        cr[1] = round(cr[1] + r, 6)
        cr[2] = round(cr[2] + r * r, 6)
    from_features = predicted_level(tc, ctx, x)
    predicted = _weightier(carried_level(tc, ctx, mod), from_features)
    base = s.get(BASELINE)
    debiased = {k: (e[0], e[1] - e[0] * _delta_hat(tc, ctx, k, memo)) for k, e in s.items()}
    n_all = sum(n for n, _ in debiased.values())
    sum_all = sum(v for _, v in debiased.values())
    old_x = mod.get("x")
    this_residual = None
    _joint_add(tc, mod, ctx, x, from_features[1] if from_features is not None else None,
               importance_weight(tc, ctx, sum_all / n_all))
    for k, (n, sy, *_) in s.items():
        old = mod["c"].pop(k, None)
        if old is not None:
            w_old, r_old = old
            _contribute(tc, old_ctx, k, -w_old, r_old, old_x)
        if k != BASELINE and base is not None:
            n_ref, ref, inflate = base[0], base[1] / base[0], 1.0
        elif n_all - debiased[k][0] > 0:
            n_ref = n_all - debiased[k][0]
            ref = (sum_all - debiased[k][1]) / n_ref
            inflate = 0.25
        elif predicted is not None:
            ref, n_ref = predicted
            inflate = 1.0
        else:
            continue
        if k == strategy:
            this_residual = y - ref
        if k == BASELINE:
            continue
        r = sy / n - ref
        # Rounded before use: the record keeps 5 decimals, and removing a contribution later
        # must subtract exactly what was added.
        w = round(inflate * (n * n_ref / (n + n_ref)) * importance_weight(tc, ctx, ref), 5)
        r = round(r, 5)
        _contribute(tc, ctx, k, w, r, x)
        mod["c"][k] = [w, r]
    if x is not None:
        mod["x"] = [round(v, 5) for v in x]
    return this_residual


def _joint_cells(mod: dict, pseudo) -> tuple[dict, float, float, float]:
    """The module's cells for its joint contribution: per strategy [n, Σy, Σy²], the number of
    observations (the level's pseudo-observation included), and the pure error (sum of squares,
    degrees of freedom) of its repeated compiles. A legacy pseudo-observation (value, weight),
    from a record written before β joined the joint model, is added to the baseline cell."""
    cells = {k: [e[0], e[1], e[2] if len(e) > 2 else e[1] * e[1] / e[0]] for k, e in mod["s"].items() if e[0]}
    real = float(sum(c[0] for c in cells.values())) + (pseudo is not None)
    pe = round(sum(max(0.0, c[2] - c[1] * c[1] / c[0]) for c in cells.values() if c[0] > 1), 5)
    pf = float(sum(c[0] - 1 for c in cells.values() if c[0] > 1))
    if pseudo is not None and isinstance(pseudo[0], (int, float)):
        pred, w = pseudo[0], pseudo[1]
        c = cells.get(BASELINE) or [0, 0.0, 0.0]
        cells[BASELINE] = [round(c[0] + w, 5), round(c[1] + w * pred, 5), round(c[2] + w * pred * pred, 5)]
    return cells, real, pe, pf


def _joint_apply(tc: dict, mod: dict, ctx: str, weight: float, pseudo, sign: float) -> None:
    cells, real, pe, pf = _joint_cells(mod, pseudo)
    J.add_module(_block(tc, ctx), cells, weight, real, sign,
                 pseudo=pseudo if pseudo is not None and isinstance(pseudo[0], (list, dict)) else None)
    noise = tc.setdefault("noise", [0.0, 0.0])
    noise[0] = max(0.0, round(noise[0] + sign * pe, 5))
    noise[1] = max(0.0, noise[1] + sign * pf)


def _joint_remove(tc: dict, mod: dict) -> None:
    """Subtract the module's contribution to its context's joint block (`simpulse.policy.joint`)
    — recomputed from its cells, which have not changed since it was added, and the record
    ``j = [context, weight, features x, pseudo weight]`` (x = {"o": level} for a level carried
    from an earlier toolchain). Call before changing the cells."""
    old = mod.pop("j", None)
    if isinstance(old, list) and len(old) == 4 and isinstance(old[0], str):
        _joint_apply(tc, mod, old[0], old[1], _pseudo(old[2], old[3]), -1.0)
    # (any other shape — a damaged record — cannot be subtracted exactly; it is dropped and the
    # module's new contribution added: one module counted twice, never a failed load)


def _pseudo(x, w):
    """The pseudo-observation of a module's level as `J.add_module` takes it, from the record's
    (x, w): features x → N(xᵀβ, σ²/w); {"o": level} → N(level + shift, σ²/w); a number (legacy)
    → (value, weight)."""
    if w is None:
        return None
    if isinstance(x, dict):
        return ({J.SHIFT: 1.0}, w, float(x.get("o", 0.0)))
    return (x, w)


def _joint_add(tc: dict, mod: dict, ctx: str, x: list | None, w: float | None, weight: float) -> None:
    """Add the module to its context's joint block; with features x, its level's prior
    N(xᵀβ, σ²/w) joins as a pseudo-observation (`J.add_module`). A module with a level carried
    from an earlier toolchain (record "o"), once the context's carried levels predict
    (`carry_fit`), has instead the prior N(that level + the context's shift, σ²/w_carry)."""
    weight = round(weight, 5)
    pseudo = None if x is None or not w else ([round(v, 5) for v in x], round(w, 5))
    cf = carry_fit(tc, ctx) if isinstance(mod.get("o"), (int, float)) else None
    if cf is not None and cf[2] > 0 and (pseudo is None or cf[2] >= pseudo[1]):
        pseudo = ({"o": mod["o"]}, cf[2])
    _joint_apply(tc, mod, ctx, weight, None if pseudo is None else _pseudo(*pseudo), 1.0)
    block = tc["J"][ctx]
    block["age"] = block.get("age", 0) + 1
    mod["j"] = [ctx, weight, None, None] if pseudo is None else [ctx, weight, pseudo[0], pseudo[1]]


def share_strength(tc: dict, strategy: str) -> float:
    """What the other contexts' evidence on a strategy is worth in a context, in compiles:
    σ² / υ², with υ² the between-context variance of the strategy's effect (DerSimonian–Laird
    estimate from the contexts' contrasts) and σ² one compile's noise. Contexts that agree share
    up to SHARE_KAPPA; contexts whose effects differ share little."""
    noise = noise_var(tc)
    pts = []
    for by in tc["arms"].values():
        a = by.get(strategy)
        if a is not None and a[0] >= 1.0:
            pts.append((a[1] / a[0], a[0] / noise))      # (mean, precision)
    if len(pts) < 2:
        return SHARE_KAPPA
    W = sum(w for _, w in pts)
    mean = sum(m * w for m, w in pts) / W
    q = sum(w * (m - mean) ** 2 for m, w in pts)
    denom = W - sum(w * w for _, w in pts) / W
    tau2 = (q - (len(pts) - 1)) / denom if denom > 0 else 0.0
    return SHARE_KAPPA if tau2 <= 0 else min(SHARE_KAPPA, noise / tau2)


def relative_cost(tc: dict | None, ctx: str, mod: dict | None, x: list[float] | None,
                  memo: dict | None = None) -> float:
    """The module's expected baseline time relative to its context's typical (geometric mean)
    one: from its own compiles, else from its level under an earlier toolchain, else predicted
    from its features, else 1."""
    c = tc["ctx"].get(ctx) if tc else None
    if not c or c[0] < 3:
        return 1.0
    level = _level(tc, mod, memo) if mod else None
    if level is None:
        p = level_prior(tc, ctx, mod, x)
        if p is None:
            return 1.0
        level = p[0]
    return math.exp(max(-20.0, min(20.0, level - c[1] / c[0])))


def _contribute(tc: dict, ctx: str, strategy: str, w: float, r: float, x: list | None) -> None:
    """Add (w > 0) or remove (w < 0) one module's contrast to an arm, its global arm, and the
    arm's linear statistics (for `lints`)."""
    for a in (_arm(tc["arms"], ctx, strategy), tc["glob"].setdefault(strategy, P.new_arm())):
        a[0] = max(0.0, a[0] + w)
        a[1] += w * r
        a[2] = max(0.0, a[2] + w * r * r)
    if x is not None:
        lin = tc.setdefault("lin", {}).setdefault(ctx, {})
        d = len(x)
        st = lin.get(strategy)
        if st is None or len(st[1]) != d:
            st = lin[strategy] = [[[0.0] * d for _ in range(d)], [0.0] * d]
        A, b = st
        for i in range(d):
            b[i] += w * r * x[i]
            Ai = A[i]
            for j in range(d):
                Ai[j] += w * x[i] * x[j]


class Decision(Record):
    # recommended: in shadow mode, what auto would have run
    __slots__ = ("id", "module", "context", "strategy", "policy", "mode", "explore", "expected_speedup",
                 "ci", "confidence", "reason", "toolchain", "path", "source_hash", "features",
                 "recommended", "suspended", "import_bf")
    # import_bf: log Bayes factor of "the import describes this context" on its own evidence
    _defaults = {"path": None, "source_hash": None, "features": dict, "recommended": None, "suspended": (),
                 "import_bf": None}

    def to_json(self) -> dict:
        return {
            "id": self.id, "module": self.module, "path": self.path, "context": self.context,
            "strategy": self.strategy.name, "policy": self.policy, "mode": self.mode,
            "explore": self.explore, "expected_speedup": self.expected_speedup,
            "ci": list(self.ci), "confidence": self.confidence, "reason": self.reason,
            "toolchain": self.toolchain, "recommended": self.recommended,
            "suspended": list(self.suspended), "source_hash": self.source_hash,
            "import_bf": self.import_bf,
        }


class ArmSummary(Record):
    # mean: effect on log-time (negative = faster)
    __slots__ = ("strategy", "pulls", "fails", "mean", "ci", "prob_better", "suspended")

    @property
    def speedup(self) -> float:
        return math.exp(-self.mean)

    @property
    def speedup_ci(self) -> tuple[float, float]:
        return (math.exp(-self.ci[1]), math.exp(-self.ci[0]))


class Learner:
    def __init__(self, state_dir=None, *, policy: str = "thompson",
                 seed: int | None = None, mode: str = "auto", toolchain: str = "unknown",
                 catalogue: Catalogue | None = None, explore_budget: float = 0.35,
                 store=None, fsync: bool = True, exclude: dict[str, set[str]] | None = None):
        """`exclude`: context → names of the strategies ruled out there (by the profile and
        what `simpulse verify` observed); never offered in that context. The baseline never is."""
        if policy not in POLICIES:
            raise SimpulseError(f"unknown policy {policy!r} (known: {', '.join(POLICIES)})")
        if mode not in MODES:
            raise SimpulseError(f"unknown mode {mode!r} (known: {', '.join(MODES)})")
        self.policy_name = policy
        self.policy = POLICIES[policy]()
        self.mode = mode
        self.toolchain = toolchain or "unknown"
        self.catalogue = catalogue or Catalogue()
        self.rng = random.Random(seed)
        self.explore_budget = explore_budget
        self.store = store
        if self.store is None and state_dir is not None:
            from simpulse.store.store import Store
            self.store = Store(os.fspath(state_dir), fsync=fsync)
        self._stats: dict | None = None
        self.exclude = {str(c): frozenset(v) - {BASELINE} for c, v in (exclude or {}).items()}

    # -- state --------------------------------------------------------------------------
    @property
    def stats(self) -> dict:
        if self._stats is None:
            if self.store is None:
                self._stats = empty_stats()
            else:
                self._stats, _ = self.store.load(fold, empty_stats())
        return self._stats

    def reload(self) -> None:
        self._stats = None

    # -- posterior views ------------------------------------------------------------------
    def _tc_chain(self) -> tuple[dict | None, dict | None]:
        """This toolchain's statistics and, as a discounted prior, the newest earlier one's."""
        stats = self.stats
        return stats["toolchains"].get(self.toolchain), earlier_toolchain(stats, self.toolchain)

    def joint_posterior(self, ctx: str) -> J.Joint:
        """The joint posterior of every active strategy's effect in `ctx`: the context's joint
        block (`simpulse.policy.joint`) on top of each strategy's prior (`arm_prior`). Where
        an import brought evidence on the context, that of the likelier model (`models`)."""
        joint, own, p, _ = self.models(ctx)
        return own if own is not None and p < IMPORT_EVEN else joint

    def models(self, ctx: str) -> tuple[J.Joint, J.Joint | None, float, float | None]:
        """(posterior with every piece of evidence, posterior without the imported share, the
        probability that the import describes this context, the log Bayes factor of the
        context's own evidence for it).

        An import is another project's evidence (docs/export-format.md): if its strategies'
        effects are not this project's, merged as fact it would mislead the learner for
        thousands of compiles. So both models are kept: H1, the import's evidence holds here
        (prior probability IMPORT_TRUST), and H0, it does not; their probability follows the
        project's own evidence (`import_odds`), and a decision draws the model to play from it
        (Thompson sampling on the model too). Without an import on the context: (posterior,
        None, 1, None)."""
        tc, _ = self._tc_chain()
        names = [s.name for s in self.catalogue.active if not s.is_baseline]
        prior = {s.name: self.arm_prior(ctx, s) for s in self.catalogue.active if not s.is_baseline}
        block = on_strategies(tc, ctx, _evidence_block(tc, ctx))
        joint = J.joint(block, names, prior, breakage=self._breakage(ctx, tc, block))
        imported = (tc or {}).get("imp", {}).get("J", {}).get(ctx)
        if imported is None or block is None:
            return joint, None, 1.0, None
        own_block, own_arms = without_import(block, tc, ctx)
        own = J.joint(own_block, names, prior, breakage=lambda: self._breakage(ctx, tc, own_block, own_arms))
        log_bf = import_odds(joint, own, J.joint(imported, names, prior), prior)
        odds = math.log(IMPORT_TRUST / (1.0 - IMPORT_TRUST)) + log_bf
        # the other contexts' latest verdicts (recorded with their compiles), at IMPORT_POOL
        odds += IMPORT_POOL * sum(v for k, v in tc["imp"].get("bf", {}).items() if k != ctx)
        p = 1.0 / (1.0 + math.exp(-odds)) if odds > -700 else 0.0
        return joint, own, p, log_bf

    def import_fit(self, ctx: str) -> float | None:
        """The probability that what imports brought on `ctx` describes this project
        (`models`), or None where no import spoke of it."""
        _, own, p, _ = self.models(ctx)
        return None if own is None else p

    def _breakage(self, ctx: str, tc: dict | None, block: dict | None, arms: dict | None = None) -> dict:
        """Per strategy that may break a module: its Beta posterior on the share of the
        context's modules it breaks, and its mean cost ratio when it does. The newest earlier
        toolchain's failures and attempts in the context join the prior, discounted like its
        effects (TOOLCHAIN_DISCOUNT, at most TOOLCHAIN_CAP attempts).

        Every strategy's rate is learned from evidence; what differs is the prior. One declared
        to break proofs (`may_break`) starts from BREAK_PRIOR. One declared safe is believed
        in a context until it fails there (under this toolchain or the earlier one) — its
        rate's prior is a spike at 0 holding most of the mass, and the slab's share is left out
        — and is then priced from SAFE_BREAK_PRIOR, a third of BREAK_PRIOR's rate: a
        `#guard_msgs` test that no-linters breaks says the declaration fails for some modules,
        not for as many as a strategy declared to break proofs. Breakage stays in its context,
        as for every strategy. (Pricing every strategy declared safe from SAFE_BREAK_PRIOR from
        its first compile, or in every context once it failed in one, was measured: no
        difference within noise on the learning benchmark, docs/learning-benchmark.md.)"""
        out = {}
        fails = (block or {}).get("fail", {})
        if arms is None:
            arms = tc["arms"].get(ctx, {}) if tc else {}
        _, prev = self._tc_chain()
        prev_fails = prev.get("J", {}).get(ctx, {}).get("fail", {}) if prev else {}
        prev_arms = prev["arms"].get(ctx, {}) if prev else {}
        for s in self.catalogue.active:
            if s.is_baseline:
                continue
            f, r_sum = fails.get(s.name, (0, 0.0))
            group = self.breaking_group(s.name)
            old_f = sum(prev_fails.get(o, (0, 0.0))[0] for o in group)
            if not (s.may_break or f or old_f):
                continue
            # the rate is pooled over the strategies that break the same proofs; the cost of a
            # failure stays the strategy's own once it has one
            gf = sum(fails.get(o, (0, 0.0))[0] for o in group)
            gn = sum(arms[o][3] for o in group if o in arms)
            a0, b0 = BREAK_PRIOR if s.may_break else SAFE_BREAK_PRIOR
            a, b = a0 + gf, b0 + max(0, gn - gf)
            old_n = max(old_f, sum(prev_arms[o][3] for o in group if o in prev_arms))
            if old_n > 0:
                w = min(TOOLCHAIN_DISCOUNT, TOOLCHAIN_CAP / old_n)
                a, b = a + w * old_f, b + w * (old_n - old_f)
            c = math.exp(r_sum / f) if f else BREAK_COST
            out[s.name] = (a, b, c)
        return out

    def arm_posterior(self, ctx: str, strategy: Strategy, joint: J.Joint | None = None) -> P.Posterior:
        """The marginal posterior of one strategy's effect in `ctx` (from `joint`, the context's
        joint posterior, when the caller has it already)."""
        if strategy.is_baseline:
            return P.posterior(P.new_arm(), 0.0, 1e9)
        joint = joint or self.joint_posterior(ctx)
        if strategy.name in joint.names:
            return joint.marginal(strategy.name)
        # not in the active catalogue (e.g. disabled): alone on its prior and its block row
        tc, _ = self._tc_chain()
        return joint_of(tc, ctx, _evidence_block(tc, ctx), [strategy.name],
                        {strategy.name: self.arm_prior(ctx, strategy)}).marginal(strategy.name)

    def arm_prior(self, ctx: str, strategy: Strategy) -> tuple[float, float]:
        """(mean, pseudo-observations) of a strategy's prior in `ctx`: its catalogue prior, then
        the previous toolchain's evidence (discounted, `earlier_evidence`), then the other
        contexts' evidence (leave-one-out, capped): never this context's own evidence."""
        tc, prev = self._tc_chain()
        prior_mu = -strategy.prior_mean
        prior_k = strategy.prior_strength
        glob = tc["glob"].get(strategy.name) if tc else None
        arm = tc["arms"].get(ctx, {}).get(strategy.name) if tc else None
        earlier = self.earlier_evidence(ctx, strategy, prev)
        if earlier is not None:
            mu_e, k_e = earlier
            k = min(TOOLCHAIN_DISCOUNT * k_e, TOOLCHAIN_CAP)
            prior_mu = (prior_k * prior_mu + k * mu_e) / (prior_k + k)
            prior_k += k
        if glob is not None:
            # Leave-one-out: the other contexts' evidence, never this context's own twice.
            others = P.merged(glob, arm, -1.0) if arm is not None else glob
            if others[0] > 1e-9:
                g = P.posterior(others, prior_mu, prior_k)
                prior_mu, prior_k = g.mu, min(g.kappa, share_strength(tc, strategy.name) + prior_k)
        return prior_mu, prior_k

    def earlier_evidence(self, ctx: str, strategy: Strategy, prev: dict | None = None) -> tuple[float, float] | None:
        """What the newest earlier toolchain (`_tc_chain`) measured of `strategy` in `ctx`, before
        any discount: (mean effect on log-time, pseudo-observations), or None.

        It is read from that toolchain's joint posterior of the context — the effects identified
        against module levels, β integrated out, on the catalogue priors only — as the evidence
        beyond the catalogue prior: κ − κ0 pseudo-observations of mean (κ·μ − κ0·μ0)/(κ − κ0).
        (A context's contrast sums alone are confounded with the levels of modules compiled
        once, and hold a fraction of what was learned.) Without a joint block (a context the
        earlier toolchain never saw, or state from before the joint model): the context's
        contrast sums, else the strategy's over every context, as direct observations. The
        earlier toolchain's statistics do not move while another is current, so the result is
        kept in them ("carry"), keyed by the block's sums and the catalogue prior."""
        if prev is None:
            prev = self._tc_chain()[1]
        if prev is None or strategy.is_baseline:
            return None
        block = prev.get("J", {}).get(ctx)
        if block is None:
            old = prev["arms"].get(ctx, {}).get(strategy.name) or prev["glob"].get(strategy.name)
            if old is None or old[0] <= 1e-9:
                return None
            return old[1] / old[0], old[0]
        key = [round(block.get("d", 0.0), 6), round(block.get("q", 0.0), 9), round(sum(block.get("b", ())), 9)]
        carry = prev.setdefault("carry", {})
        got = carry.get(ctx)
        mine = [-strategy.prior_mean, strategy.prior_strength]
        if not (isinstance(got, list) and len(got) == 2 and got[0] == key and strategy.name in got[1]
                and got[1][strategy.name][2:] == mine):
            strategies = [s for s in self.catalogue.active if not s.is_baseline]
            if strategy not in strategies:
                strategies.append(strategy)
            prior = {s.name: (-s.prior_mean, s.prior_strength) for s in strategies}
            joint = joint_of(prev, ctx, block, list(prior), prior)
            out = {}
            for name, (mu0, k0) in prior.items():
                post = joint.marginal(name)
                k_e = post.kappa - k0
                e = [round((post.kappa * post.mu - k0 * mu0) / k_e, 6), round(k_e, 6)] if k_e > 1e-6 else [None, None]
                out[name] = e + [mu0, k0]
            got = carry[ctx] = [key, out]
        e = got[1][strategy.name]
        return (e[0], e[1]) if e[0] is not None else None

    def suspension(self, ctx: str, strategy: str, joint: J.Joint | None = None) -> str | None:
        """Why `strategy` is suspended in `ctx`, or None.

        - It keeps breaking modules: ≥ 2 failures and P(it breaks more than 20% of the
          context's modules) ≥ 0.95, counted over the strategies that break the same proofs,
          on this project's own compiles (an import's are not counted).
          The suspension lapses COOLDOWN × 2^f compiles in the context after the group last
          ran (f its failures, the exponent at most BREAKING_LAPSE): the policy, whose
          posterior prices the breakage, decides again, and a new failure suspends it for
          twice as long. A project's proofs change; a verdict is not forever.
        - It is slower: the median of its last 6 results in the context is below 95% of
          baseline speed *and* its posterior says it is more likely slower than baseline
          (P(beats baseline) < 0.2). Re-probed after 60 further compiles in the context.
        """
        if strategy == BASELINE:
            return None
        tc, _ = self._tc_chain()
        if tc is None:
            return None
        # the project's own compiles: an import's failures price the breakage (`_breakage`), but
        # a suspension is a local safety decision, on what broke here
        arms = own_arms(tc, ctx)
        ctx_n = tc.get("ctxn", {}).get(ctx, 0)
        # counted over the strategies that break the same proofs (`breaking_group`): one that
        # never ran here is suspended by the others' failures
        group = self.breaking_group(strategy)
        if any(g in arms for g in group):
            n = sum(arms[g][3] for g in group if g in arms)
            fails = sum(arms[g][4] for g in group if g in arms)
            if fails >= 2 and prob_rate_above(int(round(fails)), int(round(n)), BREAKING[0]) >= BREAKING[1]:
                ran = max((r[-1][1] for g in group if (r := tc["recent"].get(ctx, {}).get(g))), default=0)
                left = COOLDOWN * 2 ** min(int(round(fails)), BREAKING_LAPSE) - (ctx_n - ran)
                if left > 0:
                    also = "" if len(group) == 1 else f" (with {', '.join(g for g in group if g != strategy)}: the same breaking options)"
                    return (f"failed {fails:g} of {n:g} compiles in this context{also}: it breaks more than "
                            f"{BREAKING[0]:.0%} of modules with probability ≥ {BREAKING[1]:.0%}; "
                            f"re-probed in {left} compiles")
        recent = tc["recent"].get(ctx, {}).get(strategy) or []
        if len(recent) >= RECENT:
            rs = sorted(r for r, _ in recent)
            median = 0.5 * (rs[(len(rs) - 1) // 2] + rs[len(rs) // 2])
            since = ctx_n - recent[-1][1]
            if median > SLOWER and since < COOLDOWN:
                post = self.arm_posterior(ctx, self.catalogue.all.get(strategy) or self.catalogue.get(BASELINE), joint)
                if post.prob_below(0.0) < 0.2:
                    return (f"last {len(recent)} compiles: median {math.exp(-median):.2f}× baseline speed "
                            f"(< 0.95); re-probed in {COOLDOWN - since} compiles")
        return None

    def breaking_group(self, strategy: str) -> list[str]:
        """The active strategies that break the same proofs as `strategy` (the same non-empty
        `Catalogue.breaking_signature`; itself included), whose breakage evidence is pooled."""
        groups = self.__dict__.get("_groups")
        if groups is None or groups[0] is not self.catalogue:
            groups = self._groups = (self.catalogue, {})
        got = groups[1].get(strategy)
        if got is None:
            sig = self.catalogue.breaking_signature(strategy)
            got = groups[1][strategy] = ([s.name for s in self.catalogue.active
                                          if self.catalogue.breaking_signature(s.name) == sig] or [strategy]) if sig else [strategy]
        return got

    def known_failures(self, module: str, source_hash: str | None) -> set[str]:
        """Strategies that already broke this version of the module's source under this
        toolchain — whatever the catalogue declares of them: Lean is deterministic, so it would
        break it again — and those that change what one of them broke and more
        (`Catalogue.breaking_signature`). `source_hash` None: the version last seen. A failure
        recorded without a hash counts until the module is seen with another source."""
        tc, _ = self._tc_chain()
        mod = module_record(tc, module) if tc else None
        if not mod or "f" not in mod:
            return set()
        cur = (source_hash or mod.get("h") or "")[:16]
        broke = set()
        for k, h in mod["f"].items():
            was = h[1:] if h.startswith("*") else h[:16]
            if not (cur and was) or was == cur:
                broke.add(k)
        sig = self.catalogue.breaking_signature
        for k in list(broke):
            if sig(k):
                broke.update(s.name for s in self.catalogue.active if sig(k) <= sig(s.name))
        return broke

    def summary(self, ctx: str) -> list[ArmSummary]:
        out = []
        tc, _ = self._tc_chain()
        for s in self.catalogue.active:
            arm = (tc["arms"].get(ctx, {}).get(s.name) if tc else None) or P.new_arm()
            if s.is_baseline:
                out.append(ArmSummary(s.name, int(arm[3]), int(arm[4]), 0.0, (0.0, 0.0), 0.5, None))
                continue
            post = self.arm_posterior(ctx, s)
            out.append(ArmSummary(s.name, int(arm[3]), int(arm[4]), post.mu, post.interval(),
                                  post.prob_below(0.0), self.suspension(ctx, s.name)))
        return out

    def contexts(self) -> list[str]:
        tc, _ = self._tc_chain()
        return sorted(tc["arms"]) if tc else []

    # -- the API ------------------------------------------------------------------------
    def choose(self, *, module: str, source: bytes | str | None = None, path: str | None = None,
               context: str | None = None, features: dict | None = None,
               source_hash: str | None = None) -> Decision:
        """`source_hash`: the hash of the module's source when the caller classified it itself
        (`context` given); computed from `source` otherwise."""
        tc, prev = self._tc_chain()
        if context is None:
            context, features, source_hash = self._classify(tc, module, source, path)
        features = features or {}
        ctx_pulls = sum(int(a[3]) for a in (tc["arms"].get(context, {}).values() if tc else []))
        joint, own, p_import, import_bf = self.models(context)
        with_import = joint
        if own is not None and p_import < IMPORT_EVEN:
            joint = own
        mod = module_record(tc, module) if tc else None
        if tc is not None and prev is not None and not (mod and "o" in mod):
            # a module this toolchain has not compiled yet: its level under the earlier one
            probe = dict(mod) if mod else {"s": {}, "c": {}}
            carry_level(self.stats, self.toolchain, module, probe)
            mod = probe if "o" in probe else mod
        x = feature_vector(features)
        if x is None:
            x = mod.get("x") if mod else None
        # the module's level, de-biased by this decision's posterior means (no second solve)
        rel = relative_cost(tc, context, mod, x, {context: {n: joint.speed(n) for n in joint.names}})
        lo, hi = TEMPERATURE_RANGE
        temperature = min(hi, max(lo, 1.0 / rel))
        if own is not None:
            # the model played is drawn from its posterior, tempered like the effects' draws
            # (wider on cheap modules, sharper on costly ones)
            a, b = p_import ** (1.0 / temperature), (1.0 - p_import) ** (1.0 / temperature)
            joint = with_import if self.rng.random() * (a + b) < a else own
        drawn = joint
        candidates, suspended = self._candidates(context, module, source_hash, joint)
        views = []
        posts: dict[str, P.Posterior] = {}
        for s in candidates:
            arm = tc["arms"].get(context, {}).get(s.name) if tc else None
            pulls = (int(arm[5]) if arm else 0, int(arm[3]) if arm else 0)
            if s.is_baseline:
                views.append(ArmView(s.name, None, *pulls))
                continue
            post = joint.marginal(s.name)
            posts[s.name] = post
            views.append(ArmView(s.name, post, *pulls))
        best = greedy(views)
        linear = None
        if self.policy_name == "lints" and tc is not None and x is not None:
            # `lints` prior: intercept at the arm's posterior mean, ridge on the slopes
            linear = {name: (posts[name].mu, st)
                      for name, st in tc.get("lin", {}).get(context, {}).items() if name in posts}
        picked = self.policy.select(views, self.rng, ctx_pulls, features=x, linear=linear,
                                    temperature=temperature, joint=joint)
        floor = None
        if (self.mode == "auto" and mod and mod.get("s") and rel < FLOOR_COST and ctx_pulls >= FLOOR_AFTER):
            floor = _below_evidence_floor(_evidence_block(tc, context), views)
            if floor is not None:
                # the evidence floor: a strategy the context knows too little about is compiled
                # on a cheap module with history (a paired comparison), so that a couple of
                # unlucky first compiles cannot starve it for good
                picked = floor
        # Exploring: picking an arm the posterior means say is worse than the best one.
        explore = views[picked].mean > views[best].mean + 1e-12
        reason = (f"evidence floor: {views[floor].name} has less than {EVIDENCE_FLOOR:g} compiles' worth of "
                  f"evidence here; tried on a module under {FLOOR_COST:.0%} of the typical cost") if floor is not None else ""
        if explore and self.mode == "auto":
            done, total = (tc["explore"] if tc else (0, 0))
            under_explored = ctx_pulls < 3 * len(views)
            if total >= 20 and done / total > self.explore_budget and not under_explored:
                picked, explore = best, False
                reason = f"exploration budget ({self.explore_budget:.0%}) spent: exploiting"
        chosen = candidates[picked]
        recommended = None
        if self.mode == "shadow":
            recommended = chosen.name
            reason = f"shadow mode: would run {chosen.name}; compiling baseline"
            chosen, explore = self.catalogue.get(BASELINE), False
        elif self.mode == "confident" and not chosen.is_baseline:
            lead = candidates[best]
            p_lead = posts[lead.name].prob_below(0.0) if lead.name in posts else 0.0
            if p_lead >= CONFIDENT:
                chosen, explore = lead, False
                reason = f"confident: P(beats baseline) = {p_lead:.2f} ≥ {CONFIDENT}"
            else:
                chosen, explore = self.catalogue.get(BASELINE), False
                reason = "confident mode: no strategy is known to beat baseline yet"
        if chosen.is_baseline:
            others = [p.prob_below(0.0) for p in posts.values()]
            confidence = 1.0 - max(others) if others else 1.0
            speed, ci = 1.0, (1.0, 1.0)
        else:
            post = posts[chosen.name]
            confidence = post.prob_below(0.0)
            lo, hi = post.interval()
            speed, ci = math.exp(-post.mu), (math.exp(-hi), math.exp(-lo))
        if not reason:
            n = int(tc["arms"].get(context, {}).get(chosen.name, [0, 0, 0, 0])[3]) if tc else 0
            prior = "shared prior from other contexts" if n < 3 else f"{n} compiles in this context"
            reason = (f"{'exploring' if explore else 'exploiting'} ({self.policy_name}); {prior}")
            if own is not None:
                reason += (f"; imported evidence describes this context with P = {p_import:.2f}, "
                           f"this decision {'used' if drawn is with_import else 'set it aside'}")
        return Decision(
            id=os.urandom(8).hex(), module=module, context=context, strategy=chosen,
            policy=self.policy_name, mode=self.mode, explore=explore, expected_speedup=speed,
            ci=ci, confidence=confidence, reason=reason, toolchain=self.toolchain, path=path,
            source_hash=source_hash, features=dict(features), recommended=recommended,
            suspended=tuple(suspended), import_bf=import_bf)

    def _candidates(self, context: str, module: str | None, source_hash: str | None, joint: J.Joint):
        """(strategies the policy may pick for the module, strategies suspended in the context):
        active, not excluded in the context, not suspended, and not known to break this version
        of the module."""
        broke_here = self.known_failures(module, source_hash) if module else set()
        excluded = self.exclude.get(context, ())
        candidates: list[Strategy] = []
        suspended: list[str] = []
        for s in self.catalogue.active:
            if s.name in excluded:
                continue
            why = self.suspension(context, s.name, joint)
            if why is None and s.name not in broke_here:
                candidates.append(s)
            elif why is not None:
                suspended.append(s.name)
        return candidates, suspended

    def exploit(self, context: str, module: str | None = None, source_hash: str | None = None) -> str:
        """The strategy the posterior means say is best for the module now — what `choose`
        runs when it does not explore. No randomness, nothing recorded."""
        joint = self.joint_posterior(context)
        candidates, _ = self._candidates(context, module, source_hash, joint)
        views = [ArmView(s.name, None if s.is_baseline else joint.marginal(s.name)) for s in candidates]
        return candidates[greedy(views)].name

    @staticmethod
    def _classify(tc: dict | None, module: str, source, path) -> tuple[str, dict, str]:
        """The module's context and features. The learner's record of the module keeps the
        classification of the source it last saw (by SHA-1): when Lake recompiles a module
        because an import changed, its own source is unchanged and the classifier — regular
        expressions to compile, a file to lex — is not even imported."""
        data = source if source is not None else b""
        if isinstance(data, str):
            data = data.encode("utf-8", "surrogatepass")
        try:
            from _sha1 import sha1
        except ImportError:  # pragma: no cover
            from hashlib import sha1
        digest = sha1(data).hexdigest()
        mod = module_record(tc, module) if tc else None
        if mod and mod.get("h") == digest[:16] and "k" in mod:
            return mod["k"], {}, digest        # features: the record's vector x stands for them
        from simpulse.context.classify import classify
        c = classify(data, path=path)
        return c.context, c.features, c.source_hash

    def observe(self, decision: Decision, *, seconds: float, ok: bool = True,
                cpu: float | None = None, error: str | None = None,
                fallback_seconds: float | None = None, fallback_ok: bool | None = None,
                extra: dict | None = None) -> dict:
        """Record one compile of `decision`. `ok=False` with a baseline fallback that compiled
        (`fallback_ok`) blames the strategy; a failure of the baseline blames nothing."""
        if not (isinstance(seconds, (int, float)) and math.isfinite(seconds) and seconds > 0):
            raise SimpulseError(f"compile time must be a positive number of seconds, got {seconds!r}")
        if ok:
            outcome = "ok"
        elif decision.strategy.is_baseline or not fallback_ok:
            outcome = "module_failed"
        else:
            outcome = "strategy_failed"
        event = {
            "v": SCHEMA, "kind": "compile", "id": decision.id, "ts": time.time(),
            "toolchain": decision.toolchain, "module": decision.module, "path": decision.path,
            "source_hash": decision.source_hash, "context": decision.context,
            "features": decision.features, "strategy": decision.strategy.name,
            "policy": decision.policy, "mode": decision.mode, "explore": decision.explore,
            "recommended": decision.recommended, "wall": round(float(seconds), 6),
            "cpu": None if cpu is None else round(float(cpu), 6), "outcome": outcome,
            "error": error, "fallback_wall": None if fallback_seconds is None else round(float(fallback_seconds), 6),
        }
        if decision.import_bf is not None:
            event["import_bf"] = round(decision.import_bf, 4)
        if extra:
            event.update(extra)
        self.record_event(event)
        return event

    def record_event(self, event: dict) -> None:
        """Append an event (compile, record, bench, reset) and fold it into the statistics.
        (The store checkpoints the statistics itself when a load had a long tail to fold.)"""
        stats = self.stats
        if self.store is not None:
            self.store.append(event)
        fold(stats, event)
