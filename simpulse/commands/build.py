"""`simpulse build [LAKE ARGS...]`: `lake build` with every module compile going through simpulse."""


import json
import os
import subprocess
import sys
from pathlib import Path

from simpulse.config import catalogue_for, load_config, resolve_state_dir
from simpulse.errors import SimpulseError
from simpulse.lake.facade import LOG_ENV, SETTINGS_ENV, build_facade
from simpulse.lake.workspace import find_toolchain, find_workspace
from simpulse.store.codec import DIAG_NAME


def _usable(state_dir: Path) -> str | None:
    """Why the state directory can't be used, or None: it is created 0700 (or tightened), and
    refused when it is a symbolic link, someone else's, or writable by others and cannot be
    tightened (`store.safe_open.check_dir`), or when nothing can be written in it."""
    from simpulse.store.safe_open import StoreError, check_dir
    try:
        check_dir(state_dir, create=True)
    except StoreError as e:
        return str(e)
    try:
        probe = state_dir / f".probe-{os.getpid()}"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as e:
        return f"{state_dir}: {e.strerror or e}"
    return None


def note(message: str) -> None:
    print(f"simpulse: {message}", file=sys.stderr, flush=True)


OPTIONS = (
    # (flags, dest, kind, help)
    (("--state-dir",), "state_dir", str, "State directory (default: .simpulse/ at the workspace root; SIMPULSE_STATE_DIR)."),
    (("--mode",), "mode", str, "auto | confident | shadow"),
    (("--policy",), "policy", str, "thompson | beta | ucb | egreedy | lints"),
    (("--strategy",), "strategy", str, "Force one strategy for every module (for experiments)."),
    (("--lean",), "lean", str, "The lean to wrap (default: `lean` on PATH)."),
    (("--lake",), "lake", str, "The lake to run (default: the toolchain's, else PATH)."),
    (("--seed",), "seed", int, "Seed the strategy choice (reproducible experiments)."),
    (("--profile",), "profile", str, "safe (default: only strategies that change nothing but time) | "
                                     "dev (may hide linter warnings) | aggressive (may also change proof terms)."),
)

HELP = """Run `lake build LAKE ARGS...`, choosing, measuring and learning a strategy per module.

Lake's output streams unchanged and the exit code is Lake's. A strategy that breaks a module
is retried with the baseline, so a build that passes under `lake build` passes here, and one
that fails there fails here. Under the default profile (`safe`) nothing but time changes: the
same messages and the same outputs. With `--wfail`, `--iofail` or `--fail-level` below error,
only such strategies run, whatever the profile.
Every other argument goes to `lake build` and means what it means there; simpulse's own
options are named so that Lake uses none of them. Lake's `-q`/`--quiet` also silences
simpulse's summary; its `-v`/`--verbose` also adds a line per module compiled (the strategy it
ran and why); `-d`/`--dir DIR` also tells simpulse where the workspace is."""


def parse_args(argv: list[str]) -> tuple[dict, list[str]]:
    """simpulse's own options, and the rest for Lake (in order). Standard library only: a
    `simpulse build` must not pay for typer's imports."""
    opts = {dest: (False if kind is bool else None) for _, dest, kind, _ in OPTIONS}
    by_flag = {flag: (dest, kind) for flags, dest, kind, _ in OPTIONS for flag in flags}
    lake_args: list[str] = []
    i = 0
    while i < len(argv):
        a = argv[i]
        if a == "--":
            lake_args.extend(argv[i + 1:])
            break
        flag, eq, value = a.partition("=")
        if flag in by_flag:
            dest, kind = by_flag[flag]
            if kind is bool:
                if eq:
                    raise SimpulseError(f"{flag} takes no value")
                opts[dest] = True
            else:
                if not eq:
                    if i + 1 >= len(argv):
                        raise SimpulseError(f"{flag} needs a value")
                    i += 1
                    value = argv[i]
                try:
                    opts[dest] = kind(value)
                except ValueError:
                    raise SimpulseError(f"{flag}: not a valid {kind.__name__}: {value!r}") from None
        else:
            lake_args.append(a)
        i += 1
    if opts["state_dir"] is None and os.environ.get("SIMPULSE_STATE_DIR"):
        opts["state_dir"] = os.environ["SIMPULSE_STATE_DIR"]
    return opts, lake_args


