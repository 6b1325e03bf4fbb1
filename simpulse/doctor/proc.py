"""Running a process for a check: never raises, never waits forever, keeps the exact bytes."""

from __future__ import annotations

import os
import subprocess
import time
from dataclasses import dataclass


@dataclass
class Result:
    rc: int | None            # None: it could not be started, or timed out
    out: bytes = b""
    err: bytes = b""
    seconds: float = 0.0
    error: str | None = None  # why rc is None

    @property
    def ok(self) -> bool:
        return self.rc == 0

    def text(self) -> str:
        return self.out.decode("utf-8", errors="replace")

    def last_line(self) -> str:
        """The most telling line of the output: the first error line, else the last line."""
        if self.error:
            return self.error
        text = (self.err + b"\n" + self.out).decode("utf-8", errors="replace")
        lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
        for ln in lines:
            if "error" in ln.lower():
                return ln[:300]
        return (lines[-1] if lines else f"exit code {self.rc}")[:300]


def run(cmd: list[str], *, env: dict | None = None, cwd=None, timeout: float = 120.0,
        stdin: bytes | None = None) -> Result:
    t0 = time.perf_counter()
    try:
        p = subprocess.run([str(c) for c in cmd], env=env, cwd=cwd, capture_output=True,
                           timeout=timeout, input=stdin if stdin is not None else b"")
    except subprocess.TimeoutExpired:
        return Result(None, seconds=time.perf_counter() - t0,
                      error=f"`{' '.join(str(c) for c in cmd)}` did not finish within {timeout:.0f}s")
    except OSError as e:
        return Result(None, seconds=time.perf_counter() - t0,
                      error=f"could not run {cmd[0]}: {e.strerror or e}")
    return Result(p.returncode, p.stdout, p.stderr, time.perf_counter() - t0)


def base_env(extra: dict | None = None) -> dict:
    """The user's environment without anything a `simpulse build` or a Lake run would add."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("LAKE_OVERRIDE_LEAN", "LEAN_SYSROOT", "LEAN", "SIMPULSE_SHIM")}
    env.update(extra or {})
    return env


def run_all(jobs: list[tuple[list[str], dict]], *, timeout: float = 120.0, workers: int = 4) -> list[Result]:
    """Independent runs at once (threads waiting on processes); results in the order given."""
    from concurrent.futures import ThreadPoolExecutor
    with ThreadPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(lambda job: run(job[0], env=job[1], timeout=timeout), jobs))
