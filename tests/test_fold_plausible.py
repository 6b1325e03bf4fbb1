"""No event, however written, can make a later event go unrecorded (issue 19): the fold checks
every time it uses before it changes anything, and an implausible event is skipped whole."""

import math

import pytest

from simpulse.learner import Learner, empty_stats, fold
from simpulse.store.store import Store


def event(i, **kw):
    ev = {"v": 1, "kind": "compile", "id": f"e{i}", "ts": 1000.0 + i, "toolchain": "g", "module": f"M{i % 3}",
          "path": f"M{i % 3}.lean", "source_hash": "h", "context": "arith", "features": {}, "strategy": "no-async",
          "policy": "thompson", "mode": "auto", "explore": False, "wall": 1.0 + 0.01 * i, "cpu": 0.5,
          "outcome": "ok", "error": None, "fallback_wall": None}
    ev.update(kw)
    return ev


BAD = {
    "fallback_wall a string": {"outcome": "strategy_failed", "fallback_wall": "x"},
    "wall 1e308": {"wall": 1e308},
    "baseline 1e-308": {"kind": "record", "baseline_wall": 1e-308},
    "fallback_wall inf": {"outcome": "strategy_failed", "fallback_wall": float("inf")},
    "wall a bool": {"wall": True},
}


@pytest.mark.parametrize("case", BAD)
def test_an_implausible_event_changes_nothing(case):
    stats = fold(empty_stats(), event(0))
    before = repr(stats)
    with pytest.raises(ValueError):
        fold(stats, event(1, **BAD[case]))
    assert repr(stats) == before                     # checked before anything was changed


@pytest.mark.parametrize("case", BAD)
def test_the_events_after_an_implausible_one_are_folded(tmp_path, case):
    store = Store(tmp_path / "s")
    for i in range(3):
        store.append(event(i))
    store.append(event(3, **BAD[case]))              # a valid checksum, an implausible time
    for i in range(4, 8):
        store.append(event(i))
    lrn = Learner(None, store=Store(tmp_path / "s", create=False), toolchain="g")
    assert lrn.stats["counters"]["compiles"] == 7
    # and learning goes on: a new compile is recorded and the statistics stay finite
    d = lrn.choose(module="M9", source=b"theorem t : 1 + 1 = 2 := by decide\n")
    lrn.observe(d, seconds=1.5)
    again = Learner(None, store=Store(tmp_path / "s", create=False), toolchain="g")
    assert again.stats["counters"]["compiles"] == 8
    for s in again.summary(d.context):
        lo, hi = s.speedup_ci
        assert math.isfinite(s.speedup) and math.isfinite(lo) and math.isfinite(hi)


@pytest.mark.parametrize("damage", ["arm too short", "arm a string", "glob nan", "block ragged", "explore str"])
def test_a_snapshot_with_junk_deep_inside_is_set_aside_and_rebuilt(tmp_path, damage):
    """A snapshot whose checksum is valid but whose statistics hold junk deeper than their top
    level (every later fold would trip on it): set aside, and the statistics rebuilt from the log."""
    import json
    sdir = tmp_path / "s"
    lrn = Learner(None, store=Store(sdir), toolchain="g")
    for i in range(12):
        lrn.record_event(event(i, strategy="baseline" if i % 2 else "no-async"))
    _ = Learner(None, store=Store(sdir, create=False), toolchain="g").stats      # a load with a long tail checkpoints
    snap_path = sdir / "snapshot.json"
    snap = json.loads(snap_path.read_text())
    tc = snap["stats"]["toolchains"]["g"]
    if damage == "arm too short":
        tc["arms"]["arith"]["no-async"] = [1.0, 2.0]
    elif damage == "arm a string":
        tc["arms"]["arith"]["no-async"][3] = "many"
    elif damage == "glob nan":
        tc["glob"]["no-async"][1] = float("nan")
    elif damage == "block ragged":
        tc["J"]["arith"]["M"][0] = [1.0, 2.0]
    else:
        tc["explore"] = "lots"
    snap_path.write_bytes(Store(sdir, create=False)._encode_snapshot(snap["stats"], snap["cursor"]))  # a valid checksum
    assert snap["cursor"]["seq"] == 12
    again = Learner(None, store=Store(sdir, create=False), toolchain="g")
    assert again.stats["counters"]["compiles"] == 12
    assert again.stats["toolchains"]["g"]["arms"]["arith"]["no-async"][3] == 6
    assert (sdir / "snapshot.json.corrupt").exists() or "ignored" in (sdir / "simpulse.log").read_text()
