"""The statistics' containers: the empty state, one toolchain's statistics, arms, joint blocks and
module records, created on first use. The field-by-field layout is in docs/state-format.md.
Standard library only (the shim folds events)."""

from __future__ import annotations

from simpulse import _fastjson as json   # `json` without `re` (hot path)
from simpulse.policy import joint as J
from simpulse.policy import posterior as P
from simpulse.model.tunables import SCHEMA

TYPE_CHECKING = False        # `typing` costs the shim an import; mypy reads this name as typing's
if TYPE_CHECKING:
    from typing import Any

    # The statistics are JSON (docs/state-format.md, "The statistics, field by field"); these
    # names say which part a function takes. `simpulse.model.schema` has the named views.
    Stats = dict[str, Any]           # the whole statistics
    Toolchain = dict[str, Any]       # one toolchain's statistics
    ModuleRecord = dict[str, Any]    # one module's record, decoded
    Block = dict[str, Any]           # a context's joint block (`simpulse.policy.joint`)
    Event = dict[str, Any]           # one event of the log
    Arm = list[float]                # [W, S1, S2, n, fails, wins] (`simpulse.policy.posterior`)
    Table = dict[str, Any]           # strategy → arm (or context → strategy → arm)

def empty_stats() -> Stats:
    return {"schema": SCHEMA, "toolchains": {}, "order": [], "counters": _new_counters()}


def _new_counters(ts: float | None = None) -> dict[str, Any]:
    return {"since": ts, "compiles": 0, "explore": 0, "strategy_failed": 0, "module_failed": 0,
            "slower": 0, "faster": 0, "seconds": 0.0, "baseline_est_seconds": 0.0,
            "fallback_seconds": 0.0, "regret_seconds": 0.0, "records": 0, "benches": 0,
            "imports": 0, "recent_regret": [], "judged_n": 0, "noise_n": 0, "noise_slower": 0}


def _tc(stats: Stats, toolchain: str) -> Toolchain:
    tcs = stats["toolchains"]
    tc: Toolchain | None = tcs.get(toolchain)
    if tc is None:
        tc = tcs[toolchain] = {"arms": {}, "glob": {}, "recent": {}, "modules": {}, "ctx": {},
                               "secs": {}, "explore": [0, 0], "first": None, "last": None}
    return tc


def earlier_toolchain(stats: Stats, toolchain: str) -> Toolchain | None:
    """The statistics of the newest toolchain other than `toolchain` (what a toolchain change
    carries over, discounted: `Learner.arm_prior`, `carry_level`), or None."""
    for name in reversed(stats["order"]):
        if name != toolchain:
            tc: Toolchain | None = stats["toolchains"].get(name)
            return tc
    return None


def _arm(table: Table, ctx: str, strategy: str) -> Arm:
    c = table.setdefault(ctx, {})
    a: Arm | None = c.get(strategy)
    if a is None:
        a = c[strategy] = P.new_arm()
    return a


def _block(tc: Toolchain, ctx: str) -> Block:
    """The context's joint block (`simpulse.policy.joint`), created empty when missing."""
    block: Block = tc.setdefault("J", {}).setdefault(ctx, J.new_block())
    return block


def module_record(tc: Toolchain, module: str) -> ModuleRecord | None:
    """A module's record, decoded. Records are kept as compact JSON strings in the statistics
    so that loading a snapshot of a 6,000-module project parses 6,000 strings, not 6,000 nested
    structures (6× faster); only the modules an update or a decision touches are decoded."""
    raw = tc["modules"].get(module)
    if raw is None:
        return None
    rec: ModuleRecord = json.loads(raw) if isinstance(raw, str) else raw
    j = rec.get("j")
    if type(j) is list and len(j) == 3:       # stored without its x: the record's own (`_put_module`)
        rec["j"] = [j[0], j[1], rec.get("x"), j[2]]
    return rec


def _put_module(tc: Toolchain, module: str, rec: ModuleRecord) -> None:
    """Store a record as compact JSON. Its joint contribution ``j = [context, weight, x, w]``
    usually holds the same features as the record's ``x`` (a fifth of a 6,000-module snapshot):
    it is then stored as ``[context, weight, w]`` and `module_record` puts ``x`` back. (A
    simpulse before this reads a 3-item ``j`` as a damaged one: it re-adds the module's
    contribution without subtracting it, never a failed load.)"""
    j = rec.get("j")
    if type(j) is list and len(j) == 4 and type(j[2]) is list and j[2] == rec.get("x"):
        rec = dict(rec)
        rec["j"] = [j[0], j[1], j[3]]
    tc["modules"][module] = json.dumps(rec, separators=(",", ":"))


def _finite(x: object) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and x == x and abs(x) != float("inf")


def _arm_ok(a: object) -> bool:
    return isinstance(a, list) and len(a) == 6 and all(_finite(v) for v in a)


def _table_ok(t: object) -> bool:
    """strategy → arm"""
    return isinstance(t, dict) and all(isinstance(k, str) and _arm_ok(a) for k, a in t.items())


def _block_ok(b: object) -> bool:
    if not isinstance(b, dict):
        return False
    names, M, v = b.get("names"), b.get("M"), b.get("b")
    if not (isinstance(names, list) and isinstance(M, list) and isinstance(v, list)):
        return False
    n = len(names)
    return (len(M) == n and len(v) == n and all(isinstance(r, list) and len(r) == n and all(_finite(x) for x in r)
                                                for r in M)
            and all(_finite(x) for x in v) and _finite(b.get("q", 0.0)) and _finite(b.get("d", 0.0)))


def validate_stats(stats: object) -> str | None:
    """Why a snapshot's statistics cannot be what the fold makes (None: they can). Checks what
    every decision reads — each toolchain's arms, global arms, exploration counts and joint
    blocks: the right containers holding finite numbers — not the module records, which are
    decoded one at a time. The store sets a snapshot that fails aside and rebuilds it from the
    log (`Store.load(validate=...)`)."""
    if not isinstance(stats, dict) or not isinstance(stats.get("toolchains"), dict):
        return "no toolchains table"
    for g, tc in stats["toolchains"].items():
        if not isinstance(tc, dict):
            return f"toolchain {g!r} is not a table"
        arms = tc.get("arms", {})
        if not isinstance(arms, dict) or not all(isinstance(c, str) and _table_ok(t) for c, t in arms.items()):
            return f"toolchain {g!r}: arms are not context → strategy → six finite numbers"
        if not _table_ok(tc.get("glob", {})):
            return f"toolchain {g!r}: global arms are not strategy → six finite numbers"
        ex = tc.get("explore", [0, 0])
        if not (isinstance(ex, list) and len(ex) == 2 and all(_finite(x) for x in ex)):
            return f"toolchain {g!r}: exploration counts are not two numbers"
        blocks = tc.get("J", {})
        if not isinstance(blocks, dict) or not all(_block_ok(b) for b in blocks.values()):
            return f"toolchain {g!r}: a joint block is malformed"
        if not isinstance(tc.get("modules", {}), dict) or not isinstance(tc.get("recent", {}), dict):
            return f"toolchain {g!r}: modules or recent results are not tables"
    return None
