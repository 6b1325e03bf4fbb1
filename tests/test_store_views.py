"""snapshot.view (simpulse/store/views.py): the shim's load reads only the records it touches and
must never show the learner other numbers than the full load would."""

import json
import math
import os
import random

import pytest

from simpulse.learner import Learner, empty_stats, fold, validate_stats
from simpulse.store import views
from simpulse.store.codec import VIEW_CHECKPOINT
from simpulse.store.store import Store

CONTEXTS = ("tiny", "arith", "simp_heavy")
TC = "tc-one"


def _modules(n):
    rng = random.Random(99)
    return [(f"Proj.M{i}", CONTEXTS[i % len(CONTEXTS)], {"lines": 20 + rng.randrange(400), "simp": rng.randrange(30)},
             rng.gauss(0.0, 0.6)) for i in range(n)]


def _compile(lrn, rng, mods):
    name, ctx, feats, level = rng.choice(mods)
    d = lrn.choose(module=name, context=ctx, features=feats, source_hash=f"{abs(hash(name)):040x}")
    lrn.observe(d, seconds=math.exp(level - 1.0 + rng.gauss(0, 0.1)))


def _state(tmp_path, n_modules=90, n_events=400, seed=1):
    """A learner-shaped state: events from real decisions, compacted (snapshot + view)."""
    sdir = tmp_path / "state"
    store = Store(sdir, fsync=False)
    lrn = Learner(None, store=store, toolchain=TC, seed=seed)
    rng = random.Random(seed)
    mods = _modules(n_modules)
    for _ in range(n_events):
        _compile(lrn, rng, mods)
    store.compact(fold, empty_stats())
    return sdir, mods


def _append(sdir, mods, n, seed):
    """n more compiles recorded as the shim records them: decided on a lazy load, only appended."""
    rng = random.Random(seed)
    for i in range(n):
        store = Store(sdir, create=False, fsync=False)
        lrn = Learner(None, store=Store(sdir, create=False, fsync=False), toolchain=TC, seed=seed + i)
        lrn.store = store
        _compile(lrn, rng, mods)


def _full(sdir):
    """What the full load gives, the view set aside (read-only: nothing is written)."""
    path = sdir / views.VIEW_NAME
    kept = path.read_bytes() if path.exists() else None
    if kept is not None:
        path.unlink()
    try:
        return Store(sdir, create=False).load(fold, empty_stats(), validate=validate_stats, checkpoint_after=None)
    finally:
        if kept is not None:
            path.write_bytes(kept)


def _lazy(sdir, checkpoint_after=None):
    store = Store(sdir, create=False, fsync=False)
    store.views = True
    stats, n = store.load(fold, empty_stats(), validate=validate_stats, checkpoint_after=checkpoint_after)
    return store, stats, n


def _plain(stats):
    views.detach(stats)
    return json.dumps(stats, sort_keys=True)


def test_compaction_writes_a_view_of_the_snapshot(tmp_path):
    sdir, _ = _state(tmp_path)
    head = json.loads((sdir / views.VIEW_NAME).read_bytes().split(b"\n", 1)[0])
    snap = json.loads((sdir / "snapshot.json").read_bytes())
    assert head["base"] == {"stats_crc": snap["stats_crc"], "cursor": snap["cursor"], "written": snap["written"]}
    assert head["cursor"] == snap["cursor"]
    assert len(head["bcrc"]) > 5          # the records are spread over buckets


def test_lazy_load_equals_full_load_and_reads_few_records(tmp_path):
    sdir, mods = _state(tmp_path)
    _append(sdir, mods, 3, seed=5)         # a tail of 3 events, folded on top of the view
    full, n_full = _full(sdir)
    store, lazy, n = _lazy(sdir)
    assert n == n_full == 3
    table = lazy["toolchains"][TC]["modules"]
    assert isinstance(table, views.LazyModules)
    read = dict.__len__(table)
    assert 0 < read <= 3                   # the tail's modules, not all 90
    assert _plain(lazy) == json.dumps(full, sort_keys=True)


