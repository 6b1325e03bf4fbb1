"""The shim's modules in one file: compiled once by `simpulse build`, read by every compile.

A compile imports ~40 of simpulse's modules. Found and loaded one by one, each costs the
import system a directory lookup, a stat of its source, an open and read of its ``.pyc`` and a
check of its header: about 2–5 ms per compile in all on a busy machine, more than the modules'
own code takes to run. `write` puts the compiled code of every module the shim may need
(`HOT`) in one file beside the shim; `install` reads that file with one ``read`` and serves those
modules from memory through a finder placed first on ``sys.meta_path``.

It never runs other code than a normal import would:

* each entry records its source file's ``st_mtime_ns`` and ``st_size``; a module whose source
  no longer matches (an upgrade, a developer's edit) is not served — the normal import loads it;
* the file records the interpreter's ``sys.version``: another interpreter ignores it;
* anything wrong with the file (missing, truncated, not ours, writable by others) and the
  normal import runs.

Standard library only; `install` never raises.
"""

from __future__ import annotations

import marshal
import os
import sys

TYPE_CHECKING = False        # `typing` costs the shim an import; mypy reads this name as typing's
if TYPE_CHECKING:
    from types import CodeType, ModuleType
    from typing import Any

    Entry = tuple[str, int, int, bool, bytes]     # source path, mtime_ns, size, is a package, marshalled code

BUNDLE_NAME = "simpulse-hot.marshal"
FORMAT = 1

#: What a compile may import, by package directory (every module in it) or module.
HOT_PACKAGES = ("store", "model", "policy", "strategy", "context", "shim")
HOT_MODULES = ("simpulse._fastjson", "simpulse._record", "simpulse.errors", "simpulse.learner",
               "simpulse.lake", "simpulse.lake.leanargs", "simpulse.lake.messages")


def _package_dir() -> str:
    return os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def hot_sources(package_dir: str | None = None) -> dict[str, tuple[str, bool]]:
    """Module name → (its source file, is a package), for every module `write` bundles."""
    root = package_dir or _package_dir()
    out: dict[str, tuple[str, bool]] = {}
    for name in HOT_MODULES:
        rel = name.split(".")[1:]
        pkg = os.path.join(root, *rel, "__init__.py")
        out[name] = (pkg, True) if os.path.isfile(pkg) else (os.path.join(root, *rel) + ".py", False)
    for sub in HOT_PACKAGES:
        d = os.path.join(root, sub)
        for fn in sorted(os.listdir(d)):
            if fn.endswith(".py"):
                mod = fn[:-3]
                out["simpulse." + sub if mod == "__init__" else f"simpulse.{sub}.{mod}"] = (
                    os.path.join(d, fn), mod == "__init__")
    return out


def _fresh(entry: Entry) -> bool:
    """Is the entry's source file still the one it was compiled from (mtime_ns, size)? Raises
    OSError when the source cannot be read."""
    st = os.stat(entry[0])
    return st.st_mtime_ns == entry[1] and st.st_size == entry[2]


def _current(entries: dict[str, Entry], sources: dict[str, tuple[str, bool]]) -> bool:
    return set(entries) == set(sources) and all(
        sources[name][0] == entry[0] and _fresh(entry) for name, entry in entries.items())


def read(path: str) -> dict[str, Entry] | None:
    """The bundle's entries, or None when `path` is missing, damaged or for another interpreter."""
    try:
        with open(path, "rb") as f:
            st = os.fstat(f.fileno())
            if st.st_uid != os.geteuid() or st.st_mode & 0o022:
                return None          # code it runs: only from a file nobody else could have written
            data = marshal.loads(f.read())
    except (OSError, EOFError, ValueError, TypeError):
        return None
    if (type(data) is not dict or data.get("format") != FORMAT or data.get("python") != sys.version
            or type(data.get("modules")) is not dict):
        return None
    return data["modules"]  # type: ignore[no-any-return]


def write(path: str, package_dir: str | None = None) -> bool:
    """Bring the bundle at `path` up to date with simpulse's sources; True when it was rewritten.
    Raises OSError (a source unreadable, the directory not writable) and SyntaxError."""
    sources = hot_sources(package_dir)
    old = read(path)
    if old is not None:
        try:
            if _current(old, sources):
                return False
        except OSError:
            pass
    modules: dict[str, Entry] = {}
    for name, (src, pkg) in sources.items():
        with open(src, "rb") as f:
            st = os.fstat(f.fileno())
            text = f.read()
        code = compile(text, src, "exec", dont_inherit=True, optimize=0)
        modules[name] = (src, st.st_mtime_ns, st.st_size, pkg, marshal.dumps(code))
    from simpulse.store.atomic import write_atomic
    write_atomic(path, marshal.dumps({"format": FORMAT, "python": sys.version, "modules": modules}))
    return True


class _Finder:
    """Serves the bundled modules whose sources are unchanged (`sys.meta_path`)."""

    def __init__(self, entries: dict[str, Entry]) -> None:
        self.entries = entries
        self.code: dict[str, CodeType] = {}

    def find_spec(self, name: str, path: object = None, target: object = None) -> Any:
        entry = self.entries.get(name)
        if entry is None:
            return None
        src, _mtime, _size, pkg, blob = entry
        try:
            if not _fresh(entry):
                return None
            self.code[name] = marshal.loads(blob)
        except (OSError, EOFError, ValueError, TypeError):
            return None
        from _frozen_importlib import ModuleSpec     # the import system's own: loaded at start-up
        spec = ModuleSpec(name, self, origin=src, is_package=pkg)  # type: ignore[arg-type]  # a loader by protocol
        spec.has_location = True                     # sets __file__ (tracebacks find the source)
        if pkg:
            spec.submodule_search_locations = [os.path.dirname(src)]
        return spec

    def create_module(self, spec: Any) -> None:
        return None                                   # the default module object

    def exec_module(self, module: ModuleType) -> None:
        exec(self.code.pop(module.__name__), module.__dict__)


def install(path: str) -> bool:
    """Serve the shim's modules from the bundle at `path`, if it is usable; never raises."""
    try:
        entries = read(path)
        if not entries:
            return False
        sys.meta_path.insert(0, _Finder(entries))
        return True
    except Exception:  # noqa: BLE001 - the normal import runs instead
        return False
