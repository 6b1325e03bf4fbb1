"""What a strategy may do to a `lean` invocation, and what it may never do.

Every strategy, whatever its source (built-in, `simpulse.toml`, an imported export file), is
checked here. A strategy may only set options from a known family whose effect on soundness is
understood, and only pass `lean` arguments that change scheduling. Nothing that skips kernel
checking, loads code, runs code or redirects outputs is ever allowed, and no strategy may raise
a limit (a failing module could then pass: a changed verdict).

Each strategy declares what, besides time, it may change (`CHANGES`): the messages Lean prints,
the outputs it writes (`.olean`/`.ilean`/C bytes), or — refused here — a module's verdict. The
declaration must cover what its options imply (`implied_changes`): a user cannot declare
`linter.all=false` message-neutral.

Standard library only.
"""

from __future__ import annotations

from simpulse.errors import SimpulseError

# What a strategy may change besides time. "verdict" is named so that it can be refused.
CHANGES = ("messages", "outputs", "verdict")

# Limits (Lean's defaults, contract §6): a strategy may lower one (it may then break a module,
# which the shim catches) but never raise it above the value in effect.
LIMITS: dict[str, int] = {
    "maxHeartbeats": 200000,
    "maxRecDepth": 512,
    "synthInstance.maxHeartbeats": 20000,
    "synthInstance.maxSize": 128,
    "exponentiation.threshold": 256,
}

# What setting an option may change besides time (options not listed: time only).
_OPTION_CHANGES: dict[str, tuple[str, ...]] = {
    "simprocs": ("messages", "outputs"),           # proof terms differ (contract §9)
    "profiler": ("messages",), "profiler.threshold": ("messages",),   # its report lands in Lake's log
    "diagnostics": ("messages",), "diagnostics.threshold": ("messages",),
    "tactic.simp.trace": ("messages",),
    **{name: ("messages", "outputs") for name in LIMITS},   # a lower limit can change which branch a tactic takes
}
_PREFIX_CHANGES: dict[str, tuple[str, ...]] = {"linter.": ("messages",)}

# Options a strategy may set, with the values allowed ("bool", "nat", or a tuple of strings).
ALLOWED_OPTIONS: dict[str, object] = {
    "simprocs": "bool",
    "Elab.async": "bool",
    "linter.all": "bool",
    "maxHeartbeats": "nat",
    "maxRecDepth": "nat",
    "synthInstance.maxHeartbeats": "nat",
    "synthInstance.maxSize": "nat",
    "exponentiation.threshold": "nat",
    "profiler": "bool",
    "profiler.threshold": "nat",
    "diagnostics": "bool",
    "diagnostics.threshold": "nat",
    "tactic.simp.trace": "bool",
}
# Whole families: any linter switch is a diagnostics change only.
ALLOWED_PREFIXES: dict[str, object] = {"linter.": "bool"}

# Refused outright, with the reason given to the user.
FORBIDDEN_OPTIONS = {
    "debug.skipKernelTC": "skips kernel type checking (unsound)",
    "debug.byAsSorry": "replaces proofs by sorry (unsound)",
    "trace.profiler.output": "writes files chosen by the strategy",
    "interpreter.prefer_native": "changes which code runs",
}
FORBIDDEN_PREFIXES = {
    "debug.": "debug switches can weaken checking",
    "backward.": "compatibility switches change what elaborates",
    "compiler.": "changes generated code",
}

# `lean` arguments a strategy may add: only thread-count controls.
_ARG_WITH_VALUE = {"-j", "--threads"}
_FORBIDDEN_ARGS = ("--plugin", "--load-dynlib", "--run", "-o", "-i", "-c", "-b", "-R", "--root",
                   "--setup", "--server", "--worker", "--deps", "--stdin", "-E", "--ext",
                   "--json", "-D", "--tstack", "-t", "--trust", "--memory", "-M")

# Whole ASCII strings only (`re.fullmatch`; `$` would accept a final newline, `\d` any Unicode digit).
_OPTION_NAME = r"[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*"   # `re` is imported when checking
_DIGITS = "0123456789"


def _nat(value: str, width: int) -> bool:
    return isinstance(value, str) and 0 < len(value) <= width and all(c in _DIGITS for c in value)


def _value_ok(kind: object, value: str) -> bool:
    if kind == "bool":
        return value in ("true", "false")
    if kind == "nat":
        return _nat(value, 12)
    if isinstance(kind, tuple):
        return value in kind
    return False


