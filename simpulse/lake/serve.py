"""Decisions served by `simpulse build` (config `serve`, on by default; `simpulse.shim.served`).

Every compile's shim otherwise imports the learner, loads the statistics (through
snapshot.view), builds its context's similarity index and decides: at Mathlib's size most of
what a compile costs above the exec-only floor (docs/benchmarks.md, "Store at scale").
`simpulse build` waits on Lake for the whole build; with `serve` on, it loads the statistics
once, keeps them (and the similarity index) current with every compile it records, and
answers the shims on a Unix socket in a private directory (0700, made for this build).

One connection per compile: the shim's request, the decision (`shim.main.decide`, the same code
the shim runs, on the statistics in memory) — after which, while lean runs, the compile's
invocation is kept for `simpulse verify` — then the outcome, recorded with `Learner.observe`
(appended to the event log as the shim would append it, and folded). The shim does not wait
for the record (its compile's job ends sooner); `close` waits until every connection has
given its outcome or ended, so a build's summary, which follows it, sees every compile; a
record that fails is logged (`<state>/simpulse.log`). Decisions and records take one lock (a
decision that waits for it more than BUSY seconds is refused); lean runs outside it. A shim that gets no decision decides
for itself (`shim/main._prepare`): its compile is appended to the log, and folded here before
the next decision (`_Shared.catch_up`: the log's last seq is read on every decision).
"""

from __future__ import annotations

import os
import shutil
import socket
import tempfile
import threading
import time
from typing import Any

from simpulse import _fastjson as json
from simpulse.shim.served import message

SOCKET_NAME = "decide.sock"
PREFIX = "simpulse-serve-"   # the socket directory's name: PREFIX + random
PID_NAME = "build.pid"       # in it: the pid of the `simpulse build` serving
MAX_PATH = 100   # bytes of a Unix socket's path (sun_path: 108 on Linux, 104 on macOS, with its NUL)
BUSY = 2.0       # seconds a decision waits for the lock; past it the shim decides for itself
DRAIN = 30.0     # seconds `close` waits for the outcomes of compiles still connected
# decisions served before `_warm` ranks every module's neighbours at once: it costs the build
# ~0.3 s of CPU at 6,000 modules (a thread beside the server's, under the same GIL), and saves
# ~1 ms a decision, so an edit that rebuilds a handful of modules is better off without it
WARM_AFTER = 16


class _Shared:
    """The statistics decisions are made on: loaded once, kept current by every record."""

    def __init__(self, store: Any, stats: dict) -> None:
        """`stats` as `store.load` left them: its cursor says how far they reach."""
        self.store, self.stats, self.index = store, stats, None
        cur = store.cursor or {}
        self.seq = int(cur.get("seq") or 0)       # every event up to this seq is folded in
        # where `catch_up` read the log to: {"gen", "offset"} (`Store.iter_events`' mark), first
        # the load's cursor (the server loaded the statistics through this log's end)
        self.mark: dict[str, Any] | None = {"gen": cur["gen"], "offset": cur["offset"]} if cur.get("gen") else None
        self.ahead: set[int] = set()      # ... and these past it (recorded here, out of turn)

    def recorded(self, seq: Any) -> None:
        """An event this server appended and folded (`Learner.observe`) got `seq`."""
        if not isinstance(seq, int):
            return
        if seq == self.seq + 1:
            self.seq = seq
        elif seq > self.seq:
            self.ahead.add(seq)

    def catch_up(self) -> int:
        """Fold the events other processes appended since (a shim that decided for itself: no
        answer within its timeout, or a server that refused it), in seq order, so that later
        decisions see every compile of the build. The similarity index is kept current as a
        served record keeps it (`similar.Index.update`, the module's entry only: `_refit`);
        an event of another kind (an import, a reset) drops it, rebuilt on the next decision.
        The number folded."""
        last = self.store.last_seq()
        if last <= self.seq:
            return 0
        folded, done = 0, self.seq        # every event up to `done` handled (a read that fails
        touched: list[tuple[str, str, str]] | None = []      # half-way does not fold them again)
        try:
            if not all(s in self.ahead for s in range(self.seq + 1, last + 1)):
                from simpulse.learner import fold
                for ev in self.store.iter_events(after=self.seq, mark=self.mark):
                    s = ev.get("seq")
                    if s not in self.ahead:
                        self.stats = self.store._fold(fold, self.stats, ev)    # (one it rejects: skipped, as a load skips it)
                        folded += 1
                        touched = _touched(touched, ev)
                    if isinstance(s, int) and s > done:
                        done = s          # (past `last`: appended while this read, folded now, not again)
            done = max(done, last)
            self.mark = self.store.read_mark
        finally:
            self.seq = done
            self.ahead = {s for s in self.ahead if s > done}
            if folded:
                self._refit(touched)
        return folded

    def _refit(self, touched: list[tuple[str, str, str]] | None) -> None:
        """The similarity index after `catch_up` folded events: each compiled module's entry
        updated, as `Learner.observe` updates it after a served record (`similar.observed`);
        dropped where an event of another kind was folded (None), or an update fails."""
        index = self.index
        if index is None:
            return
        if touched is None:
            self.index = None
            return
        try:
            from simpulse.model.records import module_record
            for toolchain, ctx, module in touched:
                tc = self.stats["toolchains"].get(toolchain)
                if tc is not None:
                    index.update(tc, self.stats, toolchain, ctx, module, module_record)
        except Exception:  # noqa: BLE001 - rebuilt on the next decision instead
            self.index = None


