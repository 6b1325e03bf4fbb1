"""Issue 19, the store's part: a snapshot checked for meaning, damaged log regions paid for once,
an event the fold cannot take never stopping the next ones, and a state directory that is the
user's own (no symlinks followed, 0700 / 0600, other users' directories refused)."""

import json
import os
import stat
import time
import zlib

import pytest

from simpulse import learner as L
from simpulse.store import store as store_mod
from simpulse.store.store import Store, StoreError, UnsafeFile, UnsafeStateDir


def fold(stats, ev):
    stats["n"] += 1
    stats["sum"] += ev.get("x", 0)
    stats["ids"].append(ev["seq"])
    return stats


def initial():
    return {"n": 0, "sum": 0, "ids": []}


def ev(i):
    return {"kind": "t", "x": i}


def filled(tmp_path, n=10, name="state"):
    d = tmp_path / name
    s = Store(d, fsync=False)
    for i in range(n):
        s.append(ev(i))
    return d, s


def write_snapshot(d, stats, cursor):
    """A snapshot with a VALID checksum around whatever stats and cursor we like."""
    body = json.dumps(stats, separators=(",", ":")).encode()
    head = json.dumps({"schema": 1, "cursor": cursor, "written": 0, "stats_crc": f"{zlib.crc32(body):08x}"},
                      separators=(",", ":")).encode()
    (d / "snapshot.json").write_bytes(head[:-1] + b',"stats":' + body + b"}\n")


def current_cursor(d):
    return json.loads((d / "snapshot.json").read_bytes())["cursor"]


def diag(d):
    p = d / "simpulse.log"
    return p.read_text() if p.exists() else ""


# --------------------------------------------------------------------------- snapshot meaning


@pytest.mark.parametrize("stats", [
    {},                                                      # the issue's `{}`
    {"n": "9", "sum": 0, "ids": []},                         # a string for a number
    {"n": 9, "sum": 0, "ids": {}},                           # an object for a list
    {"n": 9, "sum": float("inf"), "ids": []},                # not finite
    [1, 2, 3],                                               # not an object
    {"n": None, "sum": 0, "ids": []},
])
def test_wrong_shaped_snapshot_with_valid_checksum_is_set_aside_and_rebuilt(tmp_path, stats):
    d, s = filled(tmp_path)
    s.load(fold, initial())
    cur = current_cursor(d)
    if isinstance(stats, dict) and stats.get("sum") == float("inf"):
        # json.dumps writes Infinity; the checksum is still valid
        pass
    write_snapshot(d, stats, cur)
    r = Store(d)
    got, n = r.load(fold, initial())
    assert got == {"n": 10, "sum": 45, "ids": list(range(1, 11))}
    assert n == 10
    assert any("snapshot.json: ignored" in p for p in r.problems), r.problems
    assert (d / "snapshot.json.corrupt").exists()
    # the rebuilt snapshot is good: the next load is fast and clean
    r2 = Store(d)
    assert r2.load(fold, initial()) == (got, 0)
    assert r2.problems == []


def test_learner_statistics_of_the_wrong_shape_do_not_stop_learning(tmp_path):
    """The issue's row: `{}` or strings for numbers in a snapshot with a valid checksum made every
    compile pass through with KeyError 'counters'. The shape of `empty_stats()` catches them."""
    d = tmp_path / "state"
    s = Store(d, fsync=False)
    for i in range(6):
        s.append({"kind": "compile", "context": "arith", "strategy": "baseline", "module": f"M{i}",
                  "wall": 1.0 + i, "ts": 1000.0 + i, "toolchain": "tc"})
    good, _ = Store(d).load(L.fold, L.empty_stats())
    assert good["counters"]["compiles"] == 6
    cur = current_cursor(d)
    bad_counters = json.loads(json.dumps(good))
    bad_counters["counters"]["compiles"] = "6"
    for stats in ({}, bad_counters, dict(good, toolchains=[])):
        write_snapshot(d, stats, cur)
        r = Store(d)
        got, _ = r.load(L.fold, L.empty_stats())
        assert got["counters"]["compiles"] == 6
        assert any("snapshot.json: ignored" in p for p in r.problems)


