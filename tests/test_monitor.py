"""`simpulse monitor`: live, seq-exact, survives compaction, exits cleanly."""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time

import pytest

from conftest import sigint_as_at_a_terminal
from simpulse.commands.monitor import EventTail
from simpulse.learner import empty_stats, fold
from simpulse.store.store import Store

TC = "506f00d623aca3ba5dbdde74031df79c2ab0ff97"
STARTUP = 30.0   # generous: the monitor imports rich/typer/watchdog before it is ready


def compile_event(i: int, module: str = "Fixtures.Arith", **kw) -> dict:
    e = {"v": 1, "kind": "compile", "id": f"t{i:04d}", "ts": time.time(), "toolchain": TC,
         "module": module, "path": module.replace(".", "/") + ".lean", "context": "arith",
         "strategy": "baseline", "policy": "thompson", "mode": "auto", "explore": False,
         "wall": 0.1 + i / 1000, "cpu": 0.09, "outcome": "ok", "error": None, "fallback_wall": None,
         "simulated": True}
    e.update(kw)
    return e


class Monitor:
    """`simpulse monitor ...` as a subprocess; stdout lines are timestamped as they arrive."""

    def __init__(self, *args, cwd=None, env=None):
        e = dict(os.environ, **(env or {}))
        e.pop("SIMPULSE_STATE_DIR", None)
        self.p = subprocess.Popen([sys.executable, "-m", "simpulse", "monitor", *args], cwd=cwd, env=e,
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, bufsize=1,
                                  preexec_fn=sigint_as_at_a_terminal)
        self.lines: queue.Queue = queue.Queue()
        self.err: list[str] = []
        self.ready = threading.Event()
        threading.Thread(target=self._out, daemon=True).start()
        threading.Thread(target=self._errs, daemon=True).start()

    def _out(self):
        for line in self.p.stdout:
            self.lines.put((time.monotonic(), line))

    def _errs(self):
        for line in self.p.stderr:
            self.err.append(line)
            if "watching" in line:
                self.ready.set()

    def wait_ready(self):
        assert self.ready.wait(STARTUP), ("monitor not ready", self.err)

    def next(self, timeout=10.0):
        try:
            return self.lines.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError(("no line from the monitor", self.err)) from None

    def json_events(self, n, timeout=10.0):
        return [json.loads(self.next(timeout)[1]) for _ in range(n)]

    def interrupt(self) -> int:
        self.p.send_signal(signal.SIGINT)
        return self.p.wait(timeout=10)

    def kill(self):
        if self.p.poll() is None:
            self.p.kill()
            self.p.wait(timeout=10)


@pytest.fixture
def state(tmp_path):
    sdir = tmp_path / "state"
    Store(sdir, fsync=False).append_many([compile_event(i) for i in range(5)])
    return sdir


def test_new_event_appears_in_json_within_half_a_second(state):
    m = Monitor("--json", "--state-dir", str(state))
    try:
        m.wait_ready()
        time.sleep(0.5)                      # let the observer settle after the ready line
        store = Store(state)
        latencies = []
        for i in range(5):
            t0 = time.monotonic()
            store.append(compile_event(100 + i, module=f"Fixtures.M{i}"))
            arrived, line = m.next()
            latencies.append(arrived - t0)
            row = json.loads(line)
            assert row["module"] == f"Fixtures.M{i}" and row["seq"] == 6 + i
            time.sleep(0.2)
        print(f"monitor latency (s): {[round(x, 4) for x in latencies]}")
        assert max(latencies) <= 0.5, latencies
        assert m.interrupt() == 0
    finally:
        m.kill()
    assert not any("Traceback" in line for line in m.err)


@pytest.mark.parametrize("delay", [0.0, 0.005, 0.02, 0.1, 0.3])
def test_sigterm_ends_the_monitor_cleanly(state, delay):
    """Whenever SIGTERM arrives after start-up — while the observer thread starts, in the loop,
    twice in a row — the monitor ends with exit 0 and no traceback."""
    m = Monitor("--state-dir", str(state))
    try:
        m.wait_ready()
        time.sleep(delay)
        m.p.terminate()
        m.p.terminate()
        assert m.p.wait(timeout=10) == 0, m.err
    finally:
        m.kill()
    assert not any("Traceback" in line for line in m.err)


