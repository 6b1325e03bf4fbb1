"""`simpulse doctor` and the cheap checks `simpulse build` runs before wrapping Lake (issue 23).

Against the SIMULATED toolchain, healthy and broken: each broken toolchain is a scratch sysroot
whose `bin/lean` (or `bin/lake`) is a small sh wrapper around the simulated one that misbehaves
in one way. simpulse/simulated/ itself is never changed.
"""

from __future__ import annotations

import importlib.util
import json
import os
import stat
from pathlib import Path

import pytest

from simpulse.simulated.toolchain import install
from simpulse.strategy.catalogue import BUILTIN

ZERO = "0" * 40

# One misbehaviour per broken toolchain: (which program is wrapped, sh lines run before the
# real program, the check that must fail, does `simpulse build` have to fall back?)
BROKEN = {
    # through the facade (a `simpulse build`'s environment), --githash answers something else
    "githash": ("lean", f'if [ -n "${{SIMPULSE_SHIM:-}}" ] && [ "$1" = "--githash" ]; then echo {ZERO}; exit 0; fi',
                "invisibility.answers", True),
    # this lean does not know Elab.async (no-async's option)
    "unknown-option": ("lean", 'for a in "$@"; do case "$a" in -DElab.async=*) '
                               'echo "Probe.lean:1:0: error: invalid -D parameter, unknown configuration option '
                               "'Elab.async'\"; exit 1;; esac; done",
                       "options.strategy.no-async", False),
    # this lean predates -Dweak.
    "no-weak": ("lean", 'for a in "$@"; do case "$a" in -Dweak.*) n=${a#-D}; n=${n%%=*}; '
                        'echo "error: invalid -D parameter, unknown configuration option \'$n\'" >&2; exit 1;; '
                        'esac; done',
                "options.weak", True),
    # this Lake ignores LAKE_OVERRIDE_LEAN (as Lake before v4.14 does)
    "lake-ignores-override": ("lake", "unset LAKE_OVERRIDE_LEAN", "toolchain.override", True),
}


def broken_toolchain(parent: Path, kind: str) -> Path:
    """A simulated sysroot whose `bin/<program>` runs the misbehaviour, then the real one."""
    program, lines, _, _ = BROKEN[kind]
    root = install(parent / f"broken-{kind}")
    real = root / "bin" / f"{program}.real"
    os.replace(root / "bin" / program, real)
    wrapper = root / "bin" / program
    wrapper.write_text(f'#!/bin/sh\n# test toolchain: {kind}\n{lines}\nexec "$(dirname "$0")/{program}.real" "$@"\n')
    wrapper.chmod(0o755)
    return root


def on_path(sysroot: Path, project) -> dict:
    return {"PATH": f"{sysroot / 'bin'}{os.pathsep}{project.env['PATH']}"}


def doctor_json(project, *args, env=None):
    p = project.simpulse("doctor", "--json", *args, env=env)
    assert not p.stderr.strip() or "Traceback" not in p.stderr, p.stderr
    data = json.loads(p.stdout)
    return p, data, {c["id"]: c for c in data["checks"]}


# --------------------------------------------------------------------------- a healthy toolchain