def test_validate_callback_rejects_a_snapshot(tmp_path):
    d, s = filled(tmp_path)
    s.load(fold, initial())
    r = Store(d)
    got, n = r.load(fold, initial(), validate=lambda st: "ids out of order" if st["ids"] else None)
    assert n == 10 and got["n"] == 10
    assert any("ids out of order" in p for p in r.problems)


def test_snapshot_cursor_seq_beyond_the_log_is_set_aside(tmp_path):
    """The issue's row: a valid checksum, cursor seq 10^15: `stats` reported 9 compiles while
    the log held 32."""
    d, s = filled(tmp_path, 9)
    st, _ = s.load(fold, initial())
    cur = current_cursor(d)
    for i in range(9, 32):
        s.append(ev(i))
    write_snapshot(d, st, dict(cur, seq=10 ** 15))
    r = Store(d)
    got, _ = r.load(fold, initial())
    assert got["n"] == 32 and got["ids"] == list(range(1, 33))
    assert any("cursor seq" in p for p in r.problems), r.problems
    assert current_cursor(d)["seq"] == 32
    # and appends continue with ordinary seqs
    Store(d, fsync=False).append(ev(99))
    assert [e["seq"] for e in Store(d).iter_events()][-1] == 33


def test_snapshot_cursor_seq_beyond_the_log_at_its_end(tmp_path):
    """Same lie, nothing after the offset yet: the first event appended after it exposes it."""
    d, s = filled(tmp_path, 9)
    st, _ = s.load(fold, initial())
    write_snapshot(d, st, dict(current_cursor(d), seq=10 ** 15))
    Store(d, fsync=False).append(ev(9))
    got, _ = Store(d).load(fold, initial())
    assert got["n"] == 10


def test_snapshot_cursor_of_another_generation_beyond_everything(tmp_path):
    d, s = filled(tmp_path, 9)
    st, _ = s.load(fold, initial())
    write_snapshot(d, st, {"gen": "0123456789abcdef", "offset": 12, "seq": 10 ** 15})
    r = Store(d)
    got, _ = r.load(fold, initial())
    assert got["n"] == 9
    assert any("beyond the log and segments" in p for p in r.problems), r.problems


@pytest.mark.parametrize("cursor", [
    {"offset": 10 ** 12},          # beyond the file
    {"offset": 5},                 # inside the header
    {"offset": -1},
    {"seq": -3},
    {"seq": 2 ** 70},
    {"seq": True},
    {"gen": ""},
    {"gen": 7},
])
def test_snapshot_cursor_out_of_the_log(tmp_path, cursor):
    d, s = filled(tmp_path)
    st, _ = s.load(fold, initial())
    write_snapshot(d, st, dict(current_cursor(d), **cursor))
    r = Store(d)
    got, _ = r.load(fold, initial())
    assert got == {"n": 10, "sum": 45, "ids": list(range(1, 11))}
    assert any("snapshot.json: ignored" in p for p in r.problems), r.problems


def test_compaction_does_not_trust_a_lying_snapshot(tmp_path):
    d, s = filled(tmp_path, 9)
    st, _ = s.load(fold, initial())
    write_snapshot(d, st, {"gen": "0123456789abcdef", "offset": 12, "seq": 10 ** 15})
    c = Store(d, fsync=False)
    res = c.compact(fold, initial())
    assert res["seq"] == 9
    s.append(ev(9))
    got, _ = Store(d).load(fold, initial())
    assert got["n"] == 10 and got["ids"] == list(range(1, 11))


def test_schema_true_is_not_schema_1(tmp_path):
    d, s = filled(tmp_path)
    s.load(fold, initial())
    raw = (d / "snapshot.json").read_bytes().replace(b'"schema":1', b'"schema":true')
    (d / "snapshot.json").write_bytes(raw)
    r = Store(d)
    assert r.load(fold, initial())[1] == 10


# --------------------------------------------------------------------------- fold errors


def test_an_event_the_fold_raises_on_is_skipped_once_and_later_events_are_folded(tmp_path):
    d = tmp_path / "state"
    s = Store(d, fsync=False)
    s.append(ev(1))
    s.append({"kind": "t", "x": "x"})      # `stats["sum"] += "x"`: TypeError in the fold
    for i in range(2, 6):
        s.append(ev(i))
    r = Store(d)
    got, _ = r.load(fold, initial())
    assert got["ids"][-4:] == [3, 4, 5, 6]
    assert got["sum"] == 1 + 2 + 3 + 4 + 5
    assert sum("could not be folded" in p for p in r.problems) == 1
    # checkpointed past it: the next load does not meet it again
    r2 = Store(d)
    r2.load(fold, initial())
    assert r2.problems == []
    assert diag(d).count("could not be folded") == 1