def test_events_of_a_build_stream_as_json(project):
    project.simpulse("build", "--seed", "1", check=0)
    before = {e["seq"] for e in project.events()}
    with open(project.root / "Fixtures" / "Lists.lean", "a") as f:
        f.write("\n-- an edit\n")
    m = Monitor("--json", cwd=project.root, env=project.env)
    try:
        m.wait_ready()
        project.simpulse("build", "--seed", "2", check=0)
        new = [e for e in project.events() if e["seq"] not in before]
        rows = m.json_events(len(new))
        assert [r["seq"] for r in rows] == [e["seq"] for e in new]
        assert {r["module"] for r in rows} == {e["module"] for e in new}
        for r in rows:
            assert r["simulated"] is True and r["kind"] == "compile" and r["context"] and r["strategy"]
            assert r["outcome"] in ("ok", "strategy_failed") and isinstance(r["explore"], bool)
            # modules compiled before have a known level: a speedup against it
            assert r["speedup"] is None or r["speedup"] > 0
        assert any(r["speedup"] is not None for r in rows)
        assert m.lines.empty()
    finally:
        m.kill()


def test_survives_compaction_between_events(state):
    m = Monitor("--json", "--state-dir", str(state))
    try:
        m.wait_ready()
        store = Store(state, fsync=False)
        store.append(compile_event(10))
        store.append(compile_event(11))
        seqs = [r["seq"] for r in m.json_events(2)]
        store.append(compile_event(12))
        store.compact(fold, empty_stats())     # rotates the log: 12 moves into segments/
        store.append(compile_event(13))
        store.compact(fold, empty_stats())
        store.compact(fold, empty_stats())     # twice in a row, nothing new
        store.append_many([compile_event(14), compile_event(15)])
        seqs += [r["seq"] for r in m.json_events(4)]
        assert seqs == [6, 7, 8, 9, 10, 11]    # every event once, in order
        time.sleep(0.6)
        assert m.lines.empty()                 # and nothing shown twice
        assert m.interrupt() == 0
    finally:
        m.kill()


def test_tail_reads_by_seq_across_generations(state):
    """EventTail: a compaction (or two) between polls loses and repeats nothing."""
    store = Store(state, fsync=False)
    store.load(fold, empty_stats(), checkpoint_after=None)
    c = store.cursor
    tail = EventTail(state, gen=c["gen"], offset=c["offset"], seq=c["seq"])
    assert tail.poll() == []
    store.append(compile_event(1))
    assert [e["seq"] for e in tail.poll()] == [6]
    store.append_many([compile_event(2), compile_event(3)])
    store.compact(fold, empty_stats())
    store.append(compile_event(4))
    store.compact(fold, empty_stats())
    store.append(compile_event(5))
    assert [e["seq"] for e in tail.poll()] == [7, 8, 9, 10]
    assert tail.rotations == 1
    assert tail.poll() == []
    # a line being written (no newline yet) is not consumed until complete
    with open(state / "events.log", "ab") as f:
        f.write(b"deadbeef {")
    assert tail.poll() == []
    with open(state / "events.log", "ab") as f:
        f.write(b"}\n")                        # a corrupt line: skipped
    store.append(compile_event(6))
    assert [e["seq"] for e in tail.poll()] == [11]
    assert [e["seq"] for e in tail.recent(3)] == [9, 10, 11]


