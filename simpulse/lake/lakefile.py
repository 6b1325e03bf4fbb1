"""Reading the user's ``lakefile.toml``: where module names start and what Lake passes to Lean.

Only ``lakefile.toml`` is read (``lakefile.lean`` is Lean code: not evaluated here), and only
leniently: fields of the wrong type are ignored rather than reported, since the real Lake is the
judge of a lakefile's validity. Read: package ``srcDir``, ``leanOptions``, ``moreLeanArgs``,
``weakLeanArgs``, and ``[[lean_lib]]`` tables with ``name``, ``srcDir``, ``roots``, ``globs``,
``leanOptions``, ``moreLeanArgs``, ``weakLeanArgs``.

Standard library only. (The simulated toolchain's own, strict reader is
`simpulse.simulated.lakefile`; it is deliberately separate.)
"""

from __future__ import annotations

import tomllib
from pathlib import Path

LAKEFILE_TOML = "lakefile.toml"


def read_lakefile(ws: Path) -> tuple[dict | None, str | None]:
    """The parsed ``lakefile.toml`` of workspace `ws`, or None and a one-line note why not: no
    lakefile.toml (a lakefile.lean project, which is not read) or an unreadable / invalid one."""
    toml = Path(ws) / LAKEFILE_TOML
    if not toml.is_file():
        return None, "lakefile.lean is not read"
    try:
        return tomllib.loads(toml.read_text(encoding="utf-8")), None
    except (OSError, ValueError) as e:  # TOMLDecodeError and UnicodeDecodeError are ValueErrors
        return None, f"lakefile.toml unreadable ({e})"


# --------------------------------------------------------------------------- source directories

def source_roots(ws: Path, data: dict | None) -> list[Path]:
    """The source directories the lakefile declares (not resolved): the package's ``srcDir``
    (default ``.``), then each ``[[lean_lib]]`` ``srcDir`` (relative to the package's)."""
    if data is None:
        return []
    pkg_src = data.get("srcDir", ".") if isinstance(data.get("srcDir", "."), str) else "."
    roots = [Path(ws) / pkg_src]
    for lib in _libs(data):
        if isinstance(lib.get("srcDir"), str):
            roots.append(Path(ws) / pkg_src / lib["srcDir"])
    return roots


def _libs(data: dict) -> list[dict]:
    """The ``lean_lib`` tables: an array of tables, or a single table."""
    libs = data.get("lean_lib", [])
    libs = [libs] if isinstance(libs, dict) else (libs if isinstance(libs, list) else [])
    return [lib for lib in libs if isinstance(lib, dict)]


# --------------------------------------------------------------------------- a module's arguments

def _is_prefix(prefix: str, mod: str) -> bool:
    """Component-wise name prefix (`Foo` is a prefix of `Foo.Bar`, not of `FooBar`)."""
    return mod == prefix or mod.startswith(prefix + ".")


def _owns(lib: dict, mod: str) -> bool:
    """Whether `mod` belongs to the ``[[lean_lib]]`` table `lib` (by ``roots``, default its
    ``name``, or by ``globs``: ``A``, ``A.*``, ``A.+`` all taken as A and its submodules)."""
    roots = lib.get("roots") or [lib.get("name")]
    if any(isinstance(r, str) and _is_prefix(r, mod) for r in roots):
        return True
    for g in lib.get("globs") or []:
        if isinstance(g, str):
            base = g[:-2] if g.endswith((".*", ".+")) else g
            if _is_prefix(base, mod):
                return True
    return False


def _options(tbl, prefix: str = "") -> dict:
    """``leanOptions`` flattened: nested tables to dotted names; values other than bool, int and
    str (floats, arrays, dates) dropped."""
    out = {}
    for k, v in (tbl or {}).items() if isinstance(tbl, dict) else []:
        name = f"{prefix}.{k}" if prefix else str(k)
        if isinstance(v, dict):
            out.update(_options(v, name))
        elif isinstance(v, (bool, int, str)):
            out[name] = v
    return out


def _strs(v) -> list[str]:
    return [x for x in v if isinstance(x, str)] if isinstance(v, list) else []


