"""Joint contributions: how one observation of a module becomes evidence on the strategies'
effects in its context (de-biased against the module's level), how a module's contribution is
added to and removed from the context's joint block, and the priors the joint posterior is built
from. Standard library only."""

from __future__ import annotations

import math

from simpulse import _fastjson as json   # `json` without `re` (hot path)
from simpulse.policy import joint as J
from simpulse.policy import posterior as P
from simpulse.strategy.catalogue import BASELINE
from simpulse.model.tunables import (
    BETA_PRIOR,
    DEBIAS_REFRESH,
    MODULE_MEMORY,
    OUTLIER_CLIP,
    POOLED,
    PREDICTION_REFRESH,
    SECONDARY,
    SHARE_KAPPA,
)
from simpulse.model.records import _arm, _block, _put_module, earlier_toolchain, module_record
from simpulse.model.levels import (
    _grow,
    _prediction_weight,
    _reg_add,
    _weightier,
    carried_level,
    carry_fit,
    feature_vector,
    level_prior,
    noise_var,
    predicted_level,
    regression_fit,
    with_closure,
)

TYPE_CHECKING = False        # `typing` costs the shim an import; mypy reads this name as typing's
if TYPE_CHECKING:
    from typing import Any

    from simpulse.model.records import Block, ModuleRecord, Stats, Toolchain

    # per context, strategy → δ̂ (`_delta_hat`): dict[str, dict[str, float]], loose because
    # `simpulse.model.fold` declares the memo it passes dict[object, float]
    Memo = dict[Any, Any]
    # `_pseudo`: (x, w) or (design, w, offset), what `J.add_module` takes (its annotation names
    # the first shape only)
    Pseudo = tuple[Any, ...]

def carry_level(stats: Stats, toolchain: str, module: str, mod: ModuleRecord) -> None:
    """Give the module record `mod` (under `toolchain`) the level the newest earlier toolchain
    measured for the module, as "o", once: a Lean upgrade changes compile times, but rarely
    which modules are slow — what a first build without levels lacks most."""
    if "o" in mod:
        return
    prev = earlier_toolchain(stats, toolchain)
    rec = module_record(prev, module) if prev else None
    level = _level(prev, rec) if prev and rec else None     # (rec only with prev)
    if level is not None and math.isfinite(level):
        mod["o"] = round(level, 5)


def _evidence_block(tc: Toolchain | None, ctx: str) -> Block | None:
    """The joint block the context's posterior is computed from: its own, or — state written
    before the joint model — its per-strategy contrasts taken as direct observations."""
    if tc is None:
        return None
    block: Block | None = tc.get("J", {}).get(ctx)
    if block is None and tc["arms"].get(ctx):
        block = J.from_arms(tc["arms"][ctx])
    return block


def _delta_hat(tc: Toolchain, ctx: str, strategy: str, memo: Memo | None = None) -> float:
    """Current estimate of δ(ctx, strategy): the mean of the context's joint block on a unit
    prior at 0 (what de-biases a module's observations under other strategies); `memo` caches
    the context's estimates within one update."""
    if strategy == BASELINE:
        return 0.0
    if memo is None:
        memo = {}
    means: dict[str, float] | None = memo.get(ctx)
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


def importance_weight(tc: Toolchain, ctx: str, y: float) -> float:
    """Slow modules count more: weight √(t / typical t in the context), clipped to [0.3, 3]."""
    c = tc["ctx"].get(ctx)
    if not c or c[0] < 3:
        return 1.0
    typical = c[1] / c[0]
    return min(3.0, max(0.3, math.exp(0.5 * (y - typical))))


def _refresh_predictions(tc: Toolchain, ctx: str, x: list[float] | None) -> bool:
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
        assert mod is not None                # (j is None without a record)
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


def beta_prior(tc: Toolchain | None, ctx: str, feats: list[str]) -> dict[str, tuple[float, float]]:
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


def on_strategies(tc: Toolchain | None, ctx: str, block: Block | None) -> Block | None:
    """The block's evidence on the strategies alone: its regression coefficients β integrated
    out on their prior (`beta_prior`, `J.without_features`)."""
    feats = J.features_of(block)
    # (feats is empty without a block)
    return J.without_features(block, beta_prior(tc, ctx, feats)) if feats and block is not None else block


def joint_of(tc: Toolchain | None, ctx: str, block: Block | None, names: list[str], prior: dict[str, tuple[float, float]],
             **kw: Any) -> J.Joint:
    """`J.joint` over `names` on `on_strategies(block)`: exactly the strategies' marginal posterior."""
    return J.joint(on_strategies(tc, ctx, block), names, prior, **kw)


def module_level(stats: Stats, toolchain: str, module: str) -> float | None:
    """The module's estimated baseline compile time in seconds (e^μ̂), or None if unknown."""
    tc = stats["toolchains"].get(toolchain)
    level = _level(tc, module_record(tc, module)) if tc else None
    return math.exp(level) if level is not None else None


def _level(tc: Toolchain, mod: ModuleRecord | None, memo: Memo | None = None) -> float | None:
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