def test_once(state):
    def cli(*args):
        return subprocess.run([sys.executable, "-m", "simpulse", "monitor", "--once", *args],
                              capture_output=True, text=True, timeout=120, env={**os.environ, "COLUMNS": "120"})
    p = cli("--state-dir", str(state))
    assert p.returncode == 0, p.stderr
    assert "Leaderboard" in p.stdout and "arith" in p.stdout and "SIMULATED" in p.stdout
    assert "Last 5 compilations" in p.stdout and "Fixtures.Arith" in p.stdout
    p = cli("--state-dir", str(state), "--json", "--last", "3")
    rows = [json.loads(x) for x in p.stdout.splitlines()]
    assert [r["seq"] for r in rows] == [3, 4, 5]
    assert set(rows[0]) == {"seq", "kind", "ts", "toolchain", "module", "context", "strategy", "wall",
                            "explore", "outcome", "error", "error_kind", "fallback_wall",
                            "baseline_estimate", "speedup", "outlier", "simulated"}


def test_once_on_missing_and_empty_state(tmp_path):
    def cli(*args):
        return subprocess.run([sys.executable, "-m", "simpulse", "monitor", "--once", *args],
                              capture_output=True, text=True, timeout=120)
    p = cli("--state-dir", str(tmp_path / "missing"))
    assert p.returncode == 2
    assert p.stderr.strip().startswith("simpulse: error: no simpulse state") and len(p.stderr.splitlines()) == 1
    empty = tmp_path / "empty"
    empty.mkdir()
    p = cli("--state-dir", str(empty))
    assert p.returncode == 0 and "no compilations recorded yet" in p.stdout
    p = cli("--state-dir", str(empty), "--json")
    assert p.returncode == 0 and p.stdout == ""


def test_polling_fallback_and_plain_lines(state):
    m = Monitor("--poll", "--interval", "0.05", "--state-dir", str(state))   # stdout is a pipe
    try:
        m.wait_ready()
        assert any("polling" in line for line in m.err)
        time.sleep(0.3)
        while not m.lines.empty():      # the initial view (leaderboard, last compilations)
            m.next()
        Store(state).append(compile_event(50, module="Fixtures.Fresh", outcome="strategy_failed",
                                          strategy="no-simprocs", fallback_wall=0.2,
                                          error="Fixtures/Fresh.lean:1:2: simp made no progress"))
        _, line = m.next()
        assert "#6 Fixtures.Fresh [arith] no-simprocs" in line
        assert "FAILED (simp made no progress) → baseline" in line
        assert m.interrupt() == 0
    finally:
        m.kill()
    assert not any("Traceback" in line for line in m.err)


def test_live_monitor_waits_for_a_state_directory(tmp_path):
    sdir = tmp_path / "later"
    m = Monitor("--json", "--state-dir", str(sdir))
    try:
        deadline = time.monotonic() + STARTUP
        while not any("waiting for" in line for line in m.err):
            assert time.monotonic() < deadline, m.err
            time.sleep(0.05)
        Store(sdir).append(compile_event(1))
        m.wait_ready()
        Store(sdir).append(compile_event(2))
        seqs = []
        while 2 not in seqs:
            seqs.append(json.loads(m.next()[1])["seq"])
        assert seqs in ([1, 2], [2])     # the first event is history or news, never both
        assert m.interrupt() == 0
    finally:
        m.kill()


def test_reading_the_log_does_not_wake_the_monitor(state):
    """Only changes of events.log wake the loop: the monitor's own reads (inotify open/close
    events) must not, or an idle monitor would spin."""
    from types import SimpleNamespace

    from simpulse.commands.monitor import Waker, wakes
    log = str(state / "events.log")
    assert wakes(SimpleNamespace(event_type="modified", src_path=log, dest_path=""))
    assert wakes(SimpleNamespace(event_type="moved", src_path=log + ".tmp.1", dest_path=log))
    assert not wakes(SimpleNamespace(event_type="opened", src_path=log, dest_path=""))
    assert not wakes(SimpleNamespace(event_type="closed_no_write", src_path=log, dest_path=""))
    assert not wakes(SimpleNamespace(event_type="modified", src_path=str(state / "snapshot.json"), dest_path=""))

    waker = Waker(state)
    try:
        if waker.observer is None:
            pytest.skip(f"no file-system observer here: {waker.why}")
        time.sleep(0.2)
        waker.event.clear()
        tail = EventTail(state, gen=None, offset=0, seq=0)
        for _ in range(5):
            tail.poll()
            tail.recent(3)
        assert not waker.event.wait(0.5)
        Store(state, fsync=False).append(compile_event(1))
        assert waker.event.wait(5.0)
    finally:
        waker.stop()


