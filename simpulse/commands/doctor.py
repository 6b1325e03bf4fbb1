"""`simpulse doctor [--json] [--deep]`: check, on this machine's own toolchain, every assumption
simpulse makes about Lake and Lean, and say plainly whether `simpulse build` is safe to use here.

Each check prints ✓ (passed), ✗ (failed, with a one-line remedy) or – (skipped, with why).
Exit 0 only when nothing failed. `--json` gives the same as data (docs/json/doctor.md), to
attach to a bug report. What each check observes, and how: docs/doctor.md.
"""

from __future__ import annotations

import sys
from pathlib import Path

import typer

from simpulse.commands._common import JSON_OPTION, STATE_DIR_OPTION, print_json

SECTION_TITLES = {"toolchain": "Toolchain", "invisibility": "Invisibility", "options": "Options",
                  "meaning": "Meaning", "cost": "Cost", "state": "State"}


def collect(state: Path | None, *, deep: bool, lean: str | None, lake: str | None, profile: str | None,
            progress=None) -> dict:
    from simpulse.commands._common import config, workspace_or_none
    from simpulse.config import catalogue_for
    from simpulse.doctor import runner
    from simpulse.errors import SimpulseError
    workspace = workspace_or_none()
    cfg = config(workspace, profile=profile)
    if state is not None:
        sdir = Path(state).expanduser().resolve()
    elif workspace is not None:
        p = Path(cfg["state_dir"]).expanduser()
        sdir = (p if p.is_absolute() else workspace / p).resolve()
    else:
        sdir = None
    try:
        catalogue = catalogue_for(cfg, sdir if sdir is not None and sdir.is_dir() else None)
    except SimpulseError:
        catalogue = catalogue_for(cfg, None)
    checks = runner.run_all(workspace, state_dir=sdir, catalogue=catalogue, profile=cfg["profile"],
                            lean=lean, lake=lake, deep=deep, progress=progress)
    found = next((c for c in checks if c.id == "toolchain.lean"), None)
    tc = found.data if found is not None and found.status == "ok" else None
    summary = {s: sum(c.status == s for c in checks) for s in ("ok", "fail", "skip")}
    return {
        "workspace": str(workspace) if workspace else None,
        "state_dir": str(sdir) if sdir else None,
        "profile": cfg["profile"],
        "deep": deep,
        "toolchain": tc,
        "simulated": bool(tc and tc.get("simulated")),
        "checks": [c.to_json() for c in checks],
        "summary": summary,
        "exit_code": runner.exit_code(checks),
    }


def render(data: dict) -> str:
    lines = []
    where = data["workspace"] or "(not inside a Lake project)"
    lines.append(f"simpulse doctor — {where} (profile {data['profile']})")
    if data["simulated"]:
        lines.append("  SIMULATED toolchain: every time below that lean takes is simulated")
    section = None
    for c in data["checks"]:
        if c["section"] != section:
            section = c["section"]
            lines.append(SECTION_TITLES.get(section, section))
        detail = c["detail"]
        if c["status"] == "skip":
            detail = f"skipped: {detail}"
        lines.append(f"  {c['symbol']} {c['title']}" + (f" — {detail}" if detail else ""))
        if c["status"] == "fail" and c["remedy"]:
            lines.append(f"      → {c['remedy']}")
    s = data["summary"]
    failed = [c for c in data["checks"] if c["status"] == "fail"]
    if not failed:
        verdict = "simpulse build is safe to use here"
    elif all(c["id"].startswith("options.strategy.") for c in failed):
        verdict = (f"simpulse build is safe to use here, without {len(failed)} strateg"
                   f"{'y' if len(failed) == 1 else 'ies'} this Lean does not accept (see ✗ above)")
    else:
        verdict = "simpulse is not safe to use here as it is: see ✗ above"
    lines.append(f"{s['ok']} passed, {s['fail']} failed, {s['skip']} skipped: {verdict}")
    return "\n".join(lines)


def doctor(
    as_json: bool = JSON_OPTION,
    deep: bool = typer.Option(False, "--deep", help="Also run `simpulse verify` on a handful of modules "
                                                    "(the largest, one with warnings) for each strategy."),
    state: Path | None = STATE_DIR_OPTION,
    lean: str | None = typer.Option(None, "--lean", help="The lean to check (default: `lean` on PATH)."),
    lake: str | None = typer.Option(None, "--lake", help="The lake to check (default: the toolchain's, else PATH)."),
    profile: str | None = typer.Option(None, "--profile", help="The profile whose strategies to check "
                                                               "(default: the configured one)."),
):
    """Check, on this toolchain, every assumption simpulse makes: ✓ / ✗ (with a remedy) / – (skipped, why)."""
    progress = None
    if not as_json and sys.stderr.isatty():
        def progress(what):
            print(f"simpulse doctor: {what}…", file=sys.stderr, flush=True)
    data = collect(state, deep=deep, lean=lean, lake=lake, profile=profile, progress=progress)
    if as_json:
        print_json(data)
    else:
        print(render(data))
    raise typer.Exit(data["exit_code"])


def register(app) -> None:
    app.command("doctor")(doctor)
