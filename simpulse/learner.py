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
import time

from simpulse._record import Record
from simpulse.errors import SimpulseError
from simpulse.model import parts, similar
from simpulse.policy import joint as J
from simpulse.policy import posterior as P
from simpulse.policy import rng as R
from simpulse.policy.policies import POLICIES, ArmView, Situation, greedy
from simpulse.strategy.catalogue import BASELINE, Catalogue, Strategy

from simpulse.model.tunables import (  # noqa: F401 - re-exported: the learner's API
    EXPLORE_BUDGET,
    PLAUSIBLE_SECONDS,
    BETA_PRIOR,
    BREAKING,
    BREAKING_LAPSE,
    BREAK_COST,
    BREAK_PRIOR,
    CARRY_MIN,
    CONFIDENT,
    COOLDOWN,
    DEBIAS_REFRESH,
    EVIDENCE_FLOOR,
    FLOOR_AFTER,
    FLOOR_COST,
    IMPORT_EVEN,
    IMPORT_POOL,
    IMPORT_TRUST,
    MODES,
    MODULE_MEMORY,
    OUTLIER_CLIP,
    POOLED,
    PREDICTION_REFRESH,
    RECENT,
    REG_MIN,
    REG_RIDGE,
    SAFE_BREAK_PRIOR,
    SCHEMA,
    SECONDARY,
    SHARE_KAPPA,
    SLOWER,
    TEMPERATURE_RANGE,
    TOOLCHAIN_CAP,
    TOOLCHAIN_DISCOUNT,
)
from simpulse.model.records import (  # noqa: F401 - re-exported: the learner's API
    validate_stats,
    _arm,
    _block,
    _new_counters,
    _put_module,
    _tc,
    earlier_toolchain,
    empty_stats,
    module_record,
)
from simpulse.model.levels import (  # noqa: F401 - re-exported: the learner's API
    CLOSURE,
    DIMENSION,
    _prediction_weight,
    _reg_add,
    _solve,
    _weightier,
    carried_level,
    carry_fit,
    feature_vector,
    with_closure,
    level_prior,
    noise_var,
    predicted_level,
    regression_fit,
)
from simpulse.model.contributions import (  # noqa: F401 - re-exported: the learner's API
    _contribute,
    _delta_hat,
    _evidence_block,
    _joint_add,
    _joint_apply,
    _joint_cells,
    _joint_remove,
    _level,
    _observe_module,
    _pseudo,
    _refresh_predictions,
    beta_prior,
    carry_level,
    importance_weight,
    joint_of,
    module_level,
    on_strategies,
    relative_cost,
    share_strength,
)
from simpulse.model.imports import (  # noqa: F401 - re-exported: the learner's API
    _fold_import,
    _merge_share,
    import_odds,
    own_arms,
    without_import,
)
from simpulse.model.fold import (  # noqa: F401 - re-exported: the learner's API
    _age_failures,
    _push_recent,
    _remember_source,
    fold,
)
from simpulse.policy.decide import (  # noqa: F401 - re-exported: the learner's API
    DecisionRules,
    _below_evidence_floor,
    prob_rate_above,
)

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


