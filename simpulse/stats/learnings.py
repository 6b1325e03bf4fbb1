"""The numbers behind `simpulse learnings`: strategy failures grouped into patterns (data only).

A *failure* is an event with ``outcome == "strategy_failed"``: the strategy broke a module that
the baseline then compiled (so the strategy, not the module, is to blame). A *pattern* is one
strategy × one normalised Lean error kind (`simpulse.lake.messages.error_kind`). The safety
layer may use `patterns` to decide what to suspend; the command renders it.
"""

from __future__ import annotations

import re
from collections import Counter
from typing import Iterable

from simpulse.lake.messages import error_kind

FAILED = "strategy_failed"

# What a Lean error kind means when a strategy caused it (whatever the strategy).
KIND_EXPLANATIONS: dict[str, str] = {
    "simp made no progress": "a simp call that closes the goal under the baseline did nothing "
                             "under this strategy",
    "unsolved goals": "a tactic that closes the goal under the baseline left it open under this "
                      "strategy",
    "heartbeats exhausted": "elaboration ran out of heartbeats (maxHeartbeats) under this "
                            "strategy: it made some declaration slower than the limit allows",
    "maximum recursion depth": "elaboration hit maxRecDepth under this strategy",
    "unknown option": "this Lean does not know an option the strategy sets (older or newer "
                      "toolchain): the strategy cannot apply to it",
    "decide: proposition is false": "decide evaluated a proposition to false under this "
                                    "strategy (an evaluation it relies on was turned off)",
    "failed to synthesize instance": "instance search failed under this strategy (a limit or "
                                     "an option it changes matters to this module)",
    "type mismatch": "a term no longer elaborates to the expected type under this strategy",
    "unknown identifier": "a name is not found under this strategy (the module depends on "
                          "something the strategy turns off)",
    "unknown constant": "a constant is not found under this strategy",
    "linter error": "a linter set to error fired under this strategy",
    "omega failed": "omega could not prove a goal under this strategy (a preprocessing step it "
                    "relies on was turned off)",
    "other": "an error simpulse does not classify yet; see the example's first error line",
    "unknown": "Lean printed no error line (crash, timeout or killed process?)",
}

# The precise reason when the strategy is known to cause the kind.
STRATEGY_EXPLANATIONS: dict[tuple[str, str], str] = {
    ("no-simprocs", "simp made no progress"):
        "simp needed a built-in simproc (literal arithmetic) that this strategy turns off",
    ("simp-lean", "simp made no progress"):
        "simp needed a built-in simproc (literal arithmetic) that this strategy turns off",
    ("no-simprocs", "unsolved goals"):
        "without the built-in simprocs simp rewrote the goal but could not close it",
    ("simp-lean", "unsolved goals"):
        "without the built-in simprocs simp rewrote the goal but could not close it",
    ("no-simprocs", "decide: proposition is false"):
        "a literal that a simproc would have normalised reached decide unreduced",
    ("simp-lean", "decide: proposition is false"):
        "a literal that a simproc would have normalised reached decide unreduced",
    ("no-linters", "linter error"):
        "a linter option set by the module conflicts with turning all linters off",
    ("lean-fast", "linter error"):
        "a linter option set by the module conflicts with turning all linters off",
}

_LEADING_DOTS = re.compile(r"^(?:\./)+")


def explain(strategy: str, kind: str) -> str:
    """A one-line explanation of why `strategy` produces Lean errors of `kind`."""
    return STRATEGY_EXPLANATIONS.get((strategy, kind)) or KIND_EXPLANATIONS.get(kind) \
        or KIND_EXPLANATIONS["other"]


def clean_error(line: str | None) -> str | None:
    """Lean's first error line with the ``./././`` prefix Lake's paths carry removed."""
    if line is None:
        return None
    return _LEADING_DOTS.sub("", str(line).strip())


def failures(events: Iterable[dict]) -> list[dict]:
    """The strategy failures among `events` (compile and record events), in the given order."""
    return [e for e in events if e.get("outcome") == FAILED and e.get("kind", "compile") in ("compile", "record")
            and e.get("strategy")]


def patterns(events: Iterable[dict], min_occurrences: int = 1) -> list[dict]:
    """Failures grouped by (strategy, error kind), most frequent first.

    Each pattern: ``strategy``, ``kind``, ``count``, ``contexts`` ({context: count}),
    ``modules`` (sorted distinct names), ``example`` ({module, context, error, seq, ts}: the
    first failure of the pattern), ``explanation``, ``first_ts``, ``last_ts``, ``simulated``
    (every failure of the pattern came from the simulated toolchain). Patterns with fewer than
    `min_occurrences` failures are left out.
    """
    groups: dict[tuple[str, str], dict] = {}
    for e in failures(events):
        strategy = str(e["strategy"])
        kind = error_kind(e.get("error"))
        key = (strategy, kind)
        g = groups.get(key)
        if g is None:
            g = groups[key] = {
                "strategy": strategy, "kind": kind, "count": 0, "contexts": Counter(),
                "modules": set(), "explanation": explain(strategy, kind),
                "example": {"module": e.get("module"), "context": e.get("context"),
                            "error": clean_error(e.get("error")), "seq": e.get("seq"),
                            "ts": e.get("ts")},
                "first_ts": e.get("ts"), "last_ts": e.get("ts"), "simulated": True,
            }
        g["count"] += 1
        g["contexts"][str(e.get("context") or "?")] += 1
        if e.get("module"):
            g["modules"].add(str(e["module"]))
        g["last_ts"] = e.get("ts")
        g["simulated"] = g["simulated"] and bool(e.get("simulated"))
    out = []
    for g in groups.values():
        if g["count"] < max(1, int(min_occurrences)):
            continue
        g["contexts"] = dict(sorted(g["contexts"].items(), key=lambda kv: (-kv[1], kv[0])))
        g["modules"] = sorted(g["modules"])
        out.append(g)
    out.sort(key=lambda g: (-g["count"], g["strategy"], g["kind"]))
    return out


def counts(events: Iterable[dict]) -> dict:
    """Counts only (``learnings --stats-only``): compiles and failures per strategy, per kind.

    ``by_strategy``: {strategy: {"compiles", "failures", "rate"}} over compile events (a
    strategy failure counts as a compile of the strategy); ``by_kind``: {kind: failures};
    ``modules_failed``: compiles where the baseline failed too (no strategy is blamed).
    """
    compiles = failed = module_failed = 0
    by_strategy: dict[str, dict] = {}
    by_kind: Counter = Counter()
    simulated = False
    for e in events:
        if e.get("kind", "compile") != "compile" and not (e.get("kind") == "record" and e.get("outcome") == FAILED):
            continue
        strategy = str(e.get("strategy") or "?")
        row = by_strategy.setdefault(strategy, {"compiles": 0, "failures": 0, "rate": 0.0})
        row["compiles"] += 1
        if e.get("kind", "compile") == "compile":
            compiles += 1
            simulated = simulated or bool(e.get("simulated"))
        outcome = e.get("outcome")
        if outcome == FAILED:
            failed += 1
            row["failures"] += 1
            by_kind[error_kind(e.get("error"))] += 1
        elif outcome == "module_failed":
            module_failed += 1
    for row in by_strategy.values():
        row["rate"] = row["failures"] / row["compiles"] if row["compiles"] else 0.0
    return {
        "compiles": compiles,
        "strategy_failures": failed,
        "modules_failed": module_failed,
        "by_strategy": dict(sorted(by_strategy.items())),
        "by_kind": dict(sorted(by_kind.items(), key=lambda kv: (-kv[1], kv[0]))),
        "simulated": simulated,
    }
