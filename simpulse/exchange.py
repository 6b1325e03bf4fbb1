"""The export/import format of what simpulse learned (docs/export-format.md).

    doc = build_export(learner.stats, catalogue)          # a JSON-able dict
    doc = load_export(path)                               # read + validate; SimpulseError otherwise
    plan = plan_import(doc, catalogue, trust_strategies=False)
    event = import_event(plan.payload, weight=0.5, source="team.json")

`validate` checks everything an import file may carry (format and version, every field's type,
finite numbers, sizes, safe names, every strategy definition through the allowlist) and raises
a one-line `SimpulseError` at the first problem: a refused file merges nothing. `plan_import`
decides, strategy by strategy, what is merged (the statistics of strategies known here, and of
strategies the user trusts the file to add) and what is dropped (with the reason). The merge
itself is `simpulse.learner.fold` of the one ``import`` event.

Standard library only.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
import time
from pathlib import Path

from simpulse.errors import SimpulseError
from simpulse.learner import beta_prior, module_record, without_import
from simpulse.policy import joint as J

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


# --------------------------------------------------------------------------- export

def module_key(name: str, include_paths: bool) -> str:
    """A module's key in an export: its name with --include-paths, else a 16-hex digest."""
    if include_paths:
        return name
    return hashlib.sha256(name.encode("utf-8", errors="replace")).hexdigest()[:16]


def _num(x):
    """Counts that are whole stay integers in the file (they are floats after a discounted import)."""
    x = float(x)
    return int(x) if x.is_integer() and abs(x) < 2 ** 53 else x


# What is left of a sum after the imported share is subtracted again is the project's own
# evidence up to rounding: below this, a count or a diagonal is nothing.
_RESIDUE = 1e-9


def _joint_out(tc: dict, ctx: str, block: dict, own_only: bool) -> dict | None:
    """A context's joint block (`simpulse.policy.joint`): its normal equations are sufficient
    statistics, so they add across state directories like the arms do. The project's own
    regression of level on features is integrated out (`J.without_features`); with `own_only`,
    what imports brought is subtracted (`learner.without_import`) and the strategies that only
    they spoke of are left out. None if nothing is left."""
    block = J.without_features(block, beta_prior(tc, ctx, J.features_of(block)))
    if own_only and ctx in _imported(tc).get("J", {}):
        block, _ = without_import(block, tc, ctx)
        block["d"] = round(block["d"], 6)
    # A strategy whose evidence cancelled out (a module's contribution replaced when it is
    # compiled again, the β integrated out, an import subtracted) is left with a rounding
    # residue, possibly below 0 on its diagonal: it has no evidence, so it is left out.
    M = block["M"]
    scale = 1.0 + max((abs(M[i][i]) for i in range(len(M))), default=0.0)
    keep = {n for i, n in enumerate(block["names"]) if M[i][i] > _RESIDUE * scale}
    keep |= set(block.get("fail", {}))
    if len(keep) < len(block["names"]):
        block = J.restrict(block, keep)
    for i in range(len(block["M"])):
        block["M"][i][i] = max(block["M"][i][i], 0.0)
    block["q"], block["d"] = max(block["q"], 0.0), max(block["d"], 0.0)
    if not block["names"] and not block.get("fail"):
        return None
    return {"names": list(block["names"]), "M": [[_num(v) for v in row] for row in block["M"]],
            "b": [_num(v) for v in block["b"]], "q": _num(block["q"]), "d": _num(block["d"]),
            "fail": {k: [_num(v[0]), _num(v[1])] for k, v in sorted(block.get("fail", {}).items())}}


def _imported(tc: dict) -> dict:
    return tc.get("imp") or {}


