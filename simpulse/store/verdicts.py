"""What `simpulse verify` observed each strategy change, per context: ``<state_dir>/verify.json``.

Standard library only: the shim reads it (a strategy may change in a context what its
declaration says *and* what verify saw it change there; the profile filters on that union).
Shape, version 1::

    {"version": 1,
     "evidence": {CONTEXT: {STRATEGY: {
         "identical": N,                # comparisons of a module that found nothing changed
         "differs": [{"module": M, "path": P, "what": ["messages"|"outputs"|"verdict", ...],
                      "detail": "one line", "source_hash": H, "toolchain": G, "time": T}]}}}}

`record` holds ``<state_dir>/verify.lock`` (an exclusive flock) across read–modify–write and
replaces the file atomically (temporary file + ``os.replace``, 0600), so concurrent verify runs
never lose each other's evidence and the shim never reads a torn file. A new difference on the
same module, source hash and toolchain replaces the earlier entry (the same observation made
again); at most `MAX_DIFFERS` entries are kept per (context, strategy), the newest.
"""

from __future__ import annotations

import os
import time

from simpulse import _fastjson as json

TYPE_CHECKING = False        # `typing` costs the shim an import; mypy reads this name as typing's
if TYPE_CHECKING:
    from typing import Any

Evidence = dict[str, "Any"]     # {"version": 1, "evidence": {context: {strategy: {"identical", "differs"}}}}

__all__ = ["VERSION", "FILE_NAME", "LOCK_NAME", "KINDS", "MAX_DIFFERS", "read", "observed", "record"]

VERSION = 1
FILE_NAME = "verify.json"
LOCK_NAME = "verify.lock"
KINDS = ("messages", "outputs", "verdict")
MAX_DIFFERS = 50


def _empty() -> Evidence:
    return {"version": VERSION, "evidence": {}}


def _clean(data: object) -> Evidence:
    """`data` with anything malformed dropped: what `read` returns is always well-formed."""
    out = _empty()
    if type(data) is not dict or data.get("version") != VERSION or type(data.get("evidence")) is not dict:
        return out
    for ctx, per in data["evidence"].items():
        if not isinstance(ctx, str) or type(per) is not dict:
            continue
        for strat, ev in per.items():
            if not isinstance(strat, str) or type(ev) is not dict:
                continue
            n = ev.get("identical", 0)
            differs: list[dict[str, Any]] = []
            for d in ev.get("differs") or ():
                if type(d) is dict and isinstance(d.get("module"), str) and type(d.get("what")) is list:
                    what = [w for w in d["what"] if w in KINDS]
                    if what:
                        differs.append(dict(d, what=what))
            out["evidence"].setdefault(ctx, {})[strat] = {
                "identical": n if type(n) is int and n >= 0 else 0, "differs": differs}
    return out


def read(state_dir: str | os.PathLike[str]) -> Evidence:
    """The evidence in `state_dir` (missing or unreadable → empty evidence). Never raises."""
    try:
        from simpulse.store.safe_open import read_file
        return _clean(json.loads(read_file(os.path.join(os.fspath(state_dir), FILE_NAME))))
    except Exception:  # noqa: BLE001 - missing, unreadable, not JSON, not even a path
        return _empty()


def observed(evidence: Evidence, context: str, strategy: str) -> set[str]:
    """What `strategy` was seen to change in `context`: the union of ``what`` over its differs."""
    try:
        ev = evidence["evidence"][context][strategy]
        return {w for d in ev["differs"] for w in d["what"] if w in KINDS}
    except (KeyError, TypeError):
        return set()


def record(state_dir: str | os.PathLike[str], context: str, strategy: str, module: str, path: str | os.PathLike[str] | None,
           what: list[str], detail: object, source_hash: str | None, toolchain: str | None) -> Evidence:
    """Add one comparison of `module` under `strategy` to the evidence of `context`; returns the
    new evidence. ``what == []`` counts as identical. Raises ValueError on an unknown kind and
    OSError when the state directory cannot be written."""
    what = list(dict.fromkeys(what))
    bad = [w for w in what if w not in KINDS]
    if bad:
        raise ValueError(f"unknown kind of change {bad[0]!r} (known: {', '.join(KINDS)})")
    from simpulse.store.file_lock import lock
    from simpulse.store.invocations import make_private_dir, write_atomic
    d = os.fspath(state_dir)
    make_private_dir(d)
    with lock(os.path.join(d, LOCK_NAME)):
        data = read(d)
        ev = data["evidence"].setdefault(context, {}).setdefault(strategy, {"identical": 0, "differs": []})
        if not what:
            ev["identical"] += 1
        else:
            entry = {"module": module, "path": None if path is None else str(path),
                     "what": [w for w in KINDS if w in what],
                     "detail": " ".join(str(detail or "").split())[:300],
                     "source_hash": source_hash, "toolchain": toolchain, "time": round(time.time(), 3)}
            same = (module, source_hash, toolchain)
            kept = [x for x in ev["differs"]
                    if (x.get("module"), x.get("source_hash"), x.get("toolchain")) != same]
            ev["differs"] = (kept + [entry])[-MAX_DIFFERS:]
        write_atomic(os.path.join(d, FILE_NAME),
                     json.dumps(data, separators=(",", ":")).encode("ascii"))
    return data
