"""The joint posterior of a context's strategy effects: a two-way model with module levels.

    log t = μ_module + δ_strategy + ε,   ε ~ N(0, σ²),   δ_baseline = 0

Module levels are nuisance parameters. Absorbing them (the classic unbalanced two-way ANOVA),
each module m with weighted counts n_k and sums S_k of log-times per strategy k (N = Σ n_k,
T = Σ S_k, Q = Σ y²) adds to the context's normal equations

    M += ω (diag(n) − n nᵀ / N),   b += ω (S − n T / N),   q += ω (Q − T² / N)

so only *within-module* contrasts inform δ: a module compiled under A and B tells A − B
exactly, whatever its level, and a module seen once tells nothing — unless its level is known
from elsewhere. That is what the per-context regression of level on features supplies: a
pseudo-observation of the module under baseline (`simpulse.learner.predicted_level`), which is
how a first build, where every module is compiled once, learns (a random-effects prior on μ).
Each block is additive over modules, so a module's contribution is subtracted and re-added
when the module is seen again (it counts once, however often it is recompiled).

The posterior of δ (non-baseline strategies) given per-strategy priors N(μ0_k, σ²/κ0_k):
precision P = diag(κ0) + M, mean P⁻¹ (κ0 μ0 + b), noise σ² ~ IG(α0 + d/2, β0 + RSS/2). Its
draws are correlated: two strategies compared on the same modules have a well-known
difference even while each is uncertain against baseline, and Thompson sampling on these draws
stops exploring between them. Standard library only (hot path).
"""

from __future__ import annotations

import math

from simpulse.policy import posterior as P

TYPE_CHECKING = False        # `typing` costs the shim an import; mypy reads this name as typing's
if TYPE_CHECKING:
    from simpulse.policy.rng import Generator
    from collections.abc import Callable, Container, Sequence
    from typing import Any

    Block = dict[str, Any]               # names, M, b, q, d, fail (docs/state-format.md)
    Matrix = list[list[float]]
    Priors = dict[str, tuple[float, float]]                 # name → (μ0, κ0)
    Breakage = dict[str, tuple[float, float, float]]        # name → (a, b, c), see `Joint`


def new_block() -> Block:
    # names: strategy order of M and b (baseline included); d: residual degrees of freedom
    return {"names": [], "M": [], "b": [], "q": 0.0, "d": 0.0}


def _index(block: Block, name: str) -> int:
    names: list[str] = block["names"]
    try:
        return names.index(name)
    except ValueError:
        names.append(name)
        for row in block["M"]:
            row.append(0.0)
        block["M"].append([0.0] * len(names))
        block["b"].append(0.0)
        return len(names) - 1


FEATURE = "#"          # names "#0", "#1", …: the coefficients β of the level's regression on features
SHIFT = "#s"           # the context's shift from module levels carried over from an earlier toolchain


def feature_names(d: int) -> list[str]:
    return [f"{FEATURE}{i}" for i in range(d)]


def add_module(block: Block, cells: dict[str, list[float]], weight: float, real: float, sign: float = 1.0,
               pseudo: tuple[Any, float] | None = None) -> None:
    """Add (sign +1) or remove (−1) one module: `cells` maps strategy → [n, S, Q] (weighted count,
    sum and sum of squares of its log-times), `real` the number of observations in it (each
    counts one degree of freedom whatever its weight; the module's level takes one).

    `pseudo` = (x, w): the module's level has the prior N(xᵀβ, σ²/w), β the context's
    regression of level on features, estimated jointly with δ (names `feature_names`). It
    enters as one more observation of the level, 0 = μ − xᵀβ, of weight w: a module compiled
    once then informs δ against its features, and the regression is always de-biased by the
    current δ — not by the estimate of the day each module was seen.

    `pseudo` = (design, w, offset), design a dict name → coefficient: the level's prior is
    N(offset + Σ coefficient·parameter, σ²/w). A module whose level an earlier toolchain
    measured has ({SHIFT: 1}, w, its earlier level): its level now is that one plus the
    context's shift, estimated jointly with δ like β."""
    # each group: (weight n, design {name: coefficient}, Σ y, Σ y²); the baseline's design is empty
    groups = [(v[0], {} if k == "baseline" else {k: 1.0}, v[1], v[2]) for k, v in cells.items() if v[0] > 0]
    if pseudo is not None and pseudo[1] > 0:
        x, wp = pseudo[0], pseudo[1]
        off = pseudo[2] if len(pseudo) > 2 else 0.0
        design = x.items() if isinstance(x, dict) else zip(feature_names(len(x)), x)
        groups.append((wp, {f: -xi for f, xi in design}, wp * off, wp * off * off))
    N = sum(g[0] for g in groups)
    if N <= 0 or len(groups) < 2:
        return          # one group only: no contrast
    T = sum(g[2] for g in groups)
    avec: dict[str, float] = {}
    for n, a, _, _ in groups:
        for k, c in a.items():
            avec[k] = avec.get(k, 0.0) + n * c
    idx = {k: _index(block, k) for k in avec}
    w = sign * weight
    M, b = block["M"], block["b"]
    for n, a, S, _ in groups:
        for k, c in a.items():
            i = idx[k]
            b[i] += w * c * S
            for k2, c2 in a.items():
                M[i][idx[k2]] += w * n * c * c2
    for k, ak in avec.items():
        i = idx[k]
        b[i] -= w * ak * T / N
        for k2, ak2 in avec.items():
            M[i][idx[k2]] -= w * ak * ak2 / N
    block["q"] += w * (sum(g[3] for g in groups) - T * T / N)
    block["d"] += sign * max(0.0, real - 1.0)


