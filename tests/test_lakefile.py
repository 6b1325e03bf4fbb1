"""Reading the user's lakefile.toml (simpulse.lake.lakefile) and its two callers."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from simpulse.commands.bench import lakefile_args
from simpulse.commands.classify import ModuleFile, source_root
from simpulse.lake.lakefile import artifact_cache, module_lean_args, read_lakefile, source_roots


def _ws(tmp_path: Path, toml: str | None = None, *, lean: bool = False) -> Path:
    if toml is not None:
        (tmp_path / "lakefile.toml").write_text(toml, encoding="utf-8")
    if lean:
        (tmp_path / "lakefile.lean").write_text("import Lake\nopen Lake DSL\npackage foo\n", encoding="utf-8")
    return tmp_path


def _args(toml: str, module: str) -> list[str]:
    import tomllib
    return module_lean_args(tomllib.loads(toml), module)


# --------------------------------------------------------------------------- read_lakefile

def test_read_lakefile_parses_toml(tmp_path):
    ws = _ws(tmp_path, 'name = "foo"\n[[lean_lib]]\nname = "Foo"\n')
    data, note = read_lakefile(ws)
    assert note is None
    assert data == {"name": "foo", "lean_lib": [{"name": "Foo"}]}


def test_read_lakefile_utf8(tmp_path):
    ws = _ws(tmp_path, 'name = "föö"\nmoreLeanArgs = ["-Dπ"]\n')
    data, note = read_lakefile(ws)
    assert note is None and data["name"] == "föö"
    assert module_lean_args(data, "X") == ["-Dπ"]


def test_lakefile_lean_only_project_is_not_read(tmp_path):
    ws = _ws(tmp_path, lean=True)
    data, note = read_lakefile(ws)
    assert data is None
    assert note == "lakefile.lean is not read"
    assert source_roots(ws, data) == []
    assert module_lean_args(data, "Foo") == []
    assert lakefile_args(ws, "Foo") == ([], "lakefile.lean is not read: the package's leanOptions are not applied")


def test_invalid_toml_is_a_one_line_note(tmp_path):
    ws = _ws(tmp_path, 'name = "foo"\nleanOptions = {\n')
    data, note = read_lakefile(ws)
    assert data is None
    assert note.startswith("lakefile.toml unreadable (") and note.endswith(")")
    assert "\n" not in note and "Traceback" not in note
    args, bench_note = lakefile_args(ws, "Foo")
    assert args == []
    assert bench_note == f"{note}: the package's leanOptions are not applied"


def test_non_utf8_lakefile_is_a_note(tmp_path):
    (tmp_path / "lakefile.toml").write_bytes(b'name = "\xff"\n')
    data, note = read_lakefile(tmp_path)
    assert data is None and note.startswith("lakefile.toml unreadable (")


def test_lakefile_toml_wins_over_lakefile_lean(tmp_path):
    ws = _ws(tmp_path, 'name = "foo"\nmoreLeanArgs = ["-DmaxRecDepth=1000"]\n', lean=True)
    assert lakefile_args(ws, "Foo") == (["-DmaxRecDepth=1000"], None)


# --------------------------------------------------------------------------- source roots

def test_source_roots_package_and_libs(tmp_path):
    data = {"srcDir": "src", "lean_lib": [{"name": "A", "srcDir": "a"}, {"name": "B"},
                                          {"name": "C", "srcDir": "c/d"}]}
    assert source_roots(tmp_path, data) == [tmp_path / "src", tmp_path / "src" / "a", tmp_path / "src" / "c/d"]


def test_source_roots_defaults_and_ill_typed_fields(tmp_path):
    assert source_roots(tmp_path, {}) == [tmp_path / "."]
    assert source_roots(tmp_path, {"srcDir": 3, "lean_lib": [{"srcDir": 4}, "x", {"srcDir": "lib"}]}) == [
        tmp_path / ".", tmp_path / "." / "lib"]
    assert source_roots(tmp_path, {"lean_lib": "nonsense"}) == [tmp_path / "."]
    # a single [lean_lib] table counts, as it does for a module's arguments
    assert source_roots(tmp_path, {"lean_lib": {"name": "A", "srcDir": "a"}}) == [tmp_path / ".", tmp_path / "." / "a"]


def test_source_root_picks_deepest_srcdir_holding_the_file(tmp_path):
    ws = _ws(tmp_path, 'name = "foo"\nsrcDir = "src"\n[[lean_lib]]\nname = "A"\nsrcDir = "lib"\n'
                       '[[lean_lib]]\nname = "B"\n')
    ws = ws.resolve()
    (ws / "src" / "lib" / "A").mkdir(parents=True)
    (ws / "other").mkdir()
    in_lib = ws / "src" / "lib" / "A" / "X.lean"
    in_pkg = ws / "src" / "B.lean"
    outside = ws / "other" / "Y.lean"
    for f in (in_lib, in_pkg, outside):
        f.write_text("def x := 1\n", encoding="utf-8")
    assert source_root(ws, in_lib) == ws / "src" / "lib"
    assert source_root(ws, in_pkg) == ws / "src"
    assert source_root(ws, outside) == ws
    assert ModuleFile(in_lib).module == "A.X"
    assert ModuleFile(in_pkg).module == "B"
    assert ModuleFile(outside).module == "other.Y"


def test_source_root_without_a_readable_lakefile_toml_is_the_workspace(tmp_path):
    ws = _ws(tmp_path, lean=True).resolve()
    (ws / "src").mkdir()
    f = ws / "src" / "M.lean"
    f.write_text("def x := 1\n", encoding="utf-8")
    assert source_root(ws, f) == ws
    assert ModuleFile(f).module == "src.M"
    (ws / "lakefile.toml").write_text('srcDir = "src"\nbroken = [\n', encoding="utf-8")
    assert source_root(ws, f) == ws


# --------------------------------------------------------------------------- a module's arguments

def test_options_flatten_nested_tables_and_format_values():
    toml = ('[leanOptions]\npp.unicode.fun = true\nautoImplicit = false\nmaxHeartbeats = 400000\n'
            'weak.linter.style = "off"\n[leanOptions.trace]\nMeta.synthInstance = true\n')
    assert _args(toml, "Foo") == [
        "-Dpp.unicode.fun=true", "-DautoImplicit=false", "-DmaxHeartbeats=400000",
        '-Dweak.linter.style="off"', "-Dtrace.Meta.synthInstance=true"]


def test_options_of_unsupported_types_are_dropped():
    toml = 'leanOptions = {a = 1.5, b = [1, 2], c = 1979-05-27, d = 7}\n'
    assert _args(toml, "Foo") == ["-Dd=7"]


def test_weak_then_options_then_more_package_before_library():
    toml = ('weakLeanArgs = ["-w1"]\nmoreLeanArgs = ["-m1"]\nleanOptions = {p = 1}\n'
            '[[lean_lib]]\nname = "Foo"\nweakLeanArgs = ["-w2"]\nmoreLeanArgs = ["-m2", 3, "-m3"]\n'
            'leanOptions = {q = true}\n')
    assert _args(toml, "Foo.Bar") == ["-w1", "-w2", "-Dp=1", "-Dq=true", "-m1", "-m2", "-m3"]


def test_library_options_override_the_package_in_package_order():
    toml = ('leanOptions = {a = 1, b = 2}\n[[lean_lib]]\nname = "Foo"\nleanOptions = {b = 3, c = "x"}\n')
    assert _args(toml, "Foo") == ["-Da=1", "-Db=3", '-Dc="x"']


def test_owning_library_by_name_roots_and_globs():
    toml = ('[[lean_lib]]\nname = "ByName"\nmoreLeanArgs = ["name"]\n'
            '[[lean_lib]]\nname = "R"\nroots = ["Alpha", "Beta"]\nmoreLeanArgs = ["roots"]\n'
            '[[lean_lib]]\nname = "G"\nroots = ["Unused"]\nglobs = ["Gam.*", "Del.+", "Eps"]\n'
            'moreLeanArgs = ["globs"]\n')
    assert _args(toml, "ByName") == ["name"]
    assert _args(toml, "ByName.Sub") == ["name"]
    assert _args(toml, "ByNameX") == []            # component-wise prefix, not string prefix
    assert _args(toml, "Beta.X") == ["roots"]
    assert _args(toml, "R") == []                  # roots given: the name is not a root
    assert _args(toml, "Gam.X") == ["globs"]
    assert _args(toml, "Del") == ["globs"]
    assert _args(toml, "Eps") == ["globs"]
    assert _args(toml, "Nobody.Y") == []


def test_first_owning_library_wins_and_single_table_lib_is_read():
    toml = ('[[lean_lib]]\nname = "Foo"\nmoreLeanArgs = ["first"]\n'
            '[[lean_lib]]\nname = "Other"\nroots = ["Foo"]\nmoreLeanArgs = ["second"]\n')
    assert _args(toml, "Foo.A") == ["first"]
    assert module_lean_args({"lean_lib": {"name": "Foo", "moreLeanArgs": ["one"]}}, "Foo") == ["one"]


def test_unowned_module_gets_package_args_only(tmp_path):
    ws = _ws(tmp_path, 'weakLeanArgs = ["-w"]\nleanOptions = {x = false}\n'
                       '[[lean_lib]]\nname = "Foo"\nmoreLeanArgs = ["-lib"]\n')
    assert lakefile_args(ws, "Bar") == (["-w", "-Dx=false"], None)
    assert lakefile_args(ws, "Foo") == (["-w", "-Dx=false", "-lib"], None)


def test_module_imports_only_the_standard_library():
    code = ("import sys; before = set(sys.modules); import simpulse.lake.lakefile; "
            "print('\\n'.join(sorted(set(sys.modules) - before)))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=Path(__file__).resolve().parent.parent).stdout.split()
    ours = {m for m in out if m.split(".")[0] == "simpulse"}
    assert ours == {"simpulse", "simpulse.lake", "simpulse.lake.lakefile"}
    outside = sorted({m.split(".")[0] for m in out} - {"simpulse"} - sys.stdlib_module_names)
    assert outside == []


def test_artifact_cache_follows_lakes_precedence(tmp_path):
    """On when Lake would use it for this workspace's compiles: the root package's own
    `enableArtifactCache` first, then `LAKE_ARTIFACT_CACHE` (Lake's yes/no words); the variable
    alone still reaches the dependencies; off by default."""
    toml = tmp_path / "lakefile.toml"
    toml.write_text('name = "p"\n')
    assert artifact_cache(tmp_path, {}) is None
    for word in ("1", "true", "Yes", "on", "t", "y"):
        assert artifact_cache(tmp_path, {"LAKE_ARTIFACT_CACHE": word}) == f"LAKE_ARTIFACT_CACHE={word}"
    for word in ("0", "false", "off", "no", "maybe", ""):
        assert artifact_cache(tmp_path, {"LAKE_ARTIFACT_CACHE": word}) is None
    toml.write_text('name = "p"\nenableArtifactCache = true\n')
    assert artifact_cache(tmp_path, {"LAKE_ARTIFACT_CACHE": "false"}) == "enableArtifactCache = true in lakefile.toml"
    toml.write_text('name = "p"\nenableArtifactCache = false\n')
    assert artifact_cache(tmp_path, {}) is None
    assert "for the dependencies" in artifact_cache(tmp_path, {"LAKE_ARTIFACT_CACHE": "1"})
    toml.unlink()
    (tmp_path / "lakefile.lean").write_text("import Lake\nopen Lake DSL\npackage p where\n  enableArtifactCache := true\n")
    assert artifact_cache(tmp_path, {}) == "enableArtifactCache := true in lakefile.lean"
    (tmp_path / "lakefile.lean").write_text("import Lake\nopen Lake DSL\npackage p where\n  enableArtifactCache := false\n")
    assert artifact_cache(tmp_path, {"LAKE_ARTIFACT_CACHE": "on"}).endswith("(for the dependencies)")
