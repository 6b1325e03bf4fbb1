"""The counters `simpulse stats` shows (simpulse/model/fold.py): regret is what the strategy run
is expected to cost over the best one the model knows, not the compile's measured time against
an estimate; "slower than baseline" comes with its noise floor, the same test on the
baseline's own compiles."""

from __future__ import annotations

import math
import random

import pytest

from simpulse.model.fold import fold
from simpulse.model.records import empty_stats
from simpulse.stats.summary import summary

TC = "506f00d623aca3ba5dbdde74031df79c2ab0ff97"


def compile_event(i: int, module: str, strategy: str, wall: float, context: str = "arith") -> dict:
    return {"v": 1, "kind": "compile", "id": f"c{i:05d}", "ts": 1.0e9 + i, "toolchain": TC, "module": module,
            "context": context, "strategy": strategy, "explore": False, "wall": wall, "outcome": "ok",
            "source_hash": f"{module}-h"}


def test_noise_and_a_slower_machine_are_no_regret():
    """Every module always compiled under the baseline (the only strategy): whatever the timing
    noise, and with a second half of compiles 1.8x slower (a busier machine), the regret is 0."""
    rng = random.Random(3)
    stats = empty_stats()
    i = 0
    for machine in (1.0, 1.8):
        for _ in range(8):
            for m in range(10):
                wall = (0.5 + 0.1 * m) * machine * math.exp(rng.gauss(0.0, 0.05))
                fold(stats, compile_event(i, f"M{m}", "baseline", wall))
                i += 1
    c = stats["counters"]
    assert c["regret_seconds"] == 0.0
    assert c["noise_n"] == 150                       # every compile but each module's first
    assert 0 < c["noise_slower"] < c["noise_n"]       # the slower machine's first compiles, and noise


def test_running_a_strategy_worse_than_the_best_known_is_regret():
    """In a context where `fast` is known to take 0.8x the baseline's time, a compile of the
    baseline costs, by the model, about 0.2x the module's time; one of `fast` costs nothing."""
    stats = empty_stats()
    i = 0
    for _ in range(6):
        for m in range(12):
            for strategy, f in (("baseline", 1.0), ("fast", 0.8)):
                fold(stats, compile_event(i, f"M{m}", strategy, (0.5 + 0.05 * m) * f))
                i += 1
    before = stats["counters"]["regret_seconds"]
    fold(stats, compile_event(i, "M3", "fast", 0.65 * 0.8))
    assert stats["counters"]["regret_seconds"] == pytest.approx(before, abs=1e-9)
    fold(stats, compile_event(i + 1, "M3", "baseline", 0.65))
    added = stats["counters"]["regret_seconds"] - before
    assert added == pytest.approx(0.65 * 0.2, rel=0.15)


def test_stats_show_the_noise_floor_of_slower_than_baseline(tmp_path):
    from simpulse.learner import Learner
    from simpulse.store.store import Store
    events = [compile_event(i, "M", "baseline", wall) for i, wall in enumerate((1.0, 1.0, 1.2, 1.0, 1.0))]
    Store(tmp_path / "state", fsync=False).append_many(events)
    learner = Learner(None, store=Store(tmp_path / "state", create=False, fsync=False), toolchain=TC)
    safety = summary(learner)["safety"]
    assert safety["slower_noise_share"] == pytest.approx(1 / 4)      # 1.2 s against a level of 1 s
    assert empty_stats()["counters"]["noise_n"] == 0


def test_counters_begun_by_an_earlier_version_show_no_share_they_cannot_have(tmp_path):
    """A state whose counters predate `judged_n` (filled in as 0 on load) has `slower` compiles
    that no `judged_n` counted: no share of them is made up."""
    from simpulse.learner import Learner
    from simpulse.store.store import Store
    events = [compile_event(i, "M", s, wall) for i, (s, wall) in
              enumerate((("baseline", 1.0), ("fast", 1.3), ("fast", 1.3)))]
    Store(tmp_path / "state", fsync=False).append_many(events)
    learner = Learner(None, store=Store(tmp_path / "state", create=False, fsync=False), toolchain=TC)
    c = learner.stats["counters"]
    assert c["slower"] == 2 and c["judged_n"] == 2
    assert summary(learner)["safety"]["slower_judged_share"] == 1.0
    c["judged_n"] = 0                       # as an earlier version's counters load
    safety = summary(learner)["safety"]
    assert safety["slower_judged"] is None and safety["slower_judged_share"] is None
