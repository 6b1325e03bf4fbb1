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


def count(directory: str, own: str | None = None) -> int | None:
    """Live markers in `directory` (`own`, this shim's marker name, counted without a check);
    stale ones are removed. None when the directory cannot be read."""
    try:
        entries = os.listdir(directory)
    except OSError:
        return None
    n = 0
    now = time.time()
    for name in entries:
        if name == own:
            n += 1
            continue
        path = os.path.join(directory, name)
        if name.endswith(".new"):
            try:
                if now - os.stat(path).st_mtime < _NEW_GRACE:
                    continue
            except OSError:
                continue
        elif not name.isdigit():
            continue
        try:
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
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
                if os.stat(path).st_ino == os.fstat(fd).st_ino:
                    os.unlink(path)
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

    def enter(self) -> int | None:
        try:
            try:
                os.mkdir(self.dir, 0o700)
            except FileExistsError:
                pass
            tmp = os.path.join(self.dir, self.name + ".new")
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                os.replace(tmp, os.path.join(self.dir, self.name))
            except OSError:
                os.close(fd)
                raise
            self.fd = fd
        except OSError:
            return None
        return count(self.dir, self.name)

    def leave(self) -> int | None:
        """Count, then remove the marker (idempotent)."""
        if self.fd is None:
            return None
        n = count(self.dir, self.name)
        try:
            os.unlink(os.path.join(self.dir, self.name))
        except OSError:
            pass
        try:
            os.close(self.fd)
        except OSError:
            pass
        self.fd = None
        return n