class Learner(DecisionRules):
    def __init__(self, state_dir=None, *, policy: str = "thompson",
                 seed: int | None = None, mode: str = "auto", toolchain: str = "unknown",
                 catalogue: Catalogue | None = None, explore_budget: float = EXPLORE_BUDGET,
                 store=None, fsync: bool = True, exclude: dict[str, set[str]] | None = None):
        """`exclude`: context → names of the strategies ruled out there (by the profile and
        what `simpulse verify` observed); never offered in that context nor in any part of it.
        The baseline never is."""
        if policy not in POLICIES:
            raise SimpulseError(f"unknown policy {policy!r} (known: {', '.join(POLICIES)})")
        if mode not in MODES:
            raise SimpulseError(f"unknown mode {mode!r} (known: {', '.join(MODES)})")
        self.policy_name = policy
        self.policy = POLICIES[policy]()
        self.mode = mode
        self.toolchain = toolchain or "unknown"
        self.catalogue = catalogue or Catalogue()
        self.rng = R.make(seed)
        self.explore_budget = explore_budget
        self.store = store
        if self.store is None and state_dir is not None:
            from simpulse.store.store import Store
            self.store = Store(os.fspath(state_dir), fsync=fsync)
        self._stats: dict | None = None
        # kept per context: what `simpulse verify` saw in a part holds in the whole context (`excluded_in`)
        self.exclude: dict[str, frozenset[str]] = {}
        for c, v in (exclude or {}).items():
            key = parts.parent(str(c))
            self.exclude[key] = self.exclude.get(key, frozenset()) | (frozenset(v) - {BASELINE})

    # -- state --------------------------------------------------------------------------
    @property
    def stats(self) -> dict:
        if self._stats is None:
            if self.store is None:
                self._stats = empty_stats()
            else:
                self._stats, _ = self.store.load(fold, empty_stats(), validate=validate_stats)
        return self._stats

    def reload(self) -> None:
        """Drop the statistics (the next use loads them again) and what was derived from them:
        the similarity index (`model/similar.py`) describes the statistics dropped."""
        self._stats = None
        self.__dict__.pop("_similar", None)

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
        own_block, own_table = without_import(block, tc, ctx)
        own = J.joint(own_block, names, prior, breakage=lambda: self._breakage(ctx, tc, own_block, own_table))
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
            if others[P.W] > 1e-9:
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
            if old is None or old[P.W] <= 1e-9:
                return None
            return old[P.S1] / old[P.W], old[P.W]
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

    def summary(self, ctx: str) -> list[ArmSummary]:
        out = []
        tc, _ = self._tc_chain()
        for s in self.catalogue.active:
            arm = (tc["arms"].get(ctx, {}).get(s.name) if tc else None) or P.new_arm()
            if s.is_baseline:
                out.append(ArmSummary(s.name, int(arm[P.N]), int(arm[P.FAILS]), 0.0, (0.0, 0.0), 0.5, None))
                continue
            post = self.arm_posterior(ctx, s)
            out.append(ArmSummary(s.name, int(arm[P.N]), int(arm[P.FAILS]), post.mu, post.interval(),
                                  post.prob_below(0.0), self.suspension(ctx, s.name)))
        return out

    def contexts(self) -> list[str]:
        tc, _ = self._tc_chain()
        return sorted(tc["arms"]) if tc else []

    # -- queries: named views of the statistics for code outside the model ----------------
    # (`simpulse.model.schema`; commands and tests read the state through these, never by
    # indexing an arm or spelling a record key)
    def arm(self, ctx: str, strategy: str, *, toolchain: str | None = None):
        """`strategy`'s own statistics in `ctx` under this toolchain (or `toolchain`), zero
        when it has none: an `ArmStats`."""
        from simpulse.model.schema import ArmStats
        tc = self.stats["toolchains"].get(toolchain or self.toolchain)
        return ArmStats.of(tc["arms"].get(ctx, {}).get(strategy) if tc else None)

    def strategy_totals(self, strategy: str):
        """`strategy`'s statistics summed over every context of this toolchain: an `ArmStats`."""
        from simpulse.model.schema import ArmStats
        tc = self.stats["toolchains"].get(self.toolchain)
        return ArmStats.of(tc["glob"].get(strategy) if tc else None)

    def pulls_by_strategy(self, *, toolchain: str | None = None) -> dict[str, int]:
        """Compiles per strategy under this toolchain (or `toolchain`), summed over contexts."""
        from simpulse.model.schema import ArmStats
        tc = self.stats["toolchains"].get(toolchain or self.toolchain) or {}
        out: dict[str, int] = {}
        for arms in tc.get("arms", {}).values():
            for name, a in arms.items():
                out[name] = out.get(name, 0) + ArmStats.of(a).pulls
        return out

    def module(self, module: str, *, toolchain: str | None = None):
        """What is known of `module` under this toolchain (or `toolchain`): a `ModuleView`, or
        None if it was never compiled under it."""
        from simpulse.model.schema import ModuleView
        tc = self.stats["toolchains"].get(toolchain or self.toolchain)
        rec = module_record(tc, module) if tc else None
        return ModuleView.of(module, rec) if rec is not None else None

    def toolchain_view(self, githash: str | None = None):
        """A toolchain's statistics in outline (`ToolchainView`), None if it has none."""
        from simpulse.model.schema import ToolchainView
        name = githash or self.toolchain
        tc = self.stats["toolchains"].get(name)
        return ToolchainView.of(name, tc) if tc is not None else None

    def toolchains(self) -> list[str]:
        """The toolchains the state holds statistics for, oldest first (the newest last)."""
        return list(self.stats["order"])

    def earlier_toolchain(self) -> str | None:
        """The newest toolchain other than this one: what a toolchain change carries over."""
        return next((n for n in reversed(self.stats["order"]) if n != self.toolchain), None)

    def counters(self) -> dict:
        """The state's counters since the last `stats --zero` (a copy): compiles, explore,
        strategy_failed, module_failed, slower, faster, seconds, … (docs/state-format.md)."""
        return dict(self.stats["counters"])

    def classify(self, module: str, source: bytes | str | None, path: str | None = None) -> tuple[str, dict, str]:
        """(context, features, source hash) of the module, as `choose` classifies it: an
        unchanged source keeps the context it was compiled in."""
        return self._classify(self.stats["toolchains"].get(self.toolchain), module, source, path)

    def has_imports(self) -> bool:
        """Whether any toolchain's statistics hold evidence imported from another project."""
        return any(tc.get("imp") for tc in self.stats["toolchains"].values())

    # -- the API ------------------------------------------------------------------------
    def choose(self, *, module: str, source: bytes | str | None = None, path: str | None = None,
               context: str | None = None, features: dict | None = None,
               source_hash: str | None = None, closure: int | None = None) -> Decision:
        """`source_hash`: the hash of the module's source when the caller classified it itself
        (`context` given); computed from `source` otherwise. `closure`: how many modules the
        compile's imports load, where Lake says (`leanargs.import_closure`): a feature of the
        compile, not of the source."""
        tc, prev = self._tc_chain()
        if context is None:
            context, features, source_hash = self._classify(tc, module, source, path)
        features = features or {}
        if closure is not None:
            features = {**features, CLOSURE: closure}
        mod = module_record(tc, module) if tc else None
        context = self._part(context, mod, features)
        ctx_pulls = sum(int(a[P.N]) for a in (tc["arms"].get(context, {}).values() if tc else []))
        joint, own, p_import, import_bf = self.models(context)
        with_import = joint
        if own is not None and p_import < IMPORT_EVEN:
            joint = own
        if tc is not None and prev is not None and not (mod and "o" in mod):
            # a module this toolchain has not compiled yet: its level under the earlier one
            probe = dict(mod) if mod else {"s": {}, "c": {}}
            carry_level(self.stats, self.toolchain, module, probe)
            mod = probe if "o" in probe else mod
        x = feature_vector(features)
        if x is None:
            x = with_closure(mod.get("x"), features) if mod else None
        elif len(x) < DIMENSION and mod and isinstance(mod.get("x"), list) and len(mod["x"]) >= DIMENSION:
            x = x + [float(mod["x"][DIMENSION - 1])]     # no closure given (`recommend`): the last one seen
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
        joint = similar.adjust(self, tc, context, module, features, mod, joint)   # the module's neighbours
        views = []
        posts: dict[str, P.Posterior] = {}
        for s in candidates:
            arm = tc["arms"].get(context, {}).get(s.name) if tc else None
            pulls = (int(arm[P.WINS]) if arm else 0, int(arm[P.N]) if arm else 0)
            if s.is_baseline:
                views.append(ArmView(s.name, None, *pulls))
                continue
            post = joint.marginal(s.name)
            posts[s.name] = post
            views.append(ArmView(s.name, post, *pulls))
        best = greedy(views)
        picked = self.policy.select(Situation(
            views, self.rng, ctx_pulls, features=x, temperature=temperature, joint=joint,
            linear_stats=tc.get("lin", {}).get(context, {}) if tc is not None else {}))
        floor = self._evidence_floor(tc, context, mod, rel, ctx_pulls, views)
        if floor is not None:
            picked = floor
        # Exploring: picking an arm the posterior means say is worse than the best one.
        explore = views[picked].mean > views[best].mean + 1e-12
        reason = (f"evidence floor: {views[floor].name} has less than {EVIDENCE_FLOOR:g} compiles' worth of "
                  f"evidence here; tried on a module under {FLOOR_COST:.0%} of the typical cost") if floor is not None else ""
        if explore and self.mode == "auto" and self._budget_spent(tc, ctx_pulls, len(views)):
            picked, explore = best, False
            reason = f"exploration budget ({self.explore_budget:.0%}) spent: exploiting"
        chosen, explore, reason, recommended = self._apply_mode(candidates, picked, best, posts, explore, reason)
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
            n = int(tc["arms"].get(context, {}).get(chosen.name, P.new_arm())[P.N]) if tc else 0
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

    def part(self, context: str, module: str | None = None, features: dict | None = None) -> str:
        """The part of `context` (`model/parts.py`) the module compiles in now: `context` itself
        where the context has not split."""
        tc, _ = self._tc_chain()
        return self._part(context, module_record(tc, module) if tc and module else None, features or {})

    def _part(self, context: str, mod: dict | None, features: dict) -> str:
        return parts.assign(self.stats, context, similar.signature(features), mod, features.get("declarations"))

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
        similar.observed(self, decision)
        return event

    def record_event(self, event: dict) -> None:
        """Append an event (compile, record, bench, reset) and fold it into the statistics.
        (The store checkpoints the statistics itself when a load had a long tail to fold.)
        With the statistics not loaded (the shim drops them once it has decided), the event is
        only appended: the next load folds it from the log."""
        if self.store is None:
            fold(self.stats, event)
            return
        self.store.append(event)
        if self._stats is not None:
            fold(self._stats, event)