def add_direct(block: Block, name: str, r: float, weight: float = 1.0) -> None:
    """A paired observation of δ_name itself (measured against the module's own baseline in the
    same invocation: a failure's cost, a `record`/`bench` result)."""
    i = _index(block, name)
    block["M"][i][i] += weight
    block["b"][i] += weight * r
    block["q"] += weight * r * r
    block["d"] += 1.0


def add_failure(block: Block, name: str, r: float) -> None:
    """A compile that `name` broke, costing r = log((t_failed + t_baseline) / t_baseline): kept
    apart from δ, as the breakage counts of `Joint`."""
    acc = block.setdefault("fail", {}).setdefault(name, [0, 0.0])
    acc[0] += 1
    acc[1] = round(acc[1] + r, 5)


def from_arms(arms: dict[str, P.Arm]) -> Block:
    """A block from per-strategy contrast statistics (`simpulse.policy.posterior` arms: weight,
    weighted sum and sum of squares of residuals against baseline), taken as direct
    observations of each δ: how evidence recorded without module structure (older state, older
    export files) enters the joint model."""
    block = new_block()
    for name, arm in arms.items():
        if name == "baseline" or not arm or arm[P.W] <= 0:
            continue
        i = _index(block, name)
        block["M"][i][i] += arm[P.W]
        block["b"][i] += arm[P.S1]
        block["q"] += arm[P.S2]
        block["d"] += arm[P.N]
    return block


def merge(into: Block, other: Block, scale: float = 1.0) -> None:
    """into += scale · other (sufficient statistics of two evidence sources add)."""
    idx = [_index(into, k) for k in other["names"]]
    for a, i in enumerate(idx):
        into["b"][i] += scale * other["b"][a]
        for c, j in enumerate(idx):
            into["M"][i][j] += scale * other["M"][a][c]
    into["q"] += scale * other["q"]
    into["d"] += scale * other["d"]
    for name, (f, r) in (other.get("fail") or {}).items():
        acc = into.setdefault("fail", {}).setdefault(str(name), [0, 0.0])
        acc[0] += scale * float(f)
        acc[1] += scale * float(r)


def restrict(block: Block, keep: Container[str]) -> Block:
    """A copy of `block` with only the rows and columns of the names in `keep` (and their
    failures)."""
    idx = [i for i, n in enumerate(block["names"]) if n in keep]
    return {"names": [block["names"][i] for i in idx],
            "M": [[block["M"][i][j] for j in idx] for i in idx],
            "b": [block["b"][i] for i in idx], "q": block["q"], "d": block["d"],
            "fail": {n: list(v) for n, v in (block.get("fail") or {}).items() if n in keep}}


def dot(x: Sequence[float], y: Sequence[float]) -> float:
    """Σ xᵢ·yᵢ (standard library, hot path)."""
    acc = 0.0
    for a, b in zip(x, y):
        acc += a * b
    return acc


def features_of(block: Block | None) -> list[str]:
    """The block's regression coefficients, in order: "#0", "#1", …, then SHIFT if present."""
    if not block:
        return []
    return sorted((k for k in block["names"] if k.startswith(FEATURE)),
                  key=lambda k: (0, int(k[1:])) if k[1:].isdigit() else (1, 0))