def _own(table: dict, imported: dict | None) -> dict:
    """A table of arms without its imported share (`model.imports.own_table`), for an export:
    an arm the subtraction touched is rounded back to whole weights and counts, and left out
    when nothing of the project's own is left in it."""
    from simpulse.model.imports import own_table
    out = {}
    for name, own in own_table(table, imported).items():
        if imported and name in imported:
            if own[0] <= _RESIDUE and own[3] <= _RESIDUE:
                continue
            own = list(own)
            for i in (0, 3, 4, 5):                    # weights and counts: whole again if they were
                own[i] = max(round(own[i], 6), 0.0)
        out[name] = own
    return out


def _arm_out(arm) -> list:
    return [float(arm[0]), float(arm[1]), float(arm[2]), _num(arm[3]), _num(arm[4]), _num(arm[5])]


def state_origin(sdir: Path, *, create: bool = True) -> str | None:
    """The id of the state directory `sdir` that its exports carry (`origin`): created at its
    first export (`create`), random, kept in `<sdir>/origin`. An importer replaces what an
    earlier export of the same origin brought instead of adding to it, and refuses a state's
    own export. None if there is none and `create` is false."""
    path = Path(sdir) / ORIGIN_FILE
    try:
        text = path.read_text(encoding="ascii").strip()
        if _ORIGIN.match(text):
            return text
    except (OSError, UnicodeDecodeError):
        pass
    if not create:
        return None
    origin = os.urandom(8).hex()
    tmp = path.with_name(f"{path.name}.tmp.{os.getpid()}.{os.urandom(4).hex()}")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="ascii") as f:
            f.write(origin + "\n")
        try:
            os.link(tmp, path)           # only if there is none: two first exports agree on one
        except FileExistsError:
            text = path.read_text(encoding="ascii", errors="replace").strip()
            if not _ORIGIN.match(text):  # unreadable: replaced
                os.replace(tmp, path)
                return origin
            return text
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
    except OSError as e:
        raise SimpulseError(f"cannot write {path}: {e.strerror or e}") from None
    return origin


def build_export(stats: dict, catalogue=None, *, include_paths: bool = False,
                 include_imported: bool = False, origin: str | None = None,
                 simpulse_version: str | None = None, created: float | None = None) -> dict:
    """The export document of the learner's statistics `stats` (see docs/export-format.md).

    Toolchains are listed oldest first (the learner's order). `catalogue` supplies the
    definitions of the strategies that appear in the statistics (when it knows them).
    The document holds what this project measured: what imports brought is left out (a file
    that passed it on would count it twice wherever it came from, its author included),
    unless `include_imported`. A toolchain known only from imports is then left out whole.
    `origin`: the exporting state's id (`state_origin`), None for a state without a directory.
    """
    if simpulse_version is None:
        from simpulse import __version__ as simpulse_version
    toolchains: dict[str, dict] = {}
    seen: set[str] = set()
    order = [g for g in stats.get("order", []) if g in stats.get("toolchains", {})]
    order += [g for g in stats.get("toolchains", {}) if g not in order]
    for githash in order:
        tc = stats["toolchains"][githash]
        own_only = not include_imported and bool(_imported(tc))
        arms = {}
        for ctx, by in sorted(tc.get("arms", {}).items()):
            imported = _imported(tc).get("arms", {}).get(ctx, {}) if own_only else {}
            out = {name: _arm_out(own) for name, own in sorted(_own(by, imported).items())}
            if out:
                arms[ctx] = out
        glob = {name: _arm_out(a) for name, a in sorted(
            (_own(tc.get("glob", {}), _imported(tc).get("glob")) if own_only else tc.get("glob", {})).items())}
        contexts: dict[str, dict] = {}
        for ctx, by in arms.items():
            contexts[ctx] = {"pulls": _num(sum(a[3] for a in by.values())),
                             "fails": _num(sum(a[4] for a in by.values())), "modules": 0}
        modules: dict[str, dict] = {}
        for name in sorted(tc.get("modules", {})):
            rec = module_record(tc, name) or {}
            entries = rec.get("s", {})
            ctx = rec.get("k")
            if ctx in contexts:
                contexts[ctx]["modules"] += 1
            modules[module_key(name, include_paths)] = {
                "context": ctx, "counts": {k: _num(e[0]) for k, e in sorted(entries.items())}}
        for by in arms.values():
            seen.update(by)
        seen.update(glob)
        joint = {}
        for ctx, block in sorted(tc.get("J", {}).items()):
            if block["names"] or block.get("fail"):
                out = _joint_out(tc, ctx, block, own_only)
                if out is not None:
                    joint[ctx] = out
        noise = list(tc.get("noise", [0.0, 0.0]))
        if own_only and "noise" in _imported(tc):
            noise = [max(x - y, 0.0) for x, y in zip(noise, _imported(tc)["noise"])]
            noise[1] = round(noise[1], 6)
        if own_only and not (arms or modules or joint):
            continue                      # known here only from imports
        toolchains[githash] = {"arms": arms, "glob": glob, "joint": joint,
                               "noise": [_num(v) for v in noise],
                               "contexts": contexts, "modules": modules,
                               "simulated": bool(tc.get("simulated"))}
    strategies = []
    if catalogue is not None:
        for name in sorted(seen):
            s = catalogue.all.get(name)
            if s is not None:
                strategies.append(s.to_json())
    from simpulse import learner as L
    from simpulse.policy import posterior as P
    priors = {
        "model": {"alpha0": P.ALPHA0, "beta0": P.BETA0, "share_kappa": L.SHARE_KAPPA,
                  "toolchain_discount": L.TOOLCHAIN_DISCOUNT, "toolchain_cap": L.TOOLCHAIN_CAP,
                  "module_memory": L.MODULE_MEMORY},
        "strategies": {d["name"]: {"prior_mean": d["prior_mean"], "prior_strength": d["prior_strength"]}
                       for d in strategies},
    }
    created = time.time() if created is None else created
    doc = {
        "format": FORMAT,
        "version": VERSION,
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(created)),
        "simpulse_version": simpulse_version,
        "toolchains": toolchains,
        "strategies": strategies,
        "priors": priors,
    }
    if origin is not None:
        doc["origin"] = origin
    return doc


