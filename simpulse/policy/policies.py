"""Bandit policies: given the posterior of every candidate strategy in a context, pick one.

Each policy sees one `Situation` — the candidates as `ArmView`s (baseline first; its effect is 0
by definition) and what else the decision knows — and returns the index of the arm it picks.
Lower effect on log-time is better. A policy that needs another input reads it from the
situation; the learner has no special case per policy. Standard library only.

``temperature`` scales a decision's exploration: the learner passes < 1 for a module that costs
more than its context's typical one and > 1 for a cheap one (exploring costs seconds in
proportion to the module's compile time, while what it teaches about a strategy's effect on
log-time does not depend on the module's size). ``joint`` is the context's joint posterior
(`simpulse.policy.joint`); Thompson sampling draws all effects from it at once.

- ``thompson`` (default): Thompson sampling on the Normal–Inverse-Gamma posterior of the
  log-time effect; curiosity inflates the sampling variance in contexts with few pulls.
- ``beta``: Beta–Bernoulli Thompson sampling on "this compile beat the module's level" (no
  temperature: its draws have no scale to shrink).
- ``ucb``: lower confidence bound on the log-time effect, scaled by the posterior noise
  (log-speedups are ~0.1, so UCB1's [0, 1] reward scale would explore forever), its width
  shrinking with information or pulls, whichever is faster (see the class).
- ``egreedy``: ε-greedy with ε decaying per context with its pulls, halved once the leader is
  confident.
- ``lints``: linear Thompson sampling on the module's feature vector (contextual).
"""

from __future__ import annotations

import math

from simpulse._record import Record
from simpulse.policy import joint as J


class ArmView(Record):
    # post: the arm's Posterior, None for the baseline (effect ≡ 0)
    __slots__ = ("name", "post", "wins", "pulls")
    _defaults = {"wins": 0, "pulls": 0}

    @property
    def mean(self) -> float:
        return 0.0 if self.post is None else self.post.mu


class Situation(Record):
    """One decision, as a policy sees it.

    arms: the candidates (`ArmView`, baseline first); rng: the learner's random generator;
    ctx_pulls: compiles so far in the context; features: the module's feature vector or None;
    temperature: the exploration scale; joint: the context's joint posterior or None;
    linear_stats: per strategy, the context's [A, b] sums of `lints`' regression."""
    __slots__ = ("arms", "rng", "ctx_pulls", "features", "temperature", "joint", "linear_stats")
    _defaults = {"features": None, "temperature": 1.0, "joint": None, "linear_stats": dict}


def greedy(arms: list[ArmView]) -> int:
    return min(range(len(arms)), key=lambda i: (arms[i].mean, i))


class Thompson:
    name = "thompson"

    def __init__(self, curiosity: float = 1.0, scale: float = 0.5):
        self.curiosity = curiosity
        self.scale = scale

    def select(self, s: Situation) -> int:
        arms, rng, ctx_pulls, temperature, joint = s.arms, s.rng, s.ctx_pulls, s.temperature, s.joint
        inflate = temperature * self.scale * (1.0 + self.curiosity * (1.0 if ctx_pulls < 3 * len(arms) else 0.0))
        if joint is not None:
            # one correlated draw of every effect (`simpulse.policy.joint`)
            by_name = dict(zip(joint.names, joint.sample(rng, inflate)))
            draws = [0.0 if a.post is None else by_name[a.name] for a in arms]
        else:
            draws = [0.0 if a.post is None else a.post.sample(rng, inflate) for a in arms]
        return min(range(len(arms)), key=lambda i: draws[i])


class BetaBernoulli:
    name = "beta"

    def select(self, s: Situation) -> int:
        arms, rng = s.arms, s.rng
        # The baseline "beats itself" half the time.
        draws = []
        for a in arms:
            if a.post is None:
                draws.append(0.5)
            else:
                losses = max(0, a.pulls - a.wins)
                draws.append(rng.betavariate(1 + a.wins, 1 + losses))
        return max(range(len(arms)), key=lambda i: draws[i])