def lake_view(lake_args: list[str]) -> dict:
    """What simpulse reads from Lake's own arguments (they all go to Lake unchanged): the root
    directory (`-d DIR`, `-dDIR`, `--dir DIR`, `--dir=DIR`), and whether Lake is quiet or
    verbose (the last of `-q`/`--quiet`, `-v`/`--verbose` wins, as in Lake). Stops at `--`."""
    view: dict = {"dir": None, "verbosity": None}
    i = 0
    while i < len(lake_args):
        a = lake_args[i]
        if a == "--":
            break
        if a in ("-d", "--dir") and i + 1 < len(lake_args):
            view["dir"] = lake_args[i + 1]
            i += 1
        elif a.startswith("--dir="):
            view["dir"] = a[len("--dir="):]
        elif a.startswith("-d") and not a.startswith("--") and len(a) > 2:
            view["dir"] = a[2:]
        elif a in ("-q", "--quiet"):
            view["verbosity"] = "quiet"
        elif a in ("-v", "--verbose"):
            view["verbosity"] = "verbose"
        i += 1
    return view


_FAIL_LEVELS = {"trace": 0, "info": 1, "warning": 2, "error": 3}


def warnings_fail(lake_args: list[str]) -> bool:
    """Does this `lake build` fail on warnings (or infos)? `--wfail`, `--iofail`, or
    `--fail-level LV` / `--fail-level=LV` below error (Lake's `CLI/Main.lean`; the last one
    given wins, as in Lake). Everything after `--` is Lake's too."""
    level = 3
    i = 0
    while i < len(lake_args):
        a = lake_args[i]
        if a == "--wfail":
            level = 2
        elif a == "--iofail":
            level = 1
        elif a == "--fail-level" and i + 1 < len(lake_args):
            level = _FAIL_LEVELS.get(lake_args[i + 1].lower(), level)
            i += 1
        elif a.startswith("--fail-level="):
            level = _FAIL_LEVELS.get(a.partition("=")[2].lower(), level)
        i += 1
    return level < 3


