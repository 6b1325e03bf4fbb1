"""The simulated build workload of the learning benchmark (fixed seeds; no timing asserts)."""

import importlib.util
import math
import sys
from pathlib import Path

import pytest
from conftest import load_script

from simpulse.simulated import workload as W

ROOT = Path(__file__).resolve().parent.parent


def _bench():
    return load_script("bench_learning")


def _key(r: W.CompileRequest):
    return (r.index, r.build, r.module, r.name, r.context, tuple(sorted(r.features.items())))


def test_stream_is_deterministic_per_seed():
    a = [_key(r) for r in W.stream(3, 700)]
    b = [_key(r) for r in W.stream(3, 700)]
    c = [_key(r) for r in W.stream(4, 700)]
    assert len(a) == 700 and a == b
    assert a != c
    assert W.Workload(3).noise(50) == W.Workload(3).noise(50)
    assert [r.index for r in W.stream(3, 700)] == list(range(700))


def test_project_shape():
    wl = W.Workload(5)
    assert wl.n_modules == 300
    s = wl.summary()
    assert set(s["contexts"]) == set(W.CONTEXTS) and all(v > 0 for v in s["contexts"].values())
    assert 0.7 < s["median_base_seconds"] < 3.0
    for m in wl.modules:
        assert len(m.imports) <= 3 and all(j < m.id for j in m.imports)
        assert m.features["lines"] > 0 and m.features["declarations"] > 0
    # features follow the context: simp-heavy modules use simp more per declaration
    def simp_rate(ctx):
        ms = [m for m in wl.modules if m.context == ctx]
        return sum(m.features["simp"] for m in ms) / sum(m.features["declarations"] for m in ms)
    assert simp_rate("simp_heavy") > 2 * simp_rate("definitions")


def test_first_build_compiles_every_module_once_in_topological_order():
    wl = W.Workload(1, n_modules=120)
    reqs = list(wl.stream(400))
    first = [r for r in reqs if r.build == 1]
    assert [r.module for r in first] == list(range(120))
    pos = {r.module: i for i, r in enumerate(first)}
    for m in wl.modules:
        assert all(pos[j] < pos[m.id] for j in m.imports)
    assert reqs[120].build == 2


def _closure(wl: W.Workload, edited):
    importers = {m.id: [d.id for d in wl.modules if m.id in d.imports] for m in wl.modules}
    out, todo = set(edited), list(edited)
    while todo:
        for d in importers[todo.pop()]:
            if d not in out:
                out.add(d)
                todo.append(d)
    return out


def test_rebuild_recompiles_exactly_the_edited_modules_and_their_dependents():
    wl = W.Workload(2, n_modules=150)
    builds = wl.builds()
    b, edits, compiled = next(builds)
    assert b == 1 and compiled == list(range(150))
    seen_multi_module = False
    for _ in range(40):
        b, edits, compiled = next(builds)
        assert 1 <= len(edits) <= 4
        assert set(compiled) == _closure(wl, edits)
        assert compiled == sorted(compiled)                 # topological (ids are)
        assert len(set(compiled)) == len(compiled)
        seen_multi_module |= len(compiled) > len(edits)
    assert seen_multi_module
    # the stream follows the same builds
    reqs = list(wl.stream(2000))
    by_build = {}
    for r in reqs:
        by_build.setdefault(r.build, []).append(r.module)
    again = wl.builds()
    for b in sorted(by_build)[:-1]:                         # the last build may be cut short
        nb, _, compiled = next(again)
        assert nb == b and by_build[b] == compiled


