"""`simpulse monitor`: watch compilations live, under a leaderboard that updates.

How it reads (docs/state-format.md): the leaderboard starts from `Store.load` (snapshot + the
log's tail) and the cursor `{gen, offset, seq}` it leaves; from then on only the bytes appended
to ``events.log`` after ``offset`` are read (`EventTail`), each new event is folded into the
statistics (`simpulse.learner.fold`), and an event is identified by its ``seq``: a seq already
shown is never shown again. When a compaction replaces the log (a new generation in its header),
the events the monitor had not read yet are in the newest segments: they are read from there
(seq > last shown), then the new log from its header. Changes are noticed by **watchdog** (an
observer on the state directory) and, as a safety net or when no observer can start, by polling
every ``--interval`` seconds.

Output: a rich ``Live`` view on a terminal; plain lines (one per compilation) when stdout is not
a terminal; one JSON object per line per new event with ``--json`` (docs/json/monitor.md).
"""

from __future__ import annotations

import collections
import json
import os
import sys
import threading
import time
from pathlib import Path

import typer

from simpulse.store.store import LOG_NAME
from simpulse.store.tail import EventTail
from simpulse.commands._common import (JSON_OPTION, STATE_DIR_OPTION, fmt_seconds, fmt_speedup,
                                       plural, state_dir)

DEFAULT_LAST = 12


# --------------------------------------------------------------------------- one event, as shown


def _level_seconds(stats: dict, ev: dict, folded: bool = False) -> float | None:
    """The module's estimated baseline time, in this compile's seconds, or None. `folded`: the
    statistics include `ev` already (`--once`): a level made of this compile alone is no
    estimate to compare it with, so it needs another compile of the module (None otherwise).

    The learner's level μ̂ is a cost under the objective the events were recorded with
    (docs/learning.md, "The objective"): with `objective = "build"` and a compile beside
    others, its CPU time's fair share, not its wall time. It is turned into wall seconds as the
    fold turns it for the counters: by this compile's wall time over its cost."""
    try:
        from simpulse.learner import module_level
        from simpulse.model.objective import event_cost
        from simpulse.model.records import module_record
        if not ev.get("module"):
            return None
        toolchain, module = str(ev.get("toolchain") or "unknown"), str(ev["module"])
        if folded:
            tc = stats["toolchains"].get(toolchain)
            rec = module_record(tc, module) if tc else None
            if not rec or sum(int(e[0]) for e in rec["s"].values()) < 2:
                return None
        level = module_level(stats, toolchain, module)
        if level is None:
            return None
        wall = float(ev["wall"])
        return level * wall / event_cost(ev, wall) if wall > 0 else level
    except Exception:  # noqa: BLE001 — a display nicety, never a reason to stop monitoring
        return None


def _beyond_clip(stats: dict, ev: dict, speedup: float) -> bool:
    """Is this compile slower than the model expects of it (the module's level and the
    strategy's effect in its context) by more than the fold lets a compile count, OUTLIER_CLIP
    noise deviations? Then its speedup says more about the level than about the strategy: an
    outlier (a busy machine), or a module whose baseline time is still being learned (one whose
    time its features predict badly climbs to it by a bounded step a compile; docs/learning.md,
    "Outliers"). `speedup`: the row's, the level over the compile (`_level_seconds` turns the
    cost-level into its seconds), so −log(speedup) is the compile's log-cost over the level."""
    try:
        import math
        from simpulse.model.contributions import _delta_hat
        from simpulse.model.levels import noise_var
        from simpulse.model.records import module_record
        from simpulse.model.tunables import OUTLIER_CLIP
        tc = stats["toolchains"].get(str(ev.get("toolchain") or "unknown"))
        mod = module_record(tc, str(ev.get("module"))) if tc else None
        if not mod:
            return False
        effect = _delta_hat(tc, mod.get("k", ev.get("context") or ""), str(ev.get("strategy")))
        return -math.log(speedup) - effect > OUTLIER_CLIP * math.sqrt(noise_var(tc))
    except Exception:  # noqa: BLE001 — a display nicety
        return False


