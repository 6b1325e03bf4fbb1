"""The store's loads and checkpoints through snapshot.view (`views`): the shim's way of reading
the statistics (only the records a compile touches) and of checkpointing them (successor views;
full snapshots from a detached process). A part of `Store`: its methods use the store's other
methods and fields. Standard library only (the shim loads through it)."""

from __future__ import annotations

import os

from simpulse.store import views
from simpulse.store.codec import SCHEMA_VERSION, VIEW_SPAN
from simpulse.store.file_lock import try_lock
from simpulse.store.safe_open import StoreError, open_fd
from simpulse.store.snapshots import _shape_error, _valid_cursor

TYPE_CHECKING = False        # `typing` costs the shim an import; mypy reads this name as typing's
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

    from simpulse.model.records import Stats
    from simpulse.store.store import Cursor, Fold, Store, Validate


class _ViewLoads:
    """Loads and checkpoints through snapshot.view (docs/state-format.md, "View").
    (Its methods take ``self: Store``: mypy accepts a self type that is a subclass only with an
    ignore, ``misc``.)"""

    if TYPE_CHECKING:    # the Store fields its methods set (declared here too, so mypy does not infer them anew)
        _snap_crc: str | None
        _snap_bytes: int
        _view: views.View

    def _passed(self: Store, stats: Stats) -> str | None:  # type: ignore[misc]
        """`views.validator_name` of the last load's check if ``stats`` pass it, else None."""
        if self._validate is None:
            return None
        try:
            return views.validator_name(self._validate) if self._validate(stats) is None else None
        except Exception:  # noqa: BLE001
            return None

    def _checkpoint_detached(self: Store, stats: Stats, cursor: Cursor) -> None:  # type: ignore[misc]
        """``checkpoint(stats, cursor)``, in a detached process where the store runs for the shim
        (`_detached`): the snapshot of a mathlib-sized project takes ~50 ms to write, which no
        compile should wait for."""
        self._detached(lambda: self._checkpoint_quietly(stats, cursor))

    def _checkpoint_quietly(self: Store, stats: Stats, cursor: Cursor) -> None:  # type: ignore[misc]
        """``checkpoint(stats, cursor)``, a store error ignored (best effort: the next load
        checkpoints instead)."""
        try:
            self.checkpoint(stats, cursor)
        except StoreError:
            pass

    def _detached(self: Store, work: Callable[[], None]) -> None:  # type: ignore[misc]
        """``work()`` in a detached grandchild (double fork; its standard streams on /dev/null,
        so Lake, reading the shim's output, never waits for it) when ``background_checkpoints``
        is set: the grandchild has its own copy of the statistics; this process goes on at once.
        Otherwise, or without fork, here. Best effort: the next load checkpoints instead."""
        if not self.background_checkpoints:
            work()
            return
        try:
            pid = os.fork()
        except (OSError, AttributeError):
            work()
            return
        if pid:
            try:
                os.waitpid(pid, 0)
            except OSError:
                pass
            return
        code = 0
        try:
            if os.fork():
                os._exit(0)
            os.setsid()
            null = os.open(os.devnull, os.O_RDWR)
            for fd in (0, 1, 2):
                os.dup2(null, fd)
            work()
        except BaseException:  # noqa: BLE001 - best effort: the next load checkpoints instead
            code = 1
        finally:
            os._exit(code)

    @staticmethod
    def _view_read_whole(stats: Stats) -> bool:
        return views.materialized(stats)

    def _snapshot_base(self: Store) -> dict[str, Any] | None:  # type: ignore[misc]
        """The head of snapshot.json as a view names it (`views.base_of`), or None."""
        try:
            fd = open_fd(self._snap, os.O_RDONLY)
        except (OSError, StoreError):
            return None
        try:
            head = views.snapshot_head(os.pread(fd, views._HEAD_READ, 0))
        except OSError:
            return None
        finally:
            os.close(fd)
        if head is None or head[0] != SCHEMA_VERSION or not _valid_cursor(head[1]) or type(head[3]) is not str:
            return None
        return views.base_of(head)

    def _open_view(self: Store, base: dict[str, Any]) -> views.View | None:  # type: ignore[misc]
        """snapshot.view if it belongs to the snapshot whose head is ``base`` and checks out."""
        path = os.path.join(self._d, views.VIEW_NAME)
        try:
            vfd = open_fd(path, os.O_RDONLY)
        except (OSError, StoreError):
            return None
        try:
            view = views.View(vfd, path)
        except (OSError, ValueError, RecursionError, KeyError, TypeError):
            return None          # (View closed its descriptor)
        cur: Any = view.head.get("cursor")   # (a cursor once `_valid_cursor` passes)
        if view.head.get("base") != base or not _valid_cursor(cur) or cur["gen"] != base["cursor"]["gen"] \
                or cur["seq"] < base["cursor"]["seq"] or cur["offset"] < base["cursor"]["offset"]:
            return None          # stale: written for another snapshot
        return view

    def _load_view(self: Store, fold: Fold, initial: Stats, validate: Validate | None,  # type: ignore[misc]
                   *, lazy: bool = True) -> tuple[Stats, int] | None:
        """`_load_fast` from snapshot.view instead of snapshot.json (`views`): only when the view
        belongs to the current snapshot (its head's cursor, checksum and stamp) and checks out;
        None otherwise, and the caller loads in full. ``lazy=False``: only a view newer than the
        snapshot (checkpointed past it), read whole."""
        base = self._snapshot_base()
        if base is None:
            return None
        c = base["cursor"]
        if f"{base['stats_crc']}:{c['gen']}:{c['offset']}:{c['seq']}" in self._rejected:
            return None
        view = self._open_view(base)
        if view is None:
            return None
        cursor = view.head["cursor"]
        if not lazy and cursor["seq"] == c["seq"]:
            return None
        key = f"view:{view.head['core'][1]}:{cursor['gen']}:{cursor['offset']}:{cursor['seq']}"
        if key in self._rejected:
            return None
        try:
            core = view.core()
        except (OSError, ValueError, RecursionError, KeyError, TypeError):
            return None
        if not views.splittable(core) or _shape_error(core, initial, "stats", 0) is not None:
            return None
        if validate is not None and view.head.get("valid") != views.validator_name(validate):
            # (a view whose writer saw these statistics pass the same check is not checked again)
            try:
                if validate(core) is not None:
                    return None  # the full load reads the snapshot and sets it aside, reporting why
            except Exception:  # noqa: BLE001
                return None
        self._snap_crc = key     # a lying cursor sets this view aside, not the snapshot
        self._snap_bytes = view.head["snap_bytes"] if type(view.head.get("snap_bytes")) is int else 0
        try:
            res = self._load_fast({"cursor": cursor, "stats": views.attach(core, view)}, fold)
            if res is not None and not lazy:
                views.detach(res[0])
        except views.ViewDamaged:
            return None
        if res is not None:
            self._view = view
        return res

    def _checkpoint_view(self: Store, stats: Stats, cursor: Cursor) -> None:  # type: ignore[misc]
        """The shim's checkpoint: a new snapshot.view for the same snapshot.json, covering the
        events up to ``cursor`` (`views.encode_successor`: the changed records' buckets
        rewritten, the others copied — a whole file of some MB at mathlib's size), written by a
        detached process like the full checkpoint (`_detached`) so that no compile waits for it.
        Every VIEW_SPAN events past the snapshot, a full checkpoint instead, so the snapshot —
        what every other reader starts from — keeps up. Best effort."""
        view = getattr(self, "_view", None)
        if view is None:
            return
        if cursor["seq"] - view.head["base"]["cursor"]["seq"] >= VIEW_SPAN:
            self._checkpoint_detached(stats, cursor)
            return
        self._detached(lambda: self._write_successor(view, stats, cursor))

    def _write_successor(self: Store, view: views.View, stats: Stats, cursor: Cursor) -> None:  # type: ignore[misc]
        """`_checkpoint_view`'s work: the successor view, under the compaction lock (skipped when
        another holds it, or when a newer view or snapshot is already in place)."""
        base = view.head["base"]
        try:
            held = try_lock(self._clock)
        except OSError:
            return
        if held is None:
            return
        with held:
            if self._snapshot_base() != base:
                return           # a new snapshot since: its view is the one to read
            current = self._open_view(base)
            if current is not None:
                c = current.head["cursor"]
                if c["seq"] > cursor["seq"] or (c["seq"] == cursor["seq"] and c["offset"] >= cursor["offset"]):
                    return
                del current
            try:
                data = views.encode_successor(view, stats, cursor, self._passed(stats))
            except (OSError, ValueError, TypeError, views.ViewDamaged):
                data = None
            if data is not None:
                try:
                    self._write_atomic(os.path.join(self._d, views.VIEW_NAME), data)
                except OSError:
                    pass
        if data is None:
            self._checkpoint_quietly(stats, cursor)   # (already in the detached process, if any)
