"""`simpulse learnings`: which strategies broke which modules, grouped into patterns.

The grouping is `simpulse.stats.learnings.patterns` (strategy × normalised Lean error kind);
this module only reads the event log and renders. JSON shape: docs/json/learnings.md.
"""

from __future__ import annotations

from pathlib import Path

import typer

from simpulse.commands._common import JSON_OPTION, STATE_DIR_OPTION, plural, print_json, state_dir


def _events(sdir: Path) -> list[dict]:
    from simpulse.errors import SimpulseError
    from simpulse.store.store import Store, StoreError
    try:
        store = Store(sdir, create=False)
        return list(store.iter_events())
    except StoreError as e:
        raise SimpulseError(str(e)) from None


def render(data: dict, console=None) -> None:
    from rich.console import Console
    from rich.table import Table

    console = console or Console()
    c = data["counts"]
    label = " (SIMULATED toolchain: simulated failures)" if data["simulated"] else ""
    console.print(f"[bold]simpulse learnings[/bold]{label} — {plural(c['strategy_failures'], 'strategy failure')} "
                  f"caught by the baseline fallback in {plural(c['compiles'], 'compile')}"
                  + (f", {plural(c['modules_failed'], 'genuinely broken compile')} (no strategy blamed)"
                     if c["modules_failed"] else ""))
    if data["stats_only"] or not data["patterns"]:
        table = Table(title="Failures per strategy", title_justify="left", header_style="bold")
        for col, kw in (("strategy", {}), ("compiles", {"justify": "right"}),
                        ("failures", {"justify": "right"}), ("rate", {"justify": "right"})):
            table.add_column(col, **kw)
        for name, row in c["by_strategy"].items():
            table.add_row(name, str(row["compiles"]), str(row["failures"]), f"{row['rate']:.0%}")
        if c["by_strategy"]:
            console.print(table)
        if c["by_kind"]:
            kinds = Table(title="Failures per Lean error kind", title_justify="left", header_style="bold")
            kinds.add_column("Lean error")
            kinds.add_column("failures", justify="right")
            for kind, n in c["by_kind"].items():
                kinds.add_row(kind, str(n))
            console.print(kinds)
        if not data["stats_only"]:
            if c["strategy_failures"]:
                console.print(f"  no pattern with at least {data['min_occurrences']} failures")
            else:
                console.print("  no strategy has broken a module yet: nothing to learn from")
        return
    table = Table(title=f"Failure patterns (≥ {data['min_occurrences']} occurrence"
                        f"{'s' if data['min_occurrences'] != 1 else ''})",
                  title_justify="left", header_style="bold")
    for col, kw in (("#", {"justify": "right"}), ("strategy", {}), ("Lean error", {}),
                    ("failures", {"justify": "right"}), ("contexts", {"overflow": "fold"}),
                    ("modules", {"justify": "right"})):
        table.add_column(col, **kw)
    for i, p in enumerate(data["patterns"], 1):
        ctxs = ", ".join(f"{k} ({v})" for k, v in p["contexts"].items())
        table.add_row(str(i), p["strategy"], p["kind"], str(p["count"]), ctxs, str(len(p["modules"])))
    console.print(table)
    for i, p in enumerate(data["patterns"], 1):
        ex = p["example"]
        console.print(f" [bold]{i}.[/bold] {p['strategy']} × {p['kind']}: {p['explanation']}")
        console.print(f"    e.g. {ex['module']} ({ex['context']}): {ex['error'] or '(no error line)'}",
                      highlight=False, overflow="fold", markup=False)


def learnings(
    state: Path | None = STATE_DIR_OPTION,
    as_json: bool = JSON_OPTION,
    stats_only: bool = typer.Option(False, "--stats-only", help="Only the counts: failures per strategy and per Lean error kind."),
    min_occurrences: int = typer.Option(1, "--min-occurrences", min=1, help="Show only patterns seen at least this many times."),
):
    """Strategy failures grouped into patterns: strategy × Lean error, with an explanation."""
    from simpulse.stats.learnings import counts, patterns
    sdir = state_dir(state)
    events = _events(sdir)
    c = counts(events)
    data = {"state_dir": str(sdir), "simulated": c["simulated"], "counts": c,
            "min_occurrences": min_occurrences, "stats_only": stats_only}
    if not stats_only:
        data["patterns"] = patterns(events, min_occurrences)
    if as_json:
        print_json(data)
    else:
        data.setdefault("patterns", [])
        render(data)


def register(app) -> None:
    app.command("learnings")(learnings)
