"""`simpulse recommend FILE`: the strategy a build would run for a module now, and why.

Without `--explore`: what the build runs when it does not explore — `Learner.exploit` (the best
posterior mean among the candidates), then the mode (`confident`: only with P(beats baseline) ≥
0.8; `shadow`: baseline) — the same answer every time for the same state. `--explore` makes one
draw as a build does (`Learner.choose`, `--seed` to repeat it). Every active strategy is shown
with its expected speedup (break risk included), its break risk in this context, and why it is
not the one recommended. Nothing is recorded. Works without a built state (priors only); FILE
must be a .lean file.
"""

from __future__ import annotations

from pathlib import Path

import typer

from simpulse.commands._common import JSON_OPTION, STATE_DIR_OPTION, fmt_faster, fmt_speedup, learner, print_json


def prior_sources(lrn, ctx: str, strategy) -> dict:
    """Where the posterior of (ctx, strategy) gets its evidence: own pulls in the context, the
    other contexts (shared prior), an earlier toolchain (discounted prior), the built-in prior."""
    from simpulse import learner as L
    own = lrn.arm(ctx, strategy.name)
    own_pulls, own_weight = own.pulls, own.weight
    others = max(0.0, lrn.strategy_totals(strategy.name).weight - own_weight)
    prev_name, prev_weight = None, 0.0
    earlier = lrn.earlier_evidence(ctx, strategy)
    if earlier is not None:
        prev_weight = min(earlier[1] * L.TOOLCHAIN_DISCOUNT, L.TOOLCHAIN_CAP)
        if prev_weight > 0:
            prev_name = lrn.earlier_toolchain()
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
    file: Path = typer.Argument(..., help="A Lean source file (.lean)."),
    explore: bool = typer.Option(False, "--explore", help="Sample as a build does (it may explore) instead of "
                                 "showing what a build runs when it does not explore."),
    seed: int | None = typer.Option(None, "--seed", help="With --explore: seed the draw, for a reproducible answer."),
    state: Path | None = STATE_DIR_OPTION,
    as_json: bool = JSON_OPTION,
):
    """What a build would run for FILE (without exploring), its expected speedup, break risk and why.

    Also the other strategies and why not them. --explore samples as a build does instead."""
    from simpulse.commands._common import state_dir
    from simpulse.commands.classify import ModuleFile
    from simpulse.errors import SimpulseError

    if seed is not None and not explore:
        raise SimpulseError("--seed only applies with --explore (without it the answer is not random)")
    from simpulse.store.safe_open import UnsafeStateDir
    mf = ModuleFile(file)
    try:
        sdir = state_dir(state, must_exist=False)
    except UnsafeStateDir:
        raise                   # a directory given that is not a state: said, not ignored
    except SimpulseError:
        sdir = None
    if sdir is not None and not sdir.is_dir():
        sdir = None
    lrn = learner(sdir, seed=seed)
    c = mf.classification
    if explore:
        d = lrn.choose(module=mf.module, source=mf.source, path=mf.rel, context=c.context, features=c.features)
        d.source_hash = c.source_hash
        data = dict(d.to_json())
    else:
        data = exploit_decision(lrn, mf)
    data["sampled"] = explore
    view = lrn.toolchain_view()
    simulated = bool(view and view.simulated)
    ctx = data["context"]
    data.update({
        "file": mf.rel, "state_dir": str(sdir) if sdir else None, "simulated": simulated,
        "description": lrn.catalogue.get(data["strategy"]).description,
        "prior": prior_sources(lrn, ctx, lrn.catalogue.get(data["strategy"])),
        "context_reasons": list(c.reasons),
        "profile": getattr(lrn.catalogue, "profile", None),
        "outside_profile": sorted(n for n in lrn.catalogue.all if n not in {s.name for s in lrn.catalogue.active}),
    })
    data["arms"] = arm_rows(lrn, ctx, mf, data)
    data["leader"] = data["arms"][0]["strategy"] if data["arms"] else data["strategy"]
    data["why_not"] = why_not_line(data)
    from simpulse.model.similar import explain, own_clean
    data["similar"] = explain(lrn, ctx, mf.module, c.features)     # what the modules most like it say
    data["own_clean"] = own_clean(lrn, mf.module)                  # ... and its own clean compiles
    from simpulse.commands.stats import verify_evidence
    from simpulse.model.parts import parent
    data["verify"] = (verify_evidence(sdir, parent(ctx)) if sdir is not None     # recorded per context
                      else {"totals": {"comparisons": 0, "contexts": 0, "differing_pairs": 0},
                            "strategies": [], "findings": []})
    if as_json:
        print_json(data)
        return
    render(data)


