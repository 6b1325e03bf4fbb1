"""Following a state directory's events as they are appended (`simpulse monitor`).

`EventTail.poll()` returns the events with seq above the last one returned, in seq order,
reading only what was appended since; it survives compactions (new log generations) and never
returns a seq twice. The store owns the format: the log's lines are decoded with its `_decode`,
and the files are opened as every file of the state directory is (`safe_open.open_fd`: never
through a link). Standard library only.
"""

from __future__ import annotations

import os
from pathlib import Path

from simpulse.store.codec import LOG_NAME, _decode
from simpulse.store.safe_open import StoreError, open_fd

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterator
    from typing import Any

    from simpulse.store.store import Store

    Event = dict[str, Any]

_CHUNK = 1 << 20


def _read_header(fd: int) -> tuple[str | None, int]:
    """(gen, end of header) of an open events.log, or (None, 0) if it has no valid header."""
    first = os.pread(fd, 4096, 0)
    nl = first.find(b"\n")
    if nl < 0:
        return None, 0
    obj = _decode(first[:nl])
    if obj is None or "seq" in obj or not isinstance(obj.get("gen"), str):
        return None, 0
    return obj["gen"], nl + 1


def _lines(fd: int, start: int, end: int) -> Iterator[tuple[bytes, int]]:
    """Complete lines of fd in [start, end): yields (line, offset just past its newline)."""
    pos = read_at = start
    carry = b""
    while read_at < end:
        chunk = os.pread(fd, min(_CHUNK, end - read_at), read_at)
        if not chunk:
            break
        read_at += len(chunk)
        parts = (carry + chunk).split(b"\n")
        carry = parts.pop()
        for p in parts:
            pos += len(p) + 1
            yield p, pos


class EventTail:
    """Incremental, seq-exact reader of a state directory's events.

    ``poll()`` returns the events with seq > the last one returned, in seq order, reading only
    what was appended since the previous call; it survives compactions (log generations) and
    never returns a seq twice.
    """

    def __init__(self, sdir: Path, *, gen: str | None, offset: int, seq: int, store: Store | None = None) -> None:
        self.dir = Path(sdir)
        self.log = os.path.join(os.fspath(self.dir), LOG_NAME)
        self.gen = gen
        self.offset = offset
        self.seq = seq
        self.store = store
        self.rotations = 0

    def _store(self) -> Store:
        if self.store is None:
            from simpulse.store.store import Store
            self.store = Store(self.dir, create=False)
        return self.store

    def _from_segments(self) -> list[Event]:
        """Events with seq > self.seq archived in segments (after a rotation we had not read)."""
        store = self._store()
        out: list[Event] = []
        for segment in store.archived_segments(after=self.seq):
            for ev in segment:
                s = ev.get("seq")
                if type(s) is int and s > self.seq:
                    out.append(ev)
                    self.seq = s
        return out

    def poll(self) -> list[Event]:
        try:
            fd = open_fd(self.log, os.O_RDONLY)
        except (OSError, StoreError):
            return []          # no log yet, the state directory went away, or a link: nothing to read
        out: list[Event] = []
        try:
            gen, hend = _read_header(fd)
            if gen is None:
                return []      # being created: its header is not complete yet
            if gen != self.gen:
                # A new generation: compaction archived the old log (with whatever we had not
                # read of it) into segments before swapping the log.
                out.extend(self._from_segments())
                self.gen, self.offset = gen, hend
                self.rotations += 1
            size = os.fstat(fd).st_size
            if size < self.offset:  # cut back (a failed append): re-read by seq
                self.offset = hend
            if size > self.offset:
                for line, end in _lines(fd, self.offset, size):
                    self.offset = end
                    ev = _decode(line) if line else None
                    if ev is None:
                        continue
                    s = ev.get("seq")
                    if type(s) is int and s > self.seq:
                        out.append(ev)
                        self.seq = s
        finally:
            os.close(fd)
        return out

    def recent(self, n: int) -> list[Event]:
        """The last `n` events with seq <= self.seq (for the initial view): read backwards from
        the cursor in the log, then the newest segments if the log holds fewer."""
        if n <= 0:
            return []
        found: dict[int, Event] = {}
        try:
            fd = open_fd(self.log, os.O_RDONLY)
        except (OSError, StoreError):
            fd = -1
        if fd >= 0:
            try:
                gen, hend = _read_header(fd)
                if gen is not None and gen == self.gen:
                    end = min(self.offset, os.fstat(fd).st_size)
                    start = end
                    step = 64 * 1024
                    while start > hend and len(found) < n:
                        start = max(hend, start - step)
                        found.clear()
                        buf = os.pread(fd, end - start, start)
                        if start > hend:
                            nl = buf.find(b"\n")
                            buf = buf[nl + 1:] if nl >= 0 else b""
                        for line in buf.split(b"\n"):
                            ev = _decode(line) if line else None
                            if ev is not None and type(ev.get("seq")) is int and ev["seq"] <= self.seq:
                                found[ev["seq"]] = ev
                        step *= 4
            finally:
                os.close(fd)
        if len(found) < n:
            try:
                store = self._store()
                for segment in store.archived_segments(newest_first=True):
                    for ev in segment:
                        s = ev.get("seq")
                        if type(s) is int and s <= self.seq:
                            found.setdefault(s, ev)
                    if len(found) >= n:
                        break
            except Exception:  # noqa: BLE001 — the initial view is best effort
                pass
        return [found[s] for s in sorted(found)[-n:]]
