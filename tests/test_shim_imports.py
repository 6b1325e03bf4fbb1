"""The shim's hot path imports the standard library only (checked with `python -X importtime`)."""

import subprocess
import sys

HEAVY = ("typer", "rich", "numpy", "scipy", "click", "watchdog", "pydantic", "simpulse.commands", "simpulse.stats")


def test_shim_compile_imports_no_heavy_module(project):
    project.simpulse("build", "Fixtures.Basic", check=0)
    shim = project.facade / "simpulse-shim.py"
    env = project.shim_env(LEAN_PATH=str(project.root / ".lake/build/lib/lean"))
    out = project.root / "x"
    p = subprocess.run([sys.executable, "-X", "importtime", "-IS", str(shim), "Fixtures/Tiny.lean", "-R", ".",
                        "-o", f"{out}.olean", "-i", f"{out}.ilean", "-c", f"{out}.c", "--json"],
                       cwd=project.root, env=env, capture_output=True, text=True)
    assert p.returncode == 0, p.stderr[-2000:]
    imported = [line.rsplit("|", 1)[-1].strip() for line in p.stderr.splitlines() if line.startswith("import time:")]
    assert "simpulse.shim.main" in imported and "simpulse.learner" in imported   # the shim really ran
    heavy = [m for m in imported if m.split(".")[0] in HEAVY or any(m.startswith(h) for h in HEAVY)]
    assert heavy == []
    # the typed core keeps `typing` behind TYPE_CHECKING (docs/contributing.md): never on this path
    assert "typing" not in imported
    # nor `random` (~2 ms): the learner draws from `policy/rng.py`, on `_random` directly
    assert "random" not in imported and "simpulse.policy.rng" in imported
    # nor the archive and compaction: a compile after a build's checkpoint reads no segment
    assert "simpulse.store.compaction" not in imported
    # and the compile was recorded
    assert any(e["module"] == "Fixtures.Tiny" for e in project.events())


def test_passthrough_starts_no_python(project, tmp_path):
    """`lean --githash` and the other non-compile invocations never start Python: the
    launcher execs the real lean. Checked with a `python` that records being started."""
    project.simpulse("build", "Fixtures.Basic", check=0)
    launcher = project.facade / "bin" / "lean"
    text = launcher.read_text()
    assert text.startswith("#!/bin/sh")
    marker = tmp_path / "python-started"
    spy = tmp_path / "spy-python"
    spy.write_text(f"#!/bin/sh\ntouch {marker}\nexec {sys.executable} \"$@\"\n")
    spy.chmod(0o755)
    patched = tmp_path / "lean"
    patched.write_text(text.replace(repr(sys.executable).strip("'"), str(spy)))
    patched.chmod(0o755)
    assert str(spy) in patched.read_text()
    env = project.shim_env()
    for flag in (["--githash"], ["--version"], ["--print-prefix"], ["--print-libdir"], ["--help"]):
        subprocess.run([str(patched), *flag], capture_output=True, env=env)
        assert not marker.exists(), flag
    # and a compile does start it (the spy is live)
    out = tmp_path / "x"
    subprocess.run([str(patched), "Fixtures/Tiny.lean", "-R", ".", "-o", f"{out}.olean", "-i", f"{out}.ilean",
                    "-c", f"{out}.c", "--json"], cwd=project.root,
                   env=dict(env, LEAN_PATH=str(project.root / ".lake/build/lib/lean")), capture_output=True)
    assert marker.exists()
