"""Behaviour of the state directory store (simpulse/store/): format, concurrency, recovery."""

import errno
import gzip
import json
import multiprocessing
import os
import re
import stat
import time
import zlib

import pytest

from simpulse.store import store as store_mod
from simpulse.store.file_lock import LockTimeout, lock, try_lock
from simpulse.store.store import SCHEMA_VERSION, Store, StoreError

LINE_RE = re.compile(rb"^([0-9a-f]{8}) (\{.*\})$")


def fold(stats, ev):
    """A JSON-able fold: counts and sums per kind, plus the ids seen."""
    k = ev.get("kind", "?")
    stats["n"] += 1
    stats["by_kind"][k] = stats["by_kind"].get(k, 0) + 1
    stats["sum"] += ev.get("x", 0)
    stats["ids"].append(ev["seq"])
    return stats


def initial():
    return {"n": 0, "sum": 0, "by_kind": {}, "ids": []}


def fold_all(events):
    st = initial()
    for ev in events:
        st = fold(st, ev)
    return st


class CountingFold:
    def __init__(self):
        self.calls = 0

    def __call__(self, stats, ev):
        self.calls += 1
        return fold(stats, ev)


def ev(i, kind="compile"):
    return {"kind": kind, "x": i, "id": f"{i:08x}"}


def log_lines(d):
    return (d / "events.log").read_bytes().split(b"\n")


# --------------------------------------------------------------------------- basics


def test_round_trip_and_seq(tmp_path):
    d = tmp_path / "state"
    s = Store(d, fsync=False)
    assert stat.S_IMODE(os.stat(d).st_mode) == 0o700
    events = [ev(i) for i in range(5)]
    for e in events:
        s.append(e)
    s.append_many([ev(i) for i in range(5, 8)])
    got = list(Store(d).iter_events())
    assert [e["seq"] for e in got] == list(range(1, 9))
    assert [e["x"] for e in got] == list(range(8))
    assert all(e["v"] == SCHEMA_VERSION for e in got)
    assert events[0]["seq"] == 1  # append adds seq to the caller's dict
    assert json.loads((d / "state.json").read_text())["layout"] == store_mod.LAYOUT_VERSION
    assert s.problems == []


def test_line_format_is_crc_plus_compact_json(tmp_path):
    d = tmp_path / "state"
    Store(d, fsync=False).append({"kind": "compile", "module": "Fixtures.Arith", "wall": 1.5, "u": "é"})
    raw = (d / "events.log").read_bytes()
    assert raw.endswith(b"\n")
    lines = raw[:-1].split(b"\n")
    assert len(lines) == 2  # header + one event
    for line in lines:
        m = LINE_RE.match(line)
        assert m, line
        assert int(m.group(1), 16) == zlib.crc32(m.group(2))
        assert b": " not in m.group(2) and b", " not in m.group(2)  # compact
    header = json.loads(LINE_RE.match(lines[0]).group(2))
    assert header["log"] == 1 and isinstance(header["gen"], str) and header["base_seq"] == 0
    body = json.loads(LINE_RE.match(lines[1]).group(2))
    assert body["seq"] == 1 and body["u"] == "é" and body["v"] == 1


def test_missing_dir_without_create(tmp_path):
    with pytest.raises(StoreError, match="does not exist"):
        Store(tmp_path / "nope", create=False)
    assert not (tmp_path / "nope").exists()


# --------------------------------------------------------------------------- damage


