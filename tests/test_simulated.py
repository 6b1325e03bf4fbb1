"""The simulated toolchain: fake `lake` and `lean` honouring ../shared/lean-contract.md."""

from __future__ import annotations

import json
import os
import random
import shutil
import stat
import subprocess
from pathlib import Path

import pytest

from conftest import ISOLATED_ENV, write_workspace
from simpulse.simulated import costmodel as cm
from simpulse.simulated.toolchain import DEFAULT_GITHASH, install, is_simulated

REPO = Path(__file__).resolve().parent.parent
FIXTURES = REPO / "lean_fixtures"

LAKEFILE = """\
name = "mini"
defaultTargets = ["Mini"]

[[lean_lib]]
name = "Mini"
leanOptions = { autoImplicit = false }
"""

SOURCES = {
    "Mini.lean": "import Mini.A\nimport Mini.C\n",
    "Mini/A.lean": """\
/-! Basic definitions. -/
namespace Mini

def double (n : Nat) : Nat := n + n

theorem double_eq (n : Nat) : double n = 2 * n := by
  simp [double]
  omega

example : 2 + 2 = 4 := by decide

end Mini
""",
    "Mini/B.lean": """\
import Mini.A

namespace Mini

theorem double_zero : double 0 = 0 := by simp [double]

theorem lit : 3 * (4 + 1) = 15 := by decide

end Mini
""",
    "Mini/C.lean": """\
import Mini.B

namespace Mini

-- uses simp for closed literal arithmetic: breaks without simprocs
example : (10 : Nat) + 5 = 15 := by simp

theorem le_succ' (n : Nat) : n ≤ n + 1 := by
  induction n with
  | zero => simp
  | succ k ih => omega

end Mini
""",
}



@pytest.fixture(scope="module")
def sysroot(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("sim") / "toolchain"
    install(root)
    return root


def base_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ISOLATED_ENV}
    env["SIMPULSE_SIM_SCALE"] = "0.02"
    env["SIMPULSE_SIM_CPU_FRACTION"] = "0.1"
    env.update(extra)
    return env


@pytest.fixture
def ws(tmp_path) -> Path:
    return write_workspace(tmp_path / "ws", SOURCES, LAKEFILE)


def lake(sysroot: Path, ws: Path, *args: str, lake_exe: Path | None = None, **env: str):
    exe = lake_exe or sysroot / "bin" / "lake"
    return subprocess.run([str(exe), *args], cwd=ws, env=base_env(**env), capture_output=True,
                          text=True, timeout=120)


def lean(sysroot: Path, *args: str, cwd: Path | None = None, **env: str):
    return subprocess.run([str(sysroot / "bin" / "lean"), *args], cwd=cwd, env=base_env(**env),
                          capture_output=True, text=True, timeout=60)


def compiles(log: Path) -> list[list[str]]:
    if not log.exists():
        return []
    recs = [json.loads(ln) for ln in log.read_text().splitlines() if ln.strip()]
    return [r["argv"] for r in recs if r["kind"] == "compile"]


def compiled_files(log: Path) -> list[str]:
    return [next(a for a in argv if a.endswith(".lean")) for argv in compiles(log)]


# ------------------------------------------------------------------------------------------
# toolchain layout and informational flags
# ------------------------------------------------------------------------------------------


def test_install_layout_is_idempotent(sysroot):
    for name in ("lean", "lake", "clang", "llvm-ar", "leanc"):
        p = sysroot / "bin" / name
        assert p.is_file() and os.access(p, os.X_OK)
    assert (sysroot / "lib" / "lean").is_dir() and (sysroot / "include").is_dir()
    assert is_simulated(sysroot)
    assert not is_simulated(sysroot / "lib")
    before = (sysroot / "bin" / "lean").read_bytes()
    install(sysroot)
    assert (sysroot / "bin" / "lean").read_bytes() == before
    assert subprocess.run([str(sysroot / "bin" / "clang")]).returncode == 0


