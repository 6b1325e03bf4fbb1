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


def tmp_name(path: str) -> str:
    """A temporary file's name beside `path`, this process's and unlikely to be anyone else's
    (``<path>.tmp.<pid>.<8 hex>``: what a crash leaves behind, compaction's sweep recognises)."""
    return f"{path}.tmp.{os.getpid()}.{os.urandom(4).hex()}"


def write_atomic(path: str | os.PathLike[str], data: bytes, *, mode: int = 0o600, fsync: bool = False, tmp: str | None = None,
                 then: tuple[str, bytes] | None = None) -> None:
    """Replace `path` with `data` in one rename. `mode`: the new file's permissions (0600: every
    file of the state directory); `tmp`: the temporary file's name (default: beside `path`).
    `then`: (path, data) of a second file renamed in place right after the first, both written
    out first — two files that belong together (a snapshot and its view) are out of step for
    no longer than between two renames. Neither is replaced when writing either fails (the
    first is, when the second's rename does)."""
    path = os.fspath(path)
    tmp = tmp or tmp_name(path)
    second: str | None = None
    try:
        _write_new(tmp, data, mode, fsync)
        if then is not None:
            second = tmp_name(then[0])
            _write_new(second, then[1], mode, fsync)
        os.replace(tmp, path)
        if then is not None and second is not None:
            os.replace(second, then[0])
    except BaseException:
        for name in (tmp, second):
            try:
                if name is not None:
                    os.unlink(name)
            except OSError:
                pass
        raise


def _write_new(tmp: str, data: bytes, mode: int, fsync: bool) -> None:
    fd = os.open(tmp, _FLAGS, mode)
    try:
        if mode & 0o777 != mode:
            os.fchmod(fd, mode)
        write_all(fd, data)
        if fsync:
            os.fsync(fd)
    except BaseException:
        os.close(fd)
        os.unlink(tmp)
        raise
    os.close(fd)
