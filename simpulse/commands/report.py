"""`simpulse report`: how learning evolved — regret, time saved, confidence, milestones.

The numbers come from `simpulse.stats.history` (the event log replayed through the learner,
kept between reports by `simpulse.stats.report_cache`); this module renders them: rich tables with unicode sparklines in the terminal, or
ONE self-contained HTML file with inline SVG charts (no network, no JavaScript, no external
CSS) with ``--html FILE`` (`simpulse.commands._report_html`). JSON shape: docs/json/report.md.

An empty state (a state directory without compilations) is not an error: the report says so
and exits 0 (``--html`` still writes a page saying so). A missing state directory is an error
(exit 2), as for every read command.
"""

from __future__ import annotations

import math
import time
from pathlib import Path

import typer

from simpulse.commands._common import (JSON_OPTION, STATE_DIR_OPTION, fit_table, fmt_seconds, print_json,
                                       progress_bar, state_dir)
from simpulse.stats.report_cache import REFRESH_BACKLOG, load_history

BLOCKS = "▁▂▃▄▅▆▇█"
SPARK_WIDTH = 32
CONTEXT_SPARK_WIDTH = 16
EMPTY_MESSAGE = "no compilations recorded yet in {dir} (run `simpulse build` first)"


# --------------------------------------------------------------------------- sparklines


def _resample(values: list[float], width: int) -> list[float]:
    """At most `width` values: the mean of each of `width` equal slices."""
    n = len(values)
    if n <= width:
        return list(values)
    out = []
    for i in range(width):
        a, b = i * n // width, (i + 1) * n // width
        chunk = values[a:max(b, a + 1)]
        out.append(sum(chunk) / len(chunk))
    return out


def sparkline(values: list[float], width: int = SPARK_WIDTH, lo: float | None = None,
              hi: float | None = None) -> str:
    """Unicode block sparkline of `values` (resampled to at most `width` characters)."""
    vals = [v for v in _resample([float(v) for v in values], width) if math.isfinite(v)]
    if not vals:
        return ""
    lo = min(vals) if lo is None else lo
    hi = max(vals) if hi is None else hi
    if hi - lo < 1e-12:
        return BLOCKS[0] * len(vals)
    top = len(BLOCKS) - 1
    return "".join(BLOCKS[max(0, min(top, round((v - lo) / (hi - lo) * top)))] for v in vals)


# --------------------------------------------------------------------------- terminal


def _when(ts) -> str:
    return time.strftime("%Y-%m-%d %H:%M", time.localtime(ts)) if ts else "?"