def exploit_decision(lrn, mf) -> dict:
    """What a build runs for the module when it does not explore, in the learner's mode."""
    from simpulse.learner import CONFIDENT
    c = mf.classification
    ctx = lrn.part(c.context, mf.module, c.features)       # the part of its context it compiles in
    best = lrn.exploit(c.context, module=mf.module, source_hash=c.source_hash, features=c.features, part=ctx)
    arms = {a.strategy: a for a in lrn.summary(ctx)}
    suspended = [n for n, a in arms.items() if a.suspended]
    p_best = arms[best].prob_better if best in arms and best != "baseline" else 0.0
    chosen, recommended = best, None
    if best == "baseline":
        reason = "no candidate is expected to beat the baseline"
    else:
        reason = "the best expected speedup of the candidates"
    if lrn.mode == "shadow":
        chosen, recommended = "baseline", best
        reason = f"shadow mode: would run {best}; compiles baseline"
    elif lrn.mode == "confident" and best != "baseline":
        if p_best >= CONFIDENT:
            reason = f"confident mode: P(beats baseline) = {p_best:.2f} ≥ {CONFIDENT}"
        else:
            chosen = "baseline"
            reason = f"confident mode: {best} leads but P(beats baseline) = {p_best:.2f} < {CONFIDENT}"
    if chosen == "baseline":
        others = [a.prob_better for n, a in arms.items() if n != "baseline"]
        speed, ci, conf = 1.0, (1.0, 1.0), (1.0 - max(others)) if others else 1.0
    else:
        a = arms[chosen]
        speed, ci, conf = a.speedup, a.speedup_ci, a.prob_better
    return {"id": None, "module": mf.module, "path": mf.rel, "context": ctx, "strategy": chosen,
            "policy": lrn.policy_name, "mode": lrn.mode, "explore": False, "expected_speedup": speed,
            "ci": list(ci), "confidence": conf, "reason": reason, "toolchain": lrn.toolchain,
            "recommended": recommended, "suspended": suspended, "source_hash": c.source_hash,
            "import_bf": None}


def arm_rows(lrn, ctx: str, mf, data: dict) -> list[dict]:
    """Every active strategy in the context, best expected speedup first: its numbers, its break
    risk, and why it is not the recommendation (None for the recommendation itself)."""
    from simpulse.learner import CONFIDENT
    joint = lrn.joint_posterior(ctx)
    breakage = joint.breakage
    broke = lrn.known_failures(mf.module, mf.classification.source_hash)
    chosen = data["strategy"]
    by_name = {a.strategy: a for a in lrn.summary(ctx)}
    ch = by_name.get(chosen)
    rows = []
    for a in sorted(by_name.values(), key=lambda a: (-a.speedup, a.strategy)):
        entry = breakage.get(a.strategy)
        risk = entry[0] / (entry[0] + entry[1]) if entry else 0.0
        row = {"strategy": a.strategy, "pulls": a.pulls, "fails": a.fails, "speedup": a.speedup,
               "ci": list(a.speedup_ci), "prob_better": a.prob_better, "suspended": a.suspended,
               "break_risk": risk, "may_break": bool(entry), "broke_this_module": a.strategy in broke}
        if a.strategy == chosen:
            why = None
        elif a.suspended:
            why = f"suspended here: {a.suspended}"
        elif a.strategy in broke:
            why = "it broke this version of the module: not retried until the source or the toolchain changes"
        elif data["mode"] == "shadow" and a.strategy == data.get("recommended"):
            why = "shadow mode: recommended, but the build compiles baseline"
        elif data["mode"] == "confident" and chosen == "baseline" and a.strategy != "baseline":
            why = f"confident mode: P(beats baseline) = {a.prob_better:.2f}, below {CONFIDENT}"
        elif data.get("sampled") and a.speedup > (ch.speedup if ch else 1.0):
            why = f"this draw explores {chosen} instead (--explore samples as a build does)"
        elif a.strategy == "baseline":
            why = f"{chosen} is expected faster (P = {data['confidence']:.2f})"
        else:
            base = ch.speedup if ch else 1.0
            known = "" if a.pulls else ", nothing measured here yet"
            why = f"expected {fmt_speedup(a.speedup)}{known}: no better than {chosen}'s {fmt_speedup(base)}"
            if risk >= 0.05:
                why += f" (its break risk here: {risk:.0%})"
        row["why_not"] = why
        rows.append(row)
    return rows


