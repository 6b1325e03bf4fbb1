"""The module system in the simulated toolchain, real lakefiles, and the shim's transparency for
module files (issue 24; docs/modules.md, contract §9b).

Small synthetic projects: every test here runs in a few seconds.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from simpulse.simulated import modsys
from simpulse.simulated.lakefile import LakefileError, load
from conftest import sim_env, write_workspace
from simpulse.simulated.toolchain import install

ERAS = modsys.MODSYS_ERAS

SOURCES = {
    "Mods.lean": "module\n\npublic import Mods.Alias\npublic import Mods.Uses\nimport Mods.Plain\n",
    "Mods/Core.lean": """\
/-! doc comment: import Mods.Nope is not an import -/
module

prelude
public import Init.Prelude

public section
def double (n : Nat) : Nat := n + n
end
""",
    "Mods/Alias.lean": """\
module -- a trailing comment

public meta import Mods.Core
import all Mods.Core  -- for unfolding `double`
public import Lean.Elab.Command

/-- an `import Mods.Nope` after the header is not an import -/
def twice (n : Nat) : Nat := double n
""",
    "Mods/Uses.lean": "module\npublic import Mods.Alias\n\ntheorem t : 2 + 2 = 4 := by decide\n",
    # a file outside the module system importing module files needs every olean part
    "Mods/Plain.lean": "import Mods.Core\n\ndef three : Nat := 3\n",
    "scripts/main.lean": "import Mods.Alias\n\ndef main : IO Unit := pure ()\n",
}

LAKEFILE = """\
name = "mods"
testDriver = "ModsTest"
defaultTargets = ["Mods", "tool"]

[leanOptions]
linter.missingDocs = true

[[lean_lib]]
name = "Mods"
leanOptions = { autoImplicit = false }

