"""`simpulse try [DIR]`: `simpulse build` without Lean, on the SIMULATED toolchain.

It installs simpulse's simulated toolchain (a fake `lake` and `lean` whose compile times come
from the cost model of docs/cost-model.md) into a work directory, copies a Lake project there —
the fixtures shipped with simpulse, or DIR (without `.lake/`, `.simpulse/`, `.git/`): DIR itself
is never touched — and runs `simpulse build` on the copy with that toolchain first on PATH.
Every time, speedup and saving it prints is simulated, and it says so before and after.

The work directory (default: `<cache>/simpulse/try`, `--into` to choose) is kept, so that
`simpulse stats`, `monitor` and `report` can be run on the copy afterwards, and a second
`simpulse try` continues learning where the first stopped (a clean rebuild of the copy).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import typer

IGNORED = (".lake", ".simpulse", ".git", "build", "lake-packages")
MARKER = ".simpulse-try"        # in a copy made by `simpulse try`: only such a directory is refreshed
DEFAULT_SCALE = 0.5


def shipped_fixtures() -> Path:
    """The Lake project shipped with simpulse (lean_fixtures/ of the source tree)."""
    return Path(__file__).resolve().parent.parent / "lean_fixtures"


def default_work_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "simpulse" / "try"


def is_lake_project(d: Path) -> bool:
    return (d / "lakefile.toml").is_file() or (d / "lakefile.lean").is_file()


def prepare_copy(src: Path, dest: Path) -> None:
    """`dest` becomes a fresh copy of the sources of `src`, without build outputs; the
    `.simpulse/` of an earlier copy (what was learned) is kept. Only a directory this command
    made (it holds MARKER) is emptied first; any other existing one is refused."""
    from simpulse.errors import SimpulseError
    if dest.exists():
        if not (dest / MARKER).is_file():
            raise SimpulseError(f"{dest} exists and was not made by `simpulse try`: choose another --into")
        for child in dest.iterdir():
            if child.name in (".simpulse", MARKER):
                continue
            if child.is_dir() and not child.is_symlink():
                shutil.rmtree(child)
            else:
                child.unlink()
    shutil.copytree(src, dest, ignore=shutil.ignore_patterns(*IGNORED), dirs_exist_ok=True, symlinks=True)
    (dest / MARKER).write_text("a copy made by `simpulse try`; it may be deleted\n", encoding="utf-8")


def simulated_env(sysroot: Path, scale: float) -> dict:
    """The builds' environment: the simulated toolchain first on PATH, its time scale, and its
    physical mode (`SIMPULSE_SIM_PHYSICAL=1`, unless the caller's environment sets it either
    way): the fake `lean` then burns its modelled time as CPU on a main thread and a pool, as
    Lean's elaboration does, instead of sleeping through most of it. `simpulse build`'s default
    objective reads a compile's CPU time (docs/learning.md, "The objective"); against a `lean`
    whose CPU time is a fifth of its wall time (the sleep-based mode), the compiles of a busy
    build read as costing a fraction of the same compiles alone, and what `stats` and
    `monitor` show of single compiles stops meaning anything."""
    env = dict(os.environ)
    env["PATH"] = f"{sysroot / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    env["SIMPULSE_SIM_SCALE"] = repr(scale)
    env.setdefault("SIMPULSE_SIM_PHYSICAL", "1")
    for var in ("SIMPULSE_STATE_DIR", "LAKE_OVERRIDE_LEAN", "LEAN_SYSROOT", "LEAN", "ELAN_TOOLCHAIN"):
        env.pop(var, None)
    return env


def loud(console, text: str) -> None:
    console.print(f"[bold black on yellow] SIMULATED [/bold black on yellow] [bold yellow]{text}[/bold yellow]")


def try_cmd(
    directory: Path | None = typer.Argument(
        None, help="A Lake project to try simpulse on; it is copied, never changed. "
                   "Default: the Lean fixtures shipped with simpulse."),
    into: Path | None = typer.Option(
        None, "--into", help="Work directory for the toolchain and the copy (kept; default: "
                             "~/.cache/simpulse/try). A second run there continues learning."),
    builds: int = typer.Option(1, "--builds", "-n", help="Clean builds to run one after the other (learning across them)."),
    scale: float = typer.Option(DEFAULT_SCALE, "--scale", help="Time scale of the simulated cost model."),
):
    """Try `simpulse build` without Lean: on the SIMULATED toolchain, on a copy of DIR or of the
    shipped fixtures. Every number it shows is simulated (docs/cost-model.md)."""
    from rich.console import Console

    from simpulse.errors import SimpulseError
    from simpulse.simulated.toolchain import install

    if builds < 1:
        raise SimpulseError("--builds must be at least 1")
    if not (scale > 0 and scale < 1e6):
        raise SimpulseError(f"--scale must be a positive number, got {scale}")
    if directory is None:
        src, name = shipped_fixtures(), "fixtures"
        if not is_lake_project(src):
            raise SimpulseError(f"the fixtures shipped with simpulse are missing ({src}): reinstall simpulse, "
                                "or pass a Lake project directory")
    else:
        src = Path(directory).expanduser()
        if not src.is_dir():
            raise SimpulseError(f"{directory}: no such directory")
        src = src.resolve()
        if not is_lake_project(src):
            raise SimpulseError(f"{directory} is not a Lake project (no lakefile.toml or lakefile.lean in it)")
        name = src.name or "project"
    work = (Path(into).expanduser() if into is not None else default_work_dir()).resolve()
    if work == src or src in work.parents:
        raise SimpulseError(f"--into {work} is inside the project it would copy: choose a directory outside it")
    if name == "simulated-toolchain":
        name += "-project"
    project = work / name
    if project == src:
        raise SimpulseError(f"--into {work} would put the copy where the project is: choose another directory")
    try:
        work.mkdir(parents=True, exist_ok=True)
        sysroot = install(work / "simulated-toolchain")
        again = (project / ".simpulse").is_dir()
        prepare_copy(src, project)
    except OSError as e:
        raise SimpulseError(f"cannot set up {work}: {e.strerror or e}") from None

    console = Console(highlight=False)
    env = simulated_env(sysroot, scale)
    from simpulse.commands._common import DOCS
    from simpulse.simulated.burn import physical_enabled
    how = "burn as CPU the time of a cost model" if physical_enabled(env) else "take the time of a cost model"
    loud(console, f"simpulse try: no real Lean runs here. A fake `lake` and `lean` {how} "
                  f"({DOCS / 'cost-model.md'}, scale "
                  f"{scale:g}): every time, speedup and saving below is SIMULATED, not a measurement of Lean.")
    what = "the Lean fixtures shipped with simpulse" if directory is None else str(src)
    console.print(f"  project: a copy of {what}", soft_wrap=True)
    console.print(f"      at {project}" + (" (continuing what earlier tries learned)" if again else ""), soft_wrap=True)
    console.print(f"  toolchain: simulated, {sysroot} (on PATH for these builds only)", soft_wrap=True)
    cmd = [sys.executable, "-m", "simpulse", "build"]
    for i in range(1, builds + 1):
        if i > 1:
            shutil.rmtree(project / ".lake", ignore_errors=True)
        console.print(f"\n[bold]== simulated build {i}/{builds}:[/bold] simpulse build")
        sys.stdout.flush()
        rc = subprocess.call(cmd, cwd=project, env=env)
        if rc != 0:
            loud(console, f"the build failed (exit code {rc}) on the simulated toolchain")
            raise typer.Exit(rc)
    console.print()
    loud(console, "every number above is simulated.")
    console.print("What was learned: simpulse stats (or monitor, report), in the copy:", soft_wrap=True)
    console.print(f"  cd {project} && simpulse stats", soft_wrap=True)
    console.print("Another build there: run `simpulse try` again, or", soft_wrap=True)
    console.print(f"  SIMPULSE_SIM_PHYSICAL={env['SIMPULSE_SIM_PHYSICAL']} PATH={sysroot / 'bin'}:$PATH simpulse build",
                  soft_wrap=True)


def register(app) -> None:
    from simpulse.commands._common import DOCS
    app.command("try", help=f"Try `simpulse build` without Lean: on the SIMULATED toolchain, on a copy of DIR or of "
                            f"the Lean fixtures shipped with simpulse. Every number it shows is simulated "
                            f"(the cost model: {DOCS / 'cost-model.md'}).")(try_cmd)
