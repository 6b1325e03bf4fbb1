"""The numbers behind `simpulse stats` (and `report`, `export`): data only, no output.

Intervals: a strategy's effect is the posterior Student-t interval of the learner. A context's
best strategy is reported as *established* only when that interval excludes no speedup (1.00×)
*and* the strategy has at least MIN_OWN_PULLS compiles in the context (not just a borrowed
prior). ("Established" is not the `confident` mode, which runs a strategy once P(beats
baseline) ≥ 0.8; the JSON key `confident` of a leaderboard row is kept as an alias of
`established`.) The time saved against baseline sums, over the compiles run under each
strategy, wall × (e^(−δ) − 1), with the interval taken at both ends of every δ's 95% interval
at once (conservative: the errors are not assumed to cancel); after `stats --zero`, over the
compiles since then only.
"""

from __future__ import annotations

import math

from simpulse.learner import Learner

MIN_OWN_PULLS = 3      # compiles in the context before a speedup there is reported as established


def leaderboard(learner: Learner) -> list[dict]:
    rows = []
    for ctx in learner.contexts():
        arms = learner.summary(ctx)
        pulls = sum(a.pulls for a in arms)
        candidates = [a for a in arms if a.strategy != "baseline" and not a.suspended]
        best = min(candidates, key=lambda a: a.mean, default=None)
        # A claim rests on the context's own compiles: a posterior made of the prior shared
        # from other contexts may choose a strategy, but is never reported as established.
        established = best is not None and best.ci[1] < 0 and best.pulls >= MIN_OWN_PULLS
        rows.append({
            "context": ctx,
            "pulls": pulls,
            "best": best.strategy if best and best.mean < 0 else "baseline",
            "speedup": best.speedup if best and best.mean < 0 else 1.0,
            "ci": list(best.speedup_ci) if best and best.mean < 0 else [1.0, 1.0],
            "confidence": best.prob_better if best else 0.0,
            "established": bool(established),
            "confident": bool(established),   # the earlier name of "established"
            "own_pulls": best.pulls if best else 0,
            "evidence": ("own" if best and best.pulls >= MIN_OWN_PULLS else "prior"),
            "suspended": {a.strategy: a.suspended for a in arms if a.suspended},
            # P(an import's evidence on the context describes this project); None: no import spoke of it
            "import_fit": learner.import_fit(ctx),
            "arms": [{"strategy": a.strategy, "pulls": a.pulls, "fails": a.fails,
                      "speedup": a.speedup, "ci": list(a.speedup_ci),
                      "prob_better": a.prob_better, "suspended": a.suspended} for a in arms],
        })
    return rows


def context_joint(learner: Learner, ctx: str, joints: dict | None):
    """The joint posterior of `ctx` (`Learner.joint_posterior`), solved once per `joints` (a dict
    ctx → joint the caller keeps while the statistics do not change); None without `joints`
    (then `arm_posterior` solves it itself, once per strategy: the same numbers)."""
    if joints is None:
        return None
    joint = joints.get(ctx)
    if joint is None:
        joint = joints[ctx] = learner.joint_posterior(ctx)
    return joint


def time_saved(learner: Learner, zeroed: dict | None = None, joints: dict | None = None) -> dict:
    """Time saved against baseline; with `zeroed` (what `stats --zero` noted: {"since": ts,
    "secs": {toolchain: {context: {strategy: seconds}}}}), over the compiles since then, when
    the counters were last reset at that time. `joints`: see `context_joint` (the same result,
    each context's joint posterior solved once instead of once per strategy)."""
    tc = learner.stats["toolchains"].get(learner.toolchain)
    before = {}
    if zeroed and zeroed.get("since") is not None and zeroed.get("since") == learner.stats["counters"].get("since"):
        before = (zeroed.get("secs") or {}).get(learner.toolchain) or {}
    est = lo = hi = 0.0
    if tc:
        for ctx, by_strategy in tc.get("secs", {}).items():
            for name, secs in by_strategy.items():
                if name == "baseline" or name not in learner.catalogue.all:
                    continue
                secs = max(0.0, secs - float((before.get(ctx) or {}).get(name, 0.0)))
                if not secs:
                    continue
                post = learner.arm_posterior(ctx, learner.catalogue.get(name), context_joint(learner, ctx, joints))
                a, b = post.interval()
                est += secs * (math.exp(-post.mu) - 1)
                lo += secs * (math.exp(-b) - 1)
                hi += secs * (math.exp(-a) - 1)
    return {"seconds": est, "ci": [lo, hi]}


def summary(learner: Learner, zeroed: dict | None = None) -> dict:
    stats = learner.stats
    c = stats["counters"]
    compiles = c["compiles"]
    recent = c.get("recent_regret", [])
    judged = c.get("judged_n") or 0
    judged = judged if judged >= c["slower"] else None
    toolchains = []
    for name in reversed(stats["order"]):
        tc = stats["toolchains"][name]
        toolchains.append({"githash": name, "compiles": tc["explore"][1],
                           "contexts": len(tc["arms"]), "modules": len(tc["modules"]),
                           "first": tc["first"], "last": tc["last"],
                           "simulated": bool(tc.get("simulated")),
                           "current": name == learner.toolchain})
    board = leaderboard(learner)
    current = stats["toolchains"].get(learner.toolchain, {})
    return {
        "toolchain": learner.toolchain,
        "simulated": bool(current.get("simulated")),
        "totals": {
            "compilations": compiles, "records": c["records"], "benches": c["benches"],
            "contexts": len(board), "strategies": len(learner.catalogue.active),
            "exploring": c["explore"], "since": c["since"],
            "seconds_in_lean": c["seconds"],
        },
        "leaderboard": board,
        "time_saved": time_saved(learner, zeroed),
        "regret": {"cumulative_seconds": c["regret_seconds"],
                   "recent_seconds": sum(recent), "recent_compiles": len(recent)},
        "safety": {
            "slower_than_baseline": c["slower"],
            "slower_share": c["slower"] / compiles if compiles else 0.0,
            # of the compiles under a strategy of a module with a known level (None before one,
            # and for counters begun before they were counted: fewer of them than `slower`)
            "slower_judged": judged,
            "slower_judged_share": c["slower"] / judged if judged else None,
            # the same test on the baseline's own compiles: the share timing noise alone makes
            # "slower" (None before a baseline compile of a module with a known level)
            "slower_noise_share": (c.get("noise_slower", 0) / c["noise_n"]) if c.get("noise_n") else None,
            "strategy_failures_caught": c["strategy_failed"],
            "fallback_seconds": c["fallback_seconds"],
            "modules_failed": c["module_failed"],
        },
        "toolchains": toolchains,
        # what imports the statistics hold: source file, weight, time, origin, the file it replaced
        "imports": [dict(e) for e in stats.get("imports", [])],
    }
