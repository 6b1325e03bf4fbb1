#!/usr/bin/env python3
"""Learning benchmark on a SIMULATED build workload (simpulse/simulated/workload.py).

Compares, on identical compile streams and identical pre-drawn timing noise:
always-baseline, uniform random, simpulse's policies (thompson = our default, beta, ucb,
egreedy, lints) through `Learner(None, policy=..., seed=...)`, MABWiser's ThompsonSampling,
UCB1 and EpsilonGreedy (one MAB per context, rewards against the module's last measured
baseline — see docs/learning-benchmark.md), and four references: `true-model` (Thompson
sampling on the workload's own model of levels, told how they follow `lines` but not the levels
themselves), `known-levels` (told every module's baseline time), the context oracle and the
oracle.

    python scripts/bench_learning.py              # 20 seeds × 2000 compiles (≈ minutes); prints only
    python scripts/bench_learning.py --write-docs # ... and writes docs/bench_learning.json + benchmarks.md
    python scripts/bench_learning.py --quick      # 5 seeds × 500 compiles
    python scripts/bench_learning.py --workload safe-breaks   # effects drawn per seed; "safe" strategies break too
    python scripts/bench_learning.py --workload mixed-contexts  # hidden kinds per context (also random-effects, skewed-edits, alike-kinds)
    python scripts/bench_learning.py --seeds 30 --compiles 200,500,2000 --json OUT
    python scripts/bench_learning.py --reference-sweep   # true-model under 21 decision rules
    python scripts/bench_learning.py --lag 8 --no-write  # results 8 decisions late (9 parallel jobs)
    python scripts/bench_learning.py --toolchain-change same   # after 2000 compiles on an earlier toolchain
    python scripts/bench_learning.py --import-from shifted     # starting from another project's export

Metrics (means ± 95 % t-intervals over seeds) at each checkpoint N of compiles: cumulative regret
in seconds of *expected* (noise-free) cost against the oracle, the share of the oracle's
achievable savings captured, the share of compiles slower than baseline (expected cost), the
number of strategy failures (each rescued by a baseline fallback), broken builds, and the decision
cost (µs per choose + observe). Every number is from a simulated workload, not a real Lean build.
"""

from __future__ import annotations

import argparse
import bisect
import json
import math
import multiprocessing as mp
import os
import random
import sys
import time
from collections import Counter, defaultdict, deque
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from simpulse.simulated import workload as W  # noqa: E402

OURS = ("thompson", "beta", "ucb", "egreedy", "lints")
MABS = ("mab-ts", "mab-ucb1", "mab-ucb1-a01", "mab-egreedy")
ALL_POLICIES = ("baseline", "random", *OURS, *MABS, "true-model", "known-levels", "ctx-oracle", "oracle")
DEFAULT_POLICY = "thompson"
LABELS = {
    "baseline": "always baseline", "random": "uniform random",
    "thompson": "simpulse thompson (default)", "beta": "simpulse beta", "ucb": "simpulse ucb",
    "egreedy": "simpulse egreedy", "lints": "simpulse lints",
    "mab-ts": "MABWiser ThompsonSampling", "mab-ucb1": "MABWiser UCB1", "mab-ucb1-a01": "MABWiser UCB1 α=0.1",
    "mab-egreedy": "MABWiser EpsilonGreedy", "known-levels": "TS told every module's level (reference)",
    "true-model": "TS on the workload's own model (reference)",
    "ctx-oracle": "context oracle (ceiling)", "oracle": "oracle",
}
START, END = "<!-- bench_learning:start -->", "<!-- bench_learning:end -->"
# the `--workload safe-breaks` table has its own markers, in the same section of benchmarks.md
MARKERS = {"default": (START, END),
           **{v: (f"<!-- bench_learning_{v.replace('-', '_')}:start -->", f"<!-- bench_learning_{v.replace('-', '_')}:end -->")
              for v in W.VARIANTS if v != "default"}}
# what each variant is, in the table's heading
VARIANT_TEXT = {
    "safe-breaks": "effects drawn per seed, strategies declared safe break modules too",
    "mixed-contexts": "each context holds two or three hidden kinds of module, each with the default effects "
                      "of another context; the kinds show only in tactic counts",
    "random-effects": "hidden kinds as in mixed-contexts, effects and breakage drawn per seed and kind",
    "skewed-edits": "random-effects with a few modules edited far more often than the rest",
    "alike-kinds": "the hidden kinds of mixed-contexts, each with its own context's default effects: kinds that "
                   "look different and respond alike",
    "import-heavy": "the default's, but each module also loads its import closure, which the features do not "
                    "describe and no strategy speeds up",
}


# ---------------------------------------------------------------------------------------------
# Agents: choose(request) -> strategy name; observe(request, strategy, outcome)
# ---------------------------------------------------------------------------------------------

class BaselineAgent:
    def __init__(self, wl: W.Workload, seed: int):
        pass

    def choose(self, req):
        return W.BASELINE

    def exploit(self, module):
        return W.BASELINE

    def observe(self, req, strategy, out):
        pass


class RandomAgent:
    def __init__(self, wl: W.Workload, seed: int):
        self.rng = random.Random(f"random-agent|{seed}")
        self.strategies = wl.strategies

    def choose(self, req):
        return self.rng.choice(self.strategies)

    def exploit(self, module):
        return None          # no notion of a best strategy

    def observe(self, req, strategy, out):
        pass


class OracleAgent:
    def __init__(self, wl: W.Workload, seed: int):
        self.wl = wl

    def choose(self, req):
        return self.wl.oracle(req.module)

    def exploit(self, module):
        return self.wl.oracle(module.id)

    def observe(self, req, strategy, out):
        pass


class ContextOracleAgent:
    """The best any learner of per-context effects can do: it knows from the first compile each
    context's true effects and break rates (`W.context_expected_multiplier`), not each module's
    jitter nor which modules break; a module a strategy broke is not given it again."""

    def __init__(self, wl: W.Workload, seed: int):
        self.wl = wl
        self.failed: set[tuple[int, str]] = set()
        self.rank = {c: sorted(wl.strategies, key=lambda s: (wl.group_multiplier(c, s), s != W.BASELINE))
                     for c in wl.groups()}

    def choose(self, req):
        return self.exploit(self.wl.modules[req.module])

    def exploit(self, module):
        return next(s for s in self.rank[self.wl.group(module.id)] if (module.id, s) not in self.failed)

    def observe(self, req, strategy, out):
        if not out.ok:
            self.failed.add((req.module, strategy))


