"""The decision's rules beside the policy's pick: which strategies are candidates for a module
(active, not excluded, not suspended, not known to break it), when a strategy is suspended, the
evidence floor, the exploration budget and the modes. Standard library only."""

from __future__ import annotations

import math

from simpulse.model.contributions import _evidence_block
from simpulse.model.imports import own_arms
from simpulse.model import parts, similar
from simpulse.model.records import module_record
from simpulse.model.tunables import (
    BREAK_COST,
    BREAK_PRIOR,
    BREAKING,
    BREAKING_LAPSE,
    CONFIDENT,
    COOLDOWN,
    EVIDENCE_FLOOR,
    FLOOR_AFTER,
    FLOOR_COST,
    RECENT,
    SAFE_BREAK_PRIOR,
    SLOWER,
    TOOLCHAIN_CAP,
    TOOLCHAIN_DISCOUNT,
)
from simpulse.policy import joint as J
from simpulse.policy import posterior as P
from simpulse.policy.policies import ArmView, greedy
from simpulse.strategy.catalogue import BASELINE, Strategy



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


class DecisionRules:
    """The rules of a decision beside the policy's pick, as methods of the `Learner` (they read
    its statistics, catalogue and exclusions): candidates, breakage, suspensions, failure memory,
    the evidence floor, the exploration budget and the modes."""

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
            gn = sum(arms[o][P.N] for o in group if o in arms)
            a0, b0 = BREAK_PRIOR if s.may_break else SAFE_BREAK_PRIOR
            a, b = a0 + gf, b0 + max(0, gn - gf)
            old_n = max(old_f, sum(prev_arms[o][P.N] for o in group if o in prev_arms))
            if old_n > 0:
                w = min(TOOLCHAIN_DISCOUNT, TOOLCHAIN_CAP / old_n)
                a, b = a + w * old_f, b + w * (old_n - old_f)
            c = math.exp(r_sum / f) if f else BREAK_COST
            out[s.name] = (a, b, c)
        return out

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
            n = sum(arms[g][P.N] for g in group if g in arms)
            fails = sum(arms[g][P.FAILS] for g in group if g in arms)
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

    def excluded_in(self, context: str) -> frozenset[str]:
        """The strategies ruled out in `context` (`Learner`'s `exclude`, kept per context: what
        `simpulse verify` saw in a context, or in any part of it, holds in every part of it)."""
        return self.exclude.get(parts.parent(context), frozenset())

    def _candidates(self, context: str, module: str | None, source_hash: str | None, joint: J.Joint):
        """(strategies the policy may pick for the module, strategies suspended in the context):
        active, not excluded in the context, not suspended, and not known to break this version
        of the module."""
        broke_here = self.known_failures(module, source_hash) if module else set()
        excluded = self.excluded_in(context)
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

    def exploit(self, context: str, module: str | None = None, source_hash: str | None = None,
                features: dict | None = None, *, part: str | None = None) -> str:
        """The strategy the posterior means say is best for the module now — what `choose`
        runs when it does not explore. No randomness, nothing recorded. `context`: the
        module's context; its part (`Learner.part`) is found here unless the caller found it
        already (`part`)."""
        context = part if part is not None else self.part(context, module, features)
        joint = self.joint_posterior(context)
        candidates, _ = self._candidates(context, module, source_hash, joint)
        if module:
            tc, _ = self._tc_chain()
            mod = module_record(tc, module) if tc else None
            joint = similar.adjust(self, tc, context, module, features, mod, joint)
        views = [ArmView(s.name, None if s.is_baseline else joint.marginal(s.name)) for s in candidates]
        return candidates[greedy(views)].name

    def _evidence_floor(self, tc, context: str, mod, rel: float, ctx_pulls: int, views: list) -> int | None:
        """The evidence floor: a strategy the context knows too little about is compiled on a
        cheap module with history (a paired comparison), so that a couple of unlucky first
        compiles cannot starve it for good. The index of that arm in `views`, or None."""
        if self.mode == "auto" and mod and mod.get("s") and rel < FLOOR_COST and ctx_pulls >= FLOOR_AFTER:
            return _below_evidence_floor(_evidence_block(tc, context), views)
        return None

    def _budget_spent(self, tc, ctx_pulls: int, n_arms: int) -> bool:
        """Has this toolchain's exploration used up its share of the compiles (`explore_budget`,
        counted after 20 compiles)? A context still under-explored may explore regardless."""
        done, total = (tc["explore"] if tc else (0, 0))
        under_explored = ctx_pulls < 3 * n_arms
        return total >= 20 and done / total > self.explore_budget and not under_explored

    def _apply_mode(self, candidates: list, picked: int, best: int, posts: dict, explore: bool, reason: str):
        """The mode's last word on the pick: `shadow` compiles the baseline (and records what auto
        would have run), `confident` runs only a leader with P(beats baseline) ≥ CONFIDENT.
        Returns (strategy, explore, reason, recommended)."""
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
        return chosen, explore, reason, recommended
