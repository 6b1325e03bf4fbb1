"""`simpulse bench` against the simulated toolchain, and its statistics (`simpulse.stats.bench`)."""

from __future__ import annotations

import json
import math
import shutil

import numpy as np
import pytest
from scipy import stats as st

from conftest import FIXTURES, Project, scratch_project
from simpulse.stats import bench as B


@pytest.fixture(scope="module")
def built(tmp_path_factory, sim_toolchain) -> Project:
    proj = scratch_project(tmp_path_factory.mktemp("bench"), sim_toolchain)
    proj.simpulse("build", "--seed", "1", check=0)
    return proj


@pytest.fixture(scope="module")
def bench_json(built, tmp_path_factory):
    """One --json bench with two strategies (one of them breaks the module), argv logged."""
    d = tmp_path_factory.mktemp("bench-out")
    log = d / "argv.jsonl"
    before = built.outputs()
    n_events = len(built.events(kind=None))
    p = built.simpulse("bench", "Fixtures/Literals.lean", "--runs", "3", "--warmup", "1",
                       "--strategy", "no-linters", "--strategy", "no-simprocs", "--json",
                       "--export-json", str(d / "b.json"), "--export-markdown", str(d / "b.md"),
                       env={"SIMPULSE_SIM_ARGV_LOG": str(log)}, check=0)
    return {"data": json.loads(p.stdout), "stderr": p.stderr, "dir": d, "log": log,
            "outputs_before": before, "n_events": n_events}


def test_bench_json_arms_and_ratios(bench_json):
    data = bench_json["data"]
    assert data["simulated"] is True and data["runs"] == 3 and data["warmup"] == 1
    assert data["context"] and data["module"] == "Fixtures.Literals"
    arms = {a["name"]: a for a in data["arms"]}
    assert list(arms) == ["baseline", "baseline (A/A)", "no-linters", "no-simprocs"]
    base, aa, nl, ns = (arms[k] for k in ("baseline", "baseline (A/A)", "no-linters", "no-simprocs"))
    for a in (base, aa, nl):
        assert a["n"] == 3 and len(a["times"]) == 3 and len(a["warmup_times"]) == 1
        assert a["min"] <= a["median"] <= a["max"] and a["stddev"] is not None and a["mean"] > 0
    assert base["ratio"] == 1.0 and aa["aa"] is True
    for a in (aa, nl):
        lo, hi = a["ci"]
        assert lo < a["ratio"] < hi
        ref = st.ttest_ind(np.log(a["times"]), np.log(base["times"]), equal_var=False).confidence_interval(0.95)
        assert lo == pytest.approx(math.exp(ref.low)) and hi == pytest.approx(math.exp(ref.high))
    assert data["noise_floor"] == pytest.approx(max(1 - aa["ci"][0], aa["ci"][1] - 1))
    # no-simprocs breaks Literals (simp needs the simprocs): reported, not run again
    assert ns["failed"] is True and "simp" in ns["error"] and ns["times"] == []


def test_bench_interleaves_and_leaves_the_build_alone(built, bench_json):
    calls = [json.loads(line) for line in bench_json["log"].read_text().splitlines()]
    compiles = [c for c in calls if c["kind"] == "compile"]

    def arm(argv):
        if any("simprocs=false" in a for a in argv):
            return "S"
        if any("linter.all=false" in a for a in argv):
            return "L"
        return "B"
    seq = "".join(arm(c["argv"]) for c in compiles)
    # round 1 (warm-up): B B L S — S breaks and is dropped; then three rounds of B B L
    assert seq == "BBLS" + "BBL" * 3
    for c in compiles:
        out = c["argv"][c["argv"].index("-o") + 1]
        assert ".lake" not in out                    # outputs in a temporary directory
        assert c["LEAN_PATH"].split(":")[1] == str(built.root / ".lake" / "build" / "lib" / "lean")
        assert "facade" not in c["exe"]              # the real lean, not the shim
    assert built.outputs() == bench_json["outputs_before"]


def test_bench_feeds_the_learner(built, bench_json):
    data = bench_json["data"]
    new = built.events(kind=None)[bench_json["n_events"]:]
    assert [e["id"] for e in new] == data["learned"]
    arms = {a["name"]: a for a in data["arms"]}
    by = {e["strategy"]: e for e in new}
    assert set(by) == {"no-linters", "no-simprocs"}
    for e in new:
        assert e["kind"] == "bench" and e["source"] == "bench" and e["context"] == data["context"]
        assert e["baseline_wall"] == pytest.approx(arms["baseline"]["median"], abs=1e-6)
        assert e["simulated"] is True and e["toolchain"] == data["toolchain"]["githash"]
    assert by["no-linters"]["wall"] == pytest.approx(arms["no-linters"]["median"], abs=1e-6)
    assert by["no-linters"]["outcome"] == "ok"
    assert by["no-simprocs"]["outcome"] == "strategy_failed" and by["no-simprocs"]["fallback_wall"] > 0