def _touched(touched: list[tuple[str, str, str]] | None, ev: dict[str, Any]) -> list[tuple[str, str, str]] | None:
    """`catch_up`'s list of (toolchain, context, module) whose index entry a folded event may
    change, read from it as `fold` reads them; None (the index must be rebuilt) from an event
    of another kind on (an import's or a reset's fold reaches beyond one module)."""
    if touched is None or ev.get("kind") not in ("compile", "record", "bench"):
        return None
    if "context" in ev:                   # (`fold` skips one without)
        touched.append((str(ev.get("toolchain") or "unknown"), str(ev["context"]),
                        str(ev.get("module") or ev.get("path") or "?")))
    return touched


def _sweep(base: str) -> None:
    """Remove the socket directories in `base` that builds killed outright (SIGKILL: no `close`)
    left: ours (this user's, prefixed, holding PID_NAME), whose build process is gone. Best effort."""
    try:
        names = [n for n in os.listdir(base) if n.startswith(PREFIX)]
    except OSError:
        return
    uid = os.getuid()
    for name in names:
        d = os.path.join(base, name)
        try:
            if os.lstat(d).st_uid != uid:
                continue
            with open(os.path.join(d, PID_NAME), "rb") as f:
                pid = int(f.read(32))
            os.kill(pid, 0)
        except ProcessLookupError:
            shutil.rmtree(d, ignore_errors=True)
        except (OSError, ValueError):
            continue          # not a server's directory, or its build is still running


def _listen() -> tuple[str, str, socket.socket]:
    """(a private directory, the socket's path in it, the listening socket): in the temporary
    directory, or in /tmp where that one's path is too long for a socket (~100 bytes). Raises
    OSError when neither will do; nothing is left behind. The directory holds the build's pid
    (PID_NAME), by which a later build sweeps it away if this one is killed outright."""
    for base in dict.fromkeys((tempfile.gettempdir(), "/tmp")):
        _sweep(base)
        d = tempfile.mkdtemp(prefix=PREFIX, dir=base)         # 0700
        path = os.path.join(d, SOCKET_NAME)
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            if len(os.fsencode(path)) > MAX_PATH:
                raise OSError(f"socket path too long: {path}")
            with open(os.path.join(d, PID_NAME), "w") as f:
                f.write(str(os.getpid()))
            sock.bind(path)
            os.chmod(path, 0o600)
            sock.listen(256)
            return d, path, sock
        except OSError as e:
            sock.close()
            shutil.rmtree(d, ignore_errors=True)
            last = e
    raise last