def _format(v: bool | int | str) -> str:
    """An option value as Lake writes it after ``-Dname=`` (strings in literal double quotes)."""
    if isinstance(v, bool):
        return "true" if v else "false"
    return str(v) if isinstance(v, int) else f'"{v}"'


def module_lean_args(data: dict | None, module: str) -> list[str]:
    """`module`'s arguments as Lake passes them to Lean: ``weakLeanArgs``, then one ``-D`` per
    ``leanOptions`` entry (the owning library's override the package's), then ``moreLeanArgs``;
    package before library in each list. The owning library is the first ``[[lean_lib]]`` whose
    roots or globs hold `module`; none owning it means the package's arguments only."""
    if data is None:
        return []
    lib = next((x for x in _libs(data) if _owns(x, module)), {})
    opts = {**_options(data.get("leanOptions")), **_options(lib.get("leanOptions"))}
    d_args = [f"-D{k}={_format(v)}" for k, v in opts.items()]
    weak = _strs(data.get("weakLeanArgs")) + _strs(lib.get("weakLeanArgs"))
    more = _strs(data.get("moreLeanArgs")) + _strs(lib.get("moreLeanArgs"))
    return weak + d_args + more


# --------------------------------------------------------------------------- Lake's artifact cache

_TRUE = ("y", "yes", "t", "true", "on", "1")        # Lake's `envToBool?` (Lake/Config/InstallPath.lean)
_FALSE = ("n", "no", "f", "false", "off", "0")


def _env_bool(value: str | None) -> bool | None:
    if value is None:
        return None
    v = value.strip().lower()
    return True if v in _TRUE else (False if v in _FALSE else None)


def artifact_cache(ws: Path, environ: dict[str, str]) -> str | None:
    """Why Lake's artifact cache is on for this workspace's builds, or None when it is off.

    Lake (newer releases) keeps built artifacts in a cache shared by every workspace of the
    toolchain, keyed on the inputs it hashes, and restores them instead of compiling. A package's
    own ``enableArtifactCache`` decides for it; unset, the ``LAKE_ARTIFACT_CACHE`` environment
    variable, then the root package's setting (`Package.isArtifactCacheEnabled`,
    `Workspace.enableArtifactCache`, Lake/Config/Workspace.lean and Monad.lean); the default is
    off. Read here: the variable and the root's setting, from ``lakefile.toml`` or, textually,
    ``enableArtifactCache := true|false`` in ``lakefile.lean``."""
    env = _env_bool(environ.get("LAKE_ARTIFACT_CACHE"))
    root: bool | None = None
    where = ""
    data, _ = read_lakefile(ws)
    if data is not None and isinstance(data.get("enableArtifactCache"), bool):
        root, where = data["enableArtifactCache"], "enableArtifactCache = true in lakefile.toml"
    elif data is None:
        import re
        try:
            text = (Path(ws) / "lakefile.lean").read_text(encoding="utf-8", errors="replace")
        except OSError:
            text = ""
        m = re.search(r"\benableArtifactCache\s*:=\s*(true|false)\b", text)
        if m:
            root, where = m.group(1) == "true", "enableArtifactCache := true in lakefile.lean"
    # the root package: its own setting first; the dependencies: the variable first
    if root is True:
        return where
    if root is None and env is True:
        return f"LAKE_ARTIFACT_CACHE={environ['LAKE_ARTIFACT_CACHE']}"
    if env is True:
        return f"LAKE_ARTIFACT_CACHE={environ['LAKE_ARTIFACT_CACHE']} (for the dependencies)"
    return None


def left_out_by_artifact_cache(ws: Path | None, catalogue, environ: dict[str, str]) -> tuple[str | None, list[str]]:
    """(why Lake's artifact cache is on, or None; the active strategies of `catalogue` that change
    outputs, which `simpulse build` leaves out while it is on — none unless the profile accepts
    changed outputs). The one rule `build`, `strategies` and `doctor` show (docs/meaning.md)."""
    why = artifact_cache(ws, environ) if ws is not None else None
    if why is None or catalogue is None or "outputs" not in catalogue.accepted:
        return why, []
    return why, sorted(s.name for s in catalogue.active if "outputs" in s.changes)
