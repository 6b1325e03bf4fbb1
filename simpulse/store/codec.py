"""The state directory's names, limits and line codec: one self-checking line per event
(``<crc32 hex8> <compact JSON>``), and the scanner that reads a log region line by line.
Standard library only (the shim appends through it)."""

from __future__ import annotations

import os
import zlib

from simpulse import _fastjson as json   # `json` without `re`: the shim imports this module
from simpulse.store.atomic import write_all
from simpulse.store.safe_open import read_file

TYPE_CHECKING = False        # `typing` costs the shim an import; mypy reads this name as typing's
if TYPE_CHECKING:
    from collections.abc import Iterator
    from typing import Any

    from simpulse.store.store import Store


SCHEMA_VERSION = 1  # of events (`v`) and of snapshot.json (`schema`)
LAYOUT_VERSION = 1  # of the state directory (state.json `layout`)

LOG_NAME = "events.log"
LOCK_NAME = "events.lock"
COMPACT_LOCK_NAME = "compact.lock"
SNAPSHOT_NAME = "snapshot.json"
STATE_NAME = "state.json"
SEGMENTS_NAME = "segments"
DIAG_NAME = "simpulse.log"
LEGACY_NAME = "events.jsonl"  # layout 0: the prototype's plain JSON lines

# load() checkpoints when it folded at least this many events, so the tail the shim folds stays
# short. Folding an event costs ~0.2 ms; writing a snapshot of S MB ~10·S ms. Over a cycle of T
# loads between checkpoints, a load pays ~0.1·T ms of tail plus 10·S/T ms of checkpoint: least
# at T = 10·√S, kept within [AUTO_CHECKPOINT_MIN, AUTO_CHECKPOINT] (8 for a small project,
# 20 for a 4 MB mathlib-sized snapshot).
AUTO_CHECKPOINT = 64
AUTO_CHECKPOINT_MIN = 8
AUTO = object()        # load(): the checkpoint threshold from the snapshot's size
# A load through snapshot.view (the shim's) checkpoints as a new view every VIEW_CHECKPOINT
# events (a few ms: only the changed records' buckets are rewritten; the tail it saves costs
# ~0.4 ms an event), and as a full snapshot, written by a detached process, once the view is
# VIEW_SPAN events past the snapshot (~50 ms for a mathlib-sized one, off every compile's path).
VIEW_CHECKPOINT = 6
VIEW_SPAN = 400

_TAIL_CHUNK = 8192
_TAIL_WINDOW = 1 << 20  # append looks this far back for the last valid line, then scans forwards
_READ_CHUNK = 1 << 20
_FOLD_REPORTS = 5      # events a load reports one by one when fold raises on them; then a count
_MAX_LINE = 1 << 20    # a longer "line" is junk: skipped as it streams by, never accumulated
_DIAG_DEDUP_WINDOW = 1 << 20
_O_CLOEXEC = getattr(os, "O_CLOEXEC", 0)


# --------------------------------------------------------------------------- line codec


def _encode(obj: Any) -> bytes:
    """One log line: ``<crc32 of the JSON bytes, 8 lowercase hex> <compact JSON>\\n``."""
    body = json.dumps(obj, separators=(",", ":")).encode("ascii")
    return b"%08x %s\n" % (zlib.crc32(body), body)


def _decode(line: bytes) -> dict[str, Any] | None:
    """The JSON object of a line without its newline, or None when it does not check out."""
    if len(line) < 11 or line[8] != 0x20:
        return None
    try:
        crc = int(line[:8], 16)
    except ValueError:
        return None
    body = line[9:]
    if zlib.crc32(body) != crc:
        return None
    try:
        obj = json.loads(body)
    except (ValueError, RecursionError):
        return None
    return obj if type(obj) is dict else None


def _fresh(initial: Any) -> Any:
    """A private copy of ``initial`` with the types a snapshot would give back."""
    try:
        return json.loads(json.dumps(initial))
    except (TypeError, ValueError):
        import copy

        return copy.deepcopy(initial)


def _segment_name(first: int, last: int) -> str:
    return f"events-{first:012d}-{last:012d}.log.gz"


def _parse_segment_name(name: str) -> tuple[int, int] | None:
    if not (name.startswith("events-") and name.endswith(".log.gz")):
        return None
    parts = name[7:-7].split("-")
    if len(parts) != 2 or not (parts[0].isdigit() and parts[1].isdigit()):
        return None
    first, last = int(parts[0]), int(parts[1])
    return (first, last) if first <= last else None


