"""Verifying one module: the baseline twice (A/A), then each strategy, compared with the baseline.

Every run is the real `lean` (``<sysroot>/bin/lean``, never the facade) started as Lake started
it — the remembered argument list, working directory and ``LEAN_PATH`` — with its outputs
redirected into one scratch directory (`simpulse.verify.redirect`). All runs of a module write
to the *same* scratch paths; after each run its outputs are hashed and moved to
``<scratch>/runs/<n>-<name>/``, so the next run starts from an empty output directory. The
setup file's copy is refreshed from the original before every run (a strategy writes its
options into it, `leanargs.apply_strategy`, and must not leak them into the next run).

If the two baseline runs differ (exit code, messages or output bytes), the module's baseline is
not reproducible: nothing that a strategy run shows could be told from that noise, so no
strategy is run and nothing is recorded for the module.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time

from simpulse.errors import SimpulseError
from simpulse.verify.compare import Run, compare, first_error, hash_outputs
from simpulse.verify.redirect import Redirected, redirect

# Status of a module.
VERIFIED = "verified"
NOT_REPRODUCIBLE = "baseline not reproducible"
ERROR = "error"


def lean_env(lean_path: str | None) -> dict:
    env = dict(os.environ)
    env.pop("SIMPULSE_SHIM", None)           # the real lean, never a shim's settings
    if lean_path is None:
        env.pop("LEAN_PATH", None)
    else:
        env["LEAN_PATH"] = lean_path
    return env


class ModuleRunner:
    """Runs `lean` on one remembered invocation into one scratch directory."""

    def __init__(self, lean: str, inv: dict, scratch: str, timeout: float | None = None):
        self.lean = lean
        self.timeout = timeout
        self.inv = inv
        self.cwd = inv["cwd"]
        self.scratch = scratch
        self.red: Redirected = redirect(inv["argv"], scratch, cwd=self.cwd)
        self.env = lean_env(inv.get("lean_path"))
        self.count = 0

    def _fresh_setup(self) -> None:
        if self.red.setup is not None:
            try:
                shutil.copyfile(self.red.original_setup, self.red.setup)
            except OSError as e:
                raise SimpulseError(f"cannot read the setup file {self.red.original_setup}: "
                                    f"{e.strerror or e}") from None

    def argv_for(self, strategy) -> list[str]:
        """The argument list of a run under `strategy` (the redirected one for the baseline)."""
        self._fresh_setup()
        if strategy is None or strategy.is_baseline:
            return list(self.red.argv)
        from simpulse.lake.leanargs import apply_strategy, parse
        tmp = os.path.join(self.scratch, "tmp")
        os.makedirs(tmp, exist_ok=True)
        applied = apply_strategy(parse(self.red.argv), strategy, tmp)
        argv = list(applied.argv)
        for temp in applied.temp_files:
            # The strategy's setup copy goes to the one setup path every run uses.
            os.replace(temp, self.red.setup)
            argv = [self.red.setup if a == temp else
                    ("--setup=" + self.red.setup if a == "--setup=" + temp else a) for a in argv]
        return argv

    def run(self, name: str, argv: list[str]) -> Run:
        out_dir = os.path.join(self.scratch, "out")
        for path in self.red.outputs.values():
            os.makedirs(os.path.dirname(path), exist_ok=True)
        t0 = time.perf_counter()
        try:
            p = subprocess.run([self.lean, *argv], cwd=self.cwd, env=self.env, capture_output=True,
                               timeout=self.timeout)
        except subprocess.TimeoutExpired:
            # Not Lean's verdict: a run cut short says nothing about what the strategy changes.
            shutil.rmtree(out_dir, ignore_errors=True)
            raise SimpulseError(f"{name}: lean took longer than {self.timeout:g} s (--timeout)") from None
        except OSError as e:
            raise SimpulseError(f"cannot run {self.lean}: {e.strerror or e}") from None
        wall = time.perf_counter() - t0
        outputs = hash_outputs(out_dir)
        self.count += 1
        keep = os.path.join(self.scratch, "runs", f"{self.count:02d}-{name}")
        os.makedirs(os.path.dirname(keep), exist_ok=True)
        os.replace(out_dir, keep)
        return Run(p.returncode, p.stdout, p.stderr, outputs, wall)


def _run_json(run: Run) -> dict:
    return {"rc": run.rc, "ok": run.ok, "wall": round(run.wall, 6), "messages": len(run.messages),
            "outputs": sorted(run.outputs)}


def verify_module(lean: str, inv: dict, strategies: list, *, scratch_root: str | None = None,
                  keep: bool = False, timeout: float | None = None, progress=None) -> dict:
    """Compare each of `strategies` with the baseline on the remembered invocation `inv`.

    Returns ``{"status", "detail", "scratch", "baseline", "aa", "strategies": [...]}``; each
    strategy entry is ``{"strategy", "status": "identical"|"differs"|"error", "what", "breaks",
    "fixes", "verdict", "messages", "outputs", "detail", "run"}``. `progress(step)` is called
    before each run with a short description. A run longer than `timeout` seconds is killed and
    makes the module (baseline) or the strategy an error, never a difference."""
    scratch = tempfile.mkdtemp(prefix="simpulse-verify-", dir=scratch_root)
    os.chmod(scratch, 0o700)
    result = {"status": ERROR, "detail": "", "scratch": scratch if keep else None,
              "baseline": None, "aa": None, "strategies": []}
    try:
        try:
            runner = ModuleRunner(lean, inv, scratch, timeout)
            if progress:
                progress("baseline")
            b1 = runner.run("baseline", runner.argv_for(None))
            if progress:
                progress("baseline (A/A)")
            b2 = runner.run("baseline-aa", runner.argv_for(None))
        except SimpulseError as e:
            result["detail"] = str(e)
            return result
        aa = compare(b1, b2)
        result["baseline"] = _run_json(b1)
        result["aa"] = {"identical": not aa["what"], "what": aa["what"], "detail": aa["detail"]}
        if aa["what"]:
            result["status"] = NOT_REPRODUCIBLE
            result["detail"] = aa["detail"]
            return result
        result["status"] = VERIFIED
        result["detail"] = "baseline passes" if b1.ok else f"baseline fails ({first_error(b1)})"
        for s in strategies:
            if progress:
                progress(s.name)
            entry = {"strategy": s.name, "status": ERROR, "what": [], "breaks": False, "fixes": False,
                     "verdict": False, "messages": False, "outputs": False, "detail": "", "run": None}
            try:
                r = runner.run(s.name, runner.argv_for(s))
            except (SimpulseError, OSError, ValueError) as e:
                entry["detail"] = f"could not run the strategy: {e}"
                result["strategies"].append(entry)
                continue
            c = compare(b1, r)
            entry.update(status="differs" if c["what"] else "identical", what=c["what"], breaks=c["breaks"],
                         fixes=c["fixes"], verdict=c["verdict"], messages=c["messages"], outputs=c["outputs"],
                         detail=c["detail"], run=_run_json(r))
            result["strategies"].append(entry)
        return result
    finally:
        if not keep:
            shutil.rmtree(scratch, ignore_errors=True)
