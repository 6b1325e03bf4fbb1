"""The learner: fixed-seed behaviour of the posterior, safety layer, priors, sharing, modes."""

import math
import random
from collections import Counter

import pytest

from simpulse.model import contributions

from simpulse.errors import SimpulseError
from simpulse.learner import Learner, empty_stats, fold, module_record
from simpulse.strategy.catalogue import BUILTIN, Catalogue, Strategy

TRUE = {"baseline": 0.0, "no-linters": -0.10, "no-async": 0.05, "no-simprocs": -0.20,
        "single-thread": 0.03, "lean-fast": -0.05, "simp-lean": -0.30}


@pytest.fixture(autouse=True)
def _seven_strategies(monkeypatch):
    """The effect tables here (TRUE) cover the seven strategies of the learning workload, and the
    fixed-seed tolerances were set for them: a Learner built without a catalogue gets those
    seven. (The thread-budget strategies, `threads-2` and `threads-half`, have no effect in these
    tables; test_objective.py and test_profiles.py test them.)"""
    from simpulse import learner as L
    real = L.Catalogue
    monkeypatch.setattr(L, "Catalogue", lambda *a, **kw: real(*a, **kw) if (a or kw) else real(enabled=list(TRUE)))


def run(learner, rounds, *, effects=TRUE, ctx="simp_heavy", n_modules=40, seed=1, breaks=()):
    rng = random.Random(seed)
    levels = {f"M{i}": rng.gauss(0.5, 1.0) for i in range(n_modules)}
    for _ in range(rounds):
        for m, mu in levels.items():
            d = learner.choose(module=m, context=ctx, features={})
            t = math.exp(mu + effects[d.strategy.name] + rng.gauss(0, 0.1))
            if d.strategy.name in breaks:
                learner.observe(d, seconds=t * 0.5, ok=False, fallback_seconds=math.exp(mu), fallback_ok=True,
                                error="A.lean:1:0: unsolved goals")
            else:
                learner.observe(d, seconds=t)
    return learner


def by_name(learner, ctx="simp_heavy"):
    return {a.strategy: a for a in learner.summary(ctx)}


def test_posterior_finds_the_true_best_strategy():
    lrn = run(Learner(None, seed=7), 10)
    arms = by_name(lrn)
    best = min(arms.values(), key=lambda a: a.mean)
    assert best.strategy == "simp-lean"
    assert abs(best.mean - TRUE["simp-lean"]) < 0.07
    assert best.ci[1] < 0 and best.speedup_ci[0] > 1.0      # a claimed speedup's CI excludes 1
    assert best.prob_better > 0.99
    assert best.pulls > 0.6 * 400                            # later compiles exploit it


def test_interval_coverage_over_seeds():
    """The 95% interval of the leading strategy covers the true effect in most of 20 seeds
    (tolerance: ≥ 16/20; shrinkage towards the prior makes it a little conservative-biased)."""
    found = covered = 0
    for seed in range(20):
        lrn = run(Learner(None, seed=seed), 6, seed=100 + seed)
        best = min(by_name(lrn).values(), key=lambda a: a.mean)
        found += best.strategy == "simp-lean"
        a = by_name(lrn)["simp-lean"]
        covered += a.ci[0] <= TRUE["simp-lean"] <= a.ci[1]
    assert found >= 19
    assert covered >= 16


def force(learner, name, module, ctx="simp_heavy"):
    d = learner.choose(module=module, context=ctx, features={})
    d.strategy = learner.catalogue.get(name)
    return d


def test_catastrophic_strategy_is_suspended():
    lrn = run(Learner(None, seed=3), 4, breaks=("simp-lean", "no-simprocs"))
    # The policy itself stops paying for a strategy that breaks modules: few failures in all.
    assert lrn.stats["counters"]["strategy_failed"] <= 4
    # The safety layer: a strategy that keeps failing in a context is suspended there.
    for i in range(3):
        lrn.observe(force(lrn, "simp-lean", f"M{i}"), seconds=0.5, ok=False, fallback_seconds=1.0,
                    fallback_ok=True, error="A.lean:1:0: unsolved goals")
    why = lrn.suspension("simp_heavy", "simp-lean")
    assert why and "failed" in why
    chosen = {lrn.choose(module=f"M{i}", context="simp_heavy", features={}).strategy.name for i in range(200)}
    assert "simp-lean" not in chosen
    assert "simp-lean" in lrn.choose(module="M1", context="simp_heavy", features={}).suspended
    # ... but it remains available in another context.
    assert lrn.suspension("arith", "simp-lean") is None


def test_a_suspension_for_failures_lapses_and_doubles_with_each_new_failure():
    """A strategy suspended for breaking modules is not written off for good: once the context
    has compiled COOLDOWN × 2^failures modules without its group, the policy may pick it
    again; a new failure suspends it for twice as long."""
    import simpulse.learner as L
    lrn = Learner(None, seed=4)

    def fail(i):
        lrn.observe(force(lrn, "simp-lean", f"F{i}"), seconds=0.5, ok=False, fallback_seconds=1.0,
                    fallback_ok=True, error="x")

    def baseline(n):
        for i in range(n):
            lrn.observe(force(lrn, "baseline", f"B{i % 40}"), seconds=1.0)

    for i in range(3):
        fail(i)
    why = lrn.suspension("simp_heavy", "simp-lean")
    wait = L.COOLDOWN * 2 ** 3
    assert why and f"re-probed in {wait} compiles" in why
    assert lrn.suspension("simp_heavy", "no-simprocs")          # the same breaking options
    baseline(wait - 1)
    assert lrn.suspension("simp_heavy", "simp-lean")
    baseline(1)
    assert lrn.suspension("simp_heavy", "simp-lean") is None
    assert "simp-lean" not in lrn.choose(module="B1", context="simp_heavy", features={}).suspended
    fail(3)
    why = lrn.suspension("simp_heavy", "simp-lean")
    assert why and f"re-probed in {2 * wait} compiles" in why
    # never forever, never more than COOLDOWN × 2^BREAKING_LAPSE compiles
    for i in range(4, 14):
        fail(i)
    assert f"re-probed in {L.COOLDOWN * 2 ** L.BREAKING_LAPSE} compiles" in lrn.suspension("simp_heavy", "simp-lean")


def test_a_strategy_suspended_for_failures_comes_back_when_the_project_stops_breaking():
    """The first 80 compiles of a context (modules A*) break under simprocs=false, which gets
    simp-lean, the best strategy, suspended after two failures; then the project changes
    (modules B*, which compile under it). The suspension lapses and simp-lean wins the context
    back: it runs in most of the last 400 compiles. (Without the lapse it would run in none.)"""
    lrn, rng = Learner(None, seed=0), random.Random(0)
    levels = {f"{p}{i}": rng.gauss(0.5, 1.0) for p in "AB" for i in range(40)}
    late = []
    for r in range(40):
        for i in range(40):
            m = f"A{i}" if r < 2 else f"B{i}"
            d = lrn.choose(module=m, context="simp_heavy", features={})
            s = d.strategy.name
            t = math.exp(levels[m] + TRUE[s] + rng.gauss(0, 0.1))
            if r < 2 and s in ("simp-lean", "no-simprocs"):
                lrn.observe(d, seconds=t * 0.5, ok=False, fallback_seconds=math.exp(levels[m]),
                            fallback_ok=True, error="x")
            else:
                lrn.observe(d, seconds=t)
            if r == 1 and i == 39:
                assert lrn.suspension("simp_heavy", "simp-lean")
            if r >= 30:
                late.append(s)
    assert late.count("simp-lean") > 0.8 * len(late)
    assert lrn.suspension("simp_heavy", "simp-lean") is None


