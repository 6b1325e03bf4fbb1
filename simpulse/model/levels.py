"""Module levels: the feature vector, the per-context regression of a module's log-time on it (with
its own small solver), and levels carried over from an earlier toolchain. Standard library only."""

from __future__ import annotations

import math

from simpulse.policy import joint as J
from simpulse.policy import posterior as P
from simpulse.model.tunables import CARRY_MIN, DEBIAS_REFRESH, POOLED, REG_MIN, REG_RIDGE, SECONDARY

TYPE_CHECKING = False        # `typing` costs the shim an import; mypy reads this name as typing's
if TYPE_CHECKING:
    from typing import Any

    from simpulse.model.records import ModuleRecord, Toolchain

Level = tuple[float, float]          # (log seconds, what it is worth in compiles of the module)

CLOSURE = "import_closure"    # a compile's feature: how many modules its imports load (Lake's setup file)
DIMENSION = 6                 # the feature vector's length (5 until 2026-12-07: `pad` reads those)


def feature_vector(features: dict[str, Any] | None) -> list[float] | None:
    """The small vector the per-context level regression and `lints` use:
    [1, log(1+lines), log(1+declarations), log(1+simp calls), log(1+arithmetic tactics)], and
    log(1+modules of the import closure) where it is known (a Lake that writes a setup file; a
    vector without it reads as 0 there: `pad`). None without a classified source (`features`
    holding nothing but the closure: the record's vector stands for the source, `with_closure`)."""
    if not features or all(k == CLOSURE for k in features):
        return None
    g = features.get

    def num(*keys: str) -> float:
        total = 0.0
        for k in keys:
            v = g(k)
            if isinstance(v, (int, float)) and math.isfinite(v) and v > 0:
                total += float(v)
        return total

    c = _closure(features)
    return [1.0, math.log1p(num("lines")), math.log1p(num("declarations")),
            math.log1p(num("simp", "simp_only", "simp_all", "simp_star", "simp_query")),
            math.log1p(num("omega", "decide", "norm_num", "arith"))] + ([math.log1p(c)] if c is not None else [])


def _closure(features: dict[str, Any] | None) -> float | None:
    c = features.get(CLOSURE) if features else None
    if isinstance(c, (int, float)) and not isinstance(c, bool) and math.isfinite(c) and c >= 0:
        return float(c)
    return None


def with_closure(x: list[float] | None, features: dict[str, Any] | None) -> list[float] | None:
    """A module record's vector `x` (its source's) with this compile's import closure where
    `features` has one (an unchanged source can sit on a changed closure)."""
    if not isinstance(x, list):
        return None
    c = _closure(features)
    if c is None:
        return list(x)
    out = pad(x)
    out[DIMENSION - 1] = round(math.log1p(c), 5)
    return out


def pad(x: list[float]) -> list[float]:
    """`x` with the components an earlier format did not have, as 0 (unknown)."""
    return list(x) + [0.0] * (DIMENSION - len(x)) if len(x) < DIMENSION else list(x)


def _grow(A: list[list[float]], b: list[float], d: int) -> None:
    """Widen a regression's sums (`A`, `b`) to `d` features, in place (those a state of an
    earlier format lacks: zero, as if every compile so far had measured 0 for them)."""
    for row in A:
        row.extend([0.0] * (d - len(row)))
    A.extend([[0.0] * d for _ in range(d - len(A))])
    b.extend([0.0] * (d - len(b)))


def _solve(A: list[list[float]], b: list[float]) -> list[float] | None:
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


def _reg_add(tc: Toolchain, ctx: str, x: list[float], y: float, sign: float = 1.0) -> None:
    reg = tc.setdefault("reg", {}).get(ctx)
    d = len(x)
    if reg is None:
        reg = tc["reg"][ctx] = {"A": [[0.0] * d for _ in range(d)], "b": [0.0] * d, "yy": 0.0, "n": 0}
    elif len(reg["b"]) < d:
        _grow(reg["A"], reg["b"], d)
    A, b = reg["A"], reg["b"]
    for i in range(d):
        b[i] += sign * x[i] * y
        Ai = A[i]
        for j in range(d):
            Ai[j] += sign * x[i] * x[j]
    reg["yy"] += sign * y * y
    reg["n"] += int(sign)
    reg["age"] = reg.get("age", 0) + 1