[[lean_exe]]
name = "tool"
root = "main"
srcDir = "scripts"
supportInterpreter = true
"""

LIB_MODULES = ["Mods", "Mods.Alias", "Mods.Core", "Mods.Plain", "Mods.Uses"]


@pytest.fixture(scope="module")
def sysroot(tmp_path_factory) -> Path:
    return install(tmp_path_factory.mktemp("sim") / "toolchain")


@pytest.fixture
def ws(tmp_path) -> Path:
    return write_workspace(tmp_path / "ws", SOURCES, LAKEFILE)


def run(sysroot, ws, *args, exe="lake", **env):
    cmd = [sys.executable, "-m", "simpulse", *args] if exe == "simpulse" else [str(sysroot / "bin" / exe), *args]
    return subprocess.run(cmd, cwd=ws, env=sim_env(sysroot, ws.parent, **env), capture_output=True,
                          text=True, timeout=180)


def compiles(log: Path, kind: str = "compile") -> list[dict]:
    if not log.exists():
        return []
    return [r for r in map(json.loads, log.read_text().splitlines()) if r["kind"] == kind]


def artifacts(ws: Path, mod: str, era: str, *, is_module: bool = True) -> dict[str, Path]:
    p = "/".join(mod.split("."))
    outs = modsys.outputs(f"{ws}/.lake/build/lib/lean/{p}.olean", f"{ws}/.lake/build/lib/lean/{p}.ilean",
                          f"{ws}/.lake/build/ir/{p}.c", era=era, is_module=is_module)
    return {k: Path(v) for k, v in outs.items()}


def built(stdout: str) -> list[str]:
    return sorted(ln.split("] Built ")[1].split(" ")[0] for ln in stdout.splitlines() if "] Built " in ln)


# ------------------------------------------------------------------------------------------
# headers
# ------------------------------------------------------------------------------------------


def test_header_forms():
    h = modsys.parse_header(SOURCES["Mods/Alias.lean"])
    assert h.is_module and not h.prelude
    assert [(i.module, i.exported, i.meta, i.all) for i in h.imports] == [
        ("Mods.Core", True, True, False), ("Mods.Core", False, False, True),
        ("Lean.Elab.Command", True, False, False)]
    assert h.modules == ["Mods.Core", "Lean.Elab.Command"]
    core = modsys.parse_header(SOURCES["Mods/Core.lean"])
    assert core.is_module and core.prelude and core.modules == ["Init.Prelude"]
    plain = modsys.parse_header("/- a /- nested -/ comment -/\nprelude\nimport «A».B\nimport C -- x\ndef x := 1\nimport D\n")
    assert not plain.is_module and plain.prelude and plain.modules == ["A.B", "C"]
    # the header ends at the first command: `public section`, `open`, a doc comment's text
    assert modsys.parse_header("module\npublic section\nimport X\n").modules == []
    assert modsys.parse_header("module\nimport\n").modules == []
    assert modsys.parse_header("modules\nimport X\n").is_module is False


def test_import_arts_shapes_round_trip():
    outs = {"olean": "b/X.olean", "ilean": "b/X.ilean", "c": "ir/X.c"}
    assert modsys.import_arts(outs, era="setup", is_module=True) == ["b/X.olean", "b/X.olean.server", "b/X.olean.private"]
    assert modsys.import_arts(outs, era="setup-ir", is_module=True) == ["b/X.olean", "b/X.ir", "b/X.olean.server", "b/X.olean.private"]
    assert modsys.import_arts(outs, era="newest", is_module=True) == [
        ["b/X.olean", "b/X.olean.server", "b/X.olean.private"], ["b/X.ir.sig", "b/X.ir"]]
    for era in ERAS:
        parts = modsys.read_import_arts(modsys.import_arts(outs, era=era, is_module=True))
        assert parts["olean"] == "b/X.olean" and parts["olean.private"] == "b/X.olean.private"
        assert ("ir" in parts) == (era != "setup")
    assert modsys.read_import_arts("b/X.olean") is None
    assert modsys.read_import_arts([["b/X.olean"], []]) == {"olean": "b/X.olean"}


# ------------------------------------------------------------------------------------------
# simulated lake + lean on module files, every era
# ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("era", ERAS)
def test_module_build_every_era(sysroot, ws, tmp_path, era):
    log = tmp_path / "argv.log"
    r = run(sysroot, ws, "build", SIMPULSE_SIM_LAKE_ERA=era, SIMPULSE_SIM_ARGV_LOG=str(log))
    assert r.returncode == 0, r.stdout + r.stderr
    assert built(r.stdout) == sorted(LIB_MODULES + ["main"])
    assert "note: testDriver 'ModsTest' is ignored" in r.stderr
    assert "note: lean_exe 'tool': its root module is compiled; linking is not simulated" in r.stderr
    for mod in LIB_MODULES:
        for kind, p in artifacts(ws, mod, era, is_module=mod != "Mods.Plain").items():
            assert p.is_file(), (mod, kind)
    for mod in ("Mods.Plain", "main"):  # not module files: no server/private olean expected...
        base = ws / ".lake/build/lib/lean" / (mod.replace(".", "/") + ".olean.server")
        assert not base.exists()
    # ...and the setup file tells lean what it needs
    setup = json.loads((ws / ".lake/build/ir/Mods/Alias.setup.json").read_text())
    assert setup["name"] == "Mods.Alias" and setup["isModule"] is True and setup["package"] == "mods"
    assert "imports" not in setup  # a module file's imports come from its header
    assert setup["options"] == {"linter.missingDocs": True, "autoImplicit": False}
    core = "./.lake/build/lib/lean/Mods/Core"
    assert setup["importArts"] == {"Mods.Core": {
        "setup": [f"{core}.olean", f"{core}.olean.server", f"{core}.olean.private"],
        "setup-ir": [f"{core}.olean", f"{core}.ir", f"{core}.olean.server", f"{core}.olean.private"],
        "newest": [[f"{core}.olean", f"{core}.olean.server", f"{core}.olean.private"], [f"{core}.ir.sig", f"{core}.ir"]],
    }[era]}
    uses = json.loads((ws / ".lake/build/ir/Mods/Uses.setup.json").read_text())
    assert sorted(uses["importArts"]) == ["Mods.Alias", "Mods.Core"]  # the transitive closure
    plain = json.loads((ws / ".lake/build/ir/Mods/Plain.setup.json").read_text())
    assert plain["isModule"] is False and plain["imports"] == ["Mods.Core"]
    # the exe's root module: -R-free newest argument list, its own srcDir
    argv = next(c["argv"] for c in compiles(log) if "././scripts/main.lean" in c["argv"])
    assert argv[argv.index("-o") + 1] == "./.lake/build/lib/lean/main.olean" and "-c" in argv
    # nothing to do the second time; lean's C file is the same whether written by -c or leanir
    r = run(sysroot, ws, "build", SIMPULSE_SIM_LAKE_ERA=era)
    assert r.returncode == 0 and built(r.stdout) == []
    r = run(sysroot, ws, "--no-build", "build", SIMPULSE_SIM_LAKE_ERA=era)
    assert r.returncode == 0


def test_era_unset_picks_newest_for_module_files_and_old_eras_refuse(sysroot, ws, tmp_path):
    log = tmp_path / "argv.log"
    r = run(sysroot, ws, "build", "Mods.Core", SIMPULSE_SIM_ARGV_LOG=str(log))
    assert r.returncode == 0, r.stderr
    assert (ws / ".lake/build/lib/lean/Mods/Core.ir.sig").is_file()  # newest
    for era in ("v4.0", "middle"):
        r = run(sysroot, ws, "build", SIMPULSE_SIM_LAKE_ERA=era)
        assert r.returncode == 1 and r.stdout == ""
        assert r.stderr.strip().splitlines()[-1] == (
            f"error: ./././Mods.lean uses the module system (`module` header), which Lake of era '{era}' "
            "predates: set SIMPULSE_SIM_LAKE_ERA to one of setup, setup-ir, newest, or leave it unset")


def test_lake_fails_the_job_when_lean_writes_no_server_olean(sysroot, ws, tmp_path):
    """A `lean` (or a wrapper) that loses a derived output: Lake hashes each expected output and
    fails the job, naming it (Lake/Build/Module.lean)."""
    fake = tmp_path / "fake"
    (fake / "bin").mkdir(parents=True)
    for name in ("lake", "leanir"):
        (fake / "bin" / name).symlink_to(sysroot / "bin" / name)
    (fake / "share").symlink_to(sysroot / "share")
    (fake / "bin" / "lean").write_text(
        "#!/bin/sh\n"
        f"'{sysroot / 'bin' / 'lean'}' \"$@\"; rc=$?\n"
        "for a in \"$@\"; do case \"$a\" in *Core.olean) rm -f \"$a.server\";; esac; done\n"
        "exit $rc\n")
    (fake / "bin" / "lean").chmod(0o755)
    r = run(sysroot, ws, "build", "Mods.Core", SIMPULSE_SIM_LAKE_ERA="setup",
            LAKE_OVERRIDE_LEAN="1", LEAN_SYSROOT=str(fake))
    assert r.returncode == 1
    assert "✖ [1/1] Building Mods.Core" in r.stdout
    assert "error: No server olean generated. Ensure the module system is enabled." in r.stdout
    assert not (ws / ".lake/build/lib/lean/Mods/Core.trace").exists()


@pytest.mark.parametrize("what,era", [("olean.private", "newest"), ("ir", "setup-ir")])
def test_lean_fails_when_a_needed_import_artifact_is_missing(sysroot, ws, what, era):
    """`import all` reads the imported module's .olean.private; `meta import` its .ir."""
    assert run(sysroot, ws, "build", "Mods.Core", SIMPULSE_SIM_LAKE_ERA=era).returncode == 0
    missing = ws / ".lake/build/lib/lean/Mods" / ("Core.olean.private" if what == "olean.private" else "Core.ir")
    missing.unlink()
    (ws / ".lake/build/lib/lean/Mods/Core.trace").write_text("{}")  # keep lake from rebuilding Core
    (ws / "Mods/Alias.lean").write_text(
        "module\n" + ("import all Mods.Core\n" if what == "olean.private" else "public meta import Mods.Core\n"))
    setup = ws / ".lake/build/ir/Mods/Alias.setup.json"
    setup.parent.mkdir(parents=True, exist_ok=True)
    parts = modsys.import_arts({"olean": "./.lake/build/lib/lean/Mods/Core.olean"}, era=era, is_module=True)
    setup.write_text(json.dumps({"name": "Mods.Alias", "isModule": True, "importArts": {"Mods.Core": parts}}))
    r = subprocess.run([str(sysroot / "bin" / "lean"), "Mods/Alias.lean", "-o", "out/A.olean", "--setup",
                        str(setup), "--json"], cwd=ws, env=sim_env(sysroot, ws.parent), capture_output=True, text=True)
    assert r.returncode == 1
    msg = json.loads(r.stdout.splitlines()[0])
    assert msg["severity"] == "error"
    assert msg["data"] == f"object file './.lake/build/lib/lean/Mods/{missing.name}' of module Mods.Core does not exist"
    assert not (ws / "out").exists()
    # a plain import needs neither
    (ws / "Mods/Alias.lean").write_text("module\npublic import Mods.Core\n")
    r = subprocess.run([str(sysroot / "bin" / "lean"), "Mods/Alias.lean", "-o", "out/A.olean", "--setup",
                        str(setup), "--json"], cwd=ws, env=sim_env(sysroot, ws.parent), capture_output=True, text=True)
    assert r.returncode == 0, r.stdout
    assert sorted(p.name for p in (ws / "out").iterdir()) == [
        "A.ir", "A.ir.sig", "A.olean", "A.olean.private", "A.olean.server"]