def test_learner_event_with_fallback_wall_x_does_not_stop_later_events(tmp_path):
    """The issue's row: `"fallback_wall": "x"` (valid checksum) made every later compile pass
    through unrecorded. Whatever learner.fold does with it, the events after it are folded."""
    d = tmp_path / "state"
    s = Store(d, fsync=False)
    base = {"kind": "compile", "context": "arith", "strategy": "baseline", "toolchain": "tc", "ts": 1.0}
    s.append(dict(base, module="A", wall=1.0))
    s.append(dict(base, module="B", wall=1.0, outcome="strategy_failed", strategy="no-linters", fallback_wall="x"))
    for i in range(5):
        s.append(dict(base, module=f"C{i}", wall=2.0))
    got, _ = Store(d).load(L.fold, L.empty_stats())
    mods = got["toolchains"]["tc"]["modules"]
    text = json.dumps(mods)
    assert all(f"C{i}" in text for i in range(5))


def test_many_failing_events_are_reported_as_a_count(tmp_path):
    d = tmp_path / "state"
    s = Store(d, fsync=False)
    s.append_many([{"kind": "t", "x": "x"} for _ in range(50)] + [ev(7)])
    r = Store(d)
    got, _ = r.load(fold, initial())
    assert got["sum"] == 7
    assert sum(p.startswith("event seq") for p in r.problems) == store_mod._FOLD_REPORTS
    assert any("45 more events could not be folded" in p for p in r.problems)


# --------------------------------------------------------------------------- damage paid once


def junk(n_bytes, seed=1, line=True):
    import random
    rng = random.Random(seed)
    out = bytearray()
    while len(out) < n_bytes:
        k = rng.randint(20, 200)
        out += bytes(rng.randrange(32, 127) for _ in range(k))
        if line:
            out += b"\n"
    return bytes(out)


def test_junk_tail_is_scanned_once_reported_once_and_appends_continue(tmp_path, monkeypatch):
    d, s = filled(tmp_path)
    s.load(fold, initial())
    block = junk(1 << 18)
    with open(d / "events.log", "ab") as f:
        for _ in range(8):                     # 2 MB of corrupt lines
            f.write(block)
    size = (d / "events.log").stat().st_size
    r = Store(d)
    got, n = r.load(fold, initial())
    assert (got["n"], n) == (10, 0)
    assert len(r.problems) == 1 and "corrupt lines" in r.problems[0], r.problems
    assert current_cursor(d)["offset"] == size          # checkpointed past the damage
    # the next load, and the next append, do not read the damaged region again
    read = []
    real_pread = os.pread
    monkeypatch.setattr(store_mod.os, "pread", lambda fd, n, off: read.append(n) or real_pread(fd, n, off))
    r2 = Store(d)
    assert r2.load(fold, initial()) == (got, 0)
    Store(d, fsync=False).append(ev(10))
    assert sum(read) < 1 << 20 + 1 << 19, sum(read)
    monkeypatch.undo()
    got, _ = Store(d).load(fold, initial())
    assert got["ids"][-1] == 11 and got["n"] == 11
    assert diag(d).count("corrupt lines") == 1          # one summary line, not one per line


def test_append_after_a_junk_tail_without_a_checkpoint(tmp_path):
    """No load checkpointed past the junk: append finds the last seq by scanning forwards."""
    d, s = filled(tmp_path)
    with open(d / "events.log", "ab") as f:
        f.write(junk(3 << 20))
    Store(d, fsync=False).append(ev(10))
    assert [e["seq"] for e in Store(d).iter_events()] == list(range(1, 12))


def test_junk_without_newlines_is_streamed_not_accumulated(tmp_path):
    d, s = filled(tmp_path)
    with open(d / "events.log", "ab") as f:
        f.write(junk(5 << 20, line=False))     # one 5 MB "line"
    Store(d, fsync=False).append(ev(10))
    r = Store(d)
    got, _ = r.load(fold, initial())
    assert got["ids"] == list(range(1, 12))
    assert any("corrupt line" in p for p in r.problems)


