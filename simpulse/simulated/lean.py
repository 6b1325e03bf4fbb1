"""The simulated ``lean`` executable (see docs/cost-model.md and ../shared/lean-contract.md).

It answers the informational flags (``--githash``, ``--version``, ``--print-prefix``, ...) and
"compiles" one module in any of the three argument eras of the contract: it checks the
imports against ``LEAN_PATH``, validates ``-D`` options, really checks one-line closed Nat
literal claims proved ``by decide``, models the compile time (costmodel.py) and really takes
it, prints Lean-like messages (``--json`` or plain) and writes deterministic artefacts.
What options change besides time (issue 17): the unused-variables linter (``linter.all``),
``#guard_msgs``, ``warningAsError``, and ``simprocs=false`` (verdict and ``.olean`` bytes);
``SIMPULSE_SIM_LEAN_SIGNAL`` is a fault hook for tests. docs/cost-model.md has the rules.

Standard library only. Every time it takes is simulated.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import signal
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from simpulse.simulated import burn
from simpulse.simulated import costmodel as cm
from simpulse.simulated import modsys
from simpulse.simulated.modsys import c_from_ir, check_import, check_imports  # noqa: F401

LEAN_VERSION = "4.14.0"
DEFAULT_GITHASH = "506f00d623aca3ba5dbdde74031df79c2ab0ff97"
MARKER = "share/simulated-toolchain.json"
CORE_PREFIXES = modsys.CORE_PREFIXES

USAGE = f"""Lean (version {LEAN_VERSION}, simulated)
Miscellaneous:
  -h, --help             display this message
  -v, --version          display version information
  -V, --short-version    display short version number
  -g, --githash          display the git commit hash number used to build this binary
      --run              call the 'main' definition in a file with the remaining arguments
  -o, --o=oname          create olean file
  -i, --i=iname          create ilean file
  -c, --c=fname          name of the C output file
  -b, --bc=fname         name of the LLVM bitcode file
      --stdin            take input from stdin
      --root=dir         set package root directory from which the module name of the input file is calculated
  -t, --trust=num        trust level (default: max) 0 means do not trust any macro
      --threads=num, -j  number of threads used to process lean files
      --json             report Lean output (e.g., messages) as JSON (one per line)
      --deps             just print dependencies of a Lean input
      --print-prefix     print the installation prefix for Lean and exit
      --print-libdir     print the installation directory for Lean's built-in libraries and exit
      --setup=file       JSON file with module setup data (supersedes the file header)
      --server           start lean in server mode
      --worker           start lean in server-worker mode
  -D name=value          set a configuration option (see set_option command)
