"""The view's similarity sections (simpulse/store/simindex.py): the shim's similarity step reads
its context's section, not every record, and decides exactly as a full load would."""

import json
import math
import random
import shutil

import pytest

from simpulse.learner import Learner, empty_stats, fold, validate_stats
from simpulse.model import similar
from simpulse.store import views
from simpulse.store.codec import VIEW_CHECKPOINT
from simpulse.store.store import Store

CONTEXTS = ("simp_heavy", "arith", "structural")
TC = "tc-sim"


@pytest.fixture(autouse=True)
def _contexts_unsplit(monkeypatch):
    """The sections are per context; these modules' two kinds would split their contexts into
    parts (model/parts.py, tested in test_parts.py), which is not what is tested here."""
    from simpulse.model import parts
    monkeypatch.setattr(parts, "MAX_PARTS", 1)


def _modules(n):
    """Modules whose signatures differ (so neighbours are real), in three contexts, two kinds per
    context that respond differently (so the neighbours move decisions)."""
    rng = random.Random(7)
    out = []
    for i in range(n):
        decl = 5 + rng.randrange(40)
        kind = rng.random() < 0.5
        feats = {"lines": 12 * decl, "declarations": decl, "theorems": decl // 2,
                 "simp": rng.randrange(3 * decl) if kind else rng.randrange(3),
                 "induction": rng.randrange(decl) if not kind else 0, "omega": rng.randrange(5)}
        out.append((f"Proj.S{i}", CONTEXTS[i % len(CONTEXTS)], feats, rng.gauss(0.0, 0.5), kind))
    return out


def _compile(lrn, rng, mod, ctx=None, strategy=None):
    """One compile; `strategy` forces the strategy (as test_similar does). no-linters is 35%
    faster on one kind of module and 35% slower on the other: the context's modules split."""
    name, c, feats, level, kind = mod
    d = lrn.choose(module=name, context=ctx or c, features=feats, source_hash=f"{abs(hash(name)):040x}")
    if strategy is not None:
        fields = {n: getattr(d, n) for n in d.__slots__}
        d = d.__class__(**{**fields, "strategy": lrn.catalogue.get(strategy)})
    effect = (-0.43 if kind else 0.3) if d.strategy.name == "no-linters" else 0.0
    lrn.observe(d, seconds=math.exp(level - 1.0 + effect + rng.gauss(0, 0.05)))


def _state(tmp_path, n_modules=150, n_events=300, seed=2):
    """Every module compiled under baseline and no-linters twice, then `n_events` compiles the
    learner chooses; compacted (snapshot + view)."""
    sdir = tmp_path / "state"
    store = Store(sdir, fsync=False)
    lrn = Learner(None, store=store, toolchain=TC, seed=seed)
    rng = random.Random(seed)
    mods = _modules(n_modules)
    for _ in range(2):
        for i, mod in enumerate(mods):
            # every 7th module under baseline only: its entry's reference is its predicted level
            for strategy in ("baseline",) if i % 7 == 0 else ("baseline", "no-linters"):
                _compile(lrn, rng, mod, strategy=strategy)
    for _ in range(n_events):
        _compile(lrn, rng, rng.choice(mods))
    store.compact(fold, empty_stats())
    return sdir, mods


def _append(sdir, mods, n, seed, ctx=None):
    """n compiles recorded as the shim records them (a lazy load, the event appended)."""
    rng = random.Random(seed)
    for i in range(n):
        store = Store(sdir, create=False, fsync=False)
        store.views = True
        lrn = Learner(None, store=store, toolchain=TC, seed=seed + i)
        _compile(lrn, rng, rng.choice(mods), ctx)


def _learners(sdir, seed):
    full = Learner(None, store=Store(sdir, create=False), toolchain=TC, seed=seed)
    store = Store(sdir, create=False)
    store.views = True
    lazy = Learner(None, store=store, toolchain=TC, seed=seed)
    return full, lazy


def _same_decisions(sdir, mods, n=24, expect_sections=True):
    """Every module's decision (same seed) and its context's index through the view equal the
    full load's; returns how many decisions the neighbours moved (the step is exercised)."""
    moved = 0
    for name, ctx, feats, _, _ in mods[:n]:
        a, b = _learners(sdir, seed=5)
        da = a.choose(module=name, context=ctx, features=feats)
        db = b.choose(module=name, context=ctx, features=feats)
        assert (da.strategy.name, da.expected_speedup, da.ci, da.reason) == \
               (db.strategy.name, db.expected_speedup, db.ci, db.reason)
        table = b.stats["toolchains"][TC]["modules"]
        assert isinstance(table, views.LazyModules)
        assert a._similar.by_ctx[ctx] == b._similar.by_ctx[ctx]
        assert len(a._similar.by_ctx[ctx]) > 20
        assert any(e[5] is not None for e in a._similar.by_ctx[ctx].values())   # predicted levels too
        assert a.__dict__.get("_similar_why") == b.__dict__.get("_similar_why")
        moved += bool((a.__dict__.get("_similar_why") or (None, {}))[1])
        if expect_sections:
            assert not table.complete and len(table._view._parsed) < len(table._view.crcs) // 2
        else:
            assert table.complete          # the full path: every record read
    return moved


