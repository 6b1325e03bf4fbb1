"""The export file's format: its limits and names, reading it (strict JSON, no constants, no
duplicate keys, bounded size and depth) and checking everything an import file may carry
(format and version, every field's type, finite numbers, sizes, safe names, joint blocks a set
of compiles could add up to, every strategy definition through the allowlist). A problem is a
one-line `SimpulseError`: a refused file merges nothing. `simpulse.exchange` builds exports and
plans imports on top of it. Standard library only.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

from simpulse.errors import SimpulseError

FORMAT = "simpulse-export"
VERSION = 2              # 2: `origin` (1: without it; still read)
ORIGIN_FILE = "origin"   # in a state directory: the id its exports carry

MAX_BYTES = 20 * 1024 * 1024
MAX_TOOLCHAINS = 64
MAX_CONTEXTS = 256        # per toolchain
MAX_STRATEGIES = 256      # definitions, and per context / in a toolchain's glob
MAX_MODULES = 100_000     # per toolchain
MAX_NUMBER = 1e12         # |any statistic| (a count of a trillion compiles is not plausible)
MAX_DEPTH = 12

TOP_KEYS = {"format", "version", "created", "simpulse_version", "origin", "toolchains", "strategies", "priors"}
TOP_REQUIRED = ("format", "version", "toolchains")
TC_KEYS = {"arms", "glob", "contexts", "modules", "simulated", "joint", "noise"}
JOINT_KEYS = {"names", "M", "b", "q", "d", "fail"}
CONTEXT_COUNT_KEYS = {"pulls", "fails", "modules"}
MODULE_KEYS = {"context", "counts"}
STRATEGY_KEYS = {"name", "description", "options", "args", "changes", "changes_diagnostics", "may_break",
                 "prior_mean", "prior_strength", "builtin"}

# Names: no '/', no '..', no control characters, no leading '.' or '-'.
_GITHASH = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.+-]{0,127}$")
_CONTEXT = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}$")
_STRATEGY = re.compile(r"^[a-z][a-z0-9_.-]{0,47}$")
_MODULE_MAX = 512
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_ORIGIN = re.compile(r"^[0-9a-f]{16,64}$")


# --------------------------------------------------------------------------- reading + validation

def _no_constants(name):
    raise SimpulseError(f"invalid number {name} (NaN and infinities are not allowed)")


def _pairs(pairs):
    out = {}
    for k, v in pairs:
        if k in out:
            raise SimpulseError(f"duplicate key {k!r}")
        out[k] = v
    return out


_PARTIAL_TOKEN = re.compile(r"[-+0-9.eE]*|[a-z]*")


def parse(data: bytes, *, what: str = "import file") -> dict:
    if len(data) > MAX_BYTES:
        raise SimpulseError(f"{what}: larger than {MAX_BYTES // (1024 * 1024)} MB; refused")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise SimpulseError(f"{what}: not UTF-8 text") from None
    try:
        doc = json.loads(text, parse_constant=_no_constants, object_pairs_hook=_pairs)
    except SimpulseError as e:
        raise SimpulseError(f"{what}: {e}") from None
    except json.JSONDecodeError as e:
        # cut short: the parser stopped at the end, in an unterminated string, or in a last,
        # partial number or literal (`-`, `1.`, `2e-`, `tru`)
        truncated = e.msg.startswith("Unterminated") or (
            not e.msg.startswith("Extra data") and _PARTIAL_TOKEN.fullmatch(text[e.pos:].rstrip()) is not None)
        hint = " (truncated?)" if truncated else ""
        raise SimpulseError(f"{what}: not valid JSON{hint}: {e.msg} (line {e.lineno}, column {e.colno})") from None
    except RecursionError:
        raise SimpulseError(f"{what}: nested too deeply") from None
    if not isinstance(doc, dict):
        raise SimpulseError(f"{what}: expected a JSON object at the top level")
    return doc


def load_export(path: Path) -> dict:
    """Read and validate an export file; a one-line SimpulseError for anything wrong."""
    path = Path(path)
    try:
        size = path.stat().st_size
    except OSError as e:
        raise SimpulseError(f"cannot read {path}: {e.strerror or e}") from None
    if not path.is_file():
        raise SimpulseError(f"{path}: not a regular file")
    if size > MAX_BYTES:
        raise SimpulseError(f"{path}: {size} bytes is larger than {MAX_BYTES // (1024 * 1024)} MB; refused")
    try:
        with open(path, "rb") as f:
            data = f.read(MAX_BYTES + 1)
    except OSError as e:
        raise SimpulseError(f"cannot read {path}: {e.strerror or e}") from None
    doc = parse(data, what=str(path))
    try:
        validate(doc)
    except SimpulseError as e:
        raise SimpulseError(f"{path}: {e}") from None
    return doc


def _type(x) -> str:
    return {dict: "object", list: "array", str: "string", bool: "boolean", type(None): "null"}.get(
        type(x), "number" if isinstance(x, (int, float)) else type(x).__name__)


def _obj(x, where: str, *, max_items: int | None = None) -> dict:
    if not isinstance(x, dict):
        raise SimpulseError(f"{where}: expected an object, got {_type(x)}")
    if max_items is not None and len(x) > max_items:
        raise SimpulseError(f"{where}: {len(x)} entries, more than the limit of {max_items}")
    return x


def _keys(d: dict, allowed: set, where: str, required=()) -> None:
    unknown = sorted(set(d) - allowed, key=str)
    if unknown:
        raise SimpulseError(f"{where}: unknown field {unknown[0]!r}")
    for k in required:
        if k not in d:
            raise SimpulseError(f"{where}: missing field {k!r}")


def _finite(x, where: str, *, nonneg: bool = False) -> float:
    if isinstance(x, bool) or not isinstance(x, (int, float)):
        raise SimpulseError(f"{where}: expected a number, got {_type(x)}")
    x = float(x)
    if not math.isfinite(x) or abs(x) > MAX_NUMBER:
        raise SimpulseError(f"{where}: {x!r} is not a finite number of plausible size")
    if nonneg and x < 0:
        raise SimpulseError(f"{where}: {x!r} is negative")
    return x


def _name(x, pattern, where: str, what: str) -> str:
    if not isinstance(x, str) or not pattern.match(x) or ".." in x or _CONTROL.search(x):
        shown = repr(x)[:80]
        raise SimpulseError(f"{where}: {what} name {shown} is not allowed "
                            "(letters, digits, '_', '.', '-'; no '/', '..' or control characters)")
    return x


def _module_name(x, where: str) -> str:
    if (not isinstance(x, str) or not x or len(x) > _MODULE_MAX or "/" in x or "\\" in x
            or ".." in x or _CONTROL.search(x) or x.startswith(".")):
        raise SimpulseError(f"{where}: module key {repr(x)[:80]} is not allowed "
                            "(no '/', '..' or control characters; at most 512 characters)")
    return x


def _arm(x, where: str) -> None:
    if not isinstance(x, list) or len(x) != 6:
        raise SimpulseError(f"{where}: expected an array of 6 numbers [W, S1, S2, n, fails, wins]")
    for i, v in enumerate(x):
        _finite(v, f"{where}[{i}]", nonneg=i != 1)


def _joint_block(x, where: str) -> None:
    _obj(x, where)
    _keys(x, JOINT_KEYS, where, JOINT_KEYS - {"fail"})
    names = x["names"]
    if not isinstance(names, list) or len(names) > MAX_STRATEGIES or len(set(map(str, names))) != len(names):
        raise SimpulseError(f"{where}.names: expected an array of distinct strategy names")
    for name in names:
        _name(name, _STRATEGY, f"{where}.names", "strategy")
    n = len(names)
    M, b = x["M"], x["b"]
    if not isinstance(M, list) or len(M) != n or any(not isinstance(r, list) or len(r) != n for r in M):
        raise SimpulseError(f"{where}.M: expected a {n}×{n} array of numbers")
    if not isinstance(b, list) or len(b) != n:
        raise SimpulseError(f"{where}.b: expected an array of {n} numbers")
    # a diagonal is a sum of squares: below 0 only by rounding (files written before exports
    # dropped strategies whose evidence cancelled out carry −1e-15s; `_positive_semidefinite`'s
    # tolerance)
    for i, row in enumerate(M):              # every entry a finite number before any arithmetic
        for j, v in enumerate(row):
            _finite(v, f"{where}.M[{i}][{j}]")
    scale = 1.0 + max((abs(r[i]) for i, r in enumerate(M)), default=0.0)
    for i, row in enumerate(M):
        if row[i] < -1e-7 * scale:
            raise SimpulseError(f"{where}.M[{i}][{i}]: {row[i]!r} is negative")
        for j, v in enumerate(row):
            if abs(v - M[j][i]) > 1e-6 * (1 + abs(v)):
                raise SimpulseError(f"{where}.M: not symmetric at [{i}][{j}]")
    for i, v in enumerate(b):
        _finite(v, f"{where}.b[{i}]")
    if not _positive_semidefinite(M):
        raise SimpulseError(f"{where}.M: not positive semi-definite (no set of compiles adds up to it)")
    _finite(x["q"], f"{where}.q", nonneg=True)
    _finite(x["d"], f"{where}.d", nonneg=True)
    fail = _obj(x.get("fail", {}), f"{where}.fail", max_items=MAX_STRATEGIES)
    for name, v in fail.items():
        _name(name, _STRATEGY, f"{where}.fail", "strategy")
        if not isinstance(v, list) or len(v) != 2:
            raise SimpulseError(f"{where}.fail.{name}: expected an array of 2 numbers [failures, sum of log cost ratios]")
        _finite(v[0], f"{where}.fail.{name}[0]", nonneg=True)
        _finite(v[1], f"{where}.fail.{name}[1]", nonneg=True)


def _positive_semidefinite(M) -> bool:
    """Every genuine block is a sum of positive semi-definite contributions; an indefinite one
    would make the posterior's precision indefinite. Cholesky with a relative tolerance."""
    n = len(M)
    scale = 1.0 + max((abs(M[i][i]) for i in range(n)), default=0.0)
    tol = 1e-7 * scale
    L = [[0.0] * n for _ in range(n)]
    for i in range(n):
        for j in range(i + 1):
            v = M[i][j] - sum(L[i][k] * L[j][k] for k in range(j))
            if i == j:
                if v < -tol:
                    return False
                L[i][i] = math.sqrt(max(v, 0.0))
            elif L[j][j] > tol:
                L[i][j] = v / L[j][j]
            elif abs(v) > math.sqrt(tol) * scale:
                return False          # a zero pivot with a non-zero coupling: indefinite
    return True


