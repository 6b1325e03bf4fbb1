"""The shim: the facade sysroot's ``bin/lean``. Runs once per `lean` process Lake starts.

For a module compilation (a ``.lean`` file with ``-o``) it classifies the module, asks the
learner for a strategy, runs the real `lean` with the strategy's options, measures the child's
wall and CPU time and records one event. If the strategy breaks the module it recompiles with
the baseline and hands Lake that result. Anything that is not a module compilation is exec'd
to the real `lean` untouched, so ``--githash``, ``--version``, ``--print-prefix`` and the rest
are byte-identical.

Rules: standard library only; nothing of its own on stdout/stderr (Lake stores a job's output
in its trace and replays it); fail open — whatever goes wrong inside simpulse, the real `lean`
runs with the original arguments and its exit code is returned.
"""

from __future__ import annotations

import _signal as signal      # `signal` would import `enum` (hot path)
import os
import sys
import time

from simpulse import _fastjson as json

TYPE_CHECKING = False        # `typing` costs the shim an import; mypy reads this name as typing's
if TYPE_CHECKING:
    from types import FrameType
    from typing import Any, NoReturn

    from simpulse.learner import Learner
    from simpulse.model.records import Event
    from simpulse.shim.running import Marker
    from simpulse.store.store import Store
    from simpulse.strategy.catalogue import Catalogue

    # `LeanCall`, `Decision`, `Strategy` and `Applied` are records (`simpulse._record`) whose
    # classes do not declare their fields, so mypy knows none of them: they are typed Any here.
    Call = Any                   # `simpulse.lake.leanargs.LeanCall`
    DecisionT = Any              # `simpulse.learner.Decision`

LOG_NAME = "simpulse.log"      # = store.codec.DIAG_NAME, which its readers use (not imported: the served shim needs no store)
LOG_LIMIT = 1 << 20
# how a line of the log begins where a compile taught simpulse nothing: `simpulse build`'s
# summary counts them (`commands/build._unlearned`)
PASSTHROUGH = "passthrough:"                       # plain lean ran: the shim failed open
UNRECORDED = "could not record the compile of"     # the compile ran, its record failed


def _exec(real_lean: str, argv: list[str]) -> NoReturn:
    os.execv(real_lean, [real_lean] + argv)


def log(state_dir: str | None, message: str, who: str = "shim") -> None:
    """Append one line to the state directory's log; never raises, never prints. `who`: the
    writer the line names (`build` for `simpulse build`'s own process and its server)."""
    if not state_dir:
        return
    try:
        path = os.path.join(state_dir, LOG_NAME)
        try:
            if os.path.getsize(path) > LOG_LIMIT:
                os.replace(path, path + ".1")
        except OSError:
            pass
        line = f"{time.strftime('%Y-%m-%dT%H:%M:%S')} {who}[{os.getpid()}] {message}\n"
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW | os.O_NONBLOCK, 0o600)
        try:
            os.write(fd, line.encode("utf-8", errors="replace"))
        finally:
            os.close(fd)
    except Exception:  # noqa: BLE001
        pass


def module_name(call: Call, cfg: dict[str, Any]) -> str:
    """Lake's module name, from the ``.olean`` path (``.../lib/lean/A/B.olean`` → ``A.B``)."""
    olean = (call.olean or "").replace("\\", "/")
    for marker in ("/lib/lean/", "/lib/"):
        i = olean.rfind(marker)
        if i >= 0:
            rel = olean[i + len(marker):]
            if rel.endswith(".olean"):
                return rel[: -len(".olean")].replace("/", ".")
    src = call.source or "?"
    return os.path.splitext(src)[0].replace("/", ".").lstrip(".")


