"""The simulated ``lake`` executable (see docs/cost-model.md and ../shared/lean-contract.md).

Supports ``lake build [TARGETS] [-v] [--no-build] [-d DIR] [-K ...] [-R]``, ``lake env``,
``lake clean``, ``lake --version``. It reads ``lakefile.toml`` or the common forms of
``lakefile.lean`` (lakefile.py, lakefile_lean.py; the workspace and import graph are in
lakegraph.py), finds ``lean`` as contract §1 says, calls ``<sysroot>/bin/lean`` once per
out-of-date module with the argument list of the selected era (contract §2 and §9b, env
``SIMPULSE_SIM_LAKE_ERA``; module-system files in modsys.py), runs ``leanir`` after it when
the newest era postpones C generation, fails a job whose expected output is missing, keeps
hash traces with the job logs (contract §3) and prints Lake-like progress (contract §4). ``--wfail``,
``--iofail`` and ``--fail-level`` fail jobs by their (fresh or replayed) log level, as Lake's
``reportJob`` does.

Standard library only. Every time it shows is the wall time of simulated compiles.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import time
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path

from simpulse.simulated import modsys
from simpulse.simulated.lakegraph import (CORE_PREFIXES, LakeError, Mod, Workspace,  # noqa: F401
                                          _join, _topo, closure)
from simpulse.simulated.lean import LEAN_VERSION

LAKE_VERSION = "5.0.0-simulated"
ERAS = ("v4.0", "middle", *modsys.MODSYS_ERAS)

USAGE = f"""Lake version {LAKE_VERSION} (Lean version {LEAN_VERSION})

USAGE:
  lake [OPTIONS] <COMMAND>

COMMANDS:
  build <targets>...    build targets
  env <cmd> <args>...   execute a command in Lake's environment
  clean                 remove build outputs

OPTIONS:
  --version             print version and exit
  --help, -h            print help of the program or a command and exit
  --dir, -d=file        use the package configuration in a specific directory
  --verbose, -v         show trace messages and job times
  --quiet, -q           hide informational logs and the progress indicator
  --no-build            exit immediately if a build target is not up-to-date
  --wfail               fail the build if warnings are logged (--fail-level=warning)
  --iofail              fail the build if any I/O or other info is logged (--fail-level=info)
  --fail-level=lv       fail the build on a job that logs at level lv (trace, info, warning, error)
  -K key[=value]        ignored (configuration options are not simulated)
  -R, --reconfigure     ignored

