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
from typing import Any, Iterable

from simpulse.learner import BASELINE, ArmSummary, Learner, empty_stats, fold
from simpulse.policy import posterior as P
from simpulse.stats.summary import context_joint

TARGET_POINTS = 100
SAVED_MILESTONE = 0.10


def _summary(learner: Learner, ctx: str, joint=None) -> list[ArmSummary]:
    """`learner.summary(ctx)`, the context's joint posterior solved once for every strategy
    (`summary` solves it once per strategy, and the replay asks after every compile): the same
    numbers, ~5× less work per event. `joint`: that posterior, when the caller has it."""
    tc, _ = learner._tc_chain()
    if joint is None:
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


def _best_arm(learner: Learner, ctx: str, joint=None):
    """The leading non-baseline, non-suspended arm of `ctx` (by posterior mean), and all arms."""
    arms = _summary(learner, ctx, joint)
    cands = [a for a in arms if a.strategy != BASELINE and not a.suspended]
    return min(cands, key=lambda a: a.mean, default=None), arms


def _context_point(learner: Learner, ctx: str, compiles: int, joint=None) -> dict:
    best, arms = _best_arm(learner, ctx, joint)
    pulls = sum(a.pulls for a in arms)
    if best is None:
        return {"compiles": compiles, "pulls": pulls, "best": BASELINE, "speedup": 1.0,
                "ci": [1.0, 1.0], "width": 0.0, "confident": False, "prob_better": 0.0}
    lo, hi = best.speedup_ci
    return {"compiles": compiles, "pulls": pulls, "best": best.strategy, "speedup": best.speedup,
            "ci": [lo, hi], "width": hi - lo, "confident": bool(best.ci[1] < 0),
            "prob_better": best.prob_better}


def _time(learner: Learner, joints: dict | None = None) -> tuple[dict, float]:
    from simpulse.stats.summary import time_saved
    saved = time_saved(learner, joints=joints)
    tc = learner.stats["toolchains"].get(learner.toolchain) or {}
    spent_ok = sum(v for by in tc.get("secs", {}).values() for v in by.values())
    base = spent_ok + saved["seconds"]
    return saved, (saved["seconds"] / base if base > 0 else 0.0)


class _LazyJoint:
    """`learner.joint_posterior(ctx)`, solved when first read (a `J.Joint` to its readers)."""

    def __init__(self, learner: Learner, ctx: str):
        self._learner, self._ctx, self._joint = learner, ctx, None

    def __bool__(self) -> bool:
        return True

    def __getattr__(self, name: str):
        if self._joint is None:
            self._joint = self._learner.joint_posterior(self._ctx)
        return getattr(self._joint, name)


CACHE_VERSION = 1