class _Child:
    """Runs the real lean with its stdout and stderr captured, measuring wall and CPU time,
    forwarding termination signals to it. `os.posix_spawn` rather than `subprocess`, whose
    import alone costs the shim ~5 ms per compile; the output goes to two anonymous in-memory
    files (`memfd_create`, Linux) read back once lean has exited, or else to pipes drained with
    `select.poll`."""

    pid: int | None = None

    @classmethod
    def run(cls, cmd: list[str], *, piped: bool = False) -> tuple[int, bytes, bytes, float, float]:
        """(exit code, stdout, stderr, wall s, CPU s): the times are taken when the child has
        been reaped. ``piped``: pipes even where in-memory files can be had."""
        t0 = time.perf_counter()
        ru0 = _children_cpu()
        fds = None if piped else _memfds()
        if fds is None:
            status, out, err = cls._drain_pipes(cmd)
            wall, cpu = time.perf_counter() - t0, _children_cpu() - ru0
        else:
            try:
                status = cls._wait(cls._spawn(cmd, fds[0], fds[1]))
                wall, cpu = time.perf_counter() - t0, _children_cpu() - ru0
                out, err = (_read_back(fd) for fd in fds)
            finally:
                for fd in fds:
                    os.close(fd)
        return os.waitstatus_to_exitcode(status), out, err, wall, cpu

    @classmethod
    def _spawn(cls, cmd: list[str], out: int, err: int) -> int:
        # the descriptors are non-inheritable; dup2 makes the child's copies inheritable
        cls.pid = os.posix_spawn(cmd[0], cmd, os.environ, file_actions=[
            (os.POSIX_SPAWN_DUP2, out, 1), (os.POSIX_SPAWN_DUP2, err, 2)])
        return cls.pid

    @classmethod
    def _wait(cls, pid: int) -> int:
        try:
            return os.waitpid(pid, 0)[1]
        finally:
            cls.pid = None

    @classmethod
    def _drain_pipes(cls, cmd: list[str]) -> tuple[int, bytes, bytes]:
        """(wait status, stdout, stderr), the pipes drained while the child runs."""
        import select
        r_out, w_out = os.pipe()
        r_err, w_err = os.pipe()
        try:
            pid = cls._spawn(cmd, w_out, w_err)
        except BaseException:
            os.close(r_out)
            os.close(r_err)
            raise
        finally:
            os.close(w_out)
            os.close(w_err)
        chunks: dict[int, list[bytes]] = {r_out: [], r_err: []}
        poller = select.poll()
        for fd in chunks:
            poller.register(fd, select.POLLIN | select.POLLHUP | select.POLLERR)
        open_fds = set(chunks)
        try:
            while open_fds:
                for fd, _ in poller.poll():
                    data = os.read(fd, 65536)
                    if data:
                        chunks[fd].append(data)
                    else:
                        poller.unregister(fd)
                        open_fds.discard(fd)
            status = cls._wait(pid)
        finally:
            cls.pid = None
            os.close(r_out)
            os.close(r_err)
        return status, b"".join(chunks[r_out]), b"".join(chunks[r_err])


def _memfds() -> list[int] | None:
    """Two anonymous in-memory files for lean's stdout and stderr, or None where there are none
    (not Linux) or they are refused (a seccomp profile)."""
    try:
        first = os.memfd_create("simpulse-lean-stdout")
    except (AttributeError, OSError):
        return None
    try:
        return [first, os.memfd_create("simpulse-lean-stderr")]
    except OSError:
        os.close(first)
        return None


def _read_back(fd: int) -> bytes:
    """Everything written to the in-memory file `fd`."""
    size = os.fstat(fd).st_size
    parts = []
    at = 0
    while at < size:
        data = os.pread(fd, size - at, at)
        if not data:
            break
        parts.append(data)
        at += len(data)
    return b"".join(parts)


def _marker(state_dir: str | None) -> Marker | None:
    """This compile's live-compile marker (`shim/running.py`), or None (fail open)."""
    try:
        from simpulse.shim.running import Marker
        return Marker(state_dir) if state_dir else None
    except Exception:  # noqa: BLE001
        return None


def _load(cfg: dict[str, Any], conc0: int | None, conc1: int | None) -> dict[str, Any]:
    """The event's fields for the objective (`model/objective.py`): compiles running at the
    start and at the end of this one (their mean, this one included), the cores, the objective."""
    out: dict[str, Any] = {"objective": cfg.get("objective") or "build"}
    try:
        from simpulse.shim.running import cores
        seen = [n for n in (conc0, conc1) if n]
        out["conc"] = round(sum(seen) / len(seen), 3) if seen else None
        out["cores"] = cores()
    except Exception:  # noqa: BLE001
        pass
    return out


def _children_cpu() -> float:
    try:
        import resource
        ru = resource.getrusage(resource.RUSAGE_CHILDREN)
        return ru.ru_utime + ru.ru_stime
    except Exception:  # noqa: BLE001
        return 0.0


