"""Appending events to ``events.log``: one line per event, seq-numbered under the log's lock,
written whole or cut back; the log's tail found again after a torn or damaged last line.
A part of `Store` (`simpulse.store.store`). Standard library only (the shim appends).
"""

from __future__ import annotations

import errno
import os
import time

from simpulse.store.codec import (
    LAYOUT_VERSION,
    LOG_NAME,
    SCHEMA_VERSION,
    _TAIL_CHUNK,
    _TAIL_WINDOW,
    _LogScan,
    _decode,
    _encode,
    _strerror,
)
from simpulse.store.safe_open import StoreError, open_fd

TYPE_CHECKING = False        # `typing` costs the shim an import; mypy reads this name as typing's
if TYPE_CHECKING:
    from collections.abc import Iterable

    from simpulse.model.records import Event
    from simpulse.store.store import Store


class _Appends:
    """`Store`'s appends (its attributes — the log's path, its lock, fsync — are `Store`'s).

    Its methods annotate ``self: Store``; mypy accepts a self type narrower than the class only
    from a Protocol, hence the ``type: ignore[misc]`` on each (the bodies are checked as Store's)."""

    def append(self: Store, event: Event) -> None:  # type: ignore[misc]  # Store mixin
        """Append one event (``seq`` and, if absent, ``v`` are added to the dict). Durable when
        it returns (with ``fsync``); raises StoreError and leaves no partial line on failure."""
        self._append((event,))

    def append_many(self: Store, events: Iterable[Event]) -> None:  # type: ignore[misc]  # Store mixin
        """Append several events under one lock and one write (consecutive seqs)."""
        events = list(events)
        if events:
            self._append(events)

    def _append(self: Store, events: Iterable[Event]) -> None:  # type: ignore[misc]  # Store mixin
        for ev in events:
            if not isinstance(ev, dict):
                raise StoreError(f"an event must be a dict, not {type(ev).__name__}")
        lk = self._acquire(self._lock)
        torn = None
        try:
            try:
                fd = open_fd(self._log, os.O_RDWR | os.O_APPEND)
            except FileNotFoundError:
                fd = -1
            except OSError as e:
                raise StoreError(f"cannot open {self._log}: {_strerror(e)}") from e
            if fd < 0:
                try:
                    self._create_log(self._max_known_seq())
                    fd = open_fd(self._log, os.O_RDWR | os.O_APPEND)
                except OSError as e:
                    raise StoreError(f"cannot create {self._log}: {_strerror(e)}") from e
            try:
                size = os.fstat(fd).st_size
                parts = []
                if size == 0:  # an empty file without header (not made by us): give it one
                    last = self._max_known_seq()
                    parts.append(_encode({"log": LAYOUT_VERSION, "gen": os.urandom(8).hex(), "base_seq": last,
                                          "created": round(time.time(), 3)}))
                else:
                    last, torn, ends_nl = self._tail_state(fd, size)
                    if not ends_nl:
                        parts.append(b"\n")  # end the torn line: ours starts on a fresh line
                for ev in events:
                    last += 1
                    ev["seq"] = last
                    if "v" not in ev:
                        ev["v"] = SCHEMA_VERSION
                    try:
                        parts.append(_encode(ev))
                    except (TypeError, ValueError) as e:
                        raise StoreError(f"event is not JSON-serialisable: {e}") from e
                self._write_line(fd, b"".join(parts), size)
            except OSError as e:
                raise StoreError(f"cannot append to {self._log}: {_strerror(e)}") from e
            finally:
                os.close(fd)
        finally:
            lk.release()
        if torn is not None:
            self._torn(*torn)

    def _write_line(self: Store, fd: int, buf: bytes, size: int) -> None:  # type: ignore[misc]  # Store mixin
        """Write ``buf`` at the end (one os.write); on any failure cut the file back to ``size``."""
        try:
            n = os.write(fd, buf)
            if n != len(buf):
                self._diag(f"{LOG_NAME}: short write ({n} of {len(buf)} bytes) at byte {size}; completing it")
                view = memoryview(buf)[n:]
                while view:
                    k = os.write(fd, view)
                    if k <= 0:
                        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
                    view = view[k:]
            if self.fsync:
                os.fdatasync(fd)
        except OSError as e:
            # We hold the exclusive lock: nobody wrote after `size`, so cutting back there removes
            # exactly our (possibly partial) line. If even that fails, readers skip the torn line
            # and the next append starts on a new line.
            try:
                os.ftruncate(fd, size)
            except OSError as e2:
                self._diag(f"{LOG_NAME}: failed append left a partial line at byte {size} ({_strerror(e2)})")
            raise StoreError(f"cannot append to {self._log}: {_strerror(e)}") from e

    def _tail_state(self: Store, fd: int, size: int) -> tuple[int, tuple[str | None, int] | None, bool]:  # type: ignore[misc]  # Store mixin
        """(last seq, (gen, offset) of a torn last line or None, file ends with newline).

        Looks for the last valid line in the last MB, backwards; when damage fills that window
        (junk appended to the log) it scans forwards instead, from the snapshot's cursor when it
        lies in this log generation (a load checkpoints past damage, so this is short), else
        from the header: a damaged region is read once, not on every append."""
        chunk = _TAIL_CHUNK
        while True:
            start = max(0, size - chunk)
            buf = os.pread(fd, size - start, start)
            ends_nl = buf.endswith(b"\n")
            lines = buf.split(b"\n")
            tail_piece = lines.pop()  # after the last newline: b"" or a torn line
            first_complete = 0 if start == 0 else 1  # the first piece may be cut by the window
            torn = None
            if tail_piece:
                torn_at = size - len(tail_piece)
                if torn_at > start or start == 0:
                    torn = torn_at
            found = None
            for idx in range(len(lines) - 1, first_complete - 1, -1):
                obj = _decode(lines[idx])
                if obj is None:
                    continue
                seq = obj.get("seq")
                if type(seq) is int:
                    found = seq
                    break
                if start == 0 and idx == 0 and isinstance(obj.get("gen"), str):
                    base = obj.get("base_seq")
                    found = base if type(base) is int else 0
                    break
            if found is None and start > 0 and chunk >= _TAIL_WINDOW:
                found, torn = self._tail_by_scan(fd, size, torn)
                start = 0
            if found is not None or start == 0:
                if found is None:
                    found = self._max_known_seq()
                torn_info = None
                if torn is not None:
                    gen = self._read_header(fd)[0]
                    torn_info = (gen, torn)
                return found, torn_info, ends_nl
            chunk = min(chunk * 8, _TAIL_WINDOW)

    def _tail_by_scan(self: Store, fd: int, size: int, torn: int | None) -> tuple[int | None, int | None]:  # type: ignore[misc]  # Store mixin
        """(highest seq in the log or None, torn offset): a forward scan, for a damaged tail."""
        gen, base, hend = self._read_header(fd)
        start, best = hend, (base if gen is not None else None)
        snap = self._read_snapshot(report=False)
        if snap is not None and gen is not None:
            c = snap["cursor"]
            if c["gen"] == gen and hend <= c["offset"] <= size and \
                    (c["offset"] == hend or os.pread(fd, 1, c["offset"] - 1) == b"\n"):
                # the cursor's seq bounds every event before its offset (a lying seq is caught by
                # the next load, which sets the snapshot aside)
                start, best = c["offset"], max(base, c["seq"])
        scan = _LogScan(self, fd, start, gen, limit=size)
        for ev, _line in scan:
            if best is None or ev["seq"] > best:
                best = ev["seq"]
        return best, (scan.partial_at if scan.partial_at is not None else torn)
