"""`simpulse report`: how learning evolved — regret, time saved, confidence, milestones.

The numbers come from `simpulse.stats.history.history` (the event log replayed through the
learner); this module renders them: rich tables with unicode sparklines in the terminal, or
ONE self-contained HTML file with inline SVG charts (no network, no JavaScript, no external
CSS) with ``--html FILE`` (`simpulse.commands._report_html`). JSON shape: docs/json/report.md.

An empty state (a state directory without compilations) is not an error: the report says so
and exits 0 (``--html`` still writes a page saying so). A missing state directory is an error
(exit 2), as for every read command.
"""

from __future__ import annotations

import math
import time
from pathlib import Path

import typer

from simpulse.commands._common import (JSON_OPTION, STATE_DIR_OPTION, fit_table, fmt_seconds, print_json,
                                       progress_bar, state_dir)

BLOCKS = "▁▂▃▄▅▆▇█"
SPARK_WIDTH = 32
CONTEXT_SPARK_WIDTH = 16
EMPTY_MESSAGE = "no compilations recorded yet in {dir} (run `simpulse build` first)"


# --------------------------------------------------------------------------- data


CACHE_NAME = "report.cache"


def _catalogue_key(catalogue) -> str:
    """What the replay's posteriors depend on besides the events: the active strategies."""
    import hashlib
    import json
    active = [] if catalogue is None else [s.to_json() for s in catalogue.active]
    return hashlib.sha256(json.dumps(active, sort_keys=True, default=str).encode()).hexdigest()[:16]


