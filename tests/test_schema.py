"""The learner's query methods and the named views of the statistics (simpulse.model.schema):
what commands read instead of indexing arms or spelling record keys."""

from __future__ import annotations

import json
import math

import pytest

from simpulse.learner import Learner
from simpulse.model.schema import ArmStats, ModuleView
from simpulse.policy import posterior as P

SRC = b"theorem t : 1 + 1 = 2 := by simp\n" * 20


def _learner(tmp_path, toolchain="tc-a"):
    return Learner(tmp_path / "state", seed=1, toolchain=toolchain, fsync=False)


def _compile(lrn, module, strategy, seconds, ok=True, source=SRC):
    d = lrn.choose(module=module, source=source)
    d.strategy = lrn.catalogue.get(strategy)
    lrn.observe(d, seconds=seconds, ok=ok, fallback_seconds=None if ok else 2 * seconds,
                fallback_ok=None if ok else True)
    return d


def test_arm_stats_name_every_field_of_an_arm():
    arm = P.new_arm()
    P.add(arm, -0.5, 2.0)
    P.add(arm, 0.25, 1.0)
    arm[P.FAILS] += 1
    a = ArmStats.of(arm)
    assert (a.weight, a.total, a.squares, a.pulls, a.fails, a.wins) == (3.0, -0.75, 0.5625, 2, 1, 1)
    assert a.mean == pytest.approx(-0.25)
    assert ArmStats.of(None) == ArmStats(0.0, 0.0, 0.0, 0, 0, 0) and ArmStats.of(None).mean is None
    with pytest.raises(AttributeError):
        a.pulls = 7                                             # type: ignore[misc]


def test_queries_agree_with_what_was_observed(tmp_path):
    lrn = _learner(tmp_path)
    d = _compile(lrn, "A.B", "baseline", 2.0)
    ctx = d.context
    _compile(lrn, "A.B", "baseline", 2.2)
    _compile(lrn, "A.C", "baseline", 1.0, source=SRC + b"-- other\n")
    lrn.reload()
    assert lrn.arm(ctx, "baseline").pulls == 2 + (lrn.module("A.C").context == ctx)
    assert lrn.arm(ctx, "no-such-strategy") == ArmStats.of(None)
    assert lrn.pulls_by_strategy() == {"baseline": 3}
    assert lrn.strategy_totals("baseline").pulls == 3
    assert lrn.counters()["compiles"] == 3
    m = lrn.module("A.B")
    assert isinstance(m, ModuleView) and m.context == ctx and m.compiles == 2
    n, total = m.observations["baseline"]
    assert n == 2 and total == pytest.approx(math.log(2.0) + math.log(2.2), abs=1e-4)
    assert m.source_hash and len(m.source_hash) == 16 and m.failed == {}
    assert lrn.module("Never.Compiled") is None
    view = lrn.toolchain_view()
    assert view.githash == "tc-a" and view.compiles == 3 and view.modules == 2 and ctx in view.contexts
    assert lrn.toolchains() == ["tc-a"] and lrn.earlier_toolchain() is None and not lrn.has_imports()
    # a copy: changing what a command got back changes nothing in the learner
    lrn.counters()["compiles"] = 99
    assert lrn.counters()["compiles"] == 3


def test_a_failure_is_named_in_the_module_view(tmp_path):
    lrn = _learner(tmp_path)
    d = _compile(lrn, "A.B", "baseline", 2.0)
    broken = next(s.name for s in lrn.catalogue.active if not s.is_baseline)
    _compile(lrn, "A.B", broken, 0.5, ok=False)
    lrn.reload()
    m = lrn.module("A.B")
    assert set(m.failed) == {broken} and m.failed[broken].startswith(m.source_hash[:8])
    assert lrn.arm(d.context, broken).fails == 1


def test_the_newest_earlier_toolchain_is_named(tmp_path):
    a = _learner(tmp_path, "tc-old")
    _compile(a, "A.B", "baseline", 2.0)
    b = _learner(tmp_path, "tc-new")
    _compile(b, "A.B", "baseline", 1.0)
    b.reload()
    assert b.toolchains() == ["tc-old", "tc-new"] and b.earlier_toolchain() == "tc-old"
    assert b.pulls_by_strategy(toolchain="tc-old") == {"baseline": 1}
    assert b.module("A.B", toolchain="tc-old").compiles == 1
    assert b.module("A.B").carried_level == pytest.approx(math.log(2.0), abs=1e-3)


def test_classify_keeps_the_context_of_an_unchanged_source(tmp_path):
    lrn = _learner(tmp_path)
    d = _compile(lrn, "A.B", "baseline", 2.0)
    lrn.reload()
    ctx, _features, digest = lrn.classify("A.B", SRC)
    assert ctx == d.context and digest.startswith(lrn.module("A.B").source_hash)


def test_a_records_joint_features_are_stored_once_and_read_back_whole():
    """`j` = [context, weight, x, w] holds the record's own `x` in the usual case: stored as
    [context, weight, w] (a fifth of a snapshot at Mathlib's size) and read back with x; a `j`
    whose x differs (features changed since it was added, a carried level) or a record written
    before the change reads as it was stored."""
    from simpulse.model.records import _put_module, module_record
    x = [1.0, 5.35186, 2.89037, 2.70805, 1.79176]
    rec = {"k": "arith", "x": list(x), "j": ["arith", 0.95157, list(x), 0.94523], "p": "arith"}
    tc: dict = {"modules": {}}
    _put_module(tc, "A", rec)
    assert rec["j"][2] == x                                  # the caller's record is not changed
    assert '"j":["arith",0.95157,0.94523]' in tc["modules"]["A"]
    assert module_record(tc, "A") == rec
    for j in (["arith", 1.0, [1.0, 5.0, 2.0, 2.0, 1.0], 0.5],    # x of an earlier source
              ["arith", 1.0, {"o": -3.2}, 0.4], ["arith", 1.0, None, None]):
        other = dict(rec, j=j)
        _put_module(tc, "B", other)
        assert module_record(tc, "B") == other and len(json.loads(tc["modules"]["B"])["j"]) == 4
    tc["modules"]["C"] = json.dumps(rec, separators=(",", ":"))      # as stored before
    assert module_record(tc, "C") == rec