def check_option(name: str, value: str, *, who: str = "strategy") -> None:
    if name.startswith("weak."):
        name = name[len("weak."):]
    import re
    if not isinstance(name, str) or not re.fullmatch(_OPTION_NAME, name, re.ASCII):
        raise SimpulseError(f"{who}: {name!r} is not a Lean option name")
    if name in FORBIDDEN_OPTIONS:
        raise SimpulseError(f"{who}: option {name} is never allowed: {FORBIDDEN_OPTIONS[name]}")
    for prefix, why in FORBIDDEN_PREFIXES.items():
        if name.startswith(prefix):
            raise SimpulseError(f"{who}: option {name} is never allowed: {why}")
    kind = ALLOWED_OPTIONS.get(name)
    if kind is None:
        for prefix, k in ALLOWED_PREFIXES.items():
            if name.startswith(prefix):
                kind = k
                break
    if kind is None:
        raise SimpulseError(f"{who}: option {name} is not on simpulse's allowlist")
    if not _value_ok(kind, value):
        raise SimpulseError(f"{who}: option {name} does not accept the value {value!r}")
    if name in LIMITS and int(value) == 0:
        raise SimpulseError(f"{who}: option {name}=0 removes the limit; not allowed")
    if name in LIMITS and int(value) > LIMITS[name]:
        raise SimpulseError(f"{who}: option {name}={value} raises a limit above Lean's default "
                            f"({LIMITS[name]}): a module that fails could then pass, and no strategy "
                            "may change a verdict")


def option_changes(name: str) -> tuple[str, ...]:
    """What setting option `name` may change besides time."""
    if name.startswith("weak."):
        name = name[len("weak."):]
    if name in _OPTION_CHANGES:
        return _OPTION_CHANGES[name]
    for prefix, changes in _PREFIX_CHANGES.items():
        if name.startswith(prefix):
            return changes
    return ()


def implied_changes(options, args=()) -> tuple[str, ...]:
    """What a strategy with these options and arguments may change besides time, in CHANGES
    order (thread-count arguments change time only)."""
    got = {c for name, _ in options for c in option_changes(name)}
    return tuple(c for c in CHANGES if c in got)


def check_changes(declared, options, args=(), *, who: str = "strategy") -> tuple[str, ...]:
    """A strategy's declaration of what it may change, checked: known words, no verdict, and
    covering what its options imply. Returns it in CHANGES order."""
    declared = list(declared)
    for c in declared:
        if c not in CHANGES:
            raise SimpulseError(f"{who}: changes may list {', '.join(CHANGES[:2])}; not {c!r}")
    if "verdict" in declared:
        raise SimpulseError(f"{who}: declares that it may change a verdict; no strategy may")
    missing = [c for c in implied_changes(options, args) if c not in declared]
    if missing:
        raise SimpulseError(f"{who}: its options may change {' and '.join(missing)}, which its "
                            f"`changes` declaration leaves out")
    return tuple(c for c in CHANGES if c in declared)


def raises_limit(options, in_effect: dict) -> str | None:
    """The first option among `options` that raises a limit above the value in effect for one
    compile (`in_effect`: the user's options, name → value; Lean's default where unset), or None."""
    for name, value in options:
        if name.startswith("weak."):
            name = name[len("weak."):]
        if name in LIMITS:
            current = in_effect.get(name)
            try:
                limit = int(str(current)) if current is not None else LIMITS[name]
            except ValueError:
                limit = LIMITS[name]
            if limit == 0:          # 0: the user removed the limit; a strategy's value would add one
                continue
            try:
                if int(value) > limit:
                    return f"{name}={value} > {limit}"
            except ValueError:
                return f"{name}={value}"
    return None


def check_args(args, *, who: str = "strategy") -> None:
    args = list(args)
    i = 0
    while i < len(args):
        a = args[i]
        if not isinstance(a, str):
            raise SimpulseError(f"{who}: lean arguments must be strings")
        if a in _ARG_WITH_VALUE:
            if i + 1 >= len(args) or not _threads_ok(args[i + 1]):
                raise SimpulseError(f"{who}: {a} needs a thread count between 1 and 1024 (ASCII digits)")
            i += 2
            continue
        for flag in ("-j", "--threads="):
            if a.startswith(flag) and len(a) > len(flag):
                if not _threads_ok(a[len(flag):]):
                    raise SimpulseError(f"{who}: {a!r} needs a thread count between 1 and 1024 (ASCII digits)")
                break
        else:
            flag = ""
        if flag:
            i += 1
            continue
        for bad in _FORBIDDEN_ARGS:
            if a == bad or a.startswith(bad + "=") or (bad.startswith("-") and len(bad) == 2 and a.startswith(bad)):
                raise SimpulseError(f"{who}: lean argument {a!r} is never allowed")
        raise SimpulseError(f"{who}: lean argument {a!r} is not on simpulse's allowlist")


def _threads_ok(v) -> bool:
    return isinstance(v, str) and _nat(v, 4) and 1 <= int(v) <= 1024


def check_strategy(strategy) -> None:
    who = f"strategy {strategy.name!r}"
    for name, value in strategy.options:
        check_option(name, value, who=who)
    check_args(strategy.args, who=who)
    check_changes(strategy.changes, strategy.options, strategy.args, who=who)