def test_hot_modules_are_edited_more_often():
    wl = W.Workload(0)
    builds = wl.builds()
    next(builds)
    counts = {}
    for _ in range(300):
        _, edits, _ = next(builds)
        for e in edits:
            counts[e] = counts.get(e, 0) + 1
    top = sorted(counts.values(), reverse=True)
    assert top[0] >= 5 * top[len(top) // 2]


def test_oracle_is_cheapest_and_failures_cost_a_fallback():
    wl = W.Workload(7)
    n_breaks = {c: 0 for c in W.CONTEXTS}
    for m in wl.modules:
        costs = wl.expected_costs(m.id)
        orc = wl.expected_cost(m.id, wl.oracle(m.id))
        assert all(orc <= c + 1e-12 for c in costs)
        assert not wl.breaks(m.id, W.BASELINE)
        for s in wl.strategies:
            if wl.breaks(m.id, s):
                n_breaks[m.context] += 1
                assert s in ("no-simprocs", "simp-lean")
                frac = wl.fail_fraction(m.id, s)
                assert 0.3 <= frac <= 1.0
                assert wl.expected_cost(m.id, s) == pytest.approx(
                    W.NOISE_MEAN * (frac * wl.expected_time(m.id, s) + m.base_seconds))
                assert wl.expected_cost(m.id, s) > wl.expected_cost(m.id, W.BASELINE)
            else:
                assert wl.expected_cost(m.id, s) == pytest.approx(W.NOISE_MEAN * wl.expected_time(m.id, s))
    assert n_breaks["arith"] > 0 and n_breaks["structural"] == 0
    # breaking is a fixed property of (module, strategy): the same in every workload of the seed
    again = W.Workload(7)
    assert all(again.breaks(m.id, s) == wl.breaks(m.id, s) for m in wl.modules for s in wl.strategies)


def test_outcomes_use_the_predrawn_noise():
    wl = W.Workload(9)
    noise = wl.noise(10)
    broken = next((m.id, s) for m in wl.modules for s in wl.strategies if wl.breaks(m.id, s))
    m, s = broken
    out = wl.outcome(m, s, noise[3])
    assert not out.ok and out.fallback_ok
    assert out.fallback_seconds == pytest.approx(wl.modules[m].base_seconds * noise[3][0])
    assert out.seconds == pytest.approx(wl.fail_fraction(m, s) * wl.expected_time(m, s)
                                        * noise[3][wl.strategy_index(s)])
    ok = wl.outcome(m, W.BASELINE, noise[3])
    assert ok.ok and ok.fallback_seconds is None and ok.seconds == out.fallback_seconds
    # noise is skewed: outliers exist and the mean factor is about NOISE_MEAN
    flat = [f for row in wl.noise(4000) for f in row]
    assert max(flat) > 1.4
    assert abs(sum(flat) / len(flat) - W.NOISE_MEAN) < 0.02


def test_effect_table_lists_every_context_and_strategy():
    md = W.effect_table_markdown()
    for c in W.CONTEXTS:
        assert c in md
    for s in W.STRATEGIES[1:]:
        assert s in md
    assert "breaks 45%" in md
    for c in W.CONTEXTS:
        for s in W.STRATEGIES[1:]:
            assert 0.5 < W.TRUE_SPEED[c][s] < 1.3


def test_tiny_benchmark_run_is_sane():
    bench = _bench()
    res = bench.run(2, [300], ["baseline", "oracle", "thompson"], n_modules=60, jobs=1)
    agg = res["aggregate"]
    assert agg["oracle"][300]["regret"]["mean"] == 0
    assert agg["oracle"][300]["captured"]["mean"] == pytest.approx(1.0)
    assert agg["baseline"][300]["captured"]["mean"] == 0
    assert agg["baseline"][300]["regret"]["mean"] > 0
    assert agg["baseline"][300]["failures"]["mean"] == 0
    assert agg["thompson"][300]["captured"]["mean"] > 0
    for p in ("baseline", "oracle", "thompson"):
        assert agg[p][300]["broken_builds"]["mean"] == 0
        assert math.isfinite(agg[p][300]["regret"]["mean"])
    # identical streams: the baseline's regret is the oracle's achievable saving, per seed
    for r in res["runs"]:
        if r["policy"] == "baseline":
            cp = r["checkpoints"][300]
            assert cp["regret"] == pytest.approx(cp["achievable"])
    md = bench.markdown(res)
    assert "SIMULATED" in md and "| oracle | 300 |" in md
    # what each has learned, costed on a rebuild of every module
    assert agg["oracle"][300]["policy_quality"]["mean"] == pytest.approx(1.0)
    assert agg["baseline"][300]["policy_quality"]["mean"] == 0
    assert 0 < agg["thompson"][300]["policy_quality"]["mean"] <= 1


def test_measuring_what_mabwiser_learned_does_not_change_its_run():
    """The learned-policy measurement reads MABWiser's state: the run is the same with or
    without it (its Thompson sampling draws from its own random stream)."""
    pytest.importorskip("mabwiser")
    bench = _bench()
    with_q = bench.run_one(1, "mab-ts", [150, 300], n_modules=60)
    saved = bench._policy_quality
    try:
        bench._policy_quality = lambda wl, agent: None
        without_q = bench.run_one(1, "mab-ts", [150, 300], n_modules=60)
    finally:
        bench._policy_quality = saved
    assert with_q["checkpoints"][300]["regret"] == without_q["checkpoints"][300]["regret"]
    assert with_q["checkpoints"][300]["policy_quality"] is not None


def test_markers_replace_only_their_section(tmp_path):
    bench = _bench()
    p = tmp_path / "benchmarks.md"
    bench.write_between_markers(p, "first")
    text = p.read_text()
    assert bench.START in text and "first" in text
    p.write_text("# Other\n\nkeep me\n\n" + text + "\n## After\nkeep me too\n")
    bench.write_between_markers(p, "second")
    text = p.read_text()
    assert "second" in text and "first" not in text
    assert text.count("keep me") == 2 and text.count(bench.START) == 1


def test_context_oracle_is_a_ceiling_between_learners_and_the_oracle():
    """The context oracle knows each context's true effects but not each module's: it captures
    less than the oracle, far more than always-baseline, and never repeats a failure."""
    bench = _bench()
    res = bench.run(3, [500], ["baseline", "ctx-oracle", "oracle"], n_modules=120, jobs=1)
    c = res["aggregate"]["ctx-oracle"][500]
    assert 0.85 < c["captured"]["mean"] < 1.0
    assert c["regret"]["mean"] > 0
    assert c["repeat_failures"]["mean"] == 0 and c["broken_builds"]["mean"] == 0
    lines = bench.learned_lines(res["aggregate"], [500])
    assert any(line.startswith("ceiling by 500") for line in lines)


def test_reference_learners_learn_between_baseline_and_the_context_oracle():
    """The two learning references — known-levels (Thompson sampling told each module's baseline
    time) and true-model (told how levels follow `lines`, not the levels) — learn: far above
    always-baseline, below the context oracle (it pays to learn), better by 2000 than by 500, no
    broken build, never a failure repeated on a module; each line is printed beside the targets."""
    bench = _bench()
    refs = {"known-levels": (0.5, "learning without the level problem"),
            "true-model": (0.4, "learning with simpulse's information")}
    res = bench.run(3, [500, 2000], [*refs, "ctx-oracle"], n_modules=120, jobs=1)
    c = res["aggregate"]["ctx-oracle"]
    lines = bench.learned_lines(res["aggregate"], [500, 2000])
    for policy, (floor, line) in refs.items():
        k = res["aggregate"][policy]
        assert floor < k[2000]["captured"]["mean"] < c[2000]["captured"]["mean"], policy
        assert k[500]["captured"]["mean"] < k[2000]["captured"]["mean"], policy
        assert k[2000]["repeat_failures"]["mean"] == 0 and k[2000]["broken_builds"]["mean"] == 0, policy
        assert any(x.startswith(line) for x in lines), policy


def test_true_model_reference_measures_a_paired_effect_through_unknown_levels():
    """The true-model reference integrates each module's level out: a module compiled ten times
    under baseline and ten under a strategy 18 % faster teaches the strategy's effect (up to the
    prior's small shrinkage) and the module's level, whatever `lines` predicted; a module
    compiled only under baseline teaches no effect at all."""
    bench = _bench()
    W = bench.W
    wl = W.Workload(0, 60)
    agent = bench.TrueModelAgent(wl, 0)
    m, other = wl.modules[5], next(x for x in wl.modules if x.context == wl.modules[5].context and x.id != 5)
    ctx, s = m.context, "lean-fast"

    def compile_(mod, strategy, seconds, i):
        req = W.CompileRequest(i, 2, mod.id, mod.name, ctx, dict(mod.features))
        agent.observe(req, strategy, W.Outcome(seconds, True, None, None))

    for i in range(10):
        compile_(other, "baseline", 9.0, i)
    mean, _ = agent._posterior(ctx)
    assert all(abs(v) < 1e-9 for v in mean[:-1])               # no effect learned from baseline alone
    for i in range(10):
        compile_(m, "baseline", 2.0, i)
        compile_(m, s, 2.0 * math.exp(-0.2), i)
    mean, _ = agent._posterior(ctx)
    assert -0.2 < mean[agent.names.index(s)] < -0.18
    assert abs(agent._level_mean(m, mean) - math.log(2.0)) < 0.02
    assert agent.exploit(m) == s


def test_reference_sweep_runs_a_reference_under_each_decision_rule():
    """--reference-sweep: one row per (rule, draw scale or c, temperature clip); the row of
    simpulse's own rule (thompson, scale 0.5, clip [0.25, 4]) is exactly the reference of a
    normal run on the same seeds, and every other rule gives other figures (the options reach
    the agent); it sweeps known-levels too; options are refused for a policy that is not a
    reference, and an unknown rule or reference is refused; the table names the best rule."""
    bench = _bench()
    rules = (("thompson", 0.5), ("thompson", 4.0), ("ucb", 1.0))
    temps = ((0.25, 4.0), (1.0, 1.0))
    for reference in ("true-model", "known-levels"):
        rows = bench.reference_sweep(2, [200], n_modules=80, jobs=1, reference=reference, rules=rules,
                                     temperatures=temps)
        assert [(r["rule"], r["param"], r["temperature"]) for r in rows] == [
            (rule, v, t) for rule, v in rules for t in temps]
        ref = bench.run(2, [200], [reference], n_modules=80, jobs=1)["aggregate"][reference][200]
        assert rows[0]["captured"][200][0] == pytest.approx(ref["captured"]["mean"])
        assert rows[0]["regret"][200][0] == pytest.approx(ref["regret"]["mean"])
        assert len({round(r["regret"][200][0], 6) for r in rows}) == 6
        md = bench.sweep_markdown(rows, [200], 2, 0)
        assert md.count("\n| ") == 7 and "best by 200:" in md and f"`{reference}`" in md
    with pytest.raises(SystemExit, match="takes no options"):
        bench.make_agent("thompson", bench.W.Workload(0, 20), 0, options={"scale": 1.0})
    with pytest.raises(SystemExit, match="unknown decision rule"):
        bench.make_agent("true-model", bench.W.Workload(0, 20), 0, options={"rule": "greedy"})
    with pytest.raises(SystemExit, match="known-levels"):
        bench.reference_sweep(1, [50], n_modules=20, jobs=1, reference="oracle")


def _agent_of_run(bench, *args, **kw):
    """The agent `bench.run_one(*args, **kw)` ran, as it was at the end of the run."""
    seen = []
    real = bench.make_agent

    def spy(*a, **k):
        agent = real(*a, **k)
        seen.append(agent)
        return agent
    bench.make_agent = spy
    try:
        bench.run_one(*args, **kw)
    finally:
        bench.make_agent = real
    return seen[0]


def test_lag_delivers_each_result_that_many_decisions_late():
    """--lag N (a build of N + 1 parallel jobs): a policy decides while the last N compiles'
    results are still out. Lag 0 is the sequential run; a lag changes what a learner does but
    not what the context oracle (which learns nothing) does; the learner has then recorded
    every compile but the last N; the CLI refuses a negative lag."""
    bench = _bench()
    def run(policy, **kw):
        cp = bench.run_one(3, policy, [150], n_modules=40, **kw)["checkpoints"][150]
        cp.pop("decision_us")                 # wall time
        cp.pop("decision_us_p50")
        return cp
    seq = run("thompson")
    assert run("thompson", lag=0) == seq
    assert run("thompson", lag=6)["regret"] != seq["regret"]
    assert run("ctx-oracle", lag=0) == run("ctx-oracle", lag=6)
    agent = _agent_of_run(bench, 3, "thompson", [150], n_modules=40, lag=6)
    counters = agent.learner.stats["counters"]
    assert counters["compiles"] == 150 - 6 and len(agent.decisions) == 6
    with pytest.raises(SystemExit):
        bench.main(["--lag", "-1", "--quick"])


@pytest.mark.slow        # runs the benchmark script end to end (six seeds, its tables)
def test_calibration_script_measures_the_learner_against_the_truth(capsys, monkeypatch):
    """scripts/bench_calibration.py: on a small project rebuilt whole, the learner's regret is
    positive and bounded by always-baseline's, it claims the strong effect (simp-lean, −0.30) in
    most seeds, and its intervals rarely miss the truth; `main` prints the tables and, with
    --no-write, leaves docs/benchmarks.md alone."""
    spec = importlib.util.spec_from_file_location("bench_calibration", ROOT / "scripts" / "bench_calibration.py")
    mod = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, "bench_calibration", mod)      # its pool's workers find it by name
    spec.loader.exec_module(mod)
    runs = [mod.small_run((seed, 16, 12)) for seed in range(6)]
    assert all(0 < r[0] < r[1] for r in runs)                     # below always-baseline's regret
    assert sum(r[3] >= 1 for r in runs) >= 4                      # at least one claim in most seeds
    assert sum(r[4] for r in runs) / len(runs) <= 1.5             # of 6 intervals, few miss
    doc = ROOT / "docs" / "benchmarks.md"
    before = doc.read_text() if doc.exists() else None
    assert mod.main(["--seeds", "2", "--no-write"]) == 0
    out = capsys.readouterr().out
    assert "SIMULATED" in out and "| 2000 |" in out and "strategies claimed" in out
    assert (doc.read_text() if doc.exists() else None) == before


