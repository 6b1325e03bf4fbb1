"""A simulated build workload for the learning benchmark (docs/learning-benchmark.md).

Everything here is *simulated*: a model of a Lean project being edited and rebuilt, so that
compilation-strategy learners can be compared on identical, reproducible streams of compiles.
No process is run and no time is spent. Standard library only; deterministic given a seed.

The model
---------
- A project of ``n_modules`` modules (default 300), numbered in a topological order: module ``i``
  imports 0–3 modules with smaller numbers (mostly recent ones, sometimes any earlier one).
- Each module belongs to one of five contexts (`CONTEXT_SHARES`, unequal shares) and has a
  log-normal base time under the baseline strategy: median ≈ 1.5 s, σ_log = 1.0 (a long tail of
  slow modules), scaled per context (`CONTEXT_SCALE`).
- True strategy effects on log-time per context (`TRUE_SPEED`, time multipliers: 0.70 means 30 %
  faster), plus a fixed per-(module, strategy) jitter N(0, 0.03) on the log-effect.
- ``no-simprocs`` and ``simp-lean`` break a share of ``arith`` (45 %) and ``simp_heavy`` (5 %)
  modules (`BREAK_RATE`). Breaking is deterministic: module m breaks under strategy s iff a fixed
  draw u(m, s) < rate; the two strategies turning simprocs off share the draw (they break the
  same proofs). A failed compile costs a fixed fraction (uniform 0.3–1.0 per (module, strategy))
  of the strategy's time, then the baseline fallback costs its full time. The baseline never
  fails, so a build never ends broken.
- Timing noise: every compile's time is multiplied by a log-normal factor (σ = 0.1) and, with
  probability 3 %, by an outlier factor uniform in [1.5, 3]. `Workload.noise` pre-draws one factor
  per (compile index, strategy), so learners are compared on identical randomness.
- Edit-driven rebuilds: build 1 compiles every module once, in topological order. Every later
  build edits 1–4 modules, chosen Zipf-like (weight 1/rank^1.1 over a fixed random "hotness"
  ranking, biased towards modules with few dependents: a few hot modules are edited most of
  the time), and recompiles them and all their transitive dependents, in topological order.

Variant ``safe-breaks`` (``Workload(seed, variant="safe-breaks")``)
------------------------------------------------------------------
Strategies declared safe break proofs too: turning the linters off fails a ``#guard_msgs``
test that expects a linter warning, and elaborating on the main thread can fail a module
that relies on asynchronous elaboration. Each strategy turns off some of ``linters``,
``async`` and ``simprocs`` (`TURNS_OFF`: ``lean-fast`` both linters and async, ``simp-lean``
linters and simprocs, ``single-thread`` none); per seed and context, each of those breaks a
share of the context's modules (`SAFE_BREAKS`: with some probability, a rate drawn
uniformly; else none), and a module breaks under a strategy iff one of the things it turns
off breaks it — a fixed draw per (module, thing), so the same modules every time, whatever
the edits. The effects are drawn per seed, independently per (context, strategy)
(`VARIANT_EFFECT`), so that no strategy is best by construction: the catalogue's descriptions
are no prior this variant rewards. Each compile request carries the module's ``version`` (how
many times its source was edited before), which a learner can hash as its source.

Hidden kinds (``mixed-contexts``, ``random-effects``, ``skewed-edits``; issue 21)
--------------------------------------------------------------------------------
Each context holds two or three kinds of module (`KINDS`) that respond differently; the kind
shows only in tactic counts a real classifier could see (`KIND_FEATURES`: a Poisson number per
declaration), never in a name. Kinds and counts come from a generator of their own, so the
project is otherwise the default's for the seed. ``mixed-contexts``: each kind takes the default
effects and break rates of another context (`KINDS`' last field); ``random-effects``: drawn per
seed and kind as ``safe-breaks`` draws them per context (`kind_truth`); ``skewed-edits``:
random-effects with the edits concentrated on a few modules (`SKEWED_ZIPF_S`);
``alike-kinds``: the same kinds and tactic counts, each with its own context's default effects
and break rates — kinds that look different and respond alike, the case where telling them
apart buys nothing (a check against learners that split on looks alone). The truth is
keyed by `Workload.group` (the kind; the context elsewhere), which the benchmark's competitors
and references are told. Every number of these variants is invented.

Variant ``import-heavy``
------------------------
The default workload, but a module's time is its own work plus the loading of its import
closure, `IMPORT_SECONDS` (0.02 s, invented) per module of the closure: up to ~2.8 s on a
300-module project whose modules' own work has a median of 1.3 s. The features a classifier
sees describe the own work (lines follow it) and count the direct imports, which track the
closure loosely (correlation ≈ 0.46 at seed 0); the strategies act on the own work only, so a
module's effect is diluted by its import share. The case this checks: levels that the features
mispredict, as in a real project where import loading is much of a module's time.

Costs
-----
``expected_cost(m, s)`` is the mean of what a compile of module m under strategy s costs over
the noise: ``E[noise] · t(m, s)`` when it compiles, ``E[noise] · (frac(m, s) · t(m, s) + t(m,
baseline))`` when it breaks (the failed attempt plus the fallback). ``oracle(m)`` is the strategy
of least expected cost — it knows every effect, jitter and failure.
"""

