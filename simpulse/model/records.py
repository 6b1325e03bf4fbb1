"""The statistics' containers: the empty state, one toolchain's statistics, arms, joint blocks and
module records, created on first use. The field-by-field layout is in docs/state-format.md.
Standard library only (the shim folds events)."""

from __future__ import annotations

from simpulse import _fastjson as json   # `json` without `re` (hot path)
from simpulse.policy import joint as J
from simpulse.policy import posterior as P
from simpulse.model.tunables import SCHEMA

def empty_stats() -> dict:
    return {"schema": SCHEMA, "toolchains": {}, "order": [], "counters": _new_counters()}


def _new_counters(ts: float | None = None) -> dict:
    return {"since": ts, "compiles": 0, "explore": 0, "strategy_failed": 0, "module_failed": 0,
            "slower": 0, "faster": 0, "seconds": 0.0, "baseline_est_seconds": 0.0,
            "fallback_seconds": 0.0, "regret_seconds": 0.0, "records": 0, "benches": 0,
            "imports": 0, "recent_regret": []}


def _tc(stats: dict, toolchain: str) -> dict:
    tcs = stats["toolchains"]
    tc = tcs.get(toolchain)
    if tc is None:
        tc = tcs[toolchain] = {"arms": {}, "glob": {}, "recent": {}, "modules": {}, "ctx": {},
                               "secs": {}, "explore": [0, 0], "first": None, "last": None}
    return tc


def earlier_toolchain(stats: dict, toolchain: str) -> dict | None:
    """The statistics of the newest toolchain other than `toolchain` (what a toolchain change
    carries over, discounted: `Learner.arm_prior`, `carry_level`), or None."""
    for name in reversed(stats["order"]):
        if name != toolchain:
            return stats["toolchains"].get(name)
    return None


def _arm(table: dict, ctx: str, strategy: str) -> list:
    c = table.setdefault(ctx, {})
    a = c.get(strategy)
    if a is None:
        a = c[strategy] = P.new_arm()
    return a


def _block(tc: dict, ctx: str) -> dict:
    """The context's joint block (`simpulse.policy.joint`), created empty when missing."""
    return tc.setdefault("J", {}).setdefault(ctx, J.new_block())


def module_record(tc: dict, module: str) -> dict | None:
    """A module's record, decoded. Records are kept as compact JSON strings in the statistics
    so that loading a snapshot of a 6,000-module project parses 6,000 strings, not 6,000 nested
    structures (6× faster); only the modules an update or a decision touches are decoded."""
    raw = tc["modules"].get(module)
    if raw is None:
        return None
    return json.loads(raw) if isinstance(raw, str) else raw


def _put_module(tc: dict, module: str, rec: dict) -> None:
    tc["modules"][module] = json.dumps(rec, separators=(",", ":"))