def test_speedup_compares_wall_time_with_wall_time_under_the_build_objective():
    """The learner's level is a cost under the build objective (CPU time's fair share in a
    busy build); the monitor's baseline estimate is that level in the compile's own seconds,
    so a module recompiled under the baseline as before shows a speedup of about 1."""
    from simpulse.commands.monitor import row
    busy = {"cpu": 0.25, "conc": 2, "cores": 2, "objective": "build"}
    stats = empty_stats()
    for i in range(4):
        fold(stats, compile_event(i, wall=1.0, **busy))
    r = row(compile_event(9, wall=1.0, **busy), stats)
    assert r["baseline_estimate"] == pytest.approx(1.0, rel=1e-4)
    assert r["speedup"] == pytest.approx(1.0, rel=1e-4)
    # the same compile twice as slow in wall time (and CPU): half the speed
    r = row(compile_event(10, wall=2.0, **dict(busy, cpu=0.5)), stats)
    assert r["speedup"] == pytest.approx(0.5, rel=1e-4)
    # under the module objective the level is in wall seconds already
    stats = empty_stats()
    for i in range(4):
        fold(stats, compile_event(i, wall=1.0, **dict(busy, objective="module")))
    assert row(compile_event(9, wall=1.0, **dict(busy, objective="module")), stats)["speedup"] == pytest.approx(1.0, rel=1e-4)


def test_once_shows_no_speedup_for_a_module_compiled_once():
    """`--once` reads statistics that include the event: a level made of that compile alone is
    no estimate to compare it with."""
    from simpulse.commands.monitor import row
    stats = empty_stats()
    first = compile_event(0, module="Fixtures.Cases", strategy="no-async", wall=0.8)
    fold(stats, first)
    r = row(first, stats, folded=True)
    assert r["speedup"] is None and r["baseline_estimate"] is None
    second = compile_event(1, module="Fixtures.Cases", wall=0.8)
    fold(stats, second)
    assert row(second, stats, folded=True)["speedup"] is not None


def test_a_compile_beyond_what_the_model_counts_is_marked():
    """A compile slower than its module's level (and its strategy's effect) by more than the fold
    lets a compile count (OUTLIER_CLIP σ) gets "?" beside its speedup, and the table says why:
    its speedup says more about the level than about the strategy. Within the noise: unmarked."""
    from simpulse.commands.monitor import OUTLIER_NOTE, View, line_text, row
    stats = empty_stats()
    for i in range(8):
        fold(stats, compile_event(i, wall=1.0 + (0.02 if i % 2 else -0.02)))
    usual = row(compile_event(20, wall=1.05), stats)
    slow = row(compile_event(21, wall=3.0), stats)
    assert usual["outlier"] is False and usual["speedup"] == pytest.approx(0.95, abs=0.03)
    assert slow["outlier"] is True and slow["speedup"] == pytest.approx(1 / 3, abs=0.03)
    assert line_text(slow).split(" ")[6] == "0.33×?" and line_text(usual).split(" ")[6].endswith("×")
    # a failure's speedup counts the fallback too: never marked
    failed = row(compile_event(22, wall=3.0, outcome="strategy_failed", fallback_wall=1.0), stats)
    assert failed["outlier"] is False
    from rich.console import Console
    view = View.__new__(View)
    view.rows = [usual]
    console = Console(width=120, record=True)
    console.print(view.events_table())
    assert OUTLIER_NOTE[:20] not in console.export_text()
    view.rows = [usual, slow]
    console = Console(width=120, record=True)
    console.print(view.events_table())
    text = console.export_text()
    assert "0.33×?" in text and "?: slower than the model expects" in text
