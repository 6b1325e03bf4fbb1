"""What one run of checks shares: the toolchain found, the facade `simpulse build` would use,
scratch space (never the user's `.lake`), and the environments of a plain and a wrapped Lake."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

from simpulse.doctor import proc
from simpulse.lake.facade import LOG_ENV, SETTINGS_ENV, build_facade
from simpulse.store.codec import DIAG_NAME


class Context:
    def __init__(self, workspace: Path | None, toolchain, *, state_dir: Path | None = None,
                 catalogue=None, profile: str = "safe", timeout: float = 120.0):
        self.workspace = workspace
        self.tc = toolchain
        self.state_dir = state_dir            # the user's state directory (read only here)
        self.catalogue = catalogue
        self.profile = profile
        self.timeout = timeout
        self.root = Path(tempfile.mkdtemp(prefix="simpulse-doctor-"))
        os.chmod(self.root, 0o700)
        self.scratch_state = self.root / "state"
        self.scratch_state.mkdir(mode=0o700)
        self._facade: Path | None = None
        self._facade_error: str | None = None
        self._lake_env: dict = {}

    def close(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # ------------------------------------------------------------------ the facade
    @property
    def facade(self) -> Path | None:
        """The facade sysroot `simpulse build` uses for this toolchain (made if missing: it is
        shared, per toolchain, in the user's cache; the link to it goes into scratch space)."""
        if self._facade is None and self._facade_error is None:
            try:
                self._facade = build_facade(self.scratch_state, self.tc.sysroot)
            except OSError as e:
                self._facade_error = f"could not build the facade sysroot: {e}"
        return self._facade

    @property
    def facade_error(self) -> str | None:
        return self._facade_error

    def settings(self) -> str:
        """Per-build settings, as `simpulse build` gives them to the launcher (SIMPULSE_SHIM)."""
        return json.dumps({"state_dir": str(self.scratch_state), "workspace": str(self.root),
                           "mode": "auto", "policy": "thompson", "toolchain": self.tc.githash,
                           "simulated": self.tc.simulated, "profile": self.profile,
                           "strict_messages": False, "enabled": None, "user_strategies": [],
                           "build_id": "doctor"}, sort_keys=True)

    def plain_env(self, **extra) -> dict:
        return proc.base_env(extra)

    def wrapped_env(self, **extra) -> dict:
        """The environment a `simpulse build` gives Lake (and Lake gives every `lean`)."""
        env = proc.base_env(extra)
        env.update(LAKE_OVERRIDE_LEAN="1", LEAN_SYSROOT=str(self.facade))
        env[SETTINGS_ENV] = self.settings()
        env[LOG_ENV] = str(self.scratch_state / DIAG_NAME)
        return env

    # ------------------------------------------------------------------ scratch directories
    def scratch_dir(self, name: str) -> Path:
        """An empty directory holding the workspace's `lean-toolchain` (so that elan's `lake`
        and `lean` proxies pick the project's toolchain there too)."""
        d = self.root / name
        d.mkdir(mode=0o700, exist_ok=True)
        if self.workspace is not None and (self.workspace / "lean-toolchain").is_file():
            shutil.copyfile(self.workspace / "lean-toolchain", d / "lean-toolchain")
        return d

    # ------------------------------------------------------------------ `lake env`
    def prefetch(self) -> None:
        """Run both `lake env` calls at once (each starts Lake and a `lean --githash`)."""
        if self.facade is None:
            return
        from concurrent.futures import ThreadPoolExecutor
        with ThreadPoolExecutor(max_workers=2) as pool:
            list(pool.map(self.lake_env, (True, False)))

    def lake_env(self, wrapped: bool) -> tuple[dict | None, proc.Result]:
        """What `lake env` (no command: it prints the environment Lake gives the processes it
        runs; outside a package it loads no workspace) reports, run in an empty scratch
        directory: plain, or as a `simpulse build` runs Lake. Memoised."""
        if wrapped not in self._lake_env:
            env = self.wrapped_env() if wrapped else self.plain_env()
            if not wrapped and self.facade is not None:
                # the control: the facade named, but no LAKE_OVERRIDE_LEAN — a Lake that reports
                # its own choice prints its own sysroot here, not the variable passed in
                env["LEAN_SYSROOT"] = str(self.facade)
            r = proc.run([str(self.tc.lake), "env"], env=env, cwd=self.scratch_dir("lake-env-wrapped" if wrapped else "lake-env-plain"),
                         timeout=self.timeout)
            vars_ = None
            if r.ok:
                vars_ = {}
                for line in r.text().splitlines():
                    k, eq, v = line.partition("=")
                    if eq and k and k.replace("_", "").isalnum():
                        vars_[k] = v
            self._lake_env[wrapped] = (vars_, r)
        return self._lake_env[wrapped]
