"""The shim's hot path imports the standard library only (checked with `python -X importtime`)."""

import subprocess
import sys

HEAVY = ("typer", "rich", "numpy", "scipy", "click", "watchdog", "pydantic", "simpulse.commands", "simpulse.stats")


def test_shim_compile_imports_no_heavy_module(project):
    project.simpulse("build", "Fixtures.Basic", check=0)
    shim = project.state / "facade" / "bin" / "lean"
    env = dict(project.env, LEAN_PATH=str(project.root / ".lake/build/lib/lean"))
    out = project.root / "x"
    p = subprocess.run([sys.executable, "-X", "importtime", "-IS", str(shim), "Fixtures/Tiny.lean", "-R", ".",
                        "-o", f"{out}.olean", "-i", f"{out}.ilean", "-c", f"{out}.c", "--json"],
                       cwd=project.root, env=env, capture_output=True, text=True)
    assert p.returncode == 0, p.stderr[-2000:]
    imported = [line.rsplit("|", 1)[-1].strip() for line in p.stderr.splitlines() if line.startswith("import time:")]
    assert "simpulse.shim.main" in imported and "simpulse.learner" in imported   # the shim really ran
    heavy = [m for m in imported if m.split(".")[0] in HEAVY or any(m.startswith(h) for h in HEAVY)]
    assert heavy == []
    # and the compile was recorded
    assert any(e["module"] == "Fixtures.Tiny" for e in project.events())


def test_passthrough_imports_nothing_of_simpulse(project):
    project.simpulse("build", "Fixtures.Basic", check=0)
    shim = project.state / "facade" / "bin" / "lean"
    p = subprocess.run([sys.executable, "-X", "importtime", "-IS", str(shim), "--githash"],
                       capture_output=True, text=True)
    assert p.returncode == 0
    assert "simpulse" not in p.stderr