def _strerror(e: OSError) -> str:
    return e.strerror or str(e)


class _LogScan:
    """Iterate the valid events of an ``events.log`` descriptor from byte ``start``.

    Yields ``(event, raw_line)``. Afterwards ``end`` is the offset just past the last complete
    line read, ``partial_at`` the offset of trailing bytes without a newline (a torn line, or
    a line being written right now) or None, ``size`` the offset up to which bytes were seen,
    ``bad_lines``/``bad_bytes`` how much damage was skipped (reported once, as one summary
    line per scan: a damaged region costs one diagnostic, not one per line).
    Lines are checksummed one by one, then the good ones parsed by a single ``json.loads``
    (about a third cheaper than one call per line: this is the hot path of ``load``). A "line"
    longer than ``_MAX_LINE`` (junk without newlines) is skipped as it streams by, never
    accumulated.
    """

    __slots__ = ("store", "fd", "start", "limit", "gen", "end", "partial_at", "size",
                 "bad_lines", "bad_bytes", "bad_first", "bad_end")

    def __init__(self, store: Store, fd: int, start: int, gen: str | None, limit: int | None = None) -> None:
        self.store = store
        self.fd = fd
        self.start = start
        self.limit = limit
        self.gen = gen
        self.end = start
        self.partial_at: int | None = None
        self.size = start
        self.bad_lines = self.bad_bytes = 0
        self.bad_first: int | None = None
        self.bad_end: int | None = None

    def _bad(self, off: int, n: int) -> None:
        self.bad_lines += 1
        self.bad_bytes += n
        if self.bad_first is None:
            self.bad_first = off
        self.bad_end = off + n

    def __iter__(self) -> Iterator[tuple[dict[str, Any], bytes]]:
        fd, limit, crc32 = self.fd, self.limit, zlib.crc32
        pos = self.start
        carry = b""
        carry_at = pos
        skipping = False  # inside an over-long line: drop bytes up to the next newline
        skip_from: int | None = None
        while True:
            want = _READ_CHUNK if limit is None else min(_READ_CHUNK, limit - pos)
            if want <= 0:
                break
            chunk = os.pread(fd, want, pos)
            if not chunk:
                break
            pos += len(chunk)
            if skipping:
                nl = chunk.find(b"\n")
                if nl < 0:
                    self.bad_bytes += len(chunk)
                    self.bad_end = pos
                    carry_at = pos
                    continue
                self.bad_bytes += nl + 1
                self.bad_end = carry_at + nl
                carry_at += nl + 1
                chunk = chunk[nl + 1:]
                skipping = False
            lines = (carry + chunk if carry else chunk).split(b"\n")
            carry = lines.pop()
            off = carry_at
            bodies: list[bytes] = []
            raws: list[bytes] = []
            offs: list[int] = []
            for line in lines:
                n = len(line)
                if n:
                    body = line[9:]
                    try:
                        good = n > 10 and line[8] == 0x20 and int(line[:8], 16) == crc32(body)
                    except ValueError:
                        good = False
                    if good:
                        bodies.append(body)
                        raws.append(line)
                        offs.append(off)
                    else:
                        self._bad(off, n + 1)
                off += n + 1
            carry_at = off
            self.end = off
            if len(carry) > _MAX_LINE:
                self._bad(carry_at, len(carry))
                skip_from = carry_at
                carry_at += len(carry)
                carry = b""
                skipping = True
            if not bodies:
                continue
            try:
                objs = json.loads(b"[" + b",".join(bodies) + b"]")
                if len(objs) != len(bodies):
                    raise ValueError("misaligned")
            except (ValueError, RecursionError):
                objs = [_json_or_none(b) for b in bodies]
            for obj, raw, o in zip(objs, raws, offs):
                if type(obj) is dict and type(obj.get("seq")) is int:
                    yield obj, raw
                elif type(obj) is not dict or o != 0:  # a valid line without seq: only the header may be one
                    self._bad(o, len(raw) + 1)
        self.size = pos
        self.partial_at = carry_at if carry else None
        if skipping:
            self.partial_at = skip_from  # junk without a final newline: a (long) torn tail
        if self.bad_lines:
            self.store._damage(self.gen, self.bad_first, self.bad_end, self.bad_lines, self.bad_bytes)


def _json_or_none(body: bytes) -> Any:
    try:
        return json.loads(body)
    except (ValueError, RecursionError):
        return None


_read_file = read_file     # the bytes of a regular file of the state directory (never through a link)


_write_all = write_all
