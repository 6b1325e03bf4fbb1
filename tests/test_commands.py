"""recommend, record, classify, strategies, config and init against the simulated toolchain."""

from __future__ import annotations

import json
import math
import shutil

import pytest

from conftest import cli, FIXTURES, Project, scratch_project
from simpulse.config import DEFAULTS, load_config
from simpulse.context.classify import CONTEXTS, classify
from simpulse.learner import Learner


@pytest.fixture(scope="module")
def built(tmp_path_factory, sim_toolchain) -> Project:
    proj = scratch_project(tmp_path_factory.mktemp("commands"), sim_toolchain)
    proj.simpulse("build", "--seed", "1", check=0)
    return proj


@pytest.fixture
def fresh(tmp_path, sim_toolchain) -> Project:
    """An unbuilt copy of the fixtures (no state directory)."""
    root = tmp_path / "fixtures"
    shutil.copytree(FIXTURES, root, ignore=shutil.ignore_patterns(".lake", ".simpulse"))
    return Project(root, sim_toolchain)


def one_line_error(code, err, *, contains=""):
    assert code == 2, err
    assert err.startswith("simpulse: error:") and len(err.strip().splitlines()) == 1, err
    assert contains in err, err


# --------------------------------------------------------------------------- recommend

def test_recommend_on_built_state(built, capsys, monkeypatch):
    monkeypatch.chdir(built.root)
    code, out, err = cli(capsys, "recommend", "Fixtures/SimpHeavy.lean", "--json", "--explore", "--seed", "3")
    assert code == 0, err
    d = json.loads(out)
    # its context, or the part of it it compiles in (model/parts.py)
    assert d["context"].split(".")[0] == "simp_heavy" and d["module"] == "Fixtures.SimpHeavy"
    assert d["strategy"] in {a["strategy"] for a in d["arms"]}
    lo, hi = d["ci"]
    assert lo <= d["expected_speedup"] <= hi and 0 <= d["confidence"] <= 1
    assert isinstance(d["explore"], bool) and d["reason"]
    assert d["simulated"] is True and d["state_dir"] == str(built.state)
    assert {"main", "own_pulls", "other_contexts_weight", "earlier_toolchain"} <= set(d["prior"])
    # recommending records nothing
    n = len(built.events(kind=None))
    code, out, err = cli(capsys, "recommend", "Fixtures/SimpHeavy.lean", "--explore", "--seed", "3")
    assert code == 0 and "SIMULATED" in out and "simp_heavy" in out and "expected" in out
    assert "exploiting" in out or "exploring" in out
    assert len(built.events(kind=None)) == n


def test_recommend_without_state_uses_priors(fresh, capsys, monkeypatch):
    monkeypatch.chdir(fresh.root)
    code, out, err = cli(capsys, "recommend", "Fixtures/Arith.lean", "--json")
    assert code == 0, err
    d = json.loads(out)
    assert d["context"] == "arith" and d["state_dir"] is None
    assert "prior" in d["prior"]["main"] or d["strategy"] == "baseline"
    assert not fresh.state.exists()
    code, out, err = cli(capsys, "recommend", "Fixtures/Nope.lean")
    one_line_error(code, err, contains="no such file")


# --------------------------------------------------------------------------- record

