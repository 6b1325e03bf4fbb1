"""Lean's per-module argument lists, in the three Lake eras of the contract (§2).

`parse` recognises a module compilation (a ``.lean`` file with ``-o``) and `apply_strategy`
returns the argument list with a strategy's options added, never overriding an option the user
set. Standard library only (the shim imports it).
"""

from __future__ import annotations

import os

from simpulse import _fastjson as json

from simpulse._record import Record

# Flags of `lean` that take a separate value.
_WITH_VALUE = {"-o", "-i", "-c", "-b", "-R", "--root", "--setup", "-j", "--threads", "-D",
               "--load-dynlib", "--plugin", "-t", "--tstack", "-M", "--memory", "-E", "--ext",
               "--deps-json"}


class LeanCall(Record):
    # source: the .lean file compiled; setup: --setup SETUP.json (newest era);
    # user_options: -D options already present (name -> value)
    __slots__ = ("argv", "source", "source_index", "olean", "setup", "setup_index", "json", "root",
                 "user_options", "threads_set")
    _defaults = {"source": None, "source_index": -1, "olean": None, "setup": None, "setup_index": -1,
                 "json": False, "root": None, "user_options": dict, "threads_set": False}

    @property
    def is_compile(self) -> bool:
        return self.source is not None and self.olean is not None

    @property
    def era(self) -> str:
        if self.setup is not None:
            return "setup"
        return "middle" if self.json else "v4.0"


def _strip_quotes(v: str) -> str:
    if len(v) >= 2 and v[0] == v[-1] == '"':
        return v[1:-1]
    return v


def _add_option(opts: dict[str, str], spec: str) -> None:
    name, eq, value = spec.partition("=")
    if not eq:
        return
    if name.startswith("weak."):
        name = name[5:]
    opts[name] = _strip_quotes(value)


def parse(argv: list[str]) -> LeanCall:
    call = LeanCall(argv=list(argv))
    i = 0
    n = len(argv)
    while i < n:
        a = argv[i]
        if a in _WITH_VALUE and i + 1 < n:
            v = argv[i + 1]
            if a == "-o":
                call.olean = v
            elif a in ("-R", "--root"):
                call.root = v
            elif a == "--setup":
                call.setup, call.setup_index = v, i + 1
            elif a == "-D":
                _add_option(call.user_options, v)
            elif a in ("-j", "--threads"):
                call.threads_set = True
            i += 2
            continue
        if a.startswith("-D") and len(a) > 2:
            _add_option(call.user_options, a[2:])
        elif a.startswith("--setup="):
            call.setup, call.setup_index = a[len("--setup="):], i
        elif a.startswith("--root="):
            call.root = a[len("--root="):]
        elif a.startswith("-j") and a[2:].isdigit() or a.startswith("--threads="):
            call.threads_set = True
        elif a == "--json":
            call.json = True
        elif not a.startswith("-") and a.endswith(".lean") and call.source is None:
            call.source, call.source_index = a, i
        i += 1
    return call


_LAST_SETUP: list[object] = [None, None]     # [path, parsed]: the last setup file read


def read_setup(path: str) -> object:
    """The setup file, parsed. The last one read is kept: a compile's shim reads it for the
    options, the import closure and a strategy's private copy, once; a process that goes
    through many modules (`verify`, `bench`) keeps one file, not all of them (at Mathlib's
    size a setup file lists thousands of imports)."""
    if _LAST_SETUP[0] != path:
        with open(path, "rb") as f:
            data = json.load(f)
        _LAST_SETUP[0], _LAST_SETUP[1] = path, data
    return _LAST_SETUP[1]


def read_setup_options(path: str) -> dict:
    data = read_setup(path)
    opts = data.get("options") if isinstance(data, dict) else None
    return opts if isinstance(opts, dict) else {}


def import_closure(call: LeanCall) -> int | None:
    """How many modules the compile's imports load: the entries of the setup file's
    `importArts`, where Lake writes the transitive closure (contract §9b); None without a setup
    file (older Lake eras) or a readable `importArts`. Never raises."""
    if call.setup is None:
        return None
    try:
        data = read_setup(call.setup)
    except (OSError, ValueError, RecursionError):
        return None
    arts = data.get("importArts") if isinstance(data, dict) else None
    return len(arts) if isinstance(arts, (dict, list)) else None


def options_in_effect(call: LeanCall) -> dict[str, str]:
    """Every option the user set for this compile, name → value as text: ``-DX``, ``-Dweak.X``
    (from ``leanOptions`` or ``moreLeanArgs``), and in the newest era the setup JSON's
    ``options``, where a ``weak.X`` key counts as ``X`` too (contract §9). A setup file that
    cannot be read raises: the caller fails open."""
    opts = dict(call.user_options)
    if call.setup is not None:
        for k, v in read_setup_options(call.setup).items():
            if isinstance(k, str):
                name = k[len("weak."):] if k.startswith("weak.") else k
                opts[name] = ("true" if v else "false") if isinstance(v, bool) else str(v)
    return opts


def _json_value(v: str):
    if v in ("true", "false"):
        return v == "true"
    if v.isdigit():
        return int(v)
    return v


class Applied(Record):
    # added: option names / args added; dropped: options the user set (their value wins)
    __slots__ = ("argv", "added", "dropped", "temp_files")


def apply_strategy(call: LeanCall, strategy, tmp_dir: str | None = None, *,
                   in_effect: dict[str, str] | None = None) -> Applied:
    """The argument list for `call` compiled under `strategy`.

    Options go in as ``-Dweak.NAME=VALUE`` before everything else (so an option the user passes
    later still wins); options the user already set are dropped. In the newest era the setup
    JSON overrides ``-D``, so the options are written into a private copy of it instead.
    `in_effect`: `options_in_effect(call)` when the caller has it already (the setup file is then
    not read again for it).
    """
    added: list[str] = []
    dropped: list[str] = []
    temp: list[str] = []
    argv = list(call.argv)
    user = options_in_effect(call) if in_effect is None else in_effect
    new_opts = []
    for name, value in strategy.options:
        if name in user:
            dropped.append(name)
        else:
            new_opts.append((name, value))
            added.append(name)
    prefix: list[str] = []
    if strategy.args:
        if call.threads_set:
            dropped.append(" ".join(strategy.args))
        else:
            prefix.extend(strategy.args)
            added.append(" ".join(strategy.args))
    if call.setup is not None and new_opts:
        data = read_setup(call.setup)
        data = dict(data) if isinstance(data, dict) else data      # the kept parse stays as read
        opts = dict(data.get("options") or {})
        for name, value in new_opts:
            opts[name] = _json_value(value)
        data["options"] = opts
        base = os.path.basename(call.setup)
        fd_dir = tmp_dir or os.path.dirname(os.path.abspath(call.setup))
        try:
            os.mkdir(fd_dir, 0o700)     # the directory only: its parent must exist (a deleted
        except FileExistsError:         # state directory is not resurrected)
            pass
        path = os.path.join(fd_dir, f"{os.getpid()}-{base}")
        with open(path, "w", encoding="utf-8") as f:
            json.dump(data, f)
        temp.append(path)
        if argv[call.setup_index].startswith("--setup="):
            argv[call.setup_index] = "--setup=" + path
        else:
            argv[call.setup_index] = path
    else:
        prefix = [f"-Dweak.{n}={v}" for n, v in new_opts] + prefix
    return Applied(prefix + argv, added, dropped, temp)
