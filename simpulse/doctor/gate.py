"""The cheap checks `simpulse build` runs before wrapping Lake, once per toolchain.

`cheap_checks(toolchain, state_dir, catalogue=...)` observes — with the same functions as
`simpulse doctor` — that this Lake honours `LAKE_OVERRIDE_LEAN`/`LEAN_SYSROOT`, that the facade's
`lean` answers `--githash`, `--version`, `--print-prefix`, `--print-libdir` byte-identically to
the real one (and Lake sees the same githash), that `lean` accepts `-Dweak.` options, and which
strategies use options this Lean does not know. A failure of any of the first three is a
*problem*: the build runs plain `lake build`. A strategy whose options are not accepted is
*left out* of the build. The result is cached per toolchain githash in
`<state_dir>/doctor-checks.json` (0600, written atomically), so a build pays for the checks once;
`simpulse doctor` refreshes it. Observations cut short (a timeout) are not cached.
"""

from __future__ import annotations

import json
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

CACHE = "doctor-checks.json"
VERSION = 1
GATING = ("toolchain.override", "invisibility.answers", "options.weak")
_SHORT = {
    "toolchain.override": "this Lake does not run the facade (it ignores LAKE_OVERRIDE_LEAN or LEAN_SYSROOT)",
    "invisibility.answers": "through the facade, lean does not answer like the real lean (every module would rebuild)",
    "options.weak": "this lean rejects -Dweak. options (every strategy would fail)",
}
_TRANSIENT = ("did not finish within", "could not run ", "could not build the facade")


@dataclass
class Problem:
    id: str
    reason: str          # one short line
    detail: str          # what was observed
    remedy: str | None

    def __str__(self) -> str:
        return self.reason


@dataclass
class Gate:
    problems: list[Problem] = field(default_factory=list)
    left_out: dict[str, str] = field(default_factory=dict)    # strategy → why
    cached: bool = False
    checks: list = field(default_factory=list)                # the Check objects (fresh runs only)


def apply(gate: Gate, settings: dict, catalogue, forced: str | None = None) -> list[str]:
    """Leave out of a build's `settings` the strategies this Lean does not accept (and a
    `--strategy` forcing one of them); returns the notes to show (the first time, or when
    `--strategy` named one)."""
    if not gate.left_out:
        return []
    settings["enabled"] = [n for n in catalogue.names() if n not in gate.left_out]
    notes = []
    if forced in gate.left_out:
        settings["force_strategy"] = None
        notes.append(f"--strategy {forced} not run: this Lean does not accept its options (see `simpulse doctor`)")
    if not gate.cached:
        notes.append(f"note: left out on this toolchain (see `simpulse doctor`): {', '.join(sorted(gate.left_out))}")
    return notes


def fingerprint(tc, catalogue) -> str:
    from simpulse.lake.facade import LAUNCHER_VERSION, package_parent
    active = sorted((s.name, tuple(s.options), tuple(s.args)) for s in (catalogue.active if catalogue else ())
                    if not s.is_baseline)
    return json.dumps([str(tc.lake), str(tc.sysroot), tc.version, sys.executable, package_parent(),
                       LAUNCHER_VERSION, VERSION, active], default=list)


def run_checks(tc, *, catalogue=None, workspace: Path | None = None, timeout: float = 60.0) -> list:
    """The cheap checks, observed now (no cache)."""
    from simpulse.doctor import invisibility, options, toolchain
    from simpulse.doctor.context import Context
    with Context(workspace, tc, catalogue=catalogue, timeout=timeout,
                 profile=getattr(catalogue, "profile", None) or "safe") as ctx:
        ctx.prefetch()
        prober = options.Prober(ctx)
        return [toolchain.override(ctx), invisibility.answers(ctx), options.weak_support(ctx, prober),
                *options.strategy_checks(ctx, prober)]


def judge(checks: list) -> Gate:
    from simpulse.doctor.options import left_out
    problems = [Problem(c.id, _SHORT[c.id], c.detail, c.remedy) for c in checks
                if c.id in GATING and c.status == "fail"]
    return Gate(problems=problems, left_out=left_out(checks), checks=list(checks))


def _read(state_dir: Path) -> dict:
    try:
        data = json.loads((Path(state_dir) / CACHE).read_text())
        if isinstance(data, dict) and data.get("version") == VERSION and isinstance(data.get("toolchains"), dict):
            return data
    except (OSError, ValueError):
        pass
    return {"version": VERSION, "toolchains": {}}


def lookup(state_dir: Path, tc, catalogue=None) -> Gate | None:
    entry = _read(state_dir)["toolchains"].get(tc.githash)
    if not isinstance(entry, dict) or entry.get("fingerprint") != fingerprint(tc, catalogue):
        return None
    try:
        problems = [Problem(p["id"], p["reason"], p["detail"], p.get("remedy")) for p in entry["problems"]]
        left = {str(k): str(v) for k, v in entry["left_out"].items()}
    except (KeyError, TypeError, AttributeError):
        return None
    return Gate(problems=problems, left_out=left, cached=True)


def save(state_dir: Path, tc, catalogue, gate: Gate) -> bool:
    """Remember `gate` for this toolchain (atomic; 0600). Not when an observation was cut short."""
    if any(any(t in (c.detail or "") for t in _TRANSIENT) for c in gate.checks if c.status == "fail"):
        return False
    data = _read(state_dir)
    data["toolchains"][tc.githash] = {
        "fingerprint": fingerprint(tc, catalogue), "time": time.time(),
        "problems": [p.__dict__ for p in gate.problems], "left_out": gate.left_out,
        "checks": [c.to_json() for c in gate.checks],
    }
    path = Path(state_dir) / CACHE
    try:
        from simpulse.store.atomic import write_atomic
        write_atomic(path, json.dumps(data, sort_keys=True).encode())
        return True
    except OSError:
        return False


def cheap_checks(tc, state_dir: Path, *, catalogue=None, workspace: Path | None = None) -> Gate:
    """The gate of `simpulse build`: cached per toolchain githash in the state directory."""
    hit = lookup(state_dir, tc, catalogue)
    if hit is not None:
        return hit
    try:
        checks = run_checks(tc, catalogue=catalogue, workspace=workspace)
    except Exception as e:  # noqa: BLE001 - a bug here must not break the user's build
        return Gate(problems=[Problem("doctor", f"simpulse's checks of this toolchain failed ({type(e).__name__}: {e})",
                                      str(e), "please report it with `simpulse doctor --json`")])
    gate = judge(checks)
    save(state_dir, tc, catalogue, gate)
    return gate