class KnownLevelsAgent:
    """A reference, not a competitor: textbook Thompson sampling per context that is *told* each
    module's exact baseline time, so that every compile measures its strategy's effect up to the
    timing noise alone — what learning costs when a module's level is free, which simpulse must
    estimate from features in a first build. Independent Normal posteriors on each strategy's
    log-effect (prior N(0, 0.2²), noise σ = NOISE_SIGMA known, slowdowns clipped at +0.3), a
    Beta(0.5, 10) breakage rate per breaking group (from the workload's own grouping), and a
    failed (module, group) never retried. Its decision rule is simpulse's: posterior draws on a
    variance scaled by `scale` (simpulse's Thompson draw scale, 0.5) times a temperature of
    1/relative cost clipped to `temperature` (simpulse's TEMPERATURE_RANGE, [0.25, 4]), so
    that the references differ from simpulse in what they know, not in how they decide.
    `rule="ucb"` (`--reference-sweep` only) decides instead on the lower confidence bound of
    each effect, mean − c·√(temperature·variance)·√(2 ln(n + 2)) (n: the context's compiles),
    breakage at its posterior mean: is Thompson sampling the rule that holds a learner back?"""

    PRIOR_VAR, CLIP, BREAK = 0.04, 0.3, (0.5, 10.0)
    FRAC = sum(W.FAIL_FRACTION) / 2        # mean share of its time a failed compile costs

    def __init__(self, wl: W.Workload, seed: int, scale: float | None = None,
                 temperature: tuple[float, float] | None = None, rule: str = "thompson", c: float = 1.0):
        from simpulse.learner import TEMPERATURE_RANGE
        from simpulse.policy.policies import Thompson
        if rule not in ("thompson", "ucb"):
            raise SystemExit(f"unknown decision rule {rule!r} (thompson, ucb)")
        self.rule, self.c = rule, c
        self.scale = Thompson().scale if scale is None else scale
        self.temperature = TEMPERATURE_RANGE if temperature is None else temperature
        self.wl = wl
        self.rng = random.Random(f"known-levels|{seed}")
        self.post: dict[tuple[str, str], list[float]] = {}     # (context, strategy) -> [precision, precision × mean]
        self.breaks: Counter = Counter()                        # (context, group) -> failures
        self.tries: Counter = Counter()                         # (context, group) -> attempts
        self.failed: set[tuple[int, str]] = set()               # (module, group)
        self.seen: dict[str, list[float]] = defaultdict(list)   # context -> log base times compiled

    def _group(self, s):
        return self.wl.break_group(s)

    def _cost(self, ctx, s, draw: bool, temperature: float) -> float:
        if s == W.BASELINE:
            return 1.0
        prec, pm = self.post.get((ctx, s), (1.0 / self.PRIOR_VAR, 0.0))
        if draw and self.rule == "ucb":
            return self._with_breakage(ctx, s, pm / prec - self._bonus(ctx, temperature / prec), False)
        d = self.rng.gauss(pm / prec, math.sqrt(self.scale * temperature / prec)) if draw else pm / prec
        return self._with_breakage(ctx, s, d, draw)

    def _bonus(self, ctx, var: float) -> float:
        """The ucb rule's optimism on an effect of (temperature-scaled) posterior variance `var`."""
        return self.c * math.sqrt(var * 2.0 * math.log(len(self.seen[ctx]) + 2.0))

    def _with_breakage(self, ctx, s, d: float, draw: bool) -> float:
        """Expected cost ratio of strategy s of log-effect d, with its group's breakage rate
        (drawn from its Beta posterior, or its mean)."""
        g = self._group(s)
        f, n = self.breaks[ctx, g], self.tries[ctx, g]
        a, b = self.BREAK
        p = self.rng.betavariate(a + f, b + n - f) if draw else (a + f) / (a + b + n)
        return (1 - p) * math.exp(d) + p * (self.FRAC * math.exp(d) + 1.0)

    def _temperature(self, ctx, level: float) -> float:
        """1 / the module's cost relative to the median level compiled in its context, clipped."""
        logs = self.seen[ctx]                  # kept sorted
        typical = logs[len(logs) // 2] if logs else level
        lo, hi = self.temperature
        return min(hi, max(lo, math.exp(typical - level)))

    def _pick(self, module, draw: bool):
        ctx = self.wl.group(module.id)       # the hidden kind, in the kind variants
        temperature = self._temperature(ctx, math.log(module.base_seconds))
        options = [s for s in self.wl.strategies if (module.id, self._group(s)) not in self.failed]
        return min(options, key=lambda s: self._cost(ctx, s, draw, temperature))

    def choose(self, req):
        return self._pick(self.wl.modules[req.module], True)

    def exploit(self, module):
        return self._pick(module, False)

    def _count_attempt(self, ctx, module_id: int, strategy: str, ok: bool) -> None:
        """Breakage bookkeeping of one compile: its group's attempts and failures, and a failed
        (module, group) never given again."""
        if strategy == W.BASELINE:
            return
        g = self._group(strategy)
        self.tries[ctx, g] += 1
        if not ok:
            self.breaks[ctx, g] += 1
            self.failed.add((module_id, g))

    def observe(self, req, strategy, out):
        m = self.wl.modules[req.module]
        ctx = self.wl.group(m.id)
        bisect.insort(self.seen[ctx], math.log(m.base_seconds))
        self._count_attempt(ctx, m.id, strategy, out.ok)
        if strategy == W.BASELINE or not out.ok:
            return
        r = min(math.log(out.seconds / m.base_seconds), self.CLIP)
        cell = self.post.setdefault((ctx, strategy), [1.0 / self.PRIOR_VAR, 0.0])
        cell[0] += 1.0 / W.NOISE_SIGMA ** 2
        cell[1] += r / W.NOISE_SIGMA ** 2


class TrueModelAgent(KnownLevelsAgent):
    """A reference, not a competitor: Thompson sampling on the workload's own generative model,
    with the information a real learner has. It is not told a module's level; it is told how
    `lines` follows the level (`W.LINES_*`: log lines = log 90 + 0.8·level + N(0, 0.25²)), so
    its prediction of a module's level from its features is exact up to τ = 0.25 / 0.8 and a
    context's unknown intercept θ (prior N(0, 1): a project's speed is its own), and it knows the
    timing noise σ. Effects are then the exact Gaussian posterior of the two-way model with the
    levels integrated out: per context, over (δ, θ), precision Λ0 + Σ_m Xᵀ(σ²I + τ²·11ᵀ)⁻¹X, a
    module's contribution replaced whenever it is compiled again. What simpulse estimates (the
    level regression's slopes, τ, σ) is here known: it shows what learning costs when a first
    build's modules can only be predicted from their features. Breakage, temperature and never
    retrying a failure are `KnownLevelsAgent`'s; a slowdown counts at most 2.5 σ of its
    prediction error."""

    OUTLIER, THETA_VAR = 2.5, 1.0

    def __init__(self, wl: W.Workload, seed: int, scale: float | None = None,
                 temperature: tuple[float, float] | None = None, rule: str = "thompson", c: float = 1.0):
        super().__init__(wl, seed, scale, temperature, rule, c)
        import numpy as np
        self.np = np
        self.rng = random.Random(f"true-model|{seed}")
        self.names = [s for s in wl.strategies if s != W.BASELINE]
        k = len(self.names)
        prior = np.diag([1.0 / self.PRIOR_VAR] * k + [1.0 / self.THETA_VAR])
        self.prec = {c: prior.copy() for c in wl.groups()}
        self.rhs = {c: np.zeros(k + 1) for c in wl.groups()}
        self.mods: dict[int, dict] = {}      # module -> counts, sums of y − lines' prediction, contribution
        self.sigma2 = W.NOISE_SIGMA ** 2
        self.tau2 = (W.LINES_SIGMA / W.LINES_EXPONENT) ** 2

    def _from_lines(self, module) -> float:
        return (math.log(module.features["lines"]) - math.log(W.LINES_SCALE)) / W.LINES_EXPONENT

    def _posterior(self, ctx):
        cov = self.np.linalg.inv(self.prec[ctx])
        return cov @ self.rhs[ctx], cov

    def _level_mean(self, module, mean) -> float:
        """Posterior mean of the module's log level, given its compiles and the effects `mean`."""
        base = self._from_lines(module) + float(mean[-1])
        rec = self.mods.get(module.id)
        if not rec:
            return base
        resid = float(rec["s"][-1]) - float(rec["n"] @ mean)      # Σ (y − lines' prediction − θ − δ)
        return base + resid / (self.sigma2 / self.tau2 + float(rec["n"][-1]))

    def _pick(self, module, draw: bool):
        ctx = self.wl.group(module.id)
        mean, cov = self._posterior(ctx)
        level = self._level_mean(module, mean)
        temperature = self._temperature(ctx, level)
        ucb = draw and self.rule == "ucb"
        if ucb:
            delta = [float(m) - self._bonus(ctx, temperature * float(v)) for m, v in zip(mean, self.np.diag(cov))]
        elif draw:
            z = self.np.array([self.rng.gauss(0.0, 1.0) for _ in range(len(mean))])
            delta = mean + math.sqrt(self.scale * temperature) * self.np.linalg.cholesky(cov) @ z
        else:
            delta = mean
        options = [s for s in self.wl.strategies if (module.id, self._group(s)) not in self.failed]
        return min(options, key=lambda s: 1.0 if s == W.BASELINE else
                   self._with_breakage(ctx, s, float(delta[self.names.index(s)]), draw and not ucb))

    def observe(self, req, strategy, out):
        np = self.np
        m = self.wl.modules[req.module]
        ctx = self.wl.group(m.id)
        mean, cov = self._posterior(ctx)
        level = self._level_mean(m, mean)
        bisect.insort(self.seen[ctx], level)
        self._count_attempt(ctx, m.id, strategy, out.ok)
        seconds = out.seconds if out.ok else out.fallback_seconds
        if seconds is None:
            return
        used = strategy if out.ok else W.BASELINE
        rec = self.mods.get(m.id)
        k = len(self.names)
        if rec is None:
            # n, s: per parameter (δ's, then θ: every compile) count and sum of y − lines' prediction
            rec = self.mods[m.id] = {"n": np.zeros(k + 1), "s": np.zeros(k + 1),
                                     "A": np.zeros((k + 1, k + 1)), "b": np.zeros(k + 1)}
        n_tot = float(rec["n"][-1])
        var_level = 1.0 / (1.0 / self.tau2 + n_tot / self.sigma2) + float(cov[-1, -1])
        d = 0.0 if used == W.BASELINE else float(mean[self.names.index(used)])
        cap = level + d + self.OUTLIER * math.sqrt(self.sigma2 + var_level)
        y = min(math.log(seconds), cap) - self._from_lines(m)
        x = np.zeros(k + 1)
        x[-1] = 1.0
        if used != W.BASELINE:
            x[self.names.index(used)] = 1.0
        rec["n"] += x
        rec["s"] += x * y
        # the module's contribution Xᵀ Σ⁻¹ X and Xᵀ Σ⁻¹ y, Σ = σ²I + τ²·11ᵀ: with per-parameter
        # counts nv = Xᵀ1 and sums sv = Xᵀy (XᵀX = diag(nv) but for the θ row and column, = nv)
        nv, sv = rec["n"], rec["s"]
        N, T = float(nv[-1]), float(sv[-1])
        XtX = np.diag(nv)
        XtX[-1, :k] = XtX[:k, -1] = nv[:k]
        c = self.tau2 / (self.sigma2 + N * self.tau2)
        A = (XtX - c * np.outer(nv, nv)) / self.sigma2
        b = (sv - c * nv * T) / self.sigma2
        self.prec[ctx] += A - rec["A"]
        self.rhs[ctx] += b - rec["b"]
        rec["A"], rec["b"] = A, b


class LearnerAgent:
    """simpulse's Learner, in memory, exactly as the shim drives it."""

    def __init__(self, wl: W.Workload, seed: int, policy: str, reveal_levels: bool = False):
        from simpulse.learner import Learner
        from simpulse.strategy.catalogue import Catalogue
        # the workload's strategies only (the catalogue's thread-budget strategies have no effect here)
        self.learner = Learner(None, policy=policy, seed=seed, catalogue=Catalogue(enabled=list(wl.strategies)))
        self.decisions: dict[int, object] = {}     # compile index -> its decision, until observed
        self.explored = 0
        self.last_explore = False      # the last decision explored (the regret breakdown, `--per-seed`)
        self.wl = wl
        self.reveal_levels = reveal_levels

    def choose(self, req):
        features = req.features
        if self.reveal_levels:
            # experiment (--reveal-levels): log(1 + lines) is then the module's exact log level
            features = {"lines": int(round(10000 * self.wl.modules[req.module].base_seconds))}
        # the variant's learner is given each version's source hash, as the shim computes it
        # (the default workload's is not: its figures are kept comparable with earlier runs)
        h = f"{req.name}@{req.version}" if self.wl.variant != "default" else None
        d = self.learner.choose(module=req.name, context=req.context, features=features, source_hash=h)
        self.decisions[req.index] = d
        self.explored += bool(d.explore)
        self.last_explore = bool(d.explore)
        return d.strategy.name

    def exploit(self, module):
        return self.learner.exploit(module.context, module=module.name)

    def observe(self, req, strategy, out):
        self.learner.observe(self.decisions.pop(req.index), seconds=out.seconds, ok=out.ok,
                             fallback_seconds=out.fallback_seconds, fallback_ok=out.fallback_ok)


class MabAgent:
    """MABWiser wired the way a user would: one MAB per context, arms = strategy names.

    Reward against the module's last measured baseline time `b`: `b / t` clipped to [0, 2]
    (UCB1, ε-greedy) or `t < b` (Thompson sampling, binary). No baseline measured yet for the
    module → no reward, no update. A failed strategy gets reward 0. A baseline compile — chosen,
    or the fallback after a failure — becomes the module's baseline.
    MABWiser needs `fit` before `predict`: a context's MAB is `fit` on its first reward and
    `partial_fit` afterwards; until then the arm is picked uniformly at random. UCB1 additionally
    gets the textbook initialisation (each arm once, in random order, before trusting its
    scores): MABWiser's UCB1 leaves an arm without rewards at expectation 0, below every arm that
    has one, so without it UCB1 would never try an arm after its first fit.
    """

    def __init__(self, wl: W.Workload, seed: int, kind: str):
        from mabwiser.mab import LearningPolicy
        self.kind = kind
        self.strategies = list(wl.strategies)
        self.rng = random.Random(f"mab-agent|{kind}|{seed}")
        self.seed = seed
        self.policy = {"mab-ts": LearningPolicy.ThompsonSampling(),
                       "mab-ucb1": LearningPolicy.UCB1(alpha=1.0),
                       "mab-ucb1-a01": LearningPolicy.UCB1(alpha=0.1),
                       "mab-egreedy": LearningPolicy.EpsilonGreedy(epsilon=0.1)}[kind]
        self.mabs: dict = {}
        self.fitted: dict[str, bool] = {}
        self.rewarded: dict[str, set] = defaultdict(set)
        self.last_baseline: dict[int, float] = {}
        self.wl = wl

    def _mab(self, ctx):
        m = self.mabs.get(ctx)
        if m is None:
            from mabwiser.mab import MAB
            m = self.mabs[ctx] = MAB(list(self.strategies), self.policy,
                                     seed=(self.seed * 7919 + self.wl.groups().index(ctx)) % (2 ** 31))
            self.fitted[ctx] = False
        return m

    def choose(self, req):
        ctx = self.wl.group(req.module)      # the hidden kind, in the kind variants
        m = self._mab(ctx)
        if not self.fitted[ctx]:
            return self.rng.choice(self.strategies)
        if self.kind.startswith("mab-ucb1"):
            untried = [s for s in self.strategies if s not in self.rewarded[ctx]]
            if untried:
                return self.rng.choice(untried)
        return m.predict()

    def exploit(self, module):
        """The arm of highest expected reward in the module's context (baseline before fit)."""
        ctx = self.wl.group(module.id)
        if not self.fitted.get(ctx):
            return W.BASELINE
        # the learned means, read from the MAB's state: `predict_expectations()` would draw
        # from its random stream (Thompson sampling) and change the rest of the run
        imp = self._mab(ctx)._imp
        if hasattr(imp, "arm_to_success_count"):
            exp = {a: s / max(1e-9, s + imp.arm_to_fail_count[a]) for a, s in imp.arm_to_success_count.items()}
        else:
            exp = {a: (imp.arm_to_sum[a] / c if c else 0.0) for a, c in imp.arm_to_count.items()}
        return max(self.strategies, key=lambda s: (exp.get(s, 0.0), s == W.BASELINE))

    def observe(self, req, strategy, out):
        ctx = self.wl.group(req.module)
        b = self.last_baseline.get(req.module)
        if not out.ok:
            reward = 0.0
        elif b is None:
            reward = None
        elif self.kind == "mab-ts":
            reward = 1 if out.seconds < b else 0
        else:
            reward = min(2.0, max(0.0, b / out.seconds))
        if strategy == W.BASELINE and out.ok:
            self.last_baseline[req.module] = out.seconds
        elif not out.ok and out.fallback_ok:
            self.last_baseline[req.module] = out.fallback_seconds
        if reward is None:
            return
        m = self._mab(ctx)
        if self.fitted[ctx]:
            m.partial_fit([strategy], [reward])
        else:
            m.fit([strategy], [reward])
            self.fitted[ctx] = True
        self.rewarded[ctx].add(strategy)


def make_agent(policy: str, wl: W.Workload, seed: int, reveal_levels: bool = False, options: dict | None = None):
    """The agent of `policy`; `options` (the references only: `scale`, `temperature`) change
    a reference's decision rule (`--reference-sweep`)."""
    if policy == "baseline":
        return BaselineAgent(wl, seed)
    if policy == "random":
        return RandomAgent(wl, seed)
    if policy == "oracle":
        return OracleAgent(wl, seed)
    if policy == "ctx-oracle":
        return ContextOracleAgent(wl, seed)
    if policy == "known-levels":
        return KnownLevelsAgent(wl, seed, **(options or {}))
    if policy == "true-model":
        return TrueModelAgent(wl, seed, **(options or {}))
    if options:
        raise SystemExit(f"{policy!r} takes no options")
    if policy in OURS:
        return LearnerAgent(wl, seed, policy, reveal_levels)
    if policy in MABS:
        return MabAgent(wl, seed, policy)
    raise SystemExit(f"unknown policy {policy!r} (known: {', '.join(ALL_POLICIES)})")


# ---------------------------------------------------------------------------------------------
# One (seed, policy) run
# ---------------------------------------------------------------------------------------------

TOOLCHAIN_CHANGES = ("same", "shifted", "machine")
EARLIER_STREAM = 100_000      # the earlier toolchain's history: edits and noise of seed + this
# Under the earlier toolchain, each module's base time was its current one × exp(N(μ, σ²)): the
# toolchain was 10% faster on the whole, and each module moved by ~20% its own way (an
# assumption: Lean releases change compile times, rarely which modules are slow).
LEVEL_CHANGE = (-0.1, 0.2)
DONOR = 200_000               # `--import-from`: the exporting project is the workload of seed + this


def shifted_speed() -> dict[str, dict[str, float]]:
    """The workload's true effects moved one context along (simp_heavy gets arith's, …, general
    gets simp_heavy's): a toolchain under which every context's best strategy has changed.
    Break rates stay: they belong to what a strategy turns off."""
    cs = list(W.CONTEXTS)
    return {c: dict(W.TRUE_SPEED[cs[(i + 1) % len(cs)]]) for i, c in enumerate(cs)}


# `machine`: the history ran on a machine with many cores, where elaborating on one thread costs
# 10-12% in every context (`no-async`, `single-thread`, and `lean-fast`, which includes
# `no-async`); the strategies that change options only behave as here.
SERIAL_ON_MANY_CORES = {"no-async": 1.10, "single-thread": 1.12}


def machine_speed() -> dict[str, dict[str, float]]:
    """The workload's true effects on a machine where serial elaboration costs
    (`SERIAL_ON_MANY_CORES`): half the strategies' effects change, and with them the best
    strategy of `arith`, `structural` and `general`; those of `simp_heavy` and `definitions`
    stay. An import from a teammate's workstation onto a laptop, say."""
    out = {}
    for c, by in W.TRUE_SPEED.items():
        by = dict(by, **SERIAL_ON_MANY_CORES)
        by["lean-fast"] = by["no-linters"] * SERIAL_ON_MANY_CORES["no-async"]
        out[c] = by
    return out


def _speed(effects: str, flag: str) -> dict[str, dict[str, float]] | None:
    """The true effects of a `same`, `shifted` or `machine` history (None: the workload's own)."""
    if effects not in TOOLCHAIN_CHANGES:
        raise SystemExit(f"{flag} takes {', '.join(TOOLCHAIN_CHANGES)}, not {effects!r}")
    return {"shifted": shifted_speed, "machine": machine_speed}.get(effects, lambda: None)()


def earlier_history(agent, seed: int, n_modules: int, change: str, compiles: int, lag: int = 0,
                    level_change: tuple[float, float] = LEVEL_CHANGE) -> None:
    """`--toolchain-change`: the learner first builds the same project `compiles` times' worth
    under an earlier toolchain (its own edits and noise; effects the workload's own, or
    `shifted_speed` for `shifted`; each module's base time its current one × exp(N(μ, σ²)),
    `level_change`), then the measured stream runs under the current one. What carries over is
    what simpulse carries over: each context's effects and break rates, discounted, and each
    module's level (docs/learning.md, "Toolchains")."""
    if not isinstance(agent, LearnerAgent):
        raise SystemExit("--toolchain-change applies to simpulse's policies only")
    old = W.Workload(seed, n_modules, speed=_speed(change, "--toolchain-change"),
                     stream_seed=seed + EARLIER_STREAM, level_change=tuple(level_change))
    current = agent.learner.toolchain
    agent.learner.toolchain = "earlier-toolchain"
    _play(agent, old, compiles, lag)
    agent.learner.toolchain = current
    agent.explored = 0


def imported_history(agent, seed: int, n_modules: int, effects: str, weight: float, compiles: int,
                     lag: int = 0) -> None:
    """`--import-from`: before the measured stream, the learner imports — through the export
    file format, `simpulse import`'s validation and plan, at `weight` — what simpulse learned
    in `compiles` compiles of *another* project (the workload of seed + DONOR: other modules,
    on the same toolchain) whose effects are the workload's own (`same`) or `shifted_speed`
    (`shifted`: a project or machine where other strategies win)."""
    from simpulse import exchange
    if not isinstance(agent, LearnerAgent):
        raise SystemExit("--import-from applies to simpulse's policies only")
    dwl = W.Workload(seed + DONOR, n_modules, speed=_speed(effects, "--import-from"))
    donor = LearnerAgent(dwl, seed + DONOR, agent.learner.policy_name)
    _play(donor, dwl, compiles, lag)
    doc = exchange.parse(exchange.dumps(exchange.build_export(donor.learner.stats, donor.learner.catalogue)).encode())
    exchange.validate(doc)
    plan = exchange.plan_import(doc, agent.learner.catalogue)
    agent.learner.record_event(exchange.import_event(plan.payload, weight=weight, source="donor.json"))


def _play(agent, wl: W.Workload, compiles: int, lag: int) -> None:
    """The agent through the first `compiles` compiles of `wl`'s stream, every result observed."""
    agent.wl = wl
    noise = wl.noise(compiles)
    in_flight: deque = deque()
    for req in wl.stream(compiles):
        s = agent.choose(req)
        in_flight.append((req, s, wl.outcome(req.module, s, noise[req.index])))
        while len(in_flight) > lag:
            agent.observe(*in_flight.popleft())
    while in_flight:
        agent.observe(*in_flight.popleft())


def run_one(seed: int, policy: str, checkpoints: list[int], n_modules: int = 300,
            reveal_levels: bool = False, options: dict | None = None, lag: int = 0,
            toolchain_change: str | None = None, earlier_compiles: int = 2000,
            level_change: tuple[float, float] = LEVEL_CHANGE,
            imported: tuple[str, float] | None = None, variant: str = "default") -> dict:
    """One policy on one seed's stream (`variant`: the workload's, `W.VARIANTS`). `lag`: each compile's result reaches the policy only
    after `lag` further decisions (as in a build of lag + 1 parallel jobs, where a decision is
    taken while the compiles started before it still run); 0 = sequential. `toolchain_change`:
    the learner has first run `earlier_compiles` compiles under an earlier toolchain
    (`earlier_history`); `imported` = (effects, weight): it has first imported another project's
    export (`imported_history`)."""
    n = max(checkpoints)
    wl = W.Workload(seed, n_modules, variant=variant)
    noise = wl.noise(n)
    agent = make_agent(policy, wl, seed, reveal_levels, options)
    if toolchain_change:
        earlier_history(agent, seed, n_modules, toolchain_change, earlier_compiles, lag, level_change)
        agent.wl = wl
    if imported:
        imported_history(agent, seed, n_modules, imported[0], imported[1], earlier_compiles, lag)
    marks = set(checkpoints)
    regret = saved = achievable = 0.0
    slower = failures = repeat_failures = 0
    broken_builds: set[int] = set()
    decision_s = 0.0
    failed_pairs: set[tuple[int, str]] = set()
    failed_sources: set[tuple[int, int, str]] = set()    # (module, version of its source, strategy)
    same_source = 0       # runs of a strategy on a (module, version) it had already failed on
    ctx_regret: Counter = Counter()
    ctx_achievable: Counter = Counter()
    ctx_saved: Counter = Counter()
    build1_regret = 0.0
    explore_regret = 0.0               # compiles the policy flagged as exploring (simpulse's learners)
    rebuild_exploit_regret = 0.0       # builds ≥ 2, not exploring: what the model itself got wrong
    rb_saved = rb_achievable = 0.0     # builds ≥ 2 only (the edit/rebuild phase)
    chosen_hist: list[tuple[str, str, bool]] = []   # (context, strategy, == oracle) per compile
    out_cp: dict[int, dict] = {}
    per_decision: list[float] = []     # seconds of each choose + observe
    slower_flags: list[bool] = []      # each compile: expected cost above the baseline's
    in_flight: deque = deque()
    for req in wl.stream(n):
        t0 = time.perf_counter()
        s = agent.choose(req)
        t1 = time.perf_counter()
        out = wl.outcome(req.module, s, noise[req.index])
        in_flight.append((req, s, out))
        t2 = time.perf_counter()
        while len(in_flight) > lag:
            agent.observe(*in_flight.popleft())
        t3 = time.perf_counter()
        decision_s += (t1 - t0) + (t3 - t2)
        per_decision.append((t1 - t0) + (t3 - t2))
        costs = wl.expected_costs(req.module)
        c = costs[wl.strategy_index(s)]
        c_base = costs[0]
        c_orc = min(costs)
        regret += c - c_orc
        saved += c_base - c
        achievable += c_base - c_orc
        ctx_regret[req.context] += c - c_orc
        ctx_achievable[req.context] += c_base - c_orc
        ctx_saved[req.context] += c_base - c
        exploring = getattr(agent, "last_explore", False)
        if exploring:
            explore_regret += c - c_orc
        elif req.build > 1:
            rebuild_exploit_regret += c - c_orc
        if req.build == 1:
            build1_regret += c - c_orc
        else:
            rb_saved += c_base - c
            rb_achievable += c_base - c_orc
        slower_flags.append(c > c_base * (1 + 1e-12))
        if slower_flags[-1]:
            slower += 1
        if (req.module, req.version, s) in failed_sources:
            same_source += 1
        if not out.ok:
            failures += 1
            if (req.module, s) in failed_pairs:
                repeat_failures += 1
            failed_pairs.add((req.module, s))
            failed_sources.add((req.module, req.version, s))
            if not out.fallback_ok:
                broken_builds.add(req.build)
        oracle_s = wl.strategies[min(range(len(costs)), key=lambda k: (costs[k], k))]
        chosen_hist.append((req.context, s, s == oracle_s))
        k = req.index + 1
        if k in marks:
            last = chosen_hist[-min(k, 300):]
            out_cp[k] = {
                "regret": regret,
                "captured": saved / achievable if achievable > 0 else float("nan"),
                "captured_rebuilds": rb_saved / rb_achievable if rb_achievable > 0 else None,
                "slower": slower / k,
                "failures": failures,
                "repeat_failures": repeat_failures,
                "repeat_same_source": same_source,
                "broken_builds": len(broken_builds),
                "decision_us": decision_s / k * 1e6,
                "decision_us_p50": sorted(per_decision)[len(per_decision) // 2] * 1e6,
                "slower_last500": sum(slower_flags[-500:]) / min(k, 500),
                "builds": req.build,
                "oracle_match_last300": sum(x[2] for x in last) / len(last),
                "explore_share": (agent.explored / k) if isinstance(agent, LearnerAgent) else None,
                "build1_regret": build1_regret,
                "explore_regret": explore_regret,
                "rebuild_exploit_regret": rebuild_exploit_regret,
                "ctx_regret": dict(ctx_regret),
                "ctx_captured": {c: ctx_saved[c] / ctx_achievable[c] for c in ctx_achievable
                                 if ctx_achievable[c] > 0},
                "achievable": achievable,
                "policy_quality": _policy_quality(wl, agent),
            }
    # what it settled on, per context, over the last 300 compiles
    tail = chosen_hist[-300:]
    settled: dict[str, dict[str, int]] = defaultdict(lambda: Counter())
    for ctx, s, _ in tail:
        settled[ctx][s] += 1
    return {"seed": seed, "policy": policy, "checkpoints": out_cp,
            "settled": {c: dict(v) for c, v in settled.items()}}


def _policy_quality(wl: W.Workload, agent) -> float | None:
    """Share of the achievable savings the agent's current exploit choice (no exploration)
    would capture on a rebuild of every module now: the quality of what it has learned so far,
    as opposed to the cumulative savings it has captured on the way."""
    saved = achievable = 0.0
    for m in wl.modules:
        s = agent.exploit(m)
        if s is None:
            return None
        costs = wl.expected_costs(m.id)
        saved += costs[0] - costs[wl.strategy_index(s)]
        achievable += costs[0] - min(costs)
    return saved / achievable if achievable > 0 else None


def _run_job(args):
    return run_one(*args)


# ---------------------------------------------------------------------------------------------
# Aggregation
# ---------------------------------------------------------------------------------------------

def mean_ci(xs: list[float]) -> tuple[float, float]:
    """Mean and half-width of the 95 % t-interval."""
    xs = [x for x in xs if x is not None and not (isinstance(x, float) and math.isnan(x))]
    if not xs:
        return float("nan"), float("nan")
    n = len(xs)
    m = sum(xs) / n
    if n < 2:
        return m, float("nan")
    from scipy import stats
    sd = math.sqrt(sum((x - m) ** 2 for x in xs) / (n - 1))
    return m, float(stats.t.ppf(0.975, n - 1)) * sd / math.sqrt(n)


METRICS = ("regret", "captured", "captured_rebuilds", "policy_quality", "slower", "slower_last500", "failures",
           "repeat_failures", "repeat_same_source", "broken_builds",
           "decision_us", "decision_us_p50", "oracle_match_last300", "explore_share", "build1_regret", "builds",
           "explore_regret", "rebuild_exploit_regret")


def aggregate(runs: list[dict], checkpoints: list[int], policies: list[str]) -> dict:
    by = defaultdict(list)
    for r in runs:
        by[r["policy"]].append(r)
    agg: dict = {}
    for p in policies:
        rs = sorted(by[p], key=lambda r: r["seed"])
        agg[p] = {}
        for n in checkpoints:
            cell = {}
            for metric in METRICS:
                vals = [r["checkpoints"][n][metric] for r in rs if n in r["checkpoints"]]
                if any(v is None for v in vals):
                    continue
                m, h = mean_ci(vals)
                cell[metric] = {"mean": m, "ci95": h}
            ctxs = sorted({c for r in rs for c in r["checkpoints"].get(n, {}).get("ctx_regret", {})})
            cell["ctx_regret"] = {c: mean_ci([r["checkpoints"][n]["ctx_regret"].get(c, 0.0) for r in rs])[0]
                                  for c in ctxs}
            cell["ctx_captured"] = {c: mean_ci([r["checkpoints"][n]["ctx_captured"].get(c) for r in rs])[0]
                                    for c in ctxs}
            agg[p][n] = cell
        settled: dict[str, Counter] = defaultdict(Counter)
        for r in rs:
            for c, d in r["settled"].items():
                settled[c].update(d)
        agg[p]["settled"] = {c: dict(v.most_common()) for c, v in settled.items()}
    return agg


def check_targets(agg: dict, checkpoints: list[int], policies: list[str],
                  variant: str = "default") -> list[tuple[str, bool | None, str]]:
    out = []
    big = max(checkpoints)
    d = agg.get(DEFAULT_POLICY)
    mabs = [p for p in MABS if p in agg]
    bound = 0.5 if variant in ("default", "safe-breaks") else 0.7     # issue 21's held-out target
    if d and mabs and 2000 in checkpoints:
        best = min(mabs, key=lambda p: agg[p][2000]["regret"]["mean"])
        ours = d[2000]["regret"]["mean"]
        theirs = agg[best][2000]["regret"]["mean"]
        out.append((f"{DEFAULT_POLICY} regret at 2000 ≤ {bound:g} × best MABWiser ({best})",
                    ours <= bound * theirs, f"{ours:.1f} s vs {bound:g} × {theirs:.1f} s = {bound * theirs:.1f} s "
                    f"(ratio {ours / theirs:.2f})"))
    else:
        out.append(("default regret at 2000 ≤ 0.5 × best MABWiser", None, "not measured (needs 2000 compiles and the MABWiser policies)"))
    if variant in W.KIND_VARIANTS and d and 2000 in checkpoints:
        for key, goal, what in (("captured", 0.90, "of achievable savings by 2000"),
                                ("captured_rebuilds", 0.85, "of achievable savings in rebuilds by 2000")):
            if key in d[2000]:
                v = d[2000][key]["mean"]
                out.append((f"{DEFAULT_POLICY} captures ≥ {goal:.0%} {what}", v >= goal,
                            f"{v:.1%} ± {d[2000][key]['ci95']:.1%}"))
        v = d[2000]["decision_us_p50"]["mean"]
        out.append((f"{DEFAULT_POLICY} decides in ≤ 1 ms (p50)", v <= 1000.0, f"{v:.0f} µs"))
    for n, goal in (((500, 0.80), (2000, 0.95)) if variant not in W.KIND_VARIANTS else ()):
        if d and n in checkpoints:
            v = d[n]["captured"]["mean"]
            out.append((f"{DEFAULT_POLICY} captures ≥ {goal:.0%} of achievable savings by {n}", v >= goal,
                        f"{v:.1%} ± {d[n]['captured']['ci95']:.1%}"))
        else:
            out.append((f"default captures ≥ {goal:.0%} by {n}", None, "not measured"))
    ours = [p for p in policies if p in OURS and "repeat_same_source" in agg[p][big]]
    if ours:
        again = {p: agg[p][big]["repeat_same_source"]["mean"] for p in ours}
        out.append(("simpulse never runs a strategy again on a source it broke", all(v == 0 for v in again.values()),
                    ", ".join(f"{p}: {v:g}" for p, v in again.items() if v) or "0 for every simpulse policy"))
    broken = {p: agg[p][big]["broken_builds"]["mean"] for p in policies}
    out.append(("zero broken builds (every policy)", all(v == 0 for v in broken.values()),
                ", ".join(f"{p}: {v:g}" for p, v in broken.items() if v) or "0 for every policy"))
    return out


def learned_lines(agg: dict, checkpoints: list[int]) -> list[str]:
    """Beside the targets, never in their place: what the default policy has learned, costed
    on a rebuild of every module."""
    d = agg.get(DEFAULT_POLICY) or {}
    out = []
    for n in (500, 2000):
        q = d.get(n, {}).get("policy_quality") if n in checkpoints else None
        if q:
            out.append(f"what {DEFAULT_POLICY} has learned by {n}, on a rebuild of every module: "
                       f"{q['mean']:.1%} ± {q['ci95']:.1%} of the achievable savings")
    t = agg.get("true-model") or {}
    if 500 in t and 2000 in t:
        out.append(f"learning with simpulse's information on the workload's exact model: Thompson sampling "
                   f"told how levels follow `lines` (not the levels) captures {t[500]['captured']['mean']:.1%} "
                   f"± {t[500]['captured']['ci95']:.1%} by 500 and {t[2000]['captured']['mean']:.1%} "
                   f"± {t[2000]['captured']['ci95']:.1%} by 2000")
    k = agg.get("known-levels") or {}
    if 500 in k and 2000 in k:
        out.append(f"learning without the level problem: Thompson sampling told every module's exact baseline "
                   f"time captures {k[500]['captured']['mean']:.1%} ± {k[500]['captured']['ci95']:.1%} by 500 "
                   f"and {k[2000]['captured']['mean']:.1%} ± {k[2000]['captured']['ci95']:.1%} by 2000")
    c = agg.get("ctx-oracle") or {}
    for n, goal in ((500, 0.80), (2000, 0.95)):
        if n in c:
            v = c[n]["captured"]["mean"]
            out.append(f"ceiling by {n}: the context oracle, which needs no learning, captures "
                       f"{v:.1%} ± {c[n]['captured']['ci95']:.1%}; a target of {goal:.0%} leaves "
                       f"{v - goal:.1%} of the achievable savings for every cost of learning")
    return out


# ---------------------------------------------------------------------------------------------
# Output
# ---------------------------------------------------------------------------------------------

def _fmt(cell: dict, key: str, kind: str) -> str:
    if key not in cell:
        return "–"
    m, h = cell[key]["mean"], cell[key]["ci95"]
    if kind == "us":
        return f"{m:.0f}"
    if kind == "pct":
        return f"{m:.1%}" + ("" if math.isnan(h) else f" ± {h:.1%}")
    return f"{m:.1f}" + ("" if math.isnan(h) else f" ± {h:.1f}")


_HISTORY = {"same": "the same", "shifted": "shifted between contexts",
            "machine": "those of a machine where serial elaboration costs"}
HISTORIES = ", ".join(_HISTORY[h] for h in TOOLCHAIN_CHANGES[:-1]) + ", or " + _HISTORY[TOOLCHAIN_CHANGES[-1]]


def markdown(result: dict) -> str:
    agg, cps, policies = result["aggregate"], result["checkpoints"], result["policies"]
    meta = result["meta"]
    lines = [
        f"**Learning benchmark — SIMULATED workload** (`scripts/bench_learning.py`; "
        f"{meta['seeds']} seeds, {meta['modules']} modules, {max(cps)} compiles"
        + (f", each result {meta['lag']} decisions late" if meta.get("lag") else "")
        + (f", after {meta['earlier_compiles']} compiles under an earlier toolchain whose effects are "
           + _HISTORY[meta["toolchain_change"]]
           + " and under which each module took its time now × exp(N({:g}, {:g}²))".format(*meta["level_change"])
           if meta.get("toolchain_change") else "")
        + (f", starting from an import at weight {meta['imported'][1]:g} of what simpulse learned in "
           f"{meta['earlier_compiles']} compiles of another project whose effects are "
           + _HISTORY[meta["imported"][0]]
           if meta.get("imported") else "")
        + (f", workload variant `{meta['variant']}`: {VARIANT_TEXT[meta['variant']]}"
           + ("; MABWiser's policies, the references and the context oracle (here a *kind* oracle) are told "
              "each module's hidden kind, simpulse is not" if meta["variant"] in W.KIND_VARIANTS else "")
           if meta.get("variant", "default") != "default" else "") + "; mean ± 95 % "
        f"t-interval over seeds; run {meta['date']}, {meta['seconds']:.0f} s). Regret and savings "
        "use expected (noise-free) costs; the oracle knows every effect and failure; the *context "
        "oracle* knows, from the first compile, each context's true effects and break rates (not "
        "each module's jitter nor which modules break) and never repeats a failure: what a perfect "
        "learner of per-context effects would capture without paying to learn. Model, "
        "wiring and metrics: docs/learning-benchmark.md.",
        "",
        f"The oracle's achievable savings: {meta['oracle_savings']:.1%} of the always-baseline "
        f"cost (mean over seeds); builds within {max(cps)} compiles: "
        f"{agg[policies[0]][max(cps)]['builds']['mean']:.0f} on average. Build 1 compiles every "
        "module once, so no module has a second compile to compare with until build 2: a learner "
        "that learns nothing during build 1 can capture at most "
        + ", ".join(f"{v:.0%} by {n}" for n, v in sorted(meta["ceiling_without_build1"].items()))
        + " (baseline in build 1, oracle afterwards). *savings captured* is cumulative: every "
        "compile so far, exploration included (the targets are judged on it). *captured in "
        "rebuilds* counts builds ≥ 2 only. *learned policy captures*: the share of the achievable "
        "savings the policy's current exploit choice (no exploration) would capture on a rebuild "
        "of every module at that point — what it has learned, not what it has cost. "
        "*failures (repeats)*: strategy failures rescued by the fallback (of which on a (module, "
        "strategy) that had already failed, whatever its source). *runs on a source it broke*: "
        "compiles of a module under a strategy that had already failed on that version of its "
        "source (each fails again: Lean is deterministic).",
        "",
        "| policy | compiles | regret (s) | savings captured | captured in rebuilds | learned policy captures | slower than baseline | slower, last 500 | failures (repeats) | runs on a source it broke | broken builds | µs / decision (p50) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for p in policies:
        for n in cps:
            c = agg[p][n]
            rep = c.get("repeat_failures", {}).get("mean", 0.0)
            lines.append(f"| {LABELS.get(p, p)} | {n} | {_fmt(c, 'regret', 'num')} | "
                         f"{_fmt(c, 'captured', 'pct')} | {_fmt(c, 'captured_rebuilds', 'pct')} | "
                         f"{_fmt(c, 'policy_quality', 'pct')} | {_fmt(c, 'slower', 'pct')} | "
                         f"{_fmt(c, 'slower_last500', 'pct')} | "
                         f"{_fmt(c, 'failures', 'num')} ({rep:.1f}) | "
                         f"{c.get('repeat_same_source', {}).get('mean', float('nan')):.1f} | {c['broken_builds']['mean']:g} | "
                         f"{_fmt(c, 'decision_us', 'us')} ({_fmt(c, 'decision_us_p50', 'us')}) |")
    lines += ["", "Targets:", ""]
    for name, ok, detail in result["targets"]:
        mark = "n/a" if ok is None else ("met" if ok else "**not met**")
        lines.append(f"- {name}: {mark} — {detail}")
    if result.get("learned"):
        lines += ["", "Not targets:", ""] + [f"- {line}" for line in result["learned"]]
    if meta.get("variant") in W.KIND_VARIANTS:
        lines += ["", "Hidden kinds (context / kind: share of the context; tactic counts per declaration a real "
                  "classifier could see): "
                  + "; ".join(f"{c} / {k}: {sh:.0%}, " + ", ".join(f"{f} {r:g}" for f, r in rates.items())
                              for c in W.CONTEXTS for k, sh, rates, _ in W.KINDS[c]) + ". "
                  + ("Each kind's true effects and break rates are those of the default workload's context "
                     + ", ".join(f"{k} ← {lk}" for c in W.CONTEXTS for k, _, _, lk in W.KINDS[c]) + "."
                     if meta["variant"] == "mixed-contexts" else
                     "Each kind's true effects and break rates are its own context's in the default workload."
                     if meta["variant"] == "alike-kinds" else
                     "Effects and breakage drawn per seed and kind as in `safe-breaks`."
                     + (f" Edits: Zipf exponent {W.SKEWED_ZIPF_S:g} over the hotness ranking (default "
                        f"{W.ZIPF_S:g})." if meta["variant"] == "skewed-edits" else ""))
                  + " The first seed's truth per kind (bold = least expected cost):", "",
                  W.Workload(meta["seed0"], meta["modules"], variant=meta["variant"]).effect_table_markdown()]
    elif meta.get("variant", "default") == "default":
        lines += ["", "True effects (time multipliers vs baseline; bold = least expected cost):", "",
                  W.effect_table_markdown()]
    elif meta["variant"] == "import-heavy":
        lines += ["", f"True effects: the default workload's, on each module's own work only; loading its import "
                  f"closure ({W.IMPORT_SECONDS:g} s per module of the closure, invented) is the same under every "
                  f"strategy, and no feature but the direct import count hints at it. Effects on the own work "
                  f"(bold = least expected cost):", "", W.effect_table_markdown()]
    else:
        mu, sd, (lo, hi) = W.VARIANT_EFFECT
        lines += ["", f"True effects: drawn per seed, each (context, strategy) independently, log-multiplier "
                  f"~ N({mu:g}, {sd:g}²) clipped to [{lo:g}, {hi:g}]. Breakage: per seed and context, "
                  + "; ".join(f"`{t}` off breaks, with probability {p:g}, a share U({a:g}, {b:g}) of the modules"
                              for t, (p, (a, b)) in W.SAFE_BREAKS.items())
                  + " (a module breaks under a strategy iff something it turns off breaks it: "
                  + ", ".join(f"{s} {'+'.join(offs) or 'nothing'}" for s, offs in W.TURNS_OFF.items())
                  + "). The first seed's truth (bold = least expected cost):", "",
                  W.Workload(meta["seed0"], meta["modules"], variant=meta["variant"]).effect_table_markdown()]
    return "\n".join(lines)


def write_between_markers(path: Path, body: str, markers: tuple[str, str] = (START, END)) -> None:
    start, end = markers
    block = f"{start}\n{body}\n{end}"
    if path.exists():
        text = path.read_text()
        if start in text and end in text and text.index(start) < text.index(end):
            pre = text[:text.index(start)]
            post = text[text.index(end) + len(end):]
            path.write_text(pre + block + post)
            return
        sep = "" if text.endswith("\n") or not text else "\n"
        path.write_text(text + sep + "\n## Learning benchmark (simulated)\n\n" + block + "\n")
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("# Benchmarks\n\nSections are written by the scripts in `scripts/`; each owns "
                    "the text between its markers.\n\n## Learning benchmark (simulated)\n\n"
                    + block + "\n")


def print_per_seed(result: dict) -> None:
    """`--per-seed`: each seed's regret at the last checkpoint and where it came from — build 1,
    compiles the policy flagged as exploring, and exploiting in rebuilds (what the model got wrong)."""
    big = max(result["checkpoints"])
    print(f"\nPer seed (simulated), regret at {big} (s): total = build 1 + rebuilds; of the total, exploring "
          f"and exploiting in rebuilds")
    for p in result["policies"]:
        rows = sorted((r for r in result["runs"] if r["policy"] == p), key=lambda r: r["seed"])
        print(f"  {p}:")
        for r in rows:
            c = r["checkpoints"][big]
            # only simpulse's learners say which decisions explore
            split = (f"exploring {c['explore_regret']:6.1f}  exploiting in rebuilds {c['rebuild_exploit_regret']:6.1f}"
                     if p in OURS else "exploring      –  exploiting in rebuilds      –")
            print(f"    seed {r['seed']:4d}: total {c['regret']:7.1f}  build 1 {c['build1_regret']:6.1f}  {split}  "
                  f"slower, last 500 {c['slower_last500']:.1%}")


def print_diagnostics(result: dict) -> None:
    agg, cps = result["aggregate"], result["checkpoints"]
    big = max(cps)
    print("\nDiagnostics (simulated):")
    for p in result["policies"]:
        c = agg[p][big]
        ctx = ", ".join(f"{k} {v:.1f}s/{c['ctx_captured'].get(k, float('nan')):.0%}"
                        for k, v in sorted(c["ctx_regret"].items()))
        ex = c.get("explore_share")
        split = (f", exploring {c['explore_regret']['mean']:.1f} s, exploiting in rebuilds "
                 f"{c['rebuild_exploit_regret']['mean']:.1f} s" if ex else "")
        print(f"  {p:12s} @{big}: build-1 regret {c['build1_regret']['mean']:.1f} s{split}, oracle match "
              f"(last 300) {c['oracle_match_last300']['mean']:.0%}"
              + (f", explore {ex['mean']:.0%}" if ex else "") + f"; per context regret/captured: {ctx}")


def run(seeds: int, checkpoints: list[int], policies: list[str], n_modules: int = 300, reveal_levels: bool = False,
        jobs: int | None = None, seed0: int = 0, lag: int = 0, toolchain_change: str | None = None,
        earlier_compiles: int = 2000, level_change: tuple[float, float] = LEVEL_CHANGE,
        imported: tuple[str, float] | None = None, variant: str = "default") -> dict:
    t0 = time.time()
    cost_rank = {p: (0 if p in MABS else 1 if p in OURS else 2) for p in policies}
    tasks = [(seed0 + s, p, checkpoints, n_modules, reveal_levels, None, lag, toolchain_change, earlier_compiles,
              tuple(level_change), imported, variant)
             for p in sorted(policies, key=lambda p: cost_rank[p]) for s in range(seeds)]
    jobs = jobs or min(len(tasks), os.cpu_count() or 1)
    runs = _pool_map(tasks, jobs)
    agg = aggregate(runs, checkpoints, policies)
    savings = []
    ceiling: dict[int, list[float]] = {n: [] for n in checkpoints}
    for s in range(seeds):
        wl = W.Workload(seed0 + s, n_modules, variant=variant)
        base = orc = ach = ach_b1 = 0.0
        for req in wl.stream(max(checkpoints)):
            costs = wl.expected_costs(req.module)
            base += costs[0]
            orc += min(costs)
            ach += costs[0] - min(costs)
            if req.build == 1:
                ach_b1 += costs[0] - min(costs)
            if req.index + 1 in ceiling:
                ceiling[req.index + 1].append(1 - ach_b1 / ach if ach > 0 else 0.0)
        savings.append(1 - orc / base)
    result = {
        "simulated": True,
        "checkpoints": checkpoints,
        "policies": policies,
        "aggregate": agg,
        "meta": {"seeds": seeds, "seed0": seed0, "modules": n_modules, "jobs": jobs, "lag": lag,
                 "toolchain_change": toolchain_change,
                 "imported": list(imported) if imported else None,
                 "earlier_compiles": earlier_compiles if toolchain_change or imported else None,
                 "level_change": list(level_change) if toolchain_change else None,
                 "seconds": time.time() - t0, "date": time.strftime("%Y-%m-%d"),
                 "oracle_savings": sum(savings) / len(savings),
                 # the best share a learner can capture if it learns nothing during build 1
                 # (plays baseline there, the oracle afterwards)
                 "ceiling_without_build1": {n: sum(v) / len(v) for n, v in ceiling.items()},
                 "variant": variant,
                 # the variant draws its truth per seed (`W.variant_truth`)
                 "true_speed": W.TRUE_SPEED if variant == "default" else None,
                 "break_rate": W.BREAK_RATE if variant == "default" else None,
                 "context_shares": W.CONTEXT_SHARES},
        "runs": runs,
    }
    result["targets"] = check_targets(agg, checkpoints, policies, variant)
    result["learned"] = learned_lines(agg, checkpoints)
    return result


SWEEP_SCALES = (0.25, 0.5, 1.0, 2.0)
SWEEP_C = (0.5, 1.0, 2.0)
SWEEP_RULES = tuple(("thompson", sc) for sc in SWEEP_SCALES) + tuple(("ucb", c) for c in SWEEP_C)
SWEEP_TEMPERATURES = ((0.25, 4.0), (1.0, 1.0), (0.01, 100.0))
REFERENCES = ("true-model", "known-levels")


def _pool_map(tasks: list, jobs: int | None) -> list:
    jobs = jobs or min(len(tasks), os.cpu_count() or 1)
    if jobs <= 1:
        return [run_one(*t) for t in tasks]
    ctx = mp.get_context("fork") if "fork" in mp.get_all_start_methods() else mp.get_context()
    with ctx.Pool(jobs) as pool:
        return list(pool.map(_run_job, tasks, chunksize=1))


def reference_sweep(seeds: int, checkpoints: list[int], n_modules: int = 300, jobs: int | None = None,
                    seed0: int = 0, reference: str = "true-model", rules=SWEEP_RULES,
                    temperatures=SWEEP_TEMPERATURES, lag: int = 0) -> list[dict]:
    """A reference (`true-model` or `known-levels`) under every decision rule of the grid:
    Thompson sampling at each draw scale and the lower confidence bound at each c, times each
    clip of the temperature. Is a capture target out of reach for this information because of
    the decision rule simpulse shares with the reference, or whatever the rule? One row per
    rule: the share captured (mean, 95 % CI) and the regret at each checkpoint, same seeds."""
    if reference not in REFERENCES:
        raise SystemExit(f"--reference-sweep takes {' or '.join(REFERENCES)}, not {reference!r}")
    grid = [(rule, v, t) for rule, v in rules for t in temperatures]

    def options(rule, v, t):
        return {"rule": rule, "scale": v, "temperature": t} if rule == "thompson" else \
               {"rule": rule, "c": v, "temperature": t}
    tasks = [(seed0 + k, reference, checkpoints, n_modules, False, options(*g), lag)
             for g in grid for k in range(seeds)]
    runs = _pool_map(tasks, jobs)
    rows = []
    for i, (rule, v, t) in enumerate(grid):
        mine = runs[i * seeds:(i + 1) * seeds]
        rows.append({"reference": reference, "rule": rule, "param": v, "temperature": t,
                     "captured": {n: mean_ci([r["checkpoints"][n]["captured"] for r in mine]) for n in checkpoints},
                     "regret": {n: mean_ci([r["checkpoints"][n]["regret"] for r in mine]) for n in checkpoints}})
    return rows


def sweep_markdown(rows: list[dict], checkpoints: list[int], seeds: int, seed0: int) -> str:
    head = ["rule", "draw scale / c", "temperature clip"] + [f"captured by {n}" for n in checkpoints] + \
        [f"regret at {max(checkpoints)}"]
    out = [f"`{rows[0]['reference']}` under each decision rule (SIMULATED workload, {seeds} seeds from {seed0}; "
           "simpulse's rule: thompson, scale 0.5, clip [0.25, 4]):", "",
           "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]

    def clip(r):
        lo, hi = r["temperature"]
        return f"[{lo:g}, {hi:g}]"
    for r in rows:
        cells = [r["rule"], f"{r['param']:g}", clip(r)]
        cells += [f"{r['captured'][n][0]:.1%} ± {r['captured'][n][1]:.1%}" for n in checkpoints]
        g = r["regret"][max(checkpoints)]
        cells.append(f"{g[0]:.1f} ± {g[1]:.1f} s")
        out.append("| " + " | ".join(cells) + " |")
    best = {n: max(rows, key=lambda r: r["captured"][n][0]) for n in checkpoints}
    out.append("")
    out += [f"best by {n}: {b['captured'][n][0]:.1%} ({b['rule']} {b['param']:g}, clip {clip(b)})"
            for n, b in best.items()]
    return "\n".join(out)


def _clean(x):
    """JSON-safe: NaN/inf → null, int keys → strings, floats to 5 decimals."""
    if isinstance(x, dict):
        return {str(k): _clean(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_clean(v) for v in x]
    if isinstance(x, float):
        return round(x, 5) if math.isfinite(x) else None
    return x


def _jsonable(result: dict) -> dict:
    out = dict(result)
    slim = ("ctx_regret", "ctx_captured")      # aggregated per policy; omitted per run
    out["runs"] = [{**r, "checkpoints": {k: {m: v for m, v in cp.items() if m not in slim}
                                         for k, cp in r["checkpoints"].items()}}
                   for r in sorted(result["runs"], key=lambda r: (r["policy"], r["seed"]))]
    out["targets"] = [{"target": n, "met": ok, "detail": d} for n, ok, d in result["targets"]]
    return _clean(out)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="5 seeds, 200/500 compiles")
    ap.add_argument("--seeds", type=int, default=None, help="number of seeds (default 20; 5 with --quick)")
    ap.add_argument("--compiles", default=None,
                    help="comma-separated checkpoints (default 200,500,2000; 200,500 with --quick)")
    ap.add_argument("--policies", default=None,
                    help="comma-separated subset (default: all; thompson with --toolchain-change or --import-from)")
    ap.add_argument("--modules", type=int, default=300, help="modules in the simulated project")
    ap.add_argument("--seed0", type=int, default=0,
                    help="first seed (default 0): e.g. --seed0 100 checks tuning on seeds it never saw")
    ap.add_argument("--jobs", type=int, default=None, help="worker processes (default: CPU count)")
    ap.add_argument("--json", default=None,
                    help="JSON output, with --write-docs (default docs/bench_learning.json; "
                         "docs/bench_learning_safe_breaks.json for --workload safe-breaks)")
    ap.add_argument("--markdown", default=str(ROOT / "docs" / "benchmarks.md"),
                    help="markdown file whose bench_learning section is replaced, with --write-docs")
    ap.add_argument("--write-docs", action="store_true",
                    help="write the JSON and the markdown section (a bare run prints only and leaves "
                         "tracked files alone)")
    ap.add_argument("--no-write", action="store_true", help="print only (the default; overrides --write-docs)")
    ap.add_argument("--per-seed", action="store_true",
                    help="also print each seed's regret and its breakdown (build 1, exploring, exploiting in rebuilds)")
    ap.add_argument("--workload", choices=W.VARIANTS, default="default",
                    help="the simulated workload: `default`; `safe-breaks` (effects drawn per seed; strategies "
                         "declared safe break some modules too); `mixed-contexts`, `random-effects`, `skewed-edits` "
                         "(hidden kinds of module inside each context; docs/learning-benchmark.md); `alike-kinds` "
                         "(the same kinds, responding alike); `import-heavy` (levels the features mispredict: "
                         "import loading)")
    ap.add_argument("--reveal-levels", action="store_true",
                    help="experiment: give simpulse's learners a feature that reveals each module's exact "
                         "baseline time (what perfect level prediction would give); implies --no-write")
    ap.add_argument("--reference-sweep", nargs="?", const="true-model", default=None, choices=REFERENCES,
                    help="run only a reference (default true-model; or known-levels) under a grid of decision "
                         "rules (Thompson draw scale or UCB c × temperature clip) and print its table; writes nothing")
    ap.add_argument("--lag", type=int, default=0,
                    help="experiment: each compile's result reaches the policy only after N further decisions, "
                         "as in a build of N + 1 parallel jobs (default 0: sequential); implies --no-write")
    ap.add_argument("--toolchain-change", choices=TOOLCHAIN_CHANGES, default=None,
                    help="experiment: simpulse's learner first runs --earlier-compiles compiles of the project under an "
                         f"earlier toolchain whose effects are {HISTORIES}; implies --no-write")
    ap.add_argument("--earlier-compiles", type=int, default=2000,
                    help="compiles under the earlier toolchain, or of the exporting project (default 2000; with "
                         "--toolchain-change or --import-from)")
    ap.add_argument("--import-from", choices=TOOLCHAIN_CHANGES, default=None,
                    help="experiment: simpulse's learner starts from an import (at --import-weight) of what it learned in "
                         f"--earlier-compiles compiles of another project whose effects are {HISTORIES}; implies --no-write")
    ap.add_argument("--import-weight", type=float, default=0.5,
                    help="the import's weight, as `simpulse import --weight` (default 0.5, its default)")
    ap.add_argument("--level-change", default=",".join(f"{v:g}" for v in LEVEL_CHANGE), metavar="MU,SIGMA",
                    help="under the earlier toolchain each module took its time now × exp(N(MU, SIGMA²)) "
                         "(default %(default)s; 0,0: the same levels; with --toolchain-change)")
    args = ap.parse_args(argv)
    if args.lag < 0:
        ap.error("--lag must be ≥ 0")
    if args.earlier_compiles < 1:
        ap.error("--earlier-compiles must be ≥ 1")
    try:
        level_change = tuple(float(v) for v in args.level_change.split(","))
        if len(level_change) != 2 or not all(map(math.isfinite, level_change)) or level_change[1] < 0:
            raise ValueError
    except ValueError:
        ap.error(f"--level-change takes MU,SIGMA (two finite numbers, SIGMA ≥ 0), not {args.level_change!r}")
    if args.toolchain_change and args.import_from:
        ap.error("--toolchain-change and --import-from are separate experiments")
    if args.workload != "default" and (args.toolchain_change or args.import_from or args.reference_sweep):
        ap.error("--workload applies to the main comparison only (not with --toolchain-change, --import-from "
                 "or --reference-sweep)")
    if not 0.0 < args.import_weight <= 1.0:
        ap.error(f"--import-weight must be in (0, 1], got {args.import_weight!r}")
    history = args.toolchain_change or args.import_from
    if args.reveal_levels or args.lag or history:
        args.no_write = True
    write = args.write_docs and not args.no_write
    if args.json is None:
        args.json = str(ROOT / "docs" / ("bench_learning.json" if args.workload == "default"
                                         else f"bench_learning_{args.workload.replace('-', '_')}.json"))
    if args.policies is None:
        args.policies = DEFAULT_POLICY if history else ",".join(ALL_POLICIES)

    seeds = args.seeds or (5 if args.quick else 20)
    cps = args.compiles or ("200,500" if args.quick else "200,500,2000")
    checkpoints = sorted({int(x) for x in cps.split(",") if x.strip()})
    policies = [p.strip() for p in args.policies.split(",") if p.strip()]
    for p in policies:
        if p not in ALL_POLICIES:
            ap.error(f"unknown policy {p!r} (known: {', '.join(ALL_POLICIES)})")
        if history and p not in OURS:
            ap.error(f"--toolchain-change and --import-from apply to simpulse's policies ({', '.join(OURS)}), not {p!r}")
    if any(p in MABS for p in policies):
        try:
            import mabwiser  # noqa: F401
        except ImportError:
            ap.error("the MABWiser policies need `pip install mabwiser` (extra: simpulse[bench])")

    if args.reference_sweep:
        t0 = time.time()
        print(f"SIMULATED workload: {args.reference_sweep} reference sweep, {seeds} seeds from {args.seed0} × "
              f"{max(checkpoints)} compiles" + (f", results {args.lag} decisions late" if args.lag else ""), flush=True)
        rows = reference_sweep(seeds, checkpoints, n_modules=args.modules, jobs=args.jobs, seed0=args.seed0,
                               reference=args.reference_sweep, lag=args.lag)
        print()
        print(sweep_markdown(rows, checkpoints, seeds, args.seed0))
        print(f"run time {time.time() - t0:.0f} s")
        return 0
    print(f"SIMULATED workload: {seeds} seeds from {args.seed0} × {max(checkpoints)} compiles, {len(policies)} policies, "
          f"{args.modules} modules" + (f", results {args.lag} decisions late" if args.lag else "")
          + (f", workload variant {args.workload}" if args.workload != "default" else "")
          + (f", after {args.earlier_compiles} compiles under an earlier toolchain ({args.toolchain_change} effects, "
             f"levels × exp(N({level_change[0]:g}, {level_change[1]:g}²)))" if args.toolchain_change else "")
          + (f", starting from an import (weight {args.import_weight:g}) of another project's {args.earlier_compiles} "
             f"compiles ({args.import_from} effects)" if args.import_from else ""), flush=True)
    result = run(seeds, checkpoints, policies, n_modules=args.modules, jobs=args.jobs, seed0=args.seed0,
                 reveal_levels=args.reveal_levels, lag=args.lag, toolchain_change=args.toolchain_change,
                 earlier_compiles=args.earlier_compiles, level_change=level_change,
                 imported=(args.import_from, args.import_weight) if args.import_from else None,
                 variant=args.workload)
    md = markdown(result)
    print()
    print(md)
    print_diagnostics(result)
    if args.per_seed:
        print_per_seed(result)
    if write:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(_jsonable(result), indent=1, allow_nan=False) + "\n")
        write_between_markers(Path(args.markdown), md, MARKERS[args.workload])
        print(f"\nwrote {args.json} and the bench_learning section of {args.markdown}")
    if history:
        print("\ntargets: not judged (they are set for a first build with nothing learned; this run started "
              "from knowledge learned elsewhere)")
    else:
        print("\ntargets: " + "; ".join(f"{n}: {'n/a' if ok is None else 'met' if ok else 'NOT MET'}"
                                       for n, ok, _ in result["targets"]))
    print(f"run time {result['meta']['seconds']:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
