"""Opt-in: build lean_fixtures/ with the REAL Lean toolchain, when one is on PATH."""

import os
import shutil
import subprocess
import sys

import pytest

from conftest import FIXTURES

REAL_LAKE = shutil.which("lake")


def _is_simulated(lake: str) -> bool:
    return os.path.isfile(os.path.join(os.path.dirname(os.path.dirname(lake)), "share", "simulated-toolchain.json"))


pytestmark = pytest.mark.skipif(
    REAL_LAKE is None or _is_simulated(REAL_LAKE),
    reason="no real Lean toolchain (`lake`) on PATH: the real-toolchain build is skipped "
           "(install Lean ≥ 4.14 with elan to run it)")


def test_fixtures_build_with_the_real_toolchain(tmp_path):
    proj = tmp_path / "fixtures"
    shutil.copytree(FIXTURES, proj, ignore=shutil.ignore_patterns(".lake", ".simpulse"))
    env = {k: v for k, v in os.environ.items() if k not in ("LAKE_OVERRIDE_LEAN", "LEAN_SYSROOT")}
    ref = subprocess.run([REAL_LAKE, "build"], cwd=tmp_path / "fixtures", env=env, capture_output=True, text=True)
    assert ref.returncode == 0, ref.stdout[-3000:]
    shutil.rmtree(proj / ".lake")
    got = subprocess.run([sys.executable, "-m", "simpulse", "build"], cwd=proj, env=env, capture_output=True, text=True)
    assert got.returncode == 0, got.stdout[-3000:] + got.stderr[-3000:]
    from simpulse.store.store import Store
    events = [e for e in Store(proj / ".simpulse").iter_events() if e.get("kind") == "compile"]
    assert len(events) >= 15 and not any(e.get("simulated") for e in events)
    # a second build replays everything: the shim is invisible to Lake's traces
    again = subprocess.run([sys.executable, "-m", "simpulse", "build"], cwd=proj, env=env, capture_output=True, text=True)
    assert again.returncode == 0 and "Built" not in again.stdout
    broken = subprocess.run([sys.executable, "-m", "simpulse", "build", "Broken"], cwd=proj, env=env,
                            capture_output=True, text=True)
    assert broken.returncode != 0 and "decide" in broken.stdout


def test_doctor_deep_passes_every_check_on_the_real_toolchain(tmp_path):
    """Issue 23: on a real toolchain, `simpulse doctor --deep` observes every assumption the
    wrapper makes and every check passes."""
    import json
    proj = tmp_path / "fixtures"
    shutil.copytree(FIXTURES, proj, ignore=shutil.ignore_patterns(".lake", ".simpulse"))
    env = {k: v for k, v in os.environ.items() if k not in ("LAKE_OVERRIDE_LEAN", "LEAN_SYSROOT", "SIMPULSE_SHIM")}
    env["XDG_CACHE_HOME"] = str(tmp_path / "cache")
    built = subprocess.run([sys.executable, "-m", "simpulse", "build"], cwd=proj, env=env, capture_output=True, text=True)
    assert built.returncode == 0, built.stdout[-3000:] + built.stderr[-3000:]
    p = subprocess.run([sys.executable, "-m", "simpulse", "doctor", "--deep", "--json"], cwd=proj, env=env,
                       capture_output=True, text=True, timeout=3600)
    data = json.loads(p.stdout)
    failed = [c for c in data["checks"] if c["status"] == "fail"]
    assert failed == [] and p.returncode == 0, failed
    assert data["simulated"] is False
    checks = {c["id"]: c for c in data["checks"]}
    for cid in ("toolchain.lean", "toolchain.lake", "toolchain.override", "toolchain.era", "invisibility.answers",
                "invisibility.noop", "options.weak", "cost.shim", "state.permissions", "state.loads"):
        assert checks[cid]["status"] == "ok", checks[cid]
    strategies = [c for cid, c in checks.items() if cid.startswith("options.strategy.")]
    assert strategies and all(c["status"] == "ok" for c in strategies)
    # a real lean evaluates the probe: Elab.async's default is observed, not skipped
    assert checks["options.elab_async"]["status"] == "ok", checks["options.elab_async"]
    verify = checks["meaning.verify"]
    assert verify["status"] == "ok" or verify["detail"].startswith("verify unavailable"), verify
    # nothing of the user's project was rebuilt by the doctor's build checks
    again = subprocess.run([sys.executable, "-m", "simpulse", "build"], cwd=proj, env=env, capture_output=True, text=True)
    assert again.returncode == 0 and "Built" not in again.stdout