def test_info_flags(tmp_path):
    root = install(tmp_path / "tc", githash="abc123")
    r = lean(root, "--githash", LEAN_GITHASH="ignored-by-lean")
    assert (r.returncode, r.stdout) == (0, "abc123\n")
    r = lean(root, "--version")
    assert r.stdout == ("Lean (version 4.14.0, x86_64-unknown-linux-gnu, commit abc123, "
                        "Release, simulated)\n")
    assert lean(root, "-v").stdout == r.stdout
    assert lean(root, "--print-prefix").stdout == f"{root.resolve()}\n"
    assert lean(root, "--print-libdir").stdout == f"{root.resolve() / 'lib' / 'lean'}\n"
    assert lean(root, "--help").returncode == 0
    # a symlink to bin/lean reports the real sysroot, as real lean does
    (tmp_path / "elsewhere").mkdir()
    os.symlink(root / "bin" / "lean", tmp_path / "elsewhere" / "lean")
    r = subprocess.run([str(tmp_path / "elsewhere" / "lean"), "--print-prefix"],
                       capture_output=True, text=True, env=base_env())
    assert r.stdout == f"{root.resolve()}\n"
    assert DEFAULT_GITHASH and len(DEFAULT_GITHASH) == 40


def test_lake_version_and_errors(sysroot, ws):
    r = lake(sysroot, ws, "--version")
    assert r.stdout == "Lake version 5.0.0-simulated (Lean version 4.14.0)\n"
    r = lake(sysroot, ws, "frobnicate")
    assert r.returncode == 1 and "error:" in r.stderr
    (ws / "lakefile.toml").rename(ws / "lakefile.lean")
    r = lake(sysroot, ws, "build")
    # TOML in a lakefile.lean: one line naming what it cannot read, never a wrong build
    assert r.returncode == 1 and r.stdout == ""
    assert r.stderr == ("error: lakefile.lean:1: 'name' declarations are not supported by the "
                        "simulated lake (refusing to build something else than the lakefile asks for)\n")


# ------------------------------------------------------------------------------------------
# building: progress, replay, incremental rebuilds
# ------------------------------------------------------------------------------------------


def test_clean_build_replay_and_incremental(sysroot, ws, tmp_path):
    log = tmp_path / "argv.log"
    r = lake(sysroot, ws, "build", SIMPULSE_SIM_ARGV_LOG=str(log))
    assert r.returncode == 0, r.stdout + r.stderr
    lines = r.stdout.splitlines()
    assert lines[-1] == "Build completed successfully (4 jobs)."
    built = [ln for ln in lines if " Built " in ln]
    assert len(built) == 4
    assert all(ln.startswith("✔ [") and ln.endswith(("ms)", "s)")) for ln in built)
    assert [ln.split("] Built ")[1].split(" (")[0] for ln in built].index("Mini.A") == 0
    assert len(compiles(log)) == 4
    for mod in ("Mini", "Mini/A", "Mini/B", "Mini/C"):
        assert (ws / ".lake/build/lib/lean" / f"{mod}.olean").is_file()
        assert (ws / ".lake/build/lib/lean" / f"{mod}.ilean").is_file()
        assert (ws / ".lake/build/ir" / f"{mod}.c").is_file()
        tr = json.loads((ws / ".lake/build/lib/lean" / f"{mod}.trace").read_text())
        assert "depHash" in tr and isinstance(tr["log"], list)

    # second build: everything replayed, lean never run
    r = lake(sysroot, ws, "build", SIMPULSE_SIM_ARGV_LOG=str(log))
    assert r.returncode == 0
    assert sum(" Replayed " in ln for ln in r.stdout.splitlines()) == 4
    assert len(compiles(log)) == 4

    # editing B rebuilds B and its dependents (C, Mini), not A
    b = ws / "Mini/B.lean"
    b.write_text(b.read_text() + "\ntheorem extra : 1 + 1 = 2 := by decide\n")
    r = lake(sysroot, ws, "build", SIMPULSE_SIM_ARGV_LOG=str(log))
    assert r.returncode == 0
    rebuilt = compiled_files(log)[4:]
    assert sorted(Path(f).name for f in rebuilt) == ["B.lean", "C.lean", "Mini.lean"]
    assert "✔ [1/4] Replayed Mini.A" in r.stdout

    # --no-build with nothing to do succeeds; with work to do exits 3
    assert lake(sysroot, ws, "build", "--no-build").returncode == 0
    (ws / "Mini/A.lean").write_text(SOURCES["Mini/A.lean"] + "\n-- touched\n")
    assert lake(sysroot, ws, "build", "--no-build").returncode == 3

    # lake clean removes the build directory
    assert lake(sysroot, ws, "clean").returncode == 0
    assert not (ws / ".lake/build").exists()