def test_healthy_simulated_toolchain_passes_every_check(project):
    p, data, checks = doctor_json(project)
    assert p.returncode == 0 == data["exit_code"], [c for c in data["checks"] if c["status"] == "fail"]
    assert data["simulated"] is True and data["summary"]["fail"] == 0
    for cid in ("toolchain.lean", "toolchain.lake", "toolchain.wrapped_exec", "toolchain.override", "toolchain.era",
                "invisibility.answers", "invisibility.noop", "options.weak", "options.strategy.no-async",
                "options.strategy.single-thread", "cost.shim"):
        assert checks[cid]["status"] == "ok", checks[cid]
    # what was observed, not guessed
    assert checks["toolchain.era"]["data"]["era"] == "middle"
    answers = checks["invisibility.answers"]["data"]["compared"]
    assert set(answers) == {"--githash", "--version", "--print-prefix", "--print-libdir", "lake env LEAN_GITHASH"}
    assert all(a["identical"] for a in answers.values())
    assert answers["--githash"]["real"] == checks["toolchain.lean"]["data"]["githash"]
    # the active profile is `safe`: only its strategies are checked
    assert not any(cid.startswith("options.strategy.no-linters") for cid in checks)
    # cost: medians with min–max, the simulated lean's numbers labelled
    cost = checks["cost.shim"]
    assert cost["data"]["simulated_lean"] is True and "SIMULATED lean" in cost["detail"]
    for key in ("shim", "shim_own", "lean_version", "launcher"):
        s = cost["data"][key]
        assert s["runs"] == 5 and s["min_ms"] <= s["median_ms"] <= s["max_ms"]
    # skipped, with why: no state yet, no --deep, and Elab.async's default cannot be read from the simulated lean
    for cid in ("state.permissions", "state.loads", "meaning.verify", "options.elab_async"):
        assert checks[cid]["status"] == "skip" and checks[cid]["detail"], checks[cid]
    assert "simulated lean does not evaluate" in checks["options.elab_async"]["detail"]
    # Lake's artifact cache: off by default, nothing left out
    cache = checks["meaning.artifact_cache"]
    assert cache["status"] == "ok" and cache["data"] == {"on": False, "why": None, "left_out": []}
    # the no-op check ran on a scratch copy of this (small, self-contained) project, never on it
    assert checks["invisibility.noop"]["data"]["on"] == "scratch copy of your project"
    assert not (project.root / ".lake").exists() and not project.state.exists()


def test_text_output_marks_every_check(project):
    """The text form of a healthy run (rendered from the same data `--json` prints)."""
    from simpulse.commands.doctor import render
    p, data, _ = doctor_json(project)
    text = render(data)
    lines = text.splitlines()
    assert lines[0].startswith("simpulse doctor — ") and "SIMULATED" in text
    marked = [ln for ln in lines if ln.startswith("  ✓ ") or ln.startswith("  – ")]
    assert len(marked) == len(data["checks"]) and not any(ln.startswith("  ✗ ") for ln in lines)
    assert "  – the state directory loads — skipped: " in text
    assert lines[-1].endswith("simpulse build is safe to use here")
    for title in ("Toolchain", "Invisibility", "Options", "Meaning", "Cost", "State"):
        assert title in lines


def test_state_checks_after_a_build(project):
    project.simpulse("build", "Fixtures.Basic", check=0)
    p, data, checks = doctor_json(project)
    assert checks["state.permissions"]["status"] == "ok"
    assert checks["state.permissions"]["data"]["mode"] == "0700"
    loads = checks["state.loads"]
    assert loads["status"] == "ok" and loads["data"]["compiles"] >= 1 and loads["data"]["bytes"] > 0
    # an open state directory: ✗ with its remedy
    from simpulse.doctor import state
    os.chmod(project.state, 0o755)
    c = state.permissions(project.state)
    assert c.status == "fail" and c.remedy == f"chmod 700 {project.state}"
    os.chmod(project.state, 0o700)
    assert state.permissions(project.state).status == "ok"
    # a state directory that does not load
    (project.state / "state.json").write_text("garbage")
    c = state.loads(project.state)
    assert c.status == "fail" and "does not load" in c.detail and "mv " in c.remedy
    # ... and a failing check makes the exit code 1
    from simpulse.doctor.runner import exit_code
    assert exit_code([c]) == 1 and exit_code([state.permissions(project.state)]) == 0


def test_deep_runs_verify_or_says_why_not(project):
    project.simpulse("build", "Fixtures.Basic", check=0)
    p, data, checks = doctor_json(project, "--deep")
    deep = checks["meaning.verify"]
    if importlib.util.find_spec("simpulse.commands.verify") is None:
        assert deep["status"] == "skip" and deep["detail"].startswith("verify unavailable")
    else:
        assert deep["status"] in ("ok", "fail") and deep["data"]["files"]
        assert any(f.endswith("Basic.lean") for f in deep["data"]["files"])