def _postpone(ws: Path) -> None:
    (ws / "lakefile.toml").write_text(LAKEFILE.replace("linter.missingDocs = true",
                                                       "linter.missingDocs = true\ncompiler.postponeCompile = true"))


def test_postpone_compile_runs_leanir_on_the_same_setup_path(sysroot, ws, tmp_path):
    plain_ws = tmp_path / "plain"
    subprocess.run(["cp", "-r", str(ws), str(plain_ws)], check=True)
    assert run(sysroot, plain_ws, "build", SIMPULSE_SIM_LAKE_ERA="newest").returncode == 0
    _postpone(ws)
    log = tmp_path / "argv.log"
    r = run(sysroot, ws, "build", "-v", SIMPULSE_SIM_LAKE_ERA="newest", SIMPULSE_SIM_ARGV_LOG=str(log))
    assert r.returncode == 0, r.stdout + r.stderr
    by_file = {c["argv"][c["argv"].index("-o") + 1]: c["argv"] for c in compiles(log)}
    leanirs = {c["argv"][1]: c["argv"] for c in compiles(log, "leanir")}
    for mod in ["Mods", "Mods.Alias", "Mods.Core", "Mods.Uses"]:
        p = mod.replace(".", "/")
        argv = by_file[f"./.lake/build/lib/lean/{p}.olean"]
        assert "-c" not in argv  # module + compiler.postponeCompile: no -c ...
        setup = argv[argv.index("--setup") + 1]
        # ... and `leanir <setup.json> <X.ir> <X.c>` afterwards, on the same setup path
        assert leanirs[f"./.lake/build/lib/lean/{p}.ir"] == [setup, f"./.lake/build/lib/lean/{p}.ir",
                                                             f"./.lake/build/ir/{p}.c"]
        # leanir writes the bytes `lean -c` writes
        assert (ws / f".lake/build/ir/{p}.c").read_bytes() == (plain_ws / f".lake/build/ir/{p}.c").read_bytes()
    plain_argv = by_file["./.lake/build/lib/lean/Mods/Plain.olean"]
    assert "-c" in plain_argv  # not a module file: compiled as before
    assert "./.lake/build/lib/lean/Mods/Plain.ir" not in leanirs
    assert "leanir ./.lake/build/ir/Mods/Core.setup.json" in r.stdout  # the trace line


