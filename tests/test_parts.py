"""Contexts that split themselves into parts (simpulse/model/parts.py)."""

import math
import random

from simpulse.learner import Learner, empty_stats, fold
from simpulse.model import parts, similar
from simpulse.store.store import Store
from test_similar import _features        # two kinds of module, far apart in their tactics


def _sig(**rates):
    """A profile with the given tactic rates per declaration (the others 0)."""
    return similar.signature({"declarations": 10, **{k: 10 * v for k, v in rates.items()}})


def _join(stats, ctx, sig, mod=None, declarations=10):
    """A decision's assignment, then the fold's account of it (as a compile of the module does)."""
    part = parts.assign(stats, ctx, sig, mod, declarations)
    parts.joined(stats, part, sig, mod.get("p") if mod else None, mod.get("g") if mod else None)
    return part, {"p": part, "g": sig}


def test_a_context_whose_modules_look_alike_keeps_its_name():
    stats = empty_stats()
    rng = random.Random(1)
    got = {_join(stats, "simp_heavy", _sig(simp=1.0 + 0.1 * rng.random(), dsimp=0.2))[0] for _ in range(30)}
    assert got == {"simp_heavy"}
    assert stats["parts"]["simp_heavy"][0][0] == "simp_heavy" and stats["parts"]["simp_heavy"][0][2] == 30
    assert parts.lines(stats) == []


def test_a_module_unlike_every_part_founds_one_named_after_its_tactic():
    # profile units: log(1 + 10 × uses per declaration); RADIUS 2.5
    stats = empty_stats()
    assert _join(stats, "simp_heavy", _sig(simp=1.0))[0] == "simp_heavy"
    assert parts.assign(stats, "simp_heavy", _sig(simp=1.0, omega=1.0), None) == "simp_heavy"   # 2.40 away: alike
    assert _join(stats, "simp_heavy", _sig(simp=1.0, omega=2.0))[0] == "simp_heavy.omega"   # 3.04 away
    assert _join(stats, "simp_heavy", _sig(simp=0.9, omega=1.8))[0] == "simp_heavy.omega"   # the nearest
    assert _join(stats, "simp_heavy", _sig(simp=1.1))[0] == "simp_heavy"
    assert _join(stats, "simp_heavy", _sig(induction=2.0, cases=1.0))[0] == "simp_heavy.induction"
    assert _join(stats, "simp_heavy", _sig(simp=1.0, decide=3.0))[0] == "simp_heavy.decide"
    assert [p[0] for p in stats["parts"]["simp_heavy"]] == ["simp_heavy", "simp_heavy.omega",
                                                             "simp_heavy.induction", "simp_heavy.decide"]
    assert [p[2] for p in stats["parts"]["simp_heavy"]] == [2, 2, 1, 1]
    line, = parts.lines(stats)
    assert line.startswith("simp_heavy split by its modules' tactics into 4 parts") and "simp_heavy.omega (2)" in line


def test_a_taken_name_gets_a_number():
    stats = empty_stats()
    _join(stats, "arith", _sig())
    assert _join(stats, "arith", _sig(omega=3.0))[0] == "arith.omega"
    assert _join(stats, "arith", _sig(decide=3.0))[0] == "arith.decide"
    assert _join(stats, "arith", _sig(omega=8.0, match=3.0))[0] == "arith.omega.2"
    assert parts.parent("arith.omega.2") == "arith"


def test_the_limits_on_founding():
    far = _sig(omega=2.0, induction=2.0)
    # at most MAX_PARTS parts: past them, the nearest
    stats = empty_stats()
    _join(stats, "general", _sig())
    for t in ("omega", "induction", "cases"):
        _join(stats, "general", _sig(**{t: 5.0}))
    assert len(stats["parts"]["general"]) == parts.MAX_PARTS
    assert _join(stats, "general", _sig(decide=5.0, match=5.0))[0] in {p[0] for p in stats["parts"]["general"]}
    assert len(stats["parts"]["general"]) == parts.MAX_PARTS
    # a profile from too few declarations joins the nearest
    stats = empty_stats()
    _join(stats, "general", _sig())
    assert parts.assign(stats, "general", far, None, parts.MIN_DECLARATIONS - 1) == "general"
    assert parts.assign(stats, "general", far, None, parts.MIN_DECLARATIONS) == "general.omega"
    # tiny modules never split their context; nor does a module without a profile
    stats = empty_stats()
    _join(stats, "tiny", _sig())
    assert _join(stats, "tiny", far)[0] == "tiny" and "tiny" not in stats.get("parts", {})
    _join(stats, "general", _sig())
    assert parts.assign(stats, "general", None, None) == "general"