"""


class UsageError(Exception):
    pass


# ---------------------------------------------------------------------------------------------
# Installation facts
# ---------------------------------------------------------------------------------------------


def prefix() -> Path:
    """The sysroot: the parent of the directory of the running script, resolved."""
    exe = Path(sys.argv[0] if sys.argv and sys.argv[0] else __file__)
    return exe.resolve().parent.parent


def githash(root: Path | None = None) -> str:
    root = root or prefix()
    try:
        data = json.loads((root / MARKER).read_text())
        gh = data.get("githash")
        if isinstance(gh, str):
            return gh
    except (OSError, ValueError):
        pass
    return DEFAULT_GITHASH


def version_line(gh: str) -> str:
    return (
        f"Lean (version {LEAN_VERSION}, x86_64-unknown-linux-gnu, commit {gh}, Release, simulated)"
    )


# ---------------------------------------------------------------------------------------------
# Argument parsing
# ---------------------------------------------------------------------------------------------


@dataclass
class Args:
    file: str | None = None
    root: str | None = None
    olean: str | None = None
    ilean: str | None = None
    cfile: str | None = None
    bcfile: str | None = None
    setup: str | None = None
    json: bool = False
    threads: int | None = None
    defines: list[str] = field(default_factory=list)  # raw "X=Y" strings, in order
    dynlibs: list[str] = field(default_factory=list)
    plugins: list[str] = field(default_factory=list)
    info: str | None = None  # githash / version / ...
    deps: bool = False
    run_args: list[str] = field(default_factory=list)
    stdin: bool = False


_VALUE_FLAGS = {
    "-o": "olean", "--o": "olean", "-i": "ilean", "--i": "ilean", "-c": "cfile", "--c": "cfile",
    "-b": "bcfile", "--bc": "bcfile", "-R": "root", "--root": "root", "--setup": "setup",
}
_INFO_FLAGS = {
    "--githash": "githash", "-g": "githash", "--version": "version", "-v": "version",
    "--short-version": "short-version", "-V": "short-version", "--print-prefix": "print-prefix",
    "--print-libdir": "print-libdir", "--help": "help", "-h": "help", "--server": "server",
    "--worker": "worker",
}


def _threads(val: str) -> int:
    if not val.isdigit():
        raise UsageError(f"invalid argument for option '-j': {val}")
    return int(val)


def parse_args(argv: list[str]) -> Args:
    a = Args()
    i = 0
    while i < len(argv):
        arg = argv[i]

        def value(arg: str = arg) -> str:
            nonlocal i
            if i + 1 >= len(argv):
                raise UsageError(f"argument missing for option '{arg}'")
            i += 1
            return argv[i]

        if arg in _INFO_FLAGS:
            a.info = a.info or _INFO_FLAGS[arg]
        elif arg == "--json":
            a.json = True
        elif arg == "--deps":
            a.deps = True
        elif arg == "--stdin":
            a.stdin = True
        elif arg == "--run":
            a.info = "run"
            if i + 1 < len(argv):
                a.file = argv[i + 1]
                a.run_args = argv[i + 2:]
            break
        elif arg in _VALUE_FLAGS:
            setattr(a, _VALUE_FLAGS[arg], value())
        elif arg.startswith("--") and "=" in arg and arg.split("=", 1)[0] in _VALUE_FLAGS:
            k, v = arg.split("=", 1)
            setattr(a, _VALUE_FLAGS[k], v)
        elif arg == "-D":
            a.defines.append(value())
        elif arg.startswith("-D"):
            a.defines.append(arg[2:])
        elif arg in ("-j", "--threads"):
            a.threads = _threads(value())
        elif arg.startswith("--threads="):
            a.threads = _threads(arg.split("=", 1)[1])
        elif arg.startswith("-j") and len(arg) > 2:
            a.threads = _threads(arg[2:])
        elif arg == "--load-dynlib":
            a.dynlibs.append(value())
        elif arg.startswith("--load-dynlib="):
            a.dynlibs.append(arg.split("=", 1)[1])
        elif arg == "--plugin":
            a.plugins.append(value())
        elif arg.startswith("--plugin="):
            a.plugins.append(arg.split("=", 1)[1])
        elif arg in ("-t", "--trust"):
            value()
        elif arg.startswith(("--trust=", "-t")) and arg != "-t":
            pass
        elif arg in ("-q", "--quiet", "--stats", "--profile", "-M", "--memory", "-T", "--timeout",
                     "-E", "--error"):
            if arg in ("-M", "--memory", "-T", "--timeout", "-E", "--error"):
                value()
        elif arg.startswith(("--memory=", "--timeout=", "--error=")):
            pass
        elif arg.startswith("-") and arg != "-":
            raise UsageError(f"unknown command line option '{arg}'")
        else:
            if a.file is not None:
                raise UsageError("Expected exactly one file name")
            a.file = arg
        i += 1
    return a


# ---------------------------------------------------------------------------------------------
# Messages
# ---------------------------------------------------------------------------------------------


@dataclass
class Message:
    severity: str  # information | warning | error
    line: int
    column: int
    text: str
    end_line: int | None = None
    end_column: int | None = None

    def to_json(self, file_name: str) -> str:
        end = None
        if self.end_line is not None:
            end = {"line": self.end_line, "column": self.end_column or 0}
        obj = {
            "fileName": file_name,
            "pos": {"line": self.line, "column": self.column},
            "endPos": end,
            "keepFullRange": False,
            "severity": self.severity,
            "caption": "",
            "data": self.text,
            "isSilent": False,
            "kind": "[anonymous]",
        }
        return json.dumps(obj, ensure_ascii=False, separators=(",", ":"))

    def to_plain(self, file_name: str) -> str:
        sev = {"information": "info"}.get(self.severity, self.severity)
        return f"{file_name}:{self.line}:{self.column}: {sev}: {self.text}"


def _emit(messages: list[Message], file_name: str, as_json: bool) -> None:
    out = sys.stdout
    for m in sorted(messages, key=lambda m: (m.line, m.column)):
        line = m.to_json(file_name) if as_json else m.to_plain(file_name)
        out.write(line if line.endswith("\n") else line + "\n")  # as Lean's `Message.toString`
    out.flush()


# ---------------------------------------------------------------------------------------------
# argv log
# ---------------------------------------------------------------------------------------------


def _log_argv(argv: list[str], kind: str) -> None:
    path = os.environ.get("SIMPULSE_SIM_ARGV_LOG")
    if not path:
        return
    rec = {
        "kind": kind,
        "argv": argv,
        "exe": sys.argv[0] if sys.argv else "",
        "cwd": os.getcwd(),
        "pid": os.getpid(),
        "ts": time.time(),
        "LEAN_PATH": os.environ.get("LEAN_PATH"),
    }
    data = (json.dumps(rec, separators=(",", ":")) + "\n").encode()
    try:
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, data)
        finally:
            os.close(fd)
    except OSError:
        pass


# ---------------------------------------------------------------------------------------------
# Compile
# ---------------------------------------------------------------------------------------------


def module_name_of(file: str, root: str | None) -> str:
    p = Path(file)
    stem = p.with_suffix("")
    if root is not None:
        try:
            rel = Path(os.path.normpath(os.path.abspath(stem))).relative_to(
                os.path.normpath(os.path.abspath(root))
            )
            return ".".join(rel.parts)
        except ValueError:
            pass
    return stem.name


def _lean_path() -> list[str]:
    lp = os.environ.get("LEAN_PATH", "")
    return [d for d in lp.split(os.pathsep) if d]


def _artefact(mod: str, source: bytes, imports: list[str], kind: str,
              without_simprocs: list[str] | None = None) -> bytes:
    doc: dict[str, Any] = {
        "simulated": True,
        "kind": kind,
        "module": mod,
        "source_sha256": hashlib.sha256(source).hexdigest(),
        "imports": imports,
        "lean_version": LEAN_VERSION,
    }
    if without_simprocs:
        # simp without simprocs rewrites with other lemmas: other proof terms, other bytes
        doc["proofs_without_simprocs"] = without_simprocs
    return (json.dumps(doc, sort_keys=True) + "\n").encode()


def _write(path: str, data: bytes) -> None:
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    tmp = p.with_name(p.name + f".tmp{os.getpid()}")
    tmp.write_bytes(data)
    os.replace(tmp, p)


def _fail_stderr(text: str, code: int = 1) -> int:
    sys.stderr.write(text.rstrip("\n") + "\n")
    sys.stderr.flush()
    return code


def _heartbeat_msg(n: int) -> str:
    return (
        f"(deterministic) timeout at `elaborator`, maximum number of heartbeats ({n}) has been reached\n"
        "Use `set_option maxHeartbeats <num>` to set the limit.\n"
        "Additional diagnostic information may be available using the "
        "`set_option diagnostics true` command."
    )


REC_DEPTH_MSG = (
    "maximum recursion depth has been reached\n"
    "use `set_option maxRecDepth <num>` to increase limit\n"
    "use `set_option diagnostics true` to get diagnostic information"
)


def _decl_option(decl: cm.Decl, info: cm.SourceInfo, options: dict[str, Any], name: str) -> Any:
    """Effective value of an option for one declaration: `set_option ... in` > the file's
    global `set_option` > command line / setup > default."""
    for src in (decl.local_options, info.global_options):
        if name in src:
            try:
                return cm.parse_option_value(name, src[name])
            except ValueError:
                pass
    if name in options:
        return options[name]
    return cm.KNOWN_OPTIONS[name][1]


UNUSED_VARIABLE_NOTE = "note: this linter can be disabled with `set_option {} false`"
GUARD_MSGS_FAILED = "❌️ Docstring on `#guard_msgs` does not match generated message:\n\n{}"


def _explicit_option(decl: cm.Decl | None, info: cm.SourceInfo, options: dict[str, Any],
                     name: str) -> Any:
    """The value of an option where it is set (`set_option … in` > the file's `set_option` >
    command line / setup), or None when it is set nowhere."""
    srcs = ((decl.local_options,) if decl is not None else ()) + (info.global_options,)
    for src in srcs:
        if name in src:
            try:
                return cm.parse_option_value(name, src[name])
            except ValueError:
                pass
    return options.get(name)


def linter_enabled(decl: cm.Decl | None, info: cm.SourceInfo, options: dict[str, Any],
                   name: str) -> bool:
    """Lean's `getLinterValue`: the linter's own option if set anywhere, else `linter.all` if
    set anywhere, else the linter's default."""
    own = _explicit_option(decl, info, options, name)
    if isinstance(own, bool):
        return own
    every = _explicit_option(decl, info, options, "linter.all")
    if isinstance(every, bool):
        return every
    return bool(cm.KNOWN_OPTIONS[name][1])