def _depth(x, limit: int = MAX_DEPTH, where: str = "the file") -> None:
    stack = [(x, 0)]
    while stack:
        v, d = stack.pop()
        if d > limit:
            raise SimpulseError(f"{where} is nested too deeply (more than {limit} levels)")
        if isinstance(v, dict):
            stack.extend((w, d + 1) for w in v.values())
        elif isinstance(v, list):
            stack.extend((w, d + 1) for w in v)


def check_header(doc: dict) -> None:
    """Format and version first: a newer file is refused with that reason, not a field error."""
    fmt = doc.get("format")
    if fmt != FORMAT:
        raise SimpulseError(f"not a simpulse export (format is {repr(fmt)[:40]}, expected {FORMAT!r})")
    v = doc.get("version")
    if isinstance(v, bool) or not isinstance(v, int):
        raise SimpulseError(f"version must be an integer, got {_type(v)}")
    if v > VERSION:
        raise SimpulseError(f"written in export format version {v} by a newer simpulse; this simpulse "
                            f"reads version {VERSION}: upgrade simpulse to import it")
    if v < 1:
        raise SimpulseError(f"unknown export format version {v}")


def validate(doc: dict) -> None:
    """Check a whole export document; raise SimpulseError (one line) at the first problem."""
    from simpulse.strategy.catalogue import strategy_from_json

    if not isinstance(doc, dict):
        raise SimpulseError("expected a JSON object at the top level")
    check_header(doc)
    _keys(doc, TOP_KEYS, "top level", TOP_REQUIRED)
    _depth(doc)
    for k in ("created", "simpulse_version"):
        if k in doc and (not isinstance(doc[k], str) or len(doc[k]) > 64 or _CONTROL.search(doc[k])):
            raise SimpulseError(f"{k}: expected a short string")
    if "origin" in doc:
        if doc["version"] < 2:
            raise SimpulseError("top level: unknown field 'origin' (in format version 1)")
        if not isinstance(doc["origin"], str) or not _ORIGIN.match(doc["origin"]):
            raise SimpulseError("origin: expected 16 to 64 lowercase hex digits")
    tcs = _obj(doc["toolchains"], "toolchains", max_items=MAX_TOOLCHAINS)
    for githash, tc in tcs.items():
        _name(githash, _GITHASH, "toolchains", "toolchain")
        w = f"toolchains.{githash[:16]}"
        _obj(tc, w)
        _keys(tc, TC_KEYS, w)
        if "simulated" in tc and not isinstance(tc["simulated"], bool):
            raise SimpulseError(f"{w}.simulated: expected true or false")
        arms = _obj(tc.get("arms", {}), f"{w}.arms", max_items=MAX_CONTEXTS)
        for ctx, by in arms.items():
            _name(ctx, _CONTEXT, f"{w}.arms", "context")
            _obj(by, f"{w}.arms.{ctx}", max_items=MAX_STRATEGIES)
            for name, arm in by.items():
                _name(name, _STRATEGY, f"{w}.arms.{ctx}", "strategy")
                _arm(arm, f"{w}.arms.{ctx}.{name}")
        glob = _obj(tc.get("glob", {}), f"{w}.glob", max_items=MAX_STRATEGIES)
        for name, arm in glob.items():
            _name(name, _STRATEGY, f"{w}.glob", "strategy")
            _arm(arm, f"{w}.glob.{name}")
        joint = _obj(tc.get("joint", {}), f"{w}.joint", max_items=MAX_CONTEXTS)
        for ctx, block in joint.items():
            _name(ctx, _CONTEXT, f"{w}.joint", "context")
            _joint_block(block, f"{w}.joint.{ctx}")
        if "noise" in tc:
            nz = tc["noise"]
            if not isinstance(nz, list) or len(nz) != 2:
                raise SimpulseError(f"{w}.noise: expected an array of 2 numbers [sum of squares, degrees of freedom]")
            for i, v in enumerate(nz):
                _finite(v, f"{w}.noise[{i}]", nonneg=True)
        contexts = _obj(tc.get("contexts", {}), f"{w}.contexts", max_items=MAX_CONTEXTS)
        for ctx, counts in contexts.items():
            _name(ctx, _CONTEXT, f"{w}.contexts", "context")
            _obj(counts, f"{w}.contexts.{ctx}")
            _keys(counts, CONTEXT_COUNT_KEYS, f"{w}.contexts.{ctx}")
            for k, v in counts.items():
                _finite(v, f"{w}.contexts.{ctx}.{k}", nonneg=True)
        modules = _obj(tc.get("modules", {}), f"{w}.modules", max_items=MAX_MODULES)
        for key, m in modules.items():
            _module_name(key, f"{w}.modules")
            mw = f"{w}.modules[{key[:32]}]"
            _obj(m, mw)
            _keys(m, MODULE_KEYS, mw)
            if m.get("context") is not None:
                _name(m["context"], _CONTEXT, mw, "context")
            counts = _obj(m.get("counts", {}), f"{mw}.counts", max_items=MAX_STRATEGIES)
            for name, n in counts.items():
                _name(name, _STRATEGY, f"{mw}.counts", "strategy")
                _finite(n, f"{mw}.counts.{name}", nonneg=True)
    strategies = doc.get("strategies", [])
    if not isinstance(strategies, list):
        raise SimpulseError(f"strategies: expected an array, got {_type(strategies)}")
    if len(strategies) > MAX_STRATEGIES:
        raise SimpulseError(f"strategies: {len(strategies)} definitions, more than the limit of {MAX_STRATEGIES}")
    names = set()
    for i, d in enumerate(strategies):
        where = f"strategies[{i}]"
        _obj(d, where)
        _keys(d, STRATEGY_KEYS, where, ("name",))
        _name(d["name"], _STRATEGY, where, "strategy")
        if d["name"] in names:
            raise SimpulseError(f"{where}: strategy {d['name']!r} defined twice")
        names.add(d["name"])
        if "builtin" in d and not isinstance(d["builtin"], bool):
            raise SimpulseError(f"{where}.builtin: expected true or false")
        if "description" in d and (not isinstance(d["description"], str) or len(d["description"]) > 2000):
            raise SimpulseError(f"{where}.description: expected a string of at most 2000 characters")
        if isinstance(d.get("options"), dict) and len(d["options"]) > 64:
            raise SimpulseError(f"{where}.options: more than 64 options")
        if isinstance(d.get("args"), list) and len(d["args"]) > 16:
            raise SimpulseError(f"{where}.args: more than 16 arguments")
        try:
            strategy_from_json(d)        # the allowlist, the types, the name rules
        except SimpulseError as e:
            raise SimpulseError(f"{where}: {e}") from None
    priors = doc.get("priors", {})
    _obj(priors, "priors")
    _keys(priors, {"model", "strategies"}, "priors")
    model = _obj(priors.get("model", {}), "priors.model", max_items=32)
    for k, v in model.items():
        _name(k, _CONTEXT, "priors.model", "parameter")
        _finite(v, f"priors.model.{k}")
    sp = _obj(priors.get("strategies", {}), "priors.strategies", max_items=MAX_STRATEGIES)
    for name, p in sp.items():
        _name(name, _STRATEGY, "priors.strategies", "strategy")
        _obj(p, f"priors.strategies.{name}")
        _keys(p, {"prior_mean", "prior_strength"}, f"priors.strategies.{name}")
        for k, v in p.items():
            _finite(v, f"priors.strategies.{name}.{k}")


