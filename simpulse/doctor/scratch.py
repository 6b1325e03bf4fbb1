"""The scratch Lake project the build checks run on: three modules of Lean core (no
dependencies), written into the doctor's scratch space with the workspace's `lean-toolchain`.
The user's own project and its `.lake` are never built or touched."""

from __future__ import annotations

from pathlib import Path

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
