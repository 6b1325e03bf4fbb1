"""The simulated ``leanir``: ``leanir <setup.json> <X.ir> <X.c>`` (contract §9b).

Newest Lake runs it after ``lean`` for a module compiled with ``isModule`` and
``compiler.postponeCompile``, on the same setup path. It reads the setup file (its
``options``: ``-D`` flags never reach ``leanir``, and it rejects option names it does not
know), reads the IR ``lean`` wrote and writes the C file — the same bytes ``lean -c`` writes
for that module. Standard library only; it takes no simulated time.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from simpulse.simulated import costmodel as cm
from simpulse.simulated.lean import _fail_stderr, _log_argv, _write
from simpulse.simulated.modsys import c_from_ir


def main(argv: list[str] | None = None) -> int:
    if argv is None:
        argv = sys.argv[1:]
    _log_argv(argv, "leanir")
    if len(argv) != 3:
        return _fail_stderr("usage: leanir <setup.json> <module.ir> <output.c>")
    setup_path, ir_path, c_path = argv
    try:
        setup = json.loads(Path(setup_path).read_text())
        if not isinstance(setup, dict):
            raise ValueError("setup file must hold a JSON object")
    except (OSError, ValueError) as e:
        return _fail_stderr(f"failed to read setup file '{setup_path}': {e}")
    opts = setup.get("options") or {}
    if not isinstance(opts, dict):
        return _fail_stderr(f"failed to read setup file '{setup_path}': options must be an object")
    for name in opts:
        if name not in cm.KNOWN_OPTIONS:
            return _fail_stderr(f"unknown configuration option '{name}'")
    try:
        ir = Path(ir_path).read_bytes()
        c = c_from_ir(ir)
    except OSError as e:
        return _fail_stderr(f"failed to read IR file '{ir_path}': {e.strerror or e}")
    except (ValueError, KeyError, TypeError):
        return _fail_stderr(f"failed to read IR file '{ir_path}': not an IR file")
    _write(c_path, c)
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
