"""Rewriting a remembered `lean` argument list so that it writes nothing where Lake looks.

Every output flag (``-o`` .olean, ``-i`` .ilean, ``-c`` .c, ``-b`` .bc, in any of the spellings
`lean` accepts: ``-o X``, ``-oX``, ``--olean X``, ``--olean=X``, and the simulated toolchain's
``--o=X``) is pointed into ``<scratch>/out/<flag>/<original file name>``. Files that `lean`
derives from ``-o`` for a module-system file (``X.olean.server``, ``X.olean.private``, ``X.ir``,
``X.ir.sig``, contract §9b) therefore land beside the redirected ``.olean``, in the scratch
directory too. A ``--setup FILE`` is copied to ``<scratch>/setup/<name>`` and the copy is passed:
the original (which newest Lake hands to ``leanir`` afterwards) is never edited.

Every run of a module uses the same scratch paths, so a path that `lean` embeds in an output
(or a message) is the same in every run and cannot make two runs differ.
"""

from __future__ import annotations

import os
import shutil

from simpulse.errors import SimpulseError

# flag -> the short name used for its scratch sub-directory
_SHORT = {"-o": "o", "-i": "i", "-c": "c", "-b": "b"}
_LONG = {"--olean": "o", "--ilean": "i", "--c": "c", "--bc": "b", "--o": "o", "--i": "i", "--b": "b"}
_SETUP = "--setup"


class Redirected:
    """The rewritten argument list and where its outputs and setup copy live."""

    def __init__(self, argv: list[str], outputs: dict[str, str], setup: str | None,
                 original_setup: str | None):
        self.argv = argv
        self.outputs = outputs            # "o"/"i"/"c"/"b" -> scratch path
        self.setup = setup                # the scratch copy of the setup file, or None
        self.original_setup = original_setup


def _target(scratch: str, kind: str, value: str) -> str:
    name = os.path.basename(value.rstrip("/\\")) or f"output.{kind}"
    return os.path.join(scratch, "out", kind, name)


def redirect(argv: list[str], scratch: str, *, cwd: str) -> Redirected:
    """`argv` (without the program name) with its outputs in `scratch` and its setup file copied.

    Raises SimpulseError when the argument list has no ``-o`` (not a module compilation) or its
    setup file cannot be read."""
    out: list[str] = []
    outputs: dict[str, str] = {}
    setup_src = setup_dst = None
    i, n = 0, len(argv)

    def take(kind: str, value: str) -> str:
        path = _target(scratch, kind, value)
        outputs[kind] = path
        return path

    def copy_setup(value: str) -> str:
        nonlocal setup_src, setup_dst
        src = value if os.path.isabs(value) else os.path.join(cwd, value)
        dst = os.path.join(scratch, "setup", os.path.basename(value) or "setup.json")
        os.makedirs(os.path.dirname(dst), exist_ok=True)
        try:
            shutil.copyfile(src, dst)
        except OSError as e:
            raise SimpulseError(f"cannot read the setup file {src}: {e.strerror or e}") from None
        setup_src, setup_dst = src, dst
        return dst

    while i < n:
        a = argv[i]
        if a in _SHORT and i + 1 < n:
            out += [a, take(_SHORT[a], argv[i + 1])]
            i += 2
            continue
        if a in _LONG and i + 1 < n:
            out += [a, take(_LONG[a], argv[i + 1])]
            i += 2
            continue
        if a == _SETUP and i + 1 < n:
            out += [a, copy_setup(argv[i + 1])]
            i += 2
            continue
        if a == "-D" or a in ("-R", "--root", "-j", "--threads", "-t", "--tstack", "-M", "--memory",
                             "--load-dynlib", "--plugin", "-T", "-s", "--trust"):
            out += argv[i:i + 2]          # a flag whose value must not be read as a flag
            i += 2
            continue
        key, eq, value = a.partition("=")
        if eq and key in _LONG:
            out.append(f"{key}={take(_LONG[key], value)}")
        elif eq and key == _SETUP:
            out.append(f"{key}={copy_setup(value)}")
        elif len(a) > 2 and a[:2] in _SHORT and not a.startswith("--"):
            out.append(a[:2] + take(_SHORT[a[:2]], a[2:]))
        else:
            out.append(a)
        i += 1
    if "o" not in outputs:
        raise SimpulseError("the remembered argument list has no -o: not a module compilation")
    for path in outputs.values():
        os.makedirs(os.path.dirname(path), exist_ok=True)
    return Redirected(out, outputs, setup_dst, setup_src)
