"""The replay behind `simpulse report` (`simpulse.stats.history.Replay`) says exactly what the
plain replay said before it was made cheaper: every posterior read from `Learner.summary` and
`time_saved` as they are, after every compile (`PlainReplay` below is that code path). The fast
one solves a context's joint posterior once per point, and for an established context's
milestone check only when a suspension test reads it."""

from __future__ import annotations

import json

import pytest

from simpulse.learner import BASELINE, Learner, empty_stats, fold
from simpulse.stats.history import Replay
from simpulse.stats.summary import time_saved
from test_report import _synthetic_events


class PlainReplay(Replay):
    """The replay as it was: the milestones read `learner.summary(ctx)` after every compile
    (each strategy's posterior solved on its own), and a point solves every posterior anew."""

    def _verdicts(self, tcname, ctx):
        arms = self.learner.summary(ctx)
        cands = [a for a in arms if a.strategy != BASELINE and not a.suspended]
        return min(cands, key=lambda a: a.mean, default=None), [(a.strategy, a.suspended) for a in arms]

    def _joints(self):
        return None


def _replay(cls, events, every=None, *, resume_at=None):
    r = cls(None, every)
    for i, e in enumerate(events):
        if i == resume_at:
            r.result()                                   # a report in between changes nothing
            r = cls.from_json(json.loads(json.dumps(r.to_json())))
        r.feed(e)
    return r


def _dump(result) -> str:
    return json.dumps(result, sort_keys=True)


@pytest.fixture(scope="module")
def slowed():
    """A seeded stream in which a strategy established in `arith` turns 3× slower there halfway:
    it is suspended after the context was established (the check's cheap path must see it)."""
    events = _synthetic_events(500, seed=0)
    return [dict(e, wall=e["wall"] * 3) if i >= 250 and e.get("context") == "arith"
            and e.get("strategy") == "lean-fast" and e.get("outcome") == "ok" else e
            for i, e in enumerate(events)]


def test_replay_says_what_the_plain_replay_said_with_far_fewer_solves(slowed, monkeypatch):
    # the joint posterior's solves are counted, not timed (one plain replay serves both checks)
    calls = {"n": 0}
    real = Learner.joint_posterior

    def counting(self, ctx):
        calls["n"] += 1
        return real(self, ctx)

    monkeypatch.setattr(Learner, "joint_posterior", counting)
    plain = _replay(PlainReplay, slowed).result()
    plain_solves, calls["n"] = calls["n"], 0
    fast = _replay(Replay, slowed)
    assert calls["n"] * 4 < plain_solves, (calls["n"], plain_solves)
    assert _dump(fast.result()) == _dump(plain)
    # the stream does what it is for: a suspension after its context was established
    established = {m["context"]: m["compiles"] for m in plain["milestones"] if m["kind"] == "first_confident"}
    late = [m for m in plain["milestones"] if m["kind"] == "first_suspension"
            and m["context"] in established and m["compiles"] > established[m["context"]]]
    # (the stream comes from a real learner: which other strategies it suspends late moves with
    # the learner's model; the slowed one must be among them)
    assert ("arith", "lean-fast") in [(m["context"], m["strategy"]) for m in late]
    # most contexts established within the stream (`definitions`, whose two best strategies are
    # close, reaches it near the end or just after, as the learner's model moves)
    assert len(established) >= 4 and plain["every"] == 8
    # resumed from its cache halfway (`report.cache`), the same again
    assert _dump(_replay(Replay, slowed, resume_at=260).result()) == _dump(plain)


def test_replay_with_a_reset_a_new_toolchain_and_a_fixed_step():
    events = _synthetic_events(300, seed=3)
    for e in events[200:]:
        e["toolchain"] = "beef"
    reset = {"v": 1, "kind": "reset", "id": "", "ts": events[100]["ts"], "seq": 10_000}
    events = events[:100] + [reset] + events[100:]
    plain = _replay(PlainReplay, events, every=7).result()
    assert _dump(_replay(Replay, events, every=7).result()) == _dump(plain)
    assert _dump(_replay(Replay, events, every=7, resume_at=150).result()) == _dump(plain)
    kinds = [m["kind"] for m in plain["milestones"]]
    assert "new_toolchain" in kinds and kinds.count("first_confident") >= 4
    assert [p["compiles"] for p in plain["series"]] == list(range(7, 300, 7)) + [300]