def dumps(doc: dict) -> str:
    """The file's text: strict JSON (no NaN), indented, with arrays of scalars on one line."""
    out: list[str] = []

    def enc(x, ind: int) -> None:
        pad = " " * ind
        if isinstance(x, dict) and x:
            out.append("{\n")
            for i, (k, v) in enumerate(x.items()):
                out.append(f"{pad} {json.dumps(k, ensure_ascii=False)}: ")
                enc(v, ind + 1)
                out.append(",\n" if i < len(x) - 1 else "\n")
            out.append(pad + "}")
        elif isinstance(x, list) and any(isinstance(v, (dict, list)) for v in x):
            out.append("[\n")
            for i, v in enumerate(x):
                out.append(pad + " ")
                enc(v, ind + 1)
                out.append(",\n" if i < len(x) - 1 else "\n")
            out.append(pad + "]")
        else:
            out.append(json.dumps(x, allow_nan=False, ensure_ascii=False))

    enc(doc, 0)
    return "".join(out) + "\n"


def write_export(doc: dict, out: Path) -> int:
    """Write atomically (temporary file + rename); returns the size in bytes."""
    data = dumps(doc).encode("utf-8")
    out = Path(out)
    try:
        from simpulse.store.atomic import write_atomic
        write_atomic(out, data, mode=0o644)        # a file to share, like any the user writes
    except OSError as e:
        raise SimpulseError(f"cannot write {out}: {e.strerror or e}") from None
    return len(data)


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


# --------------------------------------------------------------------------- import plan

class ImportPlan:
    """What an import merges: `payload` ({githash: {"arms", "glob", "simulated"}}, newest
    toolchain first so that `fold` keeps the file's order), the definitions to add to
    imported-strategies.json, and the strategies whose statistics are dropped (name → why)."""

    def __init__(self):
        self.payload: dict[str, dict] = {}
        self.new_strategies: list[dict] = []
        self.dropped: dict[str, str] = {}
        self.kept: list[str] = []

    def counts(self) -> dict:
        return {
            "toolchains": len(self.payload),
            "contexts": len({c for tc in self.payload.values() for c in tc["arms"]}),
            "arms": sum(len(by) for tc in self.payload.values() for by in tc["arms"].values()),
        }


