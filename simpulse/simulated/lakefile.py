"""Reading ``lakefile.toml`` for the simulated ``lake`` (a subset of real Lake's schema).

Supported: package ``name``, ``srcDir``, ``defaultTargets``, ``leanOptions``,
``moreLeanArgs``, ``weakLeanArgs`` and ``[[lean_lib]]`` tables with ``name``, ``srcDir``,
``roots``, ``globs``, ``leanOptions``, ``moreLeanArgs``, ``weakLeanArgs``. Not supported:
``require`` (dependencies), ``lean_exe``, ``extern_lib``, ``lakefile.lean``.
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
    name: str
    src_dir: str = "."
    roots: list[str] = field(default_factory=list)
    globs: list[Glob] = field(default_factory=list)
    lean_options: dict[str, Any] = field(default_factory=dict)
    more_lean_args: list[str] = field(default_factory=list)
    weak_lean_args: list[str] = field(default_factory=list)

    def is_local_module(self, mod: str) -> bool:
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

    def lib(self, name: str) -> LeanLib | None:
        for lib in self.libs:
            if lib.name == name:
                return lib
        return None

    def owner(self, mod: str) -> LeanLib | None:
        for lib in self.libs:
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


def load(ws_dir: Path) -> Package:
    ws_dir = Path(ws_dir)
    toml = ws_dir / "lakefile.toml"
    if not toml.is_file():
        if (ws_dir / "lakefile.lean").is_file():
            raise LakefileError("simulated lake reads lakefile.toml only")
        raise LakefileError(
            "no configuration file with a supported extension:\n"
            f"{ws_dir / 'lakefile.lean'}\n{ws_dir / 'lakefile.toml'}"
        )
    try:
        data = tomllib.loads(toml.read_text())
    except (OSError, tomllib.TOMLDecodeError) as e:
        raise LakefileError(f"{toml}: {e}") from e
    name = data.get("name")
    if not isinstance(name, str) or not name:
        raise LakefileError(f"{toml}: missing required field 'name'")
    if data.get("require"):
        raise LakefileError(f"{toml}: 'require' (package dependencies) is not simulated")
    pkg = Package(
        name=name,
        src_dir=str(data.get("srcDir", ".")),
        default_targets=_str_list(data.get("defaultTargets"), "defaultTargets"),
        lean_options=_flatten_options(data.get("leanOptions"), "package"),
        more_lean_args=_str_list(data.get("moreLeanArgs"), "moreLeanArgs"),
        weak_lean_args=_str_list(data.get("weakLeanArgs"), "weakLeanArgs"),
    )
    libs = data.get("lean_lib", [])
    if isinstance(libs, dict):
        libs = [libs]
    for i, t in enumerate(libs):
        where = f"lean_lib[{i}]"
        if not isinstance(t, dict) or not isinstance(t.get("name"), str):
            raise LakefileError(f"{toml}: {where}: missing required field 'name'")
        roots = _str_list(t.get("roots"), where + ".roots") or [t["name"]]
        globs_raw = _str_list(t.get("globs"), where + ".globs")
        globs = [Glob.parse(g) for g in globs_raw] if globs_raw else [Glob(r, "one") for r in roots]
        pkg.libs.append(LeanLib(
            name=t["name"],
            src_dir=str(t.get("srcDir", ".")),
            roots=roots,
            globs=globs,
            lean_options=_flatten_options(t.get("leanOptions"), where),
            more_lean_args=_str_list(t.get("moreLeanArgs"), where + ".moreLeanArgs"),
            weak_lean_args=_str_list(t.get("weakLeanArgs"), where + ".weakLeanArgs"),
        ))
    return pkg