def _read_cache(sdir: Path, key: str, catalogue, store):
    """The replay kept by the last report (`Replay.to_json`), if it was made with this catalogue
    and the log still continues it (its last event is still there, or was archived and deleted
    by retention; no seq went backwards); None otherwise: replay everything."""
    import json
    from simpulse.stats.history import Replay
    from simpulse.store.safe_open import read_file
    try:
        doc = json.loads(read_file(sdir / CACHE_NAME))
        if doc.get("key") != key:
            return None
        replay = Replay.from_json(doc["replay"], catalogue)
        last = doc["last"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if last is not None:
        if any(first <= last["seq"] <= end for first, end, _ in store._segments()):
            return replay      # archived since (not decompressed again to look: a segment is big)
        seen = next(iter(store.iter_events(after=last["seq"] - 1, include_segments=False)), None)
        if seen is None and store._max_known_seq() < last["seq"]:
            return None        # fewer events than it saw: another history (a state rebuilt)
        if seen is not None and seen["seq"] == last["seq"] and seen.get("id") != last["id"]:
            return None        # another history under the same seqs: start over
        # (seen past it: retention deleted the segment it was in, which its replay covers)
    return replay


def _write_cache(sdir: Path, key: str, replay, last) -> None:
    import json
    from simpulse.store.atomic import write_atomic
    try:
        write_atomic(sdir / CACHE_NAME, json.dumps({"key": key, "last": last, "replay": replay.to_json()},
                                                   separators=(",", ":")).encode())
    except (OSError, TypeError, ValueError):
        pass               # best effort: the next report replays more


BATCH = 20_000      # events read at a time under the store's shared compaction lock (~50 MB of events)


def _batches(store, after: int):
    """The events after seq `after`, as (a list of at most BATCH events, whether more may follow).
    Each list is read under the store's shared compaction lock (`Store.iter_events`), released
    before it is replayed: a long replay (a first report: minutes at 10^6 events) does not hold
    up the compaction that ends `simpulse build`. Compacted in between, the events after the
    last one replayed are still there (a segment, or the new log), with their seqs."""
    from itertools import islice
    while True:
        it = store.iter_events(after=after)
        try:
            batch = list(islice(it, BATCH))
        finally:
            it.close()                  # releases the lock
        if not batch:
            return
        more = len(batch) == BATCH
        yield batch, more
        if not more:
            return
        after = batch[-1]["seq"]


REFRESH_BACKLOG = 1_000     # events a report would replay (~0.5 s) before a running build refreshes the cache
END_BACKLOG = 200           # ... before a build that ends does
REFRESH_EVERY = 30.0        # seconds between two looks at the backlog while Lake runs
LOCK_NAME = "report.lock"   # held by whoever replays into report.cache
LOCK_WAIT = 120.0           # seconds a report waits for a replay under way before it replays itself


def cached_seq(sdir: Path) -> int:
    """The seq of the last event `report.cache` covers, 0 when there is none: read from the
    file's head (`_write_cache` writes "last" before the replay, which may be megabytes)."""
    import json
    try:
        with open(sdir / CACHE_NAME, "rb") as f:
            head = f.read(4096)
        at = head.index(b'"last":') + len(b'"last":')
        last, _ = json.JSONDecoder().raw_decode(head[at:].decode("utf-8", "replace"))
    except (OSError, ValueError):
        return 0
    return last["seq"] if isinstance(last, dict) and type(last.get("seq")) is int else 0


REFRESH_CODE = ("import os, sys\nos.nice(19)\nfrom pathlib import Path\n"
                "from simpulse.commands.report import refresh\nrefresh(Path(sys.argv[1]))\n")


def _hold(sdir: Path, wait: float):
    """The replay lock (`LOCK_NAME`), held, waiting at most `wait` seconds for it: a report
    waits for a replay under way and then reads what it cached, rather than doing the same
    replay beside it. None when it is still busy then, or cannot be taken (a read-only state
    directory): the caller replays without it (two replays write the same cache; nothing is
    lost, the later one is kept)."""
    from simpulse.errors import SimpulseError
    from simpulse.store.file_lock import FileLock, LockTimeout
    held = FileLock(sdir / LOCK_NAME, blocking=wait > 0, timeout=wait if wait > 0 else None)
    try:
        return held if held.acquire() else None
    except (OSError, LockTimeout, SimpulseError):
        return None


def refresh(sdir: Path) -> bool:
    """Replay the events recorded since report.cache into it, unless a replay is under way
    already (True when this one ran): what a build's background refresh runs."""
    held = _hold(sdir, 0)
    if held is None:
        return False
    try:
        load_history(sdir, _held=True)
    finally:
        held.release()
    return True


def refresh_in_background(sdir: Path, *, backlog: int = REFRESH_BACKLOG) -> bool:
    """When a report would replay `backlog` events or more, start that replay now in a detached
    process at the lowest priority (its output and errors discarded; `refresh`: it does nothing
    while another replay is under way), so that the next `simpulse report` reads the cache it
    leaves: `simpulse build` calls this every REFRESH_EVERY seconds while Lake runs, and as it
    ends with END_BACKLOG. True when one was started. Never raises."""
    try:
        from simpulse.store.store import Store
        if Store(sdir, create=False).last_seq() - cached_seq(sdir) < backlog:
            return False
        import subprocess
        import sys
        subprocess.Popen([sys.executable, "-c", REFRESH_CODE, str(sdir)], stdin=subprocess.DEVNULL,
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        return True
    except Exception:  # noqa: BLE001 - a head start for the next report, never worth a failure
        return False


PROGRESS_STEP = 1_000       # events replayed between two calls of load_history's `progress`


def load_history(sdir: Path, every: int | None = None, progress=None, *, _held: bool = False) -> dict:
    """The history's data. The replay is incremental: `report.cache` in the state directory keeps
    the replay of the events seen by the last report (`simpulse.stats.history.Replay`), and only
    the events recorded since are replayed; with `every` (``--every``), everything is.
    `progress(done, total)`, if given, is called before the replay and every PROGRESS_STEP
    events (total: the events recorded after the cache, by seq; an estimate when some were
    lost). The cached replay is done under the replay lock (`_hold`; `_held`: taken already)."""
    if every is not None or _held:
        return _load_history(sdir, every, progress)
    held = _hold(sdir, LOCK_WAIT)
    try:
        return _load_history(sdir, every, progress)
    finally:
        if held is not None:
            held.release()


def _load_history(sdir: Path, every: int | None, progress) -> dict:
    from simpulse.commands._common import config
    from simpulse.errors import SimpulseError
    from simpulse.stats.history import Replay
    from simpulse.store.store import Store, StoreError
    catalogue = None
    try:
        from simpulse.config import catalogue_for
        catalogue = catalogue_for(config(), sdir)
    except SimpulseError:
        catalogue = None
    key = _catalogue_key(catalogue)
    try:
        store = Store(sdir, create=False)
        replay = _read_cache(sdir, key, catalogue, store) if every is None else None
        fresh = replay is None
        if replay is None:
            replay = Replay(catalogue, every)
        last = None
        total = done = 0
        if progress is not None:
            total = max(0, store.last_seq() - replay.last_seq)
            progress(0, total)
        for batch, more in _batches(store, replay.last_seq):
            for ev in batch:
                replay.feed(ev)
                done += 1
                if progress is not None and done % PROGRESS_STEP == 0:
                    progress(done, max(total, done))
            last = batch[-1]
            if more and every is None:
                # a long replay (a first report) keeps what it did: interrupted, the next resumes
                _write_cache(sdir, key, replay, {"seq": last["seq"], "id": last.get("id")})
    except StoreError as e:
        raise SimpulseError(str(e)) from None
    data = replay.result()
    if every is None and (last is not None or fresh):
        _write_cache(sdir, key, replay, {"seq": last["seq"], "id": last.get("id")} if last else None)
    data["state_dir"] = str(sdir)
    data["generated"] = time.time()
    data["empty"] = data["compiles"] == 0
    return data


# --------------------------------------------------------------------------- sparklines


def _resample(values: list[float], width: int) -> list[float]:
    """At most `width` values: the mean of each of `width` equal slices."""
    n = len(values)
    if n <= width:
        return list(values)
    out = []
    for i in range(width):
        a, b = i * n // width, (i + 1) * n // width
        chunk = values[a:max(b, a + 1)]
        out.append(sum(chunk) / len(chunk))
    return out


def sparkline(values: list[float], width: int = SPARK_WIDTH, lo: float | None = None,
              hi: float | None = None) -> str:
    """Unicode block sparkline of `values` (resampled to at most `width` characters)."""
    vals = [v for v in _resample([float(v) for v in values], width) if math.isfinite(v)]
    if not vals:
        return ""
    lo = min(vals) if lo is None else lo
    hi = max(vals) if hi is None else hi
    if hi - lo < 1e-12:
        return BLOCKS[0] * len(vals)
    top = len(BLOCKS) - 1
    return "".join(BLOCKS[max(0, min(top, round((v - lo) / (hi - lo) * top)))] for v in vals)


# --------------------------------------------------------------------------- terminal


def _when(ts) -> str:
    return time.strftime("%Y-%m-%d %H:%M", time.localtime(ts)) if ts else "?"


def render(data: dict, console=None) -> None:
    from rich.console import Console
    from rich.table import Table

    console = console or Console()
    label = " (SIMULATED toolchain: simulated times)" if data["simulated"] else ""
    tc = (data["toolchain"] or "?")[:12]
    console.print(f"[bold]simpulse report[/bold] — toolchain {tc}{label}")
    if data["empty"]:
        console.print("  " + EMPTY_MESSAGE.format(dir=data["state_dir"]), highlight=False)
        return
    series = data["series"]
    final = data["final"]
    console.print(f"  {data['compiles']} compilations replayed from the event log "
                  f"(sampled every {data['every']} compile{'s' if data['every'] != 1 else ''}; "
                  f"{len(series)} points)")

    t = Table(title=f"Learning over compilations 1 → {data['compiles']}", title_justify="left",
              header_style="bold")
    t.add_column("series")
    t.add_column("evolution", no_wrap=True)
    t.add_column("now", justify="right")
    col = lambda k: [p[k] for p in series]  # noqa: E731
    w = SPARK_WIDTH
    t.add_row("regret / compile", sparkline(col("regret_per_compile"), w, lo=0.0),
              fmt_seconds(final["regret_per_compile"]))
    t.add_row("regret, total", sparkline(col("regret_seconds"), w, lo=0.0), fmt_seconds(final["regret_seconds"]))
    t.add_row("time saved", sparkline(col("saved_seconds"), w), fmt_seconds(final["saved_seconds"]))
    t.add_row("share saved", sparkline(col("saved_fraction"), w), f"{final['saved_fraction']:.1%}")
    t.add_row("failures caught", sparkline(col("failures"), w, lo=0.0), str(final["failures"]))
    t.add_row("exploring", sparkline(col("explore_share"), w, lo=0.0, hi=1.0), f"{final['explore_share']:.0%}")
    console.print(t)
    lo, hi = final["saved_ci"]
    console.print(f"  time saved against baseline: [bold]{fmt_seconds(final['saved_seconds'])}[/bold] "
                  f"(95% CI {fmt_seconds(lo)} … {fmt_seconds(hi)}), {final['saved_fraction']:.1%} "
                  "of the estimated baseline time")

    confident_at = {}
    for m in data["milestones"]:
        if m["kind"] == "first_confident":
            confident_at.setdefault(m["context"], m["compiles"])
    def per_context(dropped):
        c = Table(title="Per context: the leading strategy and its 95% interval", title_justify="left",
                  header_style="bold")
        cols = (("context", {"overflow": "fold"}), ("pulls", {"justify": "right", "no_wrap": True}),
                ("leading", {"overflow": "fold"}), ("speedup", {"justify": "right", "no_wrap": True}),
                ("95% CI", {"justify": "right", "no_wrap": True}), ("CI width", {"no_wrap": True}),
                ("1st established", {"justify": "right", "no_wrap": True}))
        for name, kw in cols:
            if name not in dropped:
                c.add_column(name, **kw)
        for ctx, pts in data["contexts"].items():
            last = pts[-1]
            since = confident_at.get(ctx)
            cells = {"context": ctx, "pulls": str(last["pulls"]),
                     "leading": last["best"] + ("" if last["confident"] else " ?"),
                     "speedup": f"{last['speedup']:.2f}×", "95% CI": f"{last['ci'][0]:.2f}–{last['ci'][1]:.2f}",
                     "CI width": sparkline([p["width"] for p in pts], CONTEXT_SPARK_WIDTH, lo=0.0),
                     "1st established": f"#{since}" if since else "not yet"}
            c.add_row(*[v for k, v in cells.items() if k not in dropped])
        return c
    table = fit_table(per_context, console.width, ("CI width", "pulls"))
    shown = {col.header for col in table.columns}
    console.print(table)

    m = Table(title="Milestones", title_justify="left", header_style="bold")
    m.add_column("#", justify="right")
    m.add_column("when")
    m.add_column("milestone")
    for ms in data["milestones"]:
        m.add_row(str(ms["compiles"]), _when(ms["ts"]), ms["text"])
    console.print(m)
    legend = ["  speedup: > 1 is faster · # = compilation number"]
    if "CI width" in shown:
        legend.append("  CI width: the leading strategy's 95% interval as the context's pulls grow")
    legend += ["  1st established: when that interval first excluded 1.00× · ? = it still",
               "  contains 1.00× · `simpulse report --html FILE` draws the charts"]
    if "CI width" not in shown:
        legend.append("  (a wider terminal also shows how each interval narrowed: CI width)")
    for line in legend:
        console.print(line, highlight=False)


# --------------------------------------------------------------------------- command


class _ReplayProgress:
    """A transient progress bar on stderr (a terminal only, never in the output) while a report
    replays REFRESH_BACKLOG events or more: a first report of a long history takes minutes."""

    def __init__(self) -> None:
        self.prog = None

    def update(self, done: int, total: int) -> None:
        import sys
        if self.prog is None:
            if total < REFRESH_BACKLOG or not sys.stderr.isatty():
                return
            self.prog = progress_bar("report", remaining=True)
            self.prog.start()
            self.task = self.prog.add_task("replaying the event log", total=total)
        self.prog.update(self.task, completed=done, total=total)

    def stop(self) -> None:
        if self.prog is not None:
            self.prog.stop()


def report(
    state: Path | None = STATE_DIR_OPTION,
    as_json: bool = JSON_OPTION,
    html_file: Path | None = typer.Option(None, "--html", dir_okay=False,
                                          help="Write the report as one self-contained HTML file (inline SVG charts)."),
    every: int | None = typer.Option(None, "--every", min=1, help="Sample the history every N compiles (default: about 100 points)."),
):
    """How learning evolved: regret, time saved, confidence per context, milestones."""
    from simpulse.errors import SimpulseError
    sdir = state_dir(state)
    bar = _ReplayProgress()
    try:
        data = load_history(sdir, every, progress=bar.update)
    finally:
        bar.stop()
    if html_file is not None:
        out = Path(html_file).expanduser()
        try:
            tmp = out.with_name(out.name + ".tmp")
            from simpulse.commands._report_html import render_html
            tmp.write_text(render_html(data), encoding="utf-8")
            tmp.replace(out)
        except OSError as ex:
            raise SimpulseError(f"cannot write {out}: {ex.strerror or ex}") from None
    if as_json:
        print_json(data)
    elif html_file is not None:
        print(f"simpulse: report written to {html_file}"
              + (" (SIMULATED toolchain: simulated times)" if data["simulated"] else "")
              + (" — " + EMPTY_MESSAGE.format(dir=sdir) if data["empty"] else ""))
    else:
        render(data)


def register(app) -> None:
    app.command("report")(report)