def regression_fit(tc: Toolchain, ctx: str, d: int) -> tuple[list[float], float] | None:
    """(β, residual variance) of the context's ridge regression of de-biased log-times on
    features — or, while the context has fewer than REG_MIN × d compiles, of the regression over
    every context, so that a context's first compiles already learn."""
    regs = tc.get("reg", {})
    reg = regs.get(ctx)
    if reg is None or reg["n"] < REG_MIN * _params(reg, d):
        # too few compiles in the context yet: the regression over every context (its misfit
        # includes the contexts' differences, so its predictions weigh less)
        reg = regs.get(POOLED)
        if reg is None or reg["n"] < REG_MIN * _params(reg, d):
            return None
    if len(reg["b"]) < d:
        _grow(reg["A"], reg["b"], d)
    fit = reg.get("fit")
    if fit is None or reg.get("age", 0) >= DEBIAS_REFRESH or len(fit[0]) != d:
        # re-solved every few additions, like δ̂: the fit moves slowly. A vector shorter than the
        # sums (a record of an earlier format): the regression on its features alone
        A = [[reg["A"][i][j] + ((REG_RIDGE if i == 1 else SECONDARY[0]) if i == j and i > 0 else 0.0)
              for j in range(d)] for i in range(d)]
        b = reg["b"][:d]
        beta = _solve(A, b)
        if beta is None:
            return None
        rss = reg["yy"] - J.dot(beta, b)
        fit = reg["fit"] = [[round(v, 6) for v in beta], round(rss / max(1, reg["n"] - _params(reg, d)), 6)]
        reg["age"] = 0
    return fit[0], fit[1]


def _params(reg: dict[str, Any] | None, d: int) -> int:
    """The regression's parameters for a vector of length `d`: the source's five, and the import
    closure's once some compile has measured one (a column of zeros estimates nothing, and a
    project whose Lake writes no setup file keeps the regression it had)."""
    base = min(d, DIMENSION - 1)
    if d < DIMENSION or reg is None:
        return base
    A = reg["A"]
    k = DIMENSION - 1
    return base + (1 if len(A) > k and A[k][k] > 1e-12 else 0)


def predicted_level(tc: Toolchain, ctx: str, x: list[float] | None) -> Level | None:
    """(predicted log-time under baseline, its effective number of observations) for a module
    with features x, from `regression_fit`."""
    if x is None:
        return None
    fit = regression_fit(tc, ctx, len(x))
    if fit is None:
        return None
    beta, s2 = fit
    return J.dot(beta, x), _prediction_weight(tc, s2)


def carry_fit(tc: Toolchain, ctx: str) -> tuple[float, float, float] | None:
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


def carried_level(tc: Toolchain, ctx: str, mod: ModuleRecord | None) -> Level | None:
    """(predicted log-time under baseline, weight) of a module from the level an earlier
    toolchain measured (record "o") and the context's shift (`carry_fit`), or None."""
    o = mod.get("o") if mod else None
    if not isinstance(o, (int, float)):
        return None
    cf = carry_fit(tc, ctx)
    return None if cf is None else (o + cf[0], cf[2])


def level_prior(tc: Toolchain, ctx: str, mod: ModuleRecord | None, x: list[float] | None) -> Level | None:
    """(predicted level, weight) of a module not yet compiled: its carried level
    (`carried_level`) or its features' prediction (`predicted_level`), whichever weighs more —
    the same choice `_joint_add` makes for its pseudo-observation."""
    return _weightier(carried_level(tc, ctx, mod), predicted_level(tc, ctx, x))


def _weightier(carried: Level | None, predicted: Level | None) -> Level | None:
    """Of a carried level and a features' prediction ((level, weight) or None), the one that
    weighs more — the carried one on a tie; itself, not a copy."""
    if carried is None or carried[1] <= 0:
        return predicted
    return carried if predicted is None or carried[1] >= predicted[1] else predicted


def _prediction_weight(tc: Toolchain, s2: float) -> float:
    """What a level predicted with residual variance s2 is worth, in compiles of the module. s2
    is the level's misfit τ² plus one compile's timing noise σ²: a prediction is worth σ² / τ²
    compiles (at most one). The same for every module of a context."""
    noise = noise_var(tc)
    tau2 = max(s2 - noise, noise)
    return min(1.0, noise / tau2)


def noise_var(tc: Toolchain) -> float:
    """Posterior mean of one compile's timing variance on log-time, from repeated compiles of
    the same module under the same strategy (pure error), on the prior IG(α0, β0)."""
    e, f = tc.get("noise") or (0.0, 0.0)
    return (P.BETA0 + e / 2.0) / (P.ALPHA0 + f / 2.0 - 1.0)