def test_a_module_keeps_its_part_while_its_profile_is_unchanged():
    stats = empty_stats()
    _join(stats, "structural", _sig(induction=0.5))
    part, rec = _join(stats, "structural", _sig(match=3.0))
    assert part == "structural.match"
    # the centres move (many modules join the first part near it): the module stays where it is
    for _ in range(20):
        _join(stats, "structural", _sig(match=1.0, induction=0.5))
    assert parts.assign(stats, "structural", rec["g"], rec) == "structural.match"
    assert parts.assign(stats, "structural", None, rec) == "structural.match"          # profile unknown
    assert parts.assign(stats, "structural.match", None, rec) == "structural.match"    # named by its record
    # an edit that changes the profile: assigned again, like a new module
    assert parts.assign(stats, "structural", _sig(induction=0.5), rec) == "structural"
    # a record of another context's part says nothing here
    assert parts.assign(stats, "arith", _sig(omega=1.0), rec) == "arith"


def test_the_centres_follow_edits_through_the_fold():
    """A part's centre is the sum of its modules' current profiles: an edit that changes a
    module's profile moves it, one that takes the module to another part takes it out."""
    stats = empty_stats()

    def compile_(module, ctx, **rates):
        feats = {"declarations": 10, **{k: 10 * v for k, v in rates.items()}}
        fold(stats, {"kind": "compile", "toolchain": "tc", "context": ctx, "strategy": "baseline",
                     "module": module, "wall": 1.0, "source_hash": f"{module}{sorted(rates.items())}",
                     "features": feats})

    def centre(part):
        p = next(p for p in stats["parts"]["structural"] if p[0] == part)
        return [round(v, 3) for v in p[1]], p[2]

    compile_("A", "structural", induction=0.5)
    compile_("B", "structural", induction=0.7)
    compile_("B", "structural", induction=0.7)                  # recompiled unchanged: counted once
    assert centre("structural") == ([round(a + b, 3) for a, b in zip(_sig(induction=0.5), _sig(induction=0.7))], 2)
    compile_("B", "structural", induction=0.6)                  # an edit, same part: the difference
    assert centre("structural") == ([round(a + b, 3) for a, b in zip(_sig(induction=0.5), _sig(induction=0.6))], 2)
    compile_("B", "structural.match", match=3.0)                # an edit to another part: it leaves
    assert centre("structural") == (_sig(induction=0.5), 1)
    assert centre("structural.match") == (_sig(match=3.0), 1)
    compile_("B", "general", cases=0.5)                         # reclassified: it leaves its old context
    assert centre("structural.match") == ([0.0] * len(_sig()), 0)
    assert stats["parts"]["general"] == [["general", _sig(cases=0.5), 1]]


def test_the_learner_splits_a_context_whose_kinds_respond_differently(tmp_path):
    """Two kinds of module in one context, far apart in their tactics: `no-linters` is 35% faster
    on kind 0 and 35% slower on kind 1. The context splits into a part per kind: each compile
    is recorded in its module's part, each part learns its own leader, and a replay of the log
    rebuilds the same parts."""
    rng = random.Random(5)
    store = Store(tmp_path / "state", fsync=False)
    lr = Learner(None, store=store, seed=2, toolchain="tc")
    mods = [(f"M{i}", i % 2, _features(i % 2, rng), rng.gauss(0.5, 0.5)) for i in range(40)]
    seen = {0: set(), 1: set()}
    for _ in range(2):
        for name, kind, feats, level in mods:
            for strategy in ("baseline", "no-linters"):
                d = lr.choose(module=name, context="simp_heavy", features=feats)
                seen[kind].add(d.context)
                fields = {k: getattr(d, k) for k in d.__slots__}
                d = d.__class__(**{**fields, "strategy": lr.catalogue.get(strategy)})
                eff = (-0.43 if kind == 0 else 0.3) if strategy == "no-linters" else 0.0
                lr.observe(d, seconds=math.exp(level + eff + rng.gauss(0, 0.05)))
    assert seen == {0: {"simp_heavy"}, 1: {"simp_heavy.simp_attr"}}
    assert set(lr.contexts()) == {"simp_heavy", "simp_heavy.simp_attr"}
    assert lr.arm("simp_heavy.simp_attr", "no-linters").pulls == 40
    picks = {kind: {lr.exploit("simp_heavy", module=name, features=f) for name, k, f, _ in mods if k == kind}
             for kind in (0, 1)}
    assert picks == {0: {"no-linters"}, 1: {"baseline"}}
    assert lr.part("simp_heavy", "M1", mods[1][2]) == "simp_heavy.simp_attr"
    replayed = empty_stats()
    for ev in store.iter_events():
        fold(replayed, ev)
    assert replayed["parts"] == lr.stats["parts"]


def test_what_verify_saw_in_a_context_holds_in_its_parts():
    lr = Learner(None, seed=1, exclude={"simp_heavy": {"no-linters"}, "arith.omega": {"no-async"}})
    names = lambda ctx: {s.name for s in lr._candidates(ctx, None, None, lr.joint_posterior(ctx))[0]}  # noqa: E731
    assert "no-linters" not in names("simp_heavy.omega") and "no-linters" not in names("simp_heavy")
    assert "no-async" not in names("arith") and "no-async" not in names("arith.decide")
    assert "no-async" in names("simp_heavy")
    assert lr.excluded_in("simp_heavy.omega") == {"no-linters"}       # what a forced --strategy checks too
    assert lr.excluded_in("arith.decide") == {"no-async"} and lr.excluded_in("general") == frozenset()