def _render_for_guard(m: Message) -> str:
    sev = {"information": "info"}.get(m.severity, m.severity)
    text = m.text if m.text.endswith("\n") else m.text + "\n"
    return f"{sev}: {text}"


def diagnose(info: cm.SourceInfo, options: dict[str, Any]) -> list[Message]:
    """Errors, warnings and information of the module under the given effective options."""
    msgs: list[Message] = []
    for c in cm.literal_claims(info.clean_lines):
        tac = c.tactic.strip()
        if tac == "decide" and not c.value:
            msgs.append(Message(
                "error", c.line, c.column,
                f"tactic 'decide' proved that the proposition\n  {c.prop}\nis false",
                c.line, c.column + len("decide"),
            ))
    decl_of_line: dict[int, cm.Decl] = {}
    for d in info.decls:
        for ln in range(d.line, d.end_line + 1):
            decl_of_line[ln] = d
    for c in cm.simp_literal_claims(info.clean_lines):
        d = decl_of_line.get(c.line)
        simprocs = _decl_option(d, info, options, "simprocs") if d else options.get("simprocs", True)
        if simprocs is False:
            msgs.append(Message("error", c.line, c.column, "simp made no progress",
                                c.line, c.column + len("simp")))
        elif not c.value:
            msgs.append(Message("error", c.line, c.by_column, "unsolved goals\n⊢ False",
                                c.line, c.column + len(c.tactic)))
    for d in info.decls:
        hb = _decl_option(d, info, options, "maxHeartbeats")
        # a need is capped at Lean's default: code the model cannot read is assumed to compile
        # under the defaults (a real tree such as Batteries does); only a lowered limit fails
        if isinstance(hb, int) and hb > 0 and min(d.heartbeats, cm.DEFAULT_HEARTBEATS) > hb:
            msgs.append(Message("error", d.line, d.column, _heartbeat_msg(hb)))
            continue
        rd = _decl_option(d, info, options, "maxRecDepth")
        if isinstance(rd, int) and min(d.rec_depth, cm.DEFAULT_REC_DEPTH) > rd:
            msgs.append(Message("error", d.line, d.column, REC_DEPTH_MSG))
    # `sorry`: one warning per declaration, at its name
    with_sorry: set[int] = set()
    for d in info.decls:
        if re.search(r"(?<![\w.])sorry(?![\w'])", d.text):
            msgs.append(Message("warning", d.line, d.column, "declaration uses 'sorry'"))
            with_sorry.add(d.line)
    # the unused-variables linter: skipped on a declaration with an error or a `sorry`, as Lean's
    with_error = {decl_of_line[m.line].line for m in msgs
                  if m.severity == "error" and m.line in decl_of_line}
    for u in cm.unused_lets(info):
        if u.decl.line in with_error or u.decl.line in with_sorry:
            continue
        if not linter_enabled(u.decl, info, options, "linter.unusedVariables"):
            continue
        msgs.append(Message(
            "warning", u.line, u.column,
            f"unused variable `{u.name}`\n" + UNUSED_VARIABLE_NOTE.format("linter.unusedVariables"),
            u.line, u.column + len(u.name)))
    for e in cm.evals(info):
        msgs.append(Message("information", e.line, e.column, str(e.value),
                            e.line, e.column + len("#eval")))
    # warningAsError: a warning is logged as an error (Lean's `logAt`)
    for m in msgs:
        if m.severity == "warning":
            d = decl_of_line.get(m.line)
            if _decl_option(d, info, options, "warningAsError") if d else (
                    _explicit_option(None, info, options, "warningAsError") is True):
                m.severity = "error"
    # `#guard_msgs in`: the guarded command's messages are checked against the doc comment
    for g in cm.guard_blocks(info):
        inside = sorted((m for m in msgs if g.first <= m.line <= g.last),
                        key=lambda m: (m.line, m.column))
        res = "---\n".join(_render_for_guard(m) for m in inside).strip()
        if g.expected.replace("\n", " ") == res.replace("\n", " "):
            msgs = [m for m in msgs if not (g.first <= m.line <= g.last)]
        else:
            msgs.append(Message("error", g.line, g.column, GUARD_MSGS_FAILED.format(res),
                                g.line, g.column + len("#guard_msgs")))
    return msgs


