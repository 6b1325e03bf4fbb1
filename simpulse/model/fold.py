"""The fold: the statistics are a plain JSON-able dict updated event by event (`fold`), so the
store can snapshot them and replay only the tail of the event log. Standard library only."""

from __future__ import annotations

import math

from simpulse.policy import joint as J
from simpulse.policy import posterior as P
from simpulse.strategy.catalogue import BASELINE
from simpulse.model.tunables import PLAUSIBLE_SECONDS, RECENT, SLOWER
from simpulse.model.records import _arm, _block, _new_counters, _put_module, _tc, module_record
from simpulse.model.contributions import _delta_hat, _level, _observe_module, _refresh_predictions, carry_level
from simpulse.model.imports import _fold_import
from simpulse.model.objective import event_cost
from simpulse.model.parts import joined as _joined_part
from simpulse.model.similar import note as _note_similar

TYPE_CHECKING = False        # `typing` costs the shim an import; mypy reads this name as typing's
if TYPE_CHECKING:
    from simpulse.model.records import Event, ModuleRecord, Stats

def _seconds(ev: Event, key: str) -> float | None:
    """A time of the event, if present (None/0 when absent): a float in PLAUSIBLE_SECONDS, or
    ValueError."""
    raw = ev.get(key)
    if raw is None or (raw == 0 and key != "wall"):
        return None
    if isinstance(raw, bool) or not isinstance(raw, (int, float)):
        raise ValueError(f"event {ev.get('id')}: {key} is not a number: {raw!r}")
    lo, hi = PLAUSIBLE_SECONDS
    if not (math.isfinite(raw) and lo <= raw <= hi):
        raise ValueError(f"event {ev.get('id')}: {key} = {raw!r} is not a plausible compile time [{lo:g}, {hi:g}] s")
    return float(raw)