def speedup_text(r: dict) -> str:
    """A row's speedup as shown: "—" when unknown, "?" after it beyond the clip (`_beyond_clip`)."""
    if not r["speedup"]:
        return "—"
    return fmt_speedup(r["speedup"]) + ("?" if r.get("outlier") else "")


OUTLIER_NOTE = ("?: slower than the model expects by more than a compile counts (2.5 σ): an outlier "
                "(a busy machine), or a module whose baseline time is still being learned")


def row(ev: dict, stats: dict, folded: bool = False) -> dict:
    """The monitor's view of one event (the `--json` line): see docs/json/monitor.md.
    `folded`: `stats` include the event already (`--once`)."""
    from simpulse.lake.messages import error_kind
    kind = ev.get("kind")
    wall = ev.get("wall")
    fb = ev.get("fallback_wall")
    outcome = ev.get("outcome", "ok") if kind in ("compile", "record") else None
    base = None
    if kind == "record" and ev.get("baseline_wall"):
        base = float(ev["baseline_wall"])
    elif kind == "compile" and outcome != "module_failed":
        base = _level_seconds(stats, ev, folded)
        if base is None and outcome == "strategy_failed" and fb:
            base = float(fb)
    speedup = None
    try:
        cost = float(wall) + float(fb or 0.0)
        if base and cost > 0:
            speedup = base / cost
    except (TypeError, ValueError):
        pass
    outlier = bool(speedup and kind == "compile" and outcome == "ok" and _beyond_clip(stats, ev, speedup))
    failed = outcome in ("strategy_failed", "module_failed")
    return {
        "seq": ev.get("seq"), "kind": kind, "ts": ev.get("ts"), "toolchain": ev.get("toolchain"),
        "module": ev.get("module"), "context": ev.get("context"), "strategy": ev.get("strategy"),
        "wall": wall, "explore": ev.get("explore"), "outcome": outcome,
        "error": ev.get("error") if failed else None,
        "error_kind": error_kind(ev.get("error")) if failed else None,
        "fallback_wall": fb, "baseline_estimate": base, "speedup": speedup, "outlier": outlier,
        "simulated": bool(ev.get("simulated")),
    }


def _outcome_text(r: dict, *, long: bool = True) -> str:
    if r["outcome"] == "strategy_failed":
        if not long:
            return f"✗ {r['error_kind']}"
        fb = f" {fmt_seconds(r['fallback_wall'])}" if r.get("fallback_wall") else ""
        return f"FAILED ({r['error_kind']}) → baseline{fb}"
    if r["outcome"] == "module_failed":
        return f"module broken ({r['error_kind']})"
    return r["outcome"] or r["kind"] or "?"


def _mode_text(r: dict) -> str:
    if r["kind"] != "compile":
        return r["kind"] or "?"
    return "explore" if r["explore"] else "exploit"


def line_text(r: dict) -> str:
    """One compilation as a plain line (stdout not a terminal)."""
    when = time.strftime("%H:%M:%S", time.localtime(r["ts"])) if r["ts"] else "--:--:--"
    speed = speedup_text(r)
    wall = fmt_seconds(r["wall"]) if isinstance(r["wall"], (int, float)) else "?"
    return (f"{when} #{r['seq']} {r['module']} [{r['context']}] {r['strategy']} {wall} {speed} "
            f"{_mode_text(r)} {_outcome_text(r)}")


# --------------------------------------------------------------------------- the view