def test_warnings_are_logged_and_replayed(sysroot, ws):
    (ws / "Mini/S.lean").write_text("theorem todo : 1 = 1 := by\n  sorry\n")
    r = lake(sysroot, ws, "build", "Mini.S")
    assert r.returncode == 0
    assert "⚠ [1/1] Built Mini.S" in r.stdout
    assert "warning: ./././Mini/S.lean:1:8: declaration uses 'sorry'" in r.stdout
    r = lake(sysroot, ws, "build", "Mini.S")
    assert "⚠ [1/1] Replayed Mini.S" in r.stdout
    assert "declaration uses 'sorry'" in r.stdout


def test_weak_options_do_not_change_trace_lean_options_do(sysroot, ws, tmp_path):
    log = tmp_path / "argv.log"
    assert lake(sysroot, ws, "build", SIMPULSE_SIM_ARGV_LOG=str(log)).returncode == 0
    assert len(compiles(log)) == 4
    toml = ws / "lakefile.toml"
    toml.write_text(LAKEFILE.replace('name = "mini"\n',
                                     'name = "mini"\nweakLeanArgs = ["-Dweak.linter.all=false"]\n'))
    r = lake(sysroot, ws, "build", SIMPULSE_SIM_ARGV_LOG=str(log))
    assert r.returncode == 0 and len(compiles(log)) == 4, r.stdout
    toml.write_text(LAKEFILE.replace("autoImplicit = false", "autoImplicit = false, linter.all = false"))
    r = lake(sysroot, ws, "build", SIMPULSE_SIM_ARGV_LOG=str(log))
    assert r.returncode == 0 and len(compiles(log)) == 8
    assert "-Dlinter.all=false" in compiles(log)[-1]
    # a different Lean identity (LEAN_GITHASH) rebuilds everything too
    r = lake(sysroot, ws, "build", SIMPULSE_SIM_ARGV_LOG=str(log), LEAN_GITHASH="0" * 40)
    assert r.returncode == 0 and len(compiles(log)) == 12


# ------------------------------------------------------------------------------------------
# argument lists by era (contract §2)
# ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("era", ["v4.0", "middle", "setup"])
def test_era_argument_lists(sysroot, ws, tmp_path, era):
    (ws / "lakefile.toml").write_text(LAKEFILE.replace(
        "leanOptions = { autoImplicit = false }",
        'leanOptions = { autoImplicit = false, "trace.profiler.output" = "p.json" }\n'
        'moreLeanArgs = ["-DmaxRecDepth=600"]\nweakLeanArgs = ["-Dweak.foo.bar=1"]'))
    log = tmp_path / "argv.log"
    r = lake(sysroot, ws, "build", "Mini.A", SIMPULSE_SIM_ARGV_LOG=str(log), SIMPULSE_SIM_LAKE_ERA=era)
    assert r.returncode == 0, r.stdout + r.stderr
    [argv] = compiles(log)
    tail = ["-o", "./.lake/build/lib/lean/Mini/A.olean", "-i", "./.lake/build/lib/lean/Mini/A.ilean",
            "-c", "./.lake/build/ir/Mini/A.c"]
    opts = ["-DautoImplicit=false", '-Dtrace.profiler.output="p.json"', "-DmaxRecDepth=600"]
    if era == "v4.0":
        assert argv == [*opts, "./././Mini/A.lean", "-R", "././.", *tail]
    elif era == "middle":
        assert argv == ["-Dweak.foo.bar=1", *opts, "./././Mini/A.lean", "-R", "././.", *tail, "--json"]
    else:
        setup = "./.lake/build/ir/Mini/A.setup.json"
        assert argv == ["-Dweak.foo.bar=1", "-DmaxRecDepth=600", "./././Mini/A.lean", *tail,
                        "--setup", setup, "--json"]
        doc = json.loads((ws / setup).read_text())
        assert doc["name"] == "Mini.A" and doc["imports"] == []
        assert doc["options"] == {"autoImplicit": False, "trace.profiler.output": "p.json"}
    # each era's failure output is parsed back into Lake's log
    (ws / "Mini/Bad.lean").write_text("import Mini.A\ntheorem bad : 2 + 2 = 5 := by decide\n")
    r = lake(sysroot, ws, "build", "Mini.Bad", SIMPULSE_SIM_LAKE_ERA=era)
    assert r.returncode == 1
    assert "error: ./././Mini/Bad.lean:2:30: tactic 'decide' proved that the proposition" in r.stdout


