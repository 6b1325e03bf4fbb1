"""Toolchain checks: which `lean` and `lake`, `LAKE_WRAPPED_EXEC`, and whether this Lake
honours `LAKE_OVERRIDE_LEAN` + `LEAN_SYSROOT` (contract §1) — observed with `lake env`."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from simpulse.doctor import proc
from simpulse.doctor.check import Check, fail, ok, skip

SECTION = "toolchain"
LEAN_TITLE = "lean: path, version, githash"
LAKE_TITLE = "lake: path, version"
OVERRIDE_TITLE = "Lake honours LAKE_OVERRIDE_LEAN and LEAN_SYSROOT"
ERA_TITLE = "the Lake argument era (observed on a compile)"
INSTALL = "install Lean ≥ 4.14 with elan (https://github.com/leanprover/elan), or pass --lean/--lake"


def find(workspace: Path | None, *, lean: str | None = None, lake: str | None = None):
    """(toolchain or None, the check saying which lean was found)."""
    from simpulse.errors import SimpulseError
    from simpulse.lake.workspace import find_toolchain
    title = LEAN_TITLE
    try:
        tc = find_toolchain(workspace or Path.cwd(), lean=lean, lake=lake, cache=None)
    except SimpulseError as e:
        return None, fail("toolchain.lean", SECTION, title, str(e), INSTALL)
    label = " (SIMULATED toolchain)" if tc.simulated else ""
    githash = "" if tc.githash in (tc.version or "") else f", githash {tc.githash}"
    return tc, ok("toolchain.lean", SECTION, title,
                  f"{tc.lean} — {tc.version or 'unknown version'}{githash}{label}",
                  lean=str(tc.lean), lean_on_path=shutil.which("lean"), sysroot=str(tc.sysroot),
                  version=tc.version, githash=tc.githash, simulated=tc.simulated)


def lake_identity(ctx) -> Check:
    title = LAKE_TITLE
    r = proc.run([str(ctx.tc.lake), "--version"], env=ctx.plain_env(), cwd=ctx.scratch_dir("lake-env"),
                 timeout=ctx.timeout)
    if not r.ok:
        return fail("toolchain.lake", SECTION, title, f"`{ctx.tc.lake} --version` failed: {r.last_line()}",
                    INSTALL, lake=str(ctx.tc.lake))
    version = r.text().strip().splitlines()[0] if r.text().strip() else ""
    return ok("toolchain.lake", SECTION, title, f"{ctx.tc.lake} — {version}", lake=str(ctx.tc.lake),
              version=version)


def wrapped_exec() -> Check:
    title = "LAKE_WRAPPED_EXEC is not set"
    value = os.environ.get("LAKE_WRAPPED_EXEC")
    if value:
        return fail("toolchain.wrapped_exec", SECTION, title,
                    f"LAKE_WRAPPED_EXEC={value}: Lake hands compiles to another runner, which would get "
                    "the facade's paths; simpulse build runs plain `lake build` while it is set",
                    "unset LAKE_WRAPPED_EXEC to let simpulse build wrap Lake", value=value)
    return ok("toolchain.wrapped_exec", SECTION, title, "not set", value=None)


def _same(a: str | None, b: Path) -> bool:
    if not a:
        return False
    try:
        return os.path.realpath(a) == os.path.realpath(b)
    except (OSError, ValueError):
        return False


def override(ctx) -> Check:
    """`LAKE_OVERRIDE_LEAN=1 LEAN_SYSROOT=<facade> lake env` must report the facade as Lean's
    sysroot (and `LEAN=<facade>/bin/lean` where Lake prints it: the compiler it runs), while the
    same call without `LAKE_OVERRIDE_LEAN` reports Lake's own choice."""
    cid, title = "toolchain.override", OVERRIDE_TITLE
    remedy = ("use Lean ≥ 4.14 (LAKE_OVERRIDE_LEAN, lean4 PR #5684); until then simpulse build runs "
              "plain `lake build` here")
    if ctx.facade is None:
        return skip(cid, SECTION, title, ctx.facade_error or "no facade")
    wrapped, r = ctx.lake_env(True)
    plain, r0 = ctx.lake_env(False)
    data = {"facade": str(ctx.facade), "wrapped": wrapped, "control": plain}
    if wrapped is None:
        return fail(cid, SECTION, title, f"`lake env` failed under LAKE_OVERRIDE_LEAN=1: {r.last_line()}",
                    remedy, **data)
    got = wrapped.get("LEAN_SYSROOT")
    if not _same(got, ctx.facade):
        return fail(cid, SECTION, title,
                    f"with LAKE_OVERRIDE_LEAN=1 LEAN_SYSROOT=<facade>, Lake took {got or 'no'} sysroot, not the facade",
                    remedy, **data)
    lean = wrapped.get("LEAN")
    if lean is not None and not _same(lean, ctx.facade / "bin" / "lean"):
        return fail(cid, SECTION, title, f"Lake would run {lean}, not the facade's bin/lean", remedy, **data)
    if plain is not None and _same(plain.get("LEAN_SYSROOT"), ctx.facade):
        return skip(cid, SECTION, title,
                    "cannot tell: `lake env` reports LEAN_SYSROOT=<facade> even without LAKE_OVERRIDE_LEAN "
                    "(it passes the variable through)", **data)
    shown = f"; LEAN={lean}" if lean is not None else ""
    return ok(cid, SECTION, title,
              f"`lake env` under LAKE_OVERRIDE_LEAN=1 reports LEAN_SYSROOT=<facade>{shown}; without it, "
              f"{(plain or {}).get('LEAN_SYSROOT', '?')}", **data)
