"""The state directory: an append-only, self-checking event log plus a snapshot of statistics.

Standard library only: the shim imports this module on every module compilation. The on-disk
format, the locking protocol and the crash-safety argument are written down in
``docs/state-format.md``; the short version:

* ``events.log`` starts with a header line ``{"log":1,"gen":<random id>,"base_seq":N}`` and
  then holds one line per event, ``<crc32 hex8> <compact JSON>\\n``, each written by a single
  ``os.write`` on an ``O_APPEND`` descriptor while holding ``events.lock`` exclusively. Every
  event gets ``seq``, one more than the last event in the log (or ``base_seq``).
* ``seq`` is the truth: an event is identified by it everywhere, readers skip any event whose
  ``seq`` they have already seen, so a crash that leaves an event both in a segment and in the
  log never duplicates it.
* ``snapshot.json`` holds the caller's statistics and the cursor ``{"gen", "offset", "seq"}``
  they cover: "every event with seq <= cursor.seq, and every event before byte ``offset`` of the
  log whose header carries ``gen``". ``load`` seeks to ``offset`` when the log's generation is
  still ``gen`` (the hot path reads only the tail), and otherwise folds by seq from the segments
  and the log (under a shared ``compact.lock``).
* ``compact`` archives the log into ``segments/events-<first>-<last>.log.gz``, swaps in a new
  log (new generation) holding the events appended meanwhile, then writes the snapshot, then
  applies retention: each step is an atomic rename, and every crash point in between is read
  correctly thanks to the seq rule.
"""

from __future__ import annotations

import errno
import fcntl
import math
import os
import time

from simpulse.store.atomic import tmp_name, write_atomic
from simpulse.store.file_lock import FileLock, try_lock
from simpulse.store.safe_open import StoreError, UnsafeFile, UnsafeStateDir, check_dir, open_fd  # noqa: F401 - re-exported

from simpulse.store.codec import (  # noqa: F401 - the store's names, re-exported
    SCHEMA_VERSION,
    LAYOUT_VERSION,
    LOG_NAME,
    LOCK_NAME,
    COMPACT_LOCK_NAME,
    SNAPSHOT_NAME,
    STATE_NAME,
    SEGMENTS_NAME,
    DIAG_NAME,
    LEGACY_NAME,
    AUTO_CHECKPOINT,
    AUTO_CHECKPOINT_MIN,
    AUTO,
    _TAIL_CHUNK,
    _TAIL_WINDOW,
    _READ_CHUNK,
    _FOLD_REPORTS,
    _MAX_LINE,
    _DIAG_DEDUP_WINDOW,
    _O_CLOEXEC,
    _encode,
    _decode,
    _fresh,
    _segment_name,
    VIEW_SPAN,
    VIEW_CHECKPOINT,
    _parse_segment_name,
    _strerror,
    _LogScan,
    _json_or_none,
    _read_file,
    _write_all,
)
from simpulse.store.appends import _Appends
from simpulse.store.viewload import _ViewLoads
from simpulse.store.layout import _Layout
from simpulse.store.snapshots import (  # noqa: F401 - re-exported
    _Snapshots,
    _SnapshotLies,
    _MAX_POS,
    _valid_cursor,
    _SHAPE_DEPTH,
    _shape_error,
    _kind,
    _check_snapshot,
)

TYPE_CHECKING = False        # `typing` costs the shim an import; mypy reads this name as typing's
if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Iterator
    from pathlib import Path
    from typing import Any, Literal

    from simpulse.model.records import Event, Stats
    from simpulse.store.views import View

    Cursor = dict[str, Any]          # {"gen", "offset", "seq"} (`_valid_cursor`)
    Snapshot = dict[str, Any]        # a parsed snapshot.json: {"schema", "cursor", "stats_crc", "stats"}
    Fold = Callable[[Stats, Event], Stats]
    Validate = Callable[[Stats], str | None]

__all__ = ["SCHEMA_VERSION", "LAYOUT_VERSION", "StoreError", "UnsafeStateDir", "UnsafeFile", "Store"]

# --------------------------------------------------------------------------- the store