from __future__ import annotations

import bisect
import math
import random
from dataclasses import dataclass, field, replace
from typing import Iterator

BASELINE = "baseline"
STRATEGIES: tuple[str, ...] = ("baseline", "no-linters", "no-async", "no-simprocs", "single-thread",
                               "lean-fast", "simp-lean")
CONTEXTS: tuple[str, ...] = ("simp_heavy", "arith", "structural", "definitions", "general")

# Share of the project's modules in each context.
CONTEXT_SHARES: dict[str, float] = {
    "general": 0.30, "definitions": 0.22, "simp_heavy": 0.20, "structural": 0.16, "arith": 0.12,
}
# Base-time scale per context (simp-heavy modules are slower, definition files faster),
# normalised below so that the project's median base time stays ≈ MEDIAN_SECONDS.
_RAW_SCALE = {"simp_heavy": 1.6, "arith": 1.1, "structural": 0.8, "definitions": 0.7, "general": 1.0}
_LOG_NORM = sum(CONTEXT_SHARES[c] * math.log(_RAW_SCALE[c]) for c in CONTEXTS)
CONTEXT_SCALE = {c: _RAW_SCALE[c] / math.exp(_LOG_NORM) for c in CONTEXTS}
MEDIAN_SECONDS = 1.5
SIGMA_LOG_BASE = 1.0

# The true effect of each strategy per context, as a multiplier on compile time (baseline = 1).
# < 1 helps, > 1 hurts. Applied on log-time; each module adds its own jitter (EFFECT_JITTER).
TRUE_SPEED: dict[str, dict[str, float]] = {
    #               no-linters no-async no-simprocs single-thread lean-fast simp-lean
    "simp_heavy":  {"no-linters": 0.93, "no-async": 1.12, "no-simprocs": 0.78, "single-thread": 1.15,
                    "lean-fast": 1.04, "simp-lean": 0.70},
    "arith":       {"no-linters": 0.95, "no-async": 0.86, "no-simprocs": 0.90, "single-thread": 1.06,
                    "lean-fast": 0.80, "simp-lean": 0.86},
    "structural":  {"no-linters": 0.90, "no-async": 0.85, "no-simprocs": 1.00, "single-thread": 0.95,
                    "lean-fast": 0.74, "simp-lean": 0.90},
    "definitions": {"no-linters": 0.78, "no-async": 1.08, "no-simprocs": 1.06, "single-thread": 1.05,
                    "lean-fast": 0.84, "simp-lean": 0.83},
    "general":     {"no-linters": 0.92, "no-async": 1.05, "no-simprocs": 1.02, "single-thread": 0.88,
                    "lean-fast": 0.97, "simp-lean": 0.94},
}
# Share of a context's modules a strategy breaks (the fallback then recompiles under baseline).
BREAK_RATE: dict[str, dict[str, float]] = {
    "arith": {"no-simprocs": 0.45, "simp-lean": 0.45},
    "simp_heavy": {"no-simprocs": 0.05, "simp-lean": 0.05},
}
# Strategies sharing a breakage draw (they turn off the same thing).
_BREAK_GROUP = {"no-simprocs": "simprocs", "simp-lean": "simprocs"}
VARIANTS = ("default", "safe-breaks", "mixed-contexts", "random-effects", "skewed-edits", "alike-kinds",
            "import-heavy")
