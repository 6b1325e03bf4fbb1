"""The state directory's layout version (`state.json`) and the migration of an earlier layout.
Standard library only."""

from __future__ import annotations

import os
import time

from simpulse import _fastjson as json   # `json` without `re`: the shim imports this module
from simpulse.store.file_lock import FileLock
from simpulse.store.safe_open import StoreError, open_fd
from simpulse.store.codec import (
    LAYOUT_VERSION,
    LEGACY_NAME,
    LOG_NAME,
    SCHEMA_VERSION,
    STATE_NAME,
    _encode,
    _read_file,
    _strerror,
)

TYPE_CHECKING = False        # `typing` costs the shim an import; mypy reads this name as typing's
if TYPE_CHECKING:
    from simpulse.store.store import Store


class _Layout:
    """The state directory's layout version (`state.json`) and the migration of an earlier layout.
    A part of `Store`: its methods use the store's other methods and fields (``self: Store``:
    mypy accepts a self type narrower than the class only from a Protocol, hence the
    ``type: ignore[misc]`` on each; the bodies are checked as Store's)."""

    # ----------------------------------------------------------------- layout & migration

    def _check_layout(self: Store) -> None:  # type: ignore[misc]  # Store mixin
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

    def _parse_layout(self: Store, raw: bytes) -> int:  # type: ignore[misc]  # Store mixin
        try:
            layout: object = json.loads(raw)["layout"]
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

    def _write_state(self: Store) -> None:  # type: ignore[misc]  # Store mixin
        from simpulse import __version__

        info = {"layout": LAYOUT_VERSION, "written": round(time.time(), 3), "simpulse": __version__}
        self._write_atomic(self._state, (json.dumps(info) + "\n").encode())

    def _migrate(self: Store) -> None:  # type: ignore[misc]  # Store mixin
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
                lines: list[bytes] = []
                seq, bad = 0, 0
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
