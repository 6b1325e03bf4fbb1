"""The catalogue of compilation strategies.

A strategy is a real, Lean-visible change to how `lean` is invoked: a bundle of options passed
as ``-Dweak.<name>=<value>`` (or written into the setup JSON in the newest Lake era) and/or
extra `lean` arguments such as ``-j 1``. Each declares what besides time it may change
(``changes``: the messages a user sees, the output bytes; never a verdict) and whether it is
expected to break proofs that compile under the baseline; the shim falls back to the baseline
whenever any strategy breaks a module.

Profiles (``PROFILES``) say which changes a build accepts: ``safe`` (the default) none,
``dev`` messages, ``aggressive`` messages and outputs. A build whose warnings are errors
(``--wfail``, ``--iofail``, ``warningAsError``) accepts none, whatever the profile.

Standard library only: the shim imports this module.
"""

from __future__ import annotations


from simpulse._record import Record
from simpulse.errors import SimpulseError
from simpulse.strategy.allowlist import CHANGES, check_changes, check_strategy, implied_changes

BASELINE = "baseline"

# What each profile lets a strategy change besides time. No profile accepts "verdict".
PROFILES: dict[str, frozenset[str]] = {
    "safe": frozenset(),
    "dev": frozenset({"messages"}),
    "aggressive": frozenset({"messages", "outputs"}),
}
DEFAULT_PROFILE = "safe"

_NAME = r"^[a-z][a-z0-9_.-]{0,47}$"    # compiled when a user strategy is read: `re` stays off the shim path


# The default prior on a strategy's effect: N(0, σ²/0.3) — with one compile's noise σ² ≈ 0.02–0.03
# on log-time, a standard deviation of ≈ 0.28: effects within about ±50 % are all plausible
# a priori, and two or three paired compiles outweigh the prior.
PRIOR_STRENGTH = 0.3


class Strategy(Record):
    __slots__ = ("name", "description", "options", "args", "changes", "may_break",
                 "prior_mean", "prior_strength", "builtin", "tags")
    # changes: what it may change besides time, a sub-tuple of allowlist.CHANGES ("messages", "outputs");
    # prior_mean: prior on the log-speedup against baseline (0 = no effect);
    # prior_strength: pseudo-observations behind that prior.
    _defaults = {"options": (), "args": (), "changes": (), "may_break": False,
                 "prior_mean": 0.0, "prior_strength": PRIOR_STRENGTH, "builtin": True, "tags": ()}
    _frozen = True

    @property
    def is_baseline(self) -> bool:
        return self.name == BASELINE

    @property
    def changes_diagnostics(self) -> bool:
        """May it change the messages (warnings, infos) a user sees?"""
        return "messages" in self.changes

    def allowed_by(self, accepted: frozenset[str]) -> bool:
        """Does a build that accepts the changes `accepted` allow this strategy?"""
        return all(c in accepted for c in self.changes)

    def option_dict(self) -> dict[str, str]:
        return dict(self.options)

    def to_json(self) -> dict:
        return {
            "name": self.name,
            "description": self.description,
            "options": dict(self.options),
            "args": list(self.args),
            "changes": list(self.changes),
            "changes_diagnostics": self.changes_diagnostics,
            "may_break": self.may_break,
            "prior_mean": self.prior_mean,
            "prior_strength": self.prior_strength,
            "builtin": self.builtin,
        }


def _b(name, description, options=(), args=(), *, changes=(), breaks=False, prior=0.0):
    return Strategy(name, description, tuple(options), tuple(args), tuple(changes), breaks, prior)


def _share_of_cores() -> tuple[Strategy, ...]:
    """`threads-half`: a task pool of half the machine's cores (-j cores/2), Lake running one
    lean per core. Left out below 6 cores, where it would be `-j 1` or `-j 2` again."""
    import os
    half = (os.cpu_count() or 1) // 2
    if half < 3:
        return ()
    return (_b("threads-half", f"A task pool of half the cores (-j {half} here) instead of one "
               "worker per core: the main thread plus that many.", args=["-j", str(half)]),)


BUILTIN: tuple[Strategy, ...] = (
    _b(BASELINE, "Lean exactly as Lake invokes it: no added options."),
    _b("no-linters", "Turn default-on linters off (-Dweak.linter.all=false): saves the linter "
       "passes after each declaration; the warnings they would print are not shown.",
       [("linter.all", "false")], changes=["messages"]),
    _b("no-async", "Elaborate proofs on the main thread (-Dweak.Elab.async=false): no task "
       "overhead for small modules, loses parallelism on large ones.",
       [("Elab.async", "false")]),
    _b("no-simprocs", "Disable simp's built-in simplification procedures "
       "(-Dweak.simprocs=false): fewer rewrite attempts; breaks proofs that rely on them.",
       [("simprocs", "false")], changes=["messages", "outputs"], breaks=True),
    _b("single-thread", "A task pool of one worker (-j 1): lean's main thread plus one worker "
       "(-j sizes the pool; it is not single-threaded): less oversubscription while Lake runs a "
       "lean per core.", args=["-j", "1"]),
    _b("lean-fast", "no-linters and no-async together.",
       [("linter.all", "false"), ("Elab.async", "false")], changes=["messages"]),
    _b("simp-lean", "no-linters and no-simprocs together, for simp-heavy modules.",
       [("linter.all", "false"), ("simprocs", "false")], changes=["messages", "outputs"], breaks=True),
    _b("threads-2", "A task pool of two workers (-j 2) instead of one per core: the main thread "
       "plus two.", args=["-j", "2"]),
    *_share_of_cores(),
)