def test_outside_a_lake_project_and_bad_input(project, tmp_path):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    p = project.simpulse("doctor", "--json", cwd=elsewhere)
    data = json.loads(p.stdout)
    assert data["workspace"] is None and data["exit_code"] == 0
    # a lean that is not there: its ✗ and remedy, the rest skipped, no traceback
    p, data, checks = doctor_json(project, "--lean", str(tmp_path / "no-such-lean"))
    assert p.returncode == 1 and checks["toolchain.lean"]["status"] == "fail"
    assert "elan" in checks["toolchain.lean"]["remedy"]
    assert checks["invisibility.noop"]["status"] == "skip"
    # bad input: one line, exit 2
    p = project.simpulse("doctor", "--profile", "reckless")
    assert p.returncode == 2 and len(p.stderr.strip().splitlines()) == 1 and "Traceback" not in p.stderr


def test_wrapped_exec_is_a_failure_with_its_remedy(monkeypatch):
    from simpulse.doctor import toolchain
    monkeypatch.setenv("LAKE_WRAPPED_EXEC", "remote-runner")
    c = toolchain.wrapped_exec()
    assert c.status == "fail" and "unset LAKE_WRAPPED_EXEC" in c.remedy and c.data["value"] == "remote-runner"
    monkeypatch.delenv("LAKE_WRAPPED_EXEC")
    assert toolchain.wrapped_exec().status == "ok"


# --------------------------------------------------------------------------- broken toolchains

@pytest.mark.parametrize("kind", sorted(BROKEN))
def test_each_broken_toolchain_gives_its_failure_and_remedy(project, tmp_path, kind):
    sysroot = broken_toolchain(tmp_path, kind)
    env = on_path(sysroot, project)
    _, _, failing, _ = BROKEN[kind]
    p, data, checks = doctor_json(project, env=env)
    assert data["toolchain"]["sysroot"] == str(sysroot)
    assert p.returncode == 1 == data["exit_code"]
    c = checks[failing]
    assert c["status"] == "fail" and c["remedy"], c
    # the failure is this one's: the checks the wrapper does not touch still pass
    untouched = {"invisibility.answers", "options.weak", "toolchain.override"} - {failing}
    if kind == "no-weak":
        untouched.discard("toolchain.override")
    for cid in untouched:
        assert checks[cid]["status"] == "ok", (cid, checks[cid])
    if kind == "githash":                      # the text form, through the command once
        text = project.simpulse("doctor", env=env)
        assert text.returncode == 1
        shown = text.stdout
    else:
        from simpulse.commands.doctor import render
        shown = render(data)
    lines = shown.splitlines()
    line = next(ln for ln in lines if ln.startswith(f"  ✗ {c['title']}"))
    assert lines[lines.index(line) + 1] == f"      → {c['remedy']}"
    if kind == "githash":
        assert ZERO in c["detail"]
        assert c["data"]["compared"]["lake env LEAN_GITHASH"]["facade"] == ZERO
    if kind == "unknown-option":
        assert "Elab.async" in c["detail"] and "left out" in c["detail"]
        assert lines[-1].endswith("without 1 strategy this Lean does not accept (see ✗ above)")
        assert checks["options.strategy.single-thread"]["status"] == "ok"
    if kind == "lake-ignores-override":
        assert str(sysroot) in c["detail"]


@pytest.mark.parametrize("kind", [k for k, v in sorted(BROKEN.items()) if v[3]])
def test_build_falls_back_to_plain_lake_where_it_must(project, tmp_path, kind):
    sysroot = broken_toolchain(tmp_path, kind)
    env = on_path(sysroot, project)
    plain = project.run(str(sysroot / "bin" / "lake"), "build", env=env, check=0)
    assert len(project.built(plain.stdout)) == 16
    p = project.simpulse("build", env=env)
    assert p.returncode == 0, p.stdout + p.stderr
    notes = [ln for ln in p.stderr.splitlines() if "running plain `lake build`" in ln]
    assert len(notes) == 1 and notes[0].startswith("simpulse: ") and "simpulse doctor" in notes[0]
    assert project.built(p.stdout) == []          # nothing rebuilt
    assert project.events() == []                 # nothing went through the shim
    # the result is cached for this toolchain: the second build decides without observing again
    cache = json.loads((project.state / "doctor-checks.json").read_text())
    githash = next(iter(cache["toolchains"]))
    assert cache["toolchains"][githash]["problems"][0]["id"] == BROKEN[kind][2]
    again = project.simpulse("build", env=env)
    assert again.returncode == 0 and "running plain `lake build`" in again.stderr


