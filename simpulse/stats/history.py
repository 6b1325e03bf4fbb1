"""How learning evolved: the event log replayed through the learner (data for `simpulse report`).

The events are folded one by one with `simpulse.learner.fold` into a fresh `empty_stats()`,
exactly as the shim folded them, and the posteriors are read through a `Learner(None)` whose
statistics are the replayed ones. `reset` events are *not* replayed: they only zero the
counters of `simpulse stats`, and the history is about the whole log.

Sampling. A checkpoint is taken every `every` compiles (default: about 100 checkpoints over the
history) and after the last event. At a checkpoint: cumulative regret, time spent in Lean, the
estimated time saved against baseline with its interval (`simpulse.stats.summary.time_saved`:
the current posteriors applied to the time spent so far), failures caught, and for every context
of the current toolchain the leading strategy with its 95% speedup interval.

Milestones are checked after every compile for the compile's context (first confident strategy,
first suspension), at every event for failures and toolchains, and at checkpoints for the time
saved (so a time-saved milestone is dated by the checkpoint that first saw it).
"""

from __future__ import annotations

import math
from typing import Iterable

from simpulse.learner import BASELINE, ArmSummary, Learner, empty_stats, fold
from simpulse.policy import posterior as P

TARGET_POINTS = 100
SAVED_MILESTONE = 0.10


def _summary(learner: Learner, ctx: str) -> list[ArmSummary]:
    """`learner.summary(ctx)`, the context's joint posterior solved once for every strategy
    (`summary` solves it once per strategy, and the replay asks after every compile): the same
    numbers, ~5× less work per event."""
    tc, _ = learner._tc_chain()
    joint = learner.joint_posterior(ctx)
    out = []
    for s in learner.catalogue.active:
        arm = (tc["arms"].get(ctx, {}).get(s.name) if tc else None) or P.new_arm()
        if s.is_baseline:
            out.append(ArmSummary(s.name, int(arm[3]), int(arm[4]), 0.0, (0.0, 0.0), 0.5, None))
            continue
        post = learner.arm_posterior(ctx, s, joint)
        out.append(ArmSummary(s.name, int(arm[3]), int(arm[4]), post.mu, post.interval(),
                              post.prob_below(0.0), learner.suspension(ctx, s.name, joint)))
    return out


def _best_arm(learner: Learner, ctx: str):
    """The leading non-baseline, non-suspended arm of `ctx` (by posterior mean), and all arms."""
    arms = _summary(learner, ctx)
    cands = [a for a in arms if a.strategy != BASELINE and not a.suspended]
    return min(cands, key=lambda a: a.mean, default=None), arms


def _context_point(learner: Learner, ctx: str, compiles: int) -> dict:
    best, arms = _best_arm(learner, ctx)
    pulls = sum(a.pulls for a in arms)
    if best is None:
        return {"compiles": compiles, "pulls": pulls, "best": BASELINE, "speedup": 1.0,
                "ci": [1.0, 1.0], "width": 0.0, "confident": False, "prob_better": 0.0}
    lo, hi = best.speedup_ci
    return {"compiles": compiles, "pulls": pulls, "best": best.strategy, "speedup": best.speedup,
            "ci": [lo, hi], "width": hi - lo, "confident": bool(best.ci[1] < 0),
            "prob_better": best.prob_better}


def _time(learner: Learner) -> tuple[dict, float]:
    from simpulse.stats.summary import time_saved
    saved = time_saved(learner)
    tc = learner.stats["toolchains"].get(learner.toolchain) or {}
    spent_ok = sum(v for by in tc.get("secs", {}).values() for v in by.values())
    base = spent_ok + saved["seconds"]
    return saved, (saved["seconds"] / base if base > 0 else 0.0)


