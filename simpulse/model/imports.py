"""Imported evidence: folding an import event (its share kept apart), the project's own arms
without it, and the odds that an import describes this project. `simpulse.exchange` uses these.
Standard library only."""

from __future__ import annotations

import math

from simpulse.policy import joint as J
from simpulse.policy import posterior as P
from simpulse.model.records import _arm, _block, _tc

TYPE_CHECKING = False        # `typing` costs the shim an import; mypy reads this name as typing's
if TYPE_CHECKING:
    from typing import Any

    from simpulse.model.records import Arm, Block, Event, Stats, Table, Toolchain

def own_table(table: Table, imported: Table | None) -> Table:
    """A table of arms (strategy → arm) without the imported share `imported` (same shape; kept
    apart in ``tc["imp"]`` by `_fold_import`): the project's own compiles."""
    if not imported:
        return table
    out = dict(table)
    for name, arm in imported.items():
        if name in out:
            out[name] = [x - y for x, y in zip(out[name], arm)]
    return out


def own_arms(tc: Toolchain, ctx: str) -> Table:
    """The context's per-strategy arms without what imports brought into them."""
    return own_table(tc["arms"].get(ctx, {}), (tc.get("imp") or {}).get("arms", {}).get(ctx))


def own_glob(tc: Toolchain) -> Table:
    """The global arms (every context pooled) without what imports brought into them."""
    return own_table(tc.get("glob", {}), (tc.get("imp") or {}).get("glob"))


def without_import(block: Block, tc: Toolchain, ctx: str) -> tuple[Block, Table]:
    """The context's evidence without what imports brought into it: (`block` − the imported
    block, `own_arms`). `block` is the context's block with β already integrated out
    (`J.without_features`): imports carry strategies only, so subtracting them commutes with
    integrating β out."""
    own = J.new_block()
    J.merge(own, block)
    J.merge(own, tc["imp"]["J"][ctx], -1.0)
    # an imported failure, subtracted again, can leave a rounding residue
    own["fail"] = {n: [round(f, 6), r] for n, (f, r) in own.get("fail", {}).items() if f > 1e-6}
    return own, own_arms(tc, ctx)


def import_odds(with_import: J.Joint, own: J.Joint, imported: J.Joint, prior: dict[str, tuple[float, float]]) -> float:
    """log Bayes factor of "the import describes this context" (H1: the strategies' prior is
    the catalogue's plus the imported evidence) against "it does not" (H0: the catalogue's
    prior alone), on the project's own evidence, levels' regression integrated out.

    For a Gaussian likelihood exp((bᵀδ − ½ δᵀAδ)/σ²) and a prior of precision P and mean P⁻¹h
    (in σ² units), the evidence is |P|^½ |P + A|^-½ exp((‖b + h‖²_(P+A)⁻¹ − ‖h‖²_P⁻¹) / 2σ²),
    the rest being the same under both. `with_import`, `own`: the posteriors under H1 and H0;
    `imported`: H1's prior alone (the import on the catalogue prior); σ² the own posterior's."""
    ld1, f1 = with_import.evidence_terms()
    ld0, f0 = own.evidence_terms()
    ldp, fp = imported.evidence_terms()
    ld_cat = sum(math.log(k0) for _, k0 in (prior[n] for n in own.names))
    f_cat = sum(k0 * mu0 * mu0 for mu0, k0 in (prior[n] for n in own.names))
    sigma2 = own.beta / max(own.alpha - 1.0, 1e-3)
    odds: float = 0.5 * ((ldp - ld1) - (ld_cat - ld0)) + ((f1 - fp) - (f0 - f_cat)) / (2.0 * sigma2)
    return odds


