"""The report's replay of the history, kept between reports: `report.cache` in the state
directory holds the replay (`simpulse.stats.history.Replay`) of every event seen by the last
report, so that the next one replays only what came since (`load_history`). One replay at a
time, under `report.lock`; `simpulse build` keeps the cache near the log while Lake runs
(`refresh_in_background`). No typer, no rich: `simpulse build` imports it (docs/design.md)."""

from __future__ import annotations

import time
from pathlib import Path


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
                "from simpulse.stats.report_cache import refresh\nrefresh(Path(sys.argv[1]))\n")


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