def test_decisions_through_the_view_are_the_full_loads(tmp_path):
    sdir, mods = _state(tmp_path)
    _append(sdir, mods, 2, seed=8)
    for name, ctx, feats, _ in mods[:12]:
        a = Learner(None, store=Store(sdir, create=False), toolchain=TC, seed=3)
        store = Store(sdir, create=False)
        store.views = True
        b = Learner(None, store=store, toolchain=TC, seed=3)
        da = a.choose(module=name, context=ctx, features=feats)
        db = b.choose(module=name, context=ctx, features=feats)
        assert (da.strategy.name, da.expected_speedup, da.ci, da.reason) == \
               (db.strategy.name, db.expected_speedup, db.ci, db.reason)


def test_successor_views_stay_equal_to_the_full_load(tmp_path):
    sdir, mods = _state(tmp_path)
    snap_before = (sdir / "snapshot.json").read_bytes()
    seqs = []
    for rnd in range(5):
        _append(sdir, mods, VIEW_CHECKPOINT, seed=100 + rnd)
        store, lazy, n = _lazy(sdir, checkpoint_after=VIEW_CHECKPOINT)   # checkpoints as a new view
        assert n == VIEW_CHECKPOINT
        head = json.loads((sdir / views.VIEW_NAME).read_bytes().split(b"\n", 1)[0])
        seqs.append(head["cursor"]["seq"])
        full, _ = _full(sdir)
        assert _plain(lazy) == json.dumps(full, sort_keys=True)
        # and the next lazy load starts from the new view: nothing left to fold
        _, again, n2 = _lazy(sdir)
        assert n2 == 0 and _plain(again) == json.dumps(full, sort_keys=True)
    assert seqs == sorted(seqs) and len(set(seqs)) == 5
    assert (sdir / "snapshot.json").read_bytes() == snap_before      # the snapshot is not rewritten
    # a full reader takes the newer view too (it would otherwise fold everything since the snapshot)
    st, n = Store(sdir, create=False).load(fold, empty_stats(), validate=validate_stats, checkpoint_after=None)
    assert n == 0
    assert not isinstance(st["toolchains"][TC]["modules"], views.LazyModules)     # read whole
    assert json.dumps(st, sort_keys=True) == json.dumps(_full(sdir)[0], sort_keys=True)


def test_a_stale_view_is_ignored(tmp_path):
    sdir, mods = _state(tmp_path)
    old_view = (sdir / views.VIEW_NAME).read_bytes()
    _append(sdir, mods, 4, seed=9)
    Store(sdir, create=False).compact(fold, empty_stats())   # a new snapshot (and view)
    (sdir / views.VIEW_NAME).write_bytes(old_view)            # ... and the old view put back
    full, _ = _full(sdir)
    store, lazy, n = _lazy(sdir)
    assert not isinstance(lazy["toolchains"][TC]["modules"], views.LazyModules)   # read in full
    assert json.dumps(lazy, sort_keys=True) == json.dumps(full, sort_keys=True)


@pytest.mark.parametrize("where", ["core", "bucket", "header"])
def test_a_damaged_view_falls_back_to_the_full_load(tmp_path, where):
    sdir, mods = _state(tmp_path)
    _append(sdir, mods, 2, seed=11)
    full, _ = _full(sdir)
    path = sdir / views.VIEW_NAME
    raw = bytearray(path.read_bytes())
    nl = raw.index(b"\n")
    head = json.loads(raw[:nl])
    if where == "header":
        pos = 5
    elif where == "core":
        pos = nl + 1 + head["core"][0] // 2
    else:                                             # inside the largest bucket
        i = max(range(len(head["bcrc"])), key=lambda k: head["b"][k + 1] - head["b"][k])
        pos = nl + 1 + head["b"][i] + 5
    raw[pos] = ord("#") if raw[pos] != ord("#") else ord("%")
    path.write_bytes(bytes(raw))
    # every module's record is asked for: whichever bucket is damaged is met
    store, lazy, n = _lazy(sdir)
    met = False
    for name, *_ in mods:
        try:
            lazy["toolchains"][TC]["modules"].get(name)
        except views.ViewDamaged:
            met = True
            assert not path.exists()                  # removed: the next loads read the snapshot
            break
    assert met == (where == "bucket")
    store, again, _ = _lazy(sdir)
    assert _plain(again) == json.dumps(full, sort_keys=True)


