"""Meaning. `--deep`: `simpulse verify` on a handful of the project's modules — the largest
ones and one that logged warnings — for every strategy of the active profile: identical
verdicts, messages and outputs, or not. Nothing is recorded (`--no-record`). Always: whether
Lake's artifact cache would carry outputs a strategy changed beyond the build (`artifact_cache`)."""

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
TITLE = "simpulse verify: each strategy of the profile changes nothing the profile does not accept"
CACHE_TITLE = "Lake's artifact cache holds no output a strategy changed"
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
    strategies = [s for s in ctx.catalogue.active if not s.is_baseline] if ctx.catalogue is not None else []
    if not strategies:
        return skip(cid, SECTION, TITLE, f"profile {ctx.profile!r} has no strategy besides the baseline")
    picks = [a for s in strategies for a in ("--strategy", s.name)]
    r = proc.run([sys.executable, "-m", "simpulse", "verify", *files, *picks, "--json", "--no-record",
                  "--state-dir", str(sdir)], env=ctx.plain_env(), cwd=ctx.workspace, timeout=ctx.timeout * 20)
    try:
        data = json.loads(r.text())
        data["summary"]                 # a report has one
    except (ValueError, KeyError, TypeError):
        return fail(cid, SECTION, TITLE, f"simpulse verify gave no report: {r.last_line()}",
                    "run `simpulse verify FILE` by hand to see why", files=files, rc=r.rc)
    return judge(ctx, data, [os.path.relpath(f, ctx.workspace) for f in files])


def judge(ctx, data: dict, rel: list[str]) -> Check:
    """✗ when a strategy changed something the profile does not accept (messages, outputs), made a
    failing module pass, or a comparison could not be made; a strategy that breaks a module is
    reported (the build falls back to the baseline there) but is no ✗ by itself."""
    cid = "meaning.verify"
    accepted = set(ctx.catalogue.accepted) if ctx.catalogue is not None else set()
    bad, breaks, identical = [], [], 0
    for m in data.get("modules", []):
        if m.get("status") != "verified":
            bad.append(f"{m.get('module')}: {m.get('status')} ({m.get('detail')})")
        for s in m.get("strategies", []):
            what = set(s.get("what") or [])
            if s.get("status") == "identical":
                identical += 1
            elif s.get("status") != "differs":
                bad.append(f"{m.get('module')}: {s.get('strategy')}: {s.get('detail')}")
            elif s.get("fixes") or (what - {"verdict"}) - accepted:
                bad.append(f"{m.get('module')}: {s.get('strategy')} {s.get('detail')}")
            elif s.get("breaks"):
                breaks.append(f"{m.get('module')}: {s.get('strategy')} {s.get('detail')}")
            else:
                identical += 1        # changes only what the profile accepts
    info = {"files": rel, "summary": data.get("summary"), "simulated": data.get("simulated", ctx.tc.simulated),
            "breaks": breaks, "differences": bad}
    if bad:
        return fail(cid, SECTION, TITLE, f"{len(bad)} problem(s): " + "; ".join(bad[:3]),
                    "run `simpulse verify " + " ".join(rel) + "` to record it: a strategy seen changing "
                    "something leaves every profile that does not accept it", **info)
    note = f"; {len(breaks)} break a module (the build falls back to the baseline there): {breaks[0]}" if breaks else ""
    return ok(cid, SECTION, TITLE, f"{identical} comparisons on {', '.join(rel)}: nothing changed beyond what "
              f"profile {ctx.profile!r} accepts{note}", **info)


def artifact_cache(workspace: Path | None, catalogue) -> Check:
    """Lake's artifact cache (newer Lake) keeps what a build compiles for every workspace of the
    toolchain, under the key a plain build uses. While it is on, `simpulse build` leaves out the
    strategies that change outputs (`commands/build.py`, `_artifact_cache_guard`); this says
    whether it is on, why, and what that leaves out under the active profile. Informational."""
    cid = "meaning.artifact_cache"
    if workspace is None:
        return skip(cid, SECTION, CACHE_TITLE, "no Lake workspace here")
    from simpulse.lake.lakefile import left_out_by_artifact_cache
    why, changing = left_out_by_artifact_cache(workspace, catalogue, dict(os.environ))
    if why is None:
        return ok(cid, SECTION, CACHE_TITLE, "off (Lake's default): what a build compiles stays in its .lake/build",
                  on=False, why=None, left_out=[])
    if not changing:
        return ok(cid, SECTION, CACHE_TITLE, f"on ({why}); the profile runs no strategy that changes outputs",
                  on=True, why=why, left_out=[])
    return ok(cid, SECTION, CACHE_TITLE,
              f"on ({why}): simpulse build leaves out {', '.join(changing)}, whose outputs Lake would store "
              "there and restore into later builds, plain `lake build` ones included; turn the cache off to run them",
              on=True, why=why, left_out=changing)
