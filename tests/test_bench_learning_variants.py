"""The learning benchmark's kind variants (issue 21): hidden kinds inside contexts, visible only
through tactic counts; effects drawn per seed; skewed edits. Fixed seeds; no timing asserts."""

from collections import Counter

import pytest
from conftest import load_script

from simpulse.simulated import workload as W


def _bench():
    return load_script("bench_learning")


def test_the_default_workload_has_no_kinds_and_is_unchanged_by_the_variants():
    """The kinds are drawn from a generator of their own: a kind variant's project has the
    default's modules, contexts, base times and imports; only tactic counts are added."""
    d, m = W.Workload(5, 120), W.Workload(5, 120, variant="mixed-contexts")
    assert all(x.kind == "" and not set(W.KIND_FEATURES) & set(x.features) for x in d.modules)
    for a, b in zip(d.modules, m.modules):
        assert (a.name, a.context, a.base_seconds, a.imports) == (b.name, b.context, b.base_seconds, b.imports)
        assert {k: v for k, v in b.features.items() if k not in W.KIND_FEATURES} == a.features
        assert b.kind in [k for k, *_ in W.KINDS[b.context]]
    assert d.groups() == W.CONTEXTS and m.groups() == W.ALL_KINDS


def test_hidden_kinds_show_in_tactic_counts_never_in_names():
    wl = W.Workload(1, 300, variant="random-effects")
    for mod in wl.modules:
        assert mod.kind not in mod.name and mod.kind not in mod.context
    # in each context, a kind's own tactic is counted more often in its modules than in the others'
    # (a kind with no tactic of its own, `misc`, shows by the absence of the others')
    for ctx in W.CONTEXTS:
        for kind, _, rates, _ in W.KINDS[ctx]:
            def margin(key, kind=kind, rates=rates, ctx=ctx):
                return rates.get(key, 0) - max(r.get(key, 0) for k, _, r, _ in W.KINDS[ctx] if k != kind)
            key = max(W.KIND_FEATURES, key=margin)
            if margin(key) <= 0:
                continue
            mine = [x.features[key] / x.features["declarations"] for x in wl.modules if x.kind == kind]
            others = [x.features[key] / x.features["declarations"] for x in wl.modules
                      if x.context == ctx and x.kind != kind]
            if len(mine) >= 5 and len(others) >= 5:
                assert sum(mine) / len(mine) > sum(others) / len(others)


def test_mixed_contexts_kinds_have_different_best_strategies_within_a_context():
    wl = W.Workload(0, 300, variant="mixed-contexts")
    for ctx in W.CONTEXTS:
        bests = {min(W.STRATEGIES, key=lambda s: wl.group_multiplier(k, s)) for k, *_ in W.KINDS[ctx]}
        assert len(bests) >= 2, ctx


def test_alike_kinds_look_like_mixed_contexts_and_respond_like_their_context():
    """alike-kinds: the kinds and tactic counts of mixed-contexts, each kind with its own
    context's default effects and break rates (kinds that look different, respond alike)."""
    a, m = W.Workload(3, 200, variant="alike-kinds"), W.Workload(3, 200, variant="mixed-contexts")
    for x, y in zip(a.modules, m.modules):
        assert (x.kind, x.features) == (y.kind, y.features)
    for ctx in W.CONTEXTS:
        for k, *_ in W.KINDS[ctx]:
            assert a.speed[k] == W.TRUE_SPEED[ctx] and a.break_rate[k] == W.BREAK_RATE.get(ctx, {})
            assert all(a.group_multiplier(k, s) == W.context_expected_multiplier(ctx, s, W.TRUE_SPEED, W.BREAK_RATE)
                       for s in W.STRATEGIES)


def test_random_effects_favour_no_strategy_by_construction():
    wins = Counter()
    for seed in range(40):
        wl = W.Workload(seed, 30, variant="random-effects")
        for k in W.ALL_KINDS:
            wins[min(W.STRATEGIES, key=lambda s: wl.group_multiplier(k, s))] += 1
    assert all(wins[s] >= 10 for s in W.STRATEGIES[1:])


def test_skewed_edits_concentrate_the_edits_on_a_few_modules():
    def top5_share(variant):
        wl = W.Workload(2, 300, variant=variant)
        edits = Counter()
        for b, ed, _ in wl.builds():
            if b > 400:
                break
            edits.update(ed)
        total = sum(edits.values())
        return sum(n for _, n in edits.most_common(5)) / total
    assert top5_share("skewed-edits") > 0.75 > top5_share("random-effects")