def test_a_refresh_reading_every_record_is_checkpointed(tmp_path):
    """Iterating the records (a context-wide refresh) reads them all, gives the full load's
    numbers, and is checkpointed so the next loads do not pay it again."""
    sdir, mods = _state(tmp_path)
    _append(sdir, mods, 1, seed=12)
    store, lazy, n = _lazy(sdir)
    table = lazy["toolchains"][TC]["modules"]
    assert len(table) == len(_full(sdir)[0]["toolchains"][TC]["modules"]) and table.complete
    assert views.materialized(lazy)


def test_record_event_without_loaded_statistics_only_appends(tmp_path):
    sdir, mods = _state(tmp_path, n_events=60)
    store = Store(sdir, create=False)
    lrn = Learner(None, store=store, toolchain=TC, seed=0)
    d = lrn.choose(module="Proj.M1", context="tiny", features={"lines": 30})
    lrn.reload()
    lrn.observe(d, seconds=0.5)
    assert lrn._stats is None                 # nothing loaded again to fold into
    full, n = _full(sdir)
    assert any(json.loads(r).get("s") for r in [full["toolchains"][TC]["modules"]["Proj.M1"]])
    assert full["counters"]["compiles"] == 61


def test_view_file_is_private_and_atomic(tmp_path):
    sdir, _ = _state(tmp_path, n_events=50)
    mode = os.stat(sdir / views.VIEW_NAME).st_mode & 0o777
    assert mode == 0o600
    assert not [p for p in os.listdir(sdir) if ".tmp." in p]


def test_a_view_records_the_check_it_passed_and_another_check_runs_again(tmp_path):
    sdir, mods = _state(tmp_path, n_events=80)
    Store(sdir, create=False).compact(fold, empty_stats(), validate=validate_stats)
    head = json.loads((sdir / views.VIEW_NAME).read_bytes().split(b"\n", 1)[0])
    assert head["valid"] == views.validator_name(validate_stats)
    calls = []

    def reject(stats):
        calls.append(1)
        return "rejected by this test"

    store = Store(sdir, create=False)
    store.views = True
    stats, _ = store.load(fold, empty_stats(), validate=reject, checkpoint_after=None)
    assert calls                                             # not trusted: another check
    assert not isinstance(stats["toolchains"][TC]["modules"], views.LazyModules)


def test_lazy_modules_behave_as_the_full_table(tmp_path):
    sdir, mods = _state(tmp_path, n_events=120)
    full = _full(sdir)[0]["toolchains"][TC]["modules"]
    _, lazy, _ = _lazy(sdir)
    table = lazy["toolchains"][TC]["modules"]
    name = next(iter(full))
    assert table.get(name) == full[name] and name in table and table[name] == full[name]
    assert table.get("No.Such.Module") is None and "No.Such.Module" not in table
    with pytest.raises(KeyError):
        table["No.Such.Module"]
    assert not table.complete and dict.__len__(table) == 1          # one record read, not all
    table["New.Module"] = "{}"                                       # a new record is a change
    assert table._dirty == {"New.Module"}
    assert table == dict(full, **{"New.Module": "{}"}) and table.complete
    assert not (table != dict(full, **{"New.Module": "{}"}))
    store = Store(sdir, create=False)
    store.views = True
    stats, _ = store.load(fold, empty_stats(), validate=validate_stats, checkpoint_after=None)
    t2 = stats["toolchains"][TC]["modules"]
    t2.pop(name)                                                     # a removal: no successor view
    assert views.encode_successor(store._view, stats, store.cursor) is None