# `import-heavy`: loading a module's imports takes this many seconds per module of its import
# closure (invented: a 300-module project's closures run to ~140 modules, Mathlib's to thousands),
# and no strategy changes it
IMPORT_SECONDS = 0.02
# the variants whose contexts hold hidden kinds of module (`KINDS`, below)
KIND_VARIANTS = ("mixed-contexts", "random-effects", "skewed-edits", "alike-kinds")
# `safe-breaks`: what each strategy turns off, and so what can break a proof under it
TURNS_OFF: dict[str, tuple[str, ...]] = {
    "no-linters": ("linters",), "no-async": ("async",), "no-simprocs": ("simprocs",),
    "single-thread": (), "lean-fast": ("linters", "async"), "simp-lean": ("linters", "simprocs"),
}
# per seed and context, each thing breaks, with this probability, a share of the context's
# modules drawn uniformly in the range (else none): a #guard_msgs test expecting a linter
# warning; a module relying on asynchronous elaboration; a proof needing a core simproc
SAFE_BREAKS: dict[str, tuple[float, tuple[float, float]]] = {
    "linters": (0.6, (0.02, 0.12)), "async": (0.4, (0.01, 0.08)), "simprocs": (0.5, (0.02, 0.45)),
}
# per seed, every (context, strategy) effect: log-multiplier ~ N(μ, σ²), the multiplier clipped
VARIANT_EFFECT = (-0.08, 0.12, (0.6, 1.3))
FAIL_FRACTION = (0.3, 1.0)      # a failed compile costs this fraction of its time
EFFECT_JITTER = 0.03            # per-(module, strategy) σ on the log-effect
NOISE_SIGMA = 0.1               # log-normal timing noise
OUTLIER_P = 0.03                # share of outlier timings ...
OUTLIER_RANGE = (1.5, 3.0)      # ... multiplied by a factor uniform in this range
NOISE_MEAN = math.exp(NOISE_SIGMA ** 2 / 2) * (1 - OUTLIER_P + OUTLIER_P * sum(OUTLIER_RANGE) / 2)
# A module's lines follow its base time: log lines = log LINES_SCALE + LINES_EXPONENT · log base
# + N(0, LINES_SIGMA²), so lines predict a level up to LINES_SIGMA / LINES_EXPONENT ≈ 0.31.
LINES_SCALE, LINES_EXPONENT, LINES_SIGMA = 90.0, 0.8, 0.25
EDITS_PER_BUILD = (1, 4)
ZIPF_S = 1.1
# `skewed-edits`: a few modules are recompiled far more often than the rest (invented: the top
# module of the hotness ranking draws ~60% of the edits, the top 5 ~90%)
SKEWED_ZIPF_S = 2.0

# Hidden kinds (the `mixed-contexts`, `random-effects` and `skewed-edits` variants): each context
# holds modules of two or three kinds that respond differently to the strategies. A learner sees
# the context, never the kind; the kind shows only in what a real classifier could count in the
# source (`simpulse/context/features.py`): per declaration, a Poisson number of each tactic or
# attribute below. Kind → (share of its context, per-declaration rates, `like`: in
# `mixed-contexts`, the default context whose true effects and break rates the kind takes).
# Every number here is invented, fixed before any learner was tuned on these variants.
KINDS: dict[str, tuple[tuple[str, float, dict[str, float], str], ...]] = {
    "simp_heavy": (("rewrite_lemmas", 0.5, {"simp_attr": 0.8, "dsimp": 0.3}, "simp_heavy"),
                   ("list_induction", 0.3, {"induction": 0.6, "simp_only": 0.8}, "structural"),
                   ("simp_arith", 0.2, {"omega": 0.7, "decide": 0.2}, "arith")),
    "arith": (("omega_goals", 0.6, {"omega": 1.0}, "arith"),
              ("decide_goals", 0.4, {"decide": 0.9, "match": 0.3}, "definitions")),
    "structural": (("induction_proofs", 0.6, {"induction": 0.8, "cases": 0.5}, "structural"),
                   ("match_defs", 0.4, {"match": 0.9}, "general")),
    "definitions": (("plain_defs", 0.6, {"match": 0.4}, "definitions"),
                    ("simp_instances", 0.4, {"simp_attr": 1.0, "dsimp": 0.2}, "simp_heavy")),
    "general": (("misc", 0.5, {"cases": 0.2}, "general"),
                ("case_analysis", 0.3, {"cases": 0.8, "rcases": 0.5, "omega": 0.3}, "arith"),
                ("simp_lemmas", 0.2, {"simp_attr": 0.7, "simp_only": 0.5}, "simp_heavy")),
}
KIND_FEATURES = ("simp_attr", "dsimp", "simp_only", "induction", "cases", "rcases", "match", "omega", "decide")
ALL_KINDS: tuple[str, ...] = tuple(k for c in CONTEXTS for k, *_ in KINDS[c])
KIND_CONTEXT = {k: c for c in CONTEXTS for k, *_ in KINDS[c]}