def run(lake_args: list[str], *, state_dir=None, mode=None, policy=None, strategy=None, lean=None,
        lake=None, seed=None, profile=None) -> int:
    view = lake_view(lake_args)
    workspace = find_workspace(Path(view["dir"]) if view["dir"] else None)
    # Lake runs where a plain `lake build` would: in the workspace, or, when the user named a
    # directory with -d, in the current directory (the -d path is relative to it)
    lake_cwd = Path.cwd() if view["dir"] else workspace
    problems: list[str] = []
    cfg = load_config(workspace, flags={"mode": mode, "policy": policy, "profile": profile}, problems=problems)
    for line in cfg.notes:
        note(f"note: {line}")
    if problems:
        # a configuration mistake never stops a build: it is plain `lake build` until fixed
        for line in problems:
            note(f"configuration problem: {line}")
        note("running plain `lake build` (nothing is learned) until the configuration is fixed; "
             "`simpulse config` shows it")
        tc = find_toolchain(workspace, lean=lean, lake=lake)
        return run_lake([str(tc.lake), "build", *lake_args], lake_cwd)
    sdir = resolve_state_dir(workspace, state_dir if state_dir else cfg["state_dir"])
    catalogue = catalogue_for(cfg, sdir, problems=problems)
    for line in problems:
        note(f"warning: {line}")
    if strategy is not None:
        catalogue.get(strategy)
        why = catalogue.inactive_reason(strategy)
        if why is not None:
            raise SimpulseError(f"--strategy {strategy}: {why} (choose a profile that allows it with --profile)")
    problem = _usable(sdir)            # before anything is written there (the toolchain cache)
    tc = find_toolchain(workspace, lean=lean, lake=lake, cache=sdir / "toolchain.json" if problem is None else None)
    if tc.simulated:
        note(f"using the SIMULATED Lean toolchain at {tc.sysroot}: every time measured is simulated")
    cmd = [str(tc.lake), "build", *lake_args]
    if problem is not None:
        note(f"warning: state directory unusable ({problem}); running plain `lake build`, nothing is learned")
        return run_lake(cmd, lake_cwd)
    settings = {
        "state_dir": str(sdir), "workspace": str(workspace), "mode": cfg["mode"],
        "policy": cfg["policy"], "toolchain": tc.githash, "simulated": tc.simulated,
        "explore_budget": cfg["explore_budget"], "fsync": cfg["fsync"], "objective": cfg["objective"],
        "enabled": None if cfg["enabled"] is None else [n for n in cfg["enabled"] if n in catalogue.all],
        "profile": cfg["profile"], "strict_messages": warnings_fail(lake_args),
        "allow_breaking": cfg["allow_breaking"], "force_strategy": strategy, "seed": seed,
        "user_strategies": [s.to_json() for s in catalogue.all.values() if not s.builtin],
        "build_id": os.urandom(6).hex(),
    }
    if os.environ.get("LAKE_WRAPPED_EXEC"):
        note("LAKE_WRAPPED_EXEC is set (Lake hands compiles to another runner, which would get the "
             "facade's paths): running plain `lake build`, nothing is learned")
        return run_lake(cmd, lake_cwd)
    # issue 23: the cheap checks of `simpulse doctor`, observed once per toolchain githash (cached)
    from simpulse.doctor.gate import apply, cheap_checks
    gate = cheap_checks(tc, sdir, catalogue=catalogue, workspace=workspace)
    if gate.problems:
        note(f"{gate.problems[0]}: running plain `lake build`, nothing is learned (details: `simpulse doctor`)")
        return run_lake(cmd, lake_cwd)
    for line in apply(gate, settings, catalogue, strategy):     # strategies this Lean does not accept
        note(line)
    for line in _artifact_cache_guard(workspace, settings, catalogue, strategy):
        note(line)
    try:
        facade = build_facade(sdir, tc.sysroot)
    except OSError as e:
        note(f"warning: could not build the facade sysroot ({e}); running plain `lake build`")
        return run_lake(cmd, lake_cwd)
    server = _serve(settings) if cfg["serve"] else None
    text = json.dumps(settings, sort_keys=True)
    _keep_settings(sdir, text)
    env = dict(os.environ, LAKE_OVERRIDE_LEAN="1", LEAN_SYSROOT=str(facade))
    env[SETTINGS_ENV] = text
    env[LOG_ENV] = str(sdir / DIAG_NAME)      # where a compile that cannot reach the shim says so
    since = _log_end(sdir)
    if server is not None:
        server.prepare()              # the statistics loaded while Lake starts
    from simpulse.stats import report_cache
    # a long build keeps report.cache near the log as it goes (`report_cache.refresh_in_background`)
    try:
        rc = run_lake(cmd, lake_cwd, env, tick=lambda: report_cache.refresh_in_background(sdir),
                      every=report_cache.REFRESH_EVERY)
    finally:
        if server is not None:
            server.close()
    sync_log(sdir)
    _checkpoint(sdir, since[0])
    if view["verbosity"] != "quiet":
        _summary(sdir, since, tc.simulated, catalogue, settings["build_id"], rc,
                 verbose=view["verbosity"] == "verbose")
    maybe_compact(sdir, cfg["retention_segments"])
    report_cache.refresh_in_background(sdir, backlog=report_cache.END_BACKLOG)   # `simpulse report` next: from the cache
    return rc


def _artifact_cache_guard(workspace: Path, settings: dict, catalogue, forced: str | None) -> list[str]:
    """Under a profile that accepts changed outputs, with Lake's artifact cache on: leave out of
    the build the strategies that change outputs, and say so. Lake would store what they build in
    the toolchain's cache under the key a plain build uses, and restore it into later builds of
    any workspace of the toolchain — plain `lake build` ones included, which did not choose the
    profile (docs/meaning.md). Returns the notes to show."""
    from simpulse.lake.lakefile import left_out_by_artifact_cache
    why, changing = left_out_by_artifact_cache(workspace, catalogue, dict(os.environ))
    if not changing:
        return []
    enabled = settings.get("enabled") or catalogue.names()
    settings["enabled"] = [n for n in enabled if n not in changing]
    notes = []
    if forced in changing:
        settings["force_strategy"] = None
        notes.append(f"--strategy {forced} not run: it changes outputs, and Lake's artifact cache is on ({why})")
    notes.append(f"note: Lake's artifact cache is on ({why}): left out, as they change outputs that Lake would "
                 f"store there and restore into later builds, plain `lake build` ones included: "
                 f"{', '.join(changing)}. To run them, turn the cache off for this project.")
    return notes