def test_without_the_gate_a_different_githash_would_rebuild_everything(project, tmp_path, monkeypatch):
    """Why the fallback is needed: Lake run through the facade, as a `simpulse build` without its
    checks would run it, rebuilds every module when the facade's --githash differs."""
    sysroot = broken_toolchain(tmp_path, "githash")
    env = on_path(sysroot, project)
    project.run(str(sysroot / "bin" / "lake"), "build", env=env, check=0)
    monkeypatch.setenv("XDG_CACHE_HOME", project.env["XDG_CACHE_HOME"])
    from simpulse.lake.facade import build_facade
    state = tmp_path / "scratch-state"
    state.mkdir()
    facade = build_facade(state, sysroot)
    settings = json.dumps({"state_dir": str(state), "workspace": str(project.root), "toolchain": ZERO})
    p = project.run(str(sysroot / "bin" / "lake"), "build", env=dict(env, LAKE_OVERRIDE_LEAN="1",
                                                                     LEAN_SYSROOT=str(facade), SIMPULSE_SHIM=settings))
    assert len(project.built(p.stdout)) == 16


def test_a_strategy_this_lean_does_not_know_is_left_out_of_the_build(project, tmp_path):
    sysroot = broken_toolchain(tmp_path, "unknown-option")
    env = on_path(sysroot, project)
    p = project.simpulse("build", "--strategy", "no-async", "--seed", "1", env=env)
    assert p.returncode == 0, p.stdout + p.stderr
    assert "running plain" not in p.stderr
    assert "left out on this toolchain (see `simpulse doctor`): no-async" in p.stderr
    assert "--strategy no-async not run: this Lean does not accept its options" in p.stderr
    events = project.events()
    assert len(events) == 16 and "no-async" not in {e["strategy"] for e in events}
    assert all(e["outcome"] == "ok" for e in events)
    # later builds (the checks cached) never run it either
    for p in (project.root / "Fixtures").glob("*.lean"):
        p.write_text(p.read_text() + "\n")
    again = project.simpulse("build", "--seed", "2", env=env)
    assert again.returncode == 0 and "left out" not in again.stderr
    assert len(project.events()) == 32 and "no-async" not in {e["strategy"] for e in project.events()}
    # on the healthy toolchain the same build runs no-async
    healthy = project.copy(tmp_path / "healthy")
    healthy.simpulse("build", "--strategy", "no-async", "--seed", "1", check=0)
    assert {e["strategy"] for e in healthy.events()} == {"no-async"}


# --------------------------------------------------------------------------- the gate's cache

def _toolchain(project):
    from simpulse.lake.workspace import find_toolchain
    old = os.environ.get("PATH")
    os.environ["PATH"] = project.env["PATH"]
    try:
        return find_toolchain(project.root)
    finally:
        os.environ["PATH"] = old


def test_gate_is_cached_per_toolchain_githash(project, tmp_path, monkeypatch):
    from simpulse.config import catalogue_for, load_config
    from simpulse.doctor import gate
    for k in ("XDG_CACHE_HOME", "SIMPULSE_SIM_SCALE", "PATH"):
        monkeypatch.setenv(k, project.env[k])
    log = tmp_path / "lean-argv.log"
    monkeypatch.setenv("SIMPULSE_SIM_ARGV_LOG", str(log))
    tc = _toolchain(project)
    state = tmp_path / "state"
    state.mkdir(mode=0o700)
    cat = catalogue_for(load_config(project.root))
    first = gate.cheap_checks(tc, state, catalogue=cat, workspace=project.root)
    assert first.problems == [] and first.left_out == {} and not first.cached
    ran = len(log.read_text().splitlines())
    assert ran > 0                                              # lean was really asked
    path = state / gate.CACHE
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert not [p for p in state.iterdir() if p.name.startswith(".")]     # no temporary file left
    second = gate.cheap_checks(tc, state, catalogue=cat, workspace=project.root)
    assert second.cached and second.problems == []
    assert len(log.read_text().splitlines()) == ran              # ... and not asked again
    # another toolchain (another githash) is observed afresh, and both are kept
    other = install(tmp_path / "other", githash="1" * 40)
    monkeypatch.setenv("PATH", f"{other / 'bin'}{os.pathsep}{project.env['PATH']}")
    tc2 = _toolchain(type(project)(project.root, other))
    assert tc2.githash == "1" * 40
    third = gate.cheap_checks(tc2, state, catalogue=cat, workspace=project.root)
    assert not third.cached
    assert set(json.loads(path.read_text())["toolchains"]) == {tc.githash, tc2.githash}
    # another profile checks other strategies: not the cached answer
    dev = catalogue_for(load_config(project.root, flags={"profile": "dev"}))
    assert gate.lookup(state, tc, dev) is None and gate.lookup(state, tc, cat) is not None