def test_toolchain_change_runs_the_learner_under_an_earlier_toolchain_first():
    """--toolchain-change: the learner first builds the project under an earlier toolchain (its
    own edit history; effects the workload's own or shifted between contexts), then the measured
    stream runs under the current toolchain, on which the earlier one's knowledge is a prior
    only: module records and pulls start from nothing there."""
    bench = _bench()
    shifted = bench.shifted_speed()
    assert sorted(shifted) == sorted(W.TRUE_SPEED) and shifted != W.TRUE_SPEED
    assert sorted(map(sorted, (v.items() for v in shifted.values()))) == \
        sorted(map(sorted, (v.items() for v in W.TRUE_SPEED.values())))
    a, b = W.Workload(3, 40), W.Workload(3, 40, stream_seed=99)
    assert [m.base_seconds for m in a.modules] == [m.base_seconds for m in b.modules]
    assert [r.module for r in a.stream(120)] != [r.module for r in b.stream(120)]
    assert a.noise(5) != b.noise(5)
    c = W.Workload(3, 40, level_change=(-0.1, 0.2))      # the same sources under another toolchain
    assert [m.features for m in a.modules] == [m.features for m in c.modules]
    ratios = [math.log(y.base_seconds / x.base_seconds) for x, y in zip(a.modules, c.modules)]
    assert len(set(round(r, 6) for r in ratios)) == 40 and -0.2 < sum(ratios) / 40 < 0.0
    lrn = _agent_of_run(bench, 3, "thompson", [100], n_modules=40, toolchain_change="same",
                        earlier_compiles=300).learner
    assert lrn.toolchain == "unknown" and lrn.toolchains() == ["earlier-toolchain", "unknown"]
    assert sum(lrn.pulls_by_strategy(toolchain="earlier-toolchain").values()) > 0
    assert lrn.counters()["compiles"] == 400
    # modules compiled under both toolchains carry their earlier level
    names = list(lrn.stats["toolchains"]["unknown"]["modules"])
    assert names and all(lrn.module(n, toolchain="earlier-toolchain") is not None for n in names)
    assert all(lrn.module(n).carried_level is not None for n in names)
    with pytest.raises(SystemExit):
        bench.run_one(3, "known-levels", [50], n_modules=20, toolchain_change="same")
    with pytest.raises(SystemExit):
        bench.main(["--toolchain-change", "same", "--policies", "mab-ts", "--quick"])
    with pytest.raises(SystemExit):
        bench.main(["--toolchain-change", "same", "--level-change", "0,-1", "--quick"])