def simprocs_off_in(info: cm.SourceInfo, options: dict[str, Any]) -> list[str]:
    """Declarations that call simp while `simprocs` is false: their proof terms differ."""
    return [d.name for d in info.decls
            if d.simp > 0 and _decl_option(d, info, options, "simprocs") is False]


def _profiler_output(info: cm.SourceInfo, seconds: float, options: dict[str, Any]) -> str:
    thr = options.get("profiler.threshold", 100)
    total_w = sum(d.weight for d in info.decls) or 1.0
    lines: list[str] = []
    for d in info.decls:
        ms = seconds * 1000 * d.weight / total_w
        if ms >= thr:
            lines.append(f"elaboration of {d.name} took {ms:.0f}ms")
    lines.append("cumulative profiling times:")
    cats = [("import", 0.08), ("parsing", 0.04), ("elaboration", 0.62), ("simp", 0.12),
            ("type checking", 0.09), ("compilation", 0.05)]
    for name, share in cats:
        lines.append(f"\t{name} {seconds * share * 1000:.3g}ms")
    return "\n".join(lines) + "\n"


SIGNAL_HOOK_ENV = "SIMPULSE_SIM_LEAN_SIGNAL"


def signal_hook(raw: str) -> tuple[str, Any] | None:
    """`OPTION=VALUE` (test fault hook) → (option, parsed value); "" → None; bad → ValueError."""
    raw = raw.strip()
    if not raw:
        return None
    name, sep, val = raw.partition("=")
    name = name.strip()
    if name.startswith("weak."):
        name = name[len("weak."):]
    if not sep or name not in cm.KNOWN_OPTIONS:
        raise ValueError(f"{SIGNAL_HOOK_ENV} must be OPTION=VALUE with an option the simulated "
                         f"lean knows (got '{raw}')")
    try:
        return name, cm.parse_option_value(name, val.strip())
    except ValueError as e:
        raise ValueError(f"{SIGNAL_HOOK_ENV}: {e}") from None