def test_decisions_through_the_sections_equal_the_full_load(tmp_path):
    sdir, mods = _state(tmp_path)
    head = json.loads((sdir / views.VIEW_NAME).read_bytes().split(b"\n", 1)[0])
    assert sorted(head["sim"][TC]) == sorted(CONTEXTS)
    assert _same_decisions(sdir, mods) > 0


def test_tail_events_and_a_context_change_are_laid_over_the_sections(tmp_path):
    sdir, mods = _state(tmp_path)
    _append(sdir, mods, 3, seed=31)
    _append(sdir, mods[:2], 1, seed=32, ctx="arith")     # a module of another context moves to arith
    _same_decisions(sdir, mods + mods[:2])
    # and this process's own compiles (observe keeps the index current), each on its own copy
    twin = tmp_path / "twin"
    shutil.copytree(sdir, twin)
    a = _learners(sdir, seed=9)[0]
    b = _learners(twin, seed=9)[1]
    rng_a, rng_b = random.Random(4), random.Random(4)
    for mod in mods[:10]:
        _compile(a, rng_a, mod)
        _compile(b, rng_b, mod)
        for ctx in CONTEXTS:
            assert a._similar.by_ctx.get(ctx) == b._similar.by_ctx.get(ctx)


def test_successor_views_carry_sections_that_stay_exact(tmp_path):
    sdir, mods = _state(tmp_path)
    for rnd in range(3):
        _append(sdir, mods, VIEW_CHECKPOINT, seed=50 + rnd)
        _append(sdir, mods[3:4], 1, seed=60 + rnd, ctx=CONTEXTS[rnd])   # a module changing context
        store = Store(sdir, create=False, fsync=False)
        store.views = True
        store.load(fold, empty_stats(), validate=validate_stats, checkpoint_after=1)
        head = json.loads((sdir / views.VIEW_NAME).read_bytes().split(b"\n", 1)[0])
        assert head["cursor"]["seq"] > head["base"]["cursor"]["seq"]       # a successor view ...
        assert sorted(head["sim"][TC]) == sorted(CONTEXTS)                 # ... with its sections
        _same_decisions(sdir, mods, n=9)
        # the successor's sections hold what a full view of the same statistics would
        store = Store(sdir, create=False, fsync=False)
        store.views = True
        stats, n = store.load(fold, empty_stats(), validate=validate_stats, checkpoint_after=None)
        assert n == 0
        view = stats["toolchains"][TC]["modules"]._view
        from simpulse.store import simindex
        views.detach(stats)
        want = simindex.build(stats["toolchains"][TC]["modules"])
        assert {ctx: view.sim_section(TC, ctx) for ctx in CONTEXTS} == want


