"""Writing a file whole or not at all: the one helper every file simpulse writes goes through.

`write_atomic` writes to a temporary file in the same directory (created with ``O_EXCL`` and
``O_NOFOLLOW``, so never through a link an attacker placed), optionally fsyncs it, and renames
it over the target: a reader sees the old file or the new one, never a torn one. Standard
library only (the shim writes through it).
"""

from __future__ import annotations

import errno
import os

_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_NOFOLLOW", 0)


def write_all(fd: int, data: bytes) -> None:
    """All of `data` to `fd` (a short write is continued; a zero-length one is a full disk)."""
    view = memoryview(data)
    while view:
        k = os.write(fd, view)
        if k <= 0:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        view = view[k:]


def write_atomic(path: str | os.PathLike[str], data: bytes, *, mode: int = 0o600, fsync: bool = False, tmp: str | None = None) -> None:
    """Replace `path` with `data` in one rename. `mode`: the new file's permissions (0600: every
    file of the state directory); `tmp`: the temporary file's name (default: beside `path`)."""
    path = os.fspath(path)
    tmp = tmp or f"{path}.tmp.{os.getpid()}.{os.urandom(4).hex()}"
    fd = os.open(tmp, _FLAGS, mode)
    try:
        try:
            if mode & 0o777 != mode:
                os.fchmod(fd, mode)
            write_all(fd, data)
            if fsync:
                os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