def test_slower_strategy_is_suspended_after_recent_losses_then_reprobed():
    lrn = run(Learner(None, seed=5), 2, effects=dict(TRUE, **{"no-async": 0.0}))
    assert lrn.suspension("simp_heavy", "no-async") is None
    tc = lrn.stats["toolchains"]["unknown"]

    def slow(i):
        mod = module_record(tc, f"M{i}")["s"]
        n, sy, *_ = mod.get("baseline") or next(iter(mod.values()))
        lrn.observe(force(lrn, "no-async", f"M{i}"), seconds=math.exp(sy / n) * 1.3)

    for i in range(5):
        slow(i)
    assert lrn.suspension("simp_heavy", "no-async") is None     # five results are not enough
    slow(5)
    why = lrn.suspension("simp_heavy", "no-async")
    assert why and "< 0.95" in why
    # After the cool-down the strategy is probed again (a suspension for slowness is not forever).
    run(lrn, 2, seed=9)
    assert lrn.suspension("simp_heavy", "no-async") is None


def test_a_module_is_never_retried_with_a_strategy_that_broke_it():
    lrn = Learner(None, seed=1)
    d = force(lrn, "no-simprocs", "Lit")
    d.source_hash = "h1"
    lrn.observe(d, seconds=0.5, ok=False, fallback_seconds=1.0, fallback_ok=True, error="x")
    picks = set()
    for _ in range(300):
        c = lrn.choose(module="Lit", context="simp_heavy", features={})
        picks.add(c.strategy.name)
    # simp-lean turns simprocs off too (the same breaking signature): it is not tried either
    assert not picks & {"no-simprocs", "simp-lean"} and len(picks) > 2
    assert lrn.known_failures("Lit", None) == {"no-simprocs", "simp-lean"}


def test_strategies_that_break_the_same_proofs_share_their_failures():
    """A failure is blamed on what can break a proof (`Catalogue.breaking_signature`): the
    linter option simp-lean adds cannot, so no-simprocs and simp-lean share their breakage
    rate and their per-module failure memory; a strategy breaking something else shares neither."""
    cat = Catalogue.with_user({"low-heartbeats": {"options": {"maxHeartbeats": 50000}, "may_break": True}},
                              enabled=[*TRUE, "low-heartbeats"])
    assert cat.breaking_signature("simp-lean") == cat.breaking_signature("no-simprocs") == {("D", "simprocs", "false")}
    assert cat.breaking_signature("lean-fast") == frozenset()
    lrn = run(Learner(None, seed=5, catalogue=cat), 3, effects={**TRUE, "low-heartbeats": 0.05})
    before = lrn.joint_posterior("simp_heavy").breakage
    for i in range(3):
        lrn.observe(force(lrn, "no-simprocs", f"M{i}"), seconds=0.5, ok=False, fallback_seconds=1.0,
                    fallback_ok=True, error="x")
    after = lrn.joint_posterior("simp_heavy").breakage
    assert after["simp-lean"][0] == before["simp-lean"][0] + 3          # the pooled failure count
    assert after["low-heartbeats"][0] == before["low-heartbeats"][0]
    assert lrn.known_failures("M0", None) == {"no-simprocs", "simp-lean"}
    # the other way round: a module simp-lean broke is not given no-simprocs either
    lrn.observe(force(lrn, "simp-lean", "M9"), seconds=0.5, ok=False, fallback_seconds=1.0, fallback_ok=True, error="x")
    assert lrn.known_failures("M9", None) == {"no-simprocs", "simp-lean"}
    lrn.observe(force(lrn, "low-heartbeats", "M8"), seconds=0.5, ok=False, fallback_seconds=1.0, fallback_ok=True, error="x")
    assert lrn.known_failures("M8", None) == {"low-heartbeats"}