def test_a_failing_leanir_fails_the_job_and_deletes_the_olean(sysroot, ws, tmp_path):
    _postpone(ws)
    fake = tmp_path / "fake"
    (fake / "bin").mkdir(parents=True)
    for name in ("lake", "lean"):
        (fake / "bin" / name).symlink_to(sysroot / "bin" / name)
    (fake / "share").symlink_to(sysroot / "share")
    (fake / "bin" / "leanir").write_text("#!/bin/sh\necho 'leanir: out of luck' >&2\nexit 3\n")
    (fake / "bin" / "leanir").chmod(0o755)
    r = run(sysroot, ws, "build", "Mods.Core", SIMPULSE_SIM_LAKE_ERA="newest",
            LAKE_OVERRIDE_LEAN="1", LEAN_SYSROOT=str(fake))
    assert r.returncode == 1
    assert "leanir: out of luck" in r.stdout
    assert f"error: external command '{fake}/bin/leanir' exited with code 3" in r.stdout
    assert not (ws / ".lake/build/lib/lean/Mods/Core.olean").exists()


def test_leanir_rejects_option_names_it_does_not_know(sysroot, tmp_path):
    setup = tmp_path / "s.json"
    setup.write_text(json.dumps({"name": "X", "options": {"weak.linter.all": False}}))
    r = subprocess.run([str(sysroot / "bin" / "leanir"), str(setup), str(tmp_path / "X.ir"), str(tmp_path / "X.c")],
                       capture_output=True, text=True, env=sim_env(sysroot, tmp_path))
    assert r.returncode == 1 and r.stderr == "unknown configuration option 'weak.linter.all'\n"
    assert not (tmp_path / "X.c").exists()


