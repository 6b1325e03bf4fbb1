"""The facade's launcher and the shim's settings (issue 17, item 4): whatever happens to
simpulse, the build behaves as plain `lake build`; builds with different settings share a
facade without disturbing each other."""

import json
import os
import subprocess
import sys
import time

from simpulse.commands.build import _unlearned
from simpulse.lake.facade import SHIM_SCRIPT, build_facade, facade_key


def test_facade_depends_on_the_toolchain_only(project):
    project.simpulse("build", "Fixtures.Basic", "--seed", "1", check=0)
    first = os.path.realpath(project.facade)
    project.simpulse("build", "Fixtures.Tiny", "--seed", "2", "--mode", "shadow", "--strategy", "single-thread",
                     check=0)
    assert os.path.realpath(project.facade) == first           # other settings: the same facade
    assert "seed" not in (project.facade / "simpulse-shim.json").read_text()
    settings = json.loads((project.state / "shim-settings.json").read_text())
    assert settings["seed"] == 2 and settings["mode"] == "shadow" and settings["force_strategy"] == "single-thread"
    assert os.stat(project.facade / "bin" / "lean").st_mode & 0o777 == 0o700
    assert facade_key(project.sysroot, sys.executable) in first


def _lake_env(project, facade):
    return project.shim_env(LAKE_OVERRIDE_LEAN="1", LEAN_SYSROOT=str(facade))


def test_a_missing_interpreter_runs_the_real_lean_and_nothing_rebuilds(project, tmp_path):
    project.simpulse("build", check=0)
    py = tmp_path / "py"
    os.symlink(sys.executable, py)
    facade = build_facade(project.state, project.sysroot, python=str(py))
    env = _lake_env(project, facade)
    # the interpreter works: a touched module goes through the shim
    with open(project.root / "Fixtures" / "Tiny.lean", "a") as f:
        f.write("\n-- touched\n")
    n = len(project.events())
    p = project.lake("build", env=env, check=0)
    touched = {"Fixtures.Tiny", "Fixtures"}          # Tiny and the root that imports it
    assert set(project.built(p.stdout)) == touched and len(project.events()) == n + 2
    # the interpreter is gone (a deleted virtualenv): the githash probe still answers, so
    # nothing rebuilds, and a touched module compiles with the real lean
    py.unlink()
    p = project.lake("build", env=env, check=0)
    assert project.built(p.stdout) == [] and "Build completed successfully" in p.stdout
    with open(project.root / "Fixtures" / "Tiny.lean", "a") as f:
        f.write("\n-- touched again\n")
    log = project.state / "simpulse.log"
    before = log.stat().st_size if log.exists() else 0
    p = project.lake("build", env=env, check=0)
    assert set(project.built(p.stdout)) == touched and len(project.events()) == n + 2
    # each of those compiles said in the build's log that it ran plain lean, and the build's
    # summary counts them (it said "nothing to compile" before)
    assert _unlearned(project.state, before) == (2, 0)
    with open(log, "rb") as f:
        f.seek(before)
        lines = f.read().decode().splitlines()
    assert len(lines) == 2 and all(" passthrough: the shim could not start (" in x and str(py) in x for x in lines)
    assert p.stderr.strip() == "" or "passthrough" not in p.stderr
    real = subprocess.run([str(project.sysroot / "bin" / "lean"), "--githash"], capture_output=True)
    shim = subprocess.run([str(facade / "bin" / "lean"), "--githash"], capture_output=True, env=env)
    assert shim.stdout == real.stdout and shim.returncode == real.returncode == 0


def test_a_shim_that_cannot_load_simpulse_runs_the_real_lean_and_says_so(project, tmp_path):
    """The shim script cannot import simpulse (a package moved or damaged after the facade was
    made): the compile runs the real lean with its arguments, prints nothing of its own, and
    leaves one `passthrough:` line in the build's log for the summary to count."""
    project.simpulse("build", "Fixtures.Basic", check=0)
    broken = tmp_path / "broken"
    (broken / "simpulse").mkdir(parents=True)
    (broken / "simpulse" / "__init__.py").write_text("raise ImportError('damaged on purpose')\n")
    script = (project.facade / SHIM_SCRIPT).read_text()
    pkg = os.path.dirname(os.path.dirname(os.path.abspath(__import__("simpulse").__file__)))
    assert repr(pkg) in script
    shim = tmp_path / SHIM_SCRIPT
    shim.write_text(script.replace(repr(pkg), repr(str(broken))).replace("install(", "(lambda p: None)("))
    src = tmp_path / "Alone.lean"
    src.write_text("theorem alone : 1 + 1 = 2 := rfl\n")
    out = tmp_path / "Alone.olean"
    log = project.state / "simpulse.log"
    before = log.stat().st_size if log.exists() else 0
    env = project.shim_env()
    p = subprocess.run([sys.executable, "-IS", str(shim), str(src), "-o", str(out)], env=env, capture_output=True,
                       text=True, cwd=project.root, timeout=120)
    real = subprocess.run([str(project.sysroot / "bin" / "lean"), str(src), "-o", str(tmp_path / "real.olean")],
                          env=env, capture_output=True, text=True, cwd=project.root, timeout=120)
    assert (p.returncode, p.stdout, p.stderr) == (real.returncode, real.stdout, real.stderr)
    assert p.returncode == 0 and out.read_bytes() == (tmp_path / "real.olean").read_bytes()
    assert _unlearned(project.state, before) == (1, 0)
    with open(log, "rb") as f:
        f.seek(before)
        assert "simpulse could not load: ImportError: damaged on purpose" in f.read().decode()


