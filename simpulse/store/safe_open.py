"""The state directory is the user's own: opening its files without following symlinks, and
checking (or tightening) the directory itself. Standard library only (the shim imports it).

* ``open_fd(path, flags, mode)``: ``os.open`` with ``O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK``
  (a FIFO planted in the state directory cannot block us), then ``fstat``: anything but a
  regular file is refused (``UnsafeFile``), and a file we own with group/other permission bits
  is tightened to 0600. A symlink is refused by the kernel (``ELOOP``), reported as
  ``UnsafeFile`` too: simpulse never reads or appends through a link.
* ``check_dir(path, create)``: the state directory must be a directory owned by the current
  user; it is created 0700, and an existing one with group/other bits is tightened to 0700
  (a symlink there is refused: a cloned repository can carry one). An existing directory that
  holds files and none of a state's (`STATE_NAMES`) is refused before anything is changed in
  it: `--state-dir ~` by mistake must not make the home directory owner-only and write a state
  into it.
  Otherwise ``UnsafeStateDir`` is raised, with a one-line message saying why and what to do.

Both exceptions are ``StoreError`` subclasses (so ``SimpulseError``): the shim fails open on
them, and ``simpulse build`` catches ``UnsafeStateDir`` to warn once and run plain ``lake build``.
"""

from __future__ import annotations

import errno
import os
import stat

from simpulse.errors import SimpulseError

__all__ = ["StoreError", "UnsafeStateDir", "UnsafeFile", "open_fd", "check_dir", "refuse_foreign", "DIR_MODE",
           "FILE_MODE"]

DIR_MODE = 0o700
FILE_MODE = 0o600

#: What simpulse puts in a state directory — the store's files (`state.json` from its first
#: open), and what `simpulse build`, the shim, `verify`, `report`, `stats`, `doctor` and the
#: exchange keep there; names beginning with `STATE_PREFIXES` too (`events.jsonl.migrated`,
#: `snapshot.json.corrupt`, `simpulse.log.1`, `.probe-<pid>`, `facade.d`).
STATE_NAMES = frozenset({
    "state.json", "events.log", "events.jsonl", "events.lock", "compact.lock", "snapshot.json",
    "snapshot.view", "segments", "simpulse.log", "invocations", "verify.json", "verify.lock",
    "report.cache", "report.lock", "decide.sock", "build.pid", "running", "tmp", "facade",
    "doctor-checks.json", "shim-settings.json", "toolchain.json", "zeroed.json", "origin"})
STATE_PREFIXES = ("events.", "snapshot.", "simpulse.log", ".probe-", "facade")

_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_CLOEXEC = getattr(os, "O_CLOEXEC", 0)
_NONBLOCK = getattr(os, "O_NONBLOCK", 0)


class StoreError(SimpulseError):
    """The state directory cannot be used (missing, read-only, full disk, newer layout, ...)."""


class UnsafeStateDir(StoreError):
    """The state directory is not the user's own (owned by someone else, writable by others and
    not ours to tighten, or not a directory): it is not used at all."""


class UnsafeFile(StoreError):
    """A file of the state directory is a symlink, not a regular file, or not the user's own."""


def _euid() -> int | None:
    return os.geteuid() if hasattr(os, "geteuid") else None


def open_fd(path: str | os.PathLike[str], flags: int, mode: int = FILE_MODE) -> int:
    """``os.open(path, flags | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK, mode)`` that only ever gives
    a descriptor of a regular file of ours. FileNotFoundError and other OSErrors pass through
    (the callers turn them into their own messages); a symlink, a FIFO, a device, a directory
    or another user's file raises UnsafeFile."""
    try:
        fd = os.open(path, flags | _NOFOLLOW | _CLOEXEC | _NONBLOCK, mode)
    except OSError as e:
        if e.errno == errno.ELOOP or (e.errno == errno.ENXIO and os.path.islink(path)):
            raise UnsafeFile(f"{path} is a symbolic link: simpulse does not read or write through links "
                             f"in its state directory; remove it") from None
        if e.errno == errno.ENXIO:  # a FIFO without a reader, opened for writing
            raise UnsafeFile(f"{path} is not a regular file; remove it") from None
        raise
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise UnsafeFile(f"{path} is not a regular file; remove it")
        uid = _euid()
        if uid is not None and st.st_uid != uid:
            raise UnsafeFile(f"{path} belongs to uid {st.st_uid}, not to you (uid {uid}): refusing to use it")
        if st.st_mode & 0o077 and (uid is None or st.st_uid == uid):
            try:
                os.fchmod(fd, FILE_MODE)
            except OSError:
                pass  # read-only file system: reading still works
    except BaseException:
        os.close(fd)
        raise
    return fd


