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
itself is `simpulse.learner.fold` of the one ``import`` event. Reading and validating the file
is `simpulse.exchange_format`'s (its names are re-exported here).

Standard library only.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from pathlib import Path

from simpulse.errors import SimpulseError
from simpulse.learner import beta_prior, module_record, without_import
from simpulse.model.schema import ModuleView
from simpulse.policy import joint as J
from simpulse.policy import posterior as P
from simpulse.exchange_format import (  # noqa: F401 - the format's names, part of this module's API
    CONTEXT_COUNT_KEYS,
    FORMAT,
    JOINT_KEYS,
    MAX_BYTES,
    MAX_CONTEXTS,
    MAX_DEPTH,
    MAX_MODULES,
    MAX_NUMBER,
    MAX_STRATEGIES,
    MAX_TOOLCHAINS,
    MODULE_KEYS,
    ORIGIN_FILE,
    STRATEGY_KEYS,
    TC_KEYS,
    TOP_KEYS,
    TOP_REQUIRED,
    VERSION,
    _CONTEXT,
    _CONTROL,
    _GITHASH,
    _MODULE_MAX,
    _ORIGIN,
    _PARTIAL_TOKEN,
    _STRATEGY,
    _arm,
    _depth,
    _finite,
    _joint_block,
    _keys,
    _module_name,
    _name,
    _no_constants,
    _obj,
    _pairs,
    _positive_semidefinite,
    _type,
    check_header,
    load_export,
    parse,
    validate,
)


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
            if own[P.W] <= _RESIDUE and own[P.N] <= _RESIDUE:
                continue
            own = list(own)
            for i in (0, 3, 4, 5):                    # weights and counts: whole again if they were
                own[i] = max(round(own[i], 6), 0.0)
        out[name] = own
    return out


def _arm_out(arm) -> list:
    return [float(arm[P.W]), float(arm[P.S1]), float(arm[P.S2]), _num(arm[P.N]), _num(arm[P.FAILS]), _num(arm[P.WINS])]


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
            contexts[ctx] = {"pulls": _num(sum(a[P.N] for a in by.values())),
                             "fails": _num(sum(a[P.FAILS] for a in by.values())), "modules": 0}
        modules: dict[str, dict] = {}
        for name in sorted(tc.get("modules", {})):
            view = ModuleView.of(name, module_record(tc, name) or {})
            ctx = view.context
            if ctx in contexts:
                contexts[ctx]["modules"] += 1
            modules[module_key(name, include_paths)] = {
                "context": ctx, "counts": {k: _num(n) for k, (n, _) in sorted(view.observations.items())}}
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
