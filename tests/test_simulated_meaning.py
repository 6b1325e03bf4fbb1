"""What options do to a module's *meaning* in the simulated toolchain (issue 17, item 5).

Each behaviour is asserted directly against the simulated `lean` / `lake` (no shim): linter
warnings and `linter.all=false`, `#guard_msgs`, `simprocs=false` (outputs and verdict),
`warningAsError`, `lake build --wfail` / `--iofail` with replayed logs in every era, and the
`SIMPULSE_SIM_LEAN_SIGNAL` fault hook. The fixtures are `lean_fixtures/Meaning/`.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from simpulse.simulated.lake import Workspace

ERAS = ("v4.0", "middle", "setup")
UNUSED = ("unused variable `unused`\n"
          "note: this linter can be disabled with `set_option linter.unusedVariables false`")
GUARD_FAILED = "❌️ Docstring on `#guard_msgs` does not match generated message:"
SIMP_MODULE = ("theorem a (xs : List Nat) : (xs ++ []).length = xs.length := by simp\n"
               "def twice (n : Nat) : Nat := n + n\n")
PLAIN_MODULE = "def twice (n : Nat) : Nat := n + n\ntheorem t : twice 2 = 4 := rfl\n"


@pytest.fixture
def proj(project):
    """The scratch copy of lean_fixtures/, with a fixed seed and no era / fault hook set."""
    for var in ("SIMPULSE_SIM_LAKE_ERA", "SIMPULSE_SIM_LEAN_SIGNAL", "SIMPULSE_SIM_ARGV_LOG",
                "LEAN_GITHASH", "LEAN_PATH", "SIMPULSE_SIM_ROUND"):
        project.env.pop(var, None)
    project.env["SIMPULSE_SIM_SEED"] = "17"
    return project


def lean(proj, *args, env=None):
    return proj.run(str(proj.sysroot / "bin" / "lean"), *args, env=env)


def compile_json(proj, rel: str, *opts: str, setup: dict | None = None, env=None, out: str = "out"):
    """Compile one file with `--json` (and a setup file when given): (returncode, messages)."""
    o = proj.root / ".sim-out" / out
    o.parent.mkdir(parents=True, exist_ok=True)
    extra: list[str] = []
    if setup is not None:
        sp = proj.root / ".sim-out" / f"{out}.setup.json"
        sp.write_text(json.dumps({"name": Path(rel).with_suffix("").as_posix().replace("/", "."),
                                  "imports": [], **setup}))
        extra = ["--setup", str(sp)]
    r = lean(proj, *opts, rel, "-o", f"{o}.olean", "-i", f"{o}.ilean", "-c", f"{o}.c", *extra,
             "--json", env=env)
    msgs = [json.loads(ln) for ln in r.stdout.splitlines() if ln.strip()]
    return r.returncode, msgs


def outputs(proj, out: str) -> dict[str, bytes]:
    base = proj.root / ".sim-out"
    return {ext: (base / f"{out}.{ext}").read_bytes() for ext in ("olean", "ilean", "c")}


# ------------------------------------------------------------------------------------------
# the fixture package
# ------------------------------------------------------------------------------------------


def test_meaning_is_a_library_outside_the_default_target(proj):
    ws = Workspace(str(proj.root))
    assert ws.pkg.default_targets == ["Fixtures"]
    assert ws.pkg.lib("Meaning") is not None
    assert not any(m.startswith("Meaning") for m in ws.default_modules())
    assert ws.resolve_target("Meaning") == ["Meaning"]
    assert sorted(ws.plan(["Meaning"])) == ["Meaning", "Meaning.CoreSimproc", "Meaning.GuardMsgs",
                                            "Meaning.Linted"]


# ------------------------------------------------------------------------------------------
# linter warnings and linter.all=false
# ------------------------------------------------------------------------------------------


def test_linter_warning_at_baseline(proj):
    code, msgs = compile_json(proj, "Meaning/Linted.lean")
    assert code == 0
    [w] = msgs
    assert (w["severity"], w["data"]) == ("warning", UNUSED)
    assert w["pos"] == {"line": 15, "column": 6} and w["endPos"] == {"line": 15, "column": 12}
    # plain (non-JSON) output: Lean's `FILE:LINE:COL: warning: text`
    r = lean(proj, "Meaning/Linted.lean")
    assert r.returncode == 0 and r.stdout == f"Meaning/Linted.lean:15:6: warning: {UNUSED}\n"


@pytest.mark.parametrize("how", ["-D", "-Dweak", "setup", "setup-weak", "linter-only"])
def test_linter_all_false_removes_the_warning(proj, how):
    opts, setup = {
        "-D": (["-Dlinter.all=false"], None),
        "-Dweak": (["-Dweak.linter.all=false"], None),
        "setup": ([], {"options": {"linter.all": False}}),
        "setup-weak": ([], {"options": {"weak.linter.all": "false"}}),
        "linter-only": (["-Dlinter.unusedVariables=false"], None),
    }[how]
    code, msgs = compile_json(proj, "Meaning/Linted.lean", *opts, setup=setup)
    assert (code, msgs) == (0, [])


def test_weak_options_beat_the_setup_file(proj):
    # contract §9: `-Dweak.X` is re-parsed after the setup-file merge and overwrites its `X`
    setup = {"options": {"linter.all": True}}
    assert compile_json(proj, "Meaning/Linted.lean", "-Dweak.linter.all=false", setup=setup) == (0, [])
    code, msgs = compile_json(proj, "Meaning/Linted.lean", "-Dlinter.all=false", setup=setup)
    assert code == 0 and [m["data"] for m in msgs] == [UNUSED]  # plain -DX loses to the setup file


def test_an_explicit_linter_option_beats_linter_all(proj):
    # Lean's getLinterValue: the linter's own option, when set, wins over linter.all
    code, msgs = compile_json(proj, "Meaning/Linted.lean", "-Dlinter.all=false",
                              "-Dlinter.unusedVariables=true")
    assert code == 0 and [m["data"] for m in msgs] == [UNUSED]
    src = proj.root / "Meaning" / "Local.lean"
    src.write_text("set_option linter.unusedVariables false in\n"
                   "def f (n : Nat) : Nat :=\n  let k := 1\n  n\n"
                   "def g (n : Nat) : Nat :=\n  let _k := 1\n  let k2 : Nat := 2\n  n\n")
    code, msgs = compile_json(proj, "Meaning/Local.lean")
    assert code == 0
    assert [(m["pos"]["line"], m["data"].splitlines()[0]) for m in msgs] == [(7, "unused variable `k2`")]


# ------------------------------------------------------------------------------------------
# #guard_msgs
# ------------------------------------------------------------------------------------------


def test_guard_msgs_passes_at_baseline_and_fails_without_the_warning(proj):
    assert compile_json(proj, "Meaning/GuardMsgs.lean", out="base") == (0, [])
    for opts in (["-Dlinter.all=false"], ["-Dweak.linter.all=false"]):
        code, msgs = compile_json(proj, "Meaning/GuardMsgs.lean", *opts, out="nolint")
        assert code == 1
        [e] = msgs
        assert e["severity"] == "error" and e["pos"] == {"line": 17, "column": 0}
        assert e["data"].startswith(GUARD_FAILED)
    assert not (proj.root / ".sim-out" / "nolint.olean").exists()  # a failed compile writes nothing


def test_guard_msgs_fails_when_the_warning_becomes_an_error(proj):
    code, msgs = compile_json(proj, "Meaning/GuardMsgs.lean", "-DwarningAsError=true")
    assert code == 1
    assert [(m["severity"], m["pos"]["line"]) for m in msgs] == [("error", 17), ("error", 19)]
    assert msgs[0]["data"] == (GUARD_FAILED + "\n\nerror: unused variable `scratch`\n"
                               "note: this linter can be disabled with "
                               "`set_option linter.unusedVariables false`")


# ------------------------------------------------------------------------------------------
# simprocs=false: other .olean bytes, and a module needing a core simproc fails
# ------------------------------------------------------------------------------------------


def test_olean_bytes_differ_only_with_simprocs_false_on_a_module_using_simp(proj):
    (proj.root / "S.lean").write_text(SIMP_MODULE)
    (proj.root / "P.lean").write_text(PLAIN_MODULE)
    for rel in ("S.lean", "P.lean"):
        runs = {"baseline": [], "simprocs": ["-Dsimprocs=false"], "weak-simprocs": ["-Dweak.simprocs=false"],
                "no-async": ["-DElab.async=false"], "j1": ["-j", "1"], "j2": ["-j2"],
                "no-linters": ["-Dlinter.all=false"]}
        got = {}
        for tag, opts in runs.items():
            code, msgs = compile_json(proj, rel, *opts, out=f"{rel}-{tag}")
            assert (code, msgs) == (0, []), tag
            got[tag] = outputs(proj, f"{rel}-{tag}")
        base = got.pop("baseline")
        for tag, o in got.items():
            if rel == "S.lean" and "simprocs" in tag:
                assert o["olean"] != base["olean"], tag
                assert (o["ilean"], o["c"]) == (base["ilean"], base["c"]), tag  # only the .olean
            else:
                # the simulation's choice: Elab.async and -j leave every byte as it is
                assert o == base, (rel, tag)
    assert json.loads(outputs(proj, "S.lean-simprocs")["olean"])["proofs_without_simprocs"] == ["a"]


@pytest.mark.parametrize("how", ["-D", "-Dweak", "setup"])
def test_core_simproc_module_fails_under_simprocs_false(proj, how):
    assert compile_json(proj, "Meaning/CoreSimproc.lean") == (0, [])
    opts, setup = {"-D": (["-Dsimprocs=false"], None), "-Dweak": (["-Dweak.simprocs=false"], None),
                   "setup": (["-Dsimprocs=true"], {"options": {"simprocs": False}})}[how]
    code, msgs = compile_json(proj, "Meaning/CoreSimproc.lean", *opts, setup=setup)
    assert code == 1
    assert [(m["severity"], m["pos"]["line"], m["data"]) for m in msgs] == [
        ("error", 11, "simp made no progress"), ("error", 13, "simp made no progress")]


def test_literal_if_claims_are_really_evaluated(proj):
    (proj.root / "Ite.lean").write_text(
        "theorem ok : (if 2 + 2 = 4 then 1 else 0) + 1 = 2 := by decide\n"
        "theorem bad : (if 3 < 2 then 10 else 20) = 10 := by simp\n")
    code, msgs = compile_json(proj, "Ite.lean")
    assert code == 1
    assert [(m["pos"]["line"], m["data"]) for m in msgs] == [(2, "unsolved goals\n⊢ False")]


# ------------------------------------------------------------------------------------------
# warningAsError
# ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("how", ["-D", "-Dweak", "setup", "set_option"])
def test_warning_as_error_fails_the_module(proj, how):
    rel = "Meaning/Linted.lean"
    opts, setup = [], None
    if how == "-D":
        opts = ["-DwarningAsError=true"]
    elif how == "-Dweak":
        opts = ["-Dweak.warningAsError=true"]
    elif how == "setup":
        setup = {"options": {"warningAsError": True}}
    else:
        rel = "Meaning/Strict.lean"
        (proj.root / rel).write_text("set_option warningAsError true\n\n"
                                     + (proj.root / "Meaning/Linted.lean").read_text())
    code, msgs = compile_json(proj, rel, *opts, setup=setup)
    assert code == 1
    assert [(m["severity"], m["data"]) for m in msgs] == [("error", UNUSED)]


# ------------------------------------------------------------------------------------------
# lake build --wfail / --iofail, replayed logs, warningAsError from the lakefile (three eras)
# ------------------------------------------------------------------------------------------


def compiles(log: Path) -> list[list[str]]:
    if not log.exists():
        return []
    recs = [json.loads(ln) for ln in log.read_text().splitlines() if ln.strip()]
    return [r["argv"] for r in recs if r["kind"] == "compile"]


@pytest.mark.parametrize("era", ERAS)
def test_wfail_fails_on_the_warning_and_on_its_replay(proj, era, tmp_path):
    log = tmp_path / "argv.log"
    env = {"SIMPULSE_SIM_LAKE_ERA": era, "SIMPULSE_SIM_ARGV_LOG": str(log)}
    r = proj.lake("build", "--wfail", "Meaning", env=env)
    assert r.returncode == 1, r.stdout + r.stderr
    out = r.stdout
    assert re.search(r"^⚠ \[\d/4\] Building Meaning\.Linted \(\d+(\.\d)?m?s\)$", out, re.M), out
    assert f"warning: ./././Meaning/Linted.lean:15:6: {UNUSED}" in out
    assert out.rstrip().endswith("Some required targets logged failures:\n- Meaning.Linted")
    assert "Lean exited" not in out and r.stderr == "error: build failed\n"
    assert len(compiles(log)) == 4  # the warned module does not stop its dependents
    # up to date now: nothing is compiled, the stored log is replayed and fails the build again
    r = proj.lake("build", "--wfail", "Meaning", env=env)
    assert r.returncode == 1 and len(compiles(log)) == 4
    assert re.search(r"^⚠ \[\d/4\] Replaying Meaning\.Linted$", r.stdout, re.M), r.stdout
    assert f"warning: ./././Meaning/Linted.lean:15:6: {UNUSED}" in r.stdout
    assert r.stdout.rstrip().endswith("- Meaning.Linted")
    # --iofail fails on a warning too (warning ≥ info); plain build replays it and succeeds
    assert proj.lake("build", "--iofail", "Meaning", env=env).returncode == 1
    r = proj.lake("build", "Meaning", env=env)
    assert r.returncode == 0 and len(compiles(log)) == 4
    assert re.search(r"^⚠ \[\d/4\] Replayed Meaning\.Linted$", r.stdout, re.M)
    assert UNUSED in r.stdout and r.stdout.endswith("Build completed successfully (4 jobs).\n")


def _wrapper_sysroot(tmp_path: Path, real: Path, extra: str) -> Path:
    """A sysroot whose `bin/lean` adds `extra` to every compile, as a wrapper would."""
    w = tmp_path / "wrapper"
    (w / "bin").mkdir(parents=True)
    (w / "lib" / "lean").mkdir(parents=True)
    script = w / "bin" / "lean"
    script.write_text("#!/bin/sh\n"
                      f'case "$*" in *.lean*) exec "{real / "bin" / "lean"}" {extra} "$@";; esac\n'
                      f'exec "{real / "bin" / "lean"}" "$@"\n')
    script.chmod(0o755)
    return w


@pytest.mark.parametrize("era", ERAS)
def test_hidden_warning_stays_hidden_until_rebuilt(proj, era, tmp_path):
    """Built through a wrapper adding linter.all=false, the trace stores no warning: the plain
    build after it replays that log, and --wfail passes, until the module is rebuilt."""
    w = _wrapper_sysroot(tmp_path, proj.sysroot, "-Dweak.linter.all=false")
    env = {"SIMPULSE_SIM_LAKE_ERA": era}
    r = proj.lake("build", "Meaning.Linted", env=dict(env, LAKE_OVERRIDE_LEAN="1", LEAN_SYSROOT=str(w)))
    assert r.returncode == 0 and "warning" not in r.stdout
    r = proj.lake("build", "--wfail", "Meaning.Linted", env=env)
    assert r.returncode == 0 and "✔ [1/1] Replayed Meaning.Linted" in r.stdout
    src = proj.root / "Meaning" / "Linted.lean"
    src.write_text(src.read_text() + "\n")  # an edit: rebuilt, the warning is back
    r = proj.lake("build", "--wfail", "Meaning.Linted", env=env)
    assert r.returncode == 1 and "⚠ [1/1] Building Meaning.Linted" in r.stdout


@pytest.mark.parametrize("era", ERAS)
@pytest.mark.parametrize("where", ["leanOptions", "moreLeanArgs"])
def test_warning_as_error_from_the_lakefile_reaches_lean(proj, era, where, tmp_path):
    log = tmp_path / "argv.log"
    env = {"SIMPULSE_SIM_LAKE_ERA": era, "SIMPULSE_SIM_ARGV_LOG": str(log)}
    setting = ("leanOptions = { warningAsError = true }" if where == "leanOptions"
               else 'moreLeanArgs = ["-DwarningAsError=true"]')
    toml = proj.root / "lakefile.toml"
    toml.write_text(toml.read_text().replace('name = "Meaning"', f'name = "Meaning"\n{setting}'))
    r = proj.lake("build", "Meaning.Linted", env=env)
    assert r.returncode == 1
    assert re.search(r"^✖ \[1/1\] Building Meaning\.Linted", r.stdout, re.M), r.stdout
    assert f"error: ./././Meaning/Linted.lean:15:6: {UNUSED}" in r.stdout
    assert "error: Lean exited with code 1" in r.stdout
    [argv] = compiles(log)
    on_command_line = "-DwarningAsError=true" in argv
    if where == "leanOptions" and era == "setup":  # leanOptions travel in the setup file
        assert not on_command_line
        setup = json.loads((proj.root / ".lake/build/ir/Meaning/Linted.setup.json").read_text())
        assert setup["options"] == {"warningAsError": True}
    else:
        assert on_command_line
    assert not (proj.root / ".lake/build/lib/lean/Meaning/Linted.trace").exists()


@pytest.mark.parametrize("era", ERAS)
def test_iofail_fails_on_information(proj, era):
    (proj.root / "Meaning" / "Info.lean").write_text("#eval 2 + 3 * 4\n")
    env = {"SIMPULSE_SIM_LAKE_ERA": era}
    r = proj.lake("build", "Meaning.Info", env=env)
    assert r.returncode == 0
    assert "ℹ [1/1] Built Meaning.Info" in r.stdout and "info: ./././Meaning/Info.lean:1:0: 14" in r.stdout
    assert proj.lake("build", "--wfail", "Meaning.Info", env=env).returncode == 0
    r = proj.lake("build", "--iofail", "Meaning.Info", env=env)
    assert r.returncode == 1 and "ℹ [1/1] Replaying Meaning.Info" in r.stdout
    assert r.stdout.rstrip().endswith("- Meaning.Info")
    # the last of --iofail / --wfail / --fail-level wins, as in Lake's option parser
    assert proj.lake("build", "--iofail", "--wfail", "Meaning.Info", env=env).returncode == 0
    assert proj.lake("build", "--fail-level", "info", "Meaning.Info", env=env).returncode == 1
    assert proj.lake("build", "--fail-level=warning", "Meaning.Info", env=env).returncode == 0


def test_bad_fail_level_is_one_line(proj):
    r = proj.lake("build", "--fail-level", "loud", "Meaning")
    assert r.returncode == 1 and r.stdout == ""
    assert r.stderr.count("\n") == 1 and "invalid log level 'loud'" in r.stderr


# ------------------------------------------------------------------------------------------
# the fault hook
# ------------------------------------------------------------------------------------------


def test_signal_hook_aborts_lean_when_the_option_is_in_effect(proj):
    hook = {"SIMPULSE_SIM_LEAN_SIGNAL": "Elab.async=false"}
    out = proj.root / ".sim-out"
    out.mkdir()
    args = ["Meaning/Linted.lean", "-o", str(out / "L.olean"), "--json"]
    for opts in (["-DElab.async=false"], ["-Dweak.Elab.async=false"]):
        r = lean(proj, *opts, *args, env=hook)
        assert (r.returncode, r.stdout, r.stderr) == (-6, "", "")
        assert not (out / "L.olean").exists()
    setup = out / "L.setup.json"
    setup.write_text(json.dumps({"name": "Meaning.Linted", "options": {"Elab.async": False}}))
    assert lean(proj, *args, "--setup", str(setup), env=hook).returncode == -6
    # not in effect: an ordinary compile
    r = lean(proj, *args, env=hook)
    assert r.returncode == 0 and (out / "L.olean").exists()
    # a bad hook is a clear one-line error
    r = lean(proj, *args, env={"SIMPULSE_SIM_LEAN_SIGNAL": "Elab.async"})
    assert r.returncode == 1 and r.stderr.count("\n") == 1 and "SIMPULSE_SIM_LEAN_SIGNAL" in r.stderr


def test_lake_reports_a_signal_as_lean_does(proj):
    toml = proj.root / "lakefile.toml"
    toml.write_text(toml.read_text().replace('name = "Meaning"',
                                             'name = "Meaning"\nweakLeanArgs = ["-Dweak.Elab.async=false"]'))
    r = proj.lake("build", "Meaning.Linted", env={"SIMPULSE_SIM_LEAN_SIGNAL": "Elab.async=false"})
    assert r.returncode == 1
    assert "✖ [1/1] Building Meaning.Linted" in r.stdout
    assert "error: Lean exited with code 134" in r.stdout  # 128 + SIGABRT, Lean's convention


@pytest.mark.parametrize("option, broken", [("simprocs", "Meaning.CoreSimproc"),
                                            ("linter.all", "Meaning.GuardMsgs")])
def test_a_meaning_changing_option_breaks_its_module_in_a_lake_build(proj, option, broken):
    toml = proj.root / "lakefile.toml"
    toml.write_text(toml.read_text().replace(
        'name = "Meaning"', f'name = "Meaning"\nweakLeanArgs = ["-Dweak.{option}=false"]'))
    r = proj.lake("build", "Meaning")
    assert r.returncode == 1
    assert re.search(rf"^✖ \[\d/4\] Building {re.escape(broken)} ", r.stdout, re.M), r.stdout
    assert r.stdout.rstrip().endswith(f"Some required targets logged failures:\n- {broken}")
    assert "Built Meaning (" not in r.stdout  # the root imports the broken module: not built