def test_torn_last_line_skipped_reported_once_and_next_append_fine(tmp_path):
    d = tmp_path / "state"
    s = Store(d, fsync=False)
    for i in range(3):
        s.append(ev(i))
    size = (d / "events.log").stat().st_size
    whole = store_mod._encode({"kind": "compile", "x": 99, "seq": 4, "v": 1})
    with open(d / "events.log", "ab") as f:
        f.write(whole[: len(whole) // 2])  # a crash in the middle of a write
    r = Store(d)
    assert [e["x"] for e in r.iter_events()] == [0, 1, 2]
    assert [e["x"] for e in r.iter_events()] == [0, 1, 2]
    st, n = r.load(fold, initial(), checkpoint_after=None)
    assert n == 3
    assert r.problems == [f"events.log: skipped 1 torn line at byte {size}"]
    # a second reader and then an appender see it too, but simpulse.log has it once
    r2 = Store(d)
    list(r2.iter_events())
    assert len(r2.problems) == 1
    w = Store(d, fsync=False)
    w.append(ev(3))
    assert w.problems == [f"events.log: skipped 1 torn line at byte {size}"]
    got = list(Store(d).iter_events())
    assert [e["x"] for e in got] == [0, 1, 2, 3]
    assert [e["seq"] for e in got] == [1, 2, 3, 4]
    diag = (d / "simpulse.log").read_text()
    assert diag.count(f"torn line at byte {size}") == 1
    # the file is line-structured again: every line but the torn one checks out
    lines = [l for l in log_lines(d) if l]
    assert sum(1 for l in lines if not LINE_RE.match(l) or store_mod._decode(l) is None) == 1
    assert log_lines(d)[-1] == b""


def test_corrupt_middle_line_skipped(tmp_path):
    d = tmp_path / "state"
    s = Store(d, fsync=False)
    for i in range(5):
        s.append(ev(i))
    raw = bytearray((d / "events.log").read_bytes())
    lines = bytes(raw).split(b"\n")
    off = len(lines[0]) + 1 + len(lines[1]) + 1  # third line: the event with x=1
    pos = raw.index(b'"x":1', off)
    raw[pos + 4] = ord("7")  # bit rot: still valid JSON, checksum no longer matches
    (d / "events.log").write_bytes(bytes(raw))
    r = Store(d)
    assert [e["x"] for e in r.iter_events()] == [0, 2, 3, 4]
    assert r.problems == [f"events.log: skipped 1 corrupt line at byte {off}"]
    st, n = r.load(fold, initial(), checkpoint_after=None)
    assert n == 4 and st["sum"] == 9
    # appends continue after it with fresh seqs
    r.append(ev(5))
    assert [e["seq"] for e in Store(d).iter_events()] == [1, 3, 4, 5, 6]


def test_corrupt_snapshot_is_rebuilt(tmp_path):
    d = tmp_path / "state"
    s = Store(d, fsync=False)
    for i in range(10):
        s.append(ev(i))
    st, _ = s.load(fold, initial())  # the slow path (no snapshot yet) checkpoints by itself
    assert (d / "snapshot.json").exists()
    assert not s.checkpoint(st)  # already covered
    expected = fold_all(Store(d).iter_events())
    good = (d / "snapshot.json").read_bytes()
    tampered = good.replace(b'"sum":45', b'"sum":46')
    assert tampered != good
    damages = {
        "bad json": good[: len(good) // 2],
        "checksum": tampered,
        "schema": good.replace(b'"schema":1', b'"schema":99'),
    }
    for why, data in damages.items():
        (d / "snapshot.json").write_bytes(data)
        r = Store(d)
        got, n = r.load(fold, initial())
        assert got == expected, why
        assert n == 10, why
        assert any("snapshot.json: ignored" in p for p in r.problems), (why, r.problems)
        # load rebuilt it: the next load is fast again and folds nothing
        r2 = Store(d)
        got2, n2 = r2.load(fold, initial())
        assert (got2, n2) == (expected, 0), why
        assert r2.problems == []
    assert (d / "snapshot.json.corrupt").exists()


# --------------------------------------------------------------------------- concurrency


def _writer(d, w, n):
    s = Store(d, fsync=False)
    for i in range(n):
        s.append({"kind": "compile", "w": w, "i": i})


def test_concurrent_appends_8_processes(tmp_path):
    d = tmp_path / "state"
    Store(d)
    ctx = multiprocessing.get_context("fork")
    procs = [ctx.Process(target=_writer, args=(d, w, 200)) for w in range(8)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    r = Store(d)
    got = list(r.iter_events())
    assert len(got) == 1600
    assert sorted((e["w"], e["i"]) for e in got) == [(w, i) for w in range(8) for i in range(200)]
    assert [e["seq"] for e in got] == list(range(1, 1601))
    for w in range(8):  # each writer's events in its own order
        assert [e["i"] for e in got if e["w"] == w] == list(range(200))
    assert r.problems == []


def _compactor(d, stop_path, retention):
    n = 0
    while not os.path.exists(stop_path):
        Store(d, fsync=False).compact(fold, initial(), retention_segments=retention)
        n += 1
    os._exit(0 if n else 7)


@pytest.mark.parametrize("retention", [None, 1])
def test_concurrent_appends_during_compactions(tmp_path, retention):
    d = tmp_path / "state"
    Store(d)
    stop = tmp_path / "stop"
    ctx = multiprocessing.get_context("fork")
    comp = ctx.Process(target=_compactor, args=(d, stop, retention))
    comp.start()
    procs = [ctx.Process(target=_writer, args=(d, w, 150)) for w in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
        assert p.exitcode == 0
    stop.touch()
    comp.join(60)
    assert comp.exitcode == 0
    r = Store(d)
    st, _ = r.load(fold, initial())
    assert st["n"] == 600 and st["ids"] == list(range(1, 601))
    got = list(r.iter_events())
    if retention is None:
        assert sorted((e["w"], e["i"]) for e in got) == [(w, i) for w in range(4) for i in range(150)]
    assert [e["seq"] for e in got] == list(range(got[0]["seq"] if got else 601, 601))
    assert r.problems == []


# --------------------------------------------------------------------------- load / checkpoint / compact


def test_load_folds_only_the_tail_after_checkpoint(tmp_path):
    d = tmp_path / "state"
    s = Store(d, fsync=False)
    s.append_many([ev(i) for i in range(100)])
    f = CountingFold()
    st, n = s.load(f, initial(), checkpoint_after=None)
    assert (n, f.calls) == (100, 100)
    assert s.checkpoint(st, s.cursor)
    assert not s.checkpoint(st, s.cursor)  # nothing newer to write
    s.append_many([ev(i) for i in range(100, 107)])
    f = CountingFold()
    r = Store(d)
    st2, n2 = r.load(f, initial(), checkpoint_after=None)
    assert (n2, f.calls) == (7, 7)
    assert st2 == fold_all(r.iter_events())
    # the reader read the tail only: from the snapshot's byte offset on
    snap = json.loads((d / "snapshot.json").read_bytes())
    assert snap["cursor"]["seq"] == 100 and snap["cursor"]["offset"] > 0
    # design-doc spelling: checkpoint(stats) uses the cursor of the last load
    assert r.checkpoint(st2)
    f = CountingFold()
    assert Store(d).load(f, initial())[1] == 0 and f.calls == 0


def test_load_checkpoints_by_itself_after_many_events(tmp_path):
    d = tmp_path / "state"
    s = Store(d, fsync=False)
    s.append_many([ev(i) for i in range(store_mod.AUTO_CHECKPOINT + 5)])
    st, n = s.load(fold, initial())
    assert n == store_mod.AUTO_CHECKPOINT + 5
    assert (d / "snapshot.json").exists()
    f = CountingFold()
    assert Store(d).load(f, initial()) == (st, 0) and f.calls == 0


def test_checkpoint_returns_false_while_compaction_lock_held(tmp_path):
    d = tmp_path / "state"
    s = Store(d, fsync=False)
    s.append(ev(0))
    st, _ = s.load(fold, initial(), checkpoint_after=None)
    with lock(d / "compact.lock"):
        t = time.perf_counter()
        assert s.checkpoint(st) is False
        assert time.perf_counter() - t < 0.5
    assert s.checkpoint(st) is True


def test_outdated_snapshot_is_refreshed_by_a_slow_load(tmp_path):
    """After a crash between the log swap and the snapshot (simulated: an old snapshot put
    back), load takes the slow path once, then records a current cursor."""
    d = tmp_path / "state"
    s = Store(d, fsync=False)
    s.append_many([ev(i) for i in range(10)])
    s.load(fold, initial())
    old = (d / "snapshot.json").read_bytes()
    s.compact(fold, initial())
    (d / "snapshot.json").write_bytes(old)
    s.append(ev(10))
    f = CountingFold()
    r = Store(d)
    got, n = r.load(f, initial())
    assert got == fold_all(r.iter_events()) and n == 1 and r.problems == []
    f = CountingFold()
    assert Store(d).load(f, initial()) == (got, 0) and f.calls == 0
    assert json.loads((d / "snapshot.json").read_bytes())["cursor"]["seq"] == 11


def test_compact_rotates_and_stats_match(tmp_path):
    d = tmp_path / "state"
    s = Store(d, fsync=False)
    s.append_many([ev(i, kind="compile" if i % 3 else "bench") for i in range(50)])
    st, _ = s.load(fold, initial(), checkpoint_after=None)
    s.checkpoint(st)
    s.append_many([ev(i) for i in range(50, 80)])
    res = s.compact(fold, initial())
    assert res["archived"] == 80 and res["folded"] == 30 and res["seq"] == 80
    segs = sorted(os.listdir(d / "segments"))
    assert segs == ["events-000000000001-000000000080.log.gz"]
    with gzip.open(d / "segments" / segs[0]) as f:
        assert len(f.read().splitlines()) == 80
    assert len([l for l in log_lines(d) if l]) == 1  # just the header of the new generation
    all_events = list(Store(d).iter_events())
    assert [e["seq"] for e in all_events] == list(range(1, 81))
    f = CountingFold()
    st2, n = Store(d).load(f, initial())
    assert st2 == fold_all(all_events) and n == 0 and f.calls == 0
    # appends continue the seq after the rotation
    s.append(ev(80))
    s.compact(fold, initial())
    s.append(ev(81))
    all_events = list(Store(d).iter_events())
    assert [e["seq"] for e in all_events] == list(range(1, 83))
    assert Store(d).load(fold, initial())[0] == fold_all(all_events)
    assert Store(d).problems == []


def test_compact_with_retention_keeps_stats(tmp_path):
    d = tmp_path / "state"
    s = Store(d, fsync=False)
    for batch in range(4):
        s.append_many([ev(batch * 10 + i) for i in range(10)])
        s.compact(fold, initial())
    full = fold_all(Store(d).iter_events())
    assert full["n"] == 40 and len(os.listdir(d / "segments")) == 4
    res = s.compact(fold, initial(), retention_segments=1)
    assert res["deleted_segments"] == 3 and res["segments"] == 1
    assert os.listdir(d / "segments") == ["events-000000000031-000000000040.log.gz"]
    r = Store(d)
    assert r.load(fold, initial()) == (full, 0)
    assert [e["seq"] for e in r.iter_events()] == list(range(31, 41))
    s.append(ev(40))
    assert r.load(fold, initial())[0]["n"] == 41
    assert r.problems == []


def test_reader_survives_rotation_between_snapshot_and_log(tmp_path, monkeypatch):
    """A compaction that rotates the log after load() read the snapshot: the reader notices
    the generation change and folds by seq instead; nothing lost, nothing twice."""
    d = tmp_path / "state"
    s = Store(d, fsync=False)
    s.append_many([ev(i) for i in range(20)])
    st, _ = s.load(fold, initial())
    s.checkpoint(st)
    s.append_many([ev(i) for i in range(20, 25)])
    r = Store(d)
    real = r._read_snapshot
    state = {"done": False}

    def read_then_compact(report=True):
        snap = real(report)
        if not state["done"]:
            state["done"] = True
            Store(d, fsync=False).compact(fold, initial())
            Store(d, fsync=False).append(ev(25))
        return snap

    monkeypatch.setattr(r, "_read_snapshot", read_then_compact)
    got, _ = r.load(fold, initial(), checkpoint_after=None)
    assert state["done"]
    assert got == fold_all(Store(d).iter_events())
    assert got["n"] == 26 and got["ids"] == list(range(1, 27))


@pytest.mark.parametrize("crash_at", range(1, 8))
def test_compaction_interrupted_at_every_step(tmp_path, monkeypatch, crash_at):
    """Simulate a crash at the k-th rename/replace/unlink of a compaction: afterwards every
    event is there exactly once, load equals folding everything, and a retry compaction fixes
    the layout."""
    d = tmp_path / "state"
    s = Store(d, fsync=False)
    s.append_many([ev(i) for i in range(30)])
    s.compact(fold, initial())
    s.append_many([ev(i) for i in range(30, 45)])
    st, _ = s.load(fold, initial(), checkpoint_after=None)
    s.checkpoint(st)
    s.append_many([ev(i) for i in range(45, 60)])

    class Crash(BaseException):
        pass

    calls = {"n": 0}

    def wrap(fn):
        def inner(*a, **k):
            calls["n"] += 1
            if calls["n"] == crash_at:
                raise Crash()
            return fn(*a, **k)

        return inner

    with monkeypatch.context() as m:
        for name in ("replace", "rename", "unlink"):
            m.setattr(store_mod.os, name, wrap(getattr(os, name)))
        try:
            Store(d, fsync=False).compact(fold, initial(), retention_segments=0)
            crashed = False
        except Crash:
            crashed = True
    if crash_at <= 3:
        assert crashed
    r = Store(d)
    events = list(r.iter_events(include_segments=True))
    seqs = [e["seq"] for e in events]
    assert len(seqs) == len(set(seqs))
    got, _ = r.load(fold, initial(), checkpoint_after=None)
    assert got["ids"] == list(range(1, 61))
    if not crashed or crash_at > 3:
        pass
    else:
        assert seqs == list(range(1, 61))  # retention had not run: all still readable
    s2 = Store(d, fsync=False)
    s2.append(ev(60))
    s2.compact(fold, initial())
    got, n = Store(d).load(fold, initial())
    assert got["ids"] == list(range(1, 62)) and n == 0


# --------------------------------------------------------------------------- layouts


def test_newer_layout_is_refused(tmp_path):
    d = tmp_path / "state"
    d.mkdir()
    (d / "state.json").write_text(json.dumps({"layout": store_mod.LAYOUT_VERSION + 1}))
    with pytest.raises(StoreError, match="newer simpulse"):
        Store(d)


def test_unreadable_state_file_is_refused(tmp_path):
    d = tmp_path / "state"
    d.mkdir()
    (d / "state.json").write_text("{not json")
    with pytest.raises(StoreError, match="unreadable"):
        Store(d)


def test_layout0_migration(tmp_path):
    d = tmp_path / "state"
    d.mkdir()
    legacy = [{"kind": "compile", "module": f"M{i}", "wall": i / 10} for i in range(5)]
    legacy[2]["seq"] = 77  # the prototype had no seq; if one is there it is kept aside
    text = "\n".join(json.dumps(e) for e in legacy[:3]) + "\n{broken\n\n" + "\n".join(json.dumps(e) for e in legacy[3:]) + "\n"
    (d / "events.jsonl").write_text(text)
    s = Store(d, fsync=False)
    assert not (d / "events.jsonl").exists()
    assert (d / "events.jsonl.migrated").read_text() == text
    assert json.loads((d / "state.json").read_text())["layout"] == 1
    got = list(s.iter_events())
    assert [e["module"] for e in got] == [f"M{i}" for i in range(5)]
    assert [e["seq"] for e in got] == [1, 2, 3, 4, 5]
    assert got[2]["legacy_seq"] == 77
    assert all(e["v"] == 1 for e in got)
    assert any("line 4 is not a JSON object" in p for p in s.problems)
    assert "migrated 5 events from layout 0" in (d / "simpulse.log").read_text()
    s.append({"kind": "compile", "module": "M5"})
    assert [e["seq"] for e in Store(d).iter_events()] == [1, 2, 3, 4, 5, 6]


def test_layout0_migration_interrupted_is_redone(tmp_path, monkeypatch):
    d = tmp_path / "state"
    d.mkdir()
    (d / "events.jsonl").write_text("".join(json.dumps({"kind": "compile", "i": i}) + "\n" for i in range(3)))
    real = os.rename

    def boom(a, b, *k, **kw):
        if str(a).endswith("events.jsonl"):
            raise KeyboardInterrupt  # a crash after events.log was written
        return real(a, b, *k, **kw)

    with monkeypatch.context() as m:
        m.setattr(store_mod.os, "rename", boom)
        with pytest.raises(KeyboardInterrupt):
            Store(d, fsync=False)
    assert (d / "events.log").exists() and not (d / "state.json").exists()
    s = Store(d, fsync=False)
    assert [e["i"] for e in s.iter_events()] == [0, 1, 2]


# --------------------------------------------------------------------------- file-system failures


def _append_as_nobody(d):
    """Fork, drop to uid/gid 65534 and append: 0 = appended, 3 = StoreError, 4 = other error,
    5 = could not drop privileges."""
    pid = os.fork()
    if pid == 0:
        code = 4
        try:
            try:
                os.setgid(65534)
                os.setuid(65534)
            except OSError:
                os._exit(5)
            try:
                Store(d).append({"kind": "compile"})
                code = 0
            except StoreError as e:
                code = 3 if "Permission denied" in str(e) else 6
        finally:
            os._exit(code)
    return os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])


def test_read_only_dir_raises_store_error(tmp_path, monkeypatch):
    # simulated: a read-only file system
    d = tmp_path / "state"
    Store(d)
    real_open = os.open

    def rofs(path, flags, *a, **k):
        if flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT):
            raise OSError(errno.EROFS, os.strerror(errno.EROFS), path)
        return real_open(path, flags, *a, **k)

    with monkeypatch.context() as m:
        m.setattr(store_mod.os, "open", rofs)
        with pytest.raises(StoreError, match="Read-only file system"):
            Store(d).append(ev(0))


def test_read_only_dir_permissions(tmp_path):
    import tempfile

    base = tempfile.mkdtemp(prefix="simpulse-ro-")
    try:
        d = os.path.join(base, "state")
        os.mkdir(d)
        os.chmod(base, 0o755)
        if os.geteuid() == 0:
            os.chown(d, 65534, 65534)
            os.chmod(d, 0o500)
            code = _append_as_nobody(d)
            if code == 5:
                pytest.skip("cannot drop privileges here")
            assert code == 3
        else:
            os.chmod(d, 0o500)
            with pytest.raises(StoreError, match="Permission denied"):
                Store(d).append(ev(0))
    finally:
        os.chmod(os.path.join(base, "state"), 0o700)
        import shutil

        shutil.rmtree(base, ignore_errors=True)


def test_state_dir_deleted_after_open(tmp_path):
    import shutil

    d = tmp_path / "state"
    s = Store(d)
    s.append(ev(0))
    shutil.rmtree(d)
    with pytest.raises(StoreError, match="no longer exists"):
        s.append(ev(1))
    with pytest.raises(StoreError):
        s.compact(fold, initial())
    assert not d.exists()


def test_full_disk(tmp_path, monkeypatch):
    d = tmp_path / "state"
    s = Store(d, fsync=False)
    s.append_many([ev(i) for i in range(3)])
    before = (d / "events.log").read_bytes()

    def enospc(fd, data):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    with monkeypatch.context() as m:
        m.setattr(store_mod.os, "write", enospc)
        with pytest.raises(StoreError, match="No space left on device"):
            s.append(ev(3))
    assert (d / "events.log").read_bytes() == before
    r = Store(d)
    assert [e["x"] for e in r.iter_events()] == [0, 1, 2] and r.problems == []
    s.append(ev(3))
    assert [e["seq"] for e in Store(d).iter_events()] == [1, 2, 3, 4]


def test_short_write_then_full_disk_leaves_no_partial_line(tmp_path, monkeypatch):
    d = tmp_path / "state"
    s = Store(d, fsync=False)
    s.append(ev(0))
    real = os.write
    calls = {"n": 0}

    def short(fd, data):
        calls["n"] += 1
        if calls["n"] == 1:
            return real(fd, bytes(data)[:10])  # the disk filled up mid-line
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    with monkeypatch.context() as m:
        m.setattr(store_mod.os, "write", short)
        with pytest.raises(StoreError):
            s.append(ev(1))
    assert (d / "events.log").read_bytes().endswith(b"\n")
    r = Store(d)
    assert [e["x"] for e in r.iter_events()] == [0] and r.problems == []


def test_short_write_completed(tmp_path, monkeypatch):
    d = tmp_path / "state"
    s = Store(d, fsync=False)
    real = os.write
    calls = {"n": 0}

    def short(fd, data):
        calls["n"] += 1
        if calls["n"] == 2:  # the first write is the new log's header
            return real(fd, bytes(data)[:7])
        return real(fd, data)

    s.append(ev(-1))
    calls["n"] = 1
    with monkeypatch.context() as m:
        m.setattr(store_mod.os, "write", short)
        s.append(ev(0))
    assert [e["x"] for e in Store(d).iter_events()] == [-1, 0]
    assert "short write" in (d / "simpulse.log").read_text()


def test_non_json_event(tmp_path):
    s = Store(tmp_path / "state", fsync=False)
    with pytest.raises(StoreError, match="JSON"):
        s.append({"kind": "x", "bad": object()})
    s.append(ev(1))
    assert [e["seq"] for e in s.iter_events()] == [1]


# --------------------------------------------------------------------------- file_lock


def test_file_lock(tmp_path):
    p = tmp_path / "x.lock"
    with lock(p):
        assert stat.S_IMODE(os.stat(p).st_mode) == 0o600
        assert try_lock(p) is None
        assert try_lock(p, shared=True) is None
        t = time.perf_counter()
        with pytest.raises(LockTimeout, match="timed out"):
            with lock(p, timeout=0.2):
                pass
        assert 0.15 < time.perf_counter() - t < 2
        with pytest.raises(LockTimeout):
            with lock(p, blocking=False):
                pass
    with lock(p, shared=True):
        held = try_lock(p, shared=True)
        assert held is not None
        with held:
            assert try_lock(p) is None
    held = try_lock(p)
    assert held is not None
    with held:
        pass
    assert not held.held


def test_a_small_state_checkpoints_after_a_short_tail(tmp_path):
    """The checkpoint threshold follows the snapshot's size: a small project's shims fold at
    most AUTO_CHECKPOINT_MIN events before one of them writes a new snapshot."""
    d = tmp_path / "state"
    s = Store(d, fsync=False)
    s.append_many([ev(i) for i in range(3)])
    s.load(fold, initial())                       # first load: slow path, checkpointed
    s.append_many([ev(i) for i in range(3, 3 + store_mod.AUTO_CHECKPOINT_MIN - 1)])
    f = CountingFold()
    assert Store(d).load(f, initial())[1] == store_mod.AUTO_CHECKPOINT_MIN - 1   # below: no checkpoint
    assert Store(d).load(CountingFold(), initial())[1] == store_mod.AUTO_CHECKPOINT_MIN - 1
    s.append_many([ev(100)])
    assert Store(d).load(CountingFold(), initial())[1] == store_mod.AUTO_CHECKPOINT_MIN  # checkpoints
    f = CountingFold()
    assert Store(d).load(f, initial())[1] == 0 and f.calls == 0


def test_archived_segments_in_order_filtered_and_newest_first(tmp_path):
    """What compaction archived, read through the public `archived_segments`: each segment's
    events in seq order; `after` skips segments with nothing newer; `newest_first` reverses the
    segments (not the events within one)."""
    d = tmp_path / "state"
    s = Store(d, fsync=False)
    s.append_many([ev(i) for i in range(4)])
    s.compact(fold, initial())
    s.append_many([ev(i) for i in range(4, 7)])
    s.compact(fold, initial())
    segs = [[e["seq"] for e in seg] for seg in s.archived_segments()]
    assert len(segs) == 2 and segs[0] + segs[1] == sorted(segs[0] + segs[1])
    assert [x for seg in segs for x in seg] == [e["seq"] for e in s.iter_events()][:7]
    assert [[e["seq"] for e in seg] for seg in s.archived_segments(newest_first=True)] == segs[::-1]
    last_of_first = segs[0][-1]
    assert [[e["seq"] for e in seg] for seg in s.archived_segments(after=last_of_first)] == segs[1:]
    assert list(s.archived_segments(after=segs[1][-1])) == []


def test_iter_events_reads_on_from_its_mark_and_again_from_the_start_when_the_mark_no_longer_holds(tmp_path):
    """A reader that follows the log (the build's server) passes the mark the previous
    iteration left: only the lines after it are read. A mark of another generation (the log
    was compacted since) or off a line boundary is not trusted: the whole log is read."""
    d = tmp_path / "state"
    s = Store(d, fsync=False)
    s.append_many([ev(i) for i in range(10)])
    assert [e["seq"] for e in s.iter_events()] == list(range(1, 11))
    mark = s.read_mark
    assert mark is not None and mark["offset"] == os.path.getsize(d / "events.log")
    s.append_many([ev(i) for i in range(10, 13)])
    read = []
    real = store_mod._LogScan

    class Counting(real):
        def __iter__(self):
            for item in super().__iter__():
                read.append(item[0]["seq"])
                yield item
    store_mod._LogScan = Counting
    try:
        assert [e["seq"] for e in s.iter_events(after=10, mark=mark)] == [11, 12, 13]
        assert read == [11, 12, 13]                        # the first ten lines were not read again
        assert s.read_mark["offset"] == os.path.getsize(d / "events.log")
        read.clear()
        assert [e["seq"] for e in s.iter_events(after=10, mark=dict(mark, offset=mark["offset"] - 3))] == [11, 12, 13]
        assert read == list(range(1, 14))                 # off a line boundary: from the start
        read.clear()
        s.compact(fold, initial())
        s.append_many([ev(i) for i in range(13, 15)])
        assert [e["seq"] for e in s.iter_events(after=12, mark=mark)] == [13, 14, 15]   # another generation
        assert read == [14, 15] and s.read_mark["gen"] != mark["gen"]
    finally:
        store_mod._LogScan = real