def _parse_bool(v, what) -> bool:
    if isinstance(v, bool):
        return v
    raise SimpulseError(f"{what} must be true or false")


def strategy_from_config(name: str, spec: dict) -> Strategy:
    """Build a user strategy from a ``[strategies.NAME]`` table of ``simpulse.toml``.

    Every user strategy goes through the allowlist; anything else is refused with a clear
    one-line error.
    """
    import re
    if not isinstance(name, str) or not re.match(_NAME, name):
        raise SimpulseError(f"strategy name {name!r} is not allowed (lowercase letters, digits, "
                            "'-', '_', '.'; at most 48 characters)")
    if not isinstance(spec, dict):
        raise SimpulseError(f"strategy {name!r}: expected a table")
    known = set(STRATEGY_SPEC_KEYS)
    unknown = sorted(set(spec) - known)
    if unknown:
        raise SimpulseError(f"strategy {name!r}: unknown key {unknown[0]!r}")
    opts = spec.get("options", {})
    if not isinstance(opts, dict):
        raise SimpulseError(f"strategy {name!r}: options must be a table of name = value")
    options = []
    for k, v in opts.items():
        if isinstance(v, bool):
            v = "true" if v else "false"
        elif isinstance(v, int):
            v = str(v)
        elif not isinstance(v, str):
            raise SimpulseError(f"strategy {name!r}: option {k!r} must be a bool, an integer or a string")
        options.append((str(k), v))
    args = spec.get("args", [])
    if not isinstance(args, list) or not all(isinstance(a, str) for a in args):
        raise SimpulseError(f"strategy {name!r}: args must be a list of strings")
    desc = spec.get("description", f"user strategy {name}")
    if not isinstance(desc, str):
        raise SimpulseError(f"strategy {name!r}: description must be a string")
    prior_mean = spec.get("prior_mean", 0.0)
    prior_strength = spec.get("prior_strength", PRIOR_STRENGTH)
    for key, val in (("prior_mean", prior_mean), ("prior_strength", prior_strength)):
        if isinstance(val, bool) or not isinstance(val, (int, float)) or val != val or abs(val) > 1e6:
            raise SimpulseError(f"strategy {name!r}: {key} must be a finite number")
    if not 0 < prior_strength <= 1000:
        raise SimpulseError(f"strategy {name!r}: prior_strength must be in (0, 1000]")
    changes = _declared_changes(name, spec, options, args)
    s = Strategy(
        name=name, description=desc, options=tuple(options), args=tuple(args), changes=changes,
        may_break=_parse_bool(spec.get("may_break", True), f"strategy {name!r}: may_break"),
        prior_mean=float(prior_mean), prior_strength=float(prior_strength), builtin=False,
    )
    check_strategy(s)
    return s


def _declared_changes(name: str, spec: dict, options, args) -> tuple[str, ...]:
    """A user strategy's `changes` list, checked against what its options imply. Without one,
    what its options imply (plus "messages" for the older ``changes_diagnostics = true``)."""
    who = f"strategy {name!r}"
    if "changes" in spec:
        declared = spec["changes"]
        if not isinstance(declared, list) or not all(isinstance(c, str) for c in declared):
            raise SimpulseError(f"{who}: changes must be a list drawn from {', '.join(CHANGES[:2])}")
    else:
        declared = list(implied_changes(options, args))
        if _parse_bool(spec.get("changes_diagnostics", False), f"{who}: changes_diagnostics"):
            declared.append("messages")
    if "changes_diagnostics" in spec:
        _parse_bool(spec["changes_diagnostics"], f"{who}: changes_diagnostics")
        if spec["changes_diagnostics"] and "messages" not in declared:
            raise SimpulseError(f"{who}: changes_diagnostics = true, but changes leaves out messages")
    return check_changes(declared, options, args, who=who)


# The keys of a user strategy's table (and of a strategy definition in an export file).
STRATEGY_SPEC_KEYS = ("description", "options", "args", "changes", "changes_diagnostics",
                      "may_break", "prior_mean", "prior_strength")


def strategy_from_json(d: dict) -> Strategy:
    """Strategy definitions read back from an export file (validated like user strategies)."""
    if not isinstance(d, dict) or "name" not in d:
        raise SimpulseError("strategy definition without a name")
    spec = {k: d[k] for k in STRATEGY_SPEC_KEYS if k in d}
    return strategy_from_config(d["name"], spec)