def _serve(settings: dict):
    """The build's decision server (config `serve`, `simpulse.lake.serve`), its socket put in
    the shims' settings; None (the shims decide, as without `serve`) when it cannot start."""
    try:
        from simpulse.lake.serve import DecisionServer
        server = DecisionServer(dict(settings))
    except OSError as e:
        note(f"note: decisions not served ({e}); every compile decides for itself")
        return None
    settings["serve"] = server.path
    return server


LAST_SETTINGS = "shim-settings.json"


def _keep_settings(sdir: Path, text: str) -> None:
    """The last build's shim settings, `<state>/shim-settings.json`: to run the shim by hand
    (`SIMPULSE_SHIM="$(cat .simpulse/shim-settings.json)" .simpulse/facade/bin/lean ...`).
    Informational: a running build reads its own settings from its environment."""
    try:
        from simpulse.store.atomic import write_atomic
        write_atomic(sdir / LAST_SETTINGS, text.encode())
    except OSError:
        pass


Since = tuple[int, dict | None, int]


def _log_end(sdir: Path) -> Since:
    """Where the state's logs end before Lake runs: the event log's last seq and read mark
    (`Store.end_mark`), and the size of simpulse.log. The summary then reads only what the build
    appended, and loads no statistics, before Lake or after it. An event log that cannot be read
    now is read from its start then (the build's events are told by its id; the mark only
    saves reading)."""
    try:
        from simpulse.store.store import Store
        seq, mark = Store(sdir, create=False).end_mark()
    except Exception:  # noqa: BLE001 - a summary line is not worth failing a build for
        seq, mark = 0, None
    try:
        size = os.stat(sdir / DIAG_NAME).st_size
    except OSError:
        size = 0
    return seq, mark, size


def _checkpoint(sdir: Path, seq_before: int) -> None:
    """After a build that recorded anything: load the statistics once, which folds the build's
    events and writes a snapshot past them (the store's rule for a long tail), so that the next
    build's server and any shim deciding for itself start from there instead of folding this
    build again. Best effort: the next load checkpoints instead."""
    try:
        from simpulse.learner import empty_stats, fold, validate_stats
        from simpulse.store.store import Store
        store = Store(sdir, create=False)
        if store.last_seq() != seq_before:
            store.load(fold, empty_stats(), validate=validate_stats)
    except Exception as e:  # noqa: BLE001
        from simpulse.shim.main import log
        log(str(sdir), f"checkpoint after the build failed: {type(e).__name__}: {e}", who="build")


def _unlearned(sdir: Path, offset: int) -> tuple[int, int]:
    """(compiles that ran plain `lean` because the shim failed open, compiles run through it
    whose record failed), from the lines the shims and the decision server appended to
    simpulse.log since it was `offset` bytes long (rotated meanwhile, at its size limit: the
    rest of the rotated file, then the new one). (0, 0) if it cannot be read."""
    path = sdir / DIAG_NAME
    parts = []
    try:
        if os.stat(path).st_size < offset:
            with open(path.with_name(DIAG_NAME + ".1"), "rb") as f:
                f.seek(offset)
                parts.append(f.read())
            offset = 0
        with open(path, "rb") as f:
            f.seek(offset)
            parts.append(f.read())
    except OSError:
        pass
    from simpulse.shim.main import PASSTHROUGH, UNRECORDED
    text = b"".join(parts)
    return text.count(f" {PASSTHROUGH} ".encode()), text.count(f" {UNRECORDED} ".encode())


def _build_events(sdir: Path, build_id: str, since: Since) -> list[dict]:
    """This build's compile events (tagged with its id), recorded after `since` (`_log_end`; a
    compaction meanwhile moves them to a segment, read too); [] if unreadable."""
    try:
        from simpulse.store.store import Store
        seq, mark, _ = since
        return [e for e in Store(sdir, create=False).iter_events(after=seq, mark=mark)
                if e.get("build") == build_id and e.get("kind") == "compile"]
    except Exception:  # noqa: BLE001
        return []


