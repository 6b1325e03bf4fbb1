"""The scratch project the scripts work on: a copy of lean_fixtures/ and, when asked for, the
simulated toolchain first on PATH (facades in the scratch directory, not the user's cache)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def fixture_copy(work: Path) -> Path:
    """A fresh copy of lean_fixtures/ at `work/fixtures` (without build outputs or state)."""
    project = work / "fixtures"
    if project.exists():
        shutil.rmtree(project)
    shutil.copytree(ROOT / "lean_fixtures", project, ignore=shutil.ignore_patterns(".lake", ".simpulse"))
    return project


def simulated_env(work: Path, **extra: str) -> tuple[Path, dict]:
    """Install the simulated toolchain under `work` and return (its sysroot, an environment
    that uses it), plus `extra` variables."""
    from simpulse.simulated.toolchain import install
    sysroot = install(work / "simulated-toolchain")
    env = dict(os.environ, PATH=f"{sysroot / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}",
               XDG_CACHE_HOME=str(work / "cache"), **extra)
    for var in ("SIMPULSE_STATE_DIR", "LAKE_OVERRIDE_LEAN", "LEAN_SYSROOT", "LEAN"):
        env.pop(var, None)
    return sysroot, env
