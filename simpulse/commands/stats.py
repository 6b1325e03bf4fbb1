"""`simpulse stats`: what simpulse has learned and whether it is paying off (like `ccache -s`)."""

from __future__ import annotations

import time
from pathlib import Path

import typer

from simpulse.commands._common import (JSON_OPTION, STATE_DIR_OPTION, fmt_seconds, fmt_speedup,
                                       learner, print_json, state_dir)


def render(data: dict, console=None, *, simulated: bool = False) -> None:
    from rich.console import Console
    from rich.table import Table

    console = console or Console()
    t = data["totals"]
    label = " (SIMULATED toolchain: simulated times)" if simulated else ""
    console.print(f"[bold]simpulse[/bold] — toolchain {data['toolchain'][:12]}{label}")
    console.print(f"  compilations {t['compilations']}  ·  contexts {t['contexts']}  ·  "
                  f"strategies {t['strategies']}  ·  exploring {t['exploring']}  ·  "
                  f"time in lean {fmt_seconds(t['seconds_in_lean'])}")
    from rich import box
    table = Table(title="Per-context leaderboard", title_justify="left", header_style="bold",
                  box=box.SIMPLE_HEAD, pad_edge=False)
    for col, kw in (("context", {"no_wrap": True}), ("best", {"no_wrap": True}), ("", {"width": 1}),
                    ("speedup", {"justify": "right", "min_width": 7}),
                    ("95% CI", {"justify": "right", "no_wrap": True}),
                    ("pulls", {"justify": "right"}), ("P>1", {"justify": "right"})):
        table.add_column(col, **kw)
    for row in data["leaderboard"]:
        ci = row["ci"]
        if row["best"] == "baseline":
            mark = ""
        elif row["confident"]:
            mark = "✓"
        else:
            mark = "~" if row.get("evidence") == "prior" else "?"
        table.add_row(row["context"], row["best"], mark, fmt_speedup(row["speedup"]),
                      f"{ci[0]:.2f}–{ci[1]:.2f}", f"{row.get('own_pulls', 0)}/{row['pulls']}",
                      f"{row['confidence']:.2f}")
    console.print(table)
    console.print("  ✓ confident (95% CI excludes 1, ≥ 3 compiles of it here) · ? not yet · ~ chosen on "
                  "evidence shared from other contexts · pulls: its compiles here / all compiles here · "
                  "P>1: posterior probability that it beats the baseline")
    for row in data["leaderboard"]:
        for name, why in row["suspended"].items():
            console.print(f"  suspended in {row['context']}: {name} — {why}")
    for line in (data.get("verify") or {}).get("findings", []):
        console.print(f"  verify: {line}")
    v = (data.get("verify") or {}).get("totals") or {}
    if v.get("comparisons") and not v.get("differing_pairs"):
        console.print(f"  verify: {v['comparisons']} comparisons in {v['contexts']} contexts, no strategy changed "
                      "a verdict, a message or an output")
    for e in data.get("imports", []):
        when = time.strftime("%Y-%m-%d %H:%M", time.localtime(e["ts"])) if e.get("ts") else "?"
        again = f"; replaced {e['replaces']}, an earlier export of the same state" if e.get("replaces") else ""
        console.print(f"  imported: {e.get('source')} at weight {e.get('weight', 1.0):g}, {when}{again}")
    for row in data["leaderboard"]:
        p = row.get("import_fit")
        if p is not None:
            verdict = ("used" if p >= 0.5 else "set aside: this context's own compiles contradict it")
            console.print(f"  imported evidence in {row['context']}: describes it with P = {p:.2f} ({verdict})")
    saved = data["time_saved"]
    console.print(f"  time saved against baseline: [bold]{fmt_seconds(saved['seconds'])}[/bold] "
                  f"(95% CI {fmt_seconds(saved['ci'][0])} … {fmt_seconds(saved['ci'][1])})")
    r = data["regret"]
    console.print(f"  regret: {fmt_seconds(r['cumulative_seconds'])} cumulative, "
                  f"{fmt_seconds(r['recent_seconds'])} over the last {r['recent_compiles']} compiles")
    s = data["safety"]
    console.print(f"  safety: {s['slower_share']:.1%} of compiles slower than baseline, "
                  f"{s['strategy_failures_caught']} strategy failures caught by fallback "
                  f"({fmt_seconds(s['fallback_seconds'])}), {s['modules_failed']} genuinely broken compiles")
    for tc in data["toolchains"]:
        when = time.strftime("%Y-%m-%d", time.localtime(tc["last"])) if tc["last"] else "?"
        mark = " (current)" if tc["current"] else " (discounted prior)"
        console.print(f"  toolchain {tc['githash'][:12]}{mark}: {tc['compiles']} compiles, "
                      f"{tc['contexts']} contexts, {tc['modules']} modules, last {when}")


def verify_evidence(sdir: Path, context: str | None = None) -> dict:
    """What `simpulse verify` observed (``<state_dir>/verify.json``), for display: the totals,
    one row per (context, strategy), and the findings as sentences."""
    from simpulse.store import verdicts
    from simpulse.verify import evidence as E
    rs = E.rows(verdicts.read(sdir), context)
    return {"totals": E.totals(rs), "strategies": rs, "findings": E.lines(rs)}


def stats(
    state: Path | None = STATE_DIR_OPTION,
    as_json: bool = JSON_OPTION,
    zero: bool = typer.Option(False, "--zero", "-z", help="Reset the counters (the event log and what was learned are kept)."),
):
    """Totals, per-context leaderboard, time saved, regret, safety record, toolchains."""
    from simpulse.stats.summary import summary
    sdir = state_dir(state)
    lrn = learner(sdir)
    if zero:
        lrn.record_event({"v": 1, "kind": "reset", "id": "", "ts": time.time()})
        if not as_json:
            print("simpulse: counters reset (the event log and what was learned are kept)")
    data = summary(lrn)
    data["verify"] = verify_evidence(sdir)
    if as_json:
        print_json(data)
    elif not zero:
        render(data, simulated=data["simulated"])



def register(app) -> None:
    app.command("stats")(stats)