def test_import_from_starts_the_learner_from_another_projects_export():
    """--import-from: the learner starts from an import, through the export format and
    `simpulse import`'s plan, of what it learned on another project (same toolchain)."""
    bench = _bench()
    lrn = _agent_of_run(bench, 3, "thompson", [60], n_modules=40, imported=("same", 0.5),
                        earlier_compiles=200).learner
    assert lrn.stats["counters"]["imports"] == 1 and lrn.stats["counters"]["compiles"] == 60
    tc = lrn.stats["toolchains"][lrn.toolchain]
    assert tc["J"] and sum(a[0] for by in tc["arms"].values() for a in by.values()) > 0
    # the imported share is kept apart, and every compile in a context it speaks of weighed it
    assert tc["imp"]["J"] and set(tc["imp"]["J"]) <= set(tc["J"])
    assert set(tc["imp"]["bf"]) <= set(tc["imp"]["J"]) and tc["imp"]["bf"]
    # `machine`: the threading strategies' effects change, the others stay, and with them
    # the best strategy of three contexts of five
    machine = bench.machine_speed()
    for ctx, by in machine.items():
        assert by["no-async"] == 1.10 and by["single-thread"] == 1.12
        assert by["lean-fast"] == pytest.approx(W.TRUE_SPEED[ctx]["no-linters"] * 1.10)
        assert all(by[s] == W.TRUE_SPEED[ctx][s] for s in ("no-linters", "no-simprocs", "simp-lean"))
    changed = {c for c in W.CONTEXTS
               if min(machine[c], key=machine[c].get) != min(W.TRUE_SPEED[c], key=W.TRUE_SPEED[c].get)}
    assert changed == {"arith", "structural", "general"}
    with pytest.raises(SystemExit):
        bench.main(["--import-from", "same", "--import-weight", "0", "--quick"])
    with pytest.raises(SystemExit):
        bench.main(["--import-from", "same", "--toolchain-change", "same", "--quick"])