def history(events: Iterable[dict], every: int | None = None, *, catalogue=None) -> dict:
    """Replay `events` (in seq order) and return the series, per-context series and milestones.

    Shape (documented in docs/json/report.md)::

        {"compiles": N, "events": M, "every": k, "simulated": bool, "toolchain": githash|None,
         "series": [{"compiles", "seq", "ts", "seconds", "regret_seconds", "regret_per_compile",
                     "saved_seconds", "saved_ci", "saved_fraction", "failures", "explore_share"}],
         "contexts": {ctx: [{"compiles", "pulls", "best", "speedup", "ci", "width",
                             "confident", "prob_better"}]},
         "milestones": [{"kind", "compiles", "seq", "ts", "text", ...}],
         "final": {...last series point...} | None}
    """
    events = [e for e in events if e.get("kind") != "reset"]
    n_compiles = sum(1 for e in events if e.get("kind") == "compile")
    if every is None:
        every = max(1, math.ceil(n_compiles / TARGET_POINTS))
    every = max(1, int(every))

    stats = empty_stats()
    learner = Learner(None, catalogue=catalogue)
    learner._stats = stats

    series: list[dict] = []
    contexts: dict[str, list[dict]] = {}
    milestones: list[dict] = []
    confident_ctx: set[tuple[str, str]] = set()      # (toolchain, context)
    suspended_seen: set[tuple[str, str, str]] = set()
    toolchains_seen: list[str] = []
    first_failure = False
    saved_10 = saved_pos = False
    simulated = False
    compiles = 0
    failures = 0
    explored = 0
    last_regret = 0.0
    last_compiles = 0

    def mark(kind: str, ev: dict, text: str, **extra) -> None:
        milestones.append({"kind": kind, "compiles": compiles, "seq": ev.get("seq"), "ts": ev.get("ts"),
                           "text": text, **extra})

    def checkpoint(ev: dict) -> None:
        nonlocal last_regret, last_compiles, saved_10, saved_pos
        c = stats["counters"]
        saved, fraction = _time(learner)
        window = compiles - last_compiles
        regret = c["regret_seconds"]
        point = {
            "compiles": compiles, "seq": ev.get("seq"), "ts": ev.get("ts"),
            "seconds": c["seconds"], "regret_seconds": regret,
            "regret_per_compile": (regret - last_regret) / window if window else 0.0,
            "saved_seconds": saved["seconds"], "saved_ci": list(saved["ci"]),
            "saved_fraction": fraction, "failures": failures,
            "explore_share": explored / compiles if compiles else 0.0,
        }
        series.append(point)
        last_regret, last_compiles = regret, compiles
        for ctx in learner.contexts():
            contexts.setdefault(ctx, []).append(_context_point(learner, ctx, compiles))
        if not saved_10 and fraction >= SAVED_MILESTONE and saved["seconds"] > 0:
            saved_10 = True
            mark("saved_10_percent", ev, f"estimated time saved reached {fraction:.0%} of the "
                 f"baseline time ({saved['seconds']:.3g}s)", fraction=fraction)
        if not saved_pos and saved["ci"][0] > 0:
            saved_pos = True
            mark("saved_confident", ev, "time saved against baseline is positive with 95% "
                 f"confidence (lower bound {saved['ci'][0]:.3g}s)", seconds=saved["ci"][0])

    pending = None
    for ev in events:
        kind = ev.get("kind")
        fold(stats, ev)
        if kind not in ("compile", "record", "bench", "import"):
            continue
        if stats["order"]:
            learner.toolchain = stats["order"][-1]
        tcname = str(ev.get("toolchain") or "unknown")
        if kind == "compile":
            compiles += 1
            simulated = simulated or bool(ev.get("simulated"))
            explored += bool(ev.get("explore"))
            if compiles == 1:
                mark("first_compile", ev, f"first compilation recorded ({ev.get('module')})",
                     module=ev.get("module"))
        if kind == "compile" and tcname not in toolchains_seen:
            toolchains_seen.append(tcname)
            if len(toolchains_seen) > 1:
                mark("new_toolchain", ev, f"new Lean toolchain {tcname[:12]}: earlier learning "
                     "becomes a discounted prior", toolchain=tcname)
        if ev.get("outcome") == "strategy_failed":
            failures += 1
            if not first_failure:
                first_failure = True
                from simpulse.lake.messages import error_kind
                mark("first_failure_caught", ev,
                     f"first strategy failure caught: {ev.get('strategy')} broke {ev.get('module')} "
                     f"({error_kind(ev.get('error'))}); the baseline fallback kept the build green",
                     strategy=ev.get("strategy"), module=ev.get("module"), context=ev.get("context"))
        ctx = ev.get("context")
        if kind in ("compile", "record") and ctx is not None and learner.toolchain == tcname:
            best, arms = _best_arm(learner, str(ctx))
            key = (tcname, str(ctx))
            if best is not None and best.ci[1] < 0 and key not in confident_ctx:
                confident_ctx.add(key)
                lo, hi = best.speedup_ci
                mark("first_confident", ev, f"{ctx}: {best.strategy} is established as faster than "
                     f"baseline ({best.speedup:.2f}×, 95% CI {lo:.2f}–{hi:.2f})",
                     context=str(ctx), strategy=best.strategy, speedup=best.speedup, ci=[lo, hi])
            for a in arms:
                skey = (tcname, str(ctx), a.strategy)
                if a.suspended and skey not in suspended_seen:
                    suspended_seen.add(skey)
                    mark("first_suspension", ev, f"{ctx}: {a.strategy} suspended ({a.suspended})",
                         context=str(ctx), strategy=a.strategy)
        pending = ev
        if kind == "compile" and compiles % every == 0:
            checkpoint(ev)
            pending = None
    if pending is not None:
        checkpoint(pending)

    tc = stats["toolchains"].get(learner.toolchain) if stats["order"] else None
    return {
        "compiles": compiles,
        "events": len(events),
        "every": every,
        "simulated": simulated or bool(tc and tc.get("simulated")),
        "toolchain": learner.toolchain if stats["order"] else None,
        "series": series,
        "contexts": dict(sorted(contexts.items())),
        "milestones": milestones,
        "final": series[-1] if series else None,
    }
