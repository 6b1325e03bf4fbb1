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

import errno
import fcntl
import math
import os
import time
import zlib

from simpulse import _fastjson as json   # `json` without `re`: the shim imports this module

from simpulse.store.atomic import write_all, write_atomic
from simpulse.store.file_lock import FileLock, try_lock
from simpulse.store.safe_open import StoreError, UnsafeFile, UnsafeStateDir, check_dir, ensure_subdir, open_fd, read_file

__all__ = ["SCHEMA_VERSION", "LAYOUT_VERSION", "StoreError", "UnsafeStateDir", "UnsafeFile", "Store"]

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

_TAIL_CHUNK = 8192
_TAIL_WINDOW = 1 << 20  # append looks this far back for the last valid line, then scans forwards
_READ_CHUNK = 1 << 20
_FOLD_REPORTS = 5      # events a load reports one by one when fold raises on them; then a count
_MAX_LINE = 1 << 20    # a longer "line" is junk: skipped as it streams by, never accumulated
_DIAG_DEDUP_WINDOW = 1 << 20
_O_CLOEXEC = getattr(os, "O_CLOEXEC", 0)


# --------------------------------------------------------------------------- line codec


def _encode(obj):
    """One log line: ``<crc32 of the JSON bytes, 8 lowercase hex> <compact JSON>\\n``."""
    body = json.dumps(obj, separators=(",", ":")).encode("ascii")
    return b"%08x %s\n" % (zlib.crc32(body), body)


def _decode(line):
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


def _fresh(initial):
    """A private copy of ``initial`` with the types a snapshot would give back."""
    try:
        return json.loads(json.dumps(initial))
    except (TypeError, ValueError):
        import copy

        return copy.deepcopy(initial)


def _segment_name(first, last):
    return f"events-{first:012d}-{last:012d}.log.gz"


def _parse_segment_name(name):
    if not (name.startswith("events-") and name.endswith(".log.gz")):
        return None
    parts = name[7:-7].split("-")
    if len(parts) != 2 or not (parts[0].isdigit() and parts[1].isdigit()):
        return None
    first, last = int(parts[0]), int(parts[1])
    return (first, last) if first <= last else None


def _strerror(e):
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

    def __init__(self, store, fd, start, gen, limit=None):
        self.store = store
        self.fd = fd
        self.start = start
        self.limit = limit
        self.gen = gen
        self.end = start
        self.partial_at = None
        self.size = start
        self.bad_lines = self.bad_bytes = 0
        self.bad_first = self.bad_end = None

    def _bad(self, off, n):
        self.bad_lines += 1
        self.bad_bytes += n
        if self.bad_first is None:
            self.bad_first = off
        self.bad_end = off + n

    def __iter__(self):
        fd, limit, crc32 = self.fd, self.limit, zlib.crc32
        pos = self.start
        carry = b""
        carry_at = pos
        skipping = False  # inside an over-long line: drop bytes up to the next newline
        skip_from = None
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
            bodies, raws, offs = [], [], []
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


def _json_or_none(body):
    try:
        return json.loads(body)
    except (ValueError, RecursionError):
        return None


# --------------------------------------------------------------------------- the store


