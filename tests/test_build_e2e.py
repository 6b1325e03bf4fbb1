"""`simpulse build` end to end against the simulated toolchain (issue: the build spine)."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time

import pytest

from conftest import sigint_as_at_a_terminal, strip_times

DEPENDENTS_OF_LISTS = {"Fixtures.Lists", "Fixtures.ListLemmas", "Fixtures.ListAdvanced",
                       "Fixtures.SimpHeavy", "Fixtures"}


def test_clean_build_then_noop_then_touch(project):
    p = project.simpulse("build", "--seed", "1", check=0)
    assert "Build completed successfully" in p.stdout
    assert "SIMULATED" in p.stderr                     # the simulated toolchain is announced
    built = project.built(p.stdout)
    assert len(built) == 16
    events = project.events()
    # exactly one event per compiled module
    assert sorted(e["module"] for e in events) == sorted(built)
    assert all(e["simulated"] is True and e["wall"] > 0 and e["toolchain"] for e in events)
    assert all(e["context"] and e["strategy"] for e in events)

    # no change: nothing compiled, nothing written
    p = project.simpulse("build", check=0)
    assert project.built(p.stdout) == []
    assert p.stdout.count("Replayed") == 16
    assert len(project.events()) == len(events)

    # touch one module: only it and its dependents recompile
    with open(project.root / "Fixtures" / "Lists.lean", "a") as f:
        f.write("\n-- an edit\n")
    p = project.simpulse("build", check=0)
    assert set(project.built(p.stdout)) == DEPENDENTS_OF_LISTS
    new = project.events()[len(events):]
    assert sorted(e["module"] for e in new) == sorted(DEPENDENTS_OF_LISTS)


def test_breaking_strategy_falls_back_to_baseline(project, tmp_path):
    plain = project.copy(tmp_path / "plain")
    plain.lake("build", check=0)
    p = project.simpulse("build", "--profile", "aggressive", "--strategy", "no-simprocs", check=0)
    assert "Build completed successfully" in p.stdout
    events = {e["module"]: e for e in project.events()}
    failed = events["Fixtures.Literals"]
    assert failed["strategy"] == "no-simprocs" and failed["outcome"] == "strategy_failed"
    assert failed["error"] and re.search(r"Literals\.lean:\d+:\d+: (unsolved goals|simp made no progress)", failed["error"])
    assert failed["fallback_wall"] > 0
    # the failed module's outputs are those of a baseline compile; modules that compiled under
    # no-simprocs have other .olean bytes (simp's proof terms differ without simprocs)
    got, ref = project.outputs(), plain.outputs()
    assert got.keys() == ref.keys()
    assert all(got[k] == ref[k] for k in got if "Literals" in k or not k.endswith(".olean"))
    # Lake saw the baseline's (clean) output, not the failed attempt's error
    assert "error" not in p.stdout


def test_genuinely_broken_module_fails_exactly_like_lake(project, tmp_path):
    plain = project.copy(tmp_path / "plain")
    ref = plain.lake("build", "Broken")
    got = project.simpulse("build", "Broken")
    assert ref.returncode != 0 and got.returncode == ref.returncode

    def error_lines(out):
        return [strip_times(l) for l in out.splitlines() if l.startswith(("error", "✖", "- ", "Some required"))]
    assert error_lines(got.stdout) == error_lines(ref.stdout)
    assert any("proved that the proposition" in l for l in error_lines(got.stdout))
    broken = [e for e in project.events() if e["module"] == "Broken"]
    assert len(broken) == 1 and broken[0]["outcome"] == "module_failed"
    assert "proved that the proposition" in broken[0]["error"]
    from simpulse.commands._common import learner
    lrn = learner(project.state)
    assert lrn.stats["counters"]["strategy_failed"] == 0      # no strategy blamed
    assert lrn.stats["counters"]["module_failed"] == 1


def test_passthrough_is_byte_identical(project):
    project.simpulse("build", "Fixtures.Basic", check=0)
    shim = project.state / "facade" / "bin" / "lean"
    real = project.sysroot / "bin" / "lean"
    for flag in (["--githash"], ["--version"], ["--print-prefix"], ["--print-libdir"], ["-V"]):
        a = subprocess.run([str(shim), *flag], capture_output=True)
        b = subprocess.run([str(real), *flag], capture_output=True)
        assert (a.returncode, a.stdout, a.stderr) == (b.returncode, b.stdout, b.stderr), flag


def test_shim_prints_nothing_of_its_own(project):
    project.simpulse("build", "Fixtures.Basic", check=0)
    shim = project.state / "facade" / "bin" / "lean"
    real = project.sysroot / "bin" / "lean"
    src = project.root / "Fixtures" / "Basic.lean"
    env = project.shim_env(SIMPULSE_SIM_SEED="1", LEAN_PATH=str(project.root / ".lake/build/lib/lean"))
    n = len(project.events())
    outs = []
    for exe, tag in ((real, "real"), (shim, "shim")):
        args = [str(exe), str(src), "-R", str(project.root), "-o", str(project.root / f"{tag}.olean"),
                "-i", str(project.root / f"{tag}.ilean"), "-c", str(project.root / f"{tag}.c"), "--json"]
        outs.append(subprocess.run(args, capture_output=True, env=env, cwd=project.root))
    real_p, shim_p = outs
    assert shim_p.returncode == real_p.returncode == 0
    assert shim_p.stderr == b""
    assert shim_p.stdout == real_p.stdout
    assert len(project.events()) == n + 1          # the compile went through the shim


def lines(out):
    # parallel jobs finish in any order: the same lines, not the same order
    return sorted(re.sub(r"\[\d+/\d+\]", "[n/N]", strip_times(out)).splitlines())


@pytest.mark.parametrize("fault", ["unwritable", "read-only", "corrupt-log", "corrupt-snapshot", "learner",
                                   "disk-full", "events-log-blocked"])
def test_fault_injection_build_equals_plain_lake(project, tmp_path, fault):
    plain = project.copy(tmp_path / "plain")
    ref = plain.lake("build")
    env = {}
    args = ["build"]
    if fault == "unwritable":
        blocker = tmp_path / "not-a-dir"
        blocker.write_text("x")
        args += ["--state-dir", str(blocker / "state")]
    elif fault == "read-only":
        # We run as root, which ignores permissions: make the state read-only for real with a
        # read-only bind... not available either, so the events file is made immutable-by-type:
        # a state directory whose store files are directories cannot be written.
        project.simpulse("build", "Fixtures.Basic", check=0)
        shutil.rmtree(project.root / ".lake")
        for name in ("events.log", "snapshot.json", "events.lock", "compact.lock"):
            p = project.state / name
            if p.is_dir():
                continue
            if p.exists():
                p.unlink()
            p.mkdir()
    elif fault == "corrupt-log":
        project.state.mkdir()
        (project.state / "events.log").write_bytes(b"\x00garbage\xff\n{not json\n" * 50)
        (project.state / "snapshot.json").write_text("{broken")
    elif fault == "corrupt-snapshot":
        project.simpulse("build", "Fixtures.Basic", check=0)
        shutil.rmtree(project.root / ".lake")
        (project.state / "snapshot.json").write_bytes(b'{"schema": 1, "cursor": {"gen": "x"}, "stats": [1, 2')
    elif fault == "learner":
        env["SIMPULSE_FAULT"] = "learner"
    elif fault == "disk-full":
        env["SIMPULSE_FAULT"] = "disk-full"
    elif fault == "events-log-blocked":
        project.simpulse("build", "Fixtures.Basic", check=0)
        shutil.rmtree(project.root / ".lake")
        for p in project.state.iterdir():
            if p.name != "facade":
                shutil.rmtree(p) if p.is_dir() and not p.is_symlink() else p.unlink()
        (project.state / "events.log").mkdir()
    got = project.simpulse(*args, env=env)
    assert got.returncode == ref.returncode == 0, got.stderr
    assert lines(got.stdout) == lines(ref.stdout)
    assert project.outputs() == plain.outputs()
    if fault in ("learner", "disk-full", "events-log-blocked"):
        # the reason is in the state directory's log, never in Lake's output
        log = (project.state / "simpulse.log").read_text()
        assert ("injected" in log or "could not record" in log or "passthrough" in log), log[-2000:]
        assert "simpulse" not in got.stdout
    if fault in ("learner", "disk-full", "events-log-blocked"):
        # ... and the summary says the build taught nothing, rather than "nothing to compile"
        assert "nothing to compile" not in got.stderr
        assert re.search(r"\d+ compiles? (ran plain `lean`|ran through simpulse but w\w+ not recorded)",
                         got.stderr), got.stderr[-2000:]


def test_state_dir_deleted_mid_build(project, tmp_path):
    plain = project.copy(tmp_path / "plain")
    ref = plain.lake("build")
    env = dict(project.env, SIMPULSE_SIM_SCALE="0.4")
    proc = subprocess.Popen([sys.executable, "-m", "simpulse", "build"], cwd=project.root, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 60

    def recorded():
        try:
            return len(project.events())
        except Exception:  # noqa: BLE001 - the store is being written concurrently
            return 0
    while time.time() < deadline and recorded() < 2:
        time.sleep(0.02)
    # shims keep writing while we delete: retry until the directory is gone
    while project.state.exists() and time.time() < deadline:
        shutil.rmtree(project.state, ignore_errors=True)
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == ref.returncode == 0, err
    assert lines(out) == lines(ref.stdout)
    assert project.outputs() == plain.outputs()
    assert not project.state.exists()          # the shim did not resurrect it


def test_bad_use(project, tmp_path, sim_toolchain):
    outside = tmp_path / "empty"
    outside.mkdir()
    p = project.simpulse("build", cwd=outside)
    assert p.returncode == 2 and p.stderr.count("\n") == 1 and "not inside a Lake project" in p.stderr
    p = project.simpulse("build", env={"PATH": "/nonexistent"})
    assert p.returncode == 2 and p.stderr.count("\n") == 1 and "no `lean` found" in p.stderr
    p = project.simpulse("build", "--strategy", "warp-speed")
    assert p.returncode == 2 and p.stderr.count("\n") == 1 and "unknown strategy 'warp-speed'" in p.stderr
    p = project.simpulse("build", "--mode", "reckless")
    assert p.returncode == 2 and "mode" in p.stderr


@pytest.mark.parametrize("era", ["v4.0", "setup"])
def test_other_argument_eras(project, era):
    p = project.simpulse("build", "--profile", "dev", "--strategy", "lean-fast", env={"SIMPULSE_SIM_LAKE_ERA": era}, check=0)
    assert "Build completed successfully" in p.stdout
    events = project.events()
    assert len(events) == 16 and {e["era"] for e in events} == {era}
    assert all(e["strategy"] == "lean-fast" and e["outcome"] == "ok" for e in events)
    tmp = project.state / "tmp"
    assert not tmp.exists() or list(tmp.iterdir()) == []      # setup copies are removed after use
    # the import closure Lake writes into a setup file is a feature of the compile; the older
    # eras have none (docs/learning.md, "The import closure")
    closures = {e["module"]: e["features"].get("import_closure") for e in events}
    if era == "setup":
        assert closures["Fixtures.Basic"] == 0 and closures["Fixtures"] >= 10, closures
    else:
        assert set(closures.values()) == {None}


def test_ctrl_c_stops_everything_like_lake(project):
    """Ctrl-C (SIGINT to the foreground process group): Lake handles it as under a plain
    `lake build`, every shim forwards it to its lean, nothing is left running, and what was
    recorded loads."""
    import os
    import signal
    env = dict(project.env, SIMPULSE_SIM_SCALE="1")
    proc = subprocess.Popen([sys.executable, "-m", "simpulse", "build"], cwd=project.root, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
                            preexec_fn=sigint_as_at_a_terminal)
    deadline = time.time() + 60
    while time.time() < deadline and not any(True for _ in _safe_events(project)):
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGINT)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode != 0 and "Traceback" not in err
    assert "Build completed successfully" not in out
    time.sleep(0.5)
    left = subprocess.run(["ps", "-o", "pid=", "-g", str(proc.pid)], capture_output=True, text=True).stdout.split()
    assert left == []
    events = project.events()
    assert 1 <= len(events) < 16 and all(e["wall"] > 0 for e in events)


def _safe_events(project):
    try:
        return project.events()
    except Exception:  # noqa: BLE001 - being written concurrently
        return []


def test_a_new_toolchain_starts_from_the_earlier_ones_levels(project, tmp_path):
    """After a Lean upgrade (another githash), Lake rebuilds every module; simpulse keeps the new
    toolchain's statistics apart, and each module's level under the earlier toolchain becomes
    the prior of its new one (docs/learning.md, "Toolchains")."""
    from simpulse.simulated.toolchain import install
    p = project.simpulse("build", "--seed", "1", check=0)
    first = set(project.built(p.stdout))
    newer = install(tmp_path / "newer" / "sysroot", githash="f" * 40)
    project.env["PATH"] = f"{newer / 'bin'}{os.pathsep}{project.env['PATH']}"
    p = project.simpulse("build", "--seed", "2", check=0)
    assert "Build completed successfully" in p.stdout
    assert set(project.built(p.stdout)) == first            # everything again, under the new toolchain
    from simpulse.commands._common import learner
    lrn = learner(project.state)
    old_hash, new_hash = lrn.toolchains()
    assert new_hash == "f" * 40 and old_hash != new_hash and lrn.earlier_toolchain() == old_hash
    old = lrn.stats["toolchains"][old_hash]
    carried = [lrn.module(m, toolchain=new_hash) for m in first]
    assert all(r is not None and abs(r.carried_level - _level_of(old, m)) < 1e-4 for r, m in zip(carried, first))


def _level_of(tc, module):
    from simpulse.learner import _level, module_record
    return round(_level(tc, module_record(tc, module)), 5)


def test_a_shim_deciding_for_itself_reads_the_import_closure_too(project):
    """Without the build's server (`serve` off) the shim decides itself, with the same feature
    of the compile: the import closure of Lake's setup file."""
    p = project.simpulse("build", env={"SIMPULSE_SIM_LAKE_ERA": "setup", "SIMPULSE_SERVE": "false"}, check=0)
    assert "Build completed successfully" in p.stdout
    assert not json.loads((project.state / "shim-settings.json").read_text()).get("serve")
    closures = {e["module"]: e["features"].get("import_closure") for e in project.events()}
    assert closures["Fixtures.Basic"] == 0 and closures["Fixtures"] >= 10, closures
