"""`simpulse report` and the history behind it (`simpulse.stats.history`)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys

import pytest

from conftest import Project, scratch_project
from simpulse.commands.report import BLOCKS, sparkline
from simpulse.learner import Learner, empty_stats, fold
from simpulse.stats.history import history
from simpulse.store.store import Store


@pytest.fixture(scope="module")
def built(tmp_path_factory, sim_toolchain) -> Project:
    """Three simulated builds: a clean one, a rebuild, and one forcing no-simprocs (failures)."""
    proj = scratch_project(tmp_path_factory.mktemp("report"), sim_toolchain)
    root = proj.root
    proj.simpulse("build", "--seed", "1", check=0)
    shutil.rmtree(root / ".lake")
    proj.simpulse("build", "--seed", "2", check=0)
    shutil.rmtree(root / ".lake")
    proj.simpulse("build", "--profile", "aggressive", "--seed", "3", "--strategy", "no-simprocs", check=0)
    return proj


SERIES_KEYS = {"compiles", "seq", "ts", "seconds", "regret_seconds", "regret_per_compile",
               "saved_seconds", "saved_ci", "saved_fraction", "failures", "explore_share"}
CONTEXT_KEYS = {"compiles", "pulls", "best", "speedup", "ci", "width", "confident", "prob_better"}


def test_json_shape(built):
    p = built.simpulse("report", "--json", check=0)
    data = json.loads(p.stdout)
    assert {"compiles", "events", "every", "simulated", "toolchain", "series", "contexts",
            "milestones", "final", "state_dir", "generated", "empty"} <= set(data)
    assert data["simulated"] is True and data["empty"] is False
    assert data["compiles"] == len(built.events()) == 48
    assert data["series"] and all(set(pt) == SERIES_KEYS for pt in data["series"])
    assert data["series"][-1]["compiles"] == 48 and data["final"] == data["series"][-1]
    assert [pt["compiles"] for pt in data["series"]] == sorted(pt["compiles"] for pt in data["series"])
    assert data["contexts"] and all(set(pt) == CONTEXT_KEYS for pts in data["contexts"].values() for pt in pts)
    kinds = [m["kind"] for m in data["milestones"]]
    assert kinds[0] == "first_compile"
    assert "first_failure_caught" in kinds            # the no-simprocs build broke Literals/SimpHeavy
    first_failure = next(m for m in data["milestones"] if m["kind"] == "first_failure_caught")
    assert first_failure["strategy"] in ("no-simprocs", "simp-lean")   # both turn simprocs off
    assert data["series"][-1]["failures"] == sum(e["outcome"] == "strategy_failed" for e in built.events())
    for m in data["milestones"]:
        assert {"kind", "compiles", "seq", "ts", "text"} <= set(m)

    p = built.simpulse("report", "--json", "--every", "4", check=0)
    assert [pt["compiles"] for pt in json.loads(p.stdout)["series"]] == list(range(4, 49, 4))


def test_html_is_one_self_contained_file(built, tmp_path):
    out = tmp_path / "report.html"
    p = built.simpulse("report", "--html", str(out), check=0)
    assert str(out) in p.stdout and "SIMULATED" in p.stdout
    text = out.read_text(encoding="utf-8")
    assert text.startswith("<!DOCTYPE html>") and text.rstrip().endswith("</html>")
    assert text.count("<svg") >= 5
    assert "http://" not in text and "https://" not in text
    assert "<script" not in text and "<link" not in text and "@import" not in text and "url(" not in text
    assert "SIMULATED" in text
    assert list(tmp_path.iterdir()) == [out]          # one file, no leftovers


def test_terminal_output_has_sparklines(built):
    p = built.simpulse("report", check=0, env={"COLUMNS": "100"})
    assert "SIMULATED" in p.stdout
    assert re.search(f"[{BLOCKS}]{{8,}}", p.stdout), p.stdout
    for words in ("regret", "time saved", "Milestones", "first strategy failure caught", "CI width"):
        assert words in p.stdout


def test_empty_and_missing_state(tmp_path):
    def cli(*args):
        return subprocess.run([sys.executable, "-m", "simpulse", "report", *args], capture_output=True,
                              text=True, timeout=120)
    p = cli("--state-dir", str(tmp_path / "missing"))
    assert p.returncode == 2 and p.stderr.startswith("simpulse: error: no simpulse state")
    empty = tmp_path / "empty"
    empty.mkdir()
    p = cli("--state-dir", str(empty))
    assert p.returncode == 0 and "no compilations recorded yet" in p.stdout
    p = cli("--state-dir", str(empty), "--json")
    data = json.loads(p.stdout)
    assert p.returncode == 0 and data["empty"] is True and data["series"] == [] and data["final"] is None
    out = tmp_path / "r.html"
    p = cli("--state-dir", str(empty), "--html", str(out))
    assert p.returncode == 0 and "no compilations recorded yet" in out.read_text()


def _synthetic_events(n: int, seed: int = 0) -> list[dict]:
    """A fixed-seed stream from the simulated workload through a real Learner (no processes)."""
    from simpulse.simulated import workload as W
    wl = W.Workload(seed, 40)
    from simpulse.strategy.catalogue import Catalogue
    lrn = Learner(None, seed=seed, toolchain="cafe", catalogue=Catalogue(enabled=list(wl.strategies)))
    noise = wl.noise(n)
    events = []
    lrn.record_event = lambda e: (events.append(dict(e, seq=len(events) + 1)), fold(lrn.stats, e))
    for req in wl.stream(n):
        d = lrn.choose(module=req.name, context=req.context, features=req.features)
        o = wl.outcome(req.module, d.strategy.name, noise[req.index])
        lrn.observe(d, seconds=o.seconds, ok=o.ok, fallback_seconds=o.fallback_seconds,
                    fallback_ok=o.fallback_ok, error=None if o.ok else "M.lean:1:2: simp made no progress",
                    extra={"simulated": True})
    return events


def test_history_replays_exactly_what_the_learner_folded():
    events = _synthetic_events(400)
    reset = {"v": 1, "kind": "reset", "id": "", "ts": events[200]["ts"], "seq": 10_000}
    h = history(events[:200] + [reset] + events[200:], every=25)
    assert h["compiles"] == 400 and h["every"] == 25 and h["toolchain"] == "cafe"
    assert [pt["compiles"] for pt in h["series"]] == list(range(25, 401, 25))
    stats = empty_stats()
    for e in events:
        fold(stats, e)
    c = stats["counters"]
    final = h["final"]
    # resets are not replayed: the history covers the whole log
    assert final["regret_seconds"] == pytest.approx(c["regret_seconds"])
    assert final["seconds"] == pytest.approx(c["seconds"])
    assert final["failures"] == c["strategy_failed"]
    regrets = [pt["regret_seconds"] for pt in h["series"]]
    assert regrets == sorted(regrets)                 # cumulative regret never decreases
    lrn = Learner(None)
    lrn._stats, lrn.toolchain = stats, "cafe"
    for ctx, pts in h["contexts"].items():
        assert pts[-1]["pulls"] == sum(a.pulls for a in lrn.summary(ctx))
    # milestones: in order, and a confident strategy's interval excludes 1
    assert [m["compiles"] for m in h["milestones"]] == sorted(m["compiles"] for m in h["milestones"])
    confident = [m for m in h["milestones"] if m["kind"] == "first_confident"]
    assert confident, h["milestones"]
    assert all(m["ci"][0] > 1.0 for m in confident)
    assert len({m["context"] for m in confident}) == len(confident)
    # deterministic for a fixed seed
    h2 = history(events[:200] + [reset] + events[200:], every=25)
    assert json.dumps(h2, sort_keys=True) == json.dumps(h, sort_keys=True)


def test_history_default_sampling_and_empty():
    h = history(_synthetic_events(250))
    # every: the smallest power of two giving at most ~100 points; plus the state after the last
    assert h["every"] == 4 and h["series"][-1]["compiles"] == 250
    assert [pt["compiles"] for pt in h["series"]] == list(range(4, 249, 4)) + [250]
    rpc = h["series"][1]["regret_per_compile"]
    assert rpc == pytest.approx((h["series"][1]["regret_seconds"] - h["series"][0]["regret_seconds"]) / 4)
    e = history([])
    assert e["compiles"] == 0 and e["series"] == [] and e["final"] is None and e["milestones"] == []


def test_history_from_the_store_matches_the_events(built):
    events = list(Store(built.state, create=False).iter_events())
    h = history(events)
    assert h["compiles"] == 48 and h["simulated"] is True


def test_sparkline():
    assert sparkline([]) == ""
    assert sparkline([1, 1, 1]) == "▁▁▁"
    assert sparkline([0, 1, 2, 3, 4, 5, 6, 7]) == BLOCKS
    assert len(sparkline(list(range(1000)), width=20)) == 20
    assert sparkline([5, 5], lo=0.0, hi=10.0) == "▅▅"


def test_history_marks_a_new_toolchain():
    events = _synthetic_events(60)
    for e in events[40:]:
        e["toolchain"] = "beef"
    h = history(events, every=10)
    news = [m for m in h["milestones"] if m["kind"] == "new_toolchain"]
    assert [(m["compiles"], m["toolchain"]) for m in news] == [(41, "beef")]
    assert h["toolchain"] == "beef"
    # the per-context series follow the current toolchain: pulls restart after the switch
    for pts in h["contexts"].values():
        assert pts[-1]["pulls"] <= 20


def test_history_resumed_from_its_cache_equals_a_replay_of_everything():
    """`simpulse report` keeps the replay (report.cache) and replays only what came since: the
    result must be the one a replay of the whole log gives, points thinned as they go."""
    from simpulse.stats.history import TARGET_POINTS, Replay
    events = _synthetic_events(460)
    whole = history(events)
    first = Replay()
    for e in events[:230]:
        first.feed(e)
    first.result()                                   # a report in between changes nothing
    resumed = Replay.from_json(json.loads(json.dumps(first.to_json())))
    for e in events[230:]:
        resumed.feed(e)
    assert json.dumps(resumed.result(), sort_keys=True) == json.dumps(whole, sort_keys=True)
    assert whole["every"] == 8 and len(resumed.points) <= 2 * TARGET_POINTS
    assert whole["series"][-1]["compiles"] == 460


def test_load_history_resumes_from_report_cache(tmp_path, monkeypatch):
    """The command's path: the first report replays the log and keeps report.cache; the next
    ones replay only what came since — the same data as a replay without the cache."""
    from simpulse.stats import report_cache as R
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("SIMPULSE_STATE_DIR", raising=False)
    events = _synthetic_events(150)
    sdir = tmp_path / "state"
    store = Store(sdir, fsync=False)
    for e in events[:90]:
        store.append({k: v for k, v in e.items() if k != "seq"})

    def strip(d):
        return {k: v for k, v in d.items() if k != "generated"}

    first = R.load_history(sdir)
    assert (sdir / R.CACHE_NAME).exists() and first["compiles"] == 90
    assert strip(R.load_history(sdir)) == strip(first)
    for e in events[90:]:
        store.append({k: v for k, v in e.items() if k != "seq"})
    store.compact(fold, empty_stats())                       # the cached last event is archived now
    resumed = R.load_history(sdir)
    (sdir / R.CACHE_NAME).unlink()
    whole = R.load_history(sdir)
    assert resumed["compiles"] == 150 and strip(resumed) == strip(whole)
    # a cache of another history (its last event, in the log, is not this log's) is not used
    store.append({"v": 1, "kind": "note", "id": "x", "ts": 1.0})
    assert R.load_history(sdir)["events"] == 151
    doc = json.loads((sdir / R.CACHE_NAME).read_text())
    assert doc["last"]["id"] == "x"
    doc["last"]["id"] = "not-this-one"
    doc["replay"]["counts"][0] = 999
    (sdir / R.CACHE_NAME).write_text(json.dumps(doc))
    assert R.load_history(sdir)["compiles"] == 150