def render(data: dict, console=None) -> None:
    from rich.console import Console
    from rich.table import Table

    console = console or Console()
    label = " (SIMULATED toolchain: simulated times)" if data["simulated"] else ""
    tc = (data["toolchain"] or "?")[:12]
    console.print(f"[bold]simpulse report[/bold] — toolchain {tc}{label}")
    if data["empty"]:
        console.print("  " + EMPTY_MESSAGE.format(dir=data["state_dir"]), highlight=False)
        return
    series = data["series"]
    final = data["final"]
    console.print(f"  {data['compiles']} compilations replayed from the event log "
                  f"(sampled every {data['every']} compile{'s' if data['every'] != 1 else ''}; "
                  f"{len(series)} points)")

    t = Table(title=f"Learning over compilations 1 → {data['compiles']}", title_justify="left",
              header_style="bold")
    t.add_column("series")
    t.add_column("evolution", no_wrap=True)
    t.add_column("now", justify="right")
    col = lambda k: [p[k] for p in series]  # noqa: E731
    w = SPARK_WIDTH
    t.add_row("regret / compile", sparkline(col("regret_per_compile"), w, lo=0.0),
              fmt_seconds(final["regret_per_compile"]))
    t.add_row("regret, total", sparkline(col("regret_seconds"), w, lo=0.0), fmt_seconds(final["regret_seconds"]))
    t.add_row("time saved", sparkline(col("saved_seconds"), w), fmt_seconds(final["saved_seconds"]))
    t.add_row("share saved", sparkline(col("saved_fraction"), w), f"{final['saved_fraction']:.1%}")
    t.add_row("failures caught", sparkline(col("failures"), w, lo=0.0), str(final["failures"]))
    t.add_row("exploring", sparkline(col("explore_share"), w, lo=0.0, hi=1.0), f"{final['explore_share']:.0%}")
    console.print(t)
    lo, hi = final["saved_ci"]
    console.print(f"  time saved against baseline: [bold]{fmt_seconds(final['saved_seconds'])}[/bold] "
                  f"(95% CI {fmt_seconds(lo)} … {fmt_seconds(hi)}), {final['saved_fraction']:.1%} "
                  "of the estimated baseline time")

    confident_at = {}
    for m in data["milestones"]:
        if m["kind"] == "first_confident":
            confident_at.setdefault(m["context"], m["compiles"])
    def per_context(dropped):
        c = Table(title="Per context: the leading strategy and its 95% interval", title_justify="left",
                  header_style="bold")
        cols = (("context", {"overflow": "fold"}), ("pulls", {"justify": "right", "no_wrap": True}),
                ("leading", {"overflow": "fold"}), ("speedup", {"justify": "right", "no_wrap": True}),
                ("95% CI", {"justify": "right", "no_wrap": True}), ("CI width", {"no_wrap": True}),
                ("1st established", {"justify": "right", "no_wrap": True}))
        for name, kw in cols:
            if name not in dropped:
                c.add_column(name, **kw)
        for ctx, pts in data["contexts"].items():
            last = pts[-1]
            since = confident_at.get(ctx)
            cells = {"context": ctx, "pulls": str(last["pulls"]),
                     "leading": last["best"] + ("" if last["confident"] else " ?"),
                     "speedup": f"{last['speedup']:.2f}×", "95% CI": f"{last['ci'][0]:.2f}–{last['ci'][1]:.2f}",
                     "CI width": sparkline([p["width"] for p in pts], CONTEXT_SPARK_WIDTH, lo=0.0),
                     "1st established": f"#{since}" if since else "not yet"}
            c.add_row(*[v for k, v in cells.items() if k not in dropped])
        return c
    table = fit_table(per_context, console.width, ("CI width", "pulls"))
    shown = {col.header for col in table.columns}
    console.print(table)

    m = Table(title="Milestones", title_justify="left", header_style="bold")
    m.add_column("#", justify="right")
    m.add_column("when")
    m.add_column("milestone")
    for ms in data["milestones"]:
        m.add_row(str(ms["compiles"]), _when(ms["ts"]), ms["text"])
    console.print(m)
    legend = ["  speedup: > 1 is faster · # = compilation number"]
    if "CI width" in shown:
        legend.append("  CI width: the leading strategy's 95% interval as the context's pulls grow")
    legend += ["  1st established: when that interval first excluded 1.00× · ? = it still",
               "  contains 1.00× · `simpulse report --html FILE` draws the charts"]
    if "CI width" not in shown:
        legend.append("  (a wider terminal also shows how each interval narrowed: CI width)")
    for line in legend:
        console.print(line, highlight=False)


# --------------------------------------------------------------------------- command


class _ReplayProgress:
    """A transient progress bar on stderr (a terminal only, never in the output) while a report
    replays REFRESH_BACKLOG events or more: a first report of a long history takes minutes."""

    def __init__(self) -> None:
        self.prog = None

    def update(self, done: int, total: int) -> None:
        import sys
        if self.prog is None:
            if total < REFRESH_BACKLOG or not sys.stderr.isatty():
                return
            self.prog = progress_bar("report", remaining=True)
            self.prog.start()
            self.task = self.prog.add_task("replaying the event log", total=total)
        self.prog.update(self.task, completed=done, total=total)

    def stop(self) -> None:
        if self.prog is not None:
            self.prog.stop()


def report(
    state: Path | None = STATE_DIR_OPTION,
    as_json: bool = JSON_OPTION,
    html_file: Path | None = typer.Option(None, "--html", dir_okay=False,
                                          help="Write the report as one self-contained HTML file (inline SVG charts)."),
    every: int | None = typer.Option(None, "--every", min=1, help="Sample the history every N compiles (default: about 100 points)."),
):
    """How learning evolved: regret, time saved, confidence per context, milestones."""
    from simpulse.errors import SimpulseError
    sdir = state_dir(state)
    bar = _ReplayProgress()
    try:
        data = load_history(sdir, every, progress=bar.update)
    finally:
        bar.stop()
    if html_file is not None:
        out = Path(html_file).expanduser()
        try:
            tmp = out.with_name(out.name + ".tmp")
            from simpulse.commands._report_html import render_html
            tmp.write_text(render_html(data), encoding="utf-8")
            tmp.replace(out)
        except OSError as ex:
            raise SimpulseError(f"cannot write {out}: {ex.strerror or ex}") from None
    if as_json:
        print_json(data)
    elif html_file is not None:
        print(f"simpulse: report written to {html_file}"
              + (" (SIMULATED toolchain: simulated times)" if data["simulated"] else "")
              + (" — " + EMPTY_MESSAGE.format(dir=sdir) if data["empty"] else ""))
    else:
        render(data)


def register(app) -> None:
    app.command("report")(report)