def test_the_shims_successor_view_is_written_by_a_detached_process(tmp_path):
    """As the shim loads (background checkpoints), the successor view is written by a detached
    grandchild: the loading process never writes it, and it appears, equal to the full load."""
    import time

    sdir, mods = _state(tmp_path)
    _append(sdir, mods, VIEW_CHECKPOINT, seed=7)
    path = sdir / views.VIEW_NAME
    before = json.loads(path.read_bytes().split(b"\n", 1)[0])["cursor"]["seq"]
    store = Store(sdir, create=False, fsync=False)
    store.views = True
    store.background_checkpoints = True
    writers = []
    real = store._write_atomic
    store._write_atomic = lambda p, data: (writers.append(os.getpid()), real(p, data))
    _, n = store.load(fold, empty_stats(), validate=validate_stats, checkpoint_after=VIEW_CHECKPOINT)
    assert n == VIEW_CHECKPOINT and writers == []                 # not this process
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if json.loads(path.read_bytes().split(b"\n", 1)[0])["cursor"]["seq"] > before:
            break
        time.sleep(0.05)
    else:
        raise AssertionError("no successor view was written")
    _, again, n2 = _lazy(sdir)
    assert n2 == 0 and _plain(again) == json.dumps(_full(sdir)[0], sort_keys=True)


def test_a_checkpoint_renames_the_view_right_after_the_snapshot(tmp_path, monkeypatch):
    """The view is encoded before the snapshot is replaced, and both are renamed in place one
    after the other: a shim meets them out of step (and loads in full, ~10x slower) for no
    longer than two renames, not for the time a view takes to encode. A view that cannot be
    written leaves the snapshot written and no view."""
    sdir, mods = _state(tmp_path, n_events=120)
    _append(sdir, mods, 5, seed=3)
    before = (sdir / "snapshot.json").read_bytes()
    seen = []
    real = views.encode_view

    def encode(*a, **k):
        seen.append((sdir / "snapshot.json").read_bytes() == before)     # not replaced yet
        return real(*a, **k)
    monkeypatch.setattr(views, "encode_view", encode)
    store = Store(sdir, create=False, fsync=False)
    stats, _ = store.load(fold, empty_stats(), validate=validate_stats, checkpoint_after=None)
    assert store.checkpoint(stats) is True
    assert seen == [True]
    snap = json.loads((sdir / "snapshot.json").read_bytes())
    head = json.loads((sdir / views.VIEW_NAME).read_bytes().split(b"\n", 1)[0])
    assert head["base"]["cursor"] == snap["cursor"] and head["base"]["stats_crc"] == snap["stats_crc"]
    assert not [p for p in os.listdir(sdir) if ".tmp." in p]
    # the view's file cannot be written: the snapshot is, and the stale view is gone
    _append(sdir, mods, 3, seed=5)
    from simpulse.store import atomic
    real_new = atomic._write_new
    monkeypatch.setattr(atomic, "_write_new", lambda tmp, data, *a: (_ for _ in ()).throw(OSError(28, "full"))
                        if tmp.startswith(str(sdir / views.VIEW_NAME)) else real_new(tmp, data, *a))
    store = Store(sdir, create=False, fsync=False)
    stats, _ = store.load(fold, empty_stats(), validate=validate_stats, checkpoint_after=None)
    assert store.checkpoint(stats) is True
    assert json.loads((sdir / "snapshot.json").read_bytes())["cursor"]["seq"] == store.cursor["seq"]
    assert not (sdir / views.VIEW_NAME).exists()
    assert not [p for p in os.listdir(sdir) if ".tmp." in p]