def without_features(block: Block, prior: Priors) -> Block:
    """The block's evidence on the strategies alone, β (the feature names) integrated out on its
    prior N(μ0, σ²/κ0) (`prior`: name → (μ0, κ0)) by the Schur complement: the strategies'
    joint posterior from the result (same priors on them) is exactly their marginal from the
    whole block. What an export carries: a project's regression of level on features is its
    own, its strategies' effects are what travel."""
    names = block["names"]
    fi = [names.index(k) for k in features_of(block)]
    keep = [i for i, k in enumerate(names) if not k.startswith(FEATURE)]
    out: Block = {"names": [names[i] for i in keep], "M": [[block["M"][i][j] for j in keep] for i in keep],
           "b": [block["b"][i] for i in keep], "q": block["q"], "d": block["d"]}
    if "fail" in block:
        out["fail"] = {k: list(v) for k, v in block["fail"].items()}
    if not fi:
        return out
    M, b = block["M"], block["b"]
    k0 = [prior[names[i]][1] for i in fi]
    m0 = [prior[names[i]][0] for i in fi]
    F = [[M[i][j] + (k0[a] if a == c else 0.0) for c, j in enumerate(fi)] for a, i in enumerate(fi)]
    L = cholesky(F)
    # with F = L Lᵀ, G = L⁻¹ M_βδ and g = L⁻¹ (b_β + K μ0):
    # M' = M_δδ − GᵀG, b' = b_δ − Gᵀg, q' = q + μ0ᵀKμ0 − gᵀg
    G = [forward(L, [M[i][j] for i in fi]) for j in keep]     # one column of G per kept name
    g = forward(L, [b[i] + k0[a] * m0[a] for a, i in enumerate(fi)])
    for a in range(len(keep)):
        Ga, row = G[a], out["M"][a]
        out["b"][a] -= dot(Ga, g)
        for c in range(a, len(keep)):
            v = dot(Ga, G[c])
            row[c] -= v
            if c != a:
                out["M"][c][a] -= v
    out["q"] = max(0.0, block["q"] + sum(k * m * m for k, m in zip(k0, m0)) - dot(g, g))
    out["d"] = max(0.0, block["d"] - len(fi))
    return out


def cholesky(A: Matrix) -> Matrix:
    """L with A = L Lᵀ (A symmetric positive definite; pivots clamped at 1e-12)."""
    n = len(A)
    L = [[0.0] * n for _ in range(n)]
    for i in range(n):
        Li = L[i]
        Ai = A[i]
        for j in range(i + 1):
            Lj = L[j]
            s = Ai[j]
            for k in range(j):
                s -= Li[k] * Lj[k]
            if i == j:
                Li[j] = math.sqrt(max(s, 1e-12))
            else:
                Li[j] = s / Lj[j]
    return L


def forward(L: Matrix, v: Sequence[float]) -> list[float]:
    """Solve L y = v."""
    n = len(v)
    y = [0.0] * n
    for i in range(n):
        Li = L[i]
        acc = v[i]
        for k in range(i):
            acc -= Li[k] * y[k]
        y[i] = acc / Li[i]
    return y


def backward(L: Matrix, y: Sequence[float]) -> list[float]:
    """Solve Lᵀ x = y."""
    n = len(y)
    x = [0.0] * n
    for i in range(n - 1, -1, -1):
        acc = y[i]
        for k in range(i + 1, n):
            acc -= L[k][i] * x[k]
        x[i] = acc / L[i][i]
    return x


def _inverse_diagonal(L: Matrix) -> list[float]:
    """diag((L Lᵀ)⁻¹) = column sums of squares of L⁻¹ (L lower triangular)."""
    n = len(L)
    inv = [[0.0] * n for _ in range(n)]
    for j in range(n):
        inv[j][j] = 1.0 / L[j][j]
        for i in range(j + 1, n):
            Li = L[i]
            acc = 0.0
            for k in range(j, i):
                acc -= Li[k] * inv[k][j]
            inv[i][j] = acc / Li[i]
    return [sum(inv[i][j] * inv[i][j] for i in range(j, n)) for j in range(n)]


