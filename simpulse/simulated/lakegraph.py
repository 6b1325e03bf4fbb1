"""The simulated ``lake``'s workspace: targets, modules, their headers and the import graph.

A module's imports come from its header (simulated/modsys.py: ``module``, ``prelude``,
``public``/``meta``/``all`` import forms). Targets are ``lean_lib``s (``roots``, ``globs``,
``srcDir``), ``lean_exe``s (their root module) and modules (``+M`` or a bare name).

Standard library only.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from simpulse.simulated import modsys
from simpulse.simulated.lakefile import LakefileError, LeanLib, Package, load

CORE_PREFIXES = modsys.CORE_PREFIXES


class LakeError(Exception):
    def __init__(self, msg: str, code: int = 1):
        super().__init__(msg)
        self.code = code


def _join(*parts: str) -> str:
    """Join like Lean's `FilePath./` (no normalisation: `./././Foo.lean`)."""
    out = parts[0]
    for p in parts[1:]:
        out = p if os.path.isabs(p) else (out.rstrip("/") + "/" + p if out else p)
    return out


def _mod_path(mod: str) -> str:
    return "/".join(mod.split("."))


@dataclass
class Mod:
    name: str
    lib: LeanLib
    lean_file: str  # path as passed to lean (relative to the cwd of lake)
    root: str  # -R
    source: bytes = b""
    header: modsys.Header = field(default_factory=modsys.Header)
    imports: list[str] = field(default_factory=list)
    local_deps: list[str] = field(default_factory=list)
    bad_import: str | None = None
    dep_hash: str = ""
    olean: str = ""
    ilean: str = ""
    cfile: str = ""
    trace: str = ""
    setup: str = ""
    outs: dict[str, str] = field(default_factory=dict)  # every output Lake hashes, kind → path

    @property
    def is_module(self) -> bool:
        return self.header.is_module