# ------------------------------------------------------------------------------------------
# lakefiles
# ------------------------------------------------------------------------------------------

LAKEFILE_LEAN = """\
import Lake
open Lake DSL

/-- The package. -/
package «mods» where
  -- a comment
  leanOptions := #[⟨`linter.missingDocs, true⟩, ⟨`maxRecDepth, .ofNat 600⟩]
  moreLeanArgs := #["-DautoImplicit=false"]
  testDriver := "ModsTest"
  version := v!"0.1.0"  -- metadata: ignored unread
  moreLinkArgs := if System.Platform.isWindows then #[] else #["-lm"]

require "leanprover-community" / "batteries" @ git "main"
require aesop from git "https://github.com/leanprover-community/aesop" @ "master"

@[default_target]
lean_lib Mods where
  globs := #[.andSubmodules `Mods]
  leanOptions := #[⟨`autoImplicit, false⟩]

lean_lib Other

@[default_target]
lean_exe tool where
  root := `main
  srcDir := "scripts"
  supportInterpreter := true
"""


def test_lakefile_lean_common_forms(ws, tmp_path):
    (ws / "lakefile.toml").unlink()
    (ws / "lakefile.lean").write_text(LAKEFILE_LEAN)
    pkg = load(ws)
    assert pkg.name == "mods" and pkg.default_targets == ["Mods", "tool"]
    assert pkg.lean_options == {"linter.missingDocs": True, "maxRecDepth": 600}
    assert pkg.more_lean_args == ["-DautoImplicit=false"] and pkg.requires == ["batteries", "aesop"]
    assert [(lib.name, lib.roots, [(g.name, g.kind) for g in lib.globs]) for lib in pkg.libs] == [
        ("Mods", ["Mods"], [("Mods", "andSubmodules")]), ("Other", ["Other"], [("Other", "one")])]
    [exe] = pkg.exes
    assert (exe.name, exe.roots, exe.src_dir, exe.is_exe) == ("tool", ["main"], "scripts", True)
    assert any("testDriver 'ModsTest' is ignored" in n for n in pkg.notes)
    assert any("require 'aesop': dependencies are not fetched" in n for n in pkg.notes)


def test_lakefile_lean_builds_like_the_toml(sysroot, ws, tmp_path):
    (ws / "lakefile.toml").unlink()
    (ws / "lakefile.lean").write_text(LAKEFILE_LEAN.replace("lean_lib Other\n", ""))
    r = run(sysroot, ws, "build")
    assert r.returncode == 0, r.stdout + r.stderr
    assert built(r.stdout) == sorted(LIB_MODULES + ["main"])


