"""Reading the lakefile for the simulated ``lake`` (a subset of real Lake's schema).

``lakefile.toml`` (preferred when both exist, as Lake does) or ``lakefile.lean`` (its common
declarative forms, simulated/lakefile_lean.py). Supported: package ``name``, ``srcDir``,
``defaultTargets`` (libraries and executables), ``leanOptions``, ``moreLeanArgs``,
``weakLeanArgs``; ``[[lean_lib]]`` with ``name``, ``srcDir``, ``roots``, ``globs``,
``leanOptions``, ``moreLeanArgs``, ``weakLeanArgs``; ``[[lean_exe]]`` with ``name``,
``srcDir``, ``root``, the same option fields (its root module is compiled; the link is a
no-op); ``require`` entries are recorded, never fetched. ``testDriver``/``lintDriver`` and
metadata fields are ignored with a note. Any other field is refused with an error naming it:
the simulated lake never builds something else than what was asked for without saying so.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


class LakefileError(Exception):
    pass


def _is_prefix(prefix: str, mod: str) -> bool:
    """Component-wise name prefix (`Foo` is a prefix of `Foo.Bar`, not of `FooBar`)."""
    return mod == prefix or mod.startswith(prefix + ".")


@dataclass
class Glob:
    """`A` (just A), `A.*` (strict submodules of A), `A.+` (A and its submodules)."""

    name: str
    kind: str  # one | submodules | andSubmodules

    @classmethod
    def parse(cls, s: str) -> Glob:
        if s.endswith(".*"):
            return cls(s[:-2], "submodules")
        if s.endswith(".+"):
            return cls(s[:-2], "andSubmodules")
        return cls(s, "one")

    def matches(self, mod: str) -> bool:
        if self.kind == "one":
            return mod == self.name
        if self.kind == "submodules":
            return mod.startswith(self.name + ".")
        return _is_prefix(self.name, mod)


def format_option(name: str, value: Any) -> str:
    """`-Dname=value` as Lake writes it (string values wrapped in literal double quotes)."""
    if isinstance(value, bool):
        v = "true" if value else "false"
    elif isinstance(value, int):
        v = str(value)
    elif isinstance(value, str):
        v = '"' + value + '"'
    else:
        raise LakefileError(f"unsupported value for leanOptions.{name}: {value!r}")
    return f"-D{name}={v}"


def _flatten_options(tbl: Any, where: str) -> dict[str, Any]:
    """`leanOptions = {a.b = true}` (nested TOML tables) to {"a.b": True}."""
    if tbl is None:
        return {}
    if not isinstance(tbl, dict):
        raise LakefileError(f"{where}: leanOptions must be a table")
    out: dict[str, Any] = {}

    def walk(prefix: str, t: dict) -> None:
        for k, v in t.items():
            name = f"{prefix}.{k}" if prefix else str(k)
            if isinstance(v, dict):
                walk(name, v)
            elif isinstance(v, (bool, int, str)):
                out[name] = v
            else:
                raise LakefileError(f"{where}: unsupported value for leanOptions.{name}")

    walk("", tbl)
    return out


def _str_list(v: Any, where: str) -> list[str]:
    if v is None:
        return []
    if not isinstance(v, list) or not all(isinstance(x, str) for x in v):
        raise LakefileError(f"{where}: expected an array of strings")
    return list(v)


@dataclass
class LeanLib:
    """A `lean_lib` — or a `lean_exe` (``is_exe``: its one root module, compiled; no link)."""

    name: str
    src_dir: str = "."
    roots: list[str] = field(default_factory=list)
    globs: list[Glob] = field(default_factory=list)
    lean_options: dict[str, Any] = field(default_factory=dict)
    more_lean_args: list[str] = field(default_factory=list)
    weak_lean_args: list[str] = field(default_factory=list)
    is_exe: bool = False

    def is_local_module(self, mod: str) -> bool:
        if self.is_exe:
            return mod in self.roots
        return any(_is_prefix(r, mod) for r in self.roots) or any(g.matches(mod) for g in self.globs)


@dataclass
class Package:
    name: str
    src_dir: str = "."
    default_targets: list[str] = field(default_factory=list)
    lean_options: dict[str, Any] = field(default_factory=dict)
    more_lean_args: list[str] = field(default_factory=list)
    weak_lean_args: list[str] = field(default_factory=list)
    libs: list[LeanLib] = field(default_factory=list)
    exes: list[LeanLib] = field(default_factory=list)
    requires: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # what is read but ignored, said once a build

    def lib(self, name: str) -> LeanLib | None:
        for lib in self.libs:
            if lib.name == name:
                return lib
        return None

    def exe(self, name: str) -> LeanLib | None:
        for exe in self.exes:
            if exe.name == name:
                return exe
        return None

    def owner(self, mod: str) -> LeanLib | None:
        for lib in self.libs + self.exes:
            if lib.is_local_module(mod):
                return lib
        return None

    def lean_options_of(self, lib: LeanLib) -> dict[str, Any]:
        opts = dict(self.lean_options)
        opts.update(lib.lean_options)
        return opts

    def lean_args_of(self, lib: LeanLib) -> list[str]:
        """`-D` args for the options, then `moreLeanArgs` (package, then library)."""
        opts = self.lean_options_of(lib)
        return [format_option(k, v) for k, v in opts.items()] + self.more_lean_args + lib.more_lean_args

    def more_lean_args_of(self, lib: LeanLib) -> list[str]:
        return self.more_lean_args + lib.more_lean_args

    def weak_lean_args_of(self, lib: LeanLib) -> list[str]:
        return self.weak_lean_args + lib.weak_lean_args


# Fields read and ignored without changing what is built (metadata, link and cache settings:
# the link is a no-op here, nothing is downloaded or uploaded).
IGNORED_PACKAGE = {"version", "versionTags", "description", "keywords", "homepage", "license",
                   "licenseFiles", "readmeFile", "reservoir", "releaseRepo", "buildArchive",
                   "preferReleaseBuild", "enableArtifactCache", "restoreAllArtifacts",
                   "moreServerOptions", "moreGlobalServerArgs", "moreLinkArgs", "weakLinkArgs",
                   "moreLinkObjs", "moreLinkLibs", "testDriverArgs", "lintDriverArgs",
                   "platformIndependent", "libPrefixOnWindows", "allowImportAll"}
IGNORED_TARGET = {"libName", "moreLinkArgs", "weakLinkArgs", "moreLinkObjs", "moreLinkLibs",
                  "platformIndependent", "supportInterpreter", "exeName", "libPrefixOnWindows",
                  "moreServerOptions", "allowImportAll"}
PACKAGE_FIELDS = {"name", "srcDir", "defaultTargets", "leanOptions", "moreLeanArgs",
                  "weakLeanArgs", "lean_lib", "lean_exe", "require", "testDriver", "lintDriver"}
LIB_FIELDS = {"name", "srcDir", "roots", "globs", "leanOptions", "moreLeanArgs", "weakLeanArgs"}
EXE_FIELDS = {"name", "srcDir", "root", "leanOptions", "moreLeanArgs", "weakLeanArgs"}
# Fields whose default is harmless: refused only when set to something else.
_DEFAULTS = {"buildType": "release", "precompileModules": False, "backend": "default",
             "defaultFacets": None, "extraDepTargets": [], "nativeFacets": None, "needs": [],
             "plugins": [], "dynlibs": [], "buildDir": ".lake/build"}


def unsupported(where: str, field_name: str) -> LakefileError:
    return LakefileError(f"{where}: '{field_name}' is not supported by the simulated lake "
                         "(refusing to build something else than the lakefile asks for)")


def check_fields(tbl: dict, known: set[str], ignored: set[str], where: str) -> None:
    for k, v in tbl.items():
        if k in known or k in ignored:
            continue
        if k in _DEFAULTS and v == _DEFAULTS[k]:
            continue
        raise unsupported(where, k)


def driver_notes(pkg: Package, tbl: dict) -> None:
    for k in ("testDriver", "lintDriver"):
        v = tbl.get(k)
        if isinstance(v, str) and v:
            cmd = "test" if k == "testDriver" else "lint"
            pkg.notes.append(f"{k} '{v}' is ignored (the simulated lake has no 'lake {cmd}')")


def require_note(pkg: Package, name: str) -> None:
    pkg.requires.append(name)
    pkg.notes.append(f"require '{name}': dependencies are not fetched by the simulated lake; "
                     "their modules must already be built on LEAN_PATH")


def lib_from(t: Any, where: str, *, exe: bool) -> LeanLib:
    if not isinstance(t, dict) or not isinstance(t.get("name"), str) or not t["name"]:
        raise LakefileError(f"{where}: missing required field 'name'")
    check_fields(t, EXE_FIELDS if exe else LIB_FIELDS, IGNORED_TARGET, f"{where} '{t['name']}'")
    if exe:
        root = t.get("root", t["name"])
        if not isinstance(root, str) or not root:
            raise LakefileError(f"{where}: 'root' must be a module name")
        roots, globs = [root], [Glob(root, "one")]
    else:
        roots = _str_list(t.get("roots"), where + ".roots") or [t["name"]]
        globs_raw = _str_list(t.get("globs"), where + ".globs")
        globs = [Glob.parse(g) for g in globs_raw] if globs_raw else [Glob(r, "one") for r in roots]
    src = t.get("srcDir", ".")
    if not isinstance(src, str):
        raise LakefileError(f"{where}: 'srcDir' must be a string")
    return LeanLib(
        name=t["name"], src_dir=src, roots=roots, globs=globs,
        lean_options=_flatten_options(t.get("leanOptions"), where),
        more_lean_args=_str_list(t.get("moreLeanArgs"), where + ".moreLeanArgs"),
        weak_lean_args=_str_list(t.get("weakLeanArgs"), where + ".weakLeanArgs"),
        is_exe=exe,
    )


def load(ws_dir: Path) -> Package:
    ws_dir = Path(ws_dir)
    toml = ws_dir / "lakefile.toml"
    if not toml.is_file():
        if (ws_dir / "lakefile.lean").is_file():
            from simpulse.simulated.lakefile_lean import load_lean
            return load_lean(ws_dir / "lakefile.lean")
        raise LakefileError(
            "no configuration file with a supported extension:\n"
            f"{ws_dir / 'lakefile.lean'}\n{ws_dir / 'lakefile.toml'}"
        )
    try:
        data = tomllib.loads(toml.read_text())
    except (OSError, ValueError) as e:
        raise LakefileError(f"{toml}: {e}") from e
    name = data.get("name")
    if not isinstance(name, str) or not name:
        raise LakefileError(f"{toml}: missing required field 'name'")
    check_fields(data, PACKAGE_FIELDS, IGNORED_PACKAGE, str(toml))
    src = data.get("srcDir", ".")
    if not isinstance(src, str):
        raise LakefileError(f"{toml}: 'srcDir' must be a string")
    pkg = Package(
        name=name,
        src_dir=src,
        default_targets=_str_list(data.get("defaultTargets"), "defaultTargets"),
        lean_options=_flatten_options(data.get("leanOptions"), "package"),
        more_lean_args=_str_list(data.get("moreLeanArgs"), "moreLeanArgs"),
        weak_lean_args=_str_list(data.get("weakLeanArgs"), "weakLeanArgs"),
    )
    driver_notes(pkg, data)
    reqs = data.get("require", [])
    for i, r in enumerate([reqs] if isinstance(reqs, dict) else reqs if isinstance(reqs, list) else [None]):
        if not isinstance(r, dict) or not isinstance(r.get("name"), str):
            raise LakefileError(f"{toml}: require[{i}]: missing required field 'name'")
        require_note(pkg, r["name"])
    for key, exe in (("lean_lib", False), ("lean_exe", True)):
        tbls = data.get(key, [])
        if isinstance(tbls, dict):
            tbls = [tbls]
        if not isinstance(tbls, list):
            raise LakefileError(f"{toml}: '{key}' must be an array of tables")
        for i, t in enumerate(tbls):
            (pkg.exes if exe else pkg.libs).append(lib_from(t, f"{toml}: {key}[{i}]", exe=exe))
    return pkg