def test_setup_options_override_command_line(sysroot, tmp_path):
    src = tmp_path / "M.lean"
    src.write_text(SOURCES["Mini/C.lean"].replace("import Mini.B\n", ""))
    setup = tmp_path / "M.setup.json"
    setup.write_text(json.dumps({"name": "M", "isModule": False, "imports": [],
                                 "options": {"simprocs": False}, "dynlibs": [], "plugins": []}))
    out = ["-o", str(tmp_path / "M.olean"), "-i", str(tmp_path / "M.ilean"), "-c", str(tmp_path / "M.c")]
    r = lean(sysroot, "-Dsimprocs=true", str(src), *out, "--setup", str(setup), "--json")
    assert r.returncode == 1 and "simp made no progress" in r.stdout
    setup.write_text(json.dumps({"name": "M", "imports": [], "options": {}}))
    r = lean(sysroot, "-Dsimprocs=true", str(src), *out, "--setup", str(setup), "--json")
    assert r.returncode == 0, r.stdout + r.stderr


# ------------------------------------------------------------------------------------------
# genuine errors
# ------------------------------------------------------------------------------------------


def test_false_decide_fails_the_build(sysroot, ws):
    (ws / "Mini/Bad.lean").write_text(
        "import Mini.A\n\ntheorem ok : 10 - 20 + 7 / 0 + 7 % 0 = 7 := by decide\n"
        "theorem bad : (2 : Nat) + 2 * 3 = 9 := by decide\n")
    (ws / "Mini/AfterBad.lean").write_text("import Mini.Bad\n")
    r = lake(sysroot, ws, "build", "Mini.AfterBad")
    assert r.returncode == 1
    out = r.stdout
    assert "✖ [2/3] Building Mini.Bad" in out
    assert ("error: ./././Mini/Bad.lean:4:42: tactic 'decide' proved that the proposition\n"
            "  2 + 2 * 3 = 9\nis false") in out
    assert "error: Lean exited with code 1" in out
    assert "Mini.AfterBad" not in out.split("Some required targets logged failures:")[0]
    assert out.rstrip().endswith("Some required targets logged failures:\n- Mini.Bad")
    assert not (ws / ".lake/build/lib/lean/Mini/Bad.olean").exists()


def test_lean_messages_json_and_plain(sysroot, tmp_path):
    src = tmp_path / "T.lean"
    src.write_text("example : 3 < 2 := by decide\ntheorem s : True := by sorry\n")
    r = lean(sysroot, str(src), "--json")
    assert r.returncode == 1
    msgs = [json.loads(ln) for ln in r.stdout.splitlines()]
    err, warn = msgs
    assert err["severity"] == "error" and err["pos"] == {"line": 1, "column": 22}
    assert err["data"] == "tactic 'decide' proved that the proposition\n  3 < 2\nis false"
    assert set(err) >= {"fileName", "pos", "endPos", "severity", "caption", "data",
                        "keepFullRange", "isSilent", "kind"}
    assert warn["severity"] == "warning" and warn["data"] == "declaration uses 'sorry'"
    r = lean(sysroot, str(src))
    assert r.stdout.splitlines()[0] == f"{src}:1:22: error: tactic 'decide' proved that the proposition"


def test_D_option_validation(sysroot, tmp_path):
    src = tmp_path / "T.lean"
    src.write_text("theorem t : 1 + 1 = 2 := by decide\n")
    o = ["-o", str(tmp_path / "T.olean")]
    r = lean(sysroot, "-Dfoo=1", str(src), *o)
    assert r.returncode == 1
    assert r.stdout == f"{src}:1:0: error: invalid -D parameter, unknown configuration option 'foo'\n"
    assert not (tmp_path / "T.olean").exists()
    r = lean(sysroot, "-Dweak.foo=1", "-D", "weak.linter.all=false", str(src), *o)
    assert r.returncode == 0, r.stdout + r.stderr
    assert (tmp_path / "T.olean").exists()
    r = lean(sysroot, "-Dsimprocs", str(src))
    assert r.returncode == 1 and "argument must contain '='" in r.stderr
    r = lean(sysroot, "-Dsimprocs=yes", str(src))
    assert r.returncode == 1 and "it must be true/false" in r.stderr
    r = lean(sysroot, "-DmaxHeartbeats=lots", str(src))
    assert r.returncode == 1 and "natural number" in r.stderr
    for extra in (["-j", "1"], ["-j2"], ["--threads=4"], ["-DmaxHeartbeats=400000"]):
        assert lean(sysroot, *extra, str(src)).returncode == 0


