"""A tiny ``fcntl.flock`` lock on a lock file. Standard library only (the shim imports it).

    with lock(path):                      # exclusive, blocks until free
        ...
    with lock(path, shared=True, timeout=5):   # shared, LockTimeout after 5 s
        ...
    held = try_lock(path)                 # non-blocking: a held lock, or None if busy
    if held is not None:
        with held:
            ...

``flock`` locks belong to the open file description: they are released when the lock is
released explicitly, when the descriptor is closed, or when the process dies (SIGKILL included),
so a crashed holder never leaves a stale lock behind. Two ``lock`` calls on the same path in
one process use two descriptors and therefore exclude each other like two processes would (a
process must not take a lock it already holds: it would wait for itself).

The lock file is created ``0600`` (opened with ``O_NOFOLLOW``: a symlink is refused) and never removed
(removing it would let two processes lock two different inodes under the same name).
"""

from __future__ import annotations

import errno
import fcntl
import os
import time

from simpulse.store.safe_open import open_fd

TYPE_CHECKING = False        # `typing` costs the shim an import; mypy reads this name as typing's
if TYPE_CHECKING:
    from typing import Any

__all__ = ["LockTimeout", "FileLock", "lock", "try_lock"]


class LockTimeout(TimeoutError):
    """The lock was still held by another process when the timeout expired."""


class FileLock:
    """A lock on ``path``; acquired by ``__enter__`` (or already held, from ``try_lock``)."""

    __slots__ = ("path", "shared", "blocking", "timeout", "fd")

    def __init__(self, path: str | os.PathLike[str], *, shared: bool = False, blocking: bool = True,
                 timeout: float | None = None) -> None:
        self.path = os.fspath(path)
        self.shared = shared
        self.blocking = blocking
        self.timeout = timeout
        self.fd = -1

    @property
    def held(self) -> bool:
        return self.fd >= 0

    def acquire(self) -> bool:
        """Take the lock. Returns True; False only when ``blocking=False`` and it is busy.

        Raises ``LockTimeout`` when ``timeout`` expires, ``OSError`` when the lock file cannot
        be opened or created (missing directory, read-only file system, ...).
        """
        if self.fd >= 0:
            raise RuntimeError(f"lock {self.path} is already held by this object")
        # O_NOFOLLOW, regular files only (UnsafeFile, a StoreError, otherwise): a planted
        # symlink named like a lock file is never followed
        fd = open_fd(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        mode = fcntl.LOCK_SH if self.shared else fcntl.LOCK_EX
        try:
            if self.blocking and self.timeout is None:
                fcntl.flock(fd, mode)
            elif not _try_flock(fd, mode):
                if not self.blocking:
                    os.close(fd)
                    return False
                _wait_flock(fd, mode, self.timeout or 0.0, self.path)
        except BaseException:
            os.close(fd)
            raise
        self.fd = fd
        return True

    def release(self) -> None:
        fd, self.fd = self.fd, -1
        if fd >= 0:
            os.close(fd)  # closing the only descriptor releases the flock

    def __enter__(self) -> FileLock:
        if self.fd < 0 and not self.acquire():
            raise LockTimeout(f"lock {self.path} is busy")
        return self

    def __exit__(self, *exc: Any) -> None:
        self.release()

    def __del__(self) -> None:
        try:
            self.release()
        except Exception:  # noqa: BLE001 - releasing in a destructor must never raise
            pass

    def __repr__(self) -> str:
        kind = "shared" if self.shared else "exclusive"
        return f"<FileLock {kind} {self.path} {'held' if self.held else 'free'}>"


def _try_flock(fd: int, mode: int) -> bool:
    try:
        fcntl.flock(fd, mode | fcntl.LOCK_NB)
        return True
    except OSError as e:
        if e.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
            return False
        raise


def _wait_flock(fd: int, mode: int, timeout: float, path: str) -> None:
    deadline = time.monotonic() + max(0.0, float(timeout))
    delay = 0.0005
    while True:
        now = time.monotonic()
        if now >= deadline:
            kind = "shared" if mode == fcntl.LOCK_SH else "exclusive"
            raise LockTimeout(
                f"timed out after {timeout:g} s waiting for the {kind} lock on {path} "
                f"(another simpulse process holds it)"
            )
        time.sleep(min(delay, deadline - now))
        delay = min(delay * 2, 0.05)
        if _try_flock(fd, mode):
            return


def lock(path: str | os.PathLike[str], *, shared: bool = False, blocking: bool = True,
         timeout: float | None = None) -> FileLock:
    """Context manager: hold an exclusive (or ``shared``) flock on ``path`` for the block.

    ``blocking=False`` (or ``timeout=0``) and ``timeout=seconds`` raise ``LockTimeout`` when
    the lock is not obtained; for a None-on-busy variant use ``try_lock``.
    """
    if not blocking:
        timeout = 0
    return FileLock(path, shared=shared, blocking=True, timeout=timeout)


def try_lock(path: str | os.PathLike[str], *, shared: bool = False) -> FileLock | None:
    """Take the lock without waiting: a held ``FileLock`` (use it in ``with``), or None if busy."""
    fl = FileLock(path, shared=shared, blocking=False)
    return fl if fl.acquire() else None
