"""State: the state directory's owner, mode and size, and whether it loads."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from simpulse.doctor.check import Check, fail, ok, skip

SECTION = "state"


def _size(d: Path) -> tuple[int, int]:
    total = files = 0
    for root, _, names in os.walk(d):
        for n in names:
            try:
                st = os.lstat(os.path.join(root, n))
            except OSError:
                continue
            if stat.S_ISREG(st.st_mode):
                total += st.st_size
                files += 1
    return total, files


def _human(n: int) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return str(n)


def permissions(sdir: Path | None) -> Check:
    cid, title = "state.permissions", "the state directory is yours and owner-only"
    if sdir is None:
        return skip(cid, SECTION, title, "no state directory (not inside a Lake project, no --state-dir)")
    if not sdir.exists():
        return skip(cid, SECTION, title, f"{sdir} does not exist yet (the first simpulse build creates it)",
                    path=str(sdir))
    try:
        st = os.stat(sdir)
    except OSError as e:
        return fail(cid, SECTION, title, f"{sdir}: {e.strerror}", f"check the permissions of {sdir.parent}")
    mode = stat.S_IMODE(st.st_mode)
    data = {"path": str(sdir), "owner_uid": st.st_uid, "mode": f"{mode:04o}"}
    if not stat.S_ISDIR(st.st_mode):
        return fail(cid, SECTION, title, f"{sdir} is not a directory", f"move {sdir} aside", **data)
    if st.st_uid != os.getuid():
        return fail(cid, SECTION, title, f"{sdir} belongs to uid {st.st_uid}, not to you (uid {os.getuid()})",
                    f"chown -R $(id -u) {sdir}", **data)
    if mode & 0o077:
        return fail(cid, SECTION, title, f"{sdir} has mode {mode:04o}: others can read or change what was learned",
                    f"chmod 700 {sdir}", **data)
    if not os.access(sdir, os.W_OK | os.X_OK):
        return fail(cid, SECTION, title, f"{sdir} is not writable: nothing would be learned",
                    f"chmod 700 {sdir}", **data)
    return ok(cid, SECTION, title, f"{sdir}: yours, mode {mode:04o}", **data)


def loads(sdir: Path | None) -> Check:
    cid, title = "state.loads", "the state directory loads"
    if sdir is None or not sdir.is_dir():
        return skip(cid, SECTION, title, "no state directory yet")
    size, files = _size(sdir)
    data = {"path": str(sdir), "bytes": size, "files": files}
    try:
        from simpulse.learner import Learner
        from simpulse.store.store import Store
        store = Store(sdir, create=False)
        lrn = Learner(None, store=store)
        compiles = int(lrn.counters().get("compiles", 0))
        problems = list(store.problems)
    except Exception as e:  # noqa: BLE001 - whatever goes wrong is what this check reports
        return fail(cid, SECTION, title, f"{sdir} does not load: {type(e).__name__}: {e}",
                    f"move it aside (mv {sdir} {sdir}.broken): the next simpulse build starts afresh", **data)
    data.update(compiles=compiles, problems=problems[:5])
    extra = f"; {len(problems)} damaged line(s) skipped (see simpulse.log)" if problems else ""
    return ok(cid, SECTION, title, f"{_human(size)} in {files} files; it loads: learned from {compiles} compiles{extra}", **data)