def test_simprocs_false_breaks_literal_simp(sysroot, ws):
    assert lake(sysroot, ws, "build", "Mini.B").returncode == 0
    r = lake(sysroot, ws, "build", "Mini.C")
    assert r.returncode == 0
    (ws / "lakefile.toml").write_text(LAKEFILE.replace(
        'name = "mini"\n', 'name = "mini"\nweakLeanArgs = ["-Dweak.simprocs=false"]\n'))
    (ws / "Mini/C.lean").write_text(SOURCES["Mini/C.lean"] + "\n")  # force a recompile
    r = lake(sysroot, ws, "build", "Mini.C")
    assert r.returncode == 1
    assert "error: ./././Mini/C.lean:6:36: simp made no progress" in r.stdout


def test_lowered_limits_break_heavy_modules(sysroot, tmp_path):
    src = tmp_path / "H.lean"
    src.write_text(SOURCES["Mini/C.lean"].replace("import Mini.B\n", ""))
    r = lean(sysroot, "-DmaxHeartbeats=20000", str(src))
    assert r.returncode == 1
    assert "maximum number of heartbeats (20000) has been reached" in r.stdout
    r = lean(sysroot, "-DmaxRecDepth=64", str(src))
    assert r.returncode == 1 and "maximum recursion depth has been reached" in r.stdout
    assert lean(sysroot, "-DmaxHeartbeats=0", str(src)).returncode == 0


def test_imports_must_exist(sysroot, tmp_path):
    src = tmp_path / "I.lean"
    src.write_text("import Init.Data\nimport Nope.Thing\n")
    r = lean(sysroot, str(src), LEAN_PATH=str(tmp_path))
    assert r.returncode == 1 and "unknown module prefix 'Nope'" in r.stdout
    (tmp_path / "Nope").mkdir()
    r = lean(sysroot, str(src), LEAN_PATH=str(tmp_path))
    assert r.returncode == 1 and "of module Nope.Thing does not exist" in r.stdout
    (tmp_path / "Nope" / "Thing.olean").write_text("x")
    assert lean(sysroot, str(src), LEAN_PATH=str(tmp_path)).returncode == 0
    r = lean(sysroot, "--deps", str(src))
    assert r.stdout == "Init.Data\nNope.Thing\n"


def test_artefacts_do_not_depend_on_options(sysroot, tmp_path):
    src = tmp_path / "A.lean"
    src.write_text(SOURCES["Mini/A.lean"])
    outs = []
    for opts in ([], ["-Dweak.linter.all=false", "-DElab.async=false", "-j", "1"]):
        o = tmp_path / f"A{len(outs)}"
        r = lean(sysroot, *opts, str(src), "-o", f"{o}.olean", "-i", f"{o}.ilean", "-c", f"{o}.c",
                 "-b", f"{o}.bc")
        assert r.returncode == 0
        outs.append([Path(f"{o}.{ext}").read_bytes() for ext in ("olean", "ilean", "c", "bc")])
    assert outs[0] == outs[1]


# ------------------------------------------------------------------------------------------
# which lean Lake runs (contract §1)
# ------------------------------------------------------------------------------------------


