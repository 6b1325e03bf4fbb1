"""All the checks of `simpulse doctor`, in order; a check that cannot run is skipped with why."""

from __future__ import annotations

from pathlib import Path

from simpulse.doctor import cost, gate, invisibility, meaning, options, state, toolchain
from simpulse.doctor.check import Check, skip
from simpulse.doctor.context import Context

SECTIONS = ("toolchain", "invisibility", "options", "meaning", "cost", "state")

# Checks that need a toolchain, listed so that they are reported as skipped without one.
NEEDS_TOOLCHAIN = (
    ("toolchain.lake", "toolchain", toolchain.LAKE_TITLE),
    ("toolchain.override", "toolchain", toolchain.OVERRIDE_TITLE),
    ("toolchain.era", "toolchain", toolchain.ERA_TITLE),
    ("invisibility.answers", "invisibility", invisibility.ANSWERS_TITLE),
    ("invisibility.noop", "invisibility", invisibility.NOOP_TITLE),
    ("options.weak", "options", options.WEAK_TITLE),
    ("meaning.verify", "meaning", meaning.TITLE),
    ("cost.shim", "cost", cost.TITLE),
)


def run_all(workspace: Path | None, *, state_dir: Path | None, catalogue=None, profile: str = "safe",
            lean: str | None = None, lake: str | None = None, deep: bool = False,
            progress=None) -> list[Check]:
    def step(what):
        if progress is not None:
            progress(what)

    step("finding lean and lake")
    tc, found = toolchain.find(workspace, lean=lean, lake=lake)
    checks: list[Check] = [found, toolchain.wrapped_exec()]
    if tc is None:
        why = "no toolchain (see toolchain.lean)"
        checks += [skip(cid, sec, title, why) for cid, sec, title in NEEDS_TOOLCHAIN]
    else:
        with Context(workspace, tc, state_dir=state_dir, catalogue=catalogue, profile=profile) as ctx:
            checks.append(toolchain.lake_identity(ctx))
            step("asking Lake which lean it runs (lake env)")
            ctx.prefetch()
            checks.append(toolchain.override(ctx))
            step("comparing the facade's answers with the real lean's")
            checks.append(invisibility.answers(ctx))
            step("compiling option probes")
            prober = options.Prober(ctx)
            checks.append(options.weak_support(ctx, prober))
            checks += options.strategy_checks(ctx, prober)
            checks.append(options.elab_async(ctx))
            if state_dir is not None and state_dir.is_dir():
                # the build's cached cheap checks follow what was just observed
                g = gate.judge([c for c in checks if c.id in gate.GATING or c.id.startswith("options.strategy.")])
                gate.save(state_dir, tc, catalogue, g)
            step("building a scratch project: plain lake build, then simpulse build")
            built = invisibility.builds(ctx)
            era = next(c for c in built if c.id == "toolchain.era")
            checks.insert(next(i for i, c in enumerate(checks) if c.id == "toolchain.override") + 1, era)
            checks += [c for c in built if c is not era]
            if deep:
                step("simpulse verify on a handful of modules")
            checks.append(meaning.deep(ctx, deep))
            step("timing the shim")
            checks.append(cost.shim_cost(ctx))
    checks.append(meaning.artifact_cache(workspace, catalogue))
    checks.append(state.permissions(state_dir))
    checks.append(state.loads(state_dir))
    return sorted(checks, key=lambda c: SECTIONS.index(c.section))   # stable: order within a section kept


def exit_code(checks: list[Check]) -> int:
    return 1 if any(c.status == "fail" for c in checks) else 0