def test_time_saved_with_shared_joints_is_the_same(slowed):
    """`time_saved(..., joints={})` (each context's joint posterior solved once) gives the same
    numbers as without, a strategy that is not active any more (disabled) included."""
    from simpulse.strategy.catalogue import Catalogue
    stats = empty_stats()
    for e in slowed:
        fold(stats, e)
    used = {e["strategy"] for e in slowed if e.get("kind") == "compile"}
    assert {"lean-fast", "simp-lean"} <= used
    for enabled in (sorted(used), sorted(used - {"lean-fast"})):
        lrn = Learner(None, toolchain="cafe", catalogue=Catalogue(enabled=enabled))
        lrn._stats = stats
        joints: dict = {}
        shared = time_saved(lrn, joints=joints)
        assert shared == time_saved(lrn) and shared["seconds"] != 0.0
        assert set(joints) == set(lrn.contexts())


def test_an_event_the_fold_rejects_is_skipped_as_the_store_skips_it(tmp_path, monkeypatch):
    """An implausible time (a hand-edited log): `simpulse stats` reads the state (the store skips
    the event); the report did not (an internal error). It skips it too, and says the rest."""
    from simpulse.stats import report_cache as R
    from simpulse.store.store import Store
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("SIMPULSE_STATE_DIR", raising=False)
    events = _synthetic_events(40, seed=1)
    bad = dict(events[20], wall=1e308)
    store = Store(tmp_path / "state", fsync=False)
    for e in events[:20] + [bad] + events[21:]:
        store.append({k: v for k, v in e.items() if k != "seq"})
    data = R.load_history(tmp_path / "state")
    assert data["compiles"] == 39 and data["events"] == 39
    without = _replay(Replay, events[:20] + events[21:]).result()
    assert data["final"]["regret_seconds"] == without["final"]["regret_seconds"]
    assert data["final"]["seconds"] == without["final"]["seconds"]


def test_a_long_replay_does_not_hold_the_compaction_lock(tmp_path, monkeypatch):
    """The report reads the log in batches, each under the store's shared compaction lock, and
    replays a batch without it: `simpulse build`'s compaction is not held up for the whole of a
    long replay. A compaction between batches loses nothing, and an interrupted first report
    leaves report.cache where it got to."""
    from simpulse.stats import report_cache as R
    from simpulse.store.file_lock import FileLock
    from simpulse.store.store import Store
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("SIMPULSE_STATE_DIR", raising=False)
    events = _synthetic_events(90, seed=2)
    sdir = tmp_path / "state"
    store = Store(sdir, fsync=False)
    for e in events[:60]:
        store.append({k: v for k, v in e.items() if k != "seq"})
    store.compact(fold, empty_stats())
    for e in events[60:]:
        store.append({k: v for k, v in e.items() if k != "seq"})
    whole = R.load_history(sdir)
    (sdir / R.CACHE_NAME).unlink()

    monkeypatch.setattr(R, "BATCH", 25)
    seen = {"free": 0, "fed": 0}
    real_feed = Replay.feed

    def feed(self, ev):
        seen["fed"] += 1
        lk = FileLock(str(sdir / "compact.lock"), blocking=False)
        free = lk.acquire()                     # exclusive: nobody holds the compaction lock
        if free:
            seen["free"] += 1
            lk.release()
        if seen["fed"] == 40 and free:         # a build ends meanwhile: the log is archived
            Store(sdir, fsync=False).compact(fold, empty_stats())
        real_feed(self, ev)

    monkeypatch.setattr(Replay, "feed", feed)
    batched = R.load_history(sdir)
    assert seen["fed"] == 90 and seen["free"] == 90

    def strip(d):
        return {k: v for k, v in d.items() if k != "generated"}

    assert strip(batched) == strip(whole)
    # interrupted after two batches: the cache holds 50 events, and the next report goes on from it
    (sdir / R.CACHE_NAME).unlink()
    monkeypatch.setattr(Replay, "feed", real_feed)

    def interrupted(self, ev):
        if self.events == 50:
            raise KeyboardInterrupt
        real_feed(self, ev)

    monkeypatch.setattr(Replay, "feed", interrupted)
    with pytest.raises(KeyboardInterrupt):
        R.load_history(sdir)
    assert json.loads((sdir / R.CACHE_NAME).read_text())["replay"]["counts"][3] == 50
    monkeypatch.setattr(Replay, "feed", real_feed)
    assert strip(R.load_history(sdir)) == strip(whole)
