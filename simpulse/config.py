"""Effective configuration: defaults < ``simpulse.toml`` < environment < command-line flags.

Every value remembers where it came from (``simpulse config --show``, like ``ccache -p``).
Standard library only (tomllib).
"""

from __future__ import annotations

import math
import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from simpulse.errors import SimpulseError
from simpulse.model.tunables import EXPLORE_BUDGET

CONFIG_NAME = "simpulse.toml"

DEFAULTS: dict[str, object] = {
    "mode": "auto",
    "policy": "thompson",
    "explore_budget": EXPLORE_BUDGET,
    "state_dir": ".simpulse",
    "profile": "safe",
    "allow_breaking": True,
    "enabled": None,
    "fsync": False,
    "retention_segments": 50,
    "objective": "build",
    "serve": True,
}

DOCS = {
    "mode": "auto (learn and apply), confident (apply only when P(beats baseline) ≥ 0.8), "
            "shadow (recommend and log, always compile baseline)",
    "policy": "thompson, beta, ucb, egreedy or lints",
    "explore_budget": "largest share of compiles that may be exploratory (0–1)",
    "state_dir": "where events and statistics live, relative to the workspace root",
    "profile": "safe (only strategies that change nothing but time: same verdict, messages and .olean bytes), "
               "dev (may also hide linter warnings), aggressive (may also change proof terms, e.g. simprocs off). "
               "No profile changes a verdict; a build whose warnings are errors runs time-only strategies whatever the profile",
    "allow_breaking": "allow strategies that may break a proof (the shim always falls back to baseline)",
    "enabled": "list of strategy names to use (default: all)",
    "fsync": "fsync every compile event as the shim writes it (default false: the event log is fsync'd once per build, "
             "after Lake finishes, which costs the compiles nothing; record and import always fsync)",
    "retention_segments": "compacted event-log segments kept on disk (statistics are never lost)",
    "objective": "build (default: a compile costs max(wall, CPU × compiles running ÷ cores), what it holds up the "
                 "build) or module (each module's own wall time); docs/learning.md, \"The objective\"",
    "serve": "experimental: `simpulse build` keeps the statistics in memory and decides for every compile's shim "
             "over a private Unix socket, instead of each shim loading them (a shim that gets no answer decides itself)",
}

ENV = {"mode": "SIMPULSE_MODE", "policy": "SIMPULSE_POLICY", "state_dir": "SIMPULSE_STATE_DIR",
       "explore_budget": "SIMPULSE_EXPLORE_BUDGET", "profile": "SIMPULSE_PROFILE",
       "objective": "SIMPULSE_OBJECTIVE", "serve": "SIMPULSE_SERVE"}

_TYPES = {"mode": str, "policy": str, "explore_budget": float, "state_dir": str,
          "profile": str, "allow_breaking": bool, "enabled": list,
          "fsync": bool, "retention_segments": int, "objective": str, "serve": bool}


@dataclass
class Config:
    values: dict = field(default_factory=lambda: dict(DEFAULTS))
    sources: dict = field(default_factory=lambda: {k: "default" for k in DEFAULTS})
    strategies: dict = field(default_factory=dict)     # user strategy tables
    path: Path | None = None
    notes: list = field(default_factory=list)          # one-line notes for the user (an old key mapped)

    def __getitem__(self, key):
        return self.values[key]

    def set(self, key, value, source):
        self.values[key] = _check(key, value, source)
        self.sources[key] = source


def _check(key: str, value, source: str):
    want = _TYPES[key]
    if want is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if value is None and key == "enabled":
        return None
    if not isinstance(value, want) or (want is int and isinstance(value, bool)):
        raise SimpulseError(f"{source}: {key} must be {want.__name__}, got {type(value).__name__}")
    if key == "mode":
        from simpulse.learner import MODES
        if value not in MODES:
            raise SimpulseError(f"{source}: mode must be one of {', '.join(MODES)}, got {value!r}")
    if key == "profile":
        from simpulse.strategy.catalogue import PROFILES
        if value not in PROFILES:
            raise SimpulseError(f"{source}: profile must be one of {', '.join(PROFILES)}, got {value!r}")
    if key == "policy":
        from simpulse.policy.policies import POLICIES
        if value not in POLICIES:
            raise SimpulseError(f"{source}: policy must be one of {', '.join(POLICIES)}, got {value!r}")
    if key == "objective":
        from simpulse.model.objective import OBJECTIVES
        if value not in OBJECTIVES:
            raise SimpulseError(f"{source}: objective must be one of {', '.join(OBJECTIVES)}, got {value!r}")
    if key == "explore_budget" and not (math.isfinite(value) and 0.0 <= value <= 1.0):
        raise SimpulseError(f"{source}: explore_budget must be between 0 and 1")
    if key == "retention_segments" and value < 1:
        raise SimpulseError(f"{source}: retention_segments must be at least 1")
    if key == "enabled" and not all(isinstance(x, str) for x in value):
        raise SimpulseError(f"{source}: enabled must be a list of strategy names")
    return value


def _old_diagnostics_key(cfg: Config, section: dict, value, path: Path) -> None:
    """`allow_diagnostic_changes` (before profiles): false is the `safe` profile, true `dev`.
    An explicit `profile` in the same table wins."""
    if not isinstance(value, bool):
        raise SimpulseError(f"{path}: allow_diagnostic_changes must be bool, got {type(value).__name__}")
    mapped = "dev" if value else "safe"
    if "profile" in section:
        cfg.notes.append(f"{path}: allow_diagnostic_changes is replaced by profile; "
                         f"profile = {section['profile']!r} is used and the old key ignored")
        return
    cfg.set("profile", mapped, f"{path} (allow_diagnostic_changes = {str(value).lower()})")
    cfg.notes.append(f"{path}: allow_diagnostic_changes = {str(value).lower()} is read as "
                     f"profile = \"{mapped}\" (the key is replaced by profile: safe | dev | aggressive)")


