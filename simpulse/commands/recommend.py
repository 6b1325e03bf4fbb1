"""`simpulse recommend FILE`: the strategy simpulse would use for a module now, and why.

A `Learner.choose` on the module without recording anything. Works without a built state (the
strategies' priors only); FILE must exist.
"""

from __future__ import annotations

from pathlib import Path

import typer

from simpulse.commands._common import JSON_OPTION, STATE_DIR_OPTION, fmt_speedup, learner, print_json


def prior_sources(lrn, ctx: str, strategy) -> dict:
    """Where the posterior of (ctx, strategy) gets its evidence: own pulls in the context, the
    other contexts (shared prior), an earlier toolchain (discounted prior), the built-in prior."""
    from simpulse import learner as L
    tc, prev = lrn._tc_chain()
    arm = tc["arms"].get(ctx, {}).get(strategy.name) if tc else None
    glob = tc["glob"].get(strategy.name) if tc else None
    own_pulls = int(arm[3]) if arm else 0
    own_weight = float(arm[0]) if arm else 0.0
    others = max(0.0, float(glob[0]) - own_weight) if glob else 0.0
    prev_name, prev_weight = None, 0.0
    earlier = lrn.earlier_evidence(ctx, strategy, prev)
    if earlier is not None:
        prev_weight = min(earlier[1] * L.TOOLCHAIN_DISCOUNT, L.TOOLCHAIN_CAP)
        if prev_weight > 0:
            for name in reversed(lrn.stats["order"]):
                if name != lrn.toolchain:
                    prev_name = name
                    break
    shared = min(others, L.SHARE_KAPPA)
    if strategy.is_baseline:
        main = "baseline is the reference (no effect by definition)"
    elif own_pulls >= 3 and own_weight >= max(shared, prev_weight):
        main = f"own pulls: {own_pulls} compiles in this context"
    elif shared > 0 and shared >= prev_weight:
        main = "shared prior from other contexts"
    elif prev_weight > 0:
        main = f"earlier toolchain {prev_name[:12]} (discounted)"
    elif own_pulls:
        main = f"own pulls: {own_pulls} compiles in this context"
    else:
        main = "the strategy's built-in prior only (nothing measured yet)"
    return {"main": main, "own_pulls": own_pulls, "own_weight": round(own_weight, 4),
            "other_contexts_weight": round(others, 4), "shared_weight_used": round(shared, 4),
            "earlier_toolchain": prev_name, "earlier_toolchain_weight": round(prev_weight, 4),
            "builtin_prior": {"mean_log_speedup": strategy.prior_mean, "strength": strategy.prior_strength}}


def recommend(
    file: Path = typer.Argument(..., help="A Lean source file."),
    seed: int | None = typer.Option(None, "--seed", help="Seed the (randomised) choice, for a reproducible answer."),
    state: Path | None = STATE_DIR_OPTION,
    as_json: bool = JSON_OPTION,
):
    """The context of FILE, the strategy simpulse would use, its expected speedup and why."""
    from simpulse.commands._common import state_dir
    from simpulse.commands.classify import ModuleFile
    from simpulse.errors import SimpulseError

    mf = ModuleFile(file)
    try:
        sdir = state_dir(state, must_exist=False)
    except SimpulseError:
        sdir = None
    if sdir is not None and not sdir.is_dir():
        sdir = None
    lrn = learner(sdir, seed=seed)
    c = mf.classification
    d = lrn.choose(module=mf.module, source=mf.source, path=mf.rel, context=c.context, features=c.features)
    d.source_hash = c.source_hash
    tc = lrn.stats["toolchains"].get(lrn.toolchain) or {}
    simulated = bool(tc.get("simulated"))
    prior = prior_sources(lrn, d.context, d.strategy)
    arms = lrn.summary(d.context)
    data = dict(d.to_json())
    data.update({
        "file": mf.rel, "state_dir": str(sdir) if sdir else None, "simulated": simulated,
        "description": d.strategy.description, "prior": prior,
        "context_reasons": list(c.reasons),
        "arms": [{"strategy": a.strategy, "pulls": a.pulls, "fails": a.fails, "speedup": a.speedup,
                  "ci": list(a.speedup_ci), "prob_better": a.prob_better, "suspended": a.suspended}
                 for a in arms],
    })
    from simpulse.commands.stats import verify_evidence
    data["verify"] = (verify_evidence(sdir, d.context) if sdir is not None
                      else {"totals": {"comparisons": 0, "contexts": 0, "differing_pairs": 0},
                            "strategies": [], "findings": []})
    if as_json:
        print_json(data)
        return
    render(data)


def render(data: dict) -> None:
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    console = Console()
    sim = " (SIMULATED toolchain: simulated times)" if data["simulated"] else ""
    console.print(f"[bold]{escape(data['file'])}[/bold] ({escape(data['module'])}): context "
                  f"[bold]{data['context']}[/bold]{sim}")
    if data["state_dir"] is None:
        console.print("  no simpulse state here: priors only (run `simpulse build` to learn)")
    lo, hi = data["ci"]
    console.print(f"  strategy: [bold]{data['strategy']}[/bold] — {escape(data['description'])}")
    if data.get("recommended") and data["recommended"] != data["strategy"]:
        console.print(f"  (shadow mode: would run {data['recommended']})")
    console.print(f"  expected speedup {fmt_speedup(data['expected_speedup'])} (95% CI {lo:.2f}–{hi:.2f}), "
                  f"confidence {data['confidence']:.2f}")
    how = f"{'exploring' if data['explore'] else 'exploiting'} ({data['policy']}, mode {data['mode']})"
    reason = data["reason"] or ""
    special = "" if reason.startswith(("exploring (", "exploiting (")) else f"; {reason}"
    console.print(f"  why: {escape(how + special)}")
    console.print(f"  evidence: {escape(data['prior']['main'])}")
    if data["suspended"]:
        console.print(f"  suspended in this context: {', '.join(data['suspended'])}")
    for line in (data.get("verify") or {}).get("findings", []):
        console.print(f"  verify: {escape(line)}")
    table = Table(title=f"strategies in context {data['context']}", title_justify="left", header_style="bold")
    for col in ("strategy", "pulls", "speedup", "95% CI", "P(beats baseline)", "suspended"):
        table.add_column(col, justify="left" if col in ("strategy", "suspended") else "right")
    for a in data["arms"]:
        table.add_row(a["strategy"], str(a["pulls"]), fmt_speedup(a["speedup"]),
                      f"{a['ci'][0]:.2f}–{a['ci'][1]:.2f}", f"{a['prob_better']:.2f}", escape(a["suspended"] or "—"))
    console.print(table)


def register(app) -> None:
    app.command("recommend")(recommend)