def _same_definition(local, d: dict) -> bool:
    opts = d.get("options", {})
    if isinstance(opts, dict):
        opts = {str(k): ("true" if v is True else "false" if v is False else str(v)) for k, v in opts.items()}
    return dict(local.options) == opts and list(local.args) == list(d.get("args", []))


def plan_import(doc: dict, catalogue, *, trust_strategies: bool = False) -> ImportPlan:
    """Decide what to merge from a validated export `doc` into a state whose catalogue is
    `catalogue` (its `.all`, active or not)."""
    from simpulse.strategy.catalogue import strategy_from_json

    plan = ImportPlan()
    defs = {d["name"]: d for d in doc.get("strategies", [])}
    referenced: set[str] = set()
    for tc in doc["toolchains"].values():
        for by in tc.get("arms", {}).values():
            referenced.update(by)
        referenced.update(tc.get("glob", {}))
    allowed: set[str] = set()
    for name in sorted(referenced):
        local = catalogue.all.get(name)
        d = defs.get(name)
        if local is not None:
            if d is not None and not _same_definition(local, d):
                plan.dropped[name] = ("defined differently here than in the file "
                                      "(its statistics would describe another strategy)")
                continue
            allowed.add(name)
        elif d is None:
            plan.dropped[name] = "unknown here and the file carries no definition"
        elif not trust_strategies:
            plan.dropped[name] = "not in the local catalogue (pass --trust-strategies to add its definition)"
        else:
            s = strategy_from_json(d)          # validated already; rebuilt for a canonical form
            entry = s.to_json()
            entry.pop("builtin", None)
            plan.new_strategies.append(entry)
            allowed.add(name)
    plan.kept = sorted(allowed)
    for githash in reversed(list(doc["toolchains"])):      # newest first: fold inserts at the front
        tc = doc["toolchains"][githash]
        arms = {}
        for ctx, by in tc.get("arms", {}).items():
            keep = {n: list(a) for n, a in by.items() if n in allowed}
            if keep:
                arms[ctx] = keep
        glob = {n: list(a) for n, a in tc.get("glob", {}).items() if n in allowed}
        joint = {}
        keep = allowed | {"baseline"}
        for ctx, block in tc.get("joint", {}).items():
            if any(n in keep for n in block["names"]) or block.get("fail"):
                joint[ctx] = J.restrict(block, keep)
        if arms or glob or joint:
            plan.payload[githash] = {"arms": arms, "glob": glob, "joint": joint,
                                     "noise": list(tc.get("noise", [0.0, 0.0])),
                                     "simulated": bool(tc.get("simulated"))}
    return plan


def import_event(payload: dict, *, weight: float, source: str, origin: str | None = None) -> dict:
    """The `import` event that merges `payload` (`plan_import`). With the file's `origin`, it
    replaces what an earlier import of the same origin brought (`learner._fold_import`)."""
    if isinstance(weight, bool) or not isinstance(weight, (int, float)) or not (0 < weight <= 1):
        raise SimpulseError(f"--weight must be in (0, 1], got {weight!r}")
    ev = {"v": 1, "kind": "import", "id": os.urandom(8).hex(), "ts": time.time(),
          "weight": float(weight), "source": source, "toolchains": payload}
    if origin is not None:
        ev["origin"] = origin
    return ev


def merge_strategy_list(existing: list, new: list[dict]) -> list:
    """imported-strategies.json after adding `new` definitions (a name already there is kept)."""
    out = [d for d in existing if isinstance(d, dict)]
    names = {d.get("name") for d in out}
    for d in new:
        if d["name"] not in names:
            out.append(d)
            names.add(d["name"])
    return out