def test_first_build_learns_from_features():
    """Every module compiled once: the per-context regression on features gives the first
    build evidence (weak, but pointing the right way)."""
    rng = random.Random(3)
    lrn = Learner(None, seed=3)
    for i in range(400):
        lines = rng.randint(20, 600)
        feats = {"lines": lines, "declarations": lines // 12, "simp": lines // 20}
        mu = -3.0 + 0.9 * math.log1p(lines) + rng.gauss(0, 0.05)
        d = lrn.choose(module=f"N{i}", context="simp_heavy", features=feats)
        lrn.observe(d, seconds=math.exp(mu + TRUE[d.strategy.name] + rng.gauss(0, 0.08)))
    a = by_name(lrn)["simp-lean"]
    assert a.mean < -0.1 and a.prob_better > 0.9


def test_sharing_between_contexts():
    lrn = run(Learner(None, seed=11), 8, ctx="simp_heavy")
    # A context never seen borrows the global posterior as its prior: simp-lean is favoured there.
    post = lrn.arm_posterior("rare_context", lrn.catalogue.get("simp-lean"))
    assert post.mu < -0.1
    # ... but only as a prior: a few pseudo-observations, wider than the source context.
    src = lrn.arm_posterior("simp_heavy", lrn.catalogue.get("simp-lean"))
    assert post.kappa < src.kappa and post.kappa <= 5


def test_sharing_strength_follows_agreement_between_contexts(monkeypatch):
    """Contexts whose effects agree share up to SHARE_KAPPA pseudo-observations; contexts whose
    effects differ by much more than their noise share far less (DerSimonian–Laird)."""
    from simpulse import learner as L
    cap = L.SHARE_KAPPA
    monkeypatch.setattr(contributions, "SHARE_KAPPA", 1.0)      # the estimate itself, under a loose cap
    agree = {"a": {"s": [50.0, 50 * -0.20, 50 * 0.05, 50, 0, 40]},
             "b": {"s": [50.0, 50 * -0.21, 50 * 0.05, 50, 0, 40]},
             "c": {"s": [50.0, 50 * -0.19, 50 * 0.05, 50, 0, 40]}}
    differ = {"a": {"s": [50.0, 50 * -0.40, 50 * 0.2, 50, 0, 40]},
              "b": {"s": [50.0, 50 * 0.10, 50 * 0.05, 50, 0, 10]},
              "c": {"s": [50.0, 50 * -0.05, 50 * 0.05, 50, 0, 25]}}
    tc_agree = {"arms": agree, "noise": [0.6, 30.0]}
    tc_differ = {"arms": differ, "noise": [0.6, 30.0]}
    assert L.share_strength(tc_agree, "s") == pytest.approx(contributions.SHARE_KAPPA)
    # effects −0.40, +0.10, −0.05 (between-context variance ≈ 0.065) with σ² = 0.02:
    # the other contexts are worth σ²/υ² ≈ 0.31 compiles
    assert L.share_strength(tc_differ, "s") == pytest.approx(0.02 / 0.0654, rel=0.05)
    # one context alone: nothing to judge agreement on, the cap applies
    assert L.share_strength({"arms": {"a": agree["a"]}, "noise": [0.6, 30.0]}, "s") == contributions.SHARE_KAPPA
    # under the default cap, both are capped: never more than SHARE_KAPPA
    monkeypatch.setattr(contributions, "SHARE_KAPPA", cap)
    assert L.share_strength(tc_agree, "s") == L.share_strength(tc_differ, "s") == cap


def test_a_new_context_predicts_levels_from_the_other_contexts_regression():
    """The first compiles of a context are compared with levels predicted by the regression
    over every context until the context has its own."""
    from simpulse import learner as L
    rng = random.Random(5)
    lrn = Learner(None, seed=5)
    for i in range(60):
        lines = rng.randint(20, 600)
        d = force(lrn, "baseline", f"P{i}", ctx="definitions")
        d.features = {"lines": lines, "declarations": lines // 10}
        lrn.observe(d, seconds=math.exp(-3.0 + 0.9 * math.log1p(lines)))
    tc = lrn.stats["toolchains"]["unknown"]
    x = L.feature_vector({"lines": 300, "declarations": 30})
    assert L.predicted_level(tc, "arith", x) is not None          # no arith compile yet
    level, weight = L.predicted_level(tc, "arith", x)
    assert abs(level - (-3.0 + 0.9 * math.log1p(300))) < 0.1 and 0 < weight <= 1
    assert tc["reg"]["*"]["n"] == 60 and "arith" not in tc["reg"]


def test_informative_prior_and_its_strength():
    fast = Strategy("prior-fast", "x", (("linter.all", "false"),), prior_mean=0.2, prior_strength=5.0, builtin=False)
    cat = Catalogue(list(BUILTIN[:1]) + [fast])
    lrn = Learner(None, catalogue=cat)
    post = lrn.arm_posterior("c", fast)
    assert post.mu == pytest.approx(-0.2) and post.kappa == pytest.approx(5.0)
    assert lrn.summary("c")[1].speedup == pytest.approx(math.exp(0.2))


def test_toolchain_change_discounts_knowledge():
    old = run(Learner(None, seed=2, toolchain="aaaa"), 8)
    stats = old.stats
    new = Learner(None, seed=2, toolchain="bbbb")
    new._stats = stats
    s = new.catalogue.get("simp-lean")
    p_new = new.arm_posterior("simp_heavy", s)
    old_post = old.arm_posterior("simp_heavy", s)
    assert p_new.mu < 0                       # earlier knowledge informs the prior ...
    assert p_new.kappa < 0.25 * old_post.kappa + 1.01 + 3   # ... discounted, not a fact
    assert new.summary("simp_heavy")[0].pulls == 0


def test_toolchain_change_carries_identified_effects_and_breakage():
    """The earlier toolchain's knowledge enters the new one's priors as its joint posterior's
    evidence (identified against module levels), discounted to a quarter and capped; its
    failures raise the breakage prior, capped too; and evidence under the new toolchain that
    contradicts it wins within a few rebuilds."""
    from simpulse import learner as L
    old = run(Learner(None, seed=2, toolchain="aaaa"), 8, breaks=("single-thread",))
    new = Learner(None, seed=3, toolchain="bbbb")
    new._stats = old.stats
    s = new.catalogue.get("simp-lean")
    joint = old.joint_posterior("simp_heavy")
    mu_e, k_e = new.earlier_evidence("simp_heavy", s)
    assert mu_e == pytest.approx(TRUE["simp-lean"], abs=0.05)
    assert mu_e == pytest.approx(joint.speed("simp-lean"), abs=0.03)
    assert k_e > 5
    mu, k = new.arm_prior("simp_heavy", s)
    k_add = min(L.TOOLCHAIN_DISCOUNT * k_e, L.TOOLCHAIN_CAP)
    assert k == pytest.approx(s.prior_strength + k_add)
    assert mu == pytest.approx((s.prior_strength * -s.prior_mean + k_add * mu_e) / k, abs=1e-6)
    # cached in the earlier toolchain's statistics, and the same on a second look
    assert "carry" in old.stats["toolchains"]["aaaa"]
    assert new.earlier_evidence("simp_heavy", s) == (mu_e, k_e)
    # a context the earlier toolchain never saw: nothing from the joint, the strategy's arms elsewhere
    assert new.earlier_evidence("arith", new.catalogue.get("baseline")) is None
    # breakage: the earlier failures raise the prior rate, by at most TOOLCHAIN_CAP attempts
    a, b, _ = new._breakage("simp_heavy", None, None)["single-thread"]
    a0, b0 = L.SAFE_BREAK_PRIOR                  # single-thread is declared safe
    assert a / (a + b) > 2 * a0 / (a0 + b0)
    assert (a - a0) + (b - b0) <= L.TOOLCHAIN_CAP + 1e-9
    # the new toolchain's own evidence overrides a prior it contradicts
    flipped = dict(TRUE, **{"simp-lean": 0.25})
    run(new, 4, effects=flipped, seed=5)
    post = new.arm_posterior("simp_heavy", s)
    assert post.mu > 0 and post.prob_below(0.0) < 0.2      # no longer believed to help ...
    assert new.exploit("simp_heavy") != "simp-lean"          # ... nor used


def test_toolchain_change_carries_module_levels(monkeypatch):
    """A module's level under the earlier toolchain predicts its level under the new one, up to
    the context's shift: a first build after a Lean upgrade knows which modules are slow, and a
    single compile of a module then informs its strategy's effect. When the upgrade reorders
    the modules' times, carried levels weigh nothing."""
    import copy
    from simpulse import learner as L
    old = run(Learner(None, seed=2, toolchain="aaaa"), 6)
    before = copy.deepcopy(old.stats)
    slower = {k: v + math.log(1.2) for k, v in TRUE.items()}     # every compile 20% slower

    def upgrade():
        new = Learner(None, seed=3, toolchain="bbbb")
        new._stats = copy.deepcopy(before)
        run(new, 1, effects=slower)              # the same modules (levels), each compiled once
        return new
    new = upgrade()
    tc = new.stats["toolchains"]["bbbb"]
    shift, var, w = L.carry_fit(tc, "simp_heavy")
    # the mean shift is taken against the δ̂ of the day (≈ 0 in a first build): between 0 and
    # the truth; the joint model estimates the shift itself (J.SHIFT)
    assert 0 < shift < math.log(1.2) + 0.05 and w > 0.5
    rec = module_record(tc, "M0")
    assert rec["o"] == pytest.approx(math.log(L.module_level(before, "aaaa", "M0")), abs=1e-4)
    assert isinstance(rec["j"][2], dict) and rec["j"][2]["o"] == rec["o"]   # in the joint block as such
    level, weight = L.carried_level(tc, "simp_heavy", rec)
    assert level == pytest.approx(rec["o"] + shift) and weight == w
    kappa = new.arm_posterior("simp_heavy", new.catalogue.get("simp-lean")).kappa
    from simpulse.model import fold as F
    monkeypatch.setattr(L, "carry_level", lambda *a: None)      # where the learner and the fold use it
    monkeypatch.setattr(F, "carry_level", lambda *a: None)
    without = upgrade()
    assert kappa > 1.5 * without.arm_posterior("simp_heavy", without.catalogue.get("simp-lean")).kappa
    monkeypatch.undo()         # (this undoes _seven_strategies too: the catalogue is given)
    # another project's levels (the same names, reshuffled): carried levels weigh nothing
    other = Learner(None, seed=3, toolchain="cccc", catalogue=Catalogue(enabled=list(TRUE)))
    other._stats = copy.deepcopy(before)
    run(other, 2, seed=9)
    assert L.carry_fit(other.stats["toolchains"]["cccc"], "simp_heavy")[2] < 0.05


def test_recompiling_under_one_strategy_does_not_manufacture_confidence():
    cat = Catalogue([s for s in BUILTIN if s.name in ("baseline", "no-linters")])
    lrn = Learner(None, catalogue=cat)
    dec = lrn.choose(module="A", context="c", features={})
    dec.strategy = cat.get("no-linters")
    for _ in range(50):
        lrn.observe(dec, seconds=1.0)
    post = lrn.arm_posterior("c", cat.get("no-linters"))
    assert post.kappa < 2.0 and post.mu == 0.0    # no baseline reference: no evidence on δ


def test_shadow_and_confident_modes():
    shadow = run(Learner(None, seed=1, mode="shadow"), 3)
    d = shadow.choose(module="M1", context="simp_heavy", features={})
    assert d.strategy.name == "baseline" and d.recommended is not None and not d.explore
    conf = Learner(None, seed=1, mode="confident")
    d = conf.choose(module="M1", context="simp_heavy", features={})
    assert d.strategy.name == "baseline"          # nothing known yet
    conf._stats = run(Learner(None, seed=1), 6).stats
    d = conf.choose(module="M1", context="simp_heavy", features={})
    assert d.strategy.name == "simp-lean" and d.confidence >= 0.8


def test_failure_of_the_baseline_blames_no_strategy():
    lrn = Learner(None)
    d = lrn.choose(module="B", context="c", features={})
    d.strategy = lrn.catalogue.get("no-simprocs")
    ev = lrn.observe(d, seconds=1.0, ok=False, fallback_seconds=1.0, fallback_ok=False, error="x")
    assert ev["outcome"] == "module_failed"
    assert lrn.stats["counters"]["module_failed"] == 1
    assert lrn.summary("c")[3].fails == 0


def test_bad_inputs():
    with pytest.raises(SimpulseError):
        Learner(None, policy="nope")
    with pytest.raises(SimpulseError):
        Learner(None, mode="nope")
    lrn = Learner(None)
    d = lrn.choose(module="A", context="c", features={})
    for bad in (0, -1, float("nan"), float("inf")):
        with pytest.raises(SimpulseError):
            lrn.observe(d, seconds=bad)


@pytest.mark.parametrize("policy", ["thompson", "beta", "ucb", "egreedy", "lints"])
def test_every_policy_learns(policy):
    """Without features (no level prediction: an effect is learned only from a module compiled
    under two strategies, or under one and the baseline), every policy ends up playing the
    best strategy and measures it. (A confidence bound on information alone tied on every
    strategy here and played `no-linters` on all 400 compiles, learning nothing.)"""
    lrn = run(Learner(None, seed=4, policy=policy), 10)
    arms = by_name(lrn)
    top = max(arms.values(), key=lambda a: a.pulls)
    assert top.strategy == "simp-lean", (policy, {k: a.pulls for k, a in arms.items()})
    assert abs(top.mean - TRUE["simp-lean"]) < 0.1, (policy, top.mean)


def test_fold_is_deterministic_and_state_round_trips_through_json():
    import json
    events = []
    lrn2 = Learner(None, seed=9)
    orig = lrn2.record_event
    lrn2.record_event = lambda e: (events.append(json.loads(json.dumps(e))), orig(e))
    run(lrn2, 3, seed=1)
    replay = empty_stats()
    for e in events:
        fold(replay, e)
    assert json.loads(json.dumps(replay)) == json.loads(json.dumps(lrn2.stats))


def test_borrowed_evidence_is_never_reported_as_confident():
    from simpulse.stats.summary import leaderboard
    lrn = run(Learner(None, seed=7), 8, ctx="simp_heavy")
    d = lrn.choose(module="Other", context="arith", features={})
    d.strategy = lrn.catalogue.get("baseline")
    lrn.observe(d, seconds=1.0)                     # arith exists, with no simp-lean compile of its own
    rows = {r["context"]: r for r in leaderboard(lrn)}
    assert rows["simp_heavy"]["best"] == "simp-lean" and rows["simp_heavy"]["confident"]
    assert rows["arith"]["best"] == "simp-lean"     # the shared prior may choose it ...
    assert not rows["arith"]["confident"] and rows["arith"]["evidence"] == "prior"   # ... never claim it


def test_joint_block_learns_a_difference_from_paired_modules_only():
    """Two strategies compiled on the same modules: their difference is known exactly (the
    module levels cancel), and Thompson draws from the joint posterior keep that difference."""
    from simpulse.policy import joint as J
    rng = random.Random(4)
    block = J.new_block()
    for _ in range(30):
        level = rng.gauss(0.0, 2.0)          # wildly different module levels
        cells = {"a": [1, level - 0.10, (level - 0.10) ** 2], "b": [1, level - 0.30, (level - 0.30) ** 2]}
        J.add_module(block, cells, 1.0, 2.0)
    jp = J.joint(block, ["a", "b"], {"a": (0.0, 0.3), "b": (0.0, 0.3)})
    # against baseline each is unknown (never compiled under baseline): only the prior ...
    assert jp.marginal("a").kappa < 1.0             # worth less than one compile against baseline
    # ... but the difference is sharp in every draw
    diffs = [x[0] - x[1] for x in (jp.sample(rng) for _ in range(200))]
    import statistics
    assert abs(statistics.mean(diffs) - 0.20) < 0.01
    assert statistics.stdev(diffs) < 0.25 * jp.marginal("a").scale * math.sqrt(2)
    # removing a module subtracts exactly what it added
    before = json_copy(block)
    J.add_module(block, {"a": [1, 0.5, 0.25], "baseline": [1, 0.7, 0.49]}, 1.0, 2.0)
    J.add_module(block, {"a": [1, 0.5, 0.25], "baseline": [1, 0.7, 0.49]}, 1.0, 2.0, -1.0)
    assert all(abs(x - y) < 1e-9 for r1, r2 in zip(block["M"], before["M"]) for x, y in zip(r1, r2))
    assert all(abs(x - y) < 1e-9 for x, y in zip(block["b"], before["b"]))


def json_copy(x):
    import json
    return json.loads(json.dumps(x))


def test_one_outlier_does_not_flip_the_ranking():
    """A compile 3× slower than it should be (a busy machine) counts at most 2.5 σ."""
    lrn = run(Learner(None, seed=11), 4)
    before = by_name(lrn)["simp-lean"].mean
    mod = module_record(lrn.stats["toolchains"]["unknown"], "M0")
    n, sy, *_ = mod["s"].get("baseline") or next(iter(mod["s"].values()))
    lrn.observe(force(lrn, "simp-lean", "M0"), seconds=3.0 * math.exp(sy / n))
    after = by_name(lrn)["simp-lean"].mean
    assert after - before < 0.05
    assert min(by_name(lrn).values(), key=lambda a: a.mean).strategy == "simp-lean"


def test_breakage_is_a_rate_not_a_verdict():
    """One failure among many good compiles raises a strategy's expected cost a little; it does
    not make the fastest strategy look slower than baseline."""
    lrn = run(Learner(None, seed=12), 4)
    before = by_name(lrn)["simp-lean"]
    assert before.prob_better > 0.99 and before.fails == 0
    lrn.observe(force(lrn, "simp-lean", "M3"), seconds=0.5, ok=False, fallback_seconds=1.0, fallback_ok=True, error="x")
    a = by_name(lrn)["simp-lean"]
    assert a.fails == 1 and a.prob_better > 0.99                  # still known to beat baseline
    # δ barely moves (the fallback is a baseline compile of M3: one more reference)
    assert abs(a.mean - before.mean) < 0.05
    assert min(by_name(lrn).values(), key=lambda s: s.mean).strategy == "simp-lean"
    jp = lrn.joint_posterior("simp_heavy")
    assert jp.marginal("simp-lean").mu > jp.speed("simp-lean")      # the failure costs something


def test_cheap_modules_explore_more_than_costly_ones():
    """Exploring costs seconds in proportion to a module's compile time: the same posterior
    explores on a module 20× cheaper than typical far more often than on one 20× costlier."""
    lrn = run(Learner(None, seed=13), 2)
    tc = lrn.stats["toolchains"]["unknown"]
    typical = tc["ctx"]["simp_heavy"][1] / tc["ctx"]["simp_heavy"][0]
    for name, shift in (("Cheap", -3.0), ("Costly", 3.0)):
        d = force(lrn, "baseline", name)
        lrn.observe(d, seconds=math.exp(typical + shift))
    explore = {}
    for name in ("Cheap", "Costly"):
        picks = [lrn.choose(module=name, context="simp_heavy", features={}) for _ in range(300)]
        explore[name] = sum(p.explore for p in picks)
    assert explore["Cheap"] > 2 * explore["Costly"]


def test_exploit_is_the_posterior_best_without_exploring():
    lrn = run(Learner(None, seed=14), 6)
    before = json_copy(lrn.stats)
    assert {lrn.exploit("simp_heavy", module=f"M{i}") for i in range(10)} == {"simp-lean"}
    assert lrn.stats == before                                   # nothing recorded
    # a module simp-lean broke gets the next best, never a strategy that breaks the same proofs
    lrn.observe(force(lrn, "simp-lean", "M7"), seconds=0.5, ok=False, fallback_seconds=1.0, fallback_ok=True, error="x")
    best = lrn.exploit("simp_heavy", module="M7")
    assert best not in ("simp-lean", "no-simprocs")
    means = {a.strategy: a.mean for a in lrn.summary("simp_heavy")}
    assert means[best] == min(m for s, m in means.items() if s not in ("simp-lean", "no-simprocs"))
    # nothing learned yet: the baseline
    assert Learner(None, seed=1).exploit("arith") == "baseline"


def test_two_early_failures_do_not_suspend_a_strategy_whose_breaking_options_are_known_safe_enough():
    """The failure suspension counts over the strategies that break the same proofs: two
    failures in simp-lean's first four compiles are 2 of 44 once no-simprocs' 40 clean compiles
    count too (a 5 % breaker is not 'keeps failing'); alone, the same record suspends it."""
    def feed(lrn):
        for i in range(40):
            lrn.observe(force(lrn, "no-simprocs", f"N{i}"), seconds=0.8)
        for i, ok in enumerate((True, False, True, False)):
            d = force(lrn, "simp-lean", f"S{i}")
            if ok:
                lrn.observe(d, seconds=0.7)
            else:
                lrn.observe(d, seconds=0.5, ok=False, fallback_seconds=1.0, fallback_ok=True, error="x")
        return lrn
    lrn = feed(Learner(None, seed=6))
    assert lrn.suspension("simp_heavy", "simp-lean") is None
    assert lrn.breaking_group("simp-lean") == ["no-simprocs", "simp-lean"]
    assert lrn.breaking_group("no-linters") == ["no-linters"]
    alone = Learner(None, seed=6, catalogue=Catalogue(enabled=["simp-lean"]))
    alone.observe(force(alone, "simp-lean", "S9"), seconds=0.7)
    for i in range(2):
        alone.observe(force(alone, "simp-lean", f"F{i}"), seconds=0.5, ok=False, fallback_seconds=1.0,
                      fallback_ok=True, error="x")
    assert "failed 2 of 3" in (alone.suspension("simp_heavy", "simp-lean") or "")


def test_a_first_build_is_not_biased_by_the_strategies_it_runs():
    """Every module compiled once, most under one strategy: the level regression is estimated
    jointly with the effects (β in the joint block), so it is never de-biased with a stale
    estimate of δ. A module seen once under simp-lean must not teach the regression that
    simp_heavy modules are fast — which would make simp-lean look like no change at all (an
    error of ~0.3). Over eight seeds: the mean error is small, no seed is far off, and most
    95% intervals hold the truth. (A shrinkage towards no effect of about 0.03 remains in this
    lopsided design, 85% of modules under one strategy: over seeds 100–119 the mean is −0.32
    and 16 of 20 intervals hold −0.35.)"""
    true = -0.35
    mus, covered = [], 0
    for seed in range(8, 16):
        rng = random.Random(seed)
        lrn = Learner(None, seed=seed)
        for i in range(300):
            lines = rng.randint(20, 600)
            feats = {"lines": lines, "declarations": lines // 12, "simp": lines // 20}
            d = lrn.choose(module=f"B{i}", context="simp_heavy", features=feats)
            d.strategy = lrn.catalogue.get("simp-lean" if rng.random() < 0.85 else "baseline")
            mu = -3.0 + 0.9 * math.log1p(lines) + rng.gauss(0, 0.25)       # levels the features half explain
            lrn.observe(d, seconds=math.exp(mu + (true if d.strategy.name == "simp-lean" else 0.0) + rng.gauss(0, 0.1)))
        post = lrn.arm_posterior("simp_heavy", lrn.catalogue.get("simp-lean"))
        mus.append(post.mu)
        lo, hi = post.interval()
        covered += lo <= true <= hi
    assert abs(sum(mus) / len(mus) - true) < 0.06
    assert max(abs(m - true) for m in mus) < 0.15
    assert covered >= 4


def test_a_contexts_first_modules_count_once_its_level_regression_can_weigh_them():
    """A context's first ten modules run lean-fast (30% faster) before any regression can
    predict a level, so they join the joint block with no prediction; the next thirty run the
    baseline. When the regression's weight settles, every module of the context is re-added at
    the current weight (`_refresh_predictions`): the first ten then measure lean-fast against
    the levels the other thirty taught — without the refresh they would teach nothing."""
    from simpulse import learner as L
    rng = random.Random(5)
    lrn = Learner(None, seed=5)
    for i in range(40):
        lines = rng.randint(20, 600)
        d = lrn.choose(module=f"E{i}", context="structural", features={"lines": lines, "declarations": lines // 12})
        d.strategy = lrn.catalogue.get("lean-fast" if i < 10 else "baseline")
        mu = -3.0 + 0.9 * math.log1p(lines) + rng.gauss(0, 0.2)
        lrn.observe(d, seconds=math.exp(mu + (-0.3 if i < 10 else 0.0) + rng.gauss(0, 0.1)))
    post = lrn.arm_posterior("structural", lrn.catalogue.get("lean-fast"))
    assert abs(post.mu - (-0.3)) < 0.1 and post.kappa > 1.5
    tc = lrn.stats["toolchains"]["unknown"]
    weights = [L.module_record(tc, f"E{i}")["j"][3] for i in range(40)]
    now = tc["pw"]["structural"]
    rel, least = L.PREDICTION_REFRESH
    assert all(w is not None and abs(w - now) <= max(rel * now, least) for w in weights)


def test_the_regression_integrated_out_leaves_the_strategies_posterior_unchanged():
    """`J.without_features` (what an export carries) gives exactly the strategies' marginal
    posterior of the full block, β included."""
    from simpulse import learner as L
    from simpulse.policy import joint as J
    rng = random.Random(9)
    lrn = run(Learner(None, seed=9), 1)
    for i in range(80):
        lines = rng.randint(20, 600)
        d = lrn.choose(module=f"F{i}", context="simp_heavy", features={"lines": lines, "simp": lines // 9})
        lrn.observe(d, seconds=math.exp(-3 + 0.9 * math.log1p(lines) + TRUE[d.strategy.name] + rng.gauss(0, 0.1)))
    tc = lrn.stats["toolchains"]["unknown"]
    block = tc["J"]["simp_heavy"]
    feats = J.features_of(block)
    assert feats == ["#0", "#1", "#2", "#3", "#4"]
    names = [s.name for s in lrn.catalogue.active if not s.is_baseline]
    prior = {n: lrn.arm_prior("simp_heavy", lrn.catalogue.get(n)) for n in names}
    full = J.joint(block, names + feats, {**prior, **L.beta_prior(tc, "simp_heavy", feats)})
    reduced = J.joint(J.without_features(block, L.beta_prior(tc, "simp_heavy", feats)), names, prior)
    for n in names:
        a, b = full.marginal(n), reduced.marginal(n)
        assert a.mu == pytest.approx(b.mu, abs=1e-9) and a.kappa == pytest.approx(b.kappa, rel=1e-9)
        assert a.alpha == pytest.approx(b.alpha) and a.beta == pytest.approx(b.beta, rel=1e-9)


def test_a_record_from_before_the_joint_regression_is_subtracted_exactly():
    """A module record written before β joined the joint block keeps its pseudo-observation as
    (value, weight) in the baseline cell: recompiling the module removes exactly that."""
    from simpulse import learner as L
    from simpulse.policy import joint as J
    mod = {"s": {"simp-lean": [1, -0.2, 0.04]}, "c": {}, "k": "simp_heavy"}
    tc = {"J": {}, "noise": [0.0, 0.0]}
    L._joint_apply(tc, mod, "simp_heavy", 1.0, (0.1, 0.4), 1.0)       # as the old code added it
    mod["j"] = ["simp_heavy", 1.0, 0.1, 0.4]
    assert tc["J"]["simp_heavy"]["M"] != []
    L._joint_remove(tc, mod)
    blk = tc["J"]["simp_heavy"]
    assert all(abs(v) < 1e-12 for row in blk["M"] for v in row) and all(abs(v) < 1e-12 for v in blk["b"])
    assert abs(blk["q"]) < 1e-12 and "j" not in mod
    assert J.features_of(blk) == []


def test_evidence_floor_tries_a_starved_strategy_on_cheap_modules_only():
    """A strategy with (almost) no evidence in a busy context is tried on a cheap module that
    has history (a paired comparison), never on a costly one: two unlucky first compiles
    must not write a strategy off for good, and the lesson must be cheap."""
    rng = random.Random(10)
    cat = Catalogue(enabled=["no-linters", "simp-lean", "single-thread"])
    lrn = Learner(None, seed=10, catalogue=cat)
    for i in range(40):                       # paired evidence for every strategy but single-thread
        for name in ("baseline", "no-linters", "simp-lean"):
            lrn.observe(force(lrn, name, f"M{i}"), seconds=math.exp(TRUE[name] + rng.gauss(0, 0.1)))
    for name, level in (("Cheap", -2.0), ("Costly", 2.0)):
        lrn.observe(force(lrn, "baseline", name), seconds=math.exp(level))
    cheap = lrn.choose(module="Cheap", context="simp_heavy", features={})
    assert cheap.strategy.name == "single-thread" and cheap.reason.startswith("evidence floor")
    costly = [lrn.choose(module="Costly", context="simp_heavy", features={}) for _ in range(20)]
    assert not any(d.reason.startswith("evidence floor") for d in costly)
    # once it has its evidence, the floor lets go
    for i in range(3):
        lrn.observe(force(lrn, "single-thread", f"M{i}"), seconds=math.exp(TRUE["single-thread"]))
    assert not lrn.choose(module="Cheap", context="simp_heavy", features={}).reason.startswith("evidence floor")


def test_level_regression_lets_size_lead_and_shrinks_uninformative_slopes():
    """The level regression's `log lines` slope is nearly free; the other slopes carry a ridge
    (`SECONDARY`): with 40 modules whose tactic counts are pure noise, those slopes stay near 0
    while the size slope is found; a tactic count that does carry the level is still found
    (shrunk, not erased)."""
    from simpulse.learner import _reg_add, regression_fit
    rng = random.Random(5)
    for signal in (0.0, 0.5):
        tc = {}
        for _ in range(40):
            x = [1.0, rng.uniform(3, 7), rng.uniform(1, 4), rng.uniform(0, 3), rng.uniform(0, 3)]
            y = -4.0 + 0.9 * x[1] + signal * x[3] + rng.gauss(0, 0.1)
            _reg_add(tc, "c", x, y)
        beta, s2 = regression_fit(tc, "c", 5)
        assert abs(beta[1] - 0.9) < 0.1
        if signal == 0.0:
            assert max(abs(b) for b in beta[2:]) < 0.05
        else:
            assert 0.25 < beta[3] < 0.45 and s2 < 0.1         # found, shrunk by the ridge (0.48 with none)


def _imported(donor_effects, *, weight=0.5, seed=11, rounds=6, events=None, breaks=()):
    """A learner (toolchain "cccc") whose only knowledge is an import, through the export
    format and `simpulse import`'s plan, of another project's `rounds` builds (same toolchain).
    `events`: a list that receives every event the learner records, from the import on."""
    import json
    from simpulse import exchange
    donor = run(Learner(None, seed=seed, toolchain="cccc"), rounds, effects=donor_effects, seed=seed, breaks=breaks)
    doc = exchange.parse(exchange.dumps(exchange.build_export(donor.stats, donor.catalogue)).encode())
    exchange.validate(doc)
    lrn = Learner(None, seed=seed + 1, toolchain="cccc")
    if events is not None:
        record = lrn.record_event
        lrn.record_event = lambda e: (events.append(json.loads(json.dumps(e))), record(e))
    lrn.record_event(exchange.import_event(exchange.plan_import(doc, lrn.catalogue).payload,
                                           weight=weight, source="team.json"))
    return lrn


def _export(lrn, **kw):
    """`lrn`'s export, through the file format and validated as an import would be."""
    from simpulse import exchange
    doc = exchange.parse(exchange.dumps(exchange.build_export(lrn.stats, lrn.catalogue, created=0, **kw)).encode())
    exchange.validate(doc)
    return doc


def _numbers(x, path=""):
    if isinstance(x, dict):
        for k, v in x.items():
            yield from _numbers(v, f"{path}/{k}")
    elif isinstance(x, list):
        for i, v in enumerate(x):
            yield from _numbers(v, f"{path}[{i}]")
    elif isinstance(x, (int, float)) and not isinstance(x, bool):
        yield path, x


def test_an_export_holds_what_the_project_measured():
    """What an import brought is not passed on by an export (whoever already has it, its
    author first, would count it twice): after an import, the export is the one before it, to
    rounding; with include_imported it is the sum; a state that knows only an import exports
    nothing of it."""
    from simpulse import exchange
    donor = run(Learner(None, seed=3, toolchain="cccc"), 3, seed=3, effects={**TRUE, "no-async": -0.25})
    from_donor = _export(donor)
    lrn = run(Learner(None, seed=5, toolchain="cccc"), 2, seed=5)
    before = _export(lrn)
    lrn.record_event(exchange.import_event(exchange.plan_import(from_donor, lrn.catalogue).payload,
                                           weight=0.5, source="donor.json"))
    after = _export(lrn)
    got, want = dict(_numbers(after)), dict(_numbers(before))
    assert set(got) == set(want) and len(want) > 100
    for k, v in want.items():
        assert got[k] == pytest.approx(v, rel=1e-9, abs=1e-9), k
        assert type(got[k]) is type(v), k            # counts stay whole
    both = _export(lrn, include_imported=True)["toolchains"]["cccc"]
    mine, theirs = before["toolchains"]["cccc"], from_donor["toolchains"]["cccc"]
    for name, arm in both["glob"].items():
        for i in range(6):
            assert arm[i] == pytest.approx(mine["glob"].get(name, [0] * 6)[i] + 0.5 * theirs["glob"].get(name, [0] * 6)[i])
    assert both["noise"] == pytest.approx([m + 0.5 * t for m, t in zip(mine["noise"], theirs["noise"])])
    # a state whose only knowledge is an import
    other = Learner(None, seed=9, toolchain="cccc")
    other.record_event(exchange.import_event(exchange.plan_import(from_donor, other.catalogue).payload,
                                             weight=1.0, source="donor.json"))
    assert _export(other)["toolchains"] == {}
    assert _export(other, include_imported=True)["toolchains"]["cccc"]["arms"] == theirs["arms"]


def test_an_import_of_an_origin_seen_before_replaces_what_it_brought():
    """Imports carrying the same `origin` (the exporting state's id): the later one takes out
    what the earlier brought, in every toolchain (here one the later export no longer holds),
    so that importing a growing state's exports one after the other leaves what the last alone
    would have; imports without an origin, or of another, add up."""
    from simpulse import exchange
    donor = run(Learner(None, seed=3, toolchain="cccc"), 1, seed=3)
    monday = _export(donor, origin="aa" * 8)
    monday["toolchains"]["0ld"] = monday["toolchains"]["cccc"]        # and an earlier toolchain
    tuesday = _export(run(donor, 2, seed=4), origin="aa" * 8)

    def imported(*docs, weight=0.5):
        lrn = Learner(None, seed=5, toolchain="cccc")
        events = []
        record = lrn.record_event
        lrn.record_event = lambda e: (events.append(json_copy(e)), record(e))
        run(lrn, 1, seed=5)
        for doc in docs:
            lrn.record_event(exchange.import_event(exchange.plan_import(doc, lrn.catalogue).payload, weight=weight,
                                                   source="x.json", origin=doc.get("origin")))
        replay = empty_stats()                  # the state, shares per origin included, is the fold of its events
        for e in events:
            fold(replay, e)
        assert replay == json_copy(lrn.stats)
        return lrn.stats["toolchains"]

    both, last = imported(monday, tuesday), imported(tuesday)
    for key in ("arms", "glob", "noise"):
        assert _flat_close(both["cccc"][key], last["cccc"][key]), key
    assert _flat_close(both["cccc"]["imp"]["arms"], last["cccc"]["imp"]["arms"])
    assert all(v == 0 for by in both["0ld"]["arms"].values() for a in by.values() for v in a)
    assert "aa" * 8 not in both["0ld"]["imp"]["by"]
    # without an origin, or from another state, they add up
    monday.pop("origin")
    twice = imported(monday, monday, weight=0.5)
    once = imported(monday, weight=1.0)
    assert _flat_close(twice["cccc"]["arms"], once["cccc"]["arms"])
    tuesday["origin"] = "bb" * 8
    assert not _flat_close(imported(monday, tuesday)["cccc"]["arms"], last["cccc"]["arms"])


def _flat_close(a, b) -> bool:
    x, y = dict(_numbers(a)), dict(_numbers(b))
    keys = set(x) | set(y)
    return all(x.get(k, 0.0) == pytest.approx(y.get(k, 0.0), rel=1e-9, abs=1e-9) for k in keys)


def test_an_export_leaves_out_evidence_that_cancelled_out():
    """A module that moves to another context takes its contributions with it: the first
    context's block is left with rounding residues (−1e-15 on a diagonal), which an export used
    to carry and `simpulse import` to refuse. The export leaves them out and validates; the
    validator tolerates such residues in files written before."""
    from simpulse import exchange
    lrn = run(Learner(None, seed=5, toolchain="cccc"), 2, seed=5, ctx="arith")
    lrn = run(lrn, 1, seed=6, ctx="simp_heavy")        # the same modules, now simp_heavy
    M = lrn.stats["toolchains"]["cccc"]["J"]["arith"]["M"]
    assert max(abs(M[i][i]) for i in range(len(M))) < 1e-9     # nothing left but residues
    doc = _export(lrn)
    assert "arith" not in doc["toolchains"]["cccc"]["joint"] and "simp_heavy" in doc["toolchains"]["cccc"]["joint"]
    doc["toolchains"]["cccc"]["joint"]["arith"] = block = {
        "names": ["no-linters", "no-async"], "M": [[2.0, 0.0], [0.0, -1e-15]], "b": [-0.2, 0.0],
        "q": 0.5, "d": 1.0, "fail": {}}
    exchange.validate(doc)
    block["M"][1][1] = -1e-3
    with pytest.raises(exchange.SimpulseError, match=r"arith\.M\[1\]\[1\]: .* is negative"):
        exchange.validate(doc)


def test_an_import_is_weighed_against_the_projects_own_evidence():
    """An import is another project's evidence: it is kept apart (subtracting it leaves
    nothing), and the probability that it describes the project follows the project's own
    compiles — up where they agree with it, towards 0 where they contradict it, and then the
    posterior the learner reports and exploits is the one without the import."""
    from simpulse import learner as L
    fits = _imported(TRUE)
    tc = fits.stats["toolchains"]["cccc"]
    joint, own, p, bf = fits.models("simp_heavy")
    assert own is not None and bf == pytest.approx(0.0, abs=1e-6) and p == pytest.approx(L.IMPORT_TRUST)
    block = L.J.without_features(L._evidence_block(tc, "simp_heavy"), {})
    left, _ = L.without_import(block, tc, "simp_heavy")
    assert max(abs(v) for row in left["M"] for v in row) < 1e-6 and left["fail"] == {}
    assert fits.models("arith")[1] is None          # a context the import says nothing of
    run(fits, 3, seed=5)
    joint, own, p, bf = fits.models("simp_heavy")
    assert bf > 1 and p > 0.8
    assert fits.joint_posterior("simp_heavy").speed("simp-lean") == joint.speed("simp-lean")

    # the donor's simp_heavy had other winners: simp-lean slowed it, no-async helped
    other = dict(TRUE, **{"simp-lean": 0.25, "no-async": -0.30})
    events = []
    misfit = _imported(other, events=events)
    assert misfit.exploit("simp_heavy") == "no-async"
    run(misfit, 3, seed=5)
    joint, own, p, bf = misfit.models("simp_heavy")
    assert bf < -5 and p < 0.01
    # the posterior with the import is still pulled its way; the one without it is the project's
    assert joint.speed("no-async") < own.speed("no-async") - 0.1 and own.speed("no-async") > 0
    assert misfit.joint_posterior("simp_heavy").speed("no-async") == own.speed("no-async")
    assert misfit.exploit("simp_heavy") == "simp-lean"
    # each compile records what its context's evidence said of the import
    assert events[0]["kind"] == "import" and all(isinstance(e["import_bf"], float) for e in events[1:])
    assert misfit.stats["toolchains"]["cccc"]["imp"]["bf"]["simp_heavy"] == pytest.approx(events[-1]["import_bf"])
    # and the state, imported share and verdicts included, is the fold of its events
    replay = empty_stats()
    for e in events:
        fold(replay, e)
    assert replay == json_copy(misfit.stats)


def test_the_other_contexts_verdicts_on_an_import_count_half(monkeypatch):
    from simpulse import learner as L
    lrn = _imported(TRUE)
    tc = lrn.stats["toolchains"]["cccc"]
    _, _, p0, bf = lrn.models("simp_heavy")
    tc["imp"]["bf"] = {"arith": -4.0, "simp_heavy": 50.0}     # its own entry is not counted twice
    _, _, p, _ = lrn.models("simp_heavy")
    odds = math.log(L.IMPORT_TRUST / (1 - L.IMPORT_TRUST)) + bf + L.IMPORT_POOL * -4.0
    assert p == pytest.approx(1 / (1 + math.exp(-odds))) and p < p0
    # another import: the verdicts were on the imports before it, none is pooled until the
    # contexts' next compiles take them again
    from simpulse import exchange
    doc = _export(run(Learner(None, seed=8, toolchain="cccc"), 1, seed=8))
    lrn.record_event(exchange.import_event(exchange.plan_import(doc, lrn.catalogue).payload, weight=0.5,
                                           source="another.json"))
    assert "bf" not in tc["imp"]
    lrn.observe(lrn.choose(module="M0", context="simp_heavy", features={}), seconds=1.0)
    assert set(tc["imp"]["bf"]) == {"simp_heavy"}


def test_an_imports_failures_price_the_breakage_but_suspend_nothing_here():
    """Failures in an import raise the breakage prior; a suspension rests on what broke in
    this project (a donor's unlucky failures once suspended a strategy for hundreds of
    compiles on a project where it broke 5% of modules)."""
    from simpulse import learner as L
    lrn = _imported(TRUE, weight=1.0, breaks=("single-thread",))
    tc = lrn.stats["toolchains"]["cccc"]
    assert tc["arms"]["simp_heavy"]["single-thread"][4] >= 2            # the donor's failures, merged
    assert lrn.suspension("simp_heavy", "single-thread") is None
    a, b, _ = lrn.joint_posterior("simp_heavy").breakage["single-thread"]
    a0, b0 = L.SAFE_BREAK_PRIOR                  # single-thread is declared safe
    assert a / (a + b) > 3 * a0 / (a0 + b0)
    for m in ("M1", "M2", "M3"):
        lrn.observe(force(lrn, "single-thread", m), seconds=0.5, ok=False, fallback_seconds=1.0, fallback_ok=True)
    assert lrn.suspension("simp_heavy", "single-thread") is not None     # its own failures do


def _fail(learner, name, module, source_hash, ctx="simp_heavy"):
    d = force(learner, name, module, ctx)
    d.source_hash = source_hash
    learner.observe(d, seconds=0.5, ok=False, fallback_seconds=1.0, fallback_ok=True, error="x")


def _picks(learner, module, source_hash, n=300, ctx="simp_heavy"):
    return Counter(learner.choose(module=module, context=ctx, features={}, source_hash=source_hash).strategy.name
                   for _ in range(n))


def test_a_strategy_declared_safe_that_broke_a_module_waits_for_an_edit():
    """Lean is deterministic: a strategy that failed on a module — declared safe or not — is
    not offered for that version of its source again; an edit makes it eligible again, and
    going back to the version it broke rules it out again."""
    lrn = Learner(None, seed=21)                                 # nothing learned: every strategy drawn
    assert not lrn.catalogue.get("no-linters").may_break
    _fail(lrn, "no-linters", "G", "h1")
    assert lrn.known_failures("G", "h1") == {"no-linters"}        # no breaking signature to spread
    picks = _picks(lrn, "G", "h1")
    assert picks["no-linters"] == 0 and len(picks) > 2
    assert lrn.exploit("simp_heavy", module="G", source_hash="h1") != "no-linters"
    # the source changes: eligible again (asked about, and once a compile of it is recorded)
    assert lrn.known_failures("G", "h2") == set()
    assert _picks(lrn, "G", "h2")["no-linters"] > 0
    d = force(lrn, "baseline", "G")
    d.source_hash = "h2"
    lrn.observe(d, seconds=1.0)
    assert lrn.known_failures("G", None) == set()                 # None: the version last seen
    # ... and the version it broke is still remembered
    assert lrn.known_failures("G", "h1") == {"no-linters"}
    assert _picks(lrn, "G", "h1")["no-linters"] == 0


def test_a_failure_recorded_without_a_source_hash_does_not_block_forever():
    """A failure event without a hash stands for the version the module had then: it blocks
    until the module is seen with another source (not for ever, as "*" once did)."""
    lrn = Learner(None, seed=22)
    _fail(lrn, "no-async", "A", None)                            # no version known at all
    assert lrn.known_failures("A", None) == {"no-async"}
    assert lrn.known_failures("A", "a1") == {"no-async"}          # may well be that version
    d = force(lrn, "baseline", "A")
    d.source_hash = "a1"
    lrn.observe(d, seconds=1.0)                                  # the first version seen: bound to it
    assert lrn.known_failures("A", "a1") == {"no-async"}
    assert lrn.known_failures("A", "a2") == set()
    # the module had a known version when a hash-less failure came: edited since → eligible
    _fail(lrn, "single-thread", "A", None)
    assert lrn.known_failures("A", "a1") == {"no-async", "single-thread"}
    assert lrn.known_failures("A", "a2") == set()
    d = force(lrn, "baseline", "A")
    d.source_hash = "a2"
    lrn.observe(d, seconds=1.0)
    assert lrn.known_failures("A", None) == set()
    assert lrn.known_failures("A", "a1") == {"no-async"}          # the hash-less one was dropped: unknown version


def test_a_toolchain_change_makes_a_broken_strategy_eligible_again():
    """The failure memory is per toolchain (a new Lean may compile what the old one broke);
    back on the old toolchain, it holds again."""
    old = Learner(None, seed=23, toolchain="aaaa")
    _fail(old, "no-linters", "G", "h1")
    assert _picks(old, "G", "h1")["no-linters"] == 0
    new = Learner(None, seed=24, toolchain="bbbb")
    new._stats = old.stats
    assert new.known_failures("G", "h1") == set()
    assert _picks(new, "G", "h1")["no-linters"] > 0
    back = Learner(None, seed=25, toolchain="aaaa")
    back._stats = old.stats
    assert back.known_failures("G", "h1") == {"no-linters"}


def test_break_rates_are_learned_for_strategies_declared_safe():
    """A strategy declared safe carries no breakage rate in a context until it fails there;
    then its rate is learned from the weaker SAFE_BREAK_PRIOR. Breakage stays in its context."""
    from simpulse import learner as L
    lrn = run(Learner(None, seed=26), 2)
    run(lrn, 1, ctx="arith")
    assert "no-async" not in lrn.joint_posterior("simp_heavy").breakage
    assert "no-simprocs" in lrn.joint_posterior("arith").breakage          # declared: priced from the start
    _fail(lrn, "no-async", "M0", "h")
    here = lrn.joint_posterior("simp_heavy").breakage["no-async"]
    a0, b0 = L.SAFE_BREAK_PRIOR
    n_here = lrn.stats["toolchains"]["unknown"]["arms"]["simp_heavy"]["no-async"][3]
    assert here[:2] == (a0 + 1, b0 + n_here - 1)                       # n_here counts the failure
    assert "no-async" not in lrn.joint_posterior("arith").breakage
    assert L.SAFE_BREAK_PRIOR[0] / sum(L.SAFE_BREAK_PRIOR) < L.BREAK_PRIOR[0] / sum(L.BREAK_PRIOR)
    # more failures here: a higher rate, learned from the evidence
    for i in range(1, 4):
        _fail(lrn, "no-async", f"M{i}", "h")
    a, b, _ = lrn.joint_posterior("simp_heavy").breakage["no-async"]
    assert a == a0 + 4 and a / (a + b) > 2 * here[0] / (here[0] + here[1])


def test_excluded_strategies_are_never_offered_in_their_context():
    """`exclude` (context → strategies the profile or verify evidence rule out there): neither
    `choose` nor `exploit` offers them in that context; the baseline is never excluded; other
    contexts are unaffected."""
    lrn = Learner(None, seed=27, exclude={"simp_heavy": {"simp-lean", "no-simprocs", "baseline"}})
    run(lrn, 6)
    arms = {a.strategy: a.pulls for a in lrn.summary("simp_heavy")}
    assert arms["simp-lean"] == 0 and arms["no-simprocs"] == 0
    assert lrn.exploit("simp_heavy") == "no-linters"              # the best of what is left (−0.10)
    cands, _ = lrn._candidates("simp_heavy", "M0", None, lrn.joint_posterior("simp_heavy"))
    assert "baseline" in {s.name for s in cands}
    assert {s.name for s in cands} & {"simp-lean", "no-simprocs"} == set()
    # another context: everything is offered
    other = Counter(lrn.choose(module=f"X{i}", context="arith", features={}).strategy.name for i in range(300))
    assert other["simp-lean"] > 0 and other["no-simprocs"] > 0
