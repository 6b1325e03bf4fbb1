"""The scratch Lake projects the build checks run on, in the doctor's scratch space: a copy of
the user's project when it is small and has no dependencies (its own lakefile and options), and
a generated one of three modules of Lean core (always used for the era check; for the no-op
check when the project is large, has dependencies, or its copy does not build). The user's own
project and its `.lake` are never built or touched."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

SMALL_FILES = 30            # .lean files
SMALL_BYTES = 300_000       # of .lean source
_SKIP = {".lake", ".simpulse", ".git", "build", "lake-packages"}

LIB = "SimpulseProbe"
EXTRA = "SimpulseProbeExtra"        # a second library, outside the default target

FILES = {
    "lakefile.toml": f'name = "simpulseprobe"\ndefaultTargets = ["{LIB}"]\n\n'
                     f'[[lean_lib]]\nname = "{LIB}"\n\n[[lean_lib]]\nname = "{EXTRA}"\n',
    f"{LIB}/Basic.lean": "def double (n : Nat) : Nat := n + n\n\n"
                         "theorem double_eq (n : Nat) : double n = 2 * n := by\n  unfold double\n  omega\n",
    f"{LIB}.lean": f"import {LIB}.Basic\n\ntheorem double_two : double 2 = 4 := rfl\n",
    f"{EXTRA}.lean": f"import {LIB}.Basic\n\ntheorem double_three : double 3 = 6 := rfl\n",
}


def write(dest: Path) -> Path:
    for rel, text in FILES.items():
        p = dest / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text)
    return dest


# What Lake writes only when it (re)builds a module: its artefacts and its trace. (Files Lake
# may rewrite on any run, such as a newest-era `.setup.json`, are left out.)
ARTEFACTS = (".olean", ".olean.server", ".olean.private", ".ilean", ".c", ".bc", ".ir", ".ir.sig",
             ".trace", ".hash")


def outputs(project: Path) -> dict[str, tuple[int, int]]:
    """The module artefacts and traces under `.lake/build`: path → (size, mtime_ns)."""
    out = {}
    base = project / ".lake" / "build"
    for p in sorted(base.rglob("*")) if base.is_dir() else []:
        if p.is_file() and p.name.endswith(ARTEFACTS):
            st = p.stat()
            out[str(p.relative_to(project))] = (st.st_size, st.st_mtime_ns)
    return out


def _sources(workspace: Path):
    for p in workspace.rglob("*.lean"):
        rel = p.relative_to(workspace)
        if not any(part in _SKIP or part.startswith(".") for part in rel.parts[:-1]):
            yield p


def why_not_copy(workspace: Path | None) -> str | None:
    """Why the no-op check cannot run on a copy of this project (None: it can)."""
    if workspace is None:
        return "not inside a Lake project"
    for name in ("lakefile.toml", "lakefile.lean"):
        f = workspace / name
        if f.is_file():
            text = f.read_text(errors="replace")
            if re.search(r"^\s*(\[\[require\]\]|require\s)", text, re.M):
                return "it has dependencies"
    try:
        manifest = json.loads((workspace / "lake-manifest.json").read_text())
        if manifest.get("packages"):
            return "it has dependencies"
    except (OSError, ValueError, AttributeError):
        pass
    files = list(_sources(workspace))
    size = sum(p.stat().st_size for p in files)
    if len(files) > SMALL_FILES or size > SMALL_BYTES:
        return f"it is large, {len(files)} .lean files of {size // 1000} kB"
    return None


def copy(workspace: Path, dest: Path) -> Path:
    """The project without its build outputs, state, version control or hidden directories."""
    shutil.copytree(workspace, dest, symlinks=True,
                    ignore=lambda d, names: [n for n in names if n in _SKIP or (n.startswith(".") and n != ".")])
    return dest