This is the simulated lake of simpulse: it reads lakefile.toml or a declarative lakefile.lean;
every time it shows
comes from the simulated lean.
"""


def _err(msg: str) -> None:
    sys.stderr.write(f"error: {msg}\n")
    sys.stderr.flush()


def _note(msg: str) -> None:
    """What the simulated lake reads but does not do (stderr: never part of a job's log)."""
    sys.stderr.write(f"note: {msg}\n")
    sys.stderr.flush()


def _out(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


# ---------------------------------------------------------------------------------------------
# Finding Lean (contract §1)
# ---------------------------------------------------------------------------------------------

_TRUTHY = {"y", "yes", "t", "true", "on", "1"}


def own_sysroot() -> Path:
    exe = Path(sys.argv[0] if sys.argv and sys.argv[0] else __file__)
    return exe.resolve().parent.parent


def _print_prefix(lean_cmd: str) -> Path:
    try:
        r = subprocess.run([lean_cmd, "--print-prefix"], capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.SubprocessError) as e:
        raise LakeError(f"could not detect a Lean installation: failed to run '{lean_cmd} --print-prefix': {e}") from None
    out = r.stdout.strip()
    if r.returncode != 0 or not out:
        raise LakeError(f"could not detect a Lean installation: '{lean_cmd} --print-prefix' failed")
    return Path(out)


def find_sysroot(env: dict[str, str] | None = None) -> Path:
    env = os.environ if env is None else env
    if env.get("LAKE_OVERRIDE_LEAN", "").strip().lower() in _TRUTHY:
        if "LEAN_SYSROOT" in env:
            return Path(env["LEAN_SYSROOT"])
        if "LEAN" in env:
            lean = env["LEAN"]
            if not lean:
                raise LakeError("could not detect a Lean installation (LEAN is empty)")
            return _print_prefix(lean)
        which = shutil.which("lean", path=env.get("PATH"))
        if not which:
            raise LakeError("could not detect a Lean installation (no 'lean' on PATH)")
        return _print_prefix(which)
    root = own_sysroot()
    if not (root / "bin" / "lean").exists():
        raise LakeError(f"could not detect a Lean installation (no lean beside lake in {root / 'bin'})")
    return root


def detect_githash(sysroot: Path, env: dict[str, str] | None = None) -> str:
    env = os.environ if env is None else env
    gh = ""
    try:
        r = subprocess.run([str(sysroot / "bin" / "lean"), "--githash"], capture_output=True,
                           text=True, timeout=60)
        if r.returncode == 0:
            gh = r.stdout.strip()
    except (OSError, subprocess.SubprocessError):
        gh = ""
    if env.get("LEAN_GITHASH"):
        gh = env["LEAN_GITHASH"]
    return gh


# ---------------------------------------------------------------------------------------------
# Lean's output → Lake log
# ---------------------------------------------------------------------------------------------

_SEV = {"information": "info", "warning": "warning", "error": "error"}
_LEVEL_RANK = {"trace": 0, "info": 1, "warning": 2, "error": 3}


def _parse_json_output(stdout: str) -> list[dict[str, str]]:
    log: list[dict[str, str]] = []
    txt: list[str] = []
    for ln in stdout.splitlines():
        msg = None
        if ln.startswith("{"):
            try:
                msg = json.loads(ln)
            except ValueError:
                msg = None
        if isinstance(msg, dict) and "data" in msg:
            pos = msg.get("pos") or {}
            level = _SEV.get(str(msg.get("severity", "information")), "info")
            text = f"{msg.get('fileName', '')}:{pos.get('line', 0)}:{pos.get('column', 0)}: {msg.get('data', '')}"
            cap = msg.get("caption")
            if cap:
                text = f"{msg.get('fileName', '')}:{pos.get('line', 0)}:{pos.get('column', 0)}: {cap}:\n{msg.get('data', '')}"
            log.append({"level": level, "message": text})
        else:
            txt.append(ln)
    if any(t.strip() for t in txt):
        log.append({"level": "info", "message": "stdout:\n" + "\n".join(txt)})
    return log


_PLAIN_RE = re.compile(r"^(?P<loc>.+?:\d+:\d+): (?P<sev>error|warning|info): (?P<text>.*)$")


def _parse_plain_output(stdout: str) -> list[dict[str, str]]:
    log: list[dict[str, str]] = []
    txt: list[str] = []
    cur: dict[str, str] | None = None
    for ln in stdout.splitlines():
        m = _PLAIN_RE.match(ln)
        if m:
            cur = {"level": m.group("sev"), "message": f"{m.group('loc')}: {m.group('text')}"}
            log.append(cur)
        elif cur is not None:
            cur["message"] += "\n" + ln
        else:
            txt.append(ln)
    if any(t.strip() for t in txt):
        log.insert(0, {"level": "info", "message": "stdout:\n" + "\n".join(txt)})
    return log


def _fmt_time(seconds: float) -> str:
    ms = int(round(seconds * 1000))
    if ms < 1000:
        return f"{ms}ms"
    if seconds < 10:
        return f"{seconds:.1f}s"
    return f"{int(round(seconds))}s"


def _max_level(log: list[dict[str, str]]) -> int:
    return max((_LEVEL_RANK.get(e.get("level", ""), 0) for e in log), default=-1)


def _icon(log: list[dict[str, str]], failed: bool) -> str:
    """Lake's `reportJob`: the icon of the highest level logged (`✖` when a failed job logged
    nothing at all)."""
    top = _max_level(log)
    if failed and top < 0:
        return "✖"
    return {3: "✖", 2: "⚠", 1: "ℹ"}.get(top, "✔")


def parse_level(name: str) -> str:
    """Lake's `LogLevel.ofString?` (as `--fail-level` takes it)."""
    lv = {"trace": "trace", "info": "info", "information": "info", "warning": "warning",
          "error": "error"}.get(name.strip().lower())
    if lv is None:
        raise LakeError(f"invalid log level '{name}' (expected trace, info, warning or error)")
    return lv


def lean_exit_code(returncode: int) -> int:
    """Lean's `Process.Child.wait` reports a signal as 128 + the signal (bash's convention)."""
    return 128 - returncode if returncode < 0 else returncode


# ---------------------------------------------------------------------------------------------
# Build
# ---------------------------------------------------------------------------------------------


@dataclass
class JobResult:
    mod: str
    ok: bool
    log: list[dict[str, str]]
    seconds: float
    code: int | None = None


class Builder:
    def __init__(self, ws: Workspace, sysroot: Path, githash: str, *, era: str, verbose: bool,
                 quiet: bool = False, fail_level: str = "error"):
        self.ws = ws
        self.sysroot = sysroot
        self.lean = str(sysroot / "bin" / "lean")
        self.githash = githash
        self.era = era
        self.verbose = verbose
        self.quiet = quiet
        self.fail_rank = _LEVEL_RANK[fail_level]
        ws_abs = str(ws.path.resolve())
        parts = [str(sysroot / "lib" / "lean"), _join(ws_abs, ".lake", "build", "lib", "lean")]
        existing = os.environ.get("LEAN_PATH", "")
        if existing:
            parts.append(existing)
        self.lean_path = os.pathsep.join(parts)

    # -- hashing (contract §3, §9b): githash, source, options / leanArgs (never weakLeanArgs),
    # isModule, module and package name, and the imports' traces --
    def compute_hashes(self, mods: dict[str, Mod]) -> None:
        for name in _topo(mods):
            m = mods[name]
            h = hashlib.sha256()
            h.update(b"lean:" + self.githash.encode() + b"\0")
            h.update(hashlib.sha256(m.source.replace(b"\r\n", b"\n")).digest())
            h.update(json.dumps(self.ws.pkg.lean_args_of(m.lib)).encode() + b"\0")
            h.update(f"{m.is_module}\0{m.name}\0{self.ws.pkg.name}\0".encode())
            for imp in m.header.imports or [modsys.Import(i) for i in m.imports]:
                if imp.module in mods:
                    h.update(mods[imp.module].dep_hash.encode())
                else:
                    h.update(f"external:{imp.module}".encode())
                h.update(f"\0{imp.all}{imp.meta}\0".encode())
            m.dep_hash = str(int.from_bytes(h.digest()[:8], "big"))

    def postpone_compile(self, m: Mod) -> bool:
        """Newest Lake: `isModule` and `compiler.postponeCompile` → no `-c`, a `leanir` step."""
        return (self.era == "newest" and m.is_module
                and self.ws.pkg.lean_options_of(m.lib).get("compiler.postponeCompile") is True)

    def set_outputs(self, m: Mod) -> None:
        m.outs = modsys.outputs(m.olean, m.ilean, m.cfile, era=self.era, is_module=m.is_module)

    def up_to_date(self, m: Mod) -> tuple[bool, list[dict[str, str]]]:
        try:
            tr = json.loads(Path(m.trace).read_text())
        except (OSError, ValueError):
            return False, []
        if not isinstance(tr, dict) or tr.get("depHash") != m.dep_hash:
            return False, []
        if not all(os.path.isfile(p) for p in m.outs.values()):
            return False, []
        log = tr.get("log") or []
        return True, [e for e in log if isinstance(e, dict) and "message" in e]

    def argv_for(self, m: Mod) -> list[str]:
        pkg = self.ws.pkg
        if self.era == "v4.0":
            return [*pkg.lean_args_of(m.lib), m.lean_file, "-R", m.root, "-o", m.olean,
                    "-i", m.ilean, "-c", m.cfile]
        if self.era == "middle":
            return [*pkg.weak_lean_args_of(m.lib), *pkg.lean_args_of(m.lib), m.lean_file,
                    "-R", m.root, "-o", m.olean, "-i", m.ilean, "-c", m.cfile, "--json"]
        # setup eras: leanOptions travel in the setup file
        c = [] if self.postpone_compile(m) else ["-c", m.cfile]
        return [*pkg.weak_lean_args_of(m.lib), *pkg.more_lean_args_of(m.lib), m.lean_file,
                "-o", m.olean, "-i", m.ilean, *c, "--setup", m.setup, "--json"]

    def write_setup(self, m: Mod, mods: dict[str, Mod]) -> None:
        doc: dict = {"name": m.name, "package": self.ws.pkg.name, "isModule": m.is_module}
        if not m.is_module:
            doc["imports"] = m.imports  # a module file's imports come from its header
        doc["importArts"] = {d: modsys.import_arts(mods[d].outs, era=self.era,
                                                   is_module=mods[d].is_module)
                             for d in closure(mods, m.name)}
        doc["options"] = self.ws.pkg.lean_options_of(m.lib)
        doc["dynlibs"] = []
        doc["plugins"] = []
        p = Path(m.setup)
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(json.dumps(doc, indent=2) + "\n")

    def command_line(self, argv: list[str], exe: str | None = None) -> str:
        return f".> LEAN_PATH={self.lean_path} " + " ".join(shlex.quote(a) for a in [exe or self.lean, *argv])

    def run_leanir(self, m: Mod, env: dict[str, str], log: list[dict[str, str]]) -> bool:
        """`leanir <setup.json> <X.ir> <X.c>` on the same setup path; on failure the `.olean`
        is deleted (Lake/Build/Actions.lean, compileLeanModule)."""
        leanir = str(self.sysroot / "bin" / "leanir")
        argv = [m.setup, m.outs.get("ir", modsys.derived(m.olean)["ir"]), m.cfile]
        Path(m.cfile).parent.mkdir(parents=True, exist_ok=True)
        if self.verbose:
            log.append({"level": "trace", "message": self.command_line(argv, leanir)})
        try:
            r = subprocess.run([leanir, *argv], env=env, capture_output=True)
            code: int | str = r.returncode
            out = (r.stdout + r.stderr).decode("utf-8", errors="replace").strip()
        except OSError as e:
            code, out = "not run", str(e)
        if code == 0:
            return True
        if out:
            log.append({"level": "info", "message": out})
        log.append({"level": "error", "message": f"external command '{leanir}' exited with code {code}"})
        try:
            os.remove(m.olean)
        except OSError:
            pass
        return False

    def run_job(self, m: Mod, mods: dict[str, Mod]) -> JobResult:
        t0 = time.perf_counter()
        if m.bad_import is not None:
            return JobResult(m.name, False, [{"level": "error",
                                              "message": f"{m.lean_file}: bad import '{m.bad_import}'"}],
                             0.0)
        for p in (m.olean, m.cfile):
            Path(p).parent.mkdir(parents=True, exist_ok=True)
        if self.era in modsys.MODSYS_ERAS:
            self.write_setup(m, mods)
        argv = self.argv_for(m)
        env = dict(os.environ)
        env["LEAN_PATH"] = self.lean_path
        log: list[dict[str, str]] = []
        if self.verbose:
            log.append({"level": "trace", "message": self.command_line(argv)})
        try:
            r = subprocess.run([self.lean, *argv], env=env, capture_output=True)
        except OSError as e:
            dt = time.perf_counter() - t0
            log.append({"level": "error", "message": f"failed to execute '{self.lean}': {e}"})
            return JobResult(m.name, False, log, dt)
        dt = time.perf_counter() - t0
        stdout = r.stdout.decode("utf-8", errors="replace")
        stderr = r.stderr.decode("utf-8", errors="replace")
        if self.era == "v4.0":
            log += _parse_plain_output(stdout)
        else:
            log += _parse_json_output(stdout)
        if stderr.strip():
            log.append({"level": "info", "message": "stderr:\n" + stderr.rstrip("\n")})
        if r.returncode != 0:
            if not self.verbose:
                log.insert(0, {"level": "trace", "message": self.command_line(argv)})
            log.append({"level": "error",
                        "message": f"Lean exited with code {lean_exit_code(r.returncode)}"})
            return JobResult(m.name, False, log, dt, r.returncode)
        if self.postpone_compile(m) and not self.run_leanir(m, env, log):
            return JobResult(m.name, False, log, time.perf_counter() - t0, 1)
        # Lake hashes every output at its expected path; a missing one fails the job
        hashes: dict[str, str] = {}
        for kind, path in m.outs.items():
            try:
                hashes[kind] = hashlib.sha256(Path(path).read_bytes()).hexdigest()
            except OSError:
                log.append({"level": "error", "message": modsys.MISSING[kind]})
                return JobResult(m.name, False, log, dt, 0)
        stored = [e for e in log if e["level"] != "trace"]
        trace = {"depHash": m.dep_hash, "outputs": hashes, "log": stored, "synthetic": False,
                 "simulated": True}
        tp = Path(m.trace)
        tmp = tp.with_name(tp.name + ".tmp")
        tmp.write_text(json.dumps(trace, ensure_ascii=False, indent=2) + "\n")
        os.replace(tmp, tp)
        return JobResult(m.name, True, log, dt, 0)

    def resolve_era(self, mods: dict[str, Mod]) -> None:
        """`auto` (SIMPULSE_SIM_LAKE_ERA unset): the newest era when a module uses the module
        system, else `middle`. An explicit era older than the module system refuses such a
        module with one line instead of building it wrongly."""
        first = next((m for m in mods.values() if m.is_module), None)
        if self.era == "auto":
            self.era = "newest" if first is not None else "middle"
        elif first is not None and self.era not in modsys.MODSYS_ERAS:
            raise LakeError(
                f"{first.lean_file} uses the module system (`module` header), which Lake of era "
                f"'{self.era}' predates: set SIMPULSE_SIM_LAKE_ERA to one of "
                f"{', '.join(modsys.MODSYS_ERAS)}, or leave it unset")

    def logged_failure(self, log: list[dict[str, str]]) -> bool:
        """Lake's `failed := log.hasEntries && log.maxLv ≥ failLv`."""
        return bool(log) and _max_level(log) >= self.fail_rank

    def print_job(self, n: int, total: int, verb: str, m: str, log: list[dict[str, str]],
                  failed: bool, seconds: float | None) -> None:
        shown = [e for e in log if e["level"] != "trace" or self.verbose or failed]
        if self.quiet and not failed and not any(e["level"] in ("warning", "error") for e in shown):
            return
        tm = f" ({_fmt_time(seconds)})" if seconds is not None else ""
        _out(f"{_icon(log, failed)} [{n}/{total}] {verb} {m}{tm}")
        for e in shown:
            _out(f"{e['level']}: {e['message']}")

    def build(self, targets: list[str], *, no_build: bool) -> int:
        roots: list[str] = []
        for t in targets or []:
            for m in self.ws.resolve_target(t):
                if m not in roots:
                    roots.append(m)
        if not targets:
            roots = self.ws.default_modules()
        mods = self.ws.plan(roots)
        self.resolve_era(mods)
        for note in self.ws.pkg.notes:
            _note(note)
        for exe in self.ws.exes_built:
            _note(f"lean_exe '{exe}': its root module is compiled; linking is not simulated")
        for m in mods.values():
            self.set_outputs(m)
        self.compute_hashes(mods)
        fresh: dict[str, list[dict[str, str]]] = {}
        for name, m in mods.items():
            ok, log = self.up_to_date(m)
            if ok:
                fresh[name] = log
        total = len(mods)
        if no_build and len(fresh) < total:
            _err("target is out-of-date and needs to be rebuilt")
            return 3

        dependents: dict[str, list[str]] = {n: [] for n in mods}
        waiting: dict[str, int] = {}
        for n, m in mods.items():
            waiting[n] = len(set(m.local_deps))
            for d in set(m.local_deps):
                dependents[d].append(n)
        ready = [n for n in _topo(mods) if waiting[n] == 0]
        done = 0
        failures: list[str] = []  # in report order, as Lake's monitor collects them
        blocked: set[str] = set()
        workers = _num_threads()
        running: dict[Future, str] = {}

        def finish(n: str, ok: bool) -> None:
            if ok:
                for d in dependents[n]:
                    waiting[d] -= 1
                    if waiting[d] == 0 and d not in blocked:
                        ready.append(d)
            else:
                stack = list(dependents[n])
                while stack:
                    d = stack.pop()
                    if d not in blocked:
                        blocked.add(d)
                        stack.extend(dependents[d])

        with ThreadPoolExecutor(max_workers=workers) as pool:
            while ready or running:
                while ready:
                    n = ready.pop(0)
                    if n in fresh:
                        # the stored log is replayed into the job's log: it counts for
                        # --wfail / --iofail exactly like a fresh one (Lake's reportJob)
                        done += 1
                        bad = self.logged_failure(fresh[n])
                        self.print_job(done, total, "Replaying" if bad else "Replayed", n,
                                       fresh[n], bad, None)
                        if bad:
                            failures.append(n)
                        finish(n, True)
                    else:
                        running[pool.submit(self.run_job, mods[n], mods)] = n
                if not running:
                    break
                finished, _ = wait(list(running), return_when=FIRST_COMPLETED)
                for fut in finished:
                    n = running.pop(fut)
                    try:
                        res = fut.result()
                    except Exception as e:  # noqa: BLE001 - a job's bug is that job's failure
                        res = JobResult(n, False, [{"level": "error", "message": f"internal error: {e}"}], 0.0)
                    done += 1
                    bad = not res.ok or self.logged_failure(res.log)
                    self.print_job(done, total, "Building" if bad else "Built", n, res.log,
                                   bad, res.seconds)
                    if bad:
                        failures.append(n)
                    finish(n, res.ok)  # a job failed only by its log level still builds

        if failures:
            _out("Some required targets logged failures:")
            for n in failures:
                _out(f"- {n}")
            _err("build failed")
            return 1
        _out(f"Build completed successfully ({total} jobs).")
        return 0


def _num_threads() -> int:
    v = os.environ.get("LEAN_NUM_THREADS", "")
    if v.isdigit() and int(v) > 0:
        return int(v)
    return os.cpu_count() or 1


def era_from_env() -> str:
    era = os.environ.get("SIMPULSE_SIM_LAKE_ERA", "").strip() or "auto"
    if era not in ERAS and era != "auto":
        raise LakeError(f"SIMPULSE_SIM_LAKE_ERA must be one of {', '.join(ERAS)} (got '{era}')")
    return era


# ---------------------------------------------------------------------------------------------
# Commands
# ---------------------------------------------------------------------------------------------


@dataclass
class Opts:
    command: str | None = None
    args: list[str] = field(default_factory=list)
    dir: str | None = None
    verbose: bool = False
    quiet: bool = False
    no_build: bool = False
    fail_level: str = "error"
    help: bool = False
    version: bool = False


def parse(argv: list[str]) -> Opts:
    o = Opts()
    i = 0
    while i < len(argv):
        a = argv[i]
        if o.command == "env" and (o.args or not a.startswith("-")):
            o.args.extend(argv[i:])
            break
        if a == "--":
            o.args.extend(argv[i + 1:])
            break
        if a in ("-v", "--verbose"):
            o.verbose = True
        elif a in ("-q", "--quiet"):
            o.quiet = True
        elif a == "--no-build":
            o.no_build = True
        elif a == "--wfail":
            o.fail_level = "warning"
        elif a == "--iofail":
            o.fail_level = "info"
        elif a == "--fail-level":
            if i + 1 >= len(argv):
                raise LakeError(f"missing argument for option '{a}'")
            i += 1
            o.fail_level = parse_level(argv[i])
        elif a.startswith("--fail-level="):
            o.fail_level = parse_level(a.split("=", 1)[1])
        elif a in ("--ansi", "--no-ansi", "-R", "--reconfigure", "--update", "-U",
                   "--old", "--rehash", "-H", "--no-cache", "--try-cache"):
            pass
        elif a in ("-h", "--help"):
            o.help = True
        elif a == "--version":
            o.version = True
        elif a in ("-d", "--dir", "-f", "--file", "-K", "--log-level"):
            if i + 1 >= len(argv):
                raise LakeError(f"missing argument for option '{a}'")
            i += 1
            if a in ("-d", "--dir"):
                o.dir = argv[i]
        elif a.startswith("--dir="):
            o.dir = a.split("=", 1)[1]
        elif a.startswith("-d") and len(a) > 2 and not a.startswith("--"):
            o.dir = a[2:]
        elif a.startswith("-K") or a.startswith(("--file=", "--log-level=")):
            pass
        elif a.startswith("--"):
            raise LakeError(f"unknown long option '{a}'")
        elif a.startswith("-") and a != "-":
            raise LakeError(f"unknown short option '{a}'")
        elif o.command is None:
            o.command = a
        else:
            o.args.append(a)
        i += 1
    return o


def cmd_build(o: Opts) -> int:
    era = era_from_env()
    ws = Workspace(o.dir)
    sysroot = find_sysroot()
    gh = detect_githash(sysroot)
    b = Builder(ws, sysroot, gh, era=era, verbose=o.verbose, quiet=o.quiet, fail_level=o.fail_level)
    return b.build(o.args, no_build=o.no_build)


def lake_env(sysroot: Path, ws: Workspace | None) -> dict[str, str]:
    env = dict(os.environ)
    parts = [str(sysroot / "lib" / "lean")]
    if ws is not None:
        parts.append(_join(str(ws.path.resolve()), ".lake", "build", "lib", "lean"))
    if os.environ.get("LEAN_PATH"):
        parts.append(os.environ["LEAN_PATH"])
    env["LEAN_PATH"] = os.pathsep.join(parts)
    env["LEAN_SYSROOT"] = str(sysroot)
    env["LAKE"] = str(Path(sys.argv[0]).resolve()) if sys.argv and sys.argv[0] else "lake"
    env["LAKE_HOME"] = str(own_sysroot())
    gh = detect_githash(sysroot)
    if gh:
        env["LEAN_GITHASH"] = gh
    env["PATH"] = os.pathsep.join([str(sysroot / "bin"), os.environ.get("PATH", "")])
    return env


def cmd_env(o: Opts) -> int:
    sysroot = find_sysroot()
    try:
        ws: Workspace | None = Workspace(o.dir)
    except LakeError:
        ws = None
    env = lake_env(sysroot, ws)
    if not o.args:
        for k in ("LAKE", "LAKE_HOME", "LEAN_GITHASH", "LEAN_SYSROOT", "LEAN_PATH", "PATH"):
            if k in env:
                _out(f"{k}={env[k]}")
        return 0
    exe = shutil.which(o.args[0], path=env["PATH"]) or o.args[0]
    try:
        return subprocess.run([exe, *o.args[1:]], env=env).returncode
    except OSError as e:
        _err(f"failed to execute '{o.args[0]}': {e}")
        return 1


def cmd_clean(o: Opts) -> int:
    ws = Workspace(o.dir)
    shutil.rmtree(ws.build_dir, ignore_errors=True)
    return 0


def main(argv: list[str] | None = None) -> int:
    if argv is None:
        argv = sys.argv[1:]
    try:
        o = parse(argv)
        if o.version:
            _out(f"Lake version {LAKE_VERSION} (Lean version {LEAN_VERSION})")
            return 0
        if o.help or o.command in (None, "help"):
            sys.stdout.write(USAGE)
            return 0 if o.help or o.command == "help" else 1
        if o.command == "build":
            return cmd_build(o)
        if o.command == "env":
            return cmd_env(o)
        if o.command == "clean":
            return cmd_clean(o)
        raise LakeError(f"unknown command '{o.command}'")
    except LakeError as e:
        _err(str(e))
        return e.code
    except KeyboardInterrupt:  # pragma: no cover
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
