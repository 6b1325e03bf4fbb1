"""`simpulse build` ends by starting the replay the next `simpulse report` would do, detached and
at the lowest priority, when that replay would be long (`report_cache.refresh_in_background`)."""

from __future__ import annotations

import time

import pytest

from simpulse.stats import report_cache
from simpulse.store.store import Store
from test_report import _synthetic_events


def _state(tmp_path, n):
    sdir = tmp_path / "state"
    store = Store(sdir, fsync=False)
    events = _synthetic_events(n, seed=3)
    store.append_many(events)
    return sdir, store


def test_a_long_backlog_is_replayed_in_the_background_into_the_cache(tmp_path):
    sdir, store = _state(tmp_path, 120)
    last = store.last_seq()
    assert last == 120 and report_cache.cached_seq(sdir) == 0
    assert report_cache.refresh_in_background(sdir, backlog=100) is True
    deadline = time.monotonic() + 60
    while report_cache.cached_seq(sdir) != last and time.monotonic() < deadline:
        time.sleep(0.1)
    assert report_cache.cached_seq(sdir) == last
    # what the background left is what a report reads: the same data as a replay from scratch
    cached = report_cache.load_history(sdir)
    (sdir / report_cache.CACHE_NAME).unlink()
    fresh = report_cache.load_history(sdir)
    for d in (cached, fresh):
        d.pop("generated")
    assert cached == fresh
    # nothing new since: no replay started
    assert report_cache.refresh_in_background(sdir, backlog=1) is False


def test_a_short_backlog_starts_nothing(tmp_path):
    sdir, _ = _state(tmp_path, 50)
    assert report_cache.refresh_in_background(sdir) is False            # 50 < REFRESH_BACKLOG
    time.sleep(0.2)
    assert not (sdir / report_cache.CACHE_NAME).exists()


def test_the_cache_head_is_read_without_the_replay(tmp_path):
    sdir, store = _state(tmp_path, 30)
    report_cache.load_history(sdir)
    assert report_cache.cached_seq(sdir) == store.last_seq() == 30
    (sdir / report_cache.CACHE_NAME).write_bytes(b"not json")
    assert report_cache.cached_seq(sdir) == 0
    assert report_cache.cached_seq(tmp_path / "nowhere") == 0


def test_a_replay_reports_its_progress(tmp_path, monkeypatch):
    sdir, _ = _state(tmp_path, 120)
    monkeypatch.setattr(report_cache, "PROGRESS_STEP", 25)
    calls = []
    data = report_cache.load_history(sdir, progress=lambda done, total: calls.append((done, total)))
    assert calls == [(0, 120), (25, 120), (50, 120), (75, 120), (100, 120)]
    assert data["compiles"] > 0
    # from the cache it left: nothing to replay, one call
    calls.clear()
    report_cache.load_history(sdir, progress=lambda done, total: calls.append((done, total)))
    assert calls == [(0, 0)]


def test_the_progress_bar_stays_off_without_a_terminal_or_a_long_replay(monkeypatch):
    import sys

    from simpulse.commands import report
    bar = report._ReplayProgress()
    bar.update(0, 10 ** 6)                        # stderr is not a terminal under pytest
    assert bar.prog is None
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True, raising=False)
    bar.update(0, 10)                             # a short replay: no bar
    assert bar.prog is None
    bar.stop()


def test_one_replay_at_a_time_and_a_report_waits_for_it(tmp_path, monkeypatch):
    """A background refresh does nothing while another replay holds the lock; a report waits
    for the replay under way (then reads what it cached), and replays itself only when the lock
    stays busy past LOCK_WAIT."""
    from simpulse.store.file_lock import try_lock
    sdir, store = _state(tmp_path, 60)
    other = try_lock(sdir / report_cache.LOCK_NAME)             # a replay under way elsewhere
    assert other is not None
    assert report_cache.refresh(sdir) is False and report_cache.cached_seq(sdir) == 0
    monkeypatch.setattr(report_cache, "LOCK_WAIT", 0.3)
    t0 = time.monotonic()
    busy = report_cache.load_history(sdir)                      # waited 0.3 s, then replayed itself
    assert time.monotonic() - t0 >= 0.3 and busy["compiles"] > 0
    other.release()
    (sdir / report_cache.CACHE_NAME).unlink()
    assert report_cache.refresh(sdir) is True and report_cache.cached_seq(sdir) == store.last_seq()
    # a report started while a replay runs gets that replay's cache, and the same data
    import threading
    store.append_many(_synthetic_events(80, seed=4)[60:])
    other = try_lock(sdir / report_cache.LOCK_NAME)
    got = {}
    reader = threading.Thread(target=lambda: got.update(report_cache.load_history(sdir)))
    monkeypatch.setattr(report_cache, "LOCK_WAIT", 30.0)
    reader.start()
    time.sleep(0.3)
    assert reader.is_alive()                              # waiting for the lock
    other.release()
    reader.join(30)
    assert got["compiles"] == busy["compiles"] + 20


@pytest.mark.parametrize("pidfd", [True, False])
def test_lake_is_looked_after_while_it_runs(tmp_path, monkeypatch, pidfd):
    """`simpulse build` calls a tick (the backlog check) every `every` seconds while Lake runs,
    and returns Lake's exit code as before; waiting on a pidfd, or polling where there is none."""
    import os
    import sys

    from simpulse.commands.build import run_lake
    if not pidfd:
        monkeypatch.delattr(os, "pidfd_open", raising=False)
    elif not hasattr(os, "pidfd_open"):
        pytest.skip("no os.pidfd_open on this platform")
    ticks = []
    rc = run_lake([sys.executable, "-c", "import time, sys; time.sleep(0.65); sys.exit(3)"], tmp_path,
                  tick=lambda: ticks.append(time.monotonic()), every=0.1)
    assert rc == 3 and 3 <= len(ticks) <= 8
    assert run_lake([sys.executable, "-c", "pass"], tmp_path) == 0
    assert run_lake([sys.executable, "-c", "import sys; sys.exit(5)"], tmp_path, tick=lambda: None, every=30.0) == 5