def test_bench_exports(bench_json):
    d = bench_json["dir"]
    exported = json.loads((d / "b.json").read_text())
    assert [a["name"] for a in exported["arms"]] == [a["name"] for a in bench_json["data"]["arms"]]
    md = (d / "b.md").read_text()
    assert "SIMULATED" in md and "| `baseline (A/A)` |" in md and "| `no-simprocs` | failed" in md


def test_bench_text_output(built):
    n = len(built.events(kind=None))
    p = built.simpulse("bench", "Fixtures/Tiny.lean", "--runs", "2", "--warmup", "0", "--no-learn",
                       env={"COLUMNS": "80"}, check=0)
    out = p.stdout
    assert "…" not in out and all(len(line) <= 80 for line in out.splitlines())
    assert "SIMULATED" in out and "baseline (A/A)" in out and "A/A noise" in out and "noise floor" in out
    for s in ("no-async", "single-thread", "threads-2"):    # every strategy active under the default profile (safe)
        assert s in out
    assert "no-linters" not in out and "lean-fast" not in out
    assert "95% CI" in out and "--no-learn" in out
    assert len(built.events(kind=None)) == n


def test_bench_needs_built_imports(tmp_path, sim_toolchain):
    root = tmp_path / "fixtures"
    shutil.copytree(FIXTURES, root, ignore=shutil.ignore_patterns(".lake", ".simpulse"))
    proj = Project(root, sim_toolchain)
    p = proj.simpulse("bench", "Fixtures/Arith.lean", "--runs", "2")
    assert p.returncode == 2 and "Fixtures.Basic" in p.stderr and "simpulse build" in p.stderr
    assert len(p.stderr.strip().splitlines()) == 1
    p = proj.simpulse("bench", "Fixtures/Arith.lean", "--runs", "1")
    assert p.returncode == 2 and "--runs" in p.stderr
    p = proj.simpulse("bench", "Fixtures/Arith.lean", "--strategy", "warp")
    assert p.returncode == 2 and "unknown strategy" in p.stderr


def test_bench_broken_baseline(built):
    p = built.simpulse("bench", "Broken.lean", "--runs", "2", "--warmup", "0", "--strategy", "no-linters")
    assert p.returncode == 2 and "does not compile with the baseline" in p.stderr


# --------------------------------------------------------------------------- statistics

def test_welch_interval_matches_scipy():
    a = [1.00, 1.10, 0.90, 1.05, 0.97]
    b = [2.00, 2.20, 1.90]
    r = B.log_ratio_ci(a, b)
    res = st.ttest_ind(np.log(a), np.log(b), equal_var=False)
    ci = res.confidence_interval(0.95)
    assert r["ratio"] == pytest.approx(math.exp(np.mean(np.log(a)) - np.mean(np.log(b))))
    assert r["ci"] == pytest.approx([math.exp(ci.low), math.exp(ci.high)])
    assert r["df"] == pytest.approx(res.df)
    assert B.verdict(r["ci"]) == "faster" and B.verdict(B.log_ratio_ci(b, a)["ci"]) == "slower"
    same = B.log_ratio_ci([1.0, 1.2, 0.9], [1.1, 0.95, 1.05])
    assert same["ci"][0] < 1 < same["ci"][1] and B.verdict(same["ci"]) == "same"


def test_welch_degenerate_cases():
    r = B.log_ratio_ci([1.0, 1.0], [2.0, 2.0])
    assert r["ratio"] == pytest.approx(0.5) and r["ci"] == pytest.approx([0.5, 0.5])
    r = B.log_ratio_ci([1.0], [2.0, 2.1])
    assert math.isnan(r["ci"][0]) and B.verdict(r["ci"]) == "unknown"


def test_summary_and_mad_outliers():
    times = [1.00, 1.02, 0.98, 1.01, 0.99, 1.60]
    s = B.summarize(times)
    assert s["n"] == 6 and s["median"] == pytest.approx(1.005) and s["min"] == 0.98 and s["max"] == 1.6
    assert s["mean"] == pytest.approx(np.mean(times)) and s["stddev"] == pytest.approx(np.std(times, ddof=1))
    raw_mad = np.median(np.abs(np.array(times) - np.median(times)))
    assert B.mad(times) == pytest.approx(1.4826 * raw_mad, rel=1e-4)
    assert B.outliers(times) == [5]
    # just inside / just outside 3 MAD
    m = B.mad([1.0, 1.0, 2.0, 3.0, 3.0])       # median 2, |dev| = 1,1,0,1,1 → MAD = 1.4826
    assert B.outliers([2.0, 2.0, 1.0, 3.0, 2.0 + 3 * m - 0.01]) == []
    assert B.outliers([2.0, 2.0, 1.0, 3.0, 2.0 + 3 * m + 0.01]) == [4]
    assert B.outliers([1.0, 1.0, 1.0, 5.0]) == []            # MAD 0: nothing flagged
    assert B.summarize([])["n"] == 0 and B.summarize([2.0])["stddev"] is None
