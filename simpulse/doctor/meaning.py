"""Meaning (`--deep`): `simpulse verify` on a handful of the project's modules — the largest
ones and one that logged warnings — for every strategy of the active profile: identical
verdicts, messages and outputs, or not. Nothing is recorded (`--no-record`)."""

from __future__ import annotations

import importlib
import importlib.util
import json
import os
import sys
from pathlib import Path

from simpulse.doctor import proc
from simpulse.doctor.check import Check, fail, ok, skip

SECTION = "meaning"
TITLE = "simpulse verify: each strategy leaves verdicts, messages and outputs as they are"
HANDFUL = 3


def _available() -> bool:
    try:
        return (importlib.util.find_spec("simpulse.commands.verify") is not None
                and importlib.util.find_spec("simpulse.store.invocations") is not None)
    except (ImportError, ValueError):
        return False


def _warned(workspace: Path) -> set[str]:
    """Sources whose Lake trace stores a warning (read only; Lake keeps each job's log there)."""
    out = set()
    base = workspace / ".lake" / "build" / "lib"
    for trace in base.rglob("*.trace") if base.is_dir() else []:
        try:
            data = json.loads(trace.read_text(errors="replace"))
        except (OSError, ValueError):
            continue
        log = data.get("log") if isinstance(data, dict) else None
        if isinstance(log, list) and any(isinstance(e, dict) and e.get("level") == "warning" for e in log):
            out.add(trace.stem)
    return out


def choose(workspace: Path, invocations: dict) -> list[str]:
    """The largest remembered sources, and one whose last build logged a warning."""
    files = []
    for inv in invocations.values():
        src = inv.get("source_path")
        if isinstance(src, str) and src:
            p = os.path.realpath(os.path.join(inv.get("cwd") or str(workspace), src))
            if os.path.isfile(p):
                files.append(p)
    files = sorted(set(files), key=lambda p: (-os.path.getsize(p), p))
    chosen = files[:HANDFUL]
    warned = _warned(workspace)
    extra = next((p for p in files if Path(p).stem in warned and p not in chosen), None)
    if extra is not None:
        chosen.append(extra)
    return chosen


def deep(ctx, enabled: bool) -> Check:
    cid = "meaning.verify"
    if not enabled:
        return skip(cid, SECTION, TITLE, "run `simpulse doctor --deep` to compare outputs")
    if not _available():
        return skip(cid, SECTION, TITLE, "verify unavailable: this simpulse has no `simpulse verify`")
    sdir = ctx.state_dir
    if ctx.workspace is None or sdir is None or not sdir.is_dir():
        return skip(cid, SECTION, TITLE, "no state directory: run `simpulse build` first (verify replays its compiles)")
    try:
        invocations = importlib.import_module("simpulse.store.invocations").load_all(str(sdir))
    except Exception as e:  # noqa: BLE001
        return skip(cid, SECTION, TITLE, f"the remembered compiles do not load: {type(e).__name__}: {e}")
    files = choose(ctx.workspace, invocations or {})
    if not files:
        return skip(cid, SECTION, TITLE, "no remembered compiles: run `simpulse build` first")
    r = proc.run([sys.executable, "-m", "simpulse", "verify", *files, "--json", "--no-record",
                  "--state-dir", str(sdir)], env=ctx.plain_env(), cwd=ctx.workspace, timeout=ctx.timeout * 20)
    try:
        data = json.loads(r.text())
        summary = data["summary"]
    except (ValueError, KeyError, TypeError):
        return fail(cid, SECTION, TITLE, f"simpulse verify gave no report: {r.last_line()}",
                    "run `simpulse verify FILE` by hand to see why", files=files, rc=r.rc)
    rel = [os.path.relpath(f, ctx.workspace) for f in files]
    differs = [f"{m.get('module')}: {s.get('strategy')} {s.get('detail')}" for m in data.get("modules", [])
               for s in m.get("strategies", []) if s.get("status") != "identical"]
    bad_modules = [f"{m.get('module')}: {m.get('status')} ({m.get('detail')})" for m in data.get("modules", [])
                   if m.get("status") != "verified"]
    info = {"files": rel, "summary": summary, "simulated": data.get("simulated", ctx.tc.simulated)}
    if differs or bad_modules:
        shown = (bad_modules + differs)[:3]
        return fail(cid, SECTION, TITLE, f"{len(differs)} comparison(s) differ or failed: " + "; ".join(shown),
                    "run `simpulse verify " + " ".join(rel) + "` to record it: a strategy seen changing "
                    "something leaves every profile that does not accept it", differences=differs, **info)
    return ok(cid, SECTION, TITLE, f"{summary.get('identical', 0)} comparisons identical on {', '.join(rel)}", **info)