def _observe_module(tc: Toolchain, mod: ModuleRecord, ctx: str, strategy: str, y: float,
                    features: dict[str, Any] | None = None, memo: Memo | None = None) -> float | None:
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
    x = [round(v, 5) for v in x] if x is not None else with_closure(mod.get("x"), features)
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
    this_residual: float | None = None
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


def _joint_cells(mod: ModuleRecord, pseudo: Pseudo | None) -> tuple[dict[str, list[float]], float, float, float]:
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


def _joint_apply(tc: Toolchain, mod: ModuleRecord, ctx: str, weight: float, pseudo: Pseudo | None, sign: float) -> None:
    cells, real, pe, pf = _joint_cells(mod, pseudo)
    J.add_module(_block(tc, ctx), cells, weight, real, sign,
                 pseudo=pseudo if pseudo is not None and isinstance(pseudo[0], (list, dict)) else None)
    noise = tc.setdefault("noise", [0.0, 0.0])
    noise[0] = max(0.0, round(noise[0] + sign * pe, 5))
    noise[1] = max(0.0, noise[1] + sign * pf)


def _joint_remove(tc: Toolchain, mod: ModuleRecord) -> None:
    """Subtract the module's contribution to its context's joint block (`simpulse.policy.joint`)
    — recomputed from its cells, which have not changed since it was added, and the record
    ``j = [context, weight, features x, pseudo weight]`` (x = {"o": level} for a level carried
    from an earlier toolchain). Call before changing the cells."""
    old = mod.pop("j", None)
    if isinstance(old, list) and len(old) == 4 and isinstance(old[0], str):
        _joint_apply(tc, mod, old[0], old[1], _pseudo(old[2], old[3]), -1.0)
    # (any other shape — a damaged record — cannot be subtracted exactly; it is dropped and the
    # module's new contribution added: one module counted twice, never a failed load)


def _pseudo(x: Any, w: float | None) -> Pseudo | None:
    """The pseudo-observation of a module's level as `J.add_module` takes it, from the record's
    (x, w): features x → N(xᵀβ, σ²/w); {"o": level} → N(level + shift, σ²/w); a number (legacy)
    → (value, weight)."""
    if w is None:
        return None
    if isinstance(x, dict):
        return ({J.SHIFT: 1.0}, w, float(x.get("o", 0.0)))
    return (x, w)


def _joint_add(tc: Toolchain, mod: ModuleRecord, ctx: str, x: list[float] | None, w: float | None, weight: float) -> None:
    """Add the module to its context's joint block; with features x, its level's prior
    N(xᵀβ, σ²/w) joins as a pseudo-observation (`J.add_module`). A module with a level carried
    from an earlier toolchain (record "o"), once the context's carried levels predict
    (`carry_fit`), has instead the prior N(that level + the context's shift, σ²/w_carry)."""
    weight = round(weight, 5)
    pseudo: tuple[Any, float] | None = None if x is None or not w else ([round(v, 5) for v in x], round(w, 5))
    cf = carry_fit(tc, ctx) if isinstance(mod.get("o"), (int, float)) else None
    if cf is not None and cf[2] > 0 and (pseudo is None or cf[2] >= pseudo[1]):
        pseudo = ({"o": mod["o"]}, cf[2])
    _joint_apply(tc, mod, ctx, weight, None if pseudo is None else _pseudo(*pseudo), 1.0)
    block = tc["J"][ctx]
    block["age"] = block.get("age", 0) + 1
    mod["j"] = [ctx, weight, None, None] if pseudo is None else [ctx, weight, pseudo[0], pseudo[1]]


def share_strength(tc: Toolchain, strategy: str) -> float:
    """What the other contexts' evidence on a strategy is worth in a context, in compiles:
    σ² / υ², with υ² the between-context variance of the strategy's effect (DerSimonian–Laird
    estimate from the contexts' contrasts) and σ² one compile's noise. Contexts that agree share
    up to SHARE_KAPPA; contexts whose effects differ share little."""
    noise = noise_var(tc)
    pts: list[tuple[float, float]] = []
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


def relative_cost(tc: Toolchain | None, ctx: str, mod: ModuleRecord | None, x: list[float] | None,
                  memo: Memo | None = None) -> float:
    """The module's expected baseline time relative to its context's typical (geometric mean)
    one: from its own compiles, else from its level under an earlier toolchain, else predicted
    from its features, else 1."""
    c = tc["ctx"].get(ctx) if tc else None
    if not c or c[0] < 3:
        return 1.0
    assert tc is not None                 # (c is None without tc)
    level = _level(tc, mod, memo) if mod else None
    if level is None:
        p = level_prior(tc, ctx, mod, x)
        if p is None:
            return 1.0
        level = p[0]
    return math.exp(max(-20.0, min(20.0, level - c[1] / c[0])))


def _contribute(tc: Toolchain, ctx: str, strategy: str, w: float, r: float, x: list[float] | None) -> None:
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
        if st is None:
            st = lin[strategy] = [[[0.0] * d for _ in range(d)], [0.0] * d]
        elif len(st[1]) < d:               # sums of an earlier format: widened, never reset
            _grow(st[0], st[1], d)
        A, b = st
        for i in range(d):
            b[i] += w * r * x[i]
            Ai = A[i]
            for j in range(d):
                Ai[j] += w * x[i] * x[j]