def test_safe_breaks_variant_breaks_the_same_modules_every_time():
    """`safe-breaks`: strategies declared safe break modules too, the same ones every time —
    a fixed draw per (module, what the strategy turns off), per seed, whatever the noise or
    the edits — and a strategy breaks what the things it turns off break."""
    seen_safe = 0
    for seed in range(5):
        wl = W.Workload(seed, 120, variant="safe-breaks")
        again = W.Workload(seed, 120, variant="safe-breaks")
        for m in wl.modules:
            for s in W.STRATEGIES:
                assert wl.breaks(m.id, s) == again.breaks(m.id, s)
            assert not wl.breaks(m.id, "baseline") and not wl.breaks(m.id, "single-thread")
            assert wl.breaks(m.id, "lean-fast") == (wl.breaks(m.id, "no-linters") or wl.breaks(m.id, "no-async"))
            assert wl.breaks(m.id, "simp-lean") == (wl.breaks(m.id, "no-linters") or wl.breaks(m.id, "no-simprocs"))
            seen_safe += wl.breaks(m.id, "no-linters") + wl.breaks(m.id, "no-async")
        noise = wl.noise(1500)
        verdict: dict = {}
        for req in wl.stream(1500):
            for s in W.STRATEGIES:
                ok = wl.outcome(req.module, s, noise[req.index]).ok
                assert verdict.setdefault((req.module, s), ok) == ok      # every compile, every version
        assert max(r.version for r in wl.stream(1500)) > 0
    assert seen_safe > 0
    # drawn per seed: another seed, another truth; the default workload keeps its own
    a, b = W.Workload(0, 60, variant="safe-breaks"), W.Workload(1, 60, variant="safe-breaks")
    assert a.speed != b.speed and a.break_rate != b.break_rate
    assert W.Workload(0, 60).speed is W.TRUE_SPEED and W.Workload(0, 60).break_rate is W.BREAK_RATE


