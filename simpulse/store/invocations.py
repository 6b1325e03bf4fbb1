"""How Lake last ran `lean` on each module: what `simpulse verify` replays.

Standard library only: the shim imports this module and calls `remember` once per module
compilation (inside a try: a failure here never touches the compile). One small JSON file per
module under ``<state_dir>/invocations/`` (directory 0700, files 0600), replaced atomically
(a temporary file in the same directory, then ``os.replace``), so a reader sees the old record
or the new one, never a torn one::

    {"version": 1, "module": "Fixtures.Basic",
     "argv": ["Fixtures/Basic.lean", "-R", ".", "-o", "...", "--json"],   # without the program
     "cwd": "/ws", "lean_path": "/sysroot/lib/lean:/ws/.lake/build/lib/lean",
     "source_path": "Fixtures/Basic.lean",        # as Lake passed it (relative to cwd) or absolute
     "source_hash": "<sha1 of the source>", "toolchain": "<githash>", "time": 1765000000.0}

File names: the module name with every character outside ``[A-Za-z0-9._-]`` written as
``%XX`` (UTF-8 bytes), so that ``«weird name».X`` or a name with a ``/`` stays one file in the
directory; a name whose file name would be over 200 bytes is shortened to a prefix plus a hash
of the full name (the record's ``module`` field is the truth; `load_all` keys on it).

A compile whose invocation is the record's already (the same arguments, directory, search
path, source and toolchain: every rebuild that only a dependency set off) leaves the file as
it is — a read instead of a write and a rename on every compile; ``time`` is then when that
invocation was first recorded.
"""

from __future__ import annotations

import os
import time

from simpulse import _fastjson as json

TYPE_CHECKING = False        # `typing` costs the shim an import; mypy reads this name as typing's
if TYPE_CHECKING:
    from typing import Any

    PathArg = str | os.PathLike[str]

Record = dict[str, "Any"]     # one invocation record (the module docstring shows its fields)

__all__ = ["VERSION", "DIR_NAME", "remember", "load", "load_all", "file_name"]

VERSION = 1
DIR_NAME = "invocations"
_SAFE = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-")
_MAX_NAME = 200
_O_CLOEXEC = getattr(os, "O_CLOEXEC", 0)


def file_name(module: str) -> str:
    """The record's file name for `module` (see the module docstring)."""
    raw = module.encode("utf-8", "surrogatepass")
    name = "".join(chr(b) if b in _SAFE else f"%{b:02X}" for b in raw)
    if name.startswith("."):
        name = "%2E" + name[1:]          # never a hidden file, never "." or ".."
    if len(name) > _MAX_NAME:
        import hashlib
        name = name[:_MAX_NAME - 41] + "~" + hashlib.sha1(raw).hexdigest()
    return name + ".json"


def write_atomic(path: str, data: bytes, *, fsync: bool = False) -> None:
    """`store.atomic.write_atomic`, 0600."""
    from simpulse.store.atomic import write_atomic as write
    write(path, data, fsync=fsync)


def make_private_dir(path: str) -> None:
    """Create `path` as 0700 if it is missing — the directory itself only: its parent (the state
    directory) must exist, so a state directory deleted during a build is not resurrected."""
    if not os.path.isdir(path):
        try:
            os.mkdir(path, 0o700)
        except FileExistsError:
            pass
        os.chmod(path, 0o700)


def remember(state_dir: PathArg, module: str, *, argv: list[str], cwd: PathArg | None, lean_path: PathArg | None,
             source_path: PathArg | None, source_hash: str | None, toolchain: str | None) -> str:
    """Record how `module` was compiled; returns the record's path. Raises OSError/TypeError on
    failure: the caller (the shim) wraps it in a try."""
    d = os.path.join(os.fspath(state_dir), DIR_NAME)
    make_private_dir(d)
    rec = {"version": VERSION, "module": str(module), "argv": [str(a) for a in argv],
           "cwd": os.fspath(cwd) if cwd is not None else None,
           "lean_path": os.fspath(lean_path) if lean_path is not None else None,
           "source_path": os.fspath(source_path) if source_path is not None else None,
           "source_hash": source_hash, "toolchain": toolchain, "time": round(time.time(), 3)}
    path = os.path.join(d, file_name(str(module)))
    old = _read(path)
    if old is not None and all(old.get(k) == v for k, v in rec.items() if k != "time"):
        return path           # the same invocation as last time: kept, with the time it was first seen
    write_atomic(path, json.dumps(rec, separators=(",", ":")).encode("ascii"))
    return path


def _valid(rec: object) -> bool:
    return (type(rec) is dict and rec.get("version") == VERSION and isinstance(rec.get("module"), str)
            and isinstance(rec.get("argv"), list) and all(isinstance(a, str) for a in rec["argv"])
            and isinstance(rec.get("cwd"), str))


def _read(path: str) -> Record | None:
    from simpulse.store.safe_open import StoreError, read_file
    try:
        rec = json.loads(read_file(path))
    except (OSError, ValueError, UnicodeDecodeError, StoreError):
        return None
    return rec if _valid(rec) else None


def load(state_dir: PathArg, module: str) -> Record | None:
    """The record of `module`, or None (missing, unreadable, or not a version-1 record)."""
    rec = _read(os.path.join(os.fspath(state_dir), DIR_NAME, file_name(module)))
    return rec if rec is not None and rec["module"] == module else None


def load_all(state_dir: PathArg) -> dict[str, Record]:
    """Every readable record, keyed by module name (sorted). Unreadable files are skipped."""
    d = os.path.join(os.fspath(state_dir), DIR_NAME)
    try:
        names = sorted(os.listdir(d))
    except OSError:
        return {}
    out: dict[str, Record] = {}
    for name in names:
        if not name.endswith(".json") or ".tmp." in name:
            continue
        rec = _read(os.path.join(d, name))
        if rec is not None:
            out[rec["module"]] = rec
    return dict(sorted(out.items()))