def fold(stats: Stats, ev: Event) -> Stats:
    """Add one event to the sufficient statistics. Pure bookkeeping: no I/O, no randomness."""
    kind = ev.get("kind")
    counters = stats["counters"]
    if kind == "reset":
        stats["counters"] = _new_counters(ev.get("ts"))
        return stats
    if kind == "import":
        _fold_import(stats, ev)
        return stats
    if kind not in ("compile", "record", "bench"):
        return stats
    try:
        toolchain = str(ev.get("toolchain") or "unknown")
        ctx = str(ev["context"])
        strategy = str(ev["strategy"])
        module = str(ev.get("module") or ev.get("path") or "?")
        outcome = ev.get("outcome", "ok")
        wall = float(ev["wall"])
    except (KeyError, TypeError, ValueError):
        return stats
    if not (wall > 0 and math.isfinite(wall)):
        return stats
    # Every time the fold will use, checked before anything is changed: an implausible one
    # (a hand-written 1e308, a string) makes the whole event fail here — the store skips it,
    # once, and folds the events after it.
    for key in ("wall", "fallback_wall", "baseline_wall"):
        _seconds(ev, key)
    tc = _tc(stats, toolchain)
    ts = ev.get("ts")
    tc["first"] = tc["first"] or ts
    tc["last"] = ts
    if kind == "compile":
        tc["simulated"] = bool(ev.get("simulated"))
    order = stats["order"]
    if not order or order[-1] != toolchain:
        if toolchain in order:
            order.remove(toolchain)
        order.append(toolchain)
    if counters.get("since") is None:
        counters["since"] = ts
    if kind == "record":
        counters["records"] += 1
    elif kind == "bench":
        counters["benches"] += 1
    else:
        counters["compiles"] += 1
        bf = ev.get("import_bf")
        if isinstance(bf, (int, float)) and math.isfinite(bf) and "imp" in tc:
            # what this decision's context's own evidence said of the import (`Learner.models`)
            tc["imp"].setdefault("bf", {})[ctx] = round(float(bf), 4)
        if ev.get("explore"):
            counters["explore"] += 1
            tc["explore"][0] += 1
        tc["explore"][1] += 1

    if outcome == "module_failed":
        counters["module_failed"] += 1
        counters["seconds"] += wall + float(ev.get("fallback_wall") or 0.0)
        return stats

    arm = _arm(tc["arms"], ctx, strategy)
    glob = tc["glob"].setdefault(strategy, P.new_arm())
    recent = tc["recent"].setdefault(ctx, {}).setdefault(strategy, [])
    ctx_n = tc.setdefault("ctxn", {})
    ctx_n[ctx] = idx = ctx_n.get(ctx, 0) + 1
    features = ev.get("features") if isinstance(ev.get("features"), dict) else None

    local = kind == "compile"      # record/bench events were measured elsewhere: no counters
    if outcome == "strategy_failed":
        # The fallback compile of the same module in the same invocation is the baseline: a
        # failure costs log((t_failed + t_baseline) / t_baseline), counted once and for good.
        # Breakage is a property of the context: it is not shared with other contexts.
        fb = float(ev.get("fallback_wall") or 0.0)
        if local:
            counters["strategy_failed"] += 1
            counters["fallback_seconds"] += fb
            counters["seconds"] += wall + fb
        arm[P.FAILS] += 1
        glob[P.FAILS] += 1
        mod: ModuleRecord = module_record(tc, module) or {"s": {}, "c": {}}
        carry_level(stats, toolchain, module, mod)
        # Lean is deterministic: the failure stands for this version of the source (under this
        # toolchain: records are per toolchain). Without a hash: "*" + the last hash seen, if any
        h = ev.get("source_hash") if isinstance(ev.get("source_hash"), str) else None
        _age_failures(mod, h)
        mod.setdefault("f", {})[strategy] = h or "*" + mod.get("h", "")
        _remember_source(stats, mod, ev, ctx, features)
        if fb > 0:
            r = math.log((wall + fb) / fb)
            P.add(arm, r, 1.0)
            J.add_failure(_block(tc, ctx), strategy, r)
            _push_recent(recent, r, idx)
            if local:
                counters["slower"] += 1
                counters["baseline_est_seconds"] += fb
                _observe_module(tc, mod, ctx, BASELINE, math.log(fb), features)
        _put_module(tc, module, mod)
        _refresh_predictions(tc, ctx, mod.get("x"))
        return stats

    # The objective (model/objective.py): the model learns the compile's cost; the counters
    # stay in wall seconds (`scale` turns a cost back into wall time: exactly 1.0 when equal).
    cost = event_cost(ev, wall)
    scale = wall / cost
    y = math.log(cost)
    if kind in ("record", "bench") and ev.get("baseline_wall"):
        # Measured elsewhere against its own baseline: a paired observation, counted once.
        b = float(ev["baseline_wall"])
        if b > 0 and math.isfinite(b):
            r = y - math.log(b)
            P.add(arm, r, 1.0)
            J.add_direct(_block(tc, ctx), strategy, r)
            P.add(glob, r, 1.0)
            _push_recent(recent, r, idx)
        return stats

    counters["seconds"] += wall
    secs = tc.setdefault("secs", {}).setdefault(ctx, {})
    secs[strategy] = round(secs.get(strategy, 0.0) + wall, 6)
    memo: dict[object, float] = {}
    rec = module_record(tc, module)
    level = _level(tc, rec, memo)
    mod = rec if rec is not None else {"s": {}, "c": {}}
    carry_level(stats, toolchain, module, mod)
    res = _observe_module(tc, mod, ctx, strategy, y, features, memo)
    if "f" in mod:
        _age_failures(mod, ev.get("source_hash") if isinstance(ev.get("source_hash"), str) else None)
    _remember_source(stats, mod, ev, ctx, features)
    _put_module(tc, module, mod)
    if _refresh_predictions(tc, ctx, mod.get("x")):
        memo.clear()               # δ̂ may have moved with the block
    arm[P.N] += 1
    glob[P.N] += 1
    if res is not None:
        if res < 0:
            arm[P.WINS] += 1
            glob[P.WINS] += 1
        _push_recent(recent, res, idx)
    if level is not None:
        est_base = math.exp(level) * scale
        counters["baseline_est_seconds"] += est_base
        if wall < est_base:
            counters["faster"] += 1
        elif strategy != BASELINE and y - level > SLOWER:
            counters["slower"] += 1
        if strategy != BASELINE:
            counters["judged_n"] = counters.get("judged_n", 0) + 1    # what `slower` is a share of
        else:
            # the same test on the baseline's own compiles: how often timing noise and a busier
            # machine alone make a compile "slower than baseline" (the noise floor of `slower`)
            counters["noise_n"] = counters.get("noise_n", 0) + 1
            if y - level > SLOWER:
                counters["noise_slower"] = counters.get("noise_slower", 0) + 1
        # Regret: what the strategy run is expected to cost over the best one the model knows
        # for the context, at the module's level: its estimates, not this compile's measured
        # time, whose timing noise and machine load are no choice of the learner's (measured
        # against an estimate and clipped at 0, every noisy compile added regret, and a build
        # on a busier machine counted as a bad choice throughout).
        best = min([0.0] + [_delta_hat(tc, ctx, s, memo) for s in tc["arms"].get(ctx, {}) if s != BASELINE])
        chosen = _delta_hat(tc, ctx, strategy, memo)
        regret = max(0.0, est_base * (math.exp(chosen) - math.exp(best)))
        counters["regret_seconds"] += regret
        recent_regret = counters.setdefault("recent_regret", [])
        recent_regret.append(round(regret, 4))
        del recent_regret[:-100]
    else:
        counters["baseline_est_seconds"] += wall * math.exp(-_delta_hat(tc, ctx, strategy, memo))
    return stats


def _remember_source(stats: Stats, mod: ModuleRecord, ev: Event, ctx: str,
                     features: dict[str, object] | None) -> None:
    """Keep the classification of the module's source (its hash → its context; the features
    the learner uses are the vector `x` of the record): the next compile of the same source
    needs no classifier (see `Learner._classify`). The part of its context it compiled in
    ("p") and that part's centre (`model/parts.py`)."""
    h = ev.get("source_hash")
    if isinstance(h, str):
        mod["h"] = h[:16]
        mod["k"] = ctx
    was, was_sig = mod.get("p"), mod.get("g")
    _note_similar(mod, ev, features)     # its tactic profile; what ever broke it (model/similar.py)
    mod["p"] = ctx
    _joined_part(stats, ctx, mod.get("g"), was, was_sig)


def _age_failures(mod: ModuleRecord, h: str | None) -> None:
    """A compile of the module's source of hash `h` dates the failures recorded without one
    ("*" + the hash the module had then, or "*" alone if it had none): one whose module has
    been seen with another source since is dropped (an edited source is eligible again); the
    others are bound to `h` — the version they failed on, as far as the learner can tell."""
    f = mod.get("f")
    if not f or not h:
        return
    for k, v in list(f.items()):
        if v.startswith("*"):
            was = v[1:]
            if was and was != h[:16]:
                del f[k]
            else:
                f[k] = h


def _push_recent(recent: list[list[float]], r: float, idx: int) -> None:
    recent.append([round(r, 5), idx])
    del recent[:-RECENT]
