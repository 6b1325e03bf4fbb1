"""Finding the Lake workspace and the real Lean toolchain (contract §1)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from simpulse.errors import SimpulseError

LAKEFILES = ("lakefile.toml", "lakefile.lean")
MIN_LEAN = (4, 14)
SHIM_CONFIG = "simpulse-shim.json"


def find_workspace(start: Path | None = None) -> Path:
    """The nearest directory at or above `start` holding a lakefile."""
    here = Path(start or Path.cwd()).resolve()
    for d in (here, *here.parents):
        if any((d / name).is_file() for name in LAKEFILES):
            return d
    raise SimpulseError(f"not inside a Lake project: no lakefile.toml or lakefile.lean in {here} or above")


def default_state_dir(workspace: Path | None) -> Path:
    env = os.environ.get("SIMPULSE_STATE_DIR")
    if env:
        return Path(env).expanduser().resolve()
    if workspace is None:
        workspace = find_workspace()
    return workspace / ".simpulse"


@dataclass
class Toolchain:
    lake: Path
    lean: Path            # <sysroot>/bin/lean: the compiler Lake would run
    sysroot: Path
    githash: str
    version: str
    simulated: bool

    def describe(self) -> str:
        kind = "SIMULATED toolchain" if self.simulated else "Lean toolchain"
        return f"{kind} at {self.sysroot} ({self.version or 'unknown version'})"


def _run(cmd: list[str], cwd: Path) -> str:
    try:
        out = subprocess.run(cmd, cwd=cwd, capture_output=True, timeout=60, check=True)
    except (OSError, subprocess.SubprocessError) as e:
        raise SimpulseError(f"could not run {' '.join(cmd)}: {e}") from None
    return out.stdout.decode("utf-8", errors="replace")


def _lean_version(text: str) -> tuple[int, int] | None:
    m = re.search(r"version (\d+)\.(\d+)", text)
    return (int(m.group(1)), int(m.group(2))) if m else None


def _which(name: str, given: str | None) -> Path | None:
    if given:
        p = Path(given).expanduser()
        if not p.exists():
            raise SimpulseError(f"{name} not found at {given}")
        # Not resolved: elan's proxies are symlinks that dispatch on their own name.
        return p.absolute()
    found = shutil.which(name)
    return Path(found) if found else None


def _cache_key(workspace: Path, lean_path: Path, lake_path: Path | None) -> str:
    parts = [str(lean_path), str(lake_path), os.environ.get("ELAN_TOOLCHAIN", "")]
    for p in (lean_path, workspace / "lean-toolchain"):
        try:
            st = p.stat()
            parts.append(f"{st.st_mtime_ns}:{st.st_size}")
        except OSError:
            parts.append("-")
    try:
        parts.append((workspace / "lean-toolchain").read_text(errors="replace").strip())
    except OSError:
        parts.append("")
    return "|".join(parts)


def find_toolchain(workspace: Path, *, lean: str | None = None, lake: str | None = None,
                   cache: Path | None = None) -> Toolchain:
    """The real toolchain: `lean --print-prefix` gives the sysroot (elan's proxy answers it too).

    With `cache` (a JSON file in the state directory) the answer is reused while the `lean`
    found, its modification time, the workspace's `lean-toolchain` and `ELAN_TOOLCHAIN` are
    unchanged, so a no-op `simpulse build` starts no `lean` process of its own.
    """
    import json
    lean_path = _which("lean", lean)
    lake_path = _which("lake", lake)
    key = None
    if cache is not None and lean_path is not None:
        key = _cache_key(workspace, lean_path, lake_path)
        try:
            data = json.loads(cache.read_text())
            if data.get("key") == key and Path(data["lean"]).exists() and Path(data["lake"]).exists():
                return Toolchain(lake=Path(data["lake"]), lean=Path(data["lean"]), sysroot=Path(data["sysroot"]),
                                 githash=data["githash"], version=data["version"], simulated=data["simulated"])
        except (OSError, ValueError, KeyError, TypeError):
            pass
    tc = _discover(workspace, lean_path, lake_path)
    if key is not None:
        try:
            text = json.dumps({"key": key, "lake": str(tc.lake), "lean": str(tc.lean),
                               "sysroot": str(tc.sysroot), "githash": tc.githash,
                               "version": tc.version, "simulated": tc.simulated})
            # 0600 like every file of the state directory, never written through a link
            from simpulse.store.atomic import write_atomic
            write_atomic(cache, text.encode())
        except OSError:
            pass
    return tc


def _discover(workspace: Path, lean_path: Path | None, lake_path: Path | None) -> Toolchain:
    if lean_path is None and lake_path is not None:
        beside = lake_path.parent / "lean"
        lean_path = beside if beside.exists() else None
    if lean_path is None:
        raise SimpulseError("no `lean` found on PATH (install Lean with elan, or pass --lean PATH; "
                            "without Lean, `simpulse try` runs simpulse on a simulated toolchain)")
    sysroot = Path(_run([str(lean_path), "--print-prefix"], workspace).strip())
    # Never wrap our own facade: unwrap to the real sysroot it points at.
    cfg = sysroot / SHIM_CONFIG
    if cfg.is_file():
        import json
        try:
            sysroot = Path(json.loads(cfg.read_text())["real_sysroot"])
        except (ValueError, KeyError, OSError):
            raise SimpulseError(f"{sysroot} is a simpulse facade whose configuration is unreadable") from None
    compiler = sysroot / "bin" / "lean"
    if not compiler.exists():
        raise SimpulseError(f"`lean --print-prefix` gave {sysroot}, which has no bin/lean")
    if lake_path is None:
        beside = sysroot / "bin" / "lake"
        if beside.exists():
            lake_path = beside
    if lake_path is None:
        raise SimpulseError("no `lake` found on PATH (install Lean with elan, or pass --lake PATH; "
                            "without Lean, `simpulse try` runs simpulse on a simulated toolchain)")
    version = _run([str(compiler), "--version"], workspace).strip()
    v = _lean_version(version)
    if v is not None and v < MIN_LEAN:
        raise SimpulseError(f"{version.splitlines()[0] if version else 'lean'} is older than "
                            f"4.{MIN_LEAN[1]}: Lake ignores LAKE_OVERRIDE_LEAN there, so simpulse cannot wrap it")
    try:
        githash = _run([str(compiler), "--githash"], workspace).strip()
    except SimpulseError:
        githash = ""
    simulated = (sysroot / "share" / "simulated-toolchain.json").is_file()
    return Toolchain(lake=lake_path, lean=compiler, sysroot=sysroot, githash=githash or "unknown",
                     version=version.splitlines()[0] if version else "", simulated=simulated)