class Store(_Appends, _Layout, _Snapshots, _ViewLoads):
    """One state directory. Cheap to construct; holds no file open between calls."""

    _view: View   # the view of the last load through snapshot.view (set by `_load_view` only)

    def __init__(self, state_dir: str | os.PathLike[str], *, create: bool = True, fsync: bool = True) -> None:
        self._snap_bytes = 0
        self.fsync = fsync
        self.problems: list[str] = []
        self.cursor: Cursor | None = None  # the cursor of the last load(): {"gen", "offset", "seq"}
        self.read_mark: dict[str, Any] | None = None    # where the last `iter_events` left the log
        self._reported: set[object] = set()
        self.damaged = False   # a scan of this Store met damaged lines (load then checkpoints past them)
        self._rejected: set[str | None] = set()  # snapshots (stats_crc:cursor) found wrong in meaning: ignored
        self._snap_crc: str | None = None
        self._fold_failures = 0
        # load() through snapshot.view (`views`): the shim's way, reading only the records it
        # touches; the statistics it returns hold lazily read module tables
        self.views = False
        # load()'s checkpoints written by a detached process (`_checkpoint_detached`): the shim's
        # way, so no compile waits for a snapshot to be written
        self.background_checkpoints = False
        self._validate: Validate | None = None   # the check of the last load/compact: a view records that it passed
        d = self._d = os.fspath(state_dir)
        self._log = os.path.join(d, LOG_NAME)
        self._lock = os.path.join(d, LOCK_NAME)
        self._clock = os.path.join(d, COMPACT_LOCK_NAME)
        self._snap = os.path.join(d, SNAPSHOT_NAME)
        self._state = os.path.join(d, STATE_NAME)
        self._segdir = os.path.join(d, SEGMENTS_NAME)
        self._diag_path = os.path.join(d, DIAG_NAME)
        # ours, a directory, 0700 (created so, or tightened); UnsafeStateDir otherwise
        check_dir(d, create=create)
        self._check_layout()

    @property
    def dir(self) -> Path:
        """The state directory as a Path (pathlib is kept off the shim's import path)."""
        from pathlib import Path
        return Path(self._d)

    def __repr__(self) -> str:
        return f"Store({self._d!r})"

    # ----------------------------------------------------------------- diagnostics

    def _report(self, key: str, msg: str) -> None:
        """Record a problem once per Store in ``problems`` and once per state dir in simpulse.log."""
        if key in self._reported:
            return
        self._reported.add(key)
        self.problems.append(msg)
        self._diag(msg, key)

    def _damage(self, gen: str | None, first: int | None, end: int | None, lines: int, nbytes: int) -> None:
        """One summary line per scan that met damaged lines (not one per line: 200 MB of junk
        is one diagnostic), keyed by where the damage starts so simpulse.log has it once."""
        self.damaged = True
        if lines == 1:
            msg = f"{LOG_NAME}: skipped 1 corrupt line at byte {first}"
        else:
            msg = f"{LOG_NAME}: skipped {lines} corrupt lines ({nbytes} bytes) in bytes {first}..{end}"
        self._report(f"log:{gen}:{first}", msg)

    def _torn(self, gen: str | None, offset: int) -> None:
        self._report(f"log:{gen}:{offset}", f"{LOG_NAME}: skipped 1 torn line at byte {offset}")

    def _diag(self, msg: str, key: str | None = None) -> None:
        """Append to simpulse.log; with ``key``, only if no line with that key is there yet."""
        try:
            fd = open_fd(self._diag_path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o600)
        except (OSError, StoreError):
            return
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            tag = f" [{key}]" if key else ""
            if key:
                size = os.fstat(fd).st_size
                start = max(0, size - _DIAG_DEDUP_WINDOW)
                if tag.encode("utf-8", "replace") in os.pread(fd, size - start, start):
                    return
            stamp = time.strftime("%Y-%m-%dT%H:%M:%S")
            line = f"{stamp} store[{os.getpid()}]: {msg}{tag}\n"
            os.write(fd, line.encode("utf-8", "replace"))
        except OSError:
            pass
        finally:
            os.close(fd)

    # ----------------------------------------------------------------- small file helpers

    def _fsync_dir(self, path: str) -> None:
        if not self.fsync:
            return
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | _O_CLOEXEC)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

    def _tmp_name(self, path: str) -> str:
        return tmp_name(path)

    def _write_atomic(self, path: str, data: bytes) -> None:
        """tmp file + fsync + rename: the file is either old or new, never torn (`atomic`)."""
        write_atomic(path, data, fsync=self.fsync, tmp=self._tmp_name(path))
        self._fsync_dir(os.path.dirname(path))

    def _create_log(self, base_seq: int, lines: Iterable[bytes] = (), *, migrated: bool = False) -> tuple[str, int]:
        """Atomically replace (or create) events.log: a new generation. Caller holds events.lock."""
        head: dict[str, Any] = {"log": LAYOUT_VERSION, "gen": os.urandom(8).hex(), "base_seq": base_seq, "created": round(time.time(), 3)}
        if migrated:
            head["migrated"] = LEGACY_NAME
        header = _encode(head)
        self._write_atomic(self._log, header + b"".join(lines))
        return head["gen"], len(header)

    def _read_header_obj(self, fd: int) -> dict[str, Any] | None:
        first = os.pread(fd, 4096, 0)
        nl = first.find(b"\n")
        if nl < 0:
            return None
        obj = _decode(first[:nl])
        if obj is None or "seq" in obj or not isinstance(obj.get("gen"), str):
            return None
        obj["_end"] = nl + 1
        return obj

    def _read_header(self, fd: int) -> tuple[str | None, int, int]:
        """(gen, base_seq, header_end); (None, 0, 0) when the log has no valid header."""
        obj = self._read_header_obj(fd)
        if obj is None:
            return None, 0, 0
        base = obj.get("base_seq")
        return obj["gen"], base if type(base) is int else 0, obj["_end"]

    # ----------------------------------------------------------------- reading

    def last_seq(self) -> int:
        """The seq of the last event recorded (0 for none): the log's tail, read backwards."""
        fd = self._open_log_ro()              # (StoreError: unreadable)
        if fd < 0:
            return self._max_known_seq()
        try:
            return self._tail_state(fd, os.fstat(fd).st_size)[0]
        finally:
            os.close(fd)

    def end_mark(self) -> tuple[int, dict[str, Any] | None]:
        """(the seq of the last event recorded, a ``mark`` for ``iter_events`` at the log's end):
        a reader that wants only what is appended from now on, without reading the log so far
        (`simpulse build`'s summary). The mark is None where the log does not end on a line
        boundary or has no header; ``iter_events(after=seq)`` alone then finds the same events."""
        fd = self._open_log_ro()              # (StoreError: unreadable)
        if fd < 0:
            return self._max_known_seq(), None
        try:
            gen, _base, hend = self._read_header(fd)
            size = os.fstat(fd).st_size
            seq, _torn, ends_nl = self._tail_state(fd, size)
            mark = {"gen": gen, "offset": size} if gen is not None and ends_nl and size > hend else None
            return seq, mark
        finally:
            os.close(fd)

    # -- the archive and compaction (`store/compaction.py`): imported on first use, since a
    #    compile seldom reads a segment or compacts (a shorter import for every compile)

    def _segments(self) -> list[tuple[int, int, str]]:
        from simpulse.store.compaction import _Compaction
        return _Compaction._segments(self)

    def _segment_events(self, name: str) -> Iterator[Event]:
        from simpulse.store.compaction import _Compaction
        return _Compaction._segment_events(self, name)

    def archived_segments(self, *, after: int | None = None, newest_first: bool = False) -> Iterator[Iterator[Event]]:
        """The segments compaction archived, each as an iterator of its valid events (see
        `_Compaction.archived_segments`)."""
        from simpulse.store.compaction import _Compaction
        return _Compaction.archived_segments(self, after=after, newest_first=newest_first)

    def _max_known_seq(self) -> int:
        from simpulse.store.compaction import _Compaction
        return _Compaction._max_known_seq(self)

    def _fold_segments(self, snap: dict[str, Any] | None, fold: Fold, initial: Stats
                       ) -> tuple[Stats, int, int, int, int, int]:
        from simpulse.store.compaction import _Compaction
        return _Compaction._fold_segments(self, snap, fold, initial)

    def compact(self, fold: Fold, initial: Stats, *, retention_segments: int | None = None,
                validate: Validate | None = None) -> dict[str, Any]:
        """Archive the log, start a new generation, snapshot, apply retention (see
        `_Compaction.compact`)."""
        from simpulse.store.compaction import _Compaction
        return _Compaction.compact(self, fold, initial, retention_segments=retention_segments, validate=validate)

    def load(self, fold: Fold, initial: Stats, *, checkpoint_after: Any = AUTO,
             validate: Validate | None = None) -> tuple[Stats, int]:
        """(stats, n_folded): the snapshot's stats (or a copy of ``initial``) with every later
        event folded in by ``fold(stats, event) -> stats``. Leaves ``self.cursor`` for
        ``checkpoint``. The hot path reads only the log's tail after the snapshot cursor.

        The snapshot is checked for meaning, not only its checksum: its statistics must have
        the shape of ``initial`` (every key of it, with the same kind of value, numbers finite;
        see ``_shape_error``) and pass ``validate(stats) -> None | reason`` when given; its
        cursor must lie inside the log. One that fails is set aside (``snapshot.json.corrupt``)
        and the statistics rebuilt from the segments and the log.

        An event ``fold`` raises on (``Exception``) is skipped, reported, and the following
        events are folded: no event can make later ones go unrecorded.

        When ``checkpoint_after`` (default: from the snapshot's size, see AUTO_CHECKPOINT) or
        more events were folded, or the snapshot was missing, invalid or outdated (slow path),
        or damaged lines or a failing event were met, the result is checkpointed (non-blocking,
        best effort), so the next load starts past them whoever calls it. ``checkpoint_after=None``:
        a read-only load.
        """
        self._fold_failures = 0
        self._validate = validate
        lazy = False
        res = None
        res = self._load_view(fold, initial, validate, lazy=self.views)
        lazy = self.views and res is not None
        snap = None
        if res is None:
            snap = self._checked_snapshot(initial, validate)
            res = self._load_fast(snap, fold) if snap is not None else None
        slow = res is None
        if slow:
            lk = self._shared_compact_lock()
            try:
                snap = self._checked_snapshot(initial, validate)
                res = self._load_slow(snap, fold, initial)
            finally:
                lk.release()
        assert res is not None and self.cursor is not None   # the slow path always loads, and leaves a cursor
        stats, n = res
        if self._fold_failures > _FOLD_REPORTS:
            self._report(f"fold:more:{self.cursor['gen']}:{self.cursor['seq']}",
                         f"{self._fold_failures - _FOLD_REPORTS} more events could not be folded and were skipped")
        if checkpoint_after is AUTO and lazy:
            checkpoint_after = VIEW_CHECKPOINT
        elif checkpoint_after is AUTO:
            mb = self._snap_bytes / 1e6
            checkpoint_after = min(AUTO_CHECKPOINT, max(AUTO_CHECKPOINT_MIN, round(10 * math.sqrt(mb))))
        if checkpoint_after is not None and (
            n >= checkpoint_after
            # the tail set off a refresh that read every module record: record it, so the
            # next compiles do not each pay it again (amortised, `views`)
            or (lazy and n > 0 and self._view_read_whole(stats))
            or (
                # the slow path ran (no/invalid/outdated snapshot), or damage / an event that
                # cannot be folded was met: record where we are so the next load is fast again
                # and starts past them
                (slow or self.damaged or self._fold_failures)
                and self.cursor["gen"] is not None
                and (n > 0 or self.damaged or self._fold_failures
                     or (snap is not None and snap["cursor"] != self.cursor)
                     or (snap is None and os.path.exists(self._snap)))
            )
        ):
            if lazy:
                self._checkpoint_view(stats, self.cursor)
            else:
                try:
                    self.checkpoint(stats, self.cursor)
                except StoreError:
                    pass
        return stats, n

    def _fold(self, fold: Fold, stats: Stats, ev: Event) -> Stats:
        """``fold(stats, ev)``; an event it raises on is skipped and reported (the first few one
        by one, then a count), never stopping the events after it."""
        try:
            return fold(stats, ev)
        except Exception as e:  # noqa: BLE001
            if type(e).__name__ == "ViewDamaged":
                raise            # not the event's fault: the load starts over from the snapshot
            self._fold_failures += 1
            if self._fold_failures <= _FOLD_REPORTS:
                self._report(f"fold:{ev.get('seq')}:{ev.get('id')}",
                             f"event seq {ev.get('seq')} could not be folded ({type(e).__name__}: {str(e)[:200]}); "
                             f"skipped, the events after it are folded")
            return stats

    def _shared_compact_lock(self) -> FileLock:
        # read-only state dir: nobody can compact it, reading without the lock is safe
        return self._acquire(self._clock, shared=True, readonly_ok=True)

    def _acquire(self, path: str, *, shared: bool = False, readonly_ok: bool = False) -> FileLock:
        """A FileLock on `path`, acquired; a vanished state directory or a lock error becomes a
        StoreError with a clear message (with `readonly_ok`, a permission error on a read-only
        directory leaves the lock unheld instead)."""
        lk = FileLock(path, shared=shared)
        try:
            lk.acquire()
        except FileNotFoundError:
            raise StoreError(f"state directory {self._d} no longer exists (removed while in use?)") from None
        except OSError as e:
            if not (readonly_ok and e.errno in (errno.EACCES, errno.EROFS, errno.EPERM)):
                raise StoreError(f"cannot lock {path}: {_strerror(e)}") from e
        return lk

    def _open_log_ro(self) -> int:
        try:
            return open_fd(self._log, os.O_RDONLY)
        except FileNotFoundError:
            return -1
        except OSError as e:
            raise StoreError(f"cannot read {self._log}: {_strerror(e)}") from e

    def _load_fast(self, snap: Snapshot, fold: Fold) -> tuple[Stats, int] | None:
        cur = snap["cursor"]
        gen, off, seq = cur["gen"], cur["offset"], cur["seq"]
        if gen is None:
            return None
        fd = self._open_log_ro()
        if fd < 0:
            return None
        try:
            hgen, base, hend = self._read_header(fd)
            if hgen != gen:
                return None  # rotated since the snapshot (or a crash between rotation and snapshot)
            size = os.fstat(fd).st_size
            if off < hend or off > size or (off > hend and os.pread(fd, 1, off - 1) != b"\n"):
                # an offset outside this log, or not on a line boundary: the cursor lies
                self._reject_snapshot(f"cursor offset {off} is not a line boundary of {LOG_NAME} "
                                      f"({size} bytes) of generation {gen}")
                return None
            if seq < base:
                return None  # events base..seq are in segments: the slow path reads them
            before = self._seq_before(fd, hend, off)
            if before is not None and before > seq:
                # the last event before the offset has a seq the cursor does not cover
                self._reject_snapshot(f"cursor seq {seq} is below event seq {before} before its offset {off}")
                return None
            stats: Stats = snap["stats"]
            n = 0
            last = seq
            scan = _LogScan(self, fd, off, gen)
            for ev, _line in scan:
                s = ev["seq"]
                if s <= seq:
                    # an event after the cursor's offset with a seq the cursor claims to cover:
                    # every event appended after a checkpoint has a higher seq, so the cursor
                    # lies (seq beyond what the log holds). Set it aside, rebuild.
                    self._reject_snapshot(f"cursor seq {seq} is beyond the log (event seq {s} follows "
                                          f"its offset {off})")
                    return None
                if s > last:
                    stats = self._fold(fold, stats, ev)
                    n += 1
                    last = s
            self._check_partial(fd, scan)
            self.cursor = {"gen": gen, "offset": scan.end, "seq": last}
            return stats, n
        finally:
            os.close(fd)

    def _seq_before(self, fd: int, hend: int, off: int) -> int | None:
        """The seq of the last valid event line in the few KB before byte ``off`` (None: none
        there, e.g. damage). One pread: what lets the fast path check its cursor cheaply."""
        if off <= hend:
            return None
        start = max(hend, off - _TAIL_CHUNK)
        lines = os.pread(fd, off - start, start).split(b"\n")
        lines.pop()  # b"": the byte before `off` is a newline
        for idx in range(len(lines) - 1, -1 if start == hend else 0, -1):
            obj = _decode(lines[idx])
            if obj is not None and type(obj.get("seq")) is int:
                seq: int = obj["seq"]
                return seq
        return None

    def _check_partial(self, fd: int, scan: _LogScan) -> None:
        """Report trailing bytes without a newline, unless a writer is still writing them."""
        if scan.partial_at is None:
            return
        held: FileLock | Literal[True] | None
        try:
            held = try_lock(self._lock, shared=True)
        except OSError:
            held = True  # cannot lock a read-only dir: nobody writes, it is torn
        if held is None:
            return  # an append is in progress: probably its line
        try:
            if os.fstat(fd).st_size != scan.size:
                return  # it grew: it was a line being written
            self._torn(scan.gen, scan.partial_at)
        finally:
            if held is not True:
                held.release()

    def _load_slow(self, snap: Snapshot | None, fold: Fold, initial: Stats) -> tuple[Stats, int]:
        """Fold by seq from segments and the whole log. Caller holds compact.lock (shared or
        exclusive), so no segment disappears under us."""
        stats, n, last, expected, max_seg, floor = self._fold_segments(snap, fold, initial)
        threshold = max(floor, max_seg)
        fd = self._open_log_ro()
        if fd < 0:
            self.cursor = {"gen": None, "offset": 0, "seq": max(last, threshold)}
            return stats, n
        try:
            gen, base, hend = self._read_header(fd)
            if gen is None:
                self._report("log:noheader", f"{LOG_NAME}: no valid header line; read by seq only")
            elif base >= expected:
                self._gap(expected, base)
            scan = _LogScan(self, fd, hend, gen)
            top = base if gen is not None else 0
            for ev, _line in scan:
                s = ev["seq"]
                if s > top:
                    top = s
                if s > threshold and s > last:
                    stats = self._fold(fold, stats, ev)
                    n += 1
                    last = s
            if snap is not None and floor > max(top, max_seg):
                # the snapshot claims events that exist nowhere (cursor seq beyond the log and
                # the segments): set it aside and rebuild from what there is
                self._reject_snapshot(f"cursor seq {floor} is beyond the log and segments (highest seq {max(top, max_seg)})")
                os.close(fd)
                fd = -1
                self._fold_failures = 0
                return self._load_slow(None, fold, initial)
            self._check_partial(fd, scan)
            self.cursor = {"gen": gen, "offset": scan.end, "seq": max(last, threshold)}
        finally:
            if fd >= 0:
                os.close(fd)
        return stats, n

    def _gap(self, lo: int, hi: int) -> None:
        self._report(
            f"gap:{lo}:{hi}",
            f"events {lo}..{hi} are not available (segments deleted by retention, or lost) and "
            f"no valid snapshot covers them: statistics are rebuilt without them",
        )

    def iter_events(self, *, include_segments: bool = True, after: int = 0,
                    mark: dict[str, Any] | None = None) -> Iterator[Event]:
        """Every surviving event in seq order: the segments, then the log (holding a shared
        compact.lock while iterating; do not call ``compact`` from inside the loop). ``after``:
        only events with a higher seq (segments wholly below it are not opened). ``mark``: the
        ``read_mark`` an earlier iteration left, from which the log is read on when it is still
        of that generation and the mark on a line boundary (a reader that follows the log, the
        build's server: not the whole log again for each new event). When the iteration has
        read the log to its end, ``self.read_mark`` is ``{"gen", "offset"}`` past its last line."""
        lk = self._shared_compact_lock()
        try:
            segs = self._segments()
            max_seg = segs[-1][1] if segs else 0
            last = after
            if include_segments:
                for _first, seg_last, name in segs:
                    if seg_last <= after:
                        continue
                    for ev in self._segment_events(name):
                        if ev["seq"] > last:
                            last = ev["seq"]
                            yield ev
            threshold = max(last, max_seg)
            fd = self._open_log_ro()
            if fd < 0:
                return
            try:
                gen, _base, hend = self._read_header(fd)
                start = hend
                if mark is not None and gen is not None and mark.get("gen") == gen:
                    off = mark.get("offset")
                    if (type(off) is int and hend < off <= os.fstat(fd).st_size
                            and os.pread(fd, 1, off - 1) == b"\n"):
                        start = off
                scan = _LogScan(self, fd, start, gen)
                for ev, _line in scan:
                    if ev["seq"] > threshold:
                        threshold = ev["seq"]
                        yield ev
                self._check_partial(fd, scan)
                self.read_mark = {"gen": gen, "offset": scan.end} if gen is not None else None
            finally:
                os.close(fd)
        finally:
            lk.release()
