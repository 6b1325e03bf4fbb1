"""`simpulse stats`: what simpulse has learned and whether it is paying off (like `ccache -s`)."""

from __future__ import annotations

import time
from pathlib import Path

import typer

from simpulse.commands._common import (JSON_OPTION, STATE_DIR_OPTION, fit_table, fmt_seconds, fmt_speedup,
                                       learner, plural, print_json, state_dir)

ZEROED = "zeroed.json"   # in the state directory: what `stats --zero` needs to zero the time saved


LEGEND = (
    "  ✓ established: its 95% CI excludes 1.00× and it has ≥ 3 compiles here",
    "  ? not yet established · ~ chosen on evidence from other contexts",
    "  speedup: > 1 is faster · pulls: its compiles here / all compiles here",
    "  P>1: posterior probability that it beats the baseline",
)


def render(data: dict, console=None, *, simulated: bool = False) -> None:
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    from rich.padding import Padding
    from rich.text import Text

    console = console or Console(highlight=False)

    def say(text: str) -> None:
        """One line; a long one wraps at spaces under its own indentation, never cut."""
        body = text.lstrip(" ")
        indent = len(text) - len(body)
        console.print(Padding(Text.from_markup(body, overflow="fold"), (0, 0, 0, indent), expand=False))
    t = data["totals"]
    label = " (SIMULATED toolchain: simulated times)" if simulated else ""
    say(f"[bold]simpulse[/bold] — toolchain {data['toolchain'][:12]}{label}")
    if t.get("since") and data.get("zeroed"):
        say(f"  counters since {time.strftime('%Y-%m-%d %H:%M', time.localtime(t['since']))} (`stats --zero`)")
    say(f"  compilations {t['compilations']}  ·  contexts {t['contexts']}  ·  strategies {t['strategies']}")
    say(f"  exploring {t['exploring']}  ·  time in lean {fmt_seconds(t['seconds_in_lean'])}")
    from rich import box

    def build(dropped):
        table = Table(title="Per-context leaderboard", title_justify="left", header_style="bold",
                      box=box.SIMPLE_HEAD, pad_edge=False)
        cols = (("context", {"overflow": "fold"}), ("best", {"overflow": "fold"}), ("", {"width": 1}),
                ("speedup", {"justify": "right", "min_width": 7, "no_wrap": True}),
                ("95% CI", {"justify": "right", "no_wrap": True}),
                ("pulls", {"justify": "right", "no_wrap": True}), ("P>1", {"justify": "right", "no_wrap": True}))
        for col, kw in cols:
            if col not in dropped:
                table.add_column(col, **kw)
        for row in data["leaderboard"]:
            ci = row["ci"]
            if row["best"] == "baseline":
                mark = ""
            elif row.get("established", row.get("confident")):
                mark = "✓"
            else:
                mark = "~" if row.get("evidence") == "prior" else "?"
            cells = {"context": escape(row["context"]), "best": escape(row["best"]), "": mark,
                     "speedup": fmt_speedup(row["speedup"]), "95% CI": f"{ci[0]:.2f}–{ci[1]:.2f}",
                     "pulls": f"{row.get('own_pulls', 0)}/{row['pulls']}", "P>1": f"{row['confidence']:.2f}"}
            table.add_row(*[v for k, v in cells.items() if k not in dropped])
        return table
    console.print(fit_table(build, console.width, ("pulls", "P>1")))
    for line in LEGEND:
        say(line)
    for row in data["leaderboard"]:
        for name, why in row["suspended"].items():
            say(f"  suspended in {escape(row['context'])}: {escape(name)} — {escape(why)}")
    for line in (data.get("verify") or {}).get("findings", []):
        say(f"  verify: {escape(line)}")
    v = (data.get("verify") or {}).get("totals") or {}
    if v.get("comparisons") and not v.get("differing_pairs"):
        say(f"  verify: {plural(v['comparisons'], 'comparison')} in {plural(v['contexts'], 'context')}, "
            "no strategy changed a verdict, a message or an output")
    for e in data.get("imports", []):
        when = time.strftime("%Y-%m-%d %H:%M", time.localtime(e["ts"])) if e.get("ts") else "?"
        again = f"; replaced {e['replaces']}, an earlier export of the same state" if e.get("replaces") else ""
        say(f"  imported: {escape(str(e.get('source')))} at weight {e.get('weight', 1.0):g}, {when}{again}")
    for row in data["leaderboard"]:
        p = row.get("import_fit")
        if p is not None:
            verdict = ("used" if p >= 0.5 else "set aside: this context's own compiles contradict it")
            say(f"  imported evidence in {escape(row['context'])}: describes it with P = {p:.2f} ({verdict})")
    for line in data.get("parts") or ():
        say(f"  parts: {escape(line)}")
    for line in data.get("similar") or ():
        say(f"  split: {escape(line)}")
    saved = data["time_saved"]
    say(f"  time saved against baseline: [bold]{fmt_seconds(saved['seconds'])}[/bold] "
        f"(95% CI {fmt_seconds(saved['ci'][0])} … {fmt_seconds(saved['ci'][1])})")
    r = data["regret"]
    say(f"  regret: {fmt_seconds(r['cumulative_seconds'])} cumulative, "
        f"{fmt_seconds(r['recent_seconds'])} over the last {plural(r['recent_compiles'], 'compile')}")
    s = data["safety"]
    judged, floor = s.get("slower_judged"), s.get("slower_noise_share")
    if judged:
        noise = (f"; the same test on the baseline's own compiles: {floor:.1%} (timing noise and load)"
                 if floor is not None else "")
        say(f"  safety: {s['slower_than_baseline']} of {plural(judged, 'compile')} under a strategy ran over 5% "
            f"slower than the module's baseline ({s['slower_judged_share']:.1%}){noise}")
    elif judged is None:      # counters begun by an earlier version, which did not count them
        say(f"  safety: {s['slower_share']:.1%} of compiles slower than baseline")
    else:
        say("  safety: no compile under a strategy of a module whose baseline is known yet")
    say(f"  safety: {plural(s['strategy_failures_caught'], 'strategy failure')} caught by fallback "
        f"({fmt_seconds(s['fallback_seconds'])})")
    say(f"  safety: {plural(s['modules_failed'], 'genuinely broken compile')} (they fail under lake build too)")
    for tc in data["toolchains"]:
        when = time.strftime("%Y-%m-%d", time.localtime(tc["last"])) if tc["last"] else "?"
        mark = "current" if tc["current"] else "discounted prior"
        say(f"  toolchain {tc['githash'][:12]} ({mark}): {plural(tc['compiles'], 'compile')}, "
            f"{plural(tc['contexts'], 'context')}, {plural(tc['modules'], 'module')}, last {when}")


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
    zero: bool = typer.Option(False, "--zero", "-z", help="Zero every counter shown — compilations, time, time saved, "
                              "regret, safety — like `ccache -z` (the event log and what was learned are kept)."),
):
    """Totals, per-context leaderboard, time saved, regret, safety record, toolchains."""
    from simpulse.stats.summary import summary
    sdir = state_dir(state)
    lrn = learner(sdir)
    if zero:
        reset_counters(lrn, sdir)
        if not as_json:
            print("simpulse: counters zeroed, time saved included (the event log and what was learned are kept)")
    zeroed = read_zeroed(sdir)
    data = summary(lrn, zeroed)
    data["zeroed"] = bool(zeroed) and zeroed.get("since") == data["totals"].get("since")
    data["verify"] = verify_evidence(sdir)
    from simpulse.model.similar import split_lines
    from simpulse.model.parts import lines as part_lines
    data["parts"] = part_lines(lrn.stats)    # contexts split into parts (model/parts.py)
    data["similar"] = split_lines(lrn)       # modules that follow their neighbours (model/similar.py)
    if as_json:
        print_json(data)
    elif not zero:
        render(data, simulated=data["simulated"])



def reset_counters(lrn, sdir: Path) -> None:
    """`stats --zero`: a `reset` event zeroes the learner's counters; the seconds each strategy
    has compiled so far (which the time saved is computed from, and which are learning
    statistics, not counters) are noted in ZEROED, so that the time saved counts from now."""
    import json
    from simpulse.errors import SimpulseError
    ts = time.time()
    secs = {name: tc.get("secs", {}) for name, tc in lrn.stats["toolchains"].items()}
    path = sdir / ZEROED
    try:
        from simpulse.store.atomic import write_atomic
        write_atomic(path, (json.dumps({"since": ts, "secs": secs}, sort_keys=True) + "\n").encode())
    except OSError as e:
        raise SimpulseError(f"cannot zero the counters: {path}: {e.strerror or e}") from None
    lrn.record_event({"v": 1, "kind": "reset", "id": "", "ts": ts})


def read_zeroed(sdir: Path) -> dict | None:
    import json
    try:
        data = json.loads((sdir / ZEROED).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) and isinstance(data.get("secs"), dict) else None


def register(app) -> None:
    app.command("stats")(stats)