class View:
    """The leaderboard (folded statistics) and the last compilations."""

    def __init__(self, learner, last: int):
        self.learner = learner
        self.rows: collections.deque = collections.deque(maxlen=max(1, last))
        self.seen = 0

    @property
    def stats(self) -> dict:
        return self.learner.stats

    def simulated(self) -> bool:
        tc = self.stats["toolchains"].get(self.learner.toolchain) or {}
        return bool(tc.get("simulated"))

    def add(self, ev: dict) -> dict:
        """Fold a new event and return its row (speedup against the level known before it)."""
        from simpulse.learner import fold
        r = row(ev, self.stats)
        fold(self.stats, ev)
        order = self.stats["order"]
        if order:
            self.learner.toolchain = order[-1]
        if r["kind"] in ("compile", "record"):
            self.rows.append(r)
            self.seen += 1
        return r

    def header(self, status: str = ""):
        from rich.text import Text
        c = self.stats["counters"]
        t = Text()
        t.append("simpulse monitor", style="bold")
        if self.stats["order"]:
            t.append(f" — toolchain {self.learner.toolchain[:12]}")
        if self.simulated():
            t.append(" (SIMULATED toolchain: simulated times)", style="yellow")
        t.append(f"\n{plural(c['compiles'], 'compilation')} · {c['explore']} exploring · "
                 f"{plural(c['strategy_failed'], 'strategy failure')} caught by fallback")
        if status:
            t.append(f"\n{status}", style="dim")
        return t

    def leaderboard(self):
        from simpulse.commands._common import Fitted
        from simpulse.stats.summary import leaderboard
        rows = leaderboard(self.learner)

        def build(dropped):
            from rich.table import Table
            table = Table(title="Leaderboard", title_justify="left", header_style="bold")
            cols = (("context", {"overflow": "fold"}), ("best", {"overflow": "fold"}),
                    ("speedup", {"justify": "right", "no_wrap": True}),
                    ("95% CI", {"justify": "right", "no_wrap": True}), ("pulls", {"justify": "right", "no_wrap": True}),
                    ("P(beats baseline)", {"justify": "right", "no_wrap": True}))
            for col, kw in cols:
                if col not in dropped:
                    table.add_column(col, **kw)
            for r in rows:
                ci = r["ci"]
                cells = {"context": r["context"],
                         "best": r["best"] + ("" if r["established"] or r["best"] == "baseline" else " ?"),
                         "speedup": fmt_speedup(r["speedup"]), "95% CI": f"{ci[0]:.2f}–{ci[1]:.2f}",
                         "pulls": str(r["pulls"]), "P(beats baseline)": f"{r['confidence']:.2f}"}
                table.add_row(*[v for k, v in cells.items() if k not in dropped])
            return table
        return Fitted(build, ("pulls",))

    def events_table(self):
        from simpulse.commands._common import Fitted
        rows = list(self.rows)

        def build(dropped):
            from rich import box
            from rich.table import Table
            table = Table(title=f"Last {plural(len(rows), 'compilation')}", title_justify="left",
                          header_style="bold", box=box.SIMPLE_HEAD, pad_edge=False, padding=(0, 1, 0, 0))
            # a narrow terminal loses the mode, then the context column; words never cut, numbers never wrap
            cols = (("module", {"overflow": "fold"}), ("context", {"no_wrap": True}),
                    ("strategy", {"no_wrap": True}), ("time", {"justify": "right", "no_wrap": True, "min_width": 5}),
                    ("speedup", {"justify": "right", "no_wrap": True, "min_width": 7}),
                    ("mode", {"no_wrap": True}), ("outcome", {"overflow": "fold"}))
            for col, kw in cols:
                if col not in dropped:
                    table.add_column(col, **kw)
            for r in rows:
                style = "red" if r["outcome"] == "strategy_failed" else "magenta" if r["outcome"] == "module_failed" else None
                cells = {"module": str(r["module"]), "context": str(r["context"]), "strategy": str(r["strategy"]),
                         "time": fmt_seconds(r["wall"]) if isinstance(r["wall"], (int, float)) else "?",
                         "speedup": speedup_text(r),
                         "mode": _mode_text(r), "outcome": _outcome_text(r, long=False)}
                table.add_row(*[v for k, v in cells.items() if k not in dropped], style=style)
            if any(r.get("outlier") for r in rows):
                table.caption, table.caption_justify = OUTLIER_NOTE, "left"
            return table
        return Fitted(build, ("mode", "context"))

    def renderable(self, status: str = ""):
        from rich.console import Group
        parts = [self.header(status)]
        if self.learner.contexts():
            parts.append(self.leaderboard())
        if self.rows:
            parts.append(self.events_table())
        elif not self.stats["counters"]["compiles"] and not self.stats["order"]:
            parts.append("  no compilations recorded yet (run `simpulse build`)")
        return Group(*parts)