class LowerConfidenceBound:
    """The lower confidence bound of each effect on log-time, mean − c·width, width =
    √(temperature·σ²·v)·√(2 ln(n + 2)) (n: the context's compiles).

    v is the smaller of the posterior's variance factor 1/κ and 1/(pulls + 1): a strategy's
    width also shrinks as it is compiled, whether or not those compiles taught anything. A
    compile teaches an effect only against the module's level, and until two strategies meet
    on one module (or the level regression is worth something) no compile does: every width
    stays at its prior, the bounds tie, and a bound on information alone plays one strategy on
    every module for good (a project without features: 400 compiles of one strategy, nothing
    learned). The baseline, whose effect is 0 by definition but against which every effect is
    measured, gets the same optimism by its own pulls, so that it is compiled now and then."""
    name = "ucb"

    def __init__(self, c: float = 1.0):
        self.c = c

    def select(self, s: Situation) -> int:
        arms, ctx_pulls, temperature = s.arms, s.ctx_pulls, s.temperature
        bonus = self.c * math.sqrt(2 * math.log(ctx_pulls + 2) * temperature)
        sigma2 = max((a.post.sigma2 for a in arms if a.post is not None), default=0.0)
        scores = []
        for a in arms:
            if a.post is None:
                scores.append(-bonus * math.sqrt(sigma2 / (a.pulls + 1)))
                continue
            v = min(1.0 / a.post.kappa, 1.0 / (a.pulls + 1))
            scores.append(a.post.mu - bonus * math.sqrt(a.post.sigma2 * v))
        return min(range(len(arms)), key=lambda i: (scores[i], i))


class EpsilonGreedy:
    name = "egreedy"

    def __init__(self, eps0: float = 0.5):
        self.eps0 = eps0

    def select(self, s: Situation) -> int:
        arms, rng, ctx_pulls, temperature = s.arms, s.rng, s.ctx_pulls, s.temperature
        eps = min(self.eps0, 2.0 * len(arms) / (len(arms) + ctx_pulls)) * min(1.0, temperature)
        best = greedy(arms)
        lead = arms[best]
        if lead.post is not None and lead.post.prob_below(0.0) > 0.95:
            eps /= 2
        if rng.random() < eps:
            return rng.randrange(len(arms))
        return best


class LinearThompson:
    """Linear Thompson sampling: per context and strategy, a Bayesian ridge regression of the
    module's contrast on its feature vector x (`simpulse.learner.feature_vector`), so that a
    strategy can help large modules of a context and hurt small ones. `linear` maps a strategy
    to (prior intercept, [A, b]) with A = Σ w x xᵀ and b = Σ w r x over the context's modules;
    the prior is N([prior intercept, 0, ...], σ² / λ) with λ = 1 per coordinate."""
    name = "lints"

    def __init__(self, ridge: float = 1.0):
        self.ridge = ridge

    def select(self, s: Situation) -> int:
        arms, rng, temperature = s.arms, s.rng, s.temperature
        features = s.features
        # the prior of each strategy's regression: intercept at the arm's posterior mean
        posts = {a.name: a.post for a in arms if a.post is not None}
        linear = {name: (posts[name].mu, st) for name, st in s.linear_stats.items() if name in posts}
        if not features or not linear:
            return Thompson().select(s)
        draws = []
        for a in arms:
            if a.post is None:
                draws.append(0.0)
                continue
            entry = linear.get(a.name)
            if entry is None:
                draws.append(a.post.sample(rng, 2.0 * temperature))
                continue
            prior_mu, (A, b) = entry
            d = min(len(features), len(b))     # sums of an earlier format are shorter: the rest is 0
            A2 = [[A[i][j] + (self.ridge if i == j else 0.0) for j in range(d)] for i in range(d)]
            b2 = [b[i] + (self.ridge * prior_mu if i == 0 else 0.0) for i in range(d)]
            chol = J.cholesky(A2)
            mean = J.backward(chol, J.forward(chol, b2))
            z = [rng.gauss(0.0, 1.0) for _ in mean]
            noise = J.backward(chol, z)                  # ~ N(0, A2⁻¹)
            sd = math.sqrt(temperature * a.post.sigma2)
            draws.append(sum((m + sd * e) * x for m, e, x in zip(mean, noise, features)))
        return min(range(len(arms)), key=lambda i: draws[i])


POLICIES = {
    "thompson": Thompson,
    "beta": BetaBernoulli,
    "ucb": LowerConfidenceBound,
    "egreedy": EpsilonGreedy,
    "lints": LinearThompson,
}
