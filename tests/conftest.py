"""Shared fixtures: the simulated toolchain and scratch copies of lean_fixtures/.

Tests that build run against the SIMULATED toolchain (no real Lean can be installed where
simpulse is developed); tests marked `real_lean` run only when a real `lake` is on PATH.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "lean_fixtures"


@pytest.fixture(scope="session", autouse=True)
def private_cache(tmp_path_factory):
    """Every cache simpulse keeps in the user's home (`XDG_CACHE_HOME`: the facades, `simpulse
    try`'s copies) goes to the session's temporary directory, for in-process commands and the
    processes they start alike: a test run leaves nothing in ~/.cache."""
    old = os.environ.get("XDG_CACHE_HOME")
    os.environ["XDG_CACHE_HOME"] = str(tmp_path_factory.mktemp("xdg-cache"))
    yield
    if old is None:
        os.environ.pop("XDG_CACHE_HOME", None)
    else:
        os.environ["XDG_CACHE_HOME"] = old


@pytest.fixture(scope="session")
def sim_toolchain(tmp_path_factory) -> Path:
    from simpulse.simulated.toolchain import install
    return install(tmp_path_factory.mktemp("simtoolchain") / "sysroot")


class Project:
    """A scratch copy of lean_fixtures/ with the simulated toolchain first on PATH."""

    def __init__(self, root: Path, sysroot: Path):
        self.root = root
        self.sysroot = sysroot
        self.env = dict(os.environ)
        self.env["PATH"] = f"{sysroot / 'bin'}{os.pathsep}{self.env.get('PATH', '')}"
        self.env["SIMPULSE_SIM_SCALE"] = "0.03"
        self.env["SIMPULSE_SIM_CPU_FRACTION"] = "0.1"
        self.env["XDG_CACHE_HOME"] = str(root.parent / "cache")      # facades live here
        for var in ("SIMPULSE_STATE_DIR", "LAKE_OVERRIDE_LEAN", "LEAN_SYSROOT", "LEAN", "SIMPULSE_FAULT"):
            self.env.pop(var, None)

    @property
    def state(self) -> Path:
        return self.root / ".simpulse"

    def run(self, *args, env=None, cwd=None, check=None):
        e = dict(self.env, **(env or {}))
        p = subprocess.run(list(args), cwd=cwd or self.root, env=e, capture_output=True, text=True, timeout=300)
        if check is not None:
            assert p.returncode == check, (p.returncode, p.stdout[-3000:], p.stderr[-3000:])
        return p

    def simpulse(self, *args, **kw):
        return self.run(sys.executable, "-m", "simpulse", *args, **kw)

    def lake(self, *args, **kw):
        return self.run(str(self.sysroot / "bin" / "lake"), *args, **kw)

    @property
    def facade(self) -> Path:
        return self.state / "facade"

    def shim_env(self, **extra) -> dict:
        """The environment a `simpulse build` gives Lake, so that the facade's `bin/lean` (or
        its Python shim, `simpulse-shim.py`) runs as it would inside that build: the last
        build's settings (`<state>/shim-settings.json`) in SIMPULSE_SHIM, its log in
        SIMPULSE_SHIM_LOG."""
        return dict(self.env, SIMPULSE_SHIM=(self.state / "shim-settings.json").read_text(),
                    SIMPULSE_SHIM_LOG=str(self.state / "simpulse.log"), **extra)

    def events(self, kind="compile"):
        from simpulse.store.store import Store
        if not self.state.is_dir():
            return []
        return [e for e in Store(self.state, create=False).iter_events() if kind is None or e.get("kind") == kind]

    def built(self, stdout: str) -> list[str]:
        return re.findall(r"\] Built (\S+)", stdout)

    def outputs(self) -> dict[str, bytes]:
        out = {}
        for sub in ("lib/lean", "ir"):
            base = self.root / ".lake" / "build" / sub
            for p in sorted(base.rglob("*")) if base.exists() else []:
                if p.is_file() and p.suffix in (".olean", ".ilean", ".c"):
                    out[str(p.relative_to(self.root))] = p.read_bytes()
        return out

    def copy(self, dest: Path) -> "Project":
        shutil.copytree(self.root, dest, ignore=shutil.ignore_patterns(".lake", ".simpulse"))
        return Project(dest, self.sysroot)


# What a test of the simulated toolchain starts without: Lake's and Lean's own variables and
# simpulse's switches, so that nothing of the developer's shell leaks into a build.
ISOLATED_ENV = ("LAKE_OVERRIDE_LEAN", "LEAN_SYSROOT", "LEAN", "LEAN_GITHASH", "LEAN_PATH", "LEAN_NUM_THREADS",
                "SIMPULSE_SIM_SEED", "SIMPULSE_SIM_ROUND", "SIMPULSE_SIM_LAKE_ERA", "SIMPULSE_SIM_ARGV_LOG",
                "SIMPULSE_SIM_CPU_FRACTION", "SIMPULSE_SIM_LEAN_SIGNAL", "SIMPULSE_STATE_DIR", "SIMPULSE_FAULT",
                "SIMPULSE_SHIM")


def sim_env(sysroot: Path, tmp: Path, **extra: str) -> dict[str, str]:
    """An isolated environment with the simulated toolchain at `sysroot` first on PATH, time
    scale 0 (builds as fast as the model allows) and the user cache (facades) under `tmp`."""
    env = {k: v for k, v in os.environ.items() if k not in ISOLATED_ENV}
    env.update(SIMPULSE_SIM_SCALE="0", SIMPULSE_SIM_CPU_FRACTION="0.1",
               PATH=f"{sysroot / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}",
               XDG_CACHE_HOME=str(tmp / "cache"))
    env.update(extra)
    return env


def write_workspace(d: Path, sources: dict[str, str], lakefile: str) -> Path:
    """A small Lake workspace at `d`: the files of `sources` (relative path → text) and a
    lakefile.toml."""
    for rel, text in sources.items():
        p = d / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text)
    (d / "lakefile.toml").write_text(lakefile)
    return d


def scratch_project(parent: Path, sysroot: Path) -> Project:
    """A fresh copy of lean_fixtures/ under `parent` (nothing built)."""
    root = parent / "fixtures"
    shutil.copytree(FIXTURES, root, ignore=shutil.ignore_patterns(".lake", ".simpulse"))
    return Project(root, sysroot)


@pytest.fixture
def project(tmp_path, sim_toolchain) -> Project:
    return scratch_project(tmp_path, sim_toolchain)


def cli(capsys, *args) -> tuple[int, str, str]:
    """Run the CLI in-process: (exit code, stdout, stderr)."""
    from simpulse.cli import main
    try:
        main(list(args))
        code = 0
    except SystemExit as e:
        code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
    out = capsys.readouterr()
    return code, out.out, out.err


def strip_times(text: str) -> str:
    return re.sub(r" \(\d+(\.\d+)?(ms|s)\)", "", text)


def load_script(name: str):
    """A module of `scripts/` (`bench_learning`, …), loaded from its file: scripts are not a
    package, and each test gets its own copy."""
    import importlib.util
    spec = importlib.util.spec_from_file_location(name, Path(__file__).resolve().parent.parent / "scripts" / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def read_json(path: Path):
    return json.loads(path.read_text())


# Test files that drive the simulated toolchain or the CLI end to end, whichever fixtures they use.
END_TO_END = {"test_batteries", "test_bench_build", "test_bench_cmd", "test_build_e2e", "test_build_flags", "test_doctor",
              "test_launcher", "test_meaning_build", "test_modsys", "test_monitor", "test_real_lean",
              "test_report", "test_serve", "test_simulated", "test_simulated_meaning", "test_ux", "test_verify"}


def pytest_collection_modifyitems(config, items):
    """Every test that builds (it needs the simulated toolchain, or its file drives the CLI end to
    end) is `slow`: `make test-fast` runs the others, the unit tests (`-m "not slow"`)."""
    for item in items:
        module = item.module.__name__.rpartition(".")[2] if getattr(item, "module", None) else ""
        if module in END_TO_END or "sim_toolchain" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.slow)


def sigint_as_at_a_terminal() -> None:
    """`preexec_fn` for a child a test interrupts with SIGINT (Ctrl-C): the default disposition.
    A shell without job control starts a background job (`bash .ci/run &`) with SIGINT ignored,
    every descendant inherits that, and Python then installs no KeyboardInterrupt handler: the
    test would measure how it was launched, not simpulse."""
    import signal
    signal.signal(signal.SIGINT, signal.SIG_DFL)