def _effective(opts: dict[str, Any], name: str) -> Any:
    return opts[name] if name in opts else cm.KNOWN_OPTIONS[name][1]


def _abort() -> None:
    """Die by SIGABRT like a crashing lean (no core file)."""
    sys.stdout.flush()
    try:
        import resource
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    except (ImportError, ValueError, OSError):
        pass
    signal.signal(signal.SIGABRT, signal.SIG_DFL)
    os.kill(os.getpid(), signal.SIGABRT)
    os._exit(134)  # pragma: no cover - not reached


def _take(info: cm.SourceInfo, eff_opts: dict[str, Any], est: cm.Estimate, threads: int | None,
          mod: str, share: float) -> None:
    """Really take `share` of the modelled compile: sleep-based (`costmodel.spend`, the default),
    or, with SIMPULSE_SIM_PHYSICAL=1, burn its work on the main thread and a pool of `-j N`
    worker processes (default: the machine's cores), as docs/cost-model.md "Physical mode" says."""
    if not burn.physical_enabled():
        cm.spend(est.seconds * share)
        return
    plan = cm.physical_plan(info, eff_opts, est)
    if share != 1.0:
        plan = plan.scaled(share)
    workers = threads if threads else burn.default_workers()
    stats = burn.run(plan, workers)
    burn.log_stats(stats, module=mod, threads=threads)