@pytest.mark.parametrize("text,needle", [
    ("script hello do\n  return 0\n", "'script' declarations are not supported"),
    ("target foo : Unit := pure ()\n", "'target' declarations are not supported"),
    ("extern_lib ffi pkg := pure default\n", "'extern_lib' declarations are not supported"),
    ('lean_lib X where\n  precompileModules := true\n', "'precompileModules' is not supported"),
    ('lean_lib X where\n  srcDir := __dir__ / "src"\n', "is not a literal the simulated lake can read"),
    ('lean_lib X := {name := `X}\n', "a ':=' definition is not supported"),
    ('@[foo] lean_lib X\n', "attribute '@[foo]' is not supported"),
    ('package x where\n  buildDir := "out"\n', "'buildDir' is not supported"),
])
def test_unsupported_lakefile_lean_is_one_clear_line(sysroot, ws, text, needle):
    (ws / "lakefile.toml").unlink()
    body = text if text.startswith("package") else "import Lake\nopen Lake DSL\npackage mods\n" + text
    (ws / "lakefile.lean").write_text(body)
    with pytest.raises(LakefileError) as e:
        load(ws)
    assert needle in str(e.value) and "\n" not in str(e.value)
    r = run(sysroot, ws, "build")
    assert r.returncode == 1 and r.stdout == "" and "Traceback" not in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1 and needle in r.stderr


@pytest.mark.parametrize("extra,needle", [
    ("precompileModules = true\n", "'precompileModules' is not supported"),
    ('[[extern_lib]]\nname = "x"\n', "'extern_lib' is not supported"),
    ('[[lean_exe]]\nname = "x"\nneeds = ["y"]\n', "'needs' is not supported"),
    ('[[lean_lib]]\nname = "Y"\nfrobnicate = 1\n', "'frobnicate' is not supported"),
])
def test_unsupported_lakefile_toml_fields_are_refused_by_name(sysroot, ws, extra, needle):
    text = LAKEFILE.replace("[leanOptions]", extra.split("\n[[")[0] + "\n[leanOptions]") if not extra.startswith("[[") \
        else LAKEFILE + "\n" + extra
    (ws / "lakefile.toml").write_text(text)
    r = run(sysroot, ws, "build")
    assert r.returncode == 1 and r.stdout == ""
    assert needle in r.stderr and len(r.stderr.strip().splitlines()) == 1


def test_toml_metadata_and_requires_are_ignored_with_a_note(sysroot, ws):
    (ws / "lakefile.toml").write_text(
        'version = "1.0"\nkeywords = ["x"]\nbuildType = "release"\n' + LAKEFILE
        + '\n[[require]]\nname = "batteries"\nscope = "leanprover-community"\n')
    r = run(sysroot, ws, "build", "Mods")
    assert r.returncode == 0, r.stderr
    assert "note: require 'batteries': dependencies are not fetched by the simulated lake" in r.stderr


def test_unknown_target_and_exe_targets(sysroot, ws):
    r = run(sysroot, ws, "build", "nope")
    assert r.returncode == 1 and r.stderr.strip().endswith("error: unknown target 'nope'")
    r = run(sysroot, ws, "build", "tool")
    assert r.returncode == 0
    assert built(r.stdout) == ["Mods.Alias", "Mods.Core", "main"]  # the root and its imports


# ------------------------------------------------------------------------------------------
# the shim on module files: transparent in every era
# ------------------------------------------------------------------------------------------


def _setups(ws: Path) -> dict[str, bytes]:
    return {str(p.relative_to(ws)): p.read_bytes() for p in sorted((ws / ".lake/build/ir").rglob("*.setup.json"))}


def _outputs(ws: Path) -> dict[str, bytes]:
    return {str(p.relative_to(ws)): p.read_bytes() for p in sorted((ws / ".lake/build").rglob("*"))
            if p.is_file() and not p.name.endswith((".trace", ".setup.json"))}