def test_record_writes_a_paired_event_and_moves_the_posterior(built, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(built.root)
    sdir = tmp_path / "state"
    shutil.copytree(built.state, sdir)
    n = len([e for e in Learner(sdir).store.iter_events()])
    code, out, err = cli(capsys, "record", "Fixtures/Arith.lean", "arith", "no-linters", "10", "8",
                         "--decision", "abc123", "--json", "--state-dir", str(sdir))
    assert code == 0, err
    d = json.loads(out)
    ev = d["event"]
    assert ev["kind"] == "record" and ev["context"] == "arith" and ev["strategy"] == "no-linters"
    assert ev["baseline_wall"] == 10 and ev["wall"] == 8 and ev["outcome"] == "ok" and ev["decision"] == "abc123"
    assert ev["path"] == "Fixtures/Arith.lean" and ev["module"] == "Fixtures.Arith"
    assert d["speedup"] == pytest.approx(1.25)
    assert d["after"]["pulls"] == d["before"]["pulls"] + 1
    # the posterior moves towards what was recorded
    assert abs(d["after"]["speedup"] - 1.25) < abs(d["before"]["speedup"] - 1.25)
    events = list(Learner(sdir).store.iter_events())
    assert len(events) == n + 1 and events[-1]["id"] == ev["id"]
    # --failed: the strategy is charged what it cost against its baseline
    code, out, err = cli(capsys, "record", "Fixtures/Arith.lean", "arith", "no-linters", "10", "3", "--failed",
                         "--state-dir", str(sdir))
    assert code == 0, err
    assert "failure" in out and "before" in out and "after" in out
    last = list(Learner(sdir).store.iter_events())[-1]
    assert last["outcome"] == "strategy_failed" and last["fallback_wall"] == 10
    assert Learner(sdir, toolchain=last["toolchain"]).arm("arith", "no-linters").fails >= 1


@pytest.mark.parametrize("args,msg", [
    (("arith", "no-linters", "-1", "2"), "BASELINE_S"),
    (("arith", "no-linters", "1", "0"), "OPTIMIZED_S"),
    (("arith", "no-linters", "nan", "1"), "BASELINE_S"),
    (("arith", "no-linters", "1", "inf"), "OPTIMIZED_S"),
    (("arith", "no-linters", "1", "-inf"), "OPTIMIZED_S"),
    (("arith", "no-linters", "fast", "1"), "BASELINE_S"),
    (("arithmetic", "no-linters", "1", "2"), "unknown context"),
    (("arith", "warp-speed", "1", "2"), "unknown strategy"),
])
def test_record_bad_inputs(built, tmp_path, capsys, monkeypatch, args, msg):
    monkeypatch.chdir(built.root)
    sdir = tmp_path / "state"
    code, out, err = cli(capsys, "record", "Fixtures/Arith.lean", *args, "--state-dir", str(sdir))
    one_line_error(code, err, contains=msg)
    assert not sdir.exists()                          # nothing written


def test_record_via_subprocess_negative_number(built, tmp_path):
    p = built.simpulse("record", "Fixtures/Arith.lean", "arith", "no-linters", "2", "-3",
                       "--state-dir", str(tmp_path / "s"))
    assert p.returncode == 2 and "OPTIMIZED_S" in p.stderr and "Traceback" not in p.stderr
    assert len(p.stderr.strip().splitlines()) == 1


# --------------------------------------------------------------------------- classify

def test_classify(built, capsys, monkeypatch):
    monkeypatch.chdir(built.root)
    files = ["Fixtures/Arith.lean", "Fixtures/SimpHeavy.lean", "Fixtures/Tiny.lean", "Fixtures/Defs.lean"]
    code, out, err = cli(capsys, "classify", *files, "--json")
    assert code == 0, err
    rows = json.loads(out)
    assert [r["path"] for r in rows] == files
    for r, f in zip(rows, files):
        c = classify((built.root / f).read_bytes())
        assert r["context"] == c.context and r["reasons"] == list(c.reasons) and r["context"] in CONTEXTS
        assert r["features"] == c.features
    code, out, err = cli(capsys, "classify", *files)
    assert code == 0 and "simp_heavy" in out and "Fixtures.Arith" in out and "features" not in out
    code, out, err = cli(capsys, "classify", "--explain", "Fixtures/SimpHeavy.lean")
    assert code == 0 and "features:" in out and "@[simp]" in out and "rule:" in out
    code, out, err = cli(capsys, "classify", "Fixtures/Arith.lean", "Missing.lean")
    one_line_error(code, err, contains="Missing.lean")


def test_classify_names_the_part_a_build_compiles_a_module_in(built, fresh, capsys, monkeypatch):
    """The part of its context (`model/parts.py`) comes from the learned statistics: what the
    learner itself would put the module in; none without a state."""
    from simpulse.commands._common import learner
    files = sorted(str(p.relative_to(built.root)) for p in (built.root / "Fixtures").glob("*.lean"))
    monkeypatch.chdir(built.root)
    code, out, err = cli(capsys, "classify", *files, "--json")
    assert code == 0, err
    rows = json.loads(out)
    lrn = learner(built.root / ".simpulse")
    for r in rows:
        assert r["part"] == lrn.part(r["context"], r["module"], r["features"])
        assert r["part"].split(".")[0] == r["context"]
    split = [r for r in rows if r["part"] != r["context"]]
    code, out, err = cli(capsys, "classify", *files)
    assert code == 0 and (("part" in out) == bool(split))
    for r in split:
        assert r["part"] in out
    monkeypatch.chdir(fresh.root)
    code, out, err = cli(capsys, "classify", "Fixtures/Arith.lean", "--json")
    assert code == 0 and json.loads(out)[0]["part"] is None


# --------------------------------------------------------------------------- strategies

def test_strategies_catalogue(fresh, capsys, monkeypatch):
    monkeypatch.chdir(fresh.root)
    code, out, err = cli(capsys, "strategies", "--json")
    assert code == 0, err
    rows = {r["name"]: r for r in json.loads(out)}
    assert rows["baseline"]["active"] and rows["no-linters"]["source"] == "builtin"
    assert rows["no-linters"]["options"] == {"linter.all": "false"} and rows["single-thread"]["args"] == ["-j", "1"]
    assert rows["no-simprocs"]["may_break"] is True and rows["no-linters"]["changes_diagnostics"] is True
    (fresh.root / "simpulse.toml").write_text(
        "[simpulse]\nallow_breaking = false\nprofile = \"aggressive\"\n\n"
        "[strategies.no-unused]\noptions = { \"linter.unusedVariables\" = false }\nmay_break = false\n")
    code, out, err = cli(capsys, "strategies", "--json")
    assert code == 0, err
    rows = {r["name"]: r for r in json.loads(out)}
    assert rows["no-unused"]["source"] == "simpulse.toml" and rows["no-unused"]["active"]
    assert rows["no-unused"]["defined_in"] == str(fresh.root / "simpulse.toml")
    assert not rows["no-simprocs"]["active"] and "allow_breaking" in rows["no-simprocs"]["inactive_because"]
    assert str(fresh.root / "simpulse.toml") in rows["no-simprocs"]["inactive_because"]
    code, out, err = cli(capsys, "strategies")
    assert code == 0 and "no-unused" in out and "allow_breaking = false" in out


def test_strategies_show_what_each_may_change_and_each_profile(fresh, capsys, monkeypatch):
    monkeypatch.chdir(fresh.root)
    code, out, err = cli(capsys, "strategies", "--json")
    rows = {r["name"]: r for r in json.loads(out)}
    assert rows["no-simprocs"]["changes"] == ["messages", "outputs"] and rows["no-async"]["changes"] == []
    assert rows["no-linters"]["profiles"] == {"safe": False, "dev": True, "aggressive": True}
    assert rows["single-thread"]["profiles"] == {"safe": True, "dev": True, "aggressive": True}
    assert not rows["no-linters"]["active"] and "profile 'safe'" in rows["no-linters"]["inactive_because"]
    code, out, err = cli(capsys, "strategies")
    assert code == 0 and "may change" in out and "profile" in out


def test_strategies_say_what_lakes_artifact_cache_leaves_out(fresh, capsys, monkeypatch):
    """Under `aggressive` with Lake's artifact cache on, the strategies that change outputs are
    listed as not used, and why — as `simpulse build` leaves them out."""
    monkeypatch.chdir(fresh.root)
    (fresh.root / "simpulse.toml").write_text('[simpulse]\nprofile = "aggressive"\nallow_breaking = true\n')
    monkeypatch.delenv("LAKE_ARTIFACT_CACHE", raising=False)
    rows = {r["name"]: r for r in json.loads(cli(capsys, "strategies", "--json")[1])}
    assert rows["no-simprocs"]["active"] and rows["simp-lean"]["active"]
    monkeypatch.setenv("LAKE_ARTIFACT_CACHE", "on")
    rows = {r["name"]: r for r in json.loads(cli(capsys, "strategies", "--json")[1])}
    for name in ("no-simprocs", "simp-lean"):
        assert not rows[name]["active"] and "artifact cache is on (LAKE_ARTIFACT_CACHE=on)" in rows[name]["inactive_because"]
    assert rows["no-linters"]["active"]                 # messages only: the cache holds no message
    code, out, err = cli(capsys, "strategies")
    assert code == 0 and "no-simprocs is not used: changes outputs, and Lake's artifact cache is on" in " ".join(out.split())


# --------------------------------------------------------------------------- config / init

def test_config_provenance(fresh, capsys, monkeypatch):
    monkeypatch.chdir(fresh.root)
    monkeypatch.delenv("SIMPULSE_MODE", raising=False)
    monkeypatch.delenv("SIMPULSE_POLICY", raising=False)
    monkeypatch.delenv("SIMPULSE_STATE_DIR", raising=False)
    monkeypatch.delenv("SIMPULSE_EXPLORE_BUDGET", raising=False)
    toml = fresh.root / "simpulse.toml"
    toml.write_text("[simpulse]\nexplore_budget = 0.2\nmode = \"confident\"\n")
    monkeypatch.setenv("SIMPULSE_MODE", "shadow")
    code, out, err = cli(capsys, "config", "--json", "--policy", "ucb")
    assert code == 0, err
    d = json.loads(out)
    v = d["values"]
    assert d["config_file"] == str(toml)
    assert v["explore_budget"] == {**v["explore_budget"], "value": 0.2, "source": str(toml)}
    assert v["mode"]["value"] == "shadow" and v["mode"]["source"] == "environment SIMPULSE_MODE"
    assert v["policy"]["value"] == "ucb" and v["policy"]["source"] == "command line"
    assert v["fsync"]["source"] == "default" and v["fsync"]["value"] is False
    code, out, err = cli(capsys, "config", "--show")
    assert code == 0
    assert "(environment SIMPULSE_MODE) mode = shadow" in out
    assert f"({toml}) explore_budget = 0.2" in out
    assert "(default) fsync = false" in out


def test_init_writes_defaults_and_refuses_to_overwrite(fresh, capsys, monkeypatch):
    monkeypatch.chdir(fresh.root / "Fixtures")              # any directory of the workspace
    code, out, err = cli(capsys, "init")
    assert code == 0, err
    path = fresh.root / "simpulse.toml"
    text = path.read_text()
    assert text.startswith("#") and "[simpulse]" in text
    assert load_config(fresh.root, env={}).values == DEFAULTS
    assert all(v == str(path) for k, v in load_config(fresh.root, env={}).sources.items() if k != "enabled")
    path.write_text(text + "\n# my own notes\n")
    code, out, err = cli(capsys, "init")
    one_line_error(code, err, contains="--force")
    assert path.read_text().endswith("# my own notes\n")       # untouched
    code, out, err = cli(capsys, "init", "--force")
    assert code == 0 and ".bak" in out
    assert (fresh.root / "simpulse.toml.bak").read_text().endswith("# my own notes\n")
    assert path.read_text() == text


def test_init_outside_a_project(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, out, err = cli(capsys, "init")
    one_line_error(code, err, contains="not inside a Lake project")
    assert not (tmp_path / "simpulse.toml").exists()


def test_expected_speedup_is_finite(built, capsys, monkeypatch):
    monkeypatch.chdir(built.root)
    for f in ("Fixtures/Tiny.lean", "Fixtures/Cases.lean"):
        code, out, err = cli(capsys, "recommend", f, "--json")
        d = json.loads(out)
        assert math.isfinite(d["expected_speedup"]) and all(math.isfinite(x) for x in d["ci"])