def test_safe_breaks_variant_favours_no_strategy_by_construction():
    """Its effects are drawn independently per (context, strategy): over 50 seeds × 5 contexts
    every strategy is the context's best somewhere (the one that never breaks, single-thread,
    most often; simp-lean, which breaks most, least)."""
    from collections import Counter
    wins = Counter()
    for seed in range(50):
        wl = W.Workload(seed, 30, variant="safe-breaks")
        for c in W.CONTEXTS:
            wins[min(W.STRATEGIES, key=lambda s: wl.context_multiplier(c, s))] += 1
    assert all(wins[s] >= 10 for s in W.STRATEGIES[1:])
    assert max(wins.values()) <= 80


def test_versions_count_the_edits_of_a_modules_source():
    wl = W.Workload(2, 80)
    version = [0] * 80
    reqs = list(wl.stream(600))
    assert all(r.version == 0 for r in reqs if r.build == 1)
    for b, edits, _ in wl.builds():
        if b > reqs[-1].build:
            break
        for m in edits:
            version[m] += 1
        for r in reqs:
            if r.build == b:
                assert r.version == version[r.module]


def test_safe_breaks_run_never_repeats_a_failure_on_an_unchanged_source():
    """On the variant, simpulse's learner (given each version's source hash) never runs a
    strategy again on a module's source it broke; the benchmark counts the runs that do."""
    bench = _bench()
    r = bench.run_one(3, "thompson", [800], n_modules=100, variant="safe-breaks")
    cp = r["checkpoints"][800]
    assert cp["failures"] > 0 and cp["repeat_same_source"] == 0 and cp["broken_builds"] == 0
    # uniform random has no memory: it does run strategies again where they failed
    r = bench.run_one(3, "random", [800], n_modules=100, variant="safe-breaks")
    assert r["checkpoints"][800]["repeat_same_source"] > 0


def test_a_bare_benchmark_run_writes_no_file(tmp_path):
    bench = _bench()
    md, js = tmp_path / "b.md", tmp_path / "b.json"
    args = ["--seeds", "1", "--compiles", "30", "--modules", "20", "--policies", "baseline,oracle", "--jobs", "1",
            "--markdown", str(md), "--json", str(js)]
    assert bench.main(args) == 0
    assert not md.exists() and not js.exists()
    assert bench.main(args + ["--write-docs"]) == 0
    assert bench.START in md.read_text() and js.exists()
    assert bench.main(args + ["--write-docs", "--workload", "safe-breaks"]) == 0
    text = md.read_text()
    assert bench.START in text and bench.MARKERS["safe-breaks"][0] in text