def test_deeply_nested_line_with_valid_checksum(tmp_path):
    d, s = filled(tmp_path, 3)
    body = b'{"seq":4,"a":' + b"[" * 100000 + b"]" * 100000 + b"}"
    with open(d / "events.log", "ab") as f:
        f.write(b"%08x %s\n" % (zlib.crc32(body), body))
    s.append(ev(5))
    got, _ = Store(d).load(fold, initial())
    assert got["n"] == 4


# --------------------------------------------------------------------------- the user's own


def test_events_log_symlink_is_refused_never_appended_through(tmp_path):
    d, s = filled(tmp_path, 2)
    elsewhere = tmp_path / "elsewhere.txt"
    elsewhere.write_bytes(b"precious\n")
    os.chmod(elsewhere, 0o644)
    (d / "events.log").unlink()
    os.symlink(elsewhere, d / "events.log")
    with pytest.raises(UnsafeFile, match="symbolic link"):
        Store(d, fsync=False).append(ev(3))
    with pytest.raises(StoreError, match="symbolic link"):
        Store(d).load(fold, initial())
    assert elsewhere.read_bytes() == b"precious\n"
    assert stat.S_IMODE(elsewhere.stat().st_mode) == 0o644


@pytest.mark.parametrize("name", ["snapshot.json", "events.lock", "compact.lock", "simpulse.log", "state.json"])
def test_other_files_are_never_followed(tmp_path, name):
    d, s = filled(tmp_path, 2)
    s.load(fold, initial())
    elsewhere = tmp_path / "elsewhere.txt"
    elsewhere.write_bytes(b"precious\n")
    p = d / name
    if p.exists():
        p.unlink()
    os.symlink(elsewhere, p)
    try:
        r = Store(d, fsync=False)
        r.append(ev(3))
        r.load(fold, initial())
        r.checkpoint({"n": 0, "sum": 0, "ids": []})
    except StoreError as e:
        assert "symbolic link" in str(e) or "not a regular file" in str(e)
    assert elsewhere.read_bytes() == b"precious\n"


def test_fifo_in_place_of_the_log_does_not_block(tmp_path):
    d, s = filled(tmp_path, 2)
    (d / "events.log").unlink()
    os.mkfifo(d / "events.log")
    t = time.monotonic()
    with pytest.raises(StoreError, match="not a regular file"):
        Store(d).load(fold, initial())
    with pytest.raises(StoreError):
        Store(d, fsync=False).append(ev(3))
    assert time.monotonic() - t < 5


def test_existing_world_readable_files_are_tightened(tmp_path):
    d, s = filled(tmp_path, 2)
    os.chmod(d / "events.log", 0o644)
    s.append(ev(3))
    assert stat.S_IMODE((d / "events.log").stat().st_mode) == 0o600


def test_state_dir_0755_is_tightened(tmp_path):
    d = tmp_path / "state"
    d.mkdir(mode=0o755)
    os.chmod(d, 0o755)
    Store(d, fsync=False).append(ev(1))
    assert stat.S_IMODE(d.stat().st_mode) == 0o700
    for p in d.iterdir():
        assert stat.S_IMODE(p.lstat().st_mode) & 0o077 == 0, p


def test_a_directory_of_other_files_is_not_made_a_state(tmp_path):
    """`--state-dir ~` by mistake: a directory that holds files and none of a state's is refused
    before anything is changed in it — its mode stays, nothing is written."""
    d = tmp_path / "home"
    d.mkdir()
    os.chmod(d, 0o755)
    (d / "notes.txt").write_text("mine")
    with pytest.raises(UnsafeStateDir, match="not a simpulse state directory .*notes.txt"):
        Store(d, fsync=False)
    assert stat.S_IMODE(d.stat().st_mode) == 0o755
    assert sorted(p.name for p in d.iterdir()) == ["notes.txt"]
    # an empty directory becomes a state; a state stays one, whatever else it holds
    empty = tmp_path / "empty"
    empty.mkdir()
    Store(empty, fsync=False).append(ev(1))
    (empty / "notes.txt").write_text("beside the state")
    assert Store(empty, fsync=False).load(fold, initial())[0]["n"] == 1


