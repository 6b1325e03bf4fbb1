"""Segments (archived logs) and compaction: reading segments, folding them, archiving the log into a new one, retention.
Standard library only."""

from __future__ import annotations

import os
import time
import zlib

from simpulse.store.file_lock import FileLock
from simpulse.store.safe_open import StoreError, UnsafeFile, ensure_subdir, open_fd
from simpulse.store.codec import (
    LOG_NAME,
    SEGMENTS_NAME,
    SNAPSHOT_NAME,
    STATE_NAME,
    _LogScan,
    _O_CLOEXEC,
    _decode,
    _fresh,
    _parse_segment_name,
    _segment_name,
    _strerror,
)
from simpulse.store.snapshots import (
    _SnapshotLies,
)

TYPE_CHECKING = False        # `typing` costs the shim an import; mypy reads this name as typing's
if TYPE_CHECKING:
    from collections.abc import Iterator
    from typing import Any

    from simpulse.model.records import Event, Stats
    from simpulse.store.store import Cursor, Fold, Store, Validate


class _Compaction:
    """Segments (archived logs) and compaction: reading segments, folding them, archiving the log into a new one, retention.
    A part of `Store` that a compile seldom needs, so not one of its bases: `Store` forwards to
    these functions, importing this module on first use. Their ``self`` is the store (``self:
    Store``: mypy accepts a self type that is not the class only with an ignore, ``misc``)."""

    if TYPE_CHECKING:    # the Store fields its methods set (declared here too, so mypy does not infer them anew)
        cursor: Cursor | None
        _fold_failures: int
        _validate: Validate | None

    def _segments(self: Store) -> list[tuple[int, int, str]]:  # type: ignore[misc]
        """[(first, last, name)] of the archived segments, in seq order."""
        try:
            if os.path.islink(self._segdir):
                self._report("seg:link", f"{SEGMENTS_NAME}/ is a symbolic link: not followed, its segments are not read")
                return []
            names = os.listdir(self._segdir)
        except (FileNotFoundError, NotADirectoryError):
            return []
        segs: list[tuple[int, int, str]] = []
        for name in names:
            r = _parse_segment_name(name)
            if r is not None:
                segs.append((r[0], r[1], name))
        segs.sort()
        return segs

    def _segment_events(self: Store, name: str) -> Iterator[Event]:  # type: ignore[misc]
        """The valid events of one segment, in order (problems reported)."""
        import gzip

        path = os.path.join(self._segdir, name)
        lineno = 0
        try:
            try:
                raw = os.fdopen(open_fd(path, os.O_RDONLY), "rb")
            except UnsafeFile as e:
                self._report(f"seg:{name}:unsafe", f"{SEGMENTS_NAME}/{name}: not read ({e})")
                return
            with raw, gzip.GzipFile(fileobj=raw, mode="rb") as f:
                for lineno, line in enumerate(f, 1):
                    if not line.endswith(b"\n"):
                        self._report(f"seg:{name}:{lineno}", f"{SEGMENTS_NAME}/{name}: skipped 1 torn line (line {lineno})")
                        continue
                    ev = _decode(line[:-1])
                    if ev is None or type(ev.get("seq")) is not int:
                        self._report(f"seg:{name}:{lineno}", f"{SEGMENTS_NAME}/{name}: skipped 1 corrupt line (line {lineno})")
                        continue
                    yield ev
        except (OSError, EOFError, zlib.error) as e:
            self._report(
                f"seg:{name}:err",
                f"{SEGMENTS_NAME}/{name}: unreadable after line {lineno} ({type(e).__name__}: {e})",
            )

    def archived_segments(self: Store, *, after: int | None = None,  # type: ignore[misc]
                          newest_first: bool = False) -> Iterator[Iterator[Event]]:
        """The segments compaction archived, each as an iterator of its valid events (in seq
        order); only segments holding a seq above `after`; the newest first with
        `newest_first`. Read-only: how `monitor` catches up on a rotation it had not seen."""
        segs = self._segments()
        for _first, last, name in (reversed(segs) if newest_first else segs):
            if after is None or last > after:
                yield self._segment_events(name)

    def _max_known_seq(self: Store) -> int:  # type: ignore[misc]
        """The highest seq recorded outside events.log (segments, snapshot): to seed a new log."""
        best = 0
        for _first, last, _name in self._segments():
            best = max(best, last)
        snap = self._read_snapshot(report=False)
        if snap is not None:
            best = max(best, snap["cursor"]["seq"])
        return best

    def _fold_segments(self: Store, snap: dict[str, Any] | None, fold: Fold, initial: Stats  # type: ignore[misc]
                       ) -> tuple[Stats, int, int, int, int, int]:
        """Start from the snapshot (or a copy of `initial`) and fold, in seq order, every
        segment event beyond it, reporting gaps. Returns (stats, n folded, last seq folded,
        next seq expected, last seq archived in a segment, the snapshot's seq)."""
        if snap is not None:
            stats, floor = snap["stats"], snap["cursor"]["seq"]
        else:
            stats, floor = _fresh(initial), 0
        n, last = 0, floor
        segs = self._segments()
        max_seg = segs[-1][1] if segs else 0
        expected = floor + 1
        for first, lst, name in segs:
            if lst <= floor:
                continue
            if first > expected:
                self._gap(expected, first - 1)
            for ev in self._segment_events(name):
                s = ev["seq"]
                if s > last:
                    stats = self._fold(fold, stats, ev)
                    n += 1
                    last = s
            expected = max(expected, lst + 1)
        return stats, n, last, expected, max_seg, floor

    # ----------------------------------------------------------------- compaction

    def compact(self: Store, fold: Fold, initial: Stats, *, retention_segments: int | None = None,  # type: ignore[misc]
                validate: Validate | None = None) -> dict[str, Any]:
        """Archive the log into a segment, start a new log generation, write a snapshot of all
        the statistics, then delete segments beyond ``retention_segments`` (None: keep all).
        The snapshot it starts from is checked as ``load`` checks it (``validate`` likewise).

        Holds compact.lock (exclusive) throughout, and events.lock only to swap the log, so
        appends wait milliseconds, not for the whole compaction. Returns counts.
        """
        if retention_segments is not None and retention_segments < 0:
            raise ValueError("retention_segments must be >= 0 or None")
        lk = self._acquire(self._clock)
        self._fold_failures = 0
        try:
            try:
                return _Compaction._compact_locked(self, fold, initial, retention_segments, validate)
            except _SnapshotLies as e:
                self._reject_snapshot(str(e))   # ignored from now on: start again without it
                self._fold_failures = 0
                return _Compaction._compact_locked(self, fold, initial, retention_segments, validate)
        except OSError as e:
            raise StoreError(f"compaction of {self._d} failed: {_strerror(e)}") from e
        finally:
            lk.release()

    def _compact_locked(self: Store, fold: Fold, initial: Stats, retention: int | None,  # type: ignore[misc]
                        validate: Validate | None = None) -> dict[str, Any]:
        self._validate = validate
        import gzip

        _Compaction._clean_tmp(self, self._segdir, None)
        _Compaction._clean_tmp(self, self._d, SNAPSHOT_NAME)
        _Compaction._clean_tmp(self, self._d, STATE_NAME, older_than=600)  # written without a lock
        snap = self._checked_snapshot(initial, validate)
        # 1. fold what the segments hold beyond the snapshot
        stats, n, last, expected, max_seg, floor = self._fold_segments(snap, fold, initial)
        # 2. without blocking appends: archive the log as it is now into a new segment
        fd = self._open_log_ro()
        seg_first = seg_last = None
        archived = 0
        scan_end = 0
        base = 0
        old_id = None
        if fd >= 0:
            try:
                st = os.fstat(fd)
                old_id = (st.st_dev, st.st_ino)
                gen, base, hend = self._read_header(fd)
                top = base if gen is not None else 0
                if base >= expected:
                    self._gap(expected, base)
                if not os.path.isdir(self._segdir) or os.path.islink(self._segdir):
                    ensure_subdir(self._segdir)
                    self._fsync_dir(self._d)
                tmp = self._tmp_name(os.path.join(self._segdir, "segment"))
                raw = gz = None
                try:
                    scan = _LogScan(self, fd, hend, gen, limit=st.st_size)
                    for ev, line in scan:
                        s = ev["seq"]
                        if s > top:
                            top = s
                        if s <= max_seg:
                            continue  # archived by an earlier, interrupted compaction
                        if gz is None:
                            raw = os.fdopen(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _O_CLOEXEC, 0o600), "wb")
                            gz = gzip.GzipFile(filename="", fileobj=raw, mode="wb", compresslevel=6, mtime=0)
                            seg_first = s
                        gz.write(line + b"\n")
                        seg_last = s
                        archived += 1
                        if s > last:
                            stats = self._fold(fold, stats, ev)
                            n += 1
                            last = s
                    if snap is not None and floor > max(top, max_seg):
                        raise _SnapshotLies(f"cursor seq {floor} is beyond the log and segments "
                                            f"(highest seq {max(top, max_seg)})")
                    scan_end = scan.end
                    if gz is not None:
                        assert raw is not None and seg_first is not None and seg_last is not None  # opened with gz
                        gz.close()
                        raw.flush()
                        if self.fsync:
                            os.fsync(raw.fileno())
                        raw.close()
                        gz = raw = None
                        os.rename(tmp, os.path.join(self._segdir, _segment_name(seg_first, seg_last)))
                        self._fsync_dir(self._segdir)
                finally:
                    if raw is not None:
                        raw.close()
                        try:
                            os.unlink(tmp)
                        except OSError:
                            pass
            finally:
                os.close(fd)
        covered = max(last, max_seg, base, seg_last or 0)
        # 3. briefly block appends: carry the lines appended meanwhile into a new log generation
        carried = []
        with FileLock(self._lock):
            _Compaction._clean_tmp(self, self._d, LOG_NAME)
            fd = self._open_log_ro()
            if fd >= 0:
                try:
                    st = os.fstat(fd)
                    gen2, _b, hend2 = self._read_header(fd)
                    start = scan_end if (st.st_dev, st.st_ino) == old_id else hend2
                    scan = _LogScan(self, fd, start, gen2)
                    for ev, line in scan:
                        if ev["seq"] > covered:
                            carried.append(line + b"\n")
                    if scan.partial_at is not None:
                        self._torn(gen2, scan.partial_at)  # we hold the lock: it is torn
                finally:
                    os.close(fd)
            new_gen, header_len = self._create_log(covered, carried)
        # 4. the snapshot of everything up to `covered`
        self._write_snapshot(stats, {"gen": new_gen, "offset": header_len, "seq": covered}, replace_invalid=snap is None)
        # 5. retention: only segments the snapshot now covers
        deleted = 0
        segs = self._segments()
        if retention is not None and len(segs) > retention:
            for _first, lst, name in segs[: len(segs) - retention]:
                if lst <= covered:
                    os.unlink(os.path.join(self._segdir, name))
                    deleted += 1
            self._fsync_dir(self._segdir)
        self.cursor = {"gen": new_gen, "offset": header_len, "seq": covered}
        return {
            "archived": archived,
            "segment": _segment_name(seg_first, seg_last) if seg_first is not None and seg_last is not None else None,
            "carried": len(carried),
            "folded": n,
            "seq": covered,
            "segments": len(segs) - deleted,
            "deleted_segments": deleted,
            "problems": len(self.problems),
        }

    def _clean_tmp(self: Store, directory: str, prefix: str | None, older_than: float | None = None) -> None:  # type: ignore[misc]
        """Remove leftover tmp files of crashed writers (the caller holds the lock that guards
        them; ``older_than`` seconds for those no lock guards)."""
        try:
            names = os.listdir(directory)
        except FileNotFoundError:
            return
        now = time.time()
        for name in names:
            if ".tmp." not in name:
                continue
            if prefix is not None and not name.startswith(prefix + ".tmp."):
                continue
            path = os.path.join(directory, name)
            try:
                if older_than is not None and now - os.stat(path).st_mtime < older_than:
                    continue
                os.unlink(path)
            except OSError:
                pass