def test_competitors_and_references_are_told_the_hidden_kind():
    pytest.importorskip("mabwiser")
    bench = _bench()
    wl = W.Workload(0, 60, variant="mixed-contexts")
    agent = bench.make_agent("mab-ucb1-a01", wl, 0)
    req = next(iter(wl.stream(1)))
    agent.observe(req, W.BASELINE, wl.outcome(req.module, W.BASELINE, [1.0] * len(wl.strategies)))
    agent.observe(req, "no-linters", wl.outcome(req.module, "no-linters", [1.0] * len(wl.strategies)))
    assert set(agent.mabs) == {wl.modules[req.module].kind}
    oracle = bench.make_agent("ctx-oracle", wl, 0)
    assert set(oracle.rank) == set(W.ALL_KINDS)


def test_a_kind_variant_run_reports_the_issues_metrics():
    bench = _bench()
    res = bench.run(1, [300], ["thompson", "oracle"], n_modules=60, jobs=1, variant="skewed-edits")
    cell = res["aggregate"]["thompson"][300]
    for key in ("slower_last500", "decision_us_p50", "repeat_same_source", "captured_rebuilds"):
        assert key in cell
    assert res["aggregate"]["oracle"][300]["slower_last500"]["mean"] == 0
    md = bench.markdown(res)
    assert "hidden kind" in md and "slower, last 500" in md and "rewrite_lemmas" in md


def test_the_per_seed_breakdown_splits_the_regret(capsys):
    """`--per-seed`: each seed's regret at the last checkpoint with what it came from. Build 1 is
    part of the total; exploring and exploiting in rebuilds are disjoint parts of it (an oracle
    explores nothing and loses nothing); only simpulse's learners say which compiles explore."""
    bench = _bench()
    res = bench.run(2, [300], ["thompson", "oracle", "random"], n_modules=60, jobs=1, variant="random-effects")
    for r in res["runs"]:
        c = r["checkpoints"][300]
        assert c["build1_regret"] <= c["regret"] + 1e-9
        assert c["explore_regret"] + c["rebuild_exploit_regret"] <= c["regret"] + 1e-9
        if r["policy"] == "thompson":
            assert c["explore_regret"] > 0 and c["rebuild_exploit_regret"] > 0
            assert c["build1_regret"] < c["regret"]          # 60 modules: builds ≥ 2 within 300 compiles
        elif r["policy"] == "oracle":
            assert c["regret"] == 0 and c["explore_regret"] == 0
        else:                                               # not a simpulse learner: no split
            assert c["explore_regret"] == 0 and c["rebuild_exploit_regret"] > 0
    bench.print_per_seed(res)
    out = capsys.readouterr().out
    assert out.count("    seed ") == 6 and "exploiting in rebuilds" in out
    random_rows = out.split("random:")[1]
    assert "exploring      –" in random_rows


def test_import_heavy_adds_import_loading_that_no_strategy_speeds_up():
    """import-heavy: the default's project, each module's time its own work (what its features
    describe) plus IMPORT_SECONDS per module of its import closure; a strategy's effect acts on
    the own work only."""
    import math
    d, h = W.Workload(4, 150), W.Workload(4, 150, variant="import-heavy")
    closures: list[set[int]] = []
    for a, b in zip(d.modules, h.modules):
        c: set[int] = set()
        for j in a.imports:
            c |= {j} | closures[j]
        closures.append(c)
        assert (a.name, a.context, a.imports) == (b.name, b.context, b.imports)
        assert {k: v for k, v in b.features.items() if k != "import_closure"} == a.features
        assert b.features.get("import_closure", 0) == len(c)
        imp = W.IMPORT_SECONDS * len(c)
        assert b.base_seconds == pytest.approx(a.base_seconds + imp)
        for s in W.STRATEGIES[1:]:
            # the same draw of the effect, on the own work: t_s = own·e^δ + imports
            own_t = a.base_seconds * math.exp(d.log_effect(a.id, s))
            assert h.expected_time(b.id, s) == pytest.approx(own_t + imp)
    assert max(len(c) for c in closures) > 20           # some modules load much