def test_state_dir_created_0700_with_its_parents(tmp_path):
    d = tmp_path / "a" / "b" / "state"
    old = os.umask(0o022)
    try:
        Store(d, fsync=False).append(ev(1))
    finally:
        os.umask(old)
    for p in (d, d.parent, d.parent.parent):
        assert stat.S_IMODE(p.stat().st_mode) == 0o700, p
    assert all(stat.S_IMODE(p.stat().st_mode) == 0o600 for p in d.iterdir())


def test_state_dir_symlink_is_refused(tmp_path):
    target = tmp_path / "target"
    target.mkdir(mode=0o700)
    link = tmp_path / "state"
    os.symlink(target, link)
    with pytest.raises(UnsafeStateDir, match="symbolic link"):
        Store(link)
    assert list(target.iterdir()) == []


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to make a directory owned by someone else")
def test_state_dir_of_another_user_is_refused(tmp_path):
    d = tmp_path / "state"
    d.mkdir(mode=0o777)
    os.chown(d, 65534, 65534)
    with pytest.raises(UnsafeStateDir, match="belongs to uid 65534"):
        Store(d)
    assert list(d.iterdir()) == []


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to make a file owned by someone else")
def test_file_of_another_user_is_refused(tmp_path):
    d, s = filled(tmp_path, 2)
    os.chown(d / "events.log", 65534, 65534)
    with pytest.raises(UnsafeFile, match="belongs to uid 65534"):
        s.append(ev(3))


def test_segments_symlink_is_not_followed(tmp_path):
    d, s = filled(tmp_path, 3)
    s.compact(fold, initial())
    other = tmp_path / "other"
    (d / "segments").rename(other)
    os.symlink(other, d / "segments")
    r = Store(d)
    list(r.iter_events())
    assert any("symbolic link" in p for p in r.problems)


def test_toolchain_json_and_facades_are_private(project):
    project.simpulse("build", "Fixtures.Basic", check=0)
    tc = project.state / "toolchain.json"
    if tc.exists():
        assert stat.S_IMODE(tc.stat().st_mode) == 0o600
    facade = project.state / "facade"
    real = facade.resolve()
    for p in (real, real.parent, real.parent.parent, real / "bin"):
        assert stat.S_IMODE(p.stat().st_mode) == 0o700, p
    for p in project.state.rglob("*"):
        if p.is_symlink():
            continue
        mode = stat.S_IMODE(p.stat().st_mode)
        if p.is_dir():
            assert mode == 0o700, p
        elif p.name != "lean":
            assert mode & 0o077 == 0, (p, oct(mode))


def test_statistics_of_an_earlier_version_are_completed_not_rejected(tmp_path):
    """Counters added since (`imports`, `recent_regret`) are filled in from `empty_stats()`; the
    statistics are kept (rebuilding them could lose history retention deleted)."""
    d = tmp_path / "state"
    s = Store(d, fsync=False)
    s.append({"kind": "compile", "context": "arith", "strategy": "baseline", "module": "M",
              "wall": 1.0, "ts": 1.0, "toolchain": "tc"})
    st, _ = Store(d).load(L.fold, L.empty_stats())
    del st["counters"]["imports"], st["counters"]["recent_regret"]
    write_snapshot(d, st, current_cursor(d))
    r = Store(d)
    got, n = r.load(L.fold, L.empty_stats())
    assert n == 0 and r.problems == []
    assert got["counters"]["imports"] == 0 and got["counters"]["compiles"] == 1


def test_snapshot_cursor_offset_past_events_it_does_not_cover(tmp_path):
    """Offset moved forwards to another line boundary, seq unchanged: the events in between
    would never be folded. The line before the offset tells."""
    d, s = filled(tmp_path, 6)
    st, _ = s.load(fold, initial())
    cur = current_cursor(d)
    for i in range(6, 12):
        s.append(ev(i))
    lines = (d / "events.log").read_bytes().split(b"\n")
    off = sum(len(l) + 1 for l in lines[:9])           # header + 8 events
    write_snapshot(d, st, dict(cur, offset=off))
    r = Store(d)
    got, _ = r.load(fold, initial())
    assert got["ids"] == list(range(1, 13))
    assert any("below event seq 8" in p for p in r.problems), r.problems


def test_state_dir_symlink_with_a_trailing_slash_is_refused(tmp_path):
    target = tmp_path / "target"
    target.mkdir(mode=0o700)
    os.symlink(target, tmp_path / "state")
    with pytest.raises(UnsafeStateDir):
        Store(str(tmp_path / "state") + "/")