def load_config(workspace: Path | None, *, flags: dict | None = None, env=None,
                problems: list[str] | None = None) -> Config:
    """The effective configuration. With `problems` (a list), a mistake in `simpulse.toml` or
    in the environment does not raise: it is appended as one line (file, key, problem) and the
    setting keeps its earlier value (`simpulse build` then runs plain `lake build`; `simpulse
    config` and `simpulse strategies` show it). Command-line flags always raise."""
    cfg = Config()
    env = os.environ if env is None else env

    def mistake(message: str) -> None:
        if problems is None:
            raise SimpulseError(message)
        problems.append(message)

    if workspace is not None:
        path = workspace / CONFIG_NAME
        if path.is_file():
            cfg.path = path
            _read_file(cfg, path, mistake)
    for key, var in ENV.items():
        raw = env.get(var)
        if raw:
            value: object = raw
            try:
                if _TYPES[key] is float:
                    try:
                        value = float(raw)
                    except ValueError:
                        raise SimpulseError(f"{var}: not a number: {raw!r}") from None
                elif _TYPES[key] is bool:
                    word = raw.strip().lower()
                    if word not in ("1", "true", "yes", "on", "0", "false", "no", "off"):
                        raise SimpulseError(f"{var}: not a boolean (1/0, true/false, yes/no, on/off): {raw!r}")
                    value = word in ("1", "true", "yes", "on")
                cfg.set(key, value, f"environment {var}")
            except SimpulseError as e:
                mistake(str(e))
    for key, value in (flags or {}).items():
        if value is not None:
            cfg.set(key, value, "command line")
    return cfg


def _read_file(cfg: Config, path: Path, mistake) -> None:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError, OSError) as e:
        mistake(f"{path}: not valid TOML: {e}")
        return
    unknown = sorted(set(data) - {"simpulse", "strategies"})
    if unknown:
        mistake(f"{path}: unknown section or key {unknown[0]!r} (expected [simpulse] and [strategies.NAME])")
    section = data.get("simpulse", {})
    if not isinstance(section, dict):
        mistake(f"{path}: [simpulse] must be a table")
        section = {}
    for key, value in section.items():
        try:
            if key == "allow_diagnostic_changes":
                _old_diagnostics_key(cfg, section, value, path)
            elif key not in DEFAULTS:
                raise SimpulseError(f"{path}: unknown key {key!r} in [simpulse] (known: {', '.join(DEFAULTS)})")
            else:
                cfg.set(key, value, str(path))
        except SimpulseError as e:
            mistake(str(e))
    strategies = data.get("strategies", {})
    if not isinstance(strategies, dict):
        mistake(f"{path}: [strategies] must hold tables [strategies.NAME]")
        strategies = {}
    cfg.strategies = strategies


def resolve_state_dir(workspace: Path | None, value: str | Path) -> Path:
    """A state directory as given by `--state-dir`, SIMPULSE_STATE_DIR or `state_dir` in
    simpulse.toml, resolved one way for all three: `~` expanded, and a relative path taken
    from the workspace root (from the current directory outside a Lake project)."""
    p = Path(value).expanduser()
    if not p.is_absolute():
        p = (workspace if workspace is not None else Path.cwd()) / p
    # normalised but not resolved: a state directory that is a symbolic link (a cloned
    # repository can carry one) must reach the store as a link, which refuses it
    return Path(os.path.abspath(p))


IMPORTED_STRATEGIES = "imported-strategies.json"


def read_imported_strategies(state_dir) -> list:
    """The strategy definitions an import was trusted to add (``<state_dir>/imported-strategies.json``),
    or [] when there are none. Unreadable or malformed: a clear one-line error."""
    import json
    path = Path(state_dir) / IMPORTED_STRATEGIES
    if not path.is_file():
        return []
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise SimpulseError(f"{path}: unreadable ({e}); fix or remove it") from None
    if not isinstance(data, list):
        raise SimpulseError(f"{path}: expected a list of strategy definitions")
    return data


def catalogue_for(cfg: Config, state_dir: Path | None = None, *, problems: list[str] | None = None):
    """The user's catalogue: built-ins, `[strategies.*]` of simpulse.toml, and strategies an
    import was explicitly trusted to add (``<state_dir>/imported-strategies.json``, a list of
    definitions; each passes the allowlist again here). With `problems` (a list), a refused
    strategy, or an unknown name in `enabled`, is left out and its problem appended (one line)
    instead of raising: the others are used."""
    from simpulse.strategy.catalogue import STRATEGY_SPEC_KEYS, Catalogue
    user = dict(cfg.strategies)
    imported: list = []
    if state_dir is not None:
        try:
            imported = read_imported_strategies(state_dir)
        except SimpulseError as e:
            if problems is None:
                raise
            problems.append(f"{e} (its strategies are left out)")
    if imported:
        for d in imported:
            if isinstance(d, dict) and isinstance(d.get("name"), str) and d["name"] not in user:
                user[d["name"]] = {k: d[k] for k in STRATEGY_SPEC_KEYS if k in d}
    where = str(cfg.path) if cfg.path else "simpulse.toml"
    return Catalogue.with_user(user, enabled=cfg["enabled"], profile=cfg["profile"],
                               allow_breaking=cfg["allow_breaking"], problems=problems, where=where)