def _hidden_messages(events: list[dict], catalogue) -> None:
    """After a build in which strategies that may change messages ran: how many modules kept
    such a strategy's output (their warnings are missing from this build and from Lake's
    replays of it) and how to see them."""
    changing = {s.name for s in catalogue.all.values() if s.changes_diagnostics}
    modules = {e.get("module") for e in events if e.get("strategy") in changing and e.get("outcome") == "ok"}
    modules.discard(None)
    if modules:
        n = len(modules)
        note(f"{n} module{'s' if n != 1 else ''} ran with strategies that may hide warnings "
             f"(profile {catalogue.profile}): Lake will replay {'them' if n != 1 else 'it'} without those warnings. "
             "To see them: touch the files and run `lake build`, or `simpulse build --profile safe`")


def sync_log(sdir: Path) -> None:
    """Make the build's events durable in one fsync (the shims append without one: an fsync per
    compile costs 1–25 ms on the compile's critical path). Best effort."""
    for name in ("events.log", "."):
        try:
            fd = os.open(sdir / name, os.O_RDONLY)
        except OSError:
            continue
        try:
            os.fsync(fd)
        except OSError:
            pass
        finally:
            os.close(fd)


COMPACT_BYTES = 4 << 20


def maybe_compact(sdir: Path, retention_segments: int, *, threshold: int = COMPACT_BYTES) -> bool:
    """After a build, off the per-compile path: once the active event log passes `threshold`
    bytes, archive it into a segment and snapshot the statistics; keep at most
    `retention_segments` segments (older ones are already in the snapshot's statistics, so the
    learner loses nothing). Best effort: a failure here never changes the build's exit code."""
    try:
        try:
            if os.path.getsize(sdir / "events.log") < threshold:
                return False
        except FileNotFoundError:
            return False                 # nothing recorded yet: nothing to compact
        from simpulse.learner import empty_stats, fold, validate_stats
        from simpulse.store.store import Store
        Store(sdir, create=False).compact(fold, empty_stats(), retention_segments=retention_segments,
                                          validate=validate_stats)
        return True
    except Exception as e:  # noqa: BLE001
        from simpulse.shim.main import log
        log(str(sdir), f"compaction after the build failed: {type(e).__name__}: {e}", who="build")
        return False


def run_lake(cmd: list[str], cwd: Path, env: dict | None = None, *, tick=None, every: float = 30.0) -> int:
    """Run Lake in the foreground and return its exit code. While it runs, Ctrl-C is Lake's
    to handle (it is in the same process group and shuts down its own way, as under a plain
    `lake build`): simpulse ignores SIGINT rather than killing Lake. `tick()`, if given, is
    called every `every` seconds while Lake runs (it must not raise)."""
    import signal
    proc = subprocess.Popen(cmd, cwd=cwd, env=env)
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        if tick is not None:
            _wait_ticking(proc, tick, every)
        return proc.wait()
    finally:
        signal.signal(signal.SIGINT, previous)


def _wait_ticking(proc: subprocess.Popen, tick, every: float) -> None:
    """Wait for `proc` to end, calling `tick()` every `every` seconds meanwhile. On a pidfd
    (Linux ≥ 5.3), the wait ends the moment the child does; `Popen.wait(timeout=)` polls with
    sleeps of up to 50 ms, which a no-op build would pay on top of Lake's."""
    import select
    try:
        fd = os.pidfd_open(proc.pid)
    except (AttributeError, OSError):
        fd = None
    try:
        while True:
            if fd is not None:
                if select.select([fd], [], [], every)[0]:
                    return
            else:
                try:
                    proc.wait(timeout=every)
                    return
                except subprocess.TimeoutExpired:
                    pass
            tick()
    finally:
        if fd is not None:
            os.close(fd)


def main_fast(argv: list[str]) -> int:
    opts, lake_args = parse_args(argv)
    return run(lake_args, **opts)