def test_an_observation_cut_short_is_not_cached(tmp_path):
    from simpulse.doctor import gate
    from simpulse.doctor.check import fail

    class TC:
        lake, sysroot, version, githash = Path("/x/lake"), Path("/x"), "v", "abc"
    cut = fail("toolchain.override", "toolchain", "t", "`lake env` failed: `lake env` did not finish within 60s", "r")
    g = gate.judge([cut])
    assert [p.id for p in g.problems] == ["toolchain.override"]
    assert gate.save(tmp_path, TC, None, g) is False and not (tmp_path / gate.CACHE).exists()
    observed = fail("toolchain.override", "toolchain", "t", "Lake took /x sysroot, not the facade", "r")
    assert gate.save(tmp_path, TC, None, gate.judge([observed])) is True
    assert gate.lookup(tmp_path, TC, None).problems[0].id == "toolchain.override"
    # a damaged cache is ignored, never trusted
    (tmp_path / gate.CACHE).write_text("{not json")
    assert gate.lookup(tmp_path, TC, None) is None


def test_doctor_refreshes_the_builds_cached_checks(project, tmp_path):
    sysroot = broken_toolchain(tmp_path, "no-weak")
    env = on_path(sysroot, project)
    p = project.simpulse("build", env=env)
    assert "running plain `lake build`" in p.stderr
    path = project.state / "doctor-checks.json"
    cached = json.loads(path.read_text())["toolchains"]
    assert [p["id"] for p in next(iter(cached.values()))["problems"]] == ["options.weak"]
    project.simpulse("doctor", env=env)
    again = json.loads(path.read_text())["toolchains"]
    assert [p["id"] for p in next(iter(again.values()))["problems"]] == ["options.weak"]
    assert next(iter(again.values()))["time"] > next(iter(cached.values()))["time"]


# --------------------------------------------------------------------------- --deep's verdict

def _verify_report(*strategies, module_status="verified"):
    return {"simulated": True, "summary": {"identical": 0},
            "modules": [{"module": "M", "status": module_status, "detail": "d", "strategies": list(strategies)}]}


def _entry(name, status="identical", what=(), breaks=False, fixes=False):
    return {"strategy": name, "status": status, "what": list(what), "breaks": breaks, "fixes": fixes,
            "detail": f"{name} detail"}


@pytest.mark.parametrize("profile, entry, status", [
    ("safe", _entry("no-async"), "ok"),
    ("safe", _entry("no-async", "differs", ["outputs"]), "fail"),          # safe accepts no change
    ("dev", _entry("no-linters", "differs", ["messages"]), "ok"),         # dev accepts messages
    ("dev", _entry("no-linters", "differs", ["messages", "outputs"]), "fail"),
    ("safe", _entry("no-async", "differs", ["verdict"], breaks=True), "ok"),   # caught by the fallback
    ("safe", _entry("no-async", "differs", ["verdict"], fixes=True), "fail"),  # a failing module passing
    ("safe", _entry("no-async", "error"), "fail"),
])
def test_deep_judges_verify_against_the_profile(profile, entry, status):
    from simpulse.doctor import meaning
    from simpulse.strategy.catalogue import Catalogue

    class Ctx:
        pass
    ctx = Ctx()
    ctx.catalogue, ctx.profile = Catalogue(profile=profile), profile
    ctx.tc = type("TC", (), {"simulated": True})
    c = meaning.judge(ctx, _verify_report(entry), ["M.lean"])
    assert c.status == status, c
    if status == "fail":
        assert c.remedy.startswith("run `simpulse verify M.lean`")
    bad = meaning.judge(ctx, _verify_report(module_status="baseline not reproducible"), ["M.lean"])
    assert bad.status == "fail" and "not reproducible" in bad.detail