def compile_module(a: Args) -> int:
    assert a.file is not None
    file_name = a.file
    try:
        source = Path(file_name).read_bytes()
    except OSError:
        return _fail_stderr(f"file not found: {file_name}")
    text = source.decode("utf-8", errors="replace")

    # ---- -D options, then the setup file (which overrides them) ----
    # `weak.X` values are re-parsed after the setup-file merge and overwrite (contract §9)
    options: dict[str, Any] = {}
    weak_options: dict[str, Any] = {}
    unknown: list[str] = []
    for d in a.defines:
        if "=" not in d:
            return _fail_stderr("invalid -D parameter, argument must contain '='")
        name, raw = d.split("=", 1)
        weak = name.startswith("weak.")
        if weak:
            name = name[len("weak."):]
        if name in cm.KNOWN_OPTIONS:
            try:
                (weak_options if weak else options)[name] = cm.parse_option_value(name, raw)
            except ValueError as e:
                return _fail_stderr(str(e))
        elif not weak:
            unknown.append(name)

    setup: dict[str, Any] = {}
    if a.setup:
        try:
            setup = json.loads(Path(a.setup).read_text())
            if not isinstance(setup, dict):
                raise ValueError("setup file must hold a JSON object")
        except (OSError, ValueError) as e:
            return _fail_stderr(f"failed to read setup file '{a.setup}': {e}")
        sopts = setup.get("options") or {}
        if not isinstance(sopts, dict):
            return _fail_stderr(f"failed to read setup file '{a.setup}': options must be an object")
        for name, val in sopts.items():
            if name in cm.KNOWN_OPTIONS:
                try:
                    options[name] = cm.coerce_json_value(name, val)
                except ValueError as e:
                    return _fail_stderr(str(e))
            elif name.startswith("weak."):
                base = name[5:]
                if base in cm.KNOWN_OPTIONS:
                    try:
                        weak_options[base] = cm.coerce_json_value(base, val)
                    except ValueError as e:
                        return _fail_stderr(str(e))
            else:
                unknown.append(name)
    options.update(weak_options)

    if isinstance(setup.get("name"), str) and setup["name"]:
        mod = setup["name"]
    else:
        mod = module_name_of(file_name, a.root)

    info = cm.analyze(text)
    header = modsys.parse_header(text)
    is_module = header.is_module or setup.get("isModule") is True
    imps = list(header.imports)
    for imp in setup.get("imports") or []:
        if isinstance(imp, str):
            imp = modsys.Import(imp)
        elif isinstance(imp, dict) and isinstance(imp.get("module"), str):
            imp = modsys.Import(imp["module"], all=imp.get("importAll") is True,
                                exported=imp.get("isExported") is True, meta=imp.get("isMeta") is True)
        else:
            continue
        if all(i.module != imp.module for i in imps):
            imps.append(imp)
    imports = [i.module for i in imps]

    scale = cm.env_scale()
    # ---- imports: the setup file's importArts first, else LEAN_PATH ----
    arts = setup.get("importArts")
    if arts is not None and not isinstance(arts, dict):
        return _fail_stderr(f"failed to read setup file '{a.setup}': importArts must be an object")
    err = check_imports(imps, is_module, arts or {}, _lean_path())
    if err:
        cm.spend(0.02 * scale)
        _emit([Message("error", 1, 0, err)], file_name, a.json)
        return 1
    # ---- options unknown after the imports ----
    if unknown:
        cm.spend(0.02 * scale)
        _emit([Message("error", 1, 0,
                       f"invalid -D parameter, unknown configuration option '{unknown[0]}'")],
              file_name, a.json)
        return 1

    # ---- elaboration (modelled) ----
    eff_opts = dict(options)
    for name, raw in info.global_options.items():  # the file's own set_option wins
        if name in cm.KNOWN_OPTIONS:
            try:
                eff_opts[name] = cm.parse_option_value(name, raw)
            except ValueError:
                pass
    est = cm.model_time(info, eff_opts, threads=a.threads, scale=scale, module=mod, source=source)
    try:
        hook = signal_hook(os.environ.get(SIGNAL_HOOK_ENV, ""))
    except ValueError as e:
        return _fail_stderr(str(e))
    if hook is not None and _effective(eff_opts, hook[0]) == hook[1]:
        _take(info, eff_opts, est, a.threads, mod, 0.5)  # dies half-way through elaboration, having written nothing
        _abort()
    msgs = diagnose(info, options)
    errors = [m for m in msgs if m.severity == "error"]
    seconds = est.seconds
    share = 1.0
    if errors:
        total_lines = max(1, len(info.lines))
        first = min(m.line for m in errors)
        share = max(0.2, min(1.0, first / total_lines))
        seconds *= share
    _take(info, eff_opts, est, a.threads, mod, share)
    _emit(msgs, file_name, a.json)
    if eff_opts.get("profiler") is True:
        sys.stdout.write(_profiler_output(info, seconds, eff_opts))
        sys.stdout.flush()
    if errors:
        return 1

    # ---- artefacts: deterministic from module name, source bytes and imports ----
    if a.olean:
        _write(a.olean, _artefact(mod, source, imports, "olean", simprocs_off_in(info, options)))
    if a.ilean:
        doc = {"version": 1, "module": mod, "simulated": True,
               "decls": [d.name for d in info.decls], "references": {}}
        _write(a.ilean, (json.dumps(doc, sort_keys=True) + "\n").encode())
    ir = _artefact(mod, source, imports, "ir")
    if a.olean and is_module:
        # what Lean's `writeModule` derives from -o for a module (contract §9b)
        d = modsys.derived(a.olean)
        _write(d["olean.server"], _artefact(mod, source, imports, "olean.server"))
        _write(d["olean.private"], _artefact(mod, source, imports, "olean.private",
                                             simprocs_off_in(info, options)))
        _write(d["ir"], ir)
        _write(d["ir.sig"], _artefact(mod, source, imports, "ir.sig"))
    if a.cfile:
        _write(a.cfile, c_from_ir(ir))
    if a.bcfile:
        _write(a.bcfile, b"BC\xc0\xde" + _artefact(mod, source, imports, "bitcode"))
    return 0