class Store:
    """One state directory. Cheap to construct; holds no file open between calls."""

    def __init__(self, state_dir, *, create=True, fsync=True):
        self._snap_bytes = 0
        self.fsync = fsync
        self.problems = []
        self.cursor = None  # the cursor of the last load(): {"gen", "offset", "seq"}
        self._reported = set()
        self.damaged = False   # a scan of this Store met damaged lines (load then checkpoints past them)
        self._rejected = set()  # snapshots (stats_crc:cursor) found wrong in meaning: ignored
        self._snap_crc = None
        self._fold_failures = 0
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
    def dir(self):
        """The state directory as a Path (pathlib is kept off the shim's import path)."""
        from pathlib import Path
        return Path(self._d)

    def __repr__(self):
        return f"Store({self._d!r})"

    # ----------------------------------------------------------------- layout & migration

    def _check_layout(self):
        try:
            raw = _read_file(self._state)
        except FileNotFoundError:
            raw = None
        except OSError as e:
            raise StoreError(f"cannot read {self._state}: {_strerror(e)}") from e
        if raw is not None:
            layout = self._parse_layout(raw)
            if layout == LAYOUT_VERSION:
                return
            if layout == 0 and os.path.exists(os.path.join(self._d, LEGACY_NAME)):
                self._migrate()
                return
            if layout == 0:
                self._write_state()
                return
        elif os.path.exists(os.path.join(self._d, LEGACY_NAME)):
            self._migrate()
        else:
            try:
                self._write_state()
            except OSError:
                pass  # read-only directory: reading works, appending will raise StoreError

    def _parse_layout(self, raw):
        try:
            layout = json.loads(raw)["layout"]
            if type(layout) is not int:
                raise TypeError(layout)
        except (ValueError, KeyError, TypeError, RecursionError) as e:
            raise StoreError(
                f"{self._state} is unreadable ({type(e).__name__}); if {self._d} is a "
                f"simpulse state directory of layout {LAYOUT_VERSION}, delete that file and it "
                f"will be recreated"
            ) from None
        if layout > LAYOUT_VERSION:
            from simpulse import __version__

            raise StoreError(
                f"state directory {self._d} has layout {layout}, written by a newer simpulse; "
                f"this simpulse ({__version__}) understands layouts up to {LAYOUT_VERSION}. "
                f"Upgrade simpulse, or use another --state-dir"
            )
        if layout < 0:
            raise StoreError(f"{self._state}: invalid layout {layout}")
        return layout

    def _write_state(self):
        from simpulse import __version__

        info = {"layout": LAYOUT_VERSION, "written": round(time.time(), 3), "simpulse": __version__}
        self._write_atomic(self._state, (json.dumps(info) + "\n").encode())

    def _migrate(self):
        """Layout 0 (``events.jsonl``: plain JSON lines, no checksums) -> layout 1.

        Order: write the new ``events.log`` (tmp + rename, header marked ``migrated``), rename
        ``events.jsonl`` to ``events.jsonl.migrated``, write ``state.json``. Until state.json
        exists no Store is usable, so an ``events.log`` found next to ``events.jsonl`` with the
        ``migrated`` mark is a leftover of an interrupted migration and is redone.
        """
        legacy = os.path.join(self._d, LEGACY_NAME)
        try:
            with FileLock(self._clock), FileLock(self._lock):
                try:
                    if self._parse_layout(_read_file(self._state)) == LAYOUT_VERSION:
                        return  # another process migrated meanwhile
                except FileNotFoundError:
                    pass
                if not os.path.exists(legacy):
                    self._write_state()
                    return
                if os.path.exists(self._log):
                    fd = open_fd(self._log, os.O_RDONLY)
                    try:
                        head = self._read_header_obj(fd)
                    finally:
                        os.close(fd)
                    if head is None or not head.get("migrated"):
                        raise StoreError(
                            f"{self._d} holds both {LEGACY_NAME} (layout 0) and {LOG_NAME} "
                            f"but no {STATE_NAME}; refusing to guess which is current. Move "
                            f"one of them away"
                        )
                raw = _read_file(legacy)
                lines, seq, bad = [], 0, 0
                for lineno, line in enumerate(raw.split(b"\n"), 1):
                    if not line.strip():
                        continue
                    try:
                        ev = json.loads(line)
                    except (ValueError, RecursionError):
                        ev = None
                    if type(ev) is not dict:
                        bad += 1
                        self._report(
                            f"legacy:{lineno}",
                            f"{LEGACY_NAME}: line {lineno} is not a JSON object; not migrated "
                            f"(it is kept in {LEGACY_NAME}.migrated)",
                        )
                        continue
                    seq += 1
                    if "seq" in ev:
                        ev["legacy_seq"] = ev["seq"]
                    ev["seq"] = seq
                    ev.setdefault("v", SCHEMA_VERSION)
                    lines.append(_encode(ev))
                self._create_log(0, lines, migrated=True)
                kept = legacy + ".migrated"
                n = 1
                while os.path.exists(kept):
                    kept = f"{legacy}.migrated.{n}"
                    n += 1
                os.rename(legacy, kept)
                self._fsync_dir(self._d)
                self._write_state()
                self._diag(
                    f"migrated {seq} events from layout 0 ({LEGACY_NAME}) to layout "
                    f"{LAYOUT_VERSION}; original kept as {os.path.basename(kept)}"
                    + (f"; {bad} unreadable lines not migrated" if bad else "")
                )
        except OSError as e:
            raise StoreError(f"cannot migrate {legacy} to layout {LAYOUT_VERSION}: {_strerror(e)}") from e

    # ----------------------------------------------------------------- diagnostics

    def _report(self, key, msg):
        """Record a problem once per Store in ``problems`` and once per state dir in simpulse.log."""
        if key in self._reported:
            return
        self._reported.add(key)
        self.problems.append(msg)
        self._diag(msg, key)

    def _damage(self, gen, first, end, lines, nbytes):
        """One summary line per scan that met damaged lines (not one per line: 200 MB of junk
        is one diagnostic), keyed by where the damage starts so simpulse.log has it once."""
        self.damaged = True
        if lines == 1:
            msg = f"{LOG_NAME}: skipped 1 corrupt line at byte {first}"
        else:
            msg = f"{LOG_NAME}: skipped {lines} corrupt lines ({nbytes} bytes) in bytes {first}..{end}"
        self._report(f"log:{gen}:{first}", msg)

    def _torn(self, gen, offset):
        self._report(f"log:{gen}:{offset}", f"{LOG_NAME}: skipped 1 torn line at byte {offset}")

    def _diag(self, msg, key=None):
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

    def _fsync_dir(self, path):
        if not self.fsync:
            return
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | _O_CLOEXEC)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

    def _tmp_name(self, path):
        return f"{path}.tmp.{os.getpid()}.{os.urandom(4).hex()}"

    def _write_atomic(self, path, data):
        """tmp file + fsync + rename: the file is either old or new, never torn (`atomic`)."""
        write_atomic(path, data, fsync=self.fsync, tmp=self._tmp_name(path))
        self._fsync_dir(os.path.dirname(path))

    def _create_log(self, base_seq, lines=(), *, migrated=False):
        """Atomically replace (or create) events.log: a new generation. Caller holds events.lock."""
        head = {"log": LAYOUT_VERSION, "gen": os.urandom(8).hex(), "base_seq": base_seq, "created": round(time.time(), 3)}
        if migrated:
            head["migrated"] = LEGACY_NAME
        header = _encode(head)
        self._write_atomic(self._log, header + b"".join(lines))
        return head["gen"], len(header)

    def _read_header_obj(self, fd):
        first = os.pread(fd, 4096, 0)
        nl = first.find(b"\n")
        if nl < 0:
            return None
        obj = _decode(first[:nl])
        if obj is None or "seq" in obj or not isinstance(obj.get("gen"), str):
            return None
        obj["_end"] = nl + 1
        return obj

    def _read_header(self, fd):
        """(gen, base_seq, header_end); (None, 0, 0) when the log has no valid header."""
        obj = self._read_header_obj(fd)
        if obj is None:
            return None, 0, 0
        base = obj.get("base_seq")
        return obj["gen"], base if type(base) is int else 0, obj["_end"]

    def _segments(self):
        """[(first, last, name)] of the archived segments, in seq order."""
        try:
            if os.path.islink(self._segdir):
                self._report("seg:link", f"{SEGMENTS_NAME}/ is a symbolic link: not followed, its segments are not read")
                return []
            names = os.listdir(self._segdir)
        except (FileNotFoundError, NotADirectoryError):
            return []
        segs = []
        for name in names:
            r = _parse_segment_name(name)
            if r is not None:
                segs.append((r[0], r[1], name))
        segs.sort()
        return segs

    def _segment_events(self, name):
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

    def archived_segments(self, *, after: int | None = None, newest_first: bool = False):
        """The segments compaction archived, each as an iterator of its valid events (in seq
        order); only segments holding a seq above `after`; the newest first with
        `newest_first`. Read-only: how `monitor` catches up on a rotation it had not seen."""
        segs = self._segments()
        for _first, last, name in (reversed(segs) if newest_first else segs):
            if after is None or last > after:
                yield self._segment_events(name)

    def _max_known_seq(self):
        """The highest seq recorded outside events.log (segments, snapshot): to seed a new log."""
        best = 0
        for _first, last, _name in self._segments():
            best = max(best, last)
        snap = self._read_snapshot(report=False)
        if snap is not None:
            best = max(best, snap["cursor"]["seq"])
        return best

    # ----------------------------------------------------------------- appending

    def append(self, event):
        """Append one event (``seq`` and, if absent, ``v`` are added to the dict). Durable when
        it returns (with ``fsync``); raises StoreError and leaves no partial line on failure."""
        self._append((event,))

    def append_many(self, events):
        """Append several events under one lock and one write (consecutive seqs)."""
        events = list(events)
        if events:
            self._append(events)

    def _append(self, events):
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

    def _write_line(self, fd, buf, size):
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

    def _tail_state(self, fd, size):
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

    def _tail_by_scan(self, fd, size, torn):
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

    # ----------------------------------------------------------------- snapshot

    def _read_snapshot(self, report=True):
        """The valid snapshot as a dict, or None (missing, or invalid: reported)."""
        self._snap_bytes = 0
        try:
            raw = _read_file(self._snap)
        except FileNotFoundError:
            return None
        except UnsafeFile as e:
            if report:
                self._report("snapshot:unsafe", f"{SNAPSHOT_NAME}: ignored ({e}); statistics rebuilt from the event log")
            return None
        except OSError as e:
            if report:
                self._report(f"snapshot:io:{e.errno}",
                             f"{SNAPSHOT_NAME}: unreadable ({_strerror(e)}); statistics rebuilt from the event log")
            return None
        self._snap_bytes = len(raw)
        why = None
        try:
            snap = json.loads(raw)
        except (ValueError, RecursionError):
            snap, why = None, "not valid JSON"
        if why is None:
            why = _check_snapshot(snap, raw)
        if why is None:
            c = snap["cursor"]
            self._snap_crc = f"{snap['stats_crc']}:{c['gen']}:{c['offset']}:{c['seq']}"
            if self._snap_crc in self._rejected:
                return None  # set aside by this Store already (reported then)
            return snap
        if report:
            self._report(
                f"snapshot:{zlib.crc32(raw):08x}",
                f"{SNAPSHOT_NAME}: ignored ({why}); statistics rebuilt from the event log",
            )
        return None

    def _encode_snapshot(self, stats, cursor):
        try:
            stats_json = json.dumps(stats, separators=(",", ":")).encode("ascii")
        except (TypeError, ValueError) as e:
            raise StoreError(f"statistics are not JSON-serialisable: {e}") from e
        head = json.dumps({"schema": SCHEMA_VERSION, "cursor": cursor, "written": round(time.time(), 3),
                           "stats_crc": f"{zlib.crc32(stats_json):08x}"}, separators=(",", ":")).encode("ascii")
        # stats last, so the reader can checksum the exact bytes without re-serialising them
        return head[:-1] + b',"stats":' + stats_json + b"}\n"

    def _write_snapshot(self, stats, cursor, *, replace_invalid=False):
        data = self._encode_snapshot(stats, cursor)
        if replace_invalid and os.path.exists(self._snap):
            try:
                os.replace(self._snap, self._snap + ".corrupt")
            except OSError:
                pass
        self._write_atomic(self._snap, data)

    def checkpoint(self, stats, covered=None):
        """Write snapshot.json: ``stats`` cover the events up to cursor ``covered`` (the
        ``store.cursor`` left by the ``load`` that produced them; the default).

        Never blocks: returns False if another process holds the compaction lock, or if the
        snapshot on disk already covers as much; True when a snapshot was written.
        """
        if covered is None or callable(covered):  # callable: the design's checkpoint(stats, fold)
            covered = self.cursor
        if not _valid_cursor(covered):
            raise StoreError("checkpoint needs the cursor of a load() (store.cursor)")
        covered = {"gen": covered["gen"], "offset": covered["offset"], "seq": covered["seq"]}
        try:
            held = try_lock(self._clock)
        except FileNotFoundError:
            raise StoreError(f"state directory {self._d} no longer exists (removed while in use?)") from None
        except OSError as e:
            raise StoreError(f"cannot lock {self._clock}: {_strerror(e)}") from e
        if held is None:
            return False
        with held:
            cur = self._read_snapshot()
            if cur is not None:
                c = cur["cursor"]
                if c["seq"] > covered["seq"]:
                    return False
                if c["seq"] == covered["seq"] and c["gen"] == covered["gen"] and c["offset"] >= covered["offset"]:
                    return False
            try:
                self._write_snapshot(stats, covered, replace_invalid=cur is None)
            except OSError as e:
                raise StoreError(f"cannot write {self._snap}: {_strerror(e)}") from e
        return True

    # ----------------------------------------------------------------- reading

    def load(self, fold, initial, *, checkpoint_after=AUTO, validate=None):
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
        stats, n = res
        if self._fold_failures > _FOLD_REPORTS:
            self._report(f"fold:more:{self.cursor['gen']}:{self.cursor['seq']}",
                         f"{self._fold_failures - _FOLD_REPORTS} more events could not be folded and were skipped")
        if checkpoint_after is AUTO:
            mb = self._snap_bytes / 1e6
            checkpoint_after = min(AUTO_CHECKPOINT, max(AUTO_CHECKPOINT_MIN, round(10 * math.sqrt(mb))))
        if checkpoint_after is not None and (
            n >= checkpoint_after
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
            try:
                self.checkpoint(stats, self.cursor)
            except StoreError:
                pass
        return stats, n

    def _checked_snapshot(self, initial, validate):
        """The snapshot if its statistics have the shape of ``initial`` and pass ``validate``;
        otherwise None (it is set aside: reported, and replaced by the next checkpoint)."""
        snap = self._read_snapshot()
        if snap is None:
            return None
        why = _shape_error(snap["stats"], initial, "stats", 0)
        if why is None and validate is not None:
            try:
                why = validate(snap["stats"])
            except Exception as e:  # noqa: BLE001 - a validator that trips is a rejection
                why = f"{type(e).__name__}: {e}"
        if why is not None:
            self._reject_snapshot(why)
            return None
        return snap

    def _reject_snapshot(self, why):
        """The snapshot last read is wrong (valid checksum, wrong meaning): every later read by
        this Store ignores it, and the next checkpoint renames it ``.corrupt``."""
        self._rejected.add(self._snap_crc)
        self._report(f"snapshot:{self._snap_crc}", f"{SNAPSHOT_NAME}: ignored ({why}); statistics rebuilt from the event log")

    def _fold(self, fold, stats, ev):
        """``fold(stats, ev)``; an event it raises on is skipped and reported (the first few one
        by one, then a count), never stopping the events after it."""
        try:
            return fold(stats, ev)
        except Exception as e:  # noqa: BLE001
            self._fold_failures += 1
            if self._fold_failures <= _FOLD_REPORTS:
                self._report(f"fold:{ev.get('seq')}:{ev.get('id')}",
                             f"event seq {ev.get('seq')} could not be folded ({type(e).__name__}: {str(e)[:200]}); "
                             f"skipped, the events after it are folded")
            return stats

    def _shared_compact_lock(self):
        # read-only state dir: nobody can compact it, reading without the lock is safe
        return self._acquire(self._clock, shared=True, readonly_ok=True)

    def _acquire(self, path, *, shared=False, readonly_ok=False):
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

    def _open_log_ro(self):
        try:
            return open_fd(self._log, os.O_RDONLY)
        except FileNotFoundError:
            return -1
        except OSError as e:
            raise StoreError(f"cannot read {self._log}: {_strerror(e)}") from e

    def _load_fast(self, snap, fold):
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
            stats = snap["stats"]
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

    def _seq_before(self, fd, hend, off):
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
                return obj["seq"]
        return None

    def _check_partial(self, fd, scan):
        """Report trailing bytes without a newline, unless a writer is still writing them."""
        if scan.partial_at is None:
            return
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

    def _fold_segments(self, snap, fold, initial):
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

    def _load_slow(self, snap, fold, initial):
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

    def _gap(self, lo, hi):
        self._report(
            f"gap:{lo}:{hi}",
            f"events {lo}..{hi} are not available (segments deleted by retention, or lost) and "
            f"no valid snapshot covers them: statistics are rebuilt without them",
        )

    def iter_events(self, *, include_segments=True):
        """Every surviving event in seq order: the segments, then the log (holding a shared
        compact.lock while iterating; do not call ``compact`` from inside the loop)."""
        lk = self._shared_compact_lock()
        try:
            segs = self._segments()
            max_seg = segs[-1][1] if segs else 0
            last = 0
            if include_segments:
                for _first, _last, name in segs:
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
                scan = _LogScan(self, fd, hend, gen)
                for ev, _line in scan:
                    if ev["seq"] > threshold:
                        threshold = ev["seq"]
                        yield ev
                self._check_partial(fd, scan)
            finally:
                os.close(fd)
        finally:
            lk.release()

    # ----------------------------------------------------------------- compaction

    def compact(self, fold, initial, *, retention_segments=None, validate=None):
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
                return self._compact_locked(fold, initial, retention_segments, validate)
            except _SnapshotLies as e:
                self._reject_snapshot(str(e))   # ignored from now on: start again without it
                self._fold_failures = 0
                return self._compact_locked(fold, initial, retention_segments, validate)
        except OSError as e:
            raise StoreError(f"compaction of {self._d} failed: {_strerror(e)}") from e
        finally:
            lk.release()

    def _compact_locked(self, fold, initial, retention, validate=None):
        import gzip

        self._clean_tmp(self._segdir, None)
        self._clean_tmp(self._d, SNAPSHOT_NAME)
        self._clean_tmp(self._d, STATE_NAME, older_than=600)  # written without a lock
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
            self._clean_tmp(self._d, LOG_NAME)
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
            "segment": _segment_name(seg_first, seg_last) if seg_first is not None else None,
            "carried": len(carried),
            "folded": n,
            "seq": covered,
            "segments": len(segs) - deleted,
            "deleted_segments": deleted,
            "problems": len(self.problems),
        }

    def _clean_tmp(self, directory, prefix, older_than=None):
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