def why_not_line(data: dict) -> dict | None:
    """The one "why not X" that matters: the leader (best expected speedup) when it is not the
    recommendation, otherwise the runner-up."""
    others = [r for r in data["arms"] if r["strategy"] != data["strategy"]]
    leader = data["arms"][0] if data["arms"] else None
    pick = leader if leader is not None and leader["strategy"] != data["strategy"] else (others[0] if others else None)
    if pick is None or not pick["why_not"]:
        return None
    return {"strategy": pick["strategy"], "why": pick["why_not"]}


def render(data: dict) -> None:
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table
    from rich import box

    console = Console(highlight=False)
    sim = " (SIMULATED toolchain: simulated times)" if data["simulated"] else ""
    console.print(f"[bold]{escape(data['file'])}[/bold] ({escape(data['module'])}): context "
                  f"[bold]{data['context']}[/bold]{sim}")
    if data["state_dir"] is None:
        console.print("  no simpulse state here: priors only (run `simpulse build` to learn)")
    lo, hi = data["ci"]
    what = "this draw runs" if data["sampled"] else "a build runs"
    console.print(f"  {what}: [bold]{data['strategy']}[/bold] — {escape(data['description'])}")
    if data.get("recommended") and data["recommended"] != data["strategy"]:
        console.print(f"  (shadow mode: would run {data['recommended']})")
    row = next((r for r in data["arms"] if r["strategy"] == data["strategy"]), None)
    risk = f", break risk here {row['break_risk']:.0%}" if row and row["may_break"] else ""
    if data["strategy"] == "baseline":
        console.print(f"  expected: Lake's own time (1.00×); the best other candidate beats it with "
                      f"P = {1 - data['confidence']:.2f}")
    else:
        console.print(f"  expected {fmt_faster(data['expected_speedup'])} (95% CI {lo:.2f}–{hi:.2f}), "
                      f"P(beats baseline) {data['confidence']:.2f}{risk}")
    if data["sampled"]:
        how = f"{'exploring' if data['explore'] else 'exploiting'} ({data['policy']}, mode {data['mode']})"
        reason = data["reason"] or ""
        special = "" if reason.startswith(("exploring (", "exploiting (")) else f"; {reason}"
        console.print(f"  why: {escape(how + special)}")
    else:
        console.print(f"  why: {escape(data['reason'])} (mode {data['mode']}; --explore samples as a build does)")
    if data.get("why_not"):
        console.print(f"  why not {data['why_not']['strategy']}: {escape(data['why_not']['why'])}")
    console.print(f"  evidence: {escape(data['prior']['main'])}")
    for line in data.get("similar") or ():
        console.print(f"  like: {escape(line)}")
    for own in data.get("own_clean") or ():
        times = "once" if own["compiles"] == 1 else f"{own['compiles']} times"
        console.print(f"  own: {escape(own['strategy'])} compiled this module cleanly {times}: its break risk "
                      f"here {own['risk']:.1%} ({own['risk_before']:.1%} without those compiles)")
    if data["suspended"]:
        console.print(f"  suspended in this context: {', '.join(data['suspended'])}")
    if data.get("outside_profile"):
        console.print(f"  not candidates under profile {data.get('profile') or '?'}: "
                      f"{escape(', '.join(data['outside_profile']))}")
    for line in (data.get("verify") or {}).get("findings", []):
        console.print(f"  verify: {escape(line)}")
    table = Table(title=f"strategies in context {data['context']}", title_justify="left", header_style="bold",
                  box=box.SIMPLE_HEAD, pad_edge=False,
                  caption="speedup: > 1 is faster, its break risk included · P>1: P(beats baseline) · "
                          "risk: the share of this context's modules it is expected to break",
                  caption_justify="left")
    for col in ("strategy", "pulls", "speedup", "95% CI", "P>1", "risk", "note"):
        table.add_column(col, justify="left" if col in ("strategy", "note") else "right",
                         no_wrap=col != "note", overflow="fold")
    for a in data["arms"]:
        if a["strategy"] == data["strategy"]:
            note = "[bold]← recommended[/bold]" if not data["sampled"] else "[bold]← this draw[/bold]"
        elif a["suspended"]:
            note = "suspended"
        elif a["broke_this_module"]:
            note = "broke this module"
        else:
            note = ""
        table.add_row(a["strategy"], str(a["pulls"]), fmt_speedup(a["speedup"]),
                      f"{a['ci'][0]:.2f}–{a['ci'][1]:.2f}",
                      "—" if a["strategy"] == "baseline" else f"{a['prob_better']:.2f}",
                      f"{a['break_risk']:.0%}" if a["may_break"] else "—", note)
    console.print(table)


def register(app) -> None:
    app.command("recommend")(recommend)
