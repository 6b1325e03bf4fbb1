"""`simpulse build [LAKE ARGS...]`: `lake build` with every module compile going through simpulse."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import typer

from simpulse.config import catalogue_for, load_config
from simpulse.errors import SimpulseError
from simpulse.lake.facade import build_facade
from simpulse.lake.workspace import find_toolchain, find_workspace


def resolve_state_dir(workspace: Path, state_dir: Path | None, cfg) -> Path:
    if state_dir is not None:
        return Path(state_dir).expanduser().resolve()
    p = Path(cfg["state_dir"]).expanduser()
    return (p if p.is_absolute() else workspace / p).resolve()


def _usable(state_dir: Path) -> str | None:
    """Why the state directory can't be used, or None."""
    try:
        state_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        probe = state_dir / f".probe-{os.getpid()}"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as e:
        return f"{state_dir}: {e.strerror or e}"
    return None


def note(message: str) -> None:
    print(f"simpulse: {message}", file=sys.stderr, flush=True)


def build(
    ctx: typer.Context,
    state_dir: Path | None = typer.Option(None, "--state-dir", envvar="SIMPULSE_STATE_DIR",
                                          help="State directory (default: .simpulse/ at the workspace root)."),
    mode: str | None = typer.Option(None, "--mode", help="auto | confident | shadow"),
    policy: str | None = typer.Option(None, "--policy", help="thompson | beta | ucb | egreedy | lints"),
    strategy: str | None = typer.Option(None, "--strategy", help="Force one strategy for every module (for experiments)."),
    lean: str | None = typer.Option(None, "--lean", help="The lean to wrap (default: `lean` on PATH)."),
    lake: str | None = typer.Option(None, "--lake", help="The lake to run (default: the toolchain's, else PATH)."),
    seed: int | None = typer.Option(None, "--seed", help="Seed the strategy choice (reproducible experiments)."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No summary line after the build."),
):
    """Run `lake build LAKE ARGS...`, choosing, measuring and learning a strategy per module.

    Lake's output streams unchanged and the exit code is Lake's. A strategy that breaks a
    module is retried with the baseline, so a build that passes under `lake build` passes here.
    """
    lake_args = list(ctx.args)
    workspace = find_workspace()
    cfg = load_config(workspace, flags={"mode": mode, "policy": policy})
    catalogue = catalogue_for(cfg)
    if strategy is not None:
        catalogue.get(strategy)
    tc = find_toolchain(workspace, lean=lean, lake=lake)
    sdir = resolve_state_dir(workspace, state_dir, cfg)
    if tc.simulated:
        note(f"using the SIMULATED Lean toolchain at {tc.sysroot}: every time measured is simulated")
    cmd = [str(tc.lake), "build", *lake_args]
    problem = _usable(sdir)
    if problem is not None:
        note(f"warning: state directory unusable ({problem}); running plain `lake build`, nothing is learned")
        raise typer.Exit(subprocess.call(cmd, cwd=workspace))
    settings = {
        "state_dir": str(sdir), "workspace": str(workspace), "mode": cfg["mode"],
        "policy": cfg["policy"], "toolchain": tc.githash, "simulated": tc.simulated,
        "explore_budget": cfg["explore_budget"], "fsync": cfg["fsync"],
        "enabled": cfg["enabled"], "allow_diagnostic_changes": cfg["allow_diagnostic_changes"],
        "allow_breaking": cfg["allow_breaking"], "force_strategy": strategy, "seed": seed,
        "user_strategies": [s.to_json() for s in catalogue.all.values() if not s.builtin],
    }
    try:
        facade = build_facade(sdir, tc.sysroot, settings)
    except OSError as e:
        note(f"warning: could not build the facade sysroot ({e}); running plain `lake build`")
        raise typer.Exit(subprocess.call(cmd, cwd=workspace))
    env = dict(os.environ, LAKE_OVERRIDE_LEAN="1", LEAN_SYSROOT=str(facade))
    before = _count_events(sdir)
    rc = subprocess.call(cmd, cwd=workspace, env=env)
    if not quiet:
        _summary(sdir, before, tc.simulated)
    raise typer.Exit(rc)


def _count_events(sdir: Path):
    try:
        from simpulse.store.store import Store
        return sum(1 for _ in Store(sdir).iter_events())
    except Exception:  # noqa: BLE001
        return None


def _summary(sdir: Path, before, simulated: bool) -> None:
    try:
        from simpulse.store.store import Store
        events = list(Store(sdir).iter_events())
    except Exception:  # noqa: BLE001
        return
    if before is None:
        return
    new = [e for e in events[before:] if e.get("kind") == "compile"]
    if not new:
        note("no module compiled (everything up to date)")
        return
    explored = sum(1 for e in new if e.get("explore"))
    caught = sum(1 for e in new if e.get("outcome") == "strategy_failed")
    applied = sum(1 for e in new if e.get("strategy") != "baseline")
    label = "simulated " if simulated else ""
    secs = sum(float(e.get("wall") or 0) + float(e.get("fallback_wall") or 0) for e in new)
    note(f"{len(new)} compiles recorded ({label}{secs:.1f}s in lean): {applied} with a strategy, "
         f"{explored} exploring, {caught} strategy failures caught by baseline fallback")