def _damage(sdir, how):
    path = sdir / views.VIEW_NAME
    raw = bytearray(path.read_bytes())
    nl = raw.index(b"\n")
    head = json.loads(raw[:nl])
    if how == "section":
        lo, hi, _ = head["sim"][TC]["arith"]
        raw[nl + 1 + (lo + hi) // 2] ^= 0x01
        path.write_bytes(bytes(raw))
    elif how == "missing":                          # a view written without sections
        del head["sim"], head["end"]
        end = head["b"][-1]
        path.write_bytes(json.dumps(head, separators=(",", ":")).encode() + b"\n" + raw[nl + 1:nl + 1 + end])
    else:                                           # an offset pointing into the buckets
        head["sim"][TC]["arith"][0] = head["b"][-1] - 10
        path.write_bytes(json.dumps(head, separators=(",", ":")).encode() + b"\n" + raw[nl + 1:])


@pytest.mark.parametrize("how", ["section", "missing", "offset"])
def test_a_damaged_or_missing_section_falls_back_and_still_equals(tmp_path, how):
    sdir, mods = _state(tmp_path)
    _append(sdir, mods, 2, seed=71)
    _damage(sdir, how)
    arith = [m for m in mods if m[1] == "arith"]
    _same_decisions(sdir, arith, n=4, expect_sections=False)
    if how == "section":          # the other contexts' sections are still used
        others = [m for m in mods if m[1] != "arith"]
        _same_decisions(sdir, others, n=4)


def test_the_similarity_step_reads_few_buckets(tmp_path):
    """The shim's step through the view parses the context's section and the buckets of the
    records it asks for, not every bucket (what the full path's iteration did)."""
    sdir, mods = _state(tmp_path, n_modules=300, n_events=100)
    _append(sdir, mods, 2, seed=81)
    store = Store(sdir, create=False)
    store.views = True
    lrn = Learner(None, store=store, toolchain=TC, seed=1)
    name, ctx, feats, _, _ = mods[10]
    lrn.choose(module=name, context=ctx, features=feats)
    table = lrn.stats["toolchains"][TC]["modules"]
    assert len(lrn._similar.by_ctx[ctx]) >= 90               # the context's modules are indexed ...
    assert len(table._view._parsed) <= 6 < len(table._view.crcs)   # ... from a handful of buckets
    assert dict.__len__(table) <= 6


def test_slim_keeps_what_the_entry_reads():
    rec = {"k": "arith", "g": [0.1, 0.2], "s": {"baseline": [2, -1.0, 0.6], "no-linters": [1, -0.7, 0.5]},
           "b": ["x"], "x": [1.0], "h": "zz", "n": 4}
    raw = json.dumps(rec, separators=(",", ":"))
    from simpulse.store.simindex import slim
    ctx, (g, rest, d) = slim(raw)
    assert ctx == "arith" and g == rec["g"] and d == 0      # two strategies measured: no level prediction
    assert similar._entry({**json.loads(rest), "g": g, "k": ctx}) == similar._entry(rec)
    one = {**rec, "s": {"baseline": [1, -1.0, 1.0]}, "x": [1.0, 2.0, 3.0]}
    assert slim(json.dumps(one, separators=(",", ":")))[1][2] == 3   # one strategy: predicted from x (3 features)
    assert slim(json.dumps({"k": "arith", "s": {}})) is None          # no signature: not indexed
    assert slim(json.dumps({"k": "arith", "g": [0.1], "s": {"a": [0, 0, 0]}})) is None   # nothing measured
    assert slim(json.dumps(rec, separators=(", ", ": "))) is None     # the full path's substring test skips it


def test_splice_replaces_exactly_the_rows_of_the_changed_modules():
    from simpulse.store.simindex import decode, encode, splice
    names = ["A", 'A",', "A.B", "Ünï\ncode", "A\\"]          # prefixes of each other, quotes, escapes
    sec = {n: [[0.1 * i] * (1 + i % 3), '{"s":{"a":[1,2.0,%d.5]}}' % i, i] for i, n in enumerate(names)}
    data = encode(sec)
    assert decode(data) == sec
    got = decode(splice(data, {"A": None, 'A",': [[9.0], "{}", 0], "new": [[1.0], "{}", 2]}))
    want = {k: v for k, v in sec.items() if k != "A"}
    want.update({'A",': [[9.0], "{}", 0], "new": [[1.0], "{}", 2]})
    assert got == want
    assert splice(encode({"A": sec["A"]}), {"A": None}) == b""


def test_rows_give_the_items_decode_gives_and_rank_as_closest():
    """A decision reads a section as `Rows` (a row decoded when asked for) and ranks its modules
    from the signatures read at once; the same items and neighbours as the decoded section."""
    from simpulse.store.simindex import decode, encode, rows
    rng = random.Random(5)
    sec = {f"M{i}": [[float(rng.randrange(3)) for _ in range(4)], '{"s":{"a":[1,%d.0,1.0]}}' % i, i % 2]
           for i in range(120)}
    data = encode(sec)
    got = rows(data)
    assert {name: got.item(v) for name, v in got.items()} == decode(data) == sec
    assert len(rows(b"")) == 0 and rows(b"not a section") is None
    table = similar._Deferred.of(got, {"modules": {}}, "arith")
    assert table.plain == 4
    every = [(n, item[0]) for n, item in sec.items()]
    for name in ("M0", "M7", None):
        sig = sec["M3"][0]
        assert table.nearest(sig, name) == similar.closest(sig, every, name)
    table["M8"] = ([9.0, 9.0, 9.0, 9.0], {}, frozenset(), 0, 0.0, None)      # `Index.update`: another signature
    assert table.plain == 0
    every = [(n, [9.0] * 4 if n == "M8" else item[0]) for n, item in sec.items()]
    assert table.nearest([8.0] * 4, None) == similar.closest([8.0] * 4, every, None)
    assert table.nearest([8.0] * 4, None)[0] == "M8"