# Features per context: lines per declaration, simp calls / arithmetic goals / inductives per
# declaration. Features are consistent with the context and grow with the module's base time.
_FEATURES = {
    "simp_heavy":  (14.0, 2.5, 0.3, 0.02),
    "arith":       (11.0, 0.8, 1.5, 0.02),
    "structural":  (8.0, 0.2, 0.1, 0.35),
    "definitions": (5.0, 0.1, 0.05, 0.05),
    "general":     (10.0, 0.5, 0.2, 0.05),
}


@dataclass(frozen=True)
class Module:
    id: int
    name: str
    context: str
    base_seconds: float            # noise-free baseline time (median of its timings)
    imports: tuple[int, ...]
    features: dict = field(hash=False, compare=False, default_factory=dict)
    kind: str = ""                 # the hidden kind (kind variants only; a learner never sees it)


@dataclass(frozen=True)
class CompileRequest:
    index: int        # 0-based position in the stream
    build: int        # 1-based build number
    module: int       # module id
    name: str         # module name (what a learner sees)
    context: str
    features: dict = field(hash=False, compare=False, default_factory=dict)
    version: int = 0  # edits of the module's source before this compile (its source hash, in effect)


@dataclass(frozen=True)
class Outcome:
    seconds: float                  # the chosen strategy's compile (failed or not)
    ok: bool
    fallback_seconds: float | None  # the baseline recompile after a failure
    fallback_ok: bool | None

    @property
    def total(self) -> float:
        return self.seconds + (self.fallback_seconds or 0.0)


def _sub(seed: int, *tags) -> random.Random:
    """An independent, reproducible generator for one purpose of one seed."""
    return random.Random("|".join(["simpulse-workload", str(seed), *map(str, tags)]))


def variant_truth(seed: int) -> tuple[dict[str, dict[str, float]], dict[str, dict[str, float]]]:
    """The `safe-breaks` variant's truth for a seed: (effects per context and strategy, as time
    multipliers; per context, the share of modules each thing a strategy turns off breaks)."""
    return _draw_truth(_sub(seed, "variant-truth"), CONTEXTS)


def _draw_truth(rng: random.Random, keys) -> tuple[dict[str, dict[str, float]], dict[str, dict[str, float]]]:
    """Per key (a context or a hidden kind): each strategy's effect, a time multiplier drawn
    log-normal (`VARIANT_EFFECT`), then the share of modules each thing a strategy turns off
    breaks (`SAFE_BREAKS`), in this order of draws."""
    mu, sd, (lo, hi) = VARIANT_EFFECT
    speed = {k: {s: min(hi, max(lo, math.exp(rng.gauss(mu, sd)))) for s in STRATEGIES if s != BASELINE}
             for k in keys}
    rates: dict[str, dict[str, float]] = {}
    for k in keys:
        rates[k] = {}
        for thing, (p, (a, b)) in SAFE_BREAKS.items():
            hit, r = rng.random(), rng.uniform(a, b)
            rates[k][thing] = r if hit < p else 0.0
    return speed, rates


def _like(variant: str) -> dict[str, str]:
    """Kind → the default context whose effects and break rates it takes: another context's
    (`KINDS`' last field) in `mixed-contexts`, its own in `alike-kinds`."""
    return {k: (c if variant == "alike-kinds" else lk) for c in CONTEXTS for k, _, _, lk in KINDS[c]}


def kind_truth(seed: int, variant: str) -> tuple[dict[str, dict[str, float]], dict[str, dict[str, float]] | None]:
    """The hidden kinds' truth for a seed: (effects per kind and strategy, as time multipliers;
    per kind, the share of modules each thing a strategy turns off breaks — None for
    `mixed-contexts` and `alike-kinds`, whose kinds break as their `like` context does, `BREAK_RATE`).
    `mixed-contexts`: each kind takes the default effects of its `like` context (fixed);
    `alike-kinds`: those of its own context;
    `random-effects`, `skewed-edits`: drawn per seed and kind as `variant_truth` draws them per
    context (`VARIANT_EFFECT`, `SAFE_BREAKS`), so that any strategy can be best or break anywhere."""
    if variant in ("mixed-contexts", "alike-kinds"):
        like = _like(variant)
        return {k: dict(TRUE_SPEED[like[k]]) for k in ALL_KINDS}, None
    return _draw_truth(_sub(seed, "kind-truth"), ALL_KINDS)