# --------------------------------------------------------------------------- watching


# Changes that can mean new events. Not "opened" / "closed_no_write": the monitor's own reads
# of events.log produce those, and reacting to them would wake the loop forever.
WAKING_EVENTS = frozenset({"modified", "created", "moved", "closed"})


def wakes(event) -> bool:
    """Whether a watchdog event is a change of events.log (appended, created or replaced)."""
    if getattr(event, "event_type", None) not in WAKING_EVENTS:
        return False
    for p in (getattr(event, "src_path", ""), getattr(event, "dest_path", "")):
        if isinstance(p, bytes):
            p = os.fsdecode(p)
        if p and os.path.basename(p) == LOG_NAME:
            return True
    return False


class Waker:
    """Wakes the main loop when events.log changes: a watchdog observer, or nothing (polling)."""

    def __init__(self, sdir: Path, *, use_watchdog: bool = True):
        self.event = threading.Event()
        self.observer = None
        self.how = "polling"
        self.why = "" if use_watchdog else "--poll"
        if use_watchdog:
            self._start(sdir)

    def _start(self, sdir: Path) -> None:
        try:
            from watchdog.events import FileSystemEventHandler
            from watchdog.observers import Observer
        except ImportError as e:  # pragma: no cover — watchdog is a dependency
            self.why = f"watchdog unavailable ({e})"
            return
        wake = self.event

        class Handler(FileSystemEventHandler):
            def on_any_event(self, event):  # noqa: D401 — watchdog callback
                if wakes(event):
                    wake.set()

        try:
            obs = Observer()
            obs.daemon = True
            try:
                from watchdog.events import FileClosedEvent, FileCreatedEvent, FileModifiedEvent, FileMovedEvent
                obs.schedule(Handler(), os.fspath(sdir), recursive=False,
                             event_filter=[FileModifiedEvent, FileCreatedEvent, FileMovedEvent, FileClosedEvent])
            except (ImportError, TypeError):   # an older watchdog without event filters
                obs.schedule(Handler(), os.fspath(sdir), recursive=False)
            obs.start()
        except Exception as e:  # noqa: BLE001 — inotify limits, unsupported filesystem, ...
            self.why = f"no file-system observer ({type(e).__name__}: {e})"
            return
        self.observer = obs
        self.how = f"watchdog ({type(obs).__name__})"

    def wait(self, timeout: float) -> None:
        self.event.wait(timeout)
        self.event.clear()

    def stop(self) -> None:
        if self.observer is not None:
            try:
                self.observer.stop()
                self.observer.join(timeout=1.0)
            except Exception:  # noqa: BLE001
                pass


def _ready(msg: str) -> None:
    sys.stderr.write(f"simpulse monitor: {msg}\n")
    sys.stderr.flush()


def _emit_json(r: dict) -> None:
    sys.stdout.write(json.dumps(r, sort_keys=True, default=str) + "\n")
    sys.stdout.flush()


