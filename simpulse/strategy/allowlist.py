"""What a strategy may do to a `lean` invocation, and what it may never do.

Every strategy, whatever its source (built-in, `simpulse.toml`, an imported export file), is
checked here. A strategy may only set options from a known family whose effect on soundness is
understood, and only pass `lean` arguments that change scheduling. Nothing that skips kernel
checking, loads code, runs code or redirects outputs is ever allowed.

Standard library only.
"""

from __future__ import annotations

from simpulse.errors import SimpulseError

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

_OPTION_NAME = r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$"   # `re` is imported when checking


def _value_ok(kind: object, value: str) -> bool:
    if kind == "bool":
        return value in ("true", "false")
    if kind == "nat":
        return value.isdigit() and len(value) <= 12
    if isinstance(kind, tuple):
        return value in kind
    return False


def check_option(name: str, value: str, *, who: str = "strategy") -> None:
    if name.startswith("weak."):
        name = name[len("weak."):]
    import re
    if not re.match(_OPTION_NAME, name or ""):
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
    if name in ("maxHeartbeats", "synthInstance.maxHeartbeats", "maxRecDepth") and value == "0":
        raise SimpulseError(f"{who}: option {name}=0 removes the limit; not allowed")


def check_args(args, *, who: str = "strategy") -> None:
    args = list(args)
    i = 0
    while i < len(args):
        a = args[i]
        if a in _ARG_WITH_VALUE:
            if i + 1 >= len(args) or not args[i + 1].isdigit() or not 1 <= int(args[i + 1]) <= 256:
                raise SimpulseError(f"{who}: {a} needs a thread count between 1 and 256")
            i += 2
            continue
        import re
        m = re.match(r"^(-j|--threads=)(\d+)$", a)
        if m and 1 <= int(m.group(2)) <= 256:
            i += 1
            continue
        for bad in _FORBIDDEN_ARGS:
            if a == bad or a.startswith(bad + "=") or (bad.startswith("-") and len(bad) == 2 and a.startswith(bad)):
                raise SimpulseError(f"{who}: lean argument {a!r} is never allowed")
        raise SimpulseError(f"{who}: lean argument {a!r} is not on simpulse's allowlist")


def check_strategy(strategy) -> None:
    who = f"strategy {strategy.name!r}"
    for name, value in strategy.options:
        check_option(name, value, who=who)
    check_args(strategy.args, who=who)