def strategy_break_rates(things: dict[str, dict[str, float]]) -> dict[str, dict[str, float]]:
    """Per context and strategy, the share of modules it breaks, from what it turns off
    (independent draws per thing: 1 − Π(1 − rate))."""
    out = {}
    for c, by in things.items():
        out[c] = {}
        for s, offs in TURNS_OFF.items():
            keep = 1.0
            for t in offs:
                keep *= 1.0 - by.get(t, 0.0)
            if keep < 1.0:
                out[c][s] = 1.0 - keep
    return out


class Workload:
    """One simulated project (modules, import DAG, true effects) for a seed."""

    def __init__(self, seed: int = 0, n_modules: int = 300, strategies: tuple[str, ...] = STRATEGIES,
                 speed: dict[str, dict[str, float]] | None = None, stream_seed: int | None = None,
                 level_change: tuple[float, float] | None = None, variant: str = "default"):
        """`speed`: the true effects per context (default `TRUE_SPEED`, or the variant's draw);
        `stream_seed`: the seed of the edits and the timing noise (default `seed`), so that one
        project can be built along several independent histories; `level_change` = (μ, σ): every
        module's base time is multiplied by exp(N(μ, σ²)), its features unchanged — the same
        project under another toolchain, which changes compile times, each module's its own way;
        `variant`: "default" or "safe-breaks" (see the module's docstring)."""
        if n_modules < 1:
            raise ValueError("n_modules must be ≥ 1")
        if variant not in VARIANTS:
            raise ValueError(f"unknown workload variant {variant!r} (known: {', '.join(VARIANTS)})")
        self.seed = seed
        self.variant = variant
        self.stream_seed = seed if stream_seed is None else stream_seed
        things = None
        self.has_kinds = variant in KIND_VARIANTS
        if variant == "safe-breaks":
            drawn, things = variant_truth(seed)
            speed = drawn if speed is None else speed
            self.break_rate = strategy_break_rates(things)
        elif self.has_kinds:
            drawn, things = kind_truth(seed, variant)
            speed = drawn if speed is None else speed
            like = _like(variant)
            self.break_rate = (strategy_break_rates(things) if things is not None
                               else {k: dict(BREAK_RATE.get(like[k], {})) for k in ALL_KINDS})
        else:
            self.break_rate = BREAK_RATE
        speed = TRUE_SPEED if speed is None else speed
        self.speed = speed
        self.thing_rates = things
        self.strategies = tuple(strategies)
        if self.strategies[0] != BASELINE:
            raise ValueError("the first strategy must be the baseline")
        rng = _sub(seed, "project")
        ctx_names = list(CONTEXT_SHARES)
        ctx_weights = [CONTEXT_SHARES[c] for c in ctx_names]
        modules: list[Module] = []
        counters = {c: 0 for c in CONTEXTS}
        lrng = _sub(seed, "level-change")
        krng = _sub(seed, "kinds")        # kind variants only: the default's draws are untouched
        for i in range(n_modules):
            ctx = rng.choices(ctx_names, ctx_weights)[0]
            counters[ctx] += 1
            base = MEDIAN_SECONDS * CONTEXT_SCALE[ctx] * math.exp(rng.gauss(0.0, SIGMA_LOG_BASE))
            k = min(i, rng.randint(0, 3))
            imports: set[int] = set()
            while len(imports) < k:
                if rng.random() < 0.7:
                    imports.add(rng.randrange(max(0, i - 30), i))
                else:
                    imports.add(rng.randrange(0, i))
            name = f"Sim.{_camel(ctx)}.M{i:03d}"
            features = _features(rng, ctx, base, len(imports))
            kind = ""
            if self.has_kinds:
                kinds = KINDS[ctx]
                kind, _, rates, _ = krng.choices(kinds, [k[1] for k in kinds])[0]
                for key in KIND_FEATURES:
                    features[key] = _poisson(krng, features["declarations"] * rates.get(key, 0.0))
            if level_change is not None:
                base *= math.exp(lrng.gauss(*level_change))
            modules.append(Module(i, name, ctx, base, tuple(sorted(imports)), features, kind))
        # `import-heavy`: each module's time is its own work (what its features describe, what
        # the strategies act on) plus loading its import closure (what no feature but the
        # direct import count hints at, and no strategy changes)
        self.import_seconds = [0.0] * n_modules
        if variant == "import-heavy":
            closures: list[set[int]] = []
            for m in modules:
                c: set[int] = set()
                for j in m.imports:
                    c.add(j)
                    c |= closures[j]
                closures.append(c)
                self.import_seconds[m.id] = IMPORT_SECONDS * len(c)
                m.features["import_closure"] = len(c)      # what Lake knows of it (the learner reads no such feature)
            modules = [replace(m, base_seconds=m.base_seconds + self.import_seconds[m.id]) for m in modules]
        self.modules: tuple[Module, ...] = tuple(modules)
        self.n_modules = n_modules
        # dependents (reverse edges)
        deps: list[list[int]] = [[] for _ in range(n_modules)]
        for m in modules:
            for j in m.imports:
                deps[j].append(m.id)
        self.dependents: tuple[tuple[int, ...], ...] = tuple(tuple(d) for d in deps)
        # true per-module log-effects, breakage, failure fractions
        erng = _sub(seed, "effects")
        brng = _sub(seed, "variant-breaks")
        self._log_effect: list[list[float]] = []
        self._breaks: list[list[bool]] = []
        self._fail_frac: list[list[float]] = []
        for m in modules:
            eff, brk, frac = [], [], []
            group_draw: dict[str, float] = {}
            for s in self.strategies:
                if s == BASELINE:
                    eff.append(0.0)
                    brk.append(False)
                    frac.append(0.0)
                    continue
                mult = speed.get(m.kind or m.context, {}).get(s, 1.0)
                e = math.log(mult) + erng.gauss(0.0, EFFECT_JITTER)
                imp = self.import_seconds[m.id]
                if imp > 0:          # the effect acts on the module's own work only
                    own = m.base_seconds - imp
                    e = math.log((own * math.exp(e) + imp) / m.base_seconds)
                eff.append(e)
                g = _BREAK_GROUP.get(s, s)
                if g not in group_draw:
                    group_draw[g] = erng.random()
                rate_of = self.break_rate if m.kind else BREAK_RATE
                brk.append(group_draw[g] < rate_of.get(m.kind or m.context, {}).get(s, 0.0))
                frac.append(erng.uniform(*FAIL_FRACTION))
            if things is not None:
                # the variant: a module breaks under a strategy iff one of the things it turns
                # off breaks it (one draw per (module, thing))
                u = {t: brng.random() for t in SAFE_BREAKS}
                brk = [any(u[t] < things[m.kind or m.context][t] for t in TURNS_OFF.get(s, ())) for s in self.strategies]
            self._log_effect.append(eff)
            self._breaks.append(brk)
            self._fail_frac.append(frac)
        self._sidx = {s: i for i, s in enumerate(self.strategies)}
        self._cost = [[self._compute_cost(m.id, k) for k in range(len(self.strategies))]
                      for m in modules]
        self._oracle = [min(range(len(self.strategies)), key=lambda k: (row[k], k)) for row in self._cost]
        # edit hotness: a fixed random ranking (Zipf weights by rank), biased towards modules
        # with few dependents — leaf files are edited more often than foundations: a weighted
        # random permutation (Efraimidis–Spirakis) with weight 1/√(size of the rebuild it causes).
        hrng = _sub(seed, "hotness")
        closure = [len(self.affected([m])) for m in range(n_modules)]
        keys = [hrng.random() ** math.sqrt(closure[m]) for m in range(n_modules)]
        ranking = sorted(range(n_modules), key=lambda m: -keys[m])
        self.hot_ranking: tuple[int, ...] = tuple(ranking)
        cum, acc = [], 0.0
        zipf = SKEWED_ZIPF_S if variant == "skewed-edits" else ZIPF_S
        for r in range(n_modules):
            acc += 1.0 / (r + 1) ** zipf
            cum.append(acc)
        self._hot_cum = cum

    # -- truth ---------------------------------------------------------------------------
    def strategy_index(self, strategy: str) -> int:
        return self._sidx[strategy]

    def log_effect(self, module: int, strategy: str) -> float:
        return self._log_effect[module][self._sidx[strategy]]

    def breaks(self, module: int, strategy: str) -> bool:
        return self._breaks[module][self._sidx[strategy]]

    def break_group(self, strategy: str) -> str:
        """Strategies of one group break the same modules: the default workload's two that
        turn simprocs off; in the variant, those that turn off the same things."""
        if self.thing_rates is not None:
            return "+".join(TURNS_OFF.get(strategy, ())) or strategy
        return _BREAK_GROUP.get(strategy, strategy)

    def group(self, module: int) -> str:
        """What the truth is keyed by: the module's hidden kind in the kind variants, else its
        context (what the benchmark's competitors and references are told)."""
        m = self.modules[module]
        return m.kind or m.context

    def groups(self) -> tuple[str, ...]:
        return ALL_KINDS if self.has_kinds else CONTEXTS

    def group_multiplier(self, group: str, strategy: str) -> float:
        """`context_expected_multiplier` of a group (`group`): a kind, or a context."""
        return context_expected_multiplier(group, strategy, self.speed, self.break_rate)

    def context_multiplier(self, context: str, strategy: str) -> float:
        """`context_expected_multiplier` under this workload's effects and break rates."""
        return context_expected_multiplier(context, strategy, self.speed, self.break_rate)

    def effect_table_markdown(self) -> str:
        if self.has_kinds:
            return effect_table_markdown(self.speed, self.break_rate, rows=ALL_KINDS)
        return effect_table_markdown(self.speed, self.break_rate)

    def fail_fraction(self, module: int, strategy: str) -> float:
        return self._fail_frac[module][self._sidx[strategy]]

    def expected_time(self, module: int, strategy: str) -> float:
        """Noise-free time of one compile attempt (without a fallback), in seconds."""
        return self.modules[module].base_seconds * math.exp(self.log_effect(module, strategy))

    def _compute_cost(self, module: int, k: int) -> float:
        base = self.modules[module].base_seconds
        t = base * math.exp(self._log_effect[module][k])
        if self._breaks[module][k]:
            return NOISE_MEAN * (self._fail_frac[module][k] * t + base)
        return NOISE_MEAN * t

    def expected_cost(self, module: int, strategy: str) -> float:
        """Mean cost over the timing noise of compiling `module` under `strategy`, including a
        failed attempt and the baseline fallback when the strategy breaks the module."""
        return self._cost[module][self._sidx[strategy]]

    def expected_costs(self, module: int) -> list[float]:
        """Expected cost of every strategy (in `self.strategies` order)."""
        return list(self._cost[module])

    def oracle(self, module: int) -> str:
        """The strategy of least expected cost for the module, knowing everything."""
        return self.strategies[self._oracle[module]]

    # -- builds ----------------------------------------------------------------------------
    def affected(self, edited) -> list[int]:
        """The edited modules and all their transitive dependents, in topological order."""
        seen = set()
        stack = list(edited)
        while stack:
            m = stack.pop()
            if m in seen:
                continue
            seen.add(m)
            stack.extend(self.dependents[m])
        return sorted(seen)

    def _pick_edits(self, rng: random.Random) -> list[int]:
        k = min(self.n_modules, rng.randint(*EDITS_PER_BUILD))
        edits: set[int] = set()
        total = self._hot_cum[-1]
        while len(edits) < k:
            r = bisect.bisect_left(self._hot_cum, rng.random() * total)
            edits.add(self.hot_ranking[min(r, self.n_modules - 1)])
        return sorted(edits)

    def builds(self) -> Iterator[tuple[int, list[int], list[int]]]:
        """Endless (build number, edited modules, modules compiled) — build 1 compiles everything."""
        yield 1, [], list(range(self.n_modules))
        rng = _sub(self.stream_seed, "edits")
        b = 1
        while True:
            b += 1
            edits = self._pick_edits(rng)
            yield b, edits, self.affected(edits)

    def stream(self, n_compiles: int) -> Iterator[CompileRequest]:
        """The first `n_compiles` compile requests of the edit/rebuild sequence."""
        i = 0
        if n_compiles <= 0:
            return
        version = [0] * self.n_modules
        for b, edits, compiled in self.builds():
            for mid in edits:
                version[mid] += 1
            for mid in compiled:
                m = self.modules[mid]
                yield CompileRequest(i, b, mid, m.name, m.context, dict(m.features), version[mid])
                i += 1
                if i >= n_compiles:
                    return

    # -- timings -----------------------------------------------------------------------------
    def noise(self, n_compiles: int) -> list[list[float]]:
        """Pre-drawn noise factors, one per (compile index, strategy)."""
        rng = _sub(self.stream_seed, "noise")
        out = []
        for _ in range(n_compiles):
            row = []
            for _s in self.strategies:
                f = math.exp(rng.gauss(0.0, NOISE_SIGMA))
                if rng.random() < OUTLIER_P:
                    f *= rng.uniform(*OUTLIER_RANGE)
                row.append(f)
            out.append(row)
        return out

    def outcome(self, module: int, strategy: str, noise_row: list[float]) -> Outcome:
        """What compiling `module` under `strategy` measures, given the compile's noise row."""
        k = self._sidx[strategy]
        base = self.modules[module].base_seconds
        t = base * math.exp(self._log_effect[module][k]) * noise_row[k]
        if self._breaks[module][k]:
            return Outcome(self._fail_frac[module][k] * t, False, base * noise_row[0], True)
        return Outcome(t, True, None, None)

    # -- description ---------------------------------------------------------------------------
    def summary(self) -> dict:
        by_ctx = {c: [m for m in self.modules if m.context == c] for c in CONTEXTS}
        times = sorted(m.base_seconds for m in self.modules)
        return {
            "modules": self.n_modules,
            "median_base_seconds": times[len(times) // 2],
            "total_base_seconds": sum(times),
            "contexts": {c: len(v) for c, v in by_ctx.items()},
            "oracle_choices": {s: sum(1 for m in self.modules if self.oracle(m.id) == s)
                               for s in self.strategies},
        }


def stream(seed: int, n_compiles: int, n_modules: int = 300) -> Iterator[CompileRequest]:
    """The compile requests of `Workload(seed, n_modules)` until `n_compiles` compiles."""
    return Workload(seed, n_modules).stream(n_compiles)


def effect_table_markdown(speed: dict | None = None, break_rate: dict | None = None,
                          rows: tuple[str, ...] | None = None) -> str:
    """The true-effect table (time multipliers; breakage rates) as markdown; in bold the
    strategy of least expected cost in the context (failures included). Default: the
    default workload's (`TRUE_SPEED`, `BREAK_RATE`)."""
    speed = TRUE_SPEED if speed is None else speed
    break_rate = BREAK_RATE if break_rate is None else break_rate
    strategies = [s for s in STRATEGIES if s != BASELINE]
    head = "| context (share) | " + " | ".join(strategies) + " |"
    sep = "|---|" + "---:|" * len(strategies)
    out = [head, sep]
    for c in rows or CONTEXTS:
        cells = []
        best = min(strategies, key=lambda s: context_expected_multiplier(c, s, speed, break_rate))
        for s in strategies:
            cell = f"{speed[c][s]:.2f}"
            br = break_rate.get(c, {}).get(s)
            if br:
                cell += f" (breaks {br:.0%})"
            if s == best:
                cell = f"**{cell}**"
            cells.append(cell)
        label = (f"{c} ({CONTEXT_SHARES[c]:.0%})" if c in CONTEXT_SHARES
                 else f"{KIND_CONTEXT[c]} / {c}")
        out.append(f"| {label} | " + " | ".join(cells) + " |")
    return "\n".join(out)


def context_expected_multiplier(context: str, strategy: str, speed: dict | None = None,
                                break_rate: dict | None = None) -> float:
    """A strategy's expected cost in a context relative to baseline (no jitter), counting its
    failures at the mean failed fraction plus the fallback (default: the default workload's
    effects and break rates)."""
    if strategy == BASELINE:
        return 1.0
    m = (TRUE_SPEED if speed is None else speed)[context][strategy]
    br = (BREAK_RATE if break_rate is None else break_rate).get(context, {}).get(strategy, 0.0)
    return (1 - br) * m + br * (sum(FAIL_FRACTION) / 2 * m + 1.0)


def _camel(ctx: str) -> str:
    return "".join(p.capitalize() for p in ctx.split("_"))


def _poisson(rng: random.Random, lam: float) -> int:
    if lam <= 0:
        return 0
    if lam > 30:
        return max(0, int(round(rng.gauss(lam, math.sqrt(lam)))))
    L, k, p = math.exp(-lam), 0, 1.0
    while True:
        p *= rng.random()
        if p <= L:
            return k
        k += 1


def _features(rng: random.Random, ctx: str, base: float, n_imports: int) -> dict:
    lines_per_decl, simp_rate, arith_rate, ind_rate = _FEATURES[ctx]
    lines = max(5, int(round(LINES_SCALE * base ** LINES_EXPONENT * math.exp(rng.gauss(0.0, LINES_SIGMA)))))
    decls = max(1, int(round(lines / lines_per_decl * math.exp(rng.gauss(0.0, 0.15)))))
    return {
        "lines": lines,
        "declarations": decls,
        "theorems": _poisson(rng, decls * (0.7 if ctx in ("simp_heavy", "arith") else 0.3)),
        "simp": _poisson(rng, decls * simp_rate),
        "arith": _poisson(rng, decls * arith_rate),
        "inductives": _poisson(rng, decls * ind_rate),
        "imports": n_imports,
    }