class Workspace:
    def __init__(self, dir_arg: str | None):
        self.dir = dir_arg if dir_arg else "."
        self.path = Path(self.dir)
        if not self.path.is_dir():
            raise LakeError(f"no such directory: {self.dir}")
        try:
            self.pkg: Package = load(self.path)
        except LakefileError as e:
            raise LakeError(str(e)) from None
        self.build_dir = _join(self.dir, ".lake", "build")
        self.lib_dir = _join(self.build_dir, "lib", "lean")
        self.ir_dir = _join(self.build_dir, "ir")
        self.exes_built: list[str] = []  # executables among the targets (their link is a no-op)

    def src_root(self, lib: LeanLib) -> str:
        return _join(self.dir, self.pkg.src_dir, lib.src_dir)

    def lean_file(self, lib: LeanLib, mod: str) -> str:
        return _join(self.src_root(lib), _mod_path(mod) + ".lean")

    def find_module(self, mod: str) -> Mod | None:
        lib = self.pkg.owner(mod)
        if lib is None:
            return None
        f = self.lean_file(lib, mod)
        if not os.path.isfile(f):
            return None
        return Mod(name=mod, lib=lib, lean_file=f, root=self.src_root(lib))

    def lib_modules(self, lib: LeanLib) -> list[str]:
        mods: list[str] = []
        root = Path(self.src_root(lib))
        for g in lib.globs:
            if g.kind == "one":
                f = self.lean_file(lib, g.name)
                if not os.path.isfile(f):
                    raise LakeError(f"no such file or directory (error code: 2)\n  file: {f}")
                mods.append(g.name)
            elif g.kind == "andSubmodules" and (root / (_mod_path(g.name) + ".lean")).is_file():
                mods.append(g.name)
            if g.kind in ("submodules", "andSubmodules"):
                base = root / _mod_path(g.name)
                if base.is_dir():
                    for p in sorted(base.rglob("*.lean")):
                        rel = p.relative_to(root).with_suffix("")
                        mods.append(".".join(rel.parts))
        return mods

    def resolve_target(self, t: str) -> list[str]:
        spec = t
        if ":" in spec and not spec.startswith(":"):
            spec = spec.split(":", 1)[0]
        if spec.startswith("+"):
            m = self.find_module(spec[1:])
            if m is None:
                raise LakeError(f"unknown module '{spec[1:]}'")
            return [m.name]
        if spec.startswith("@"):
            spec = spec[1:]
            if "/" not in spec:
                if spec != self.pkg.name:
                    raise LakeError(f"unknown package '{spec}'")
                return self.default_modules()
        if "/" in spec:
            pkgname, rest = spec.split("/", 1)
            if pkgname != self.pkg.name:
                raise LakeError(f"unknown package '{pkgname}'")
            spec = rest
        lib = self.pkg.lib(spec)
        if lib is not None:
            return self.lib_modules(lib)
        exe = self.pkg.exe(spec)
        if exe is not None:
            if exe.name not in self.exes_built:
                self.exes_built.append(exe.name)
            return self.lib_modules(exe)
        m = self.find_module(spec)
        if m is not None:
            return [m.name]
        if spec == self.pkg.name:
            return self.default_modules()
        raise LakeError(f"unknown target '{t}'")

    def default_modules(self) -> list[str]:
        targets = self.pkg.default_targets or [lib.name for lib in self.pkg.libs]
        mods: list[str] = []
        for t in targets:
            for m in self.resolve_target(t):
                if m not in mods:
                    mods.append(m)
        return mods

    def plan(self, roots: list[str]) -> dict[str, Mod]:
        """All modules to build: the roots and their local imports, transitively."""
        mods: dict[str, Mod] = {}
        stack = list(reversed(roots))
        while stack:
            name = stack.pop()
            if name in mods:
                continue
            m = self.find_module(name)
            if m is None:
                raise LakeError(f"unknown module '{name}'")
            try:
                m.source = Path(m.lean_file).read_bytes()
            except OSError as e:
                raise LakeError(f"{m.lean_file}: {e}") from None
            m.header = modsys.parse_header(m.source.decode("utf-8", errors="replace"))
            m.imports = m.header.modules
            for imp in m.imports:
                if imp.split(".")[0] in CORE_PREFIXES:
                    continue
                dep = self.find_module(imp)
                if dep is not None:
                    m.local_deps.append(imp)
                    stack.append(imp)
                elif self.pkg.owner(imp) is not None and m.bad_import is None:
                    m.bad_import = imp
            mp = _mod_path(name)
            m.olean = _join(self.lib_dir, mp + ".olean")
            m.ilean = _join(self.lib_dir, mp + ".ilean")
            m.trace = _join(self.lib_dir, mp + ".trace")
            m.cfile = _join(self.ir_dir, mp + ".c")
            m.setup = _join(self.ir_dir, mp + ".setup.json")
            mods[name] = m
        _check_cycles(mods)
        return mods


def closure(mods: dict[str, Mod], name: str) -> list[str]:
    """The local modules `name` imports, transitively, in a stable order."""
    seen: list[str] = []
    stack = list(reversed(mods[name].local_deps))
    while stack:
        n = stack.pop()
        if n in seen:
            continue
        seen.append(n)
        stack.extend(reversed(mods[n].local_deps))
    return seen


def _check_cycles(mods: dict[str, Mod]) -> None:
    state: dict[str, int] = {}
    path: list[str] = []

    def visit(n: str) -> None:
        state[n] = 1
        path.append(n)
        for d in mods[n].local_deps:
            if state.get(d) == 1:
                cyc = path[path.index(d):] + [d]
                raise LakeError("build cycle detected:\n" + "\n".join("  " + c for c in cyc))
            if state.get(d) is None:
                visit(d)
        path.pop()
        state[n] = 2

    for n in mods:
        if n not in state:
            visit(n)


def _topo(mods: dict[str, Mod]) -> list[str]:
    order: list[str] = []
    seen: set[str] = set()

    def visit(n: str) -> None:
        if n in seen:
            return
        seen.add(n)
        for d in mods[n].local_deps:
            visit(d)
        order.append(n)

    for n in mods:
        visit(n)
    return order
