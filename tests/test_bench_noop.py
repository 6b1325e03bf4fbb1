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


@pytest.mark.slow
def test_an_edit_run_edits_the_least_imported_module_in_both_copies_and_changes_no_tracked_file():
    before = subprocess.run(["git", "status", "--porcelain"], cwd=ROOT, capture_output=True, text=True).stdout
    p = subprocess.run([sys.executable, "scripts/bench_noop.py", "--modules", "30", "--runs", "2", "--edit"], cwd=ROOT,
                       capture_output=True, text=True, timeout=600)
    assert p.returncode == 0, p.stderr[-2000:]
    assert "An edit rebuild of a generated project of 30 modules" in p.stdout
    assert "`simpulse build` after the edit, median" in p.stdout and "--edit --write-docs" in p.stdout
    after = subprocess.run(["git", "status", "--porcelain"], cwd=ROOT, capture_output=True, text=True).stdout
    assert after == before


def test_least_imported_finds_the_module_fewest_others_import(tmp_path):
    sys.path.insert(0, str(ROOT / "scripts"))
    from bench_noop import least_imported
    (tmp_path / "P").mkdir()
    (tmp_path / "P.lean").write_text("import P.A\nimport P.B\nimport P.C\n")      # the aggregator
    (tmp_path / "P" / "A.lean").write_text("theorem a : True := trivial\n")
    (tmp_path / "P" / "B.lean").write_text("import P.A\n")
    (tmp_path / "P" / "C.lean").write_text("import P.A\nimport P.B\n")
    assert least_imported(tmp_path) == (Path("P/C.lean"), ["P"])
