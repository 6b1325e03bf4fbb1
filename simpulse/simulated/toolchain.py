"""Lay out a simulated Lean sysroot (``bin/lean``, ``bin/lake``, ``lib/lean``, ...).

The programs are small Python scripts that run :mod:`simpulse.simulated.lean`,
:mod:`simpulse.simulated.lake` and :mod:`simpulse.simulated.leanir`. They start Python with ``-SI`` (no site-packages, isolated):
the directory holding the ``simpulse`` package is put on ``sys.path`` explicitly.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from simpulse.simulated.lean import DEFAULT_GITHASH, LEAN_VERSION, MARKER

__all__ = ["DEFAULT_GITHASH", "install", "is_simulated", "marker"]

_PKG_PARENT = Path(__file__).resolve().parent.parent.parent  # directory containing `simpulse`

_SCRIPT = """\
import sys
sys.path.insert(0, {pkg!r})
from simpulse.simulated.{mod} import main
sys.exit(main())
"""

_NOOP = "#!/bin/sh\n# simulated {name}: does nothing\nexit 0\n"


def _shebang_script(python: str, mod: str) -> str:
    body = _SCRIPT.format(pkg=str(_PKG_PARENT), mod=mod)
    # A shebang passes everything after the interpreter as ONE argument, so the two flags are
    # written together (`-SI`). Long or spaced interpreter paths go through /bin/sh instead.
    if len(python) < 110 and " " not in python and "\t" not in python:
        return f"#!{python} -SI\n" + body
    quoted = python.replace("'", "'\\''")
    code = ("import sys\nsys.argv = sys.argv[1:]\n" + body).replace("'", "'\\''")
    return f"#!/bin/sh\nexec '{quoted}' -SI -c '{code}' \"$0\" \"$@\"\n"


def _write_if_changed(path: Path, text: str, mode: int) -> None:
    data = text.encode()
    try:
        if path.read_bytes() == data and (path.stat().st_mode & 0o777) == mode:
            return
    except OSError:
        pass
    tmp = path.with_name(path.name + f".tmp{os.getpid()}")
    tmp.write_bytes(data)
    os.chmod(tmp, mode)
    os.replace(tmp, path)


def install(dest: Path, *, githash: str = DEFAULT_GITHASH, python: str = sys.executable) -> Path:
    """Create (or refresh) a simulated sysroot at ``dest``; returns ``dest``. Idempotent."""
    dest = Path(dest)
    bindir = dest / "bin"
    for d in (bindir, dest / "lib" / "lean", dest / "include", dest / "share"):
        d.mkdir(parents=True, exist_ok=True)
    _write_if_changed(bindir / "lean", _shebang_script(python, "lean"), 0o755)
    _write_if_changed(bindir / "lake", _shebang_script(python, "lake"), 0o755)
    _write_if_changed(bindir / "leanir", _shebang_script(python, "leanir"), 0o755)
    for name in ("clang", "llvm-ar", "leanc"):
        _write_if_changed(bindir / name, _NOOP.format(name=name), 0o755)
    meta = {
        "simulated": True,
        "githash": githash,
        "lean_version": LEAN_VERSION,
        "python": python,
        "package_dir": str(_PKG_PARENT),
    }
    _write_if_changed(dest / MARKER, json.dumps(meta, indent=2, sort_keys=True) + "\n", 0o644)
    return dest


def marker(sysroot: Path) -> dict | None:
    try:
        data = json.loads((Path(sysroot) / MARKER).read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def is_simulated(sysroot: Path) -> bool:
    """True when ``sysroot`` carries the simulated-toolchain marker."""
    return (Path(sysroot) / MARKER).is_file()