class DecisionServer:
    """The build's decision server: `path` is the socket the shims connect to (the settings'
    ``serve``); `close` ends it. Started before Lake, closed after it."""

    def __init__(self, cfg: dict[str, Any]) -> None:
        self.cfg = cfg
        self.lock = threading.Lock()
        self.dir, self.path, self.sock = _listen()
        self.shared: _Shared | None = None
        self.served = self.recorded = self.failed = 0
        self.caught_up = 0                   # events of shims that decided for themselves, folded here
        self.decide_s: list[float] = []      # each decision's time in the server (benchmarks) ...
        self.catch_up_s: list[float] = []    # ... of which reading and folding others' events (`catch_up`)
        self.observe_s: list[float] = []     # ... and each record's
        self.warming = False
        self.warmed: int | None = None       # modules whose neighbours `_warm` ranked (tests)
        self.handlers: set[threading.Thread] = set()   # connections not ended yet (`close` waits for them)
        self.lock_handlers = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def prepare(self) -> None:
        """Load the statistics (`_shared`) in a thread now, while Lake starts and checks its
        traces, rather than in the first compile's decision: a rebuild of a few modules waits
        on a chain of compiles, the first of which would wait for the load. Best effort: a load
        that fails here is tried again by the first decision."""
        def load() -> None:
            try:
                with self.lock:
                    # read-only (no checkpoint): a no-op build may end, and this daemon thread
                    # with it, before the load does; the build's own load at its end checkpoints
                    self._shared(checkpoint=False)
                    import simpulse.shim.main  # noqa: F401 - what the first decision imports
            except Exception:  # noqa: BLE001 - the first decision loads, and reports, instead
                pass
        threading.Thread(target=load, daemon=True).start()

    def _shared(self, checkpoint: bool = True) -> _Shared:
        """The statistics, loaded in full once (`prepare`, or the first decision)."""
        if self.shared is None:
            from simpulse.learner import empty_stats, fold, validate_stats
            from simpulse.store.store import Store
            store = Store(self.cfg["state_dir"], create=False, fsync=self.cfg.get("fsync", False))
            from simpulse.shim.main import _inject_faults
            _inject_faults(store)         # (tests: the faults the shim's own store would meet)
            from simpulse.store.codec import AUTO
            stats, _ = store.load(fold, empty_stats(), validate=validate_stats,
                                  checkpoint_after=AUTO if checkpoint else None)
            self.shared = _Shared(store, stats)
        return self.shared

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return                    # closed
            t = threading.Thread(target=self._serve, args=(conn,), daemon=True)
            with self.lock_handlers:
                self.handlers.add(t)
            t.start()

    def _serve(self, conn: socket.socket) -> None:
        try:
            self._serve_one(conn)
        finally:
            with self.lock_handlers:
                self.handlers.discard(threading.current_thread())

    def _serve_one(self, conn: socket.socket) -> None:
        with conn:
            try:
                f = conn.makefile("rb")
                request = json.loads(f.readline())
                if not self.lock.acquire(timeout=BUSY):
                    raise TimeoutError(f"busy for {BUSY} s (the statistics still loading?)")
                try:
                    t0 = time.perf_counter()
                    learner, decision = self._decide(request)
                    if len(self.decide_s) < 100_000:
                        self.decide_s.append(time.perf_counter() - t0)
                    self.served += 1
                finally:
                    self.lock.release()
                if not self.warming and self.served >= WARM_AFTER:
                    self.warming = True
                    threading.Thread(target=self._warm, daemon=True).start()
                reply = {"strategy": decision.strategy.name, "context": decision.context,
                         "source_hash": decision.source_hash, "reason": decision.reason,
                         "explore": bool(decision.explore)}
                conn.sendall(message(reply))
            except Exception as e:  # noqa: BLE001 - the shim decides for itself
                self._answer(conn, {"error": f"{type(e).__name__}: {e}"})
                return
            self._remember(request, decision)     # while lean runs
            ack = False
            try:
                line = f.readline()           # after lean has run: minutes, perhaps
                if not line:
                    return                    # the shim ended without an outcome (a cut-short compile)
                outcome = json.loads(line)
                ack = bool(outcome.pop("_ack", False))
                with self.lock:
                    t0 = time.perf_counter()
                    event = learner.observe(decision, **outcome)
                    if self.shared is not None:
                        self.shared.recorded(event.get("seq"))
                    if len(self.observe_s) < 100_000:
                        self.observe_s.append(time.perf_counter() - t0)
                    self.recorded += 1
                if ack:
                    conn.sendall(b"ok\n")
            except Exception as e:  # noqa: BLE001 - logged here (the shim no longer waits to log it)
                self.failed += 1
                from simpulse.shim.main import UNRECORDED, log
                log(self.cfg.get("state_dir"), f"{UNRECORDED} {decision.module}: "
                                               f"{type(e).__name__}: {e}", who="build")
                if ack:
                    self._answer(conn, {"error": f"{type(e).__name__}: {e}"})

    def _remember(self, request: dict[str, Any], decision: Any) -> None:
        """Keep the compile's invocation for `simpulse verify`, as the shim would (best effort)."""
        inv = request.get("invocation")
        if not isinstance(inv, dict):
            return
        try:
            from simpulse.store import invocations
            invocations.remember(self.cfg["state_dir"], decision.module, argv=list(inv["argv"]), cwd=inv.get("cwd"),
                                 lean_path=inv.get("lean_path"), source_path=inv.get("source_path"),
                                 source_hash=decision.source_hash, toolchain=self.cfg.get("toolchain", "unknown"))
        except Exception:  # noqa: BLE001 - never a reason to lose the compile's record
            pass

    def _warm(self) -> None:
        """After WARM_AFTER decisions: every module's neighbours ranked at once (numpy:
        `neighbours.closest_many`, the lists `Index.nearest` would give one by one), off the
        lock, and cached where its context has not changed since — so that a decision finds its
        module's neighbours ranked (~1 ms less each at 1,000 modules a context). Best effort."""
        try:
            from simpulse.model.neighbours import closest_many
            from simpulse.model.records import module_record
            from simpulse.model.similar import Index
            toolchain = self.cfg.get("toolchain", "unknown")
            with self.lock:
                shared = self._shared()
                if shared.index is None:
                    shared.index = Index()
                index = shared.index
                tc = shared.stats["toolchains"].get(toolchain)
                work = []
                for ctx in sorted((tc or {}).get("arms", {})):
                    table = index.context(tc, shared.stats, toolchain, ctx, module_record)
                    work.append((ctx, index.version.get(ctx, 0), list(Index.signatures(table))))
            done = 0
            for ctx, version, every in work:
                sigs = dict(every)
                ranked = closest_many(sigs, every)
                with self.lock:          # (a module joined or left since: not kept, ranked as asked)
                    if shared.index is index:
                        done += index.cache(ctx, version, sigs, ranked)
            self.warmed = done
        except Exception:  # noqa: BLE001 - a head start, never worth a failure
            self.warmed = -1

    def _decide(self, request: dict[str, Any]) -> tuple[Any, Any]:
        from simpulse.shim.main import catalogue_for, decide
        catalogue = catalogue_for(self.cfg, bool(request["strict"]), dict(request["excluded"]))
        shared = self._shared()
        t0 = time.perf_counter()
        self.caught_up += shared.catch_up()
        if len(self.catch_up_s) < 100_000:
            self.catch_up_s.append(time.perf_counter() - t0)
        closure = request.get("closure")
        return decide(self.cfg, str(request["module"]), str(request["source_path"]), str(request["path"]),
                      catalogue, shared=shared,
                      closure=closure if type(closure) is int and closure >= 0 else None)

    @staticmethod
    def _answer(conn: socket.socket, doc: dict[str, Any]) -> None:
        try:
            conn.sendall(message(doc))
        except OSError:
            pass

    def close(self, drain: float = DRAIN) -> None:
        """Stop answering, and wait (at most `drain` seconds) until every connection has given
        its outcome or ended: after Lake, every shim has ended, so what one sent is read and
        recorded here, not lost with the process."""
        try:
            self.sock.close()
            deadline = time.monotonic() + drain
            while True:
                with self.lock_handlers:
                    left = [t for t in self.handlers if t.is_alive()]
                if not left or time.monotonic() >= deadline:
                    break
                left[0].join(max(0.0, min(1.0, deadline - time.monotonic())))
        finally:
            shutil.rmtree(self.dir, ignore_errors=True)