def _fold_import(stats: Stats, ev: Event) -> None:
    """Merge exported sufficient statistics as evidence scaled by the import's weight.

    ``ev["toolchains"]``: {githash: {"arms": {ctx: {strategy: arm}}, "glob": {strategy: arm}}}
    with arms of six numbers (see `simpulse.policy.posterior`). At weight 1 the statistics add
    exactly; below 1 every sum and count is scaled (discounted evidence). The imported share
    of each context's block and arms (and of the global arms and the noise) is also kept
    apart, in ``tc["imp"]``, so that the learner can weigh it against the project's own
    evidence (`Learner.models`) and an export can leave it out. With ``ev["origin"]`` (the
    exporting state's id) the share is also kept per origin, in ``tc["imp"]["by"]``, and an
    import of an origin seen before first takes out what the earlier one brought: a newer
    export of the same state holds the earlier one's evidence already. The import command
    validates the payload before writing the event.
    """
    try:
        w = float(ev.get("weight", 1.0))
        payload = ev["toolchains"]
    except (KeyError, TypeError, ValueError):
        return
    if not (0 < w <= 1) or not isinstance(payload, dict):
        return
    origin = ev.get("origin") if isinstance(ev.get("origin"), str) else None
    stats["counters"]["imports"] = stats["counters"].get("imports", 0) + 1
    # the imports whose evidence the statistics hold (`simpulse stats`): one replaced by a
    # newer export of its origin leaves the list
    held = stats.setdefault("imports", [])
    replaced = [e for e in held if origin is not None and e.get("origin") == origin]
    held[:] = [e for e in held if e not in replaced]
    held.append({"id": ev.get("id"), "source": ev.get("source"), "weight": w, "ts": ev.get("ts"),
                 "origin": origin, "replaces": replaced[-1].get("source") if replaced else None})
    for tc in stats["toolchains"].values():
        imp = tc.get("imp") or {}
        # the contexts' verdicts were on the imports before this one: each is taken again at
        # its next compile, and until then none is pooled (`Learner.models`)
        imp.pop("bf", None)
        earlier = imp.get("by", {}).pop(origin, None) if origin is not None else None
        if earlier is not None:
            _merge_share(tc, [imp], {"arms": earlier["arms"], "glob": earlier["glob"],
                                     "joint": earlier["J"], "noise": earlier["noise"]}, -1.0)
    for githash, data in payload.items():
        tc = _tc(stats, str(githash))
        if data.get("simulated"):
            tc["simulated"] = True
        if str(githash) not in stats["order"]:
            stats["order"].insert(0, str(githash))    # imported knowledge never becomes "current"
        imp = tc.setdefault("imp", {"arms": {}, "J": {}})
        shares = [imp]
        if origin is not None:
            shares.append(imp.setdefault("by", {}).setdefault(
                origin, {"arms": {}, "glob": {}, "J": {}, "noise": [0.0, 0.0]}))
        _merge_share(tc, shares, data, w)


def _merge_share(tc: Toolchain, shares: list[dict[str, Any]], data: dict[str, Any], scale: float) -> None:
    """Add `scale` × one toolchain's exported statistics (`data`: arms, glob, joint, noise) to
    the toolchain's statistics `tc` and to each imported share in `shares`. With a negative
    `scale` (an earlier import taken out), what is left at rounding level is set to 0."""
    def add(target: Arm, values: list[float]) -> None:
        for i in range(len(target)):
            v = target[i] + scale * float(values[i])
            target[i] = 0.0 if scale < 0 and abs(v) < 1e-9 else v

    for ctx, by_strategy in (data.get("arms") or {}).items():
        for name, arm in by_strategy.items():
            for table in [tc["arms"]] + [sh["arms"] for sh in shares]:
                add(_arm(table, str(ctx), str(name)), arm)
    for name, arm in (data.get("glob") or {}).items():
        for table in [tc["glob"]] + [sh.setdefault("glob", {}) for sh in shares]:
            add(table.setdefault(str(name), P.new_arm()), arm)
    joint = data.get("joint")
    if joint is None:
        # a file written before the joint model: its contrasts, as direct evidence
        joint = {ctx: J.from_arms(by) for ctx, by in (data.get("arms") or {}).items()}
    for ctx, block in joint.items():
        into = _block(tc, str(ctx))
        J.merge(into, block, scale)
        into.pop("mu", None)          # re-solved at the next use
        for sh in shares:             # the imported share, kept apart (`import_odds`, exports)
            J.merge(sh["J"].setdefault(str(ctx), J.new_block()), block, scale)
    nz = data.get("noise")
    if isinstance(nz, list) and len(nz) == 2:
        for table in [tc.setdefault("noise", [0.0, 0.0])] + [sh.setdefault("noise", [0.0, 0.0]) for sh in shares]:
            add(table, nz)