def test_without_the_builds_settings_the_launcher_is_the_real_lean(project):
    project.simpulse("build", "Fixtures.Basic", check=0)
    env = dict(project.env, LAKE_OVERRIDE_LEAN="1", LEAN_SYSROOT=str(project.facade))
    n = len(project.events())
    p = project.lake("build", "Fixtures.Tiny", env=env, check=0)      # SIMPULSE_SHIM not set
    assert project.built(p.stdout) == ["Fixtures.Tiny"] and len(project.events()) == n


def test_two_builds_with_different_settings_at_once(project):
    """`simpulse build --mode shadow` and, a moment later, `simpulse build --strategy single-thread`
    on the same project (disjoint targets): both pass, and each build's compiles follow its own
    settings (before, the second rewrote the facade the first was running)."""
    project.lake("build", "Fixtures.Basic", check=0)
    env = dict(project.env, SIMPULSE_SIM_SCALE="0.3")
    first = subprocess.Popen([sys.executable, "-m", "simpulse", "build", "Fixtures.SimpHeavy", "--mode", "shadow"],
                             cwd=project.root, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 60
    while time.time() < deadline and not (project.state / "shim-settings.json").exists():
        time.sleep(0.05)
    time.sleep(0.5)
    second = subprocess.run([sys.executable, "-m", "simpulse", "build", "Fixtures.StackMachine", "Fixtures.Cases",
                             "--strategy", "single-thread"], cwd=project.root, env=env, capture_output=True,
                            text=True, timeout=300)
    out, err = first.communicate(timeout=300)
    assert first.returncode == 0, err
    assert second.returncode == 0, second.stderr
    by_build: dict = {}
    for e in project.events():
        by_build.setdefault(e["build"], []).append(e)
    assert len(by_build) == 2
    mods = {tuple(sorted(e["module"] for e in evs)): evs for evs in by_build.values()}
    shadow = mods[("Fixtures.ListLemmas", "Fixtures.Lists", "Fixtures.SimpHeavy", "Fixtures.Structures")]
    forced = mods[("Fixtures.Arith", "Fixtures.Cases", "Fixtures.Expr", "Fixtures.StackMachine")]
    assert all(e["mode"] == "shadow" and e["strategy"] == "baseline" for e in shadow)
    assert all(e["mode"] == "auto" and e["strategy"] == "single-thread" for e in forced)


def test_the_launchers_log_line_never_blocks_nor_follows_a_link(tmp_path):
    """A module compile that cannot reach the shim appends its line to SIMPULSE_SHIM_LOG only
    when that is a regular file or absent: a FIFO (whose open would wait for a reader) and a
    symlink are left alone, and the real lean runs either way, its output unchanged."""
    from simpulse.lake.facade import _LAUNCHER, PASSTHROUGH, _sh_quote
    launcher = tmp_path / "lean"
    launcher.write_text(_LAUNCHER.format(real_lean="/bin/echo", real_q="/bin/echo", python_q=_sh_quote(str(tmp_path / "gone")),
                                         shim_q=_sh_quote(str(tmp_path / "gone.py")), passthrough=PASSTHROUGH))
    launcher.chmod(0o700)
    target = tmp_path / "elsewhere"
    target.write_text("")
    fifo, link, plain = tmp_path / "fifo", tmp_path / "link", tmp_path / "simpulse.log"
    os.mkfifo(fifo)
    os.symlink(target, link)
    for log in (fifo, link, plain):
        env = dict(os.environ, SIMPULSE_SHIM="{}", SIMPULSE_SHIM_LOG=str(log))
        p = subprocess.run(["sh", str(launcher), "A.lean", "-o", "A.olean"], env=env, capture_output=True, text=True,
                           timeout=20)
        assert (p.returncode, p.stdout, p.stderr) == (0, "A.lean -o A.olean\n", "")
    assert target.read_text() == ""
    assert f" {PASSTHROUGH} the shim could not start (" in plain.read_text()


def test_the_log_the_shim_writes_is_the_one_the_summary_reads():
    """The shim names its log itself (`shim.main.LOG_NAME`: a served shim imports no store);
    `simpulse build`'s summary and the launcher's SIMPULSE_SHIM_LOG use the store's name
    (`store.codec.DIAG_NAME`): the two must be one file."""
    from simpulse.shim.main import LOG_NAME
    from simpulse.store.codec import DIAG_NAME
    assert LOG_NAME == DIAG_NAME