@pytest.mark.parametrize("era", ERAS)
def test_shim_is_transparent_for_module_files(sysroot, ws, tmp_path, era):
    if era == "newest":
        _postpone(ws)
    plain_ws = tmp_path / "plain"
    subprocess.run(["cp", "-r", str(ws), str(plain_ws)], check=True)
    r = run(sysroot, plain_ws, "build", SIMPULSE_SIM_LAKE_ERA=era)
    assert r.returncode == 0, r.stdout + r.stderr
    log = tmp_path / "argv.log"
    r = run(sysroot, ws, "build", "--profile", "dev", "--strategy", "no-linters", exe="simpulse",
            SIMPULSE_SIM_LAKE_ERA=era, SIMPULSE_SIM_ARGV_LOG=str(log))
    assert r.returncode == 0, r.stdout + r.stderr
    assert built(r.stdout) == sorted(LIB_MODULES + ["main"])
    # every artifact Lake expects is there, with the bytes of a plain build (no-linters changes
    # messages only), and the setup files Lake wrote were never edited in place
    assert _outputs(ws) == _outputs(plain_ws)
    assert _setups(ws) == _setups(plain_ws)
    runs = compiles(log)
    with_copy = [c for c in runs if "--setup" in c["argv"] and "/ir/" not in c["argv"][c["argv"].index("--setup") + 1]]
    assert with_copy, "the strategy's options travel in a copy of the setup file"
    if era == "newest":  # leanir re-read the original setup path, after the strategy's run
        assert {c["argv"][0] for c in compiles(log, "leanir")} == {
            f"./.lake/build/ir/{m.replace('.', '/')}.setup.json" for m in LIB_MODULES if m != "Mods.Plain"}
    r = run(sysroot, ws, "build", SIMPULSE_SIM_LAKE_ERA=era)  # plain lake: nothing to do
    assert r.returncode == 0 and built(r.stdout) == []


@pytest.mark.parametrize("era", ["setup", "newest"])
def test_fallback_leaves_every_artifact(sysroot, ws, tmp_path, era):
    """A strategy run that dies (SIGABRT hook) is followed by the baseline: every output exists."""
    if era == "newest":
        _postpone(ws)
    r = run(sysroot, ws, "build", "--profile", "dev", "--strategy", "no-async", exe="simpulse",
            SIMPULSE_SIM_LAKE_ERA=era, SIMPULSE_SIM_LEAN_SIGNAL="Elab.async=false")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "strategy failures caught by baseline fallback" in r.stderr
    for mod in LIB_MODULES:
        for kind, p in artifacts(ws, mod, era, is_module=mod != "Mods.Plain").items():
            assert p.is_file(), (mod, kind)
    assert run(sysroot, ws, "build", SIMPULSE_SIM_LAKE_ERA=era).stdout.count("] Built") == 0


@pytest.mark.parametrize("name,value", [("compiler.postponeCompile", "false"), ("compiler.postponeCompile", "true"),
                                        ("isModule", "false"), ("weak.isModule", "true")])
def test_allowlist_refuses_postpone_compile_and_is_module(name, value):
    from simpulse.errors import SimpulseError
    from simpulse.strategy.allowlist import check_option
    with pytest.raises(SimpulseError):
        check_option(name, value)


def test_lean_path_imports_need_the_same_parts(sysroot, ws):
    """Without importArts, a module file found on LEAN_PATH (its `.olean.server` beside the
    `.olean`) must have the parts the import form needs."""
    assert run(sysroot, ws, "build", "Mods.Core", SIMPULSE_SIM_LAKE_ERA="newest").returncode == 0
    lib = ws / ".lake/build/lib/lean"
    (lib / "Mods/Core.olean.private").unlink()
    (ws / "X.lean").write_text("module\nimport all Mods.Core\n")
    env = sim_env(sysroot, ws.parent, LEAN_PATH=str(lib))
    r = subprocess.run([str(sysroot / "bin" / "lean"), "X.lean", "--json"], cwd=ws, env=env,
                       capture_output=True, text=True)
    assert r.returncode == 1
    assert json.loads(r.stdout)["data"] == f"object file '{lib}/Mods/Core.olean.private' of module Mods.Core does not exist"
    (ws / "X.lean").write_text("module\npublic import Mods.Core\n")  # the exported part suffices
    r = subprocess.run([str(sysroot / "bin" / "lean"), "X.lean", "--json"], cwd=ws, env=env,
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stdout
