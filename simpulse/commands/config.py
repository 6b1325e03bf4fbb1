"""`simpulse config`: the effective configuration and where each value came from (like `ccache -p`)."""

from __future__ import annotations

import typer

from simpulse.commands._common import JSON_OPTION, print_json


def effective(flags: dict) -> dict:
    """The effective configuration, and the problems found in it (each left out: what is shown
    is what would be used)."""
    from simpulse.commands._common import workspace_or_none
    from simpulse.config import DEFAULTS, DOCS, ENV, catalogue_for, load_config
    ws = workspace_or_none()
    problems: list[str] = []
    cfg = load_config(ws, flags=flags, problems=problems)
    catalogue_for(cfg, problems=problems)   # the [strategies] tables are part of the configuration
    return {
        "problems": problems,
        "notes": list(cfg.notes),
        "workspace": str(ws) if ws else None,
        "config_file": str(cfg.path) if cfg.path else None,
        "values": {k: {"value": cfg.values[k], "source": cfg.sources[k], "default": DEFAULTS[k],
                       "env": ENV.get(k), "doc": DOCS.get(k, "")} for k in DEFAULTS},
        "strategies": sorted(cfg.strategies),
    }


def config_cmd(
    show: bool = typer.Option(True, "--show", "-p", help="Show the effective configuration (the default)."),
    mode: str | None = typer.Option(None, "--mode", help="As `simpulse build --mode`: shows its effect."),
    policy: str | None = typer.Option(None, "--policy", help="As `simpulse build --policy`: shows its effect."),
    state_dir: str | None = typer.Option(None, "--state-dir", help="As `simpulse build --state-dir`: shows its effect."),
    as_json: bool = JSON_OPTION,
):
    """Every setting, its value, and where it came from: default, simpulse.toml, environment or flag."""
    del show
    data = effective({"mode": mode, "policy": policy, "state_dir": state_dir})
    if as_json:
        print_json(data)
        _exit_on_problems(data["problems"])
        return
    from rich.console import Console
    from rich.markup import escape
    console = Console()
    if data["workspace"] is None:
        console.print("simpulse: not inside a Lake project: defaults, environment and flags only")
    elif data["config_file"] is None:
        console.print(f"simpulse: no simpulse.toml in {escape(data['workspace'])} (`simpulse init` writes one)")
    for key, v in data["values"].items():
        console.print(f"({escape(v['source'])}) {key} = {escape(_show(v['value']))}", soft_wrap=True)
    if data["strategies"]:
        console.print(f"({escape(data['config_file'])}) strategies = {', '.join(data['strategies'])}", soft_wrap=True)
    for line in data["notes"]:
        console.print(f"note: {escape(line)}", soft_wrap=True)
    _exit_on_problems(data["problems"])


def _exit_on_problems(problems: list[str]) -> None:
    """Each problem on stderr, one line each, then exit 2 (the values shown are what a build
    would use: `simpulse build` runs plain `lake build` while the file has a mistake)."""
    if problems:
        import sys
        for line in problems:
            print(f"simpulse: error: {line}", file=sys.stderr)
        raise typer.Exit(2)


def _show(v) -> str:
    if v is None:
        return "(all)"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, list):
        return ", ".join(map(str, v))
    return str(v)


def register(app) -> None:
    app.command("config")(config_cmd)
