"""The physical simulated ``lean``: really burn the CPU the cost model assigns, on a pool of
worker processes (docs/cost-model.md, "Physical mode").

Off by default (the test suite stays fast with the sleep-based ``costmodel.spend``);
``SIMPULSE_SIM_PHYSICAL=1`` turns it on. A compile is a :class:`Plan`: CPU seconds on the main
thread (the header and imports, then each declaration's sequential part) and *tasks* that the
main thread releases to the pool as it goes (a proof elaborated asynchronously, a linter pass).
The pool is ``workers`` forked processes (processes, to escape the GIL) that take tasks from a
pipe as they free up, as Lean's task manager does; the main thread waits for the pool at the
end, as Lean waits for every task before writing the ``.olean``. Nothing here is read from a
table: two such ``lean`` processes on a busy machine contend for the cores for real.

Standard library only. Every time it takes is simulated work.
"""

from __future__ import annotations

import os
import struct
import sys
import time
from dataclasses import dataclass, field

PHYSICAL_ENV = "SIMPULSE_SIM_PHYSICAL"
STATS_ENV = "SIMPULSE_SIM_PHYSICAL_LOG"  # file: one JSON line per physical compile (tests, benchmarks)
_TOKEN = struct.Struct("<d")


def physical_enabled(environ: dict | None = None) -> bool:
    v = (environ if environ is not None else os.environ).get(PHYSICAL_ENV, "").strip().lower()
    return v not in ("", "0", "false", "no", "off")


def default_workers() -> int:
    """Lean's default pool size: the machine's hardware threads (not the affinity mask, as
    ``std::thread::hardware_concurrency``)."""
    return os.cpu_count() or 1


def burn_cpu(seconds: float) -> float:
    """Busy-loop until this process has used ``seconds`` more CPU time; returns the wall time it
    took. A guard (100× the CPU time + 30 s of wall) only prevents a hang."""
    t0 = time.perf_counter()
    if seconds <= 0:
        return 0.0
    c0 = time.process_time()
    guard = t0 + 100 * seconds + 30.0
    x = 0
    while time.process_time() - c0 < seconds:
        for _ in range(2000):
            x += 1
        if time.perf_counter() > guard:
            break
    return time.perf_counter() - t0


@dataclass
class Step:
    main: float  # CPU seconds on the main thread
    tasks: list[float] = field(default_factory=list)  # released to the pool after `main`


@dataclass
class Plan:
    head: float = 0.0  # CPU seconds on the main thread before the first step
    steps: list[Step] = field(default_factory=list)

    def main_cpu(self) -> float:
        return self.head + sum(s.main for s in self.steps)

    def task_cpu(self) -> float:
        return sum(sum(s.tasks) for s in self.steps)

    def n_tasks(self) -> int:
        return sum(len(s.tasks) for s in self.steps)

    def scaled(self, k: float) -> "Plan":
        return Plan(self.head * k, [Step(s.main * k, [t * k for t in s.tasks]) for s in self.steps])


def _max_fd() -> int:
    try:
        return max(256, os.sysconf("SC_OPEN_MAX"))
    except (ValueError, OSError):  # pragma: no cover
        return 4096


def _worker(r: int, parent: int) -> None:
    """A pool worker: take a task (its CPU seconds) from the pipe, burn it, until EOF — or until
    its lean is gone (killed: the tasks left in the pipe are dropped, not burned)."""
    try:
        while True:
            data = os.read(r, _TOKEN.size)
            if len(data) < _TOKEN.size or os.getppid() != parent:
                break
            burn_cpu(_TOKEN.unpack(data)[0])
    finally:
        os._exit(0)


def run(plan: Plan, workers: int) -> dict:
    """Execute ``plan`` with a pool of ``workers`` processes (at least 1; no more are started
    than there are tasks). Returns what happened: wall, main CPU, the pool's CPU, workers."""
    workers = max(1, int(workers))
    t0 = time.perf_counter()
    c0 = time.process_time()
    n = min(workers, plan.n_tasks())
    pids: list[int] = []
    w = -1
    parent = os.getpid()
    if n:
        sys.stdout.flush()
        sys.stderr.flush()
        r, w = os.pipe()
        for _ in range(n):
            pid = os.fork()
            if pid == 0:  # pragma: no cover - runs in the child
                # keep only the read end: a write end inherited from anywhere (another thread's
                # pool, a sibling's pipe) would keep that pool from ever seeing EOF
                os.closerange(3, r)
                os.closerange(r + 1, _max_fd())
                _worker(r, parent)
            pids.append(pid)
        os.close(r)
    pool_cpu = 0.0
    try:
        burn_cpu(plan.head)
        pending = b""
        for step in plan.steps:
            burn_cpu(step.main)
            if step.tasks:
                if n:
                    pending += b"".join(_TOKEN.pack(t) for t in step.tasks)
                    # a task released waits in the pipe for the first free worker
                    os.write(w, pending)
                    pending = b""
                else:  # pragma: no cover - n == 0 only when there are no tasks
                    burn_cpu(sum(step.tasks))
    finally:
        if n:
            os.close(w)  # EOF: each worker exits once the pipe is drained
            for pid in pids:
                try:
                    _, _, ru = os.wait4(pid, 0)
                    pool_cpu += ru.ru_utime + ru.ru_stime
                except ChildProcessError:  # pragma: no cover
                    pass
    return {"wall": time.perf_counter() - t0, "main_cpu": time.process_time() - c0,
            "pool_cpu": pool_cpu, "workers": n, "pool_size": workers, "tasks": plan.n_tasks(),
            "planned_main": plan.main_cpu(), "planned_tasks": plan.task_cpu()}


def log_stats(stats: dict, **extra) -> None:
    """Append one JSON line to ``SIMPULSE_SIM_PHYSICAL_LOG`` when it is set (best effort)."""
    path = os.environ.get(STATS_ENV)
    if not path:
        return
    import json
    rec = dict(stats, pid=os.getpid(), **extra)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, (json.dumps(rec, separators=(",", ":")) + "\n").encode())
        finally:
            os.close(fd)
    except OSError:
        pass


def ideal_wall(plan: Plan, workers: int) -> float:
    """The wall time ``plan`` would take on an idle machine with enough cores (the main thread
    and every worker on a core of its own): the main thread runs its steps, each task goes to
    the first free worker when released. For the documentation and the tests; ``run`` is the
    real thing."""
    import heapq
    free = [0.0] * max(1, int(workers))
    heapq.heapify(free)
    t = plan.head
    end = t
    for step in plan.steps:
        t += step.main
        for task in step.tasks:
            start = max(t, heapq.heappop(free))
            heapq.heappush(free, start + task)
            end = max(end, start + task)
    return max(t, end)
