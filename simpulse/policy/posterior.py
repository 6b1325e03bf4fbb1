"""Normal–Inverse-Gamma posteriors over a strategy's effect on log compile time.

An arm's evidence is a weighted sample of residuals ``r = log(t) − μ_module``: how much slower
(r > 0) or faster (r < 0) the module compiled under the strategy than the module's own level.
The sufficient statistics are ``[W, S1, S2, n, fails, wins]`` (sum of weights, weighted sum,
weighted sum of squares, raw count, failures, observations faster than the module's level).
Everything here is standard library: it runs in the shim.

The marginal posterior of the mean effect is a Student t with ``2α`` degrees of freedom; its
quantiles use the Cornish–Fisher expansion of the t quantile around the normal one (accurate to
better than 1% for ν ≥ 3), so the hot path needs no scipy. `simpulse.stats` recomputes reported
intervals with scipy.
"""

from __future__ import annotations

import math

from simpulse._record import Record

TYPE_CHECKING = False        # `typing` costs the shim an import; mypy reads this name as typing's
if TYPE_CHECKING:
    from simpulse.policy.rng import Generator

Arm = list[float]            # [W, S1, S2, n, fails, wins]: the counts are whole numbers

# Prior on the noise of log compile times: σ² ~ IG(α0, β0), E[σ²] = β0/(α0−1) = 0.02 (σ ≈ 0.14).
ALPHA0 = 2.0
BETA0 = 0.02
Z95 = 1.959963984540054


# An arm's fields, by position (the layout the statistics store; `simpulse.model.schema.ArmStats`
# names them for code outside the model)
W, S1, S2, N, FAILS, WINS = range(6)


def new_arm() -> Arm:
    return [0.0, 0.0, 0.0, 0, 0, 0]


def add(arm: Arm, r: float, w: float = 1.0) -> None:
    arm[W] += w
    arm[S1] += w * r
    arm[S2] += w * r * r
    arm[N] += 1
    if r < 0:
        arm[WINS] += 1


def merged(a: Arm, b: Arm, scale: float = 1.0) -> Arm:
    """a + scale·b: the evidence of b discounted by `scale` (counts stay raw)."""
    return [a[W] + scale * b[W], a[S1] + scale * b[S1], a[S2] + scale * b[S2],
            a[N] + b[N], a[FAILS] + b[FAILS], a[WINS] + b[WINS]]


class Posterior(Record):
    # mu: posterior mean of the effect on log-time (negative = faster); kappa: pseudo-observations
    # behind mu; alpha, beta: inverse-gamma noise posterior; n: raw observations (no prior).
    __slots__ = ("mu", "kappa", "alpha", "beta", "n")
    _frozen = True
    mu: float
    kappa: float
    alpha: float
    beta: float
    n: int

    @property
    def dof(self) -> float:
        return 2.0 * self.alpha

    @property
    def scale(self) -> float:
        """Scale of the Student-t marginal of the mean."""
        return math.sqrt(self.beta / (self.alpha * self.kappa))

    @property
    def sigma2(self) -> float:
        """Posterior mean of the noise variance."""
        return self.beta / (self.alpha - 1.0) if self.alpha > 1 else self.beta

    def interval(self, level_z: float = Z95) -> tuple[float, float]:
        q = t_quantile_from_z(level_z, self.dof)
        return (self.mu - q * self.scale, self.mu + q * self.scale)

    def prob_below(self, x: float = 0.0) -> float:
        """P(effect < x): the probability the strategy beats the baseline when x = 0."""
        return t_cdf((x - self.mu) / self.scale, self.dof)

    def sample(self, rng: Generator, inflate: float = 1.0) -> float:
        sigma2 = self.beta / rng.gammavariate(self.alpha, 1.0)
        return rng.gauss(self.mu, math.sqrt(inflate * sigma2 / self.kappa))


def posterior(arm: Arm, prior_mu: float = 0.0, prior_kappa: float = 1.0,
              alpha0: float = ALPHA0, beta0: float = BETA0) -> Posterior:
    w, s1, s2 = arm[W], arm[S1], arm[S2]
    kappa = prior_kappa + w
    mu = (prior_kappa * prior_mu + s1) / kappa
    alpha = alpha0 + w / 2.0
    beta = beta0 + 0.5 * max(0.0, s2 + prior_kappa * prior_mu * prior_mu - kappa * mu * mu)
    return Posterior(mu, kappa, alpha, beta, int(arm[N]))


def t_quantile_from_z(z: float, dof: float) -> float:
    """Cornish–Fisher: the Student-t quantile matching the normal quantile z."""
    if dof <= 0:
        return float("inf")
    z3, z5 = z ** 3, z ** 5
    return z + (z3 + z) / (4 * dof) + (5 * z5 + 16 * z3 + 3 * z) / (96 * dof * dof)


def t_cdf(t: float, dof: float) -> float:
    """Student-t CDF through the normal CDF of a variance-stabilised argument (Bailey's
    approximation); good to ~1e-3 for ν ≥ 3, which is all the hot path needs."""
    if dof > 1e6:
        return 0.5 * (1 + math.erf(t / math.sqrt(2)))
    a = dof - 0.5
    b = 48 * a * a
    x = math.sqrt(a * math.log1p(t * t / dof))
    z = x + (x ** 3 + 3 * x) / b - (4 * x ** 7 + 33 * x ** 5 + 240 * x ** 3 + 855 * x) / (10 * b * (b + 0.8 * x ** 4 + 100))
    z = math.copysign(z, t)
    return 0.5 * (1 + math.erf(z / math.sqrt(2)))
