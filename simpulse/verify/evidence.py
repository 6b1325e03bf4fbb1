"""The verify evidence (`simpulse.store.verdicts`) as `stats` and `recommend` show it.

`rows(evidence)` flattens it into one row per (context, strategy): what `simpulse verify` saw
the strategy change there, on which modules, and how many comparisons found nothing; `lines`
turns the rows into sentences such as "no-linters changes messages in simp_heavy (seen on
Fixtures.Linted)".
"""

from __future__ import annotations

from simpulse.store.verdicts import KINDS

_PHRASE = {"messages": "changes messages", "outputs": "changes outputs", "verdict": "changes the verdict"}
_MAX_NAMES = 3


def rows(evidence: dict, context: str | None = None) -> list[dict]:
    """``[{"context", "strategy", "identical", "changes": [kinds], "seen_on": {kind: [modules]},
    "differs": [entries]}]`` sorted by context then strategy; only `context` when given."""
    out = []
    for ctx, per in sorted((evidence.get("evidence") or {}).items()):
        if context is not None and ctx != context:
            continue
        for strat, ev in sorted(per.items()):
            seen: dict[str, list[str]] = {}
            for d in ev.get("differs", []):
                for w in d["what"]:
                    mods = seen.setdefault(w, [])
                    if d["module"] not in mods:
                        mods.append(d["module"])
            out.append({"context": ctx, "strategy": strat, "identical": ev.get("identical", 0),
                        "changes": [k for k in KINDS if k in seen],
                        "seen_on": {k: sorted(seen[k]) for k in KINDS if k in seen},
                        "differs": list(ev.get("differs", []))})
    return out


def _names(mods: list[str]) -> str:
    shown = ", ".join(mods[:_MAX_NAMES])
    return shown + (f" +{len(mods) - _MAX_NAMES} more" if len(mods) > _MAX_NAMES else "")


def lines(rs: list[dict]) -> list[str]:
    """One sentence per (context, strategy, kind of change) verify observed."""
    out = []
    for r in rs:
        for kind in r["changes"]:
            breaks = kind == "verdict" and all(
                str(d.get("detail", "")).startswith("breaks") for d in r["differs"] if kind in d["what"])
            phrase = "breaks modules" if breaks else _PHRASE[kind]
            out.append(f"{r['strategy']} {phrase} in {r['context']} (seen on {_names(r['seen_on'][kind])})")
    return out


def totals(rs: list[dict]) -> dict:
    """How much evidence there is: comparisons, contexts, and (context, strategy) pairs that differ."""
    return {"comparisons": sum(r["identical"] + len(r["differs"]) for r in rs),
            "contexts": len({r["context"] for r in rs}),
            "differing_pairs": sum(bool(r["changes"]) for r in rs)}