def _forward_signal(signum: int, frame: FrameType | None) -> None:
    pid = _Child.pid
    if pid is not None:
        try:
            os.kill(pid, signum)
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline and os.waitpid(pid, os.WNOHANG) == (0, 0):
                time.sleep(0.01)
        except OSError:
            pass
    signal.signal(signum, signal.SIG_DFL)
    os.kill(os.getpid(), signum)


def _emit(out: bytes, err: bytes) -> None:
    for fd, data in ((1, out), (2, err)):
        view = memoryview(data)
        while view:
            n = os.write(fd, view)
            view = view[n:]


def _exit_code(rc: int) -> int:
    return 128 - rc if rc < 0 else rc


def main(real_lean: str, settings: str | None = None) -> None:
    """One module compile. `settings`: the build's settings (JSON), by default from the
    environment variable SIMPULSE_SHIM that `simpulse build` gives Lake."""
    argv = sys.argv[1:]
    try:
        from simpulse.lake.leanargs import parse
        call = parse(argv)
        is_compile = call.is_compile
    except Exception:  # noqa: BLE001
        is_compile = False
    if not is_compile:
        _exec(real_lean, argv)

    state_dir = None
    prepared = None
    try:
        cfg = json.loads(settings if settings is not None else os.environ["SIMPULSE_SHIM"])
        state_dir = cfg.get("state_dir")
        prepared = _prepare(cfg, call, real_lean)
    except BaseException as e:  # noqa: BLE001 - fail open
        log(state_dir, f"{PASSTHROUGH} simpulse failed before compiling: {type(e).__name__}: {e}")
        _exec(real_lean, argv)

    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        # A signal the parent ignores (SIGINT in a background job, nohup's SIGHUP) stays
        # ignored, exactly as it would be for the real lean.
        if signal.getsignal(sig) != signal.SIG_IGN:
            signal.signal(sig, _forward_signal)
    observer, decision, cmd, temp = prepared
    marker = _marker(state_dir)
    conc0 = marker.enter() if marker is not None else None
    try:
        rc, out, err, wall, cpu = _Child.run(cmd)
    except OSError as e:
        log(state_dir, f"{PASSTHROUGH} could not start {real_lean}: {e}")
        _cleanup(temp)
        _exec(real_lean, argv)
    _cleanup(temp)
    fallback_wall = fallback_ok = error = None
    if rc != 0 and not decision.strategy.is_baseline:
        # The strategy failed, or its lean died by a signal (a stack overflow, an abort): the
        # baseline decides. (Had the shim itself been interrupted, `_forward_signal` would have
        # ended this process with that signal already.)
        try:
            from simpulse.lake.messages import first_error
            error = first_error(out, err) if rc > 0 else None
        except Exception:  # noqa: BLE001
            error = None
        if error is None and rc < 0:
            error = f"lean killed by signal {-rc} under {decision.strategy.name}"
        rc, out, err, fallback_wall, cpu2 = _Child.run([real_lean] + argv)
        fallback_ok = rc == 0
    conc1 = marker.leave() if marker is not None else None
    _emit(out, err)
    if rc < 0:
        # The baseline was killed by a signal (Lake cancelled, Ctrl-C): nothing learned from a
        # cut-short compile; the signal's exit status is passed on.
        os._exit(_exit_code(rc))
    try:
        if rc != 0 and decision.strategy.is_baseline and error is None:
            from simpulse.lake.messages import first_error
            error = first_error(out, err)
        observer.observe(decision, seconds=max(wall, 1e-6), cpu=cpu,
                         ok=fallback_wall is None and rc == 0, error=error,
                         fallback_seconds=fallback_wall, fallback_ok=fallback_ok,
                         extra={"simulated": bool(cfg.get("simulated")), "era": call.era,
                                "build": cfg.get("build_id"), **_load(cfg, conc0, conc1)})
    except BaseException as e:  # noqa: BLE001 - the compile result stands whatever happens here
        log(state_dir, f"{UNRECORDED} {decision.module}: {type(e).__name__}: {e}")
    if not getattr(observer, "remembers", False):     # a served decision's was kept by the server
        _remember(cfg, call, decision)
    # os._exit: everything was written with os.write and every file is closed; skipping the
    # interpreter's teardown saves milliseconds on every compile.
    os._exit(_exit_code(rc))


