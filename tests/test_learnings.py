"""`simpulse learnings`: strategy failures grouped into patterns (strategy × Lean error kind)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from simpulse.stats.learnings import counts, explain, patterns
from simpulse.store.store import Store

TC = "506f00d623aca3ba5dbdde74031df79c2ab0ff97"


def ev(seq, module, strategy, outcome="ok", error=None, context="tiny", kind="compile", simulated=True):
    return {"v": 1, "kind": kind, "id": f"e{seq}", "ts": 1000.0 + seq, "seq": seq, "toolchain": TC,
            "module": module, "context": context, "strategy": strategy, "wall": 0.1,
            "outcome": outcome, "error": error,
            "fallback_wall": 0.12 if outcome != "ok" else None, "explore": False, "simulated": simulated}


EVENTS = [
    ev(1, "Fixtures.Arith", "baseline", context="arith"),
    ev(2, "Fixtures.Literals", "no-simprocs", "strategy_failed",
       "./././Fixtures/Literals.lean:11:36: simp made no progress"),
    ev(3, "Fixtures.SimpHeavy", "no-simprocs", "strategy_failed",
       "Fixtures/SimpHeavy.lean:156:36: simp made no progress", context="simp_heavy"),
    ev(4, "Fixtures.Literals", "no-simprocs", "strategy_failed",
       "Fixtures/Literals.lean:11:36: simp made no progress"),
    ev(5, "Fixtures.Literals", "simp-lean", "strategy_failed",
       "Fixtures/Literals.lean:3:2: unsolved goals\n⊢ False"),
    ev(6, "Fixtures.Arith", "no-async", "strategy_failed",
       "Fixtures/Arith.lean:9:0: (deterministic) timeout at `elaborator`, maximum number of heartbeats (200000) has been reached",
       context="arith"),
    ev(7, "Broken", "baseline", "module_failed", "Broken.lean:3:0: unknown identifier 'foo'"),
    ev(8, "Fixtures.Cases", "no-async", context="structural"),
    {"v": 1, "kind": "reset", "id": "", "ts": 2000.0, "seq": 9},
]


def test_patterns_group_by_strategy_and_error_kind():
    pats = patterns(EVENTS)
    keys = [(p["strategy"], p["kind"], p["count"]) for p in pats]
    # most frequent first, then by strategy and kind
    assert keys == [("no-simprocs", "simp made no progress", 3),
                    ("no-async", "heartbeats exhausted", 1),
                    ("simp-lean", "unsolved goals", 1)]
    top = pats[0]
    assert top["contexts"] == {"tiny": 2, "simp_heavy": 1}
    assert top["modules"] == ["Fixtures.Literals", "Fixtures.SimpHeavy"]
    # the example is the first failure of the pattern, its path without Lake's ./././ prefix
    assert top["example"]["module"] == "Fixtures.Literals"
    assert top["example"]["error"] == "Fixtures/Literals.lean:11:36: simp made no progress"
    assert top["example"]["seq"] == 2
    assert top["explanation"] == "simp needed a built-in simproc (literal arithmetic) that this strategy turns off"
    assert top["simulated"] is True
    assert (top["first_ts"], top["last_ts"]) == (1002.0, 1004.0)
    # the genuinely broken module (baseline failed too) blames no strategy
    assert all(p["strategy"] != "baseline" for p in pats)


def test_min_occurrences_filters():
    assert [p["count"] for p in patterns(EVENTS, min_occurrences=2)] == [3]
    assert patterns(EVENTS, min_occurrences=4) == []
    assert len(patterns(EVENTS, min_occurrences=0)) == 3   # treated as 1


def test_explanations_cover_every_kind():
    from simpulse.lake import messages
    kinds = {messages.error_kind(t) for t in (None, "x", "unsolved goals", "simp made no progress",
                                              "maximum recursion depth", "maximum number of heartbeats",
                                              "unknown configuration option", "failed to synthesize",
                                              "type mismatch", "unknown identifier", "unknown constant",
                                              "linter", "omega could not prove",
                                              "proved that the proposition")}
    for k in kinds:
        assert explain("no-async", k), k
    assert "simproc" in explain("simp-lean", "simp made no progress")
    assert explain("no-async", "simp made no progress") != explain("no-simprocs", "simp made no progress")


def test_counts():
    c = counts(EVENTS)
    assert c["compiles"] == 8 and c["strategy_failures"] == 5 and c["modules_failed"] == 1
    assert c["by_strategy"]["no-simprocs"] == {"compiles": 3, "failures": 3, "rate": 1.0}
    assert c["by_strategy"]["no-async"]["failures"] == 1 and c["by_strategy"]["no-async"]["compiles"] == 2
    assert c["by_kind"] == {"simp made no progress": 3, "heartbeats exhausted": 1, "unsolved goals": 1}
    assert c["simulated"] is True


def _cli(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "simpulse", *args], capture_output=True, text=True,
                          timeout=120, cwd=cwd)


@pytest.fixture
def synthetic_state(tmp_path):
    sdir = tmp_path / "state"
    events = [{k: v for k, v in e.items() if k != "seq"} for e in EVENTS]
    Store(sdir, fsync=False).append_many(events)
    return sdir


def test_cli_json_shape(synthetic_state):
    p = _cli("learnings", "--state-dir", str(synthetic_state), "--json")
    assert p.returncode == 0, p.stderr
    data = json.loads(p.stdout)
    assert set(data) >= {"counts", "patterns", "min_occurrences", "stats_only", "simulated", "state_dir"}
    assert data["simulated"] is True and data["stats_only"] is False
    pat = data["patterns"][0]
    assert set(pat) == {"strategy", "kind", "count", "contexts", "modules", "example", "explanation",
                        "first_ts", "last_ts", "simulated"}
    assert set(pat["example"]) == {"module", "context", "error", "seq", "ts"}
    assert (pat["strategy"], pat["kind"], pat["count"]) == ("no-simprocs", "simp made no progress", 3)

    p = _cli("learnings", "--state-dir", str(synthetic_state), "--json", "--min-occurrences", "2")
    assert [q["count"] for q in json.loads(p.stdout)["patterns"]] == [3]

    p = _cli("learnings", "--state-dir", str(synthetic_state), "--json", "--stats-only")
    data = json.loads(p.stdout)
    assert "patterns" not in data and data["stats_only"] is True
    assert data["counts"]["strategy_failures"] == 5


def test_cli_text(synthetic_state):
    p = _cli("learnings", "--state-dir", str(synthetic_state))
    assert p.returncode == 0, p.stderr
    assert "SIMULATED" in p.stdout
    assert "no-simprocs" in p.stdout and "simp made no progress" in p.stdout
    assert "built-in simproc" in p.stdout
    assert "Fixtures/Literals.lean:11:36" in p.stdout
    p = _cli("learnings", "--state-dir", str(synthetic_state), "--stats-only")
    assert p.returncode == 0 and "Failures per strategy" in p.stdout and "Failure patterns" not in p.stdout
    p = _cli("learnings", "--state-dir", str(synthetic_state), "--min-occurrences", "9")
    assert p.returncode == 0 and "no pattern with at least 9 failures" in p.stdout


def test_cli_missing_and_empty_state(tmp_path):
    p = _cli("learnings", "--state-dir", str(tmp_path / "nope"))
    assert p.returncode == 2 and p.stderr.startswith("simpulse: error:") and "Traceback" not in p.stderr
    empty = tmp_path / "empty"
    empty.mkdir()
    p = _cli("learnings", "--state-dir", str(empty))
    assert p.returncode == 0 and "nothing to learn from" in p.stdout
    p = _cli("learnings", "--state-dir", str(empty), "--json")
    assert json.loads(p.stdout)["patterns"] == []


def test_real_failures_from_a_no_simprocs_build(project):
    project.simpulse("build", "--profile", "aggressive", "--strategy", "no-simprocs", "--seed", "1", check=0)
    p = project.simpulse("learnings", "--json", check=0)
    data = json.loads(p.stdout)
    pats = {(q["strategy"], q["kind"]): q for q in data["patterns"]}
    modules = {m for q in data["patterns"] for m in q["modules"]}
    assert {"Fixtures.Literals", "Fixtures.SimpHeavy"} <= modules
    assert all(s == "no-simprocs" for s, _ in pats)
    assert {k for _, k in pats} <= {"simp made no progress", "unsolved goals"}
    assert data["counts"]["strategy_failures"] == sum(q["count"] for q in data["patterns"])
    assert data["simulated"] is True
