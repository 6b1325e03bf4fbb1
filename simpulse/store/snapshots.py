"""The snapshot: reading it and checking it for meaning (shape, types, a cursor inside the log), writing it, checkpoints.
Standard library only."""

from __future__ import annotations

import math
import os
import time
import zlib

from simpulse import _fastjson as json   # `json` without `re`: the shim imports this module
from simpulse.store.file_lock import try_lock
from simpulse.store.safe_open import StoreError, UnsafeFile
from simpulse.store.codec import (
    SCHEMA_VERSION,
    SNAPSHOT_NAME,
    _fresh,
    _read_file,
    _strerror,
)

TYPE_CHECKING = False        # `typing` costs the shim an import; mypy reads this name as typing's
if TYPE_CHECKING:
    from typing import Any, TypeGuard

    from simpulse.model.records import Stats
    from simpulse.store.store import Cursor, Fold, Snapshot, Store, Validate


class _SnapshotLies(Exception):
    """compact found the snapshot's cursor beyond every event there is (internal)."""


_MAX_POS = 1 << 62     # no offset or seq of a real log comes near this


def _valid_cursor(c: object) -> TypeGuard[Cursor]:
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


def _shape_error(v: Any, t: Any, path: str, depth: int) -> str | None:
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


def _kind(v: object) -> str:
    if type(v) is float and not math.isfinite(v):
        return repr(v)
    return {dict: "an object", list: "a list", str: "a string", bool: "true/false", int: "a number",
            float: "a number", type(None): "null"}.get(type(v), type(v).__name__)


def _check_snapshot(snap: Any, raw: bytes) -> str | None:
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


class _Snapshots:
    """The snapshot: reading it and checking it for meaning (shape, types, a cursor inside the log), writing it, checkpoints.
    A part of `Store`: its methods use the store's other methods and fields.

    Its methods annotate ``self: Store``; mypy accepts a self type narrower than the class only
    from a Protocol, hence the ``type: ignore[misc]`` on each (the bodies are checked as Store's)."""

    # ----------------------------------------------------------------- snapshot

    def _read_snapshot(self: Store, report: bool = True) -> Snapshot | None:  # type: ignore[misc]  # Store mixin
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
            checked: Snapshot = snap
            return checked
        if report:
            self._report(
                f"snapshot:{zlib.crc32(raw):08x}",
                f"{SNAPSHOT_NAME}: ignored ({why}); statistics rebuilt from the event log",
            )
        return None

    def _encode_snapshot(self: Store, stats: Stats, cursor: Cursor) -> bytes:  # type: ignore[misc]  # Store mixin
        try:
            stats_json = json.dumps(stats, separators=(",", ":")).encode("ascii")
        except (TypeError, ValueError) as e:
            raise StoreError(f"statistics are not JSON-serialisable: {e}") from e
        head = json.dumps({"schema": SCHEMA_VERSION, "cursor": cursor, "written": round(time.time(), 3),
                           "stats_crc": f"{zlib.crc32(stats_json):08x}"}, separators=(",", ":")).encode("ascii")
        # stats last, so the reader can checksum the exact bytes without re-serialising them
        return head[:-1] + b',"stats":' + stats_json + b"}\n"

    def _write_snapshot(self: Store, stats: Stats, cursor: Cursor, *, replace_invalid: bool = False) -> None:  # type: ignore[misc]  # Store mixin
        from simpulse.store import views
        from simpulse.store.atomic import write_atomic
        views.detach(stats)       # statistics loaded through the view: every record, plainly
        data = self._encode_snapshot(stats, cursor)
        path = os.path.join(self._d, views.VIEW_NAME)
        view = self._encode_view(stats, data)
        if replace_invalid and os.path.exists(self._snap):
            try:
                os.replace(self._snap, self._snap + ".corrupt")
            except OSError:
                pass
        if view is not None:
            # both written out first, then renamed one after the other (the view after the
            # snapshot: a reader that finds them out of step loads the snapshot in full): the
            # shims meet them out of step for no longer than two renames, not for the time it
            # takes to encode a view (~0.1-0.2 s at 6,000 modules, each such compile ~10x slower)
            try:
                write_atomic(self._snap, data, fsync=self.fsync, tmp=self._tmp_name(self._snap), then=(path, view))
                self._fsync_dir(self._d)
                return
            except OSError:
                pass      # (the view's part, most likely) the snapshot alone, as without a view
        self._write_atomic(self._snap, data)
        try:
            os.unlink(path)   # (a stale view would only be ignored, but costs a read)
        except OSError:
            pass

    def _encode_view(self: Store, stats: Stats, data: bytes) -> bytes | None:  # type: ignore[misc]  # Store mixin
        """snapshot.view for the snapshot `data` (`views`), or None when there can be none for
        these statistics (best effort: the snapshot is written without a view)."""
        from simpulse.store import views
        try:
            base = views.base_of(views.snapshot_head(data[:views._HEAD_READ]))
            if base is None or not views.splittable(stats):
                return None
            return views.encode_view(stats, base["cursor"], base, len(data), self._passed(stats))
        except (OSError, ValueError, TypeError):
            return None

    def checkpoint(self: Store, stats: Stats, covered: Cursor | Fold | None = None) -> bool:  # type: ignore[misc]  # Store mixin
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
            cur = self._snapshot_cursor()
            if cur is not None:
                c = cur
                if c["seq"] > covered["seq"]:
                    return False
                if c["seq"] == covered["seq"] and c["gen"] == covered["gen"] and c["offset"] >= covered["offset"]:
                    return False
            try:
                self._write_snapshot(stats, covered, replace_invalid=cur is None)
            except OSError as e:
                raise StoreError(f"cannot write {self._snap}: {_strerror(e)}") from e
        return True

    def _snapshot_cursor(self: Store) -> Cursor | None:  # type: ignore[misc]  # Store mixin
        """The cursor of a valid snapshot.json (None: none, or invalid, or set aside), read
        from its head and checked by its checksum without parsing its statistics: what a
        checkpoint compares its own cursor with (a full read costs a 4 MB parse)."""
        from simpulse.store.views import snapshot_head
        try:
            raw = _read_file(self._snap)
        except (OSError, UnsafeFile):
            return None
        head = snapshot_head(raw[:1024])
        if head is None:
            return None
        schema, cursor, _written, crc = head
        if schema != SCHEMA_VERSION or not _valid_cursor(cursor) or type(crc) is not str:
            return None
        marker = raw.find(b',"stats":')
        end = raw.rstrip().rfind(b"}")
        if end < marker or f"{zlib.crc32(raw[marker + 9:end]):08x}" != crc:
            return None
        if f"{crc}:{cursor['gen']}:{cursor['offset']}:{cursor['seq']}" in self._rejected:
            return None
        return cursor

    def _checked_snapshot(self: Store, initial: Stats, validate: Validate | None) -> Snapshot | None:  # type: ignore[misc]  # Store mixin
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

    def _reject_snapshot(self: Store, why: str) -> None:  # type: ignore[misc]  # Store mixin
        """The snapshot last read is wrong (valid checksum, wrong meaning): every later read by
        this Store ignores it, and the next checkpoint renames it ``.corrupt``."""
        self._rejected.add(self._snap_crc)
        self._report(f"snapshot:{self._snap_crc}", f"{SNAPSHOT_NAME}: ignored ({why}); statistics rebuilt from the event log")