def _invocation(call: Call) -> dict[str, Any]:
    """How Lake ran `lean` for this compile: what `simpulse verify` replays."""
    return {"argv": list(call.argv), "cwd": os.getcwd(), "lean_path": os.environ.get("LEAN_PATH"),
            "source_path": os.path.abspath(call.source)}


def _remember(cfg: dict[str, Any], call: Call, decision: DecisionT) -> None:
    """Keep this compile's invocation for `simpulse verify` (best effort, silent)."""
    try:
        from simpulse.store import invocations
        invocations.remember(cfg["state_dir"], decision.module, source_hash=decision.source_hash,
                             toolchain=cfg.get("toolchain", "unknown"), **_invocation(call))
    except BaseException as e:  # noqa: BLE001
        log(cfg.get("state_dir"), f"could not keep the invocation of {decision.module}: {type(e).__name__}: {e}")


def _inject_faults(store: Store) -> None:
    """Test hooks (SIMPULSE_FAULT), used by the fail-open tests to reproduce faults that cannot
    be arranged from outside the process: `disk-full` makes every write of the store fail
    with ENOSPC, as a full disk would."""
    if os.environ.get("SIMPULSE_FAULT") == "disk-full":
        import errno

        def full(event: Event) -> NoReturn:
            raise OSError(errno.ENOSPC, "No space left on device (injected)")
        store.append = full  # type: ignore[method-assign]


def _cleanup(paths: list[str]) -> None:
    for p in paths:
        try:
            os.unlink(p)
        except OSError:
            pass


def _spec(cfg: dict[str, Any], call: Call) -> tuple[dict[str, Any], bool, dict[str, str]]:
    """(the options in effect, whether warnings are errors here, the strategies excluded here):
    what the user set for this module, in every form (-D, -Dweak., moreLeanArgs, the setup
    JSON's options, weak. keys there too), decides whether warnings are errors and which
    limits are in effect."""
    from simpulse.lake.leanargs import options_in_effect
    from simpulse.strategy.allowlist import raises_limit
    in_effect = options_in_effect(call)
    strict = bool(cfg.get("strict_messages")) or str(in_effect.get("warningAsError", "")).lower() == "true"
    excluded: dict[str, str] = {}
    for s in _strategies(cfg):
        why = raises_limit(s.options, in_effect)
        if why is not None:
            excluded[s.name] = f"would raise a limit in effect ({why}): a verdict could change"
    return in_effect, strict, excluded


def _strategies(cfg: dict[str, Any]) -> list[Any]:
    from simpulse.strategy.catalogue import BUILTIN, strategy_from_json
    return list(BUILTIN) + [strategy_from_json(d) for d in cfg.get("user_strategies", [])]


def catalogue_for(cfg: dict[str, Any], strict: bool, excluded: dict[str, str]) -> Catalogue:
    """This compile's catalogue: the build's strategies, less those `_spec` excluded."""
    from simpulse.strategy.catalogue import Catalogue
    return Catalogue(_strategies(cfg), enabled=cfg.get("enabled"), profile=cfg.get("profile", "safe"),
                     strict_messages=strict, allow_breaking=cfg.get("allow_breaking", True), excluded=excluded)