def monitor(
    state: Path | None = STATE_DIR_OPTION,
    as_json: bool = JSON_OPTION,
    once: bool = typer.Option(False, "--once", help="Print the current leaderboard and the last compilations, then exit."),
    interval: float = typer.Option(0.25, "--interval", min=0.02,
                                   help="Seconds between polls (a safety net when watchdog reports changes)."),
    last: int = typer.Option(DEFAULT_LAST, "--last", min=0, help="How many recent compilations to show."),
    poll: bool = typer.Option(False, "--poll", help="Do not use a file-system observer: poll only."),
):
    """Watch compilations live under an updating leaderboard (Ctrl-C to stop)."""
    import signal

    stopping: list[bool] = []

    def _stop(_signum, _frame):
        # `kill` ends it like Ctrl-C; only the first signal interrupts, so that a second one
        # cannot break the clean-up the first one started
        if not stopping:
            stopping.append(True)
            raise KeyboardInterrupt

    try:
        signal.signal(signal.SIGTERM, _stop)
    except ValueError:                         # not the main thread (embedded use)
        pass
    try:
        _monitor(state, as_json, once, interval, last, poll)
    except KeyboardInterrupt:
        pass  # Ctrl-C is how a monitor ends: exit 0, no traceback
    except Exception:
        # a stop request lands wherever the monitor is, e.g. starting or stopping the file-system
        # observer's thread, whose code then fails in its own way: the monitor was asked to end,
        # and it ends, exit 0
        if not stopping:
            raise


def _wait_for_dir(sdir: Path, interval: float) -> None:
    if sdir.is_dir():
        return
    _ready(f"waiting for {sdir} to be created (run `simpulse build`; Ctrl-C to stop)")
    while not sdir.is_dir():
        time.sleep(max(interval, 0.1))


def _monitor(state, as_json, once, interval, last, poll) -> None:
    from simpulse.commands._common import learner as make_learner
    sdir = state_dir(state, must_exist=False)
    if once or not sdir.parent.is_dir():
        sdir = state_dir(state)  # --once on a missing state: the usual one-line error, exit 2
    else:
        _wait_for_dir(sdir, interval)
    lrn = make_learner(sdir)
    cur = lrn.store.cursor or {"gen": None, "offset": 0, "seq": 0}
    tail = EventTail(sdir, gen=cur["gen"], offset=cur["offset"], seq=cur["seq"], store=lrn.store)
    view = View(lrn, last)
    stats = lrn.stats
    recent = tail.recent(last) if last else []
    recent_rows = [row(ev, stats, folded=True) for ev in recent]
    for r in recent_rows:
        if r["kind"] in ("compile", "record"):
            view.rows.append(r)

    if once:
        if as_json:
            for r in recent_rows:
                _emit_json(r)
            return
        from rich.console import Console
        Console().print(view.renderable())
        return

    waker = Waker(sdir, use_watchdog=not poll)
    how = waker.how + (f"; {waker.why}" if waker.why else "")
    try:
        if as_json:
            _ready(f"watching {sdir} ({how}, poll every {interval:g}s); one JSON object per new event")
            while True:
                for ev in tail.poll():
                    _emit_json(view.add(ev))
                waker.wait(interval)
        from rich.console import Console
        console = Console()
        status = f"watching {sdir} ({how}) — Ctrl-C to stop"
        if not console.is_terminal:
            console.print(view.renderable())
            _ready(f"watching {sdir} ({how}, poll every {interval:g}s)")
            while True:
                for ev in tail.poll():
                    r = view.add(ev)
                    if r["kind"] in ("compile", "record"):
                        sys.stdout.write(line_text(r) + "\n")
                        sys.stdout.flush()
                waker.wait(interval)
        from rich.live import Live
        with Live(view.renderable(status), console=console, auto_refresh=False) as live:
            _ready(f"watching {sdir} ({how}, poll every {interval:g}s)")
            while True:
                new = tail.poll()
                if new:
                    for ev in new:
                        view.add(ev)
                    live.update(view.renderable(status), refresh=True)
                waker.wait(interval)
    finally:
        waker.stop()


def register(app) -> None:
    app.command("monitor")(monitor)