# ---------------------------------------------------------------------------------------------
# Entry point
# ---------------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    if argv is None:
        argv = sys.argv[1:]
    try:
        a = parse_args(argv)
    except UsageError as e:
        _log_argv(argv, "usage-error")
        return _fail_stderr(str(e))

    if a.info:
        _log_argv(argv, a.info)
        root = prefix()
        out = sys.stdout
        if a.info == "githash":
            out.write(githash(root) + "\n")
        elif a.info == "version":
            out.write(version_line(githash(root)) + "\n")
        elif a.info == "short-version":
            out.write(LEAN_VERSION + "\n")
        elif a.info == "print-prefix":
            out.write(str(root) + "\n")
        elif a.info == "print-libdir":
            out.write(str(root / "lib" / "lean") + "\n")
        elif a.info == "help":
            out.write(USAGE)
        elif a.info in ("server", "worker"):
            # A language server is not simulated: consume the input and leave quietly.
            try:
                for _ in sys.stdin:
                    pass
            except (OSError, ValueError):
                pass
        elif a.info == "run":
            if not a.file:
                return _fail_stderr("expected a file name after '--run'")
            if not Path(a.file).exists():
                return _fail_stderr(f"file not found: {a.file}")
        out.flush()
        return 0

    if a.deps:
        _log_argv(argv, "deps")
        if not a.file:
            return _fail_stderr("expected a file name")
        try:
            text = Path(a.file).read_text(errors="replace")
        except OSError:
            return _fail_stderr(f"file not found: {a.file}")
        for imp in cm.parse_imports(text):
            sys.stdout.write(imp + "\n")
        sys.stdout.flush()
        return 0

    if a.stdin and a.file is None:
        _log_argv(argv, "stdin")
        sys.stdin.read()
        return 0
    if a.file is None:
        _log_argv(argv, "usage")
        sys.stdout.write(USAGE)
        return 1

    _log_argv(argv, "compile")
    return compile_module(a)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
