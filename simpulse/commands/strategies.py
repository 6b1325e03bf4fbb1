"""`simpulse strategies`: the catalogue — what each strategy does, where it comes from, whether it is used."""

from __future__ import annotations

from pathlib import Path

from simpulse.commands._common import JSON_OPTION, STATE_DIR_OPTION, print_json


def catalogue_rows(cfg, sdir: Path | None, problems: list[str] | None = None,
                   workspace: Path | None = None) -> list[dict]:
    from simpulse.config import IMPORTED_STRATEGIES, catalogue_for
    from simpulse.strategy.catalogue import PROFILES
    cat = catalogue_for(cfg, sdir, problems=problems)
    active = {s.name for s in cat.active}
    # what `simpulse build` leaves out while Lake's artifact cache is on (`_artifact_cache_guard`)
    import os
    from simpulse.lake.lakefile import left_out_by_artifact_cache
    cached, left_out = left_out_by_artifact_cache(workspace, cat, dict(os.environ))
    seen = _verify_findings(sdir)
    rows = []
    for s in cat.all.values():
        if s.builtin:
            source = "builtin"
        elif s.name in cfg.strategies:
            source = str(cfg.path) if cfg.path else "simpulse.toml"
        else:
            source = str(Path(sdir) / IMPORTED_STRATEGIES) if sdir else "imported"
        why = None
        if s.name in left_out:
            active.discard(s.name)
            why = (f"changes outputs, and Lake's artifact cache is on ({cached}): it would carry them into later "
                   "plain `lake build`s, so `simpulse build` leaves it out")
        elif s.name not in active:
            if cfg["enabled"] is not None and s.name not in cfg["enabled"]:
                why = f"not in `enabled` (set by {cfg.sources['enabled']})"
            elif reason := cat.inactive_reason(s.name):
                why = f"{reason} (set by {cfg.sources['profile']})"
            elif s.may_break and not cfg["allow_breaking"]:
                why = f"may break a proof; allow_breaking = false (set by {cfg.sources['allow_breaking']})"
            else:
                why = "inactive"
        rows.append({
            "name": s.name, "description": s.description, "options": dict(s.options), "args": list(s.args),
            "changes": list(s.changes), "profiles": {p: s.allowed_by(acc) for p, acc in PROFILES.items()},
            "changes_diagnostics": s.changes_diagnostics, "may_break": s.may_break,
            "prior_mean": s.prior_mean, "prior_strength": s.prior_strength,
            "source": "builtin" if s.builtin else ("simpulse.toml" if s.name in cfg.strategies else "imported"),
            "defined_in": source, "active": s.name in active, "inactive_because": why,
            "verify": seen.get(s.name, []),
        })
    return rows


def _verify_findings(sdir: Path | None) -> dict[str, list[dict]]:
    """Per strategy, what `simpulse verify` saw it change and where: [{context, changes, seen_on}]."""
    if sdir is None:
        return {}
    from simpulse.store import verdicts
    from simpulse.verify import evidence as E
    out: dict[str, list[dict]] = {}
    for r in E.rows(verdicts.read(sdir)):
        if r["changes"]:
            out.setdefault(r["strategy"], []).append(
                {"context": r["context"], "changes": r["changes"], "seen_on": r["seen_on"]})
    return out


def strategies(
    state: Path | None = STATE_DIR_OPTION,
    as_json: bool = JSON_OPTION,
):
    """The strategies: options and arguments, risks, source (builtin / simpulse.toml / imported), active or why not."""
    from simpulse.commands._common import state_dir, workspace_or_none
    from simpulse.commands.config import _exit_on_problems
    from simpulse.config import load_config
    from simpulse.errors import SimpulseError
    problems: list[str] = []
    cfg = load_config(workspace_or_none(), problems=problems)
    try:
        sdir = state_dir(state, must_exist=False, cfg=cfg)
    except SimpulseError:
        sdir = None
    rows = catalogue_rows(cfg, sdir if sdir is not None and sdir.is_dir() else None, problems, workspace_or_none())
    if as_json:
        print_json(rows)
        _exit_on_problems(problems)
        return
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table
    console = Console(highlight=False)
    from rich import box

    from simpulse.commands._common import fit_table
    from simpulse.strategy.catalogue import PROFILES

    def build(dropped):
        table = Table(title="simpulse strategies", title_justify="left", header_style="bold", box=box.SIMPLE_HEAD,
                      pad_edge=False)
        cols = [c for c in ("strategy", "options / args", "may change", "breaks", *PROFILES, "source", "active")
                if c not in dropped]
        short = "(short headers)" in dropped       # the last step before a narrow terminal wraps
        for col in cols:
            header = {"aggressive": "aggr.", "options / args": "options"}.get(col, col) if short else col
            table.add_column(header, no_wrap=col != "source", overflow="fold")
        for r in rows:
            passes = [f"{k}={v}" for k, v in r["options"].items()]
            if r["args"]:
                passes.append(" ".join(r["args"]))
            star = "" if r["active"] or "active" not in dropped else "[red]*[/red]"
            cells = {"strategy": f"[bold]{r['name']}[/bold]{star}", "options / args": escape("\n".join(passes) or "—"),
                     "may change": "\n".join(r["changes"]) or "time only", "breaks": "yes" if r["may_break"] else "no",
                     **{p: "✓" if r["profiles"][p] else "–" for p in PROFILES},
                     "source": escape(r["source"]), "active": "yes" if r["active"] else "[red]no[/red]*"}
            table.add_row(*[cells[c] for c in cols])
        return table
    console.print(fit_table(build, console.width, ("source", "active", "(short headers)")))
    console.print(f"  profile in use: {cfg['profile']} (set by {escape(cfg.sources['profile'])}); no profile lets a strategy "
                  "change a verdict, and a build whose warnings are errors runs only time-only strategies")
    console.print("  options are passed as -Dweak.NAME=VALUE (ignored by a Lean that does not know them)")
    for r in rows:
        if not r["active"]:
            console.print(f"  * {r['name']} is not used: {escape(r['inactive_because'])}")
    for r in rows:
        for f in r["verify"]:
            mods = "; ".join(f"{k} on {', '.join(v[:3])}{' …' if len(v) > 3 else ''}" for k, v in f["seen_on"].items())
            console.print(f"  verify: {r['name']} changes {' and '.join(f['changes'])} in {f['context']} "
                          f"(seen: {escape(mods)}); left out there by every profile that does not accept it")
    for r in rows:
        where = "" if r["source"] == "builtin" else f" [dim](from {escape(r['defined_in'])})[/dim]"
        console.print(f"  [bold]{r['name']}[/bold]: {escape(r['description'])}{where}")
    _exit_on_problems(problems)


def register(app) -> None:
    app.command("strategies")(strategies)