class Joint:
    """The posterior of δ for `names` (non-baseline strategies) in one context.

    Breakage is modelled apart from speed: δ is learned from the compiles that succeed, and a
    strategy that breaks a share p of the context's modules costs, in expectation,
    ``(1 − p)·e^δ + p·c`` (c: its mean cost ratio when it breaks — the failed attempt plus the
    baseline fallback, over the baseline), with p ~ Beta(prior + failures, successes). Mixing
    the two in one normal model would let one precisely measured failure outweigh many
    successes measured against a predicted level."""

    __slots__ = ("names", "mean", "L", "alpha", "beta", "_diag", "_breakage", "rhs")

    def __init__(self, names: list[str], mean: list[float], L: Matrix, alpha: float, beta: float,
                 breakage: Breakage | Callable[[], Breakage | None] | None = None,
                 rhs: list[float] | None = None) -> None:
        self.names, self.mean, self.L, self.alpha, self.beta = names, mean, L, alpha, beta
        self.rhs = rhs          # P·mean: the prior's κ0·μ0 plus the block's b
        self._diag: list[float] | None = None
        # name → (a, b, c): Beta(a, b) on the breakage rate, c the cost ratio of a failure; or a
        # function returning it, called at the first use (a model that may not be played)
        self._breakage: Breakage | Callable[[], Breakage | None] = breakage or {}

    @property
    def breakage(self) -> Breakage:
        if callable(self._breakage):
            self._breakage = self._breakage() or {}
        return self._breakage

    def _with_breakage(self, name: str, delta: float, p: float | None = None) -> float:
        entry = self.breakage.get(name)
        if entry is None:
            return delta
        a, b, c = entry
        if p is None:
            p = a / (a + b)
        return math.log((1.0 - p) * math.exp(min(delta, 50.0)) + p * c)

    def marginal(self, name: str) -> P.Posterior:
        """One strategy's marginal as a `Posterior` (its κ is 1 / (P⁻¹)ᵢᵢ)."""
        i = self.names.index(name)
        if self._diag is None:
            self._diag = _inverse_diagonal(self.L)
        mu = self._with_breakage(name, self.mean[i])
        return P.Posterior(mu, 1.0 / max(self._diag[i], 1e-12), self.alpha, self.beta, 0)

    def evidence_terms(self) -> tuple[float, float]:
        """(log det P, rhsᵀ P⁻¹ rhs): the two data-dependent terms of the Gaussian model's
        evidence (`simpulse.learner.import_odds`)."""
        return 2.0 * sum(math.log(self.L[i][i]) for i in range(len(self.mean))), dot(self.mean, self.rhs or ())

    def speed(self, name: str) -> float:
        """The posterior mean of δ on the compiles that succeed (breakage left out)."""
        return self.mean[self.names.index(name)]

    def sample(self, rng: Generator, inflate: float = 1.0) -> list[float]:
        """One draw of every strategy's expected effect on log-cost (breakage included)."""
        sigma2 = self.beta / rng.gammavariate(self.alpha, 1.0)
        z = [rng.gauss(0.0, 1.0) for _ in self.names]
        e = backward(self.L, z)                  # ~ N(0, P⁻¹)
        s = math.sqrt(inflate * sigma2)
        out = []
        for name, m, v in zip(self.names, self.mean, e):
            entry = self.breakage.get(name)
            p = None if entry is None else rng.betavariate(entry[0], entry[1])
            out.append(self._with_breakage(name, m + s * v, p))
        return out


def joint(block: Block | None, names: list[str], prior: Priors, alpha0: float = P.ALPHA0,
          beta0: float = P.BETA0, breakage: Breakage | Callable[[], Breakage | None] | None = None) -> Joint:
    """The posterior for `names` given the block (None: prior only), per-name priors (μ0, κ0)
    and, optionally, per-name breakage posteriors (a, b, c) (see `Joint`)."""
    n = len(names)
    pos = {k: i for i, k in enumerate(block["names"])} if block else {}
    A = [[0.0] * n for _ in range(n)]
    rhs = [0.0] * n
    for a, k in enumerate(names):
        mu0, k0 = prior[k]
        A[a][a] += k0
        rhs[a] += k0 * mu0
        i = pos.get(k)
        if i is None:
            continue
        assert block is not None          # pos is empty without a block
        rhs[a] += block["b"][i]
        Mi = block["M"][i]
        for c, k2 in enumerate(names):
            j = pos.get(k2)
            if j is not None:
                A[a][c] += Mi[j]
    L = cholesky(A)
    mean = backward(L, forward(L, rhs))
    rss = 0.0
    d = 0.0
    if block:
        # q − 2 δᵀb + δᵀ M δ over the modelled names, plus the prior's own misfit
        quad = lin = 0.0
        bb = block["b"]
        for a, k in enumerate(names):
            Aa = A[a]
            row = -prior[k][1] * mean[a]
            for c in range(n):
                row += Aa[c] * mean[c]
            quad += mean[a] * row
            i = pos.get(k)
            if i is not None:
                lin += mean[a] * bb[i]
        rss = block["q"] - 2 * lin + quad
        d = block["d"]
    rss += sum(prior[k][1] * (mean[a] - prior[k][0]) ** 2 for a, k in enumerate(names))
    alpha = alpha0 + max(0.0, d - n) / 2.0
    beta = beta0 + 0.5 * max(0.0, rss)
    return Joint(list(names), mean, L, alpha, beta, breakage, rhs)