def register(app) -> None:
    """`simpulse build --help` and the typer command (same options as `parse_args`)."""
    import typer

    @app.command("build", help=HELP, context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
    def build(
        ctx: typer.Context,
        state_dir: Path | None = typer.Option(None, "--state-dir", envvar="SIMPULSE_STATE_DIR", help=OPTIONS[0][3]),
        mode: str | None = typer.Option(None, "--mode", help=OPTIONS[1][3]),
        policy: str | None = typer.Option(None, "--policy", help=OPTIONS[2][3]),
        strategy: str | None = typer.Option(None, "--strategy", help=OPTIONS[3][3]),
        lean: str | None = typer.Option(None, "--lean", help=OPTIONS[4][3]),
        lake: str | None = typer.Option(None, "--lake", help=OPTIONS[5][3]),
        seed: int | None = typer.Option(None, "--seed", help=OPTIONS[6][3]),
        profile: str | None = typer.Option(None, "--profile", help=OPTIONS[7][3]),
    ):
        raise typer.Exit(run(list(ctx.args), state_dir=state_dir, mode=mode, policy=policy, strategy=strategy,
                             lean=lean, lake=lake, seed=seed, profile=profile))


def _plural(n: int, word: str, plural: str | None = None) -> str:
    return f"{n} {word if n == 1 else (plural or word + 's')}"


def _summary(sdir: Path, since: Since, simulated: bool, catalogue, build_id: str, rc: int,
             *, verbose: bool = False) -> None:
    """The build's last lines, from its own events (tagged with its id): what was compiled, how,
    whether strategies that may hide warnings ran, and what simpulse failed to learn from."""
    events = _build_events(sdir, build_id, since)
    passed, unrecorded = _unlearned(sdir, since[2])
    if not events:
        if rc == 0 and not passed and not unrecorded:
            note("nothing to compile: every module was up to date")
        _losses(sdir, passed, unrecorded)
        return                          # a failed build that compiled nothing: Lake has said why
    if verbose:
        _per_module(events)
    used_by: dict[str, int] = {}
    seconds = 0.0
    for e in events:
        seconds += _seconds(e.get("wall"))
        if e.get("outcome") in ("strategy_failed", "module_failed"):
            seconds += _seconds(e.get("fallback_wall"))
        if e.get("outcome") != "module_failed":     # the user's error: no strategy's doing
            name = str(e.get("strategy"))
            used_by[name] = used_by.get(name, 0) + 1
    used = ", ".join(f"{name} {n}" for name, n in sorted(used_by.items(), key=lambda kv: (-kv[1], kv[0])))
    explore = sum(1 for e in events if e.get("explore"))
    failed = sum(1 for e in events if e.get("outcome") == "strategy_failed")
    label = "simulated " if simulated else ""
    note(f"{_plural(len(events), 'compile')} recorded ({label}{seconds:.1f}s in lean): {used}; "
         f"{explore} exploring, {_plural(failed, 'strategy failure')} caught by baseline fallback")
    _losses(sdir, passed, unrecorded)
    _hidden_messages(events, catalogue)      # the last line, if any: what the user may be missing


def _losses(sdir: Path, passed: int, unrecorded: int) -> None:
    """Say what the build's compiles taught simpulse nothing about: the build itself is plain
    `lake build`'s either way (the shim fails open), but a user must not take silence for
    learning."""
    where = sdir / DIAG_NAME
    if passed:
        note(f"{_plural(passed, 'compile')} ran plain `lean`, not through simpulse (it failed open; nothing "
             f"learned from {'it' if passed == 1 else 'them'}): why in {where}")
    if unrecorded:
        note(f"{_plural(unrecorded, 'compile')} ran through simpulse but {'was' if unrecorded == 1 else 'were'} "
             f"not recorded: why in {where}")


def _seconds(x) -> float:
    """An event's time as the summary adds it: a finite number ≥ 0, else 0."""
    try:
        v = float(x or 0.0)
    except (TypeError, ValueError):
        return 0.0
    return v if 0.0 <= v < float("inf") else 0.0


def _per_module(events: list[dict]) -> None:
    """Lake's -v: one line per module this build compiled — the strategy, why, the time."""
    for e in sorted(events, key=lambda e: str(e.get("module"))):
        how = "exploring" if e.get("explore") else "exploiting"
        if e.get("mode") == "shadow":
            how = f"shadow (would run {e.get('recommended')})"
        extra = "" if e.get("outcome") == "ok" else f", {e.get('outcome')}"
        note(f"  {e.get('module')}: {e.get('strategy')} ({e.get('context')}, {how}{extra}) {float(e.get('wall') or 0):.2f}s")