class Replay:
    """The replay of `history`, resumable: its state (the folded statistics, the series, the
    milestones and what they need) is plain JSON (`to_json` / `from_json`), so `simpulse report`
    keeps it beside the state (`report.cache`) and replays only the events recorded since.

    Sampling: a point every `g` compiles, `g` a power of two that doubles (every other point
    dropped) when more than 2 × TARGET_POINTS points are kept; `result` shows those at multiples
    of `every` (by default the smallest power of two ≥ compiles / TARGET_POINTS: 50–100 points)
    and the state after the last event. A fixed `every` (``--every``) samples at it exactly."""

    def __init__(self, catalogue=None, every: int | None = None):
        self.stats = empty_stats()
        self.learner = Learner(None, catalogue=catalogue)
        self.learner._stats = self.stats
        self.fixed = every is not None
        self.g = max(1, int(every)) if every is not None else 1
        self.points: list[dict] = []        # {"point": series point, "ctx": {ctx: context point}}
        self.milestones: list[dict] = []
        self.confident_ctx: set[tuple[str, str]] = set()      # (toolchain, context)
        self.suspended_seen: set[tuple[str, str, str]] = set()
        self.toolchains_seen: list[str] = []
        self.first_failure = self.saved_10 = self.saved_pos = self.simulated = False
        self.compiles = self.failures = self.explored = self.events = 0
        self.last_seq = 0
        self.last_event: dict | None = None     # the last event counted, when after the last point

    # -- state ------------------------------------------------------------------------------
    def to_json(self) -> dict:
        return {"version": CACHE_VERSION, "stats": self.stats, "toolchain": self.learner.toolchain,
                "fixed": self.fixed, "g": self.g, "points": self.points, "milestones": self.milestones,
                "confident_ctx": sorted(self.confident_ctx), "suspended_seen": sorted(self.suspended_seen),
                "toolchains_seen": self.toolchains_seen, "flags": [self.first_failure, self.saved_10, self.saved_pos,
                                                                   self.simulated],
                "counts": [self.compiles, self.failures, self.explored, self.events, self.last_seq],
                "last_event": self.last_event}

    @classmethod
    def from_json(cls, doc: dict, catalogue=None) -> "Replay":
        if doc.get("version") != CACHE_VERSION:
            raise ValueError("another version")
        r = cls(catalogue)
        r.stats = doc["stats"]
        r.learner._stats = r.stats
        r.learner.toolchain = doc["toolchain"]
        r.fixed, r.g = bool(doc["fixed"]), int(doc["g"])
        r.points, r.milestones = list(doc["points"]), list(doc["milestones"])
        r.confident_ctx = {tuple(x) for x in doc["confident_ctx"]}        # type: ignore[misc]
        r.suspended_seen = {tuple(x) for x in doc["suspended_seen"]}      # type: ignore[misc]
        r.toolchains_seen = list(doc["toolchains_seen"])
        r.first_failure, r.saved_10, r.saved_pos, r.simulated = (bool(x) for x in doc["flags"])
        r.compiles, r.failures, r.explored, r.events, r.last_seq = (int(x) for x in doc["counts"])
        r.last_event = doc["last_event"]
        return r

    # -- replay -----------------------------------------------------------------------------
    def _mark(self, kind: str, ev: dict, text: str, **extra) -> None:
        self.milestones.append({"kind": kind, "compiles": self.compiles, "seq": ev.get("seq"), "ts": ev.get("ts"),
                                "text": text, **extra})

    def _point(self, ev: dict) -> dict:
        """The series point and the contexts' points after `ev`; the time-saved milestones."""
        learner = self.learner
        c = self.stats["counters"]
        joints = self._joints()    # ctx → its joint posterior, solved once for the whole point
        saved, fraction = _time(learner, joints)
        point = {
            "compiles": self.compiles, "seq": ev.get("seq"), "ts": ev.get("ts"),
            "seconds": c["seconds"], "regret_seconds": c["regret_seconds"],
            "saved_seconds": saved["seconds"], "saved_ci": list(saved["ci"]),
            "saved_fraction": fraction, "failures": self.failures,
            "explore_share": self.explored / self.compiles if self.compiles else 0.0,
        }
        ctx_points = {ctx: _context_point(learner, ctx, self.compiles, context_joint(learner, ctx, joints))
                      for ctx in learner.contexts()}
        if not self.saved_10 and fraction >= SAVED_MILESTONE and saved["seconds"] > 0:
            self.saved_10 = True
            self._mark("saved_10_percent", ev, f"estimated time saved reached {fraction:.0%} of the "
                       f"baseline time ({saved['seconds']:.3g}s)", fraction=fraction)
        if not self.saved_pos and saved["ci"][0] > 0:
            self.saved_pos = True
            self._mark("saved_confident", ev, "time saved against baseline is positive with 95% "
                       f"confidence (lower bound {saved['ci'][0]:.3g}s)", seconds=saved["ci"][0])
        return {"point": point, "ctx": ctx_points}

    def _verdicts(self, tcname: str, ctx: str) -> tuple[ArmSummary | None, list[tuple[str, str | None]]]:
        """What the milestones need after a compile in `ctx`: the leading arm (`_best_arm`) while
        the context is not established, else None; and (strategy, why it is suspended or None)
        for the strategies, at least those never seen suspended there."""
        learner = self.learner
        if (tcname, ctx) not in self.confident_ctx:
            best, arms = _best_arm(learner, ctx)
            return best, [(a.strategy, a.suspended) for a in arms]
        # Established already: no posterior is needed but for a suspension, and only for the
        # strategies never seen suspended here. `suspension` reads the context's joint posterior
        # only on its "slower" branch (after cheaper tests): solved then, once for all of them —
        # the same verdicts as from `_summary`, without a solve at every compile.
        joint: Any = _LazyJoint(learner, ctx)
        return None, [(s.name, learner.suspension(ctx, s.name, joint)) for s in learner.catalogue.active
                      if not s.is_baseline and (tcname, ctx, s.name) not in self.suspended_seen]

    def _joints(self) -> dict | None:
        """A point's cache of the contexts' joint posteriors (`summary.context_joint`)."""
        return {}

    def feed(self, ev: dict) -> None:
        seq = ev.get("seq")
        if isinstance(seq, int):
            self.last_seq = max(self.last_seq, seq)
        kind = ev.get("kind")
        if kind == "reset":
            return          # resets only zero `simpulse stats`' counters: the history is the whole log
        learner, stats = self.learner, self.stats
        try:
            fold(stats, ev)
        except Exception:  # noqa: BLE001
            return          # as the store does (`Store._fold`): an event the fold rejects is skipped
        self.events += 1
        if kind not in ("compile", "record", "bench", "import"):
            return
        if stats["order"]:
            learner.toolchain = stats["order"][-1]
        tcname = str(ev.get("toolchain") or "unknown")
        if kind == "compile":
            self.compiles += 1
            self.simulated = self.simulated or bool(ev.get("simulated"))
            self.explored += bool(ev.get("explore"))
            if self.compiles == 1:
                self._mark("first_compile", ev, f"first compilation recorded ({ev.get('module')})",
                           module=ev.get("module"))
        if kind == "compile" and tcname not in self.toolchains_seen:
            self.toolchains_seen.append(tcname)
            if len(self.toolchains_seen) > 1:
                self._mark("new_toolchain", ev, f"new Lean toolchain {tcname[:12]}: earlier learning "
                           "becomes a discounted prior", toolchain=tcname)
        if ev.get("outcome") == "strategy_failed":
            self.failures += 1
            if not self.first_failure:
                self.first_failure = True
                from simpulse.lake.messages import error_kind
                self._mark("first_failure_caught", ev,
                           f"first strategy failure caught: {ev.get('strategy')} broke {ev.get('module')} "
                           f"({error_kind(ev.get('error'))}); the baseline fallback kept the build green",
                           strategy=ev.get("strategy"), module=ev.get("module"), context=ev.get("context"))
        ctx = ev.get("context")
        if kind in ("compile", "record") and ctx is not None and learner.toolchain == tcname:
            key = (tcname, str(ctx))
            best, suspended = self._verdicts(tcname, str(ctx))
            if best is not None and best.ci[1] < 0 and key not in self.confident_ctx:
                self.confident_ctx.add(key)
                lo, hi = best.speedup_ci
                self._mark("first_confident", ev, f"{ctx}: {best.strategy} is established as faster than "
                           f"baseline ({best.speedup:.2f}×, 95% CI {lo:.2f}–{hi:.2f})",
                           context=str(ctx), strategy=best.strategy, speedup=best.speedup, ci=[lo, hi])
            for name, why in suspended:
                skey = (tcname, str(ctx), name)
                if why and skey not in self.suspended_seen:
                    self.suspended_seen.add(skey)
                    self._mark("first_suspension", ev, f"{ctx}: {name} suspended ({why})",
                               context=str(ctx), strategy=name)
        self.last_event = ev
        if kind == "compile" and self.compiles % self.g == 0:
            self.points.append(self._point(ev))
            self.last_event = None
            if not self.fixed and len(self.points) > 2 * TARGET_POINTS:
                self.g *= 2
                self.points = [p for p in self.points if p["point"]["compiles"] % self.g == 0]

    def result(self, every: int | None = None) -> dict:
        """The history's data (shape below), from the points kept and the state after the last
        event. The replay can go on after it (`feed`)."""
        if self.fixed:
            every = self.g
        elif every is None:
            want = max(1, math.ceil(self.compiles / TARGET_POINTS))
            every = max(self.g, 1 << (want - 1).bit_length())
        elif every % self.g:
            raise ValueError(f"points were kept every {self.g} compiles, not at multiples of {every}")
        chosen = [p for p in self.points if p["point"]["compiles"] % every == 0]
        if self.last_event is not None:
            # the state after the last event (computed again whenever the replay goes on)
            saved = (self.saved_10, self.saved_pos, len(self.milestones))
            chosen.append(self._point(self.last_event))
            self.saved_10, self.saved_pos = saved[0], saved[1]
            tail_milestones = self.milestones[saved[2]:]
            del self.milestones[saved[2]:]
        else:
            tail_milestones = []
            if self.points and (not chosen or chosen[-1] is not self.points[-1]):
                chosen.append(self.points[-1])
        series: list[dict] = []
        contexts: dict[str, list[dict]] = {}
        last_regret, last_compiles = 0.0, 0
        for p in chosen:
            pt = dict(p["point"])
            window = pt["compiles"] - last_compiles
            pt["regret_per_compile"] = (pt["regret_seconds"] - last_regret) / window if window else 0.0
            last_regret, last_compiles = pt["regret_seconds"], pt["compiles"]
            series.append(pt)
            for ctx, cp in p["ctx"].items():
                contexts.setdefault(ctx, []).append(cp)
        stats = self.stats
        tc = stats["toolchains"].get(self.learner.toolchain) if stats["order"] else None
        return {
            "compiles": self.compiles,
            "events": self.events,
            "every": every,
            "simulated": self.simulated or bool(tc and tc.get("simulated")),
            "toolchain": self.learner.toolchain if stats["order"] else None,
            "series": series,
            "contexts": dict(sorted(contexts.items())),
            "milestones": self.milestones + tail_milestones,
            "final": series[-1] if series else None,
        }


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
    replay = Replay(catalogue, every)
    for ev in events:
        replay.feed(ev)
    return replay.result()