class _SnapshotLies(Exception):
    """compact found the snapshot's cursor beyond every event there is (internal)."""


_read_file = read_file     # the bytes of a regular file of the state directory (never through a link)


_write_all = write_all


_MAX_POS = 1 << 62     # no offset or seq of a real log comes near this


def _valid_cursor(c):
    return (
        type(c) is dict
        and "gen" in c
        and (c["gen"] is None or (type(c.get("gen")) is str and 0 < len(c["gen"]) <= 64))
        and type(c.get("offset")) is int
        and 0 <= c["offset"] < _MAX_POS
        and type(c.get("seq")) is int
        and 0 <= c["seq"] < _MAX_POS
    )


_SHAPE_DEPTH = 4


def _shape_error(v, t, path, depth):
    """None if ``v`` has the shape of the template ``t`` (the caller's ``initial``), else why.

    At the top, a dict must hold every key of the template's dict (more keys are fine); below,
    a key the template has and the statistics lack is filled in from the template (statistics
    written by an earlier version, before the key existed: what the fold's own ``setdefault``
    would do). Every value must be of the template's kind: a dict, a list, a string, a bool,
    or a finite number (int and float are interchangeable); None in the template accepts
    anything. Checked ``_SHAPE_DEPTH`` levels deep, which covers a statistics' counters; what
    the template cannot describe (the entries of an empty dict or list) is the caller's
    ``validate``'s to check."""
    if t is None:
        return None
    if type(t) is dict:
        if type(v) is not dict:
            return f"{path} is {_kind(v)}, expected an object"
        if depth < _SHAPE_DEPTH:
            for k, tv in t.items():
                if k not in v:
                    if depth == 0:
                        return f"{path}.{k} is missing"
                    v[k] = _fresh(tv)
                    continue
                why = _shape_error(v[k], tv, f"{path}.{k}", depth + 1)
                if why is not None:
                    return why
        return None
    if type(t) is list:
        return None if type(v) is list else f"{path} is {_kind(v)}, expected a list"
    if type(t) is str:
        return None if type(v) is str else f"{path} is {_kind(v)}, expected a string"
    if type(t) is bool:
        return None if type(v) is bool else f"{path} is {_kind(v)}, expected true/false"
    if type(t) in (int, float):
        if type(v) is int or (type(v) is float and math.isfinite(v)):
            return None
        return f"{path} is {_kind(v)}, expected a finite number"
    return None


def _kind(v):
    if type(v) is float and not math.isfinite(v):
        return repr(v)
    return {dict: "an object", list: "a list", str: "a string", bool: "true/false", int: "a number",
            float: "a number", type(None): "null"}.get(type(v), type(v).__name__)


def _check_snapshot(snap, raw):
    """None if ``snap`` (parsed from ``raw``) is a valid snapshot, else the reason."""
    if type(snap) is not dict:
        return "not a JSON object"
    schema = snap.get("schema")
    if type(schema) is not int or schema != SCHEMA_VERSION:
        return f"schema {schema!r}, expected {SCHEMA_VERSION}"
    if not _valid_cursor(snap.get("cursor")) or "stats" not in snap or type(snap.get("stats_crc")) is not str:
        return "no valid cursor or stats"
    marker = raw.find(b',"stats":')
    end = raw.rstrip().rfind(b"}")
    if marker < 0 or end < marker:
        return "stats not where expected"
    crc = f"{zlib.crc32(raw[marker + 9:end]):08x}"
    if crc != snap.get("stats_crc"):
        return "stats checksum mismatch"
    return None