def test_which_projects_are_copied_for_the_noop_check(tmp_path):
    from simpulse.doctor import scratch
    ws = tmp_path / "ws"
    ws.mkdir()
    (ws / "lakefile.toml").write_text('name = "w"\n[[lean_lib]]\nname = "W"\n')
    (ws / "W.lean").write_text("def w := 1\n")
    (ws / ".lake" / "build").mkdir(parents=True)
    (ws / ".lake" / "build" / "junk.olean").write_text("x")
    assert scratch.why_not_copy(ws) is None
    dest = scratch.copy(ws, tmp_path / "copy")
    assert (dest / "W.lean").is_file() and not (dest / ".lake").exists()
    (ws / "lakefile.toml").write_text('name = "w"\n[[require]]\nname = "mathlib"\n')
    assert scratch.why_not_copy(ws) == "it has dependencies"
    (ws / "lakefile.toml").write_text('name = "w"\n')
    (ws / "lake-manifest.json").write_text('{"version": 7, "packages": [{"name": "batteries"}]}')
    assert scratch.why_not_copy(ws) == "it has dependencies"
    (ws / "lake-manifest.json").write_text('{"version": 7, "packages": []}')
    for i in range(scratch.SMALL_FILES + 1):
        (ws / f"M{i}.lean").write_text("def m := 1\n")
    assert scratch.why_not_copy(ws).startswith("it is large")
    assert scratch.why_not_copy(None) == "not inside a Lake project"


def test_a_user_strategys_option_unknown_without_imports_is_kept(project, monkeypatch):
    """A user strategy's option may be registered by a library the project imports (Mathlib's
    linters): unknown to a lean without imports, it cannot be judged there and is kept."""
    from simpulse.config import catalogue_for, load_config
    from simpulse.doctor import gate
    (project.root / "simpulse.toml").write_text(
        '[simpulse]\nprofile = "dev"\n\n[strategies.no-long-lines]\n'
        'options = { "linter.style.longLine" = false }\nchanges = ["messages"]\n')
    for k in ("XDG_CACHE_HOME", "SIMPULSE_SIM_SCALE", "PATH"):
        monkeypatch.setenv(k, project.env[k])
    tc = _toolchain(project)
    cat = catalogue_for(load_config(project.root))
    checks = {c.id: c for c in gate.run_checks(tc, catalogue=cat, workspace=project.root)}
    c = checks["options.strategy.no-long-lines"]
    assert c.status == "skip" and "linter.style.longLine" in c.detail and c.data["accepted"] is True
    assert checks["options.strategy.no-linters"].status == "ok"
    assert gate.judge(list(checks.values())).left_out == {}


def test_lakes_artifact_cache_is_reported_with_what_the_build_leaves_out(project):
    """On, under a profile that accepts changed outputs: the strategies that change them are
    named as left out of `simpulse build` (they would reach plain builds through the cache)."""
    p, data, checks = doctor_json(project, "--profile", "aggressive", env={"LAKE_ARTIFACT_CACHE": "1"})
    cache = checks["meaning.artifact_cache"]
    assert cache["status"] == "ok" and cache["data"]["on"] is True
    assert cache["data"]["why"] == "LAKE_ARTIFACT_CACHE=1"
    assert cache["data"]["left_out"] == sorted(s.name for s in BUILTIN if "outputs" in s.changes) != []
    assert "leaves out" in cache["detail"]
    _, _, checks = doctor_json(project, env={"LAKE_ARTIFACT_CACHE": "1"})     # safe: nothing to leave out
    assert checks["meaning.artifact_cache"]["data"]["left_out"] == []
