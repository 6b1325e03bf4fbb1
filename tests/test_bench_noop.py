"""scripts/bench_noop.py (a no-op simpulse build against a no-op lake build, SIMULATED): a small
run prints its table and verdict, and changes no tracked file."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.slow          # two clean builds of a generated project, then no-op builds
def test_a_small_run_prints_the_difference_and_changes_no_tracked_file():
    before = subprocess.run(["git", "status", "--porcelain"], cwd=ROOT, capture_output=True, text=True).stdout
    p = subprocess.run([sys.executable, "scripts/bench_noop.py", "--modules", "40", "--runs", "2"], cwd=ROOT,
                       capture_output=True, text=True, timeout=600)
    assert p.returncode == 0, p.stderr[-2000:]
    assert "simpulse − lake, median of pairs" in p.stdout and "(measured at 40 modules)" in p.stdout
    after = subprocess.run(["git", "status", "--porcelain"], cwd=ROOT, capture_output=True, text=True).stdout
    assert after == before