def _parts(s: Strategy) -> frozenset:
    """A strategy's changes to the invocation, one element per option and one for its arguments."""
    return frozenset([("D", k, v) for k, v in s.options] + ([("A", " ".join(s.args))] if s.args else []))


class Catalogue:
    """The strategies available in one workspace: the built-ins plus the user's."""

    def __init__(self, strategies=BUILTIN, *, enabled: list[str] | None = None,
                 profile: str | None = None, strict_messages: bool = False,
                 allow_breaking: bool = True, excluded: dict[str, str] | None = None):
        """`profile` and `strict_messages` (warnings are errors in this build) decide which
        changes are accepted; `excluded` names strategies left out for one compile, with why
        (e.g. one that would raise a limit the user set). `profile=None` filters nothing: the
        learner's library default, for benchmarks and tests; a build always names its profile
        (`config.DEFAULTS`: "safe")."""
        if profile is not None and profile not in PROFILES:
            raise SimpulseError(f"unknown profile {profile!r} (known: {', '.join(PROFILES)})")
        self.profile = profile
        self.strict_messages = strict_messages
        accepted = PROFILES[profile] if profile is not None else frozenset(CHANGES[:2])
        self.accepted: frozenset[str] = frozenset() if strict_messages else accepted
        self.excluded = dict(excluded or {})
        by_name: dict[str, Strategy] = {}
        for s in strategies:
            by_name[s.name] = s
        if BASELINE not in by_name:
            by_name = {BASELINE: BUILTIN[0], **by_name}
        self.all = by_name
        active = []
        for name, s in by_name.items():
            if enabled is not None and name != BASELINE and name not in enabled:
                continue
            if not s.is_baseline and (not s.allowed_by(self.accepted) or name in self.excluded):
                continue
            if not allow_breaking and s.may_break and not s.is_baseline:
                continue
            active.append(s)
        self.active: tuple[Strategy, ...] = tuple(active)
        safe = frozenset().union(*(_parts(s) for s in by_name.values() if not s.may_break))
        self._signatures = {s.name: (_parts(s) - safe) or _parts(s)
                            for s in by_name.values() if s.may_break}
        if enabled is not None:
            for name in enabled:
                if name not in by_name:
                    raise SimpulseError(f"unknown strategy {name!r} (known: {', '.join(by_name)})")

    def inactive_reason(self, name: str) -> str | None:
        """Why strategy `name` is not active here (None when it is): the profile, a build whose
        warnings are errors, or a per-compile exclusion. (`enabled` and `allow_breaking` are
        the caller's to explain: they are settings.)"""
        s = self.all.get(name)
        if s is None or s in self.active:
            return None
        if name in self.excluded:
            return self.excluded[name]
        if not s.allowed_by(self.accepted):
            what = " and ".join(c for c in s.changes if c not in self.accepted)
            if self.strict_messages:
                return f"may change {what}; this build treats warnings as errors"
            return f"may change {what}; profile {self.profile!r} does not allow it"
        return None

    def get(self, name: str) -> Strategy:
        try:
            return self.all[name]
        except KeyError:
            raise SimpulseError(f"unknown strategy {name!r} (known: {', '.join(self.all)})") from None

    def names(self) -> list[str]:
        return [s.name for s in self.active]

    def breaking_signature(self, name: str) -> frozenset:
        """What in a may-break strategy can break a proof: its options and arguments that no
        strategy declared safe (``may_break`` false) also sets — for ``simp-lean``
        (``linter.all=false``, ``simprocs=false``) that is ``simprocs=false``, the same as
        ``no-simprocs``'s. Strategies with the same signature break the same proofs, so they
        share breakage evidence; one whose signature contains another's breaks whatever that
        one broke. Empty for a strategy declared safe."""
        return self._signatures.get(name, frozenset())

    @classmethod
    def with_user(cls, user: dict | None, *, problems: list[str] | None = None, where: str = "simpulse.toml",
                  **kw) -> "Catalogue":
        """Built-ins plus the user's strategies. With `problems` (a list), a strategy the
        allowlist refuses, or a name in `enabled` that names none, is left out and its problem
        appended ("<where>: ..."); without it, the first problem raises."""
        strategies = list(BUILTIN)
        for name, spec in (user or {}).items():
            try:
                if any(s.name == name for s in BUILTIN):
                    raise SimpulseError(f"strategy {name!r} is built in; choose another name")
                strategies.append(strategy_from_config(name, spec))
            except SimpulseError as e:
                if problems is None:
                    raise
                problems.append(f"{where}: [strategies.{name}] left out: {e}")
        enabled = kw.get("enabled")
        if problems is not None and enabled is not None:
            known = {s.name for s in strategies} | {BASELINE}
            for name in enabled:
                if name not in known:
                    problems.append(f"{where}: enabled names unknown strategy {name!r}: left out")
            kw["enabled"] = [n for n in enabled if n in known]
        return cls(strategies, **kw)