def _wrapper_sysroot(tmp_path: Path, real: Path) -> tuple[Path, Path]:
    w = tmp_path / "wrapper"
    (w / "bin").mkdir(parents=True)
    (w / "lib" / "lean").mkdir(parents=True)
    calls = tmp_path / "wrapper-calls.log"
    script = w / "bin" / "lean"
    script.write_text(
        "#!/bin/sh\n"
        f'echo "$*" >> "{calls}"\n'
        f'if [ "$1" = "--print-prefix" ]; then echo "{w}"; exit 0; fi\n'
        f'exec "{real / "bin" / "lean"}" "$@"\n')
    script.chmod(script.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return w, calls


def _wrapper_compiles(calls: Path) -> int:
    if not calls.exists():
        return 0
    return sum(1 for ln in calls.read_text().splitlines() if ".lean " in ln + " " and "-o" in ln)


def test_lean_resolution(sysroot, ws, tmp_path):
    w, calls = _wrapper_sysroot(tmp_path, sysroot)
    # 1. LEAN_SYSROOT under the override
    r = lake(sysroot, ws, "build", "Mini.A", LAKE_OVERRIDE_LEAN="1", LEAN_SYSROOT=str(w))
    assert r.returncode == 0, r.stdout + r.stderr
    assert _wrapper_compiles(calls) == 1
    assert "--githash" in calls.read_text()
    shutil.rmtree(ws / ".lake")
    # 2. LEAN: `$LEAN --print-prefix` names the sysroot; <sysroot>/bin/lean is run
    r = lake(sysroot, ws, "build", "Mini.A", LAKE_OVERRIDE_LEAN="TRUE", LEAN=str(w / "bin" / "lean"))
    assert r.returncode == 0 and _wrapper_compiles(calls) == 2
    shutil.rmtree(ws / ".lake")
    # 3. `lean` on PATH
    path = f"{w / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}"
    r = lake(sysroot, ws, "build", "Mini.A", LAKE_OVERRIDE_LEAN="yes", PATH=path)
    assert r.returncode == 0 and _wrapper_compiles(calls) == 3
    shutil.rmtree(ws / ".lake")
    # 4. LEAN = the real lean: its prefix is the real sysroot, the wrapper is not used
    r = lake(sysroot, ws, "build", "Mini.A", LAKE_OVERRIDE_LEAN="on", LEAN=str(sysroot / "bin" / "lean"))
    assert r.returncode == 0 and _wrapper_compiles(calls) == 3
    shutil.rmtree(ws / ".lake")
    # 5. without the override, the lean beside lake; the override variables are ignored
    r = lake(sysroot, ws, "build", "Mini.A", LAKE_OVERRIDE_LEAN="0", LEAN_SYSROOT=str(w))
    assert r.returncode == 0 and _wrapper_compiles(calls) == 3
    # 6. LEAN empty means no Lean
    r = lake(sysroot, ws, "build", "Mini.A", LAKE_OVERRIDE_LEAN="1", LEAN="")
    assert r.returncode == 1 and "error:" in r.stderr


def test_lake_env(sysroot, ws):
    r = lake(sysroot, ws, "env", "printenv", "LEAN_PATH")
    assert r.returncode == 0
    assert r.stdout.strip().split(os.pathsep)[:2] == [
        str(sysroot.resolve() / "lib" / "lean"), str(ws.resolve() / ".lake/build/lib/lean")]
    r = lake(sysroot, ws, "env", "sh", "-c", "exit 7")
    assert r.returncode == 7


# ------------------------------------------------------------------------------------------
# the cost model
# ------------------------------------------------------------------------------------------

SIMP_HEAVY = "\n".join(f"theorem t{i} (n : Nat) : n + 0 = n := by simp" for i in range(20)) + "\n"
ARITH_HEAVY = "\n".join(f"theorem a{i} : {i} * 3 + 1 = {i * 3 + 1} := by decide" for i in range(8)) + "\n"
SMALL = "def f (n : Nat) : Nat := n + 1\ntheorem f_pos (n : Nat) : 0 < f n := by\n  unfold f\n  omega\n"
LARGE = "\n".join(f"theorem l{i} (n : Nat) : n ≤ n + {i} := by\n  induction n with\n"
                  f"  | zero => simp\n  | succ k ih => omega" for i in range(30)) + "\n"


def test_cost_model_is_deterministic_with_a_seed():
    info = cm.analyze(SOURCES["Mini/C.lean"])
    src = SOURCES["Mini/C.lean"].encode()
    a = cm.model_time(info, {}, module="M", source=src, seed="7", scale=1.0)
    b = cm.model_time(info, {}, module="M", source=src, seed="7", scale=1.0)
    assert a.seconds == b.seconds
    c = cm.model_time(info, {}, module="M", source=src, seed="7", round_="2", scale=1.0)
    assert c.seconds != a.seconds
    d = cm.model_time(info, {}, module="M", source=src, seed="7", scale=0.5)
    assert d.seconds == pytest.approx(a.seconds / 2)
    # at scale 1.0 a small module costs a fraction of a second
    assert 0.05 < a.base < 1.0


def test_cost_model_effects_differ_by_module_kind():
    small, large = cm.analyze(SMALL).features, cm.analyze(LARGE).features
    simp, arith = cm.analyze(SIMP_HEAVY).features, cm.analyze(ARITH_HEAVY).features
    off = {"linter.all": False}
    for feats in (small, large, simp, arith):
        rng = random.Random(3)
        base = cm.model_time(feats, {}, rng=random.Random(3), scale=1.0).seconds
        assert cm.model_time(feats, off, rng=rng, scale=1.0).seconds < base
    assert cm.effects(large, off, None)["linter.all"] < cm.effects(small, off, None)["linter.all"]
    no_simprocs = {"simprocs": False}
    assert cm.effects(simp, no_simprocs, None)["simprocs"] <= 0.8
    assert cm.effects(arith, no_simprocs, None)["simprocs"] > 1.0
    sync = {"Elab.async": False}
    assert cm.effects(small, sync, None)["Elab.async"] < 0.95
    assert cm.effects(large, sync, None)["Elab.async"] > 1.1
    assert cm.effects(small, {}, 1)["threads"] < 1.0 < cm.effects(large, {}, 1)["threads"]
    assert cm.effects(large, {}, None) == {}


def test_noise_has_rare_outliers():
    rng = random.Random(11)
    xs = [cm.noise(rng) for _ in range(5000)]
    med = sorted(xs)[len(xs) // 2]
    assert 0.97 < med < 1.03
    outliers = sum(x > 1.45 for x in xs) / len(xs)
    assert 0.01 < outliers < 0.035


def test_literal_evaluator():
    assert cm.evaluate_prop(" (2 : Nat) + 2 * 3 = 9 ") == ("2 + 2 * 3 = 9", False)
    assert cm.evaluate_prop("(1 + 2) * 3 = 9") == ("(1 + 2) * 3 = 9", True)
    assert cm.evaluate_prop("10 - 20 = 0") == ("10 - 20 = 0", True)
    assert cm.evaluate_prop("7 / 0 = 0")[1] and cm.evaluate_prop("7 % 0 = 7")[1]
    assert cm.evaluate_prop("2 ^ 10 ≥ 1000")[1]
    assert cm.evaluate_prop("10 - 3 - 2 = 5") == ("10 - 3 - 2 = 5", True)
    assert cm.evaluate_prop("10 - (3 - 2) = 9") == ("10 - (3 - 2) = 9", True)
    assert cm.evaluate_prop("n + 0 = n") is None
    assert cm.evaluate_prop("__import__('os') = 1") is None


# ------------------------------------------------------------------------------------------
# the project's fixtures, when present
# ------------------------------------------------------------------------------------------


@pytest.mark.skipif(not (FIXTURES / "lakefile.toml").exists(), reason="lean_fixtures not written yet")
def test_project_fixtures_build(sysroot, tmp_path):
    ws = tmp_path / "fixtures"
    shutil.copytree(FIXTURES, ws, ignore=shutil.ignore_patterns(".lake"))
    r = lake(sysroot, ws, "build")
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout.splitlines()[-1].startswith("Build completed successfully")
    r = lake(sysroot, ws, "build", "Broken")
    assert r.returncode == 1
    assert "tactic 'decide' proved that the proposition" in r.stdout


def test_lexer_ignores_comments_and_strings():
    src = ('/- outer /- nested simp -/ omega -/\n-- simp decide\n'
           'def s : String := "simp -- /- \\"decide\\"\nomega"\n'
           "def c : Char := '\"'\ndef f' (n : Nat) : Nat := n\n"
           'def r : String := r#"a "simp" b"#\n'
           "theorem t (n : Nat) : f' n = n := by\n  simp [f'] -- real one\n")
    clean = cm.blank_comments(src)
    assert len(clean) == len(src) and clean.count("\n") == src.count("\n")
    info = cm.analyze(src)
    assert info.features["simp"] == 1 and info.features["omega"] == 0
    assert info.features["decide"] == 0
    assert [d.name for d in info.decls] == ["s", "c", "f'", "r", "t"]