def decide(cfg: dict[str, Any], module: str, source_path: str, path: str, catalogue: Catalogue,
           shared: Any = None, closure: int | None = None) -> tuple[Learner, DecisionT]:
    """The learner's decision for one compile (`--strategy` applied). `shared`: statistics kept
    in memory by `simpulse build` (`simpulse.lake.serve`: `store`, `stats`, `index`), decided
    on and kept current instead of loaded; by default they are loaded for this compile only."""
    from simpulse.learner import Learner
    from simpulse.model.tunables import EXPLORE_BUDGET
    seed = cfg.get("seed")
    if seed is not None:
        import zlib
        seed = int(seed) * 1_000_003 + zlib.crc32(module.encode())
    if shared is None:
        from simpulse.store.store import Store
        # create=False: `simpulse build` made the state directory; if it has been deleted since,
        # the shim must not resurrect it (and fails open instead).
        store = Store(cfg["state_dir"], create=False, fsync=cfg.get("fsync", False))
        store.views = True       # the snapshot's view: this module's record, not all of them
        store.background_checkpoints = True    # no compile waits for a snapshot to be written
        _inject_faults(store)
    else:
        store = shared.store
    learner = Learner(None, store=store, policy=cfg.get("policy", "thompson"), mode=cfg.get("mode", "auto"),
                      toolchain=cfg.get("toolchain", "unknown"), catalogue=catalogue, seed=seed,
                      explore_budget=cfg.get("explore_budget", EXPLORE_BUDGET),
                      exclude=_verified_exclusions(cfg["state_dir"], catalogue))
    if shared is not None:
        learner._stats = shared.stats
        if shared.index is not None:
            learner.__dict__["_similar"] = shared.index      # (`similar.adjust` keeps it there)
    with open(source_path, "rb") as f:
        source = f.read()
    decision: DecisionT = learner.choose(module=module, source=source, path=path, closure=closure)
    if shared is None:
        # observe only appends: this process ends after it, and folding into statistics nobody
        # reads again is work (a context-wide refresh, at worst) the next load does anyway
        learner.reload()
    elif learner.__dict__.get("_similar") is not None:
        shared.index = learner.__dict__["_similar"]
    forced = cfg.get("force_strategy")
    if forced:
        # --strategy: an experiment the user asked for, within what this build accepts
        strategy = catalogue.get(forced)
        why = catalogue.inactive_reason(forced)
        if why is None and forced in learner.excluded_in(decision.context):
            why = f"`simpulse verify` saw it change what this build does not accept in {decision.context}"
        if why is None:
            decision.strategy = strategy
            decision.reason = f"forced by --strategy {forced}"
        else:
            decision.strategy = catalogue.get("baseline")
            decision.reason = f"--strategy {forced} not run: {why}"
        decision.explore = False
    return learner, decision


def _prepare(cfg: dict[str, Any], call: Call, real_lean: str) -> tuple[Any, DecisionT, list[str], list[str]]:
    """(what observes the compile, the decision, the command, its temporary files): decided by
    `simpulse build`'s server when the build serves decisions (`served.ask`), else here."""
    if os.environ.get("SIMPULSE_FAULT") == "learner":
        raise RuntimeError("injected learner fault (SIMPULSE_FAULT=learner)")
    in_effect, strict, excluded = _spec(cfg, call)
    catalogue = catalogue_for(cfg, strict, excluded)
    module = module_name(call, cfg)
    source_path = os.path.abspath(call.source)
    path = os.path.relpath(source_path, cfg.get("workspace") or os.getcwd())
    from simpulse.lake.leanargs import import_closure
    closure = import_closure(call)
    observer: Any = None
    if cfg.get("serve"):
        try:
            from simpulse.shim import served
            observer, decision = served.ask(cfg["serve"], {"module": module, "source_path": source_path,
                                                           "path": path, "strict": strict, "excluded": excluded,
                                                           "closure": closure, "invocation": _invocation(call)},
                                            catalogue)
        except Exception as e:  # noqa: BLE001 - the build's server gone or slow: decided here
            log(cfg.get("state_dir"), f"decided in the shim: the build's decision server: {type(e).__name__}: {e}")
            observer = None
    if observer is None:
        observer, decision = decide(cfg, module, source_path, path, catalogue, closure=closure)
    temp: list[str] = []
    cmd = [real_lean] + list(call.argv)
    if not decision.strategy.is_baseline:
        from simpulse.lake.leanargs import apply_strategy
        tmp_dir = os.path.join(cfg["state_dir"], "tmp")
        applied: Any = apply_strategy(call, decision.strategy, tmp_dir, in_effect=in_effect)
        cmd = [real_lean] + applied.argv
        temp = applied.temp_files
    return observer, decision, cmd, temp


def _verified_exclusions(state_dir: str, catalogue: Catalogue) -> dict[str, set[str]] | None:
    """Per context, the active strategies `simpulse verify` saw change something this build
    does not accept there (`<state>/verify.json`; absent: none)."""
    if not os.path.exists(os.path.join(state_dir, "verify.json")):
        return None
    from simpulse.store import verdicts
    evidence = verdicts.read(state_dir)
    out: dict[str, set[str]] = {}
    s: Any                       # a `Strategy` (see `Call`)
    for ctx in evidence.get("evidence", {}):
        for s in catalogue.active:
            if not s.is_baseline and not verdicts.observed(evidence, ctx, s.name) <= catalogue.accepted:
                out.setdefault(ctx, set()).add(s.name)
    return out or None