def read_file(path: str | os.PathLike[str]) -> bytes:
    """The bytes of a regular file of ours in the state directory (`open_fd`: never through a
    link). Raises OSError / UnsafeFile."""
    fd = open_fd(path, os.O_RDONLY)
    try:
        chunks: list[bytes] = []
        while True:
            b = os.read(fd, 1 << 20)
            if not b:
                return b"".join(chunks)
            chunks.append(b)
    finally:
        os.close(fd)


def check_dir(path: str | os.PathLike[str], create: bool = True) -> str:
    """Make sure ``path`` is a usable state directory of the current user: create it 0700 (with
    its missing parents 0700), tighten an existing one of ours to 0700, refuse (UnsafeStateDir)
    one owned by someone else or one that is not a directory. A missing directory with
    ``create=False`` raises StoreError; other OS errors become StoreError."""
    d = os.fspath(path)
    bare = d.rstrip(os.sep) or d     # "link/" would be followed by lstat
    if os.path.islink(bare):
        raise UnsafeStateDir(
            f"state directory {d} is a symbolic link (to {os.readlink(bare)}): refusing to follow it "
            f"(a cloned repository can carry one); pass the directory itself with --state-dir if you meant it"
        )
    try:
        st = os.stat(d)
    except FileNotFoundError:
        if not create:
            raise StoreError(f"state directory {d} does not exist") from None
        try:
            _makedirs(d)
            st = os.stat(d)
        except OSError as e:
            raise StoreError(f"cannot create state directory {d}: {e.strerror or e}") from e
    except OSError as e:
        raise StoreError(f"cannot use state directory {d}: {e.strerror or e}") from e
    if not stat.S_ISDIR(st.st_mode):
        raise UnsafeStateDir(f"state directory {d} is not a directory")
    refuse_foreign(d)
    uid = _euid()
    if uid is not None and st.st_uid != uid:
        raise UnsafeStateDir(
            f"state directory {d} belongs to uid {st.st_uid}, not to you (uid {uid}): refusing to use it "
            f"(another user could read or change what simpulse records); use --state-dir or remove it"
        )
    if st.st_mode & 0o077:
        try:
            os.chmod(d, DIR_MODE)
        except OSError as e:
            if e.errno not in (errno.EROFS, errno.EPERM, errno.EACCES):
                raise StoreError(f"cannot tighten state directory {d} to 0700: {e.strerror or e}") from e
            if st.st_mode & 0o022:
                raise UnsafeStateDir(
                    f"state directory {d} is writable by other users (mode {stat.S_IMODE(st.st_mode):04o}) "
                    f"and cannot be made 0700 ({e.strerror or e}): refusing to use it"
                ) from None
            # readable by others on a read-only file system: nothing can be planted, reading is fine
    return d


def refuse_foreign(d: str | os.PathLike[str]) -> None:
    """UnsafeStateDir when the existing directory `d` holds files and none of a state's."""
    others = _not_a_state(os.fspath(d))
    if others:
        raise UnsafeStateDir(
            f"{os.fspath(d)} is not a simpulse state directory (it holds {', '.join(others)}, and nothing "
            f"simpulse writes): refusing to use it, which would make it owner-only and write into it; "
            f"pass a project's state directory (.simpulse/), or a new or empty directory"
        )


def _not_a_state(d: str) -> list[str] | None:
    """A few of the names an existing directory holds when it holds something and nothing of a
    state's (`STATE_NAMES`); None for a state, an empty directory, or one that cannot be listed
    (the checks after this one say why). One `stat` for a state, a listing otherwise."""
    if os.path.exists(os.path.join(d, "state.json")):
        return None
    try:
        names = os.listdir(d)
    except OSError:
        return None
    if not names or any(n in STATE_NAMES or n.startswith(STATE_PREFIXES) for n in names):
        return None
    shown = sorted(names)[:3]
    return shown + ([f"{len(names) - 3} more"] if len(names) > 3 else [])


def _makedirs(d: str) -> None:
    """os.makedirs with every directory it creates 0700 (umask notwithstanding)."""
    parent = os.path.dirname(os.path.abspath(d))
    if parent and parent != d and not os.path.exists(parent):
        _makedirs(parent)
    try:
        os.mkdir(d, DIR_MODE)
    except FileExistsError:
        return
    os.chmod(d, DIR_MODE)


def ensure_subdir(path: str | os.PathLike[str]) -> str:
    """A directory inside the state directory (``segments/``): created 0700, refused if it is a
    symlink or not a directory, tightened to 0700 if it is ours."""
    d = os.fspath(path)
    try:
        st = os.lstat(d)
    except FileNotFoundError:
        try:
            os.mkdir(d, DIR_MODE)
        except FileExistsError:
            pass
        st = os.lstat(d)
    if stat.S_ISLNK(st.st_mode) or not stat.S_ISDIR(st.st_mode):
        raise UnsafeFile(f"{d} is not a directory (a symbolic link?): simpulse does not follow links in its state directory")
    if st.st_mode & 0o077:
        try:
            os.chmod(d, DIR_MODE)
        except OSError:
            pass
    return d
