"""`simpulse record FILE CONTEXT STRATEGY BASELINE_S OPTIMIZED_S`: an outcome measured elsewhere.

Writes one ``record`` event (a paired observation: the strategy's time against its own
baseline time) and shows how the learner's view of (context, strategy) moved.
"""

from __future__ import annotations

import math
import os
import re
import time
from pathlib import Path

import typer

from simpulse.commands._common import JSON_OPTION, STATE_DIR_OPTION, fmt_seconds, fmt_speedup, print_json

_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


# A plausible compile time: more than a microsecond, at most a day.
MIN_SECONDS, MAX_SECONDS = 1e-6, 86400.0


def parse_seconds(raw: str, what: str) -> float:
    from simpulse.errors import SimpulseError
    try:
        x = float(raw)
    except (TypeError, ValueError):
        raise SimpulseError(f"{what} must be a number of seconds, got {raw!r}") from None
    if not math.isfinite(x) or not MIN_SECONDS < x <= MAX_SECONDS:
        raise SimpulseError(f"{what} must be a compile time in seconds, more than {MIN_SECONDS:g} and at most "
                            f"{MAX_SECONDS:g} (24 h), got {raw!r}")
    return x


def _posterior(lrn, ctx: str, strategy) -> dict:
    arm = lrn.arm(ctx, strategy.name)
    if strategy.is_baseline:
        return {"speedup": 1.0, "ci": [1.0, 1.0], "prob_better": 0.5, "pulls": arm.pulls, "weight": arm.weight}
    post = lrn.arm_posterior(ctx, strategy)
    lo, hi = post.interval()
    return {"speedup": math.exp(-post.mu), "ci": [math.exp(-hi), math.exp(-lo)],
            "prob_better": post.prob_below(0.0), "pulls": arm.pulls, "weight": round(arm.weight, 6),
            "suspended": lrn.suspension(ctx, strategy.name)}


def record(
    file: Path = typer.Argument(..., help="The module's source file (a .lean file of this workspace)."),
    context: str = typer.Argument(..., help="Its context (see `simpulse classify`)."),
    strategy: str = typer.Argument(..., help="The strategy measured (see `simpulse strategies`)."),
    baseline_s: str = typer.Argument(..., metavar="BASELINE_S", help="Baseline compile time, seconds."),
    optimized_s: str = typer.Argument(..., metavar="OPTIMIZED_S", help="Compile time under STRATEGY, seconds."),
    failed: bool = typer.Option(False, "--failed", help="The strategy broke the module (OPTIMIZED_S is the failed attempt)."),
    decision: str | None = typer.Option(None, "--decision", help="The id of the decision this outcome answers."),
    state: Path | None = STATE_DIR_OPTION,
    as_json: bool = JSON_OPTION,
):
    """Record an outcome measured elsewhere (the earlier Simpulse's interface)."""
    from simpulse.commands._common import learner, state_dir
    from simpulse.context.classify import CONTEXTS
    from simpulse.errors import SimpulseError

    if context not in CONTEXTS:
        raise SimpulseError(f"unknown context {context!r} (known: {', '.join(CONTEXTS)})")
    base = parse_seconds(baseline_s, "BASELINE_S")
    wall = parse_seconds(optimized_s, "OPTIMIZED_S")
    p = Path(file).expanduser()
    try:
        str(p).encode("utf-8")
    except UnicodeEncodeError:
        raise SimpulseError(f"FILE: the name {str(p)!r} is not valid UTF-8") from None
    if p.suffix != ".lean" or not p.is_file():
        raise SimpulseError(f"FILE: {p} is not a .lean file here (record the module's source file)")
    if decision is not None and not _ID.match(decision):
        raise SimpulseError(f"--decision must be an id of letters, digits, '-' or '_', got {decision!r}")
    sdir = state_dir(state, must_exist=False)
    lrn = learner(sdir if sdir.is_dir() else None)       # validate before creating anything
    strat = lrn.catalogue.get(strategy)
    if strat.is_baseline and failed:
        raise SimpulseError("--failed: the baseline cannot fail against itself (a broken module is not a strategy's fault)")
    if not sdir.is_dir():
        lrn = learner(sdir, create=True)
    before = _posterior(lrn, context, strat)
    from simpulse.commands.classify import ModuleFile
    mf = ModuleFile(p)
    rel, module, source_hash = mf.rel, mf.module, mf.classification.source_hash
    event = {
        "v": 1, "kind": "record", "id": os.urandom(8).hex(), "ts": time.time(), "source": "record",
        "toolchain": lrn.toolchain, "module": module, "path": rel, "source_hash": source_hash,
        "context": context, "strategy": strat.name, "baseline_wall": round(base, 6), "wall": round(wall, 6),
        "outcome": "strategy_failed" if failed else "ok", "decision": decision,
    }
    if failed:
        # The learner charges a failure log((t_failed + t_baseline) / t_baseline) from fallback_wall.
        event["fallback_wall"] = round(base, 6)
    lrn.record_event(event)
    after = _posterior(lrn, context, strat)
    view = lrn.toolchain_view()
    simulated = bool(view and view.simulated)
    data = {"event": event, "speedup": base / wall, "failed": failed, "before": before, "after": after,
            "toolchain": lrn.toolchain, "state_dir": str(sdir), "simulated": simulated}
    if as_json:
        print_json(data)
        return
    from rich.console import Console
    from rich.markup import escape
    console = Console()
    if failed:
        console.print(f"simpulse: recorded a failure of {strat.name} on {escape(rel)} ({context}): "
                      f"{fmt_seconds(wall)} lost before the baseline's {fmt_seconds(base)}")
    else:
        console.print(f"simpulse: recorded {strat.name} on {escape(rel)} ({context}): {fmt_seconds(base)} → "
                      f"{fmt_seconds(wall)}, speedup {fmt_speedup(base / wall)}")
    if strat.is_baseline:
        console.print("  baseline is the reference: nothing changes in what is learned")
        return
    sim = ", statistics of a SIMULATED toolchain" if simulated else ""
    console.print(f"  learner, {context} × {strat.name} (toolchain {lrn.toolchain[:12]}{sim}):")
    for label, s in (("before", before), ("after", after)):
        sus = f", suspended: {s['suspended']}" if s.get("suspended") else ""
        console.print(f"    {label:6} speedup {fmt_speedup(s['speedup'])} (95% CI {s['ci'][0]:.2f}–{s['ci'][1]:.2f}), "
                      f"P(beats baseline) {s['prob_better']:.2f}, {s['pulls']} pulls{escape(sus)}")


def register(app) -> None:
    app.command("record", context_settings={"ignore_unknown_options": True})(record)
