"""How many compiles run beside this one: live-compile markers in ``<state>/running/``.

Each shim, while its `lean` runs, holds an exclusive `flock` on a marker file named after its
pid (created as ``<pid>.new``, locked, then renamed into place, so that no counter ever sees an
unlocked live marker). Counting reads the directory and tries a non-blocking shared lock on each
other marker: one it cannot lock belongs to a live shim; one it can lock was left by a shim that
died (SIGKILL, a crash: the kernel released its lock) and is removed there and then. So a marker
never outlives its shim in the count, whatever killed it. The count includes this compile.

Standard library only (the shim imports it); every function fails open (None: unknown).
"""

from __future__ import annotations

import fcntl
import os
import time

DIR = "running"
_NEW_GRACE = 60.0   # s: a ``.new`` marker younger than this may be a shim between create and rename


def cores() -> int:
    """The cores this process may run on (the affinity mask where there is one)."""
    try:
        return len(os.sched_getaffinity(0)) or 1
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def open_dir(path: str, create: bool = False) -> int | None:
    """A descriptor of the markers' directory: a real directory of this user's (a symbolic link
    planted there, e.g. by a cloned repository, is refused: nothing is created or removed
    through it). None when it cannot be had."""
    try:
        if create:
            try:
                os.mkdir(path, 0o700)
            except FileExistsError:
                pass
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
    except OSError:
        return None
    try:
        if os.fstat(fd).st_uid != os.getuid():
            os.close(fd)
            return None
    except OSError:
        os.close(fd)
        return None
    return fd


def count(directory: str, own: str | None = None) -> int | None:
    """Live markers in `directory` (`own`, this shim's marker name, counted without a check);
    stale ones are removed. None when the directory cannot be read."""
    dfd = open_dir(directory)
    if dfd is None:
        return None
    try:
        return _count(dfd, own)
    finally:
        os.close(dfd)


def _count(dfd: int, own: str | None) -> int | None:
    try:
        entries = os.listdir(dfd)
    except OSError:
        return None
    n = 0
    now = time.time()
    for name in entries:
        if name == own:
            n += 1
            continue
        if name.endswith(".new"):
            try:
                if now - os.stat(name, dir_fd=dfd, follow_symlinks=False).st_mtime < _NEW_GRACE:
                    continue
            except OSError:
                continue
        elif not name.isdigit():
            continue
        try:
            fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK, dir_fd=dfd)
        except OSError:
            continue          # removed meanwhile: its shim has finished
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
            except BlockingIOError:
                if not name.endswith(".new"):
                    n += 1    # held: a live shim
                continue
            except OSError:
                continue
            # lockable: its shim is gone; remove it unless the name now holds another file
            try:
                if os.stat(name, dir_fd=dfd, follow_symlinks=False).st_ino == os.fstat(fd).st_ino:
                    os.unlink(name, dir_fd=dfd)
            except OSError:
                pass
        finally:
            os.close(fd)
    return n


class Marker:
    """This compile's marker: `enter` before `lean` starts, `leave` once it has finished; each
    returns the number of compiles running then, this one included (None: unknown)."""

    def __init__(self, state_dir: str):
        self.dir = os.path.join(state_dir, DIR)
        self.name = str(os.getpid())
        self.fd: int | None = None
        self.dfd: int | None = None

    def enter(self) -> int | None:
        dfd = open_dir(self.dir, create=True)
        if dfd is None:
            return None
        try:
            tmp = self.name + ".new"
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600, dir_fd=dfd)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                os.replace(tmp, self.name, src_dir_fd=dfd, dst_dir_fd=dfd)
            except OSError:
                os.close(fd)
                raise
        except OSError:
            os.close(dfd)
            return None
        self.fd, self.dfd = fd, dfd
        return _count(dfd, self.name)

    def leave(self) -> int | None:
        """Count, then remove the marker (idempotent)."""
        if self.fd is None or self.dfd is None:
            return None
        n = _count(self.dfd, self.name)
        try:
            os.unlink(self.name, dir_fd=self.dfd)
        except OSError:
            pass
        for fd in (self.fd, self.dfd):
            try:
                os.close(fd)
            except OSError:
                pass
        self.fd = self.dfd = None
        return n
