"""Options: does this `lean` accept what each strategy of the active profile adds?

Observed by compiling a one-line scratch file (no imports) with the options: `-Dweak.` support
(an unknown `weak.` name must be accepted and ignored, contract §5), each option's name written
without `weak.` (an unknown name fails with "unknown configuration option"), and the exact
arguments the strategy adds. `Elab.async`'s default on this version is read by evaluating it."""

from __future__ import annotations

import re

from simpulse.doctor import proc
from simpulse.doctor.check import Check, fail, ok, skip

SECTION = "options"
PROBE = "theorem simpulseDoctorProbe : 1 + 1 = 2 := rfl\n"
WEAK_PROBE = "-Dweak.simpulseDoctor.probe=true"
ASYNC_PROBE = ("import Lean\n\nopen Lean in\n#eval show CoreM Unit from do\n"
               "  IO.println s!\"simpulse-doctor Elab.async={Elab.async.get (← getOptions)}\"\n")
WEAK_TITLE = "lean accepts -Dweak.NAME=VALUE (and ignores an unknown NAME)"
_UNKNOWN = re.compile(r"unknown (?:configuration )?option '([^']+)'")


class Prober:
    """Compiles the scratch probe file with given arguments (memoised)."""

    def __init__(self, ctx):
        self.ctx = ctx
        self.dir = ctx.scratch_dir("options")
        (self.dir / "Probe.lean").write_text(PROBE)
        self._seen: dict[tuple, proc.Result] = {}

    def run(self, args: list[str]) -> proc.Result:
        key = tuple(args)
        if key not in self._seen:
            self._seen[key] = proc.run([str(self.ctx.tc.lean), *args, "Probe.lean"], env=self.ctx.plain_env(),
                                       cwd=self.dir, timeout=self.ctx.timeout)
        return self._seen[key]


def _strategies(ctx):
    return [s for s in ctx.catalogue.active if not s.is_baseline] if ctx.catalogue is not None else []


def _batch(ctx) -> list[str]:
    """Everything every active strategy adds, and each option without `weak.`, in one run."""
    batch = [WEAK_PROBE]
    for s in _strategies(ctx):
        batch += [f"-Dweak.{k}={v}" for k, v in s.options] + [f"-D{k}={v}" for k, v in s.options] + list(s.args)
    return batch


def weak_support(ctx, prober: Prober) -> Check:
    cid, title = "options.weak", WEAK_TITLE
    if prober.run(_batch(ctx)).ok:          # the batch holds the probe: one compile answers both
        return ok(cid, SECTION, title, f"`lean {WEAK_PROBE} FILE` compiles")
    r = prober.run([WEAK_PROBE])
    if not r.ok:
        return fail(cid, SECTION, title, f"`lean {WEAK_PROBE} FILE` failed: {r.last_line()}",
                    "this Lean predates -Dweak. options: every strategy would fail and be retried, so "
                    "simpulse build runs plain `lake build` here; upgrade Lean", rc=r.rc)
    return ok(cid, SECTION, title, f"`lean {WEAK_PROBE} FILE` compiles")


def strategy_checks(ctx, prober: Prober) -> list[Check]:
    """One check per active strategy (baseline aside): its additions are accepted, and each of
    its options is a name this Lean knows. A batch run first; one run per question only when
    the batch fails."""
    strategies = _strategies(ctx)
    if not strategies:
        return []
    all_good = prober.run(_batch(ctx)).ok
    out = []
    for s in strategies:
        cid = f"options.strategy.{s.name}"
        title = f"{s.name}: this lean accepts " + (" ".join([f"-Dweak.{k}={v}" for k, v in s.options] + list(s.args)))
        added = [f"-Dweak.{k}={v}" for k, v in s.options] + list(s.args)
        if all_good:
            known = ", ".join(k for k, _ in s.options)
            out.append(ok(cid, SECTION, title, f"accepted{'; ' + known + ' known' if known else ''}",
                          strategy=s.name, unknown=[], accepted=True))
            continue
        unknown = []
        for k, v in s.options:
            r = prober.run([f"-D{k}={v}"])
            if not r.ok:
                m = _UNKNOWN.search((r.err + r.out).decode("utf-8", errors="replace"))
                unknown.append({"option": k, "error": r.last_line(), "unknown": bool(m)})
        accepted = prober.run(added)
        remedy = ("nothing to do: simpulse build leaves this strategy out on this Lean" if s.builtin else
                  f"fix or remove [strategies.{s.name}] in simpulse.toml; simpulse build leaves it out meanwhile")
        if unknown and accepted.ok and not s.builtin:
            # checked without imports: an option a library registers (Mathlib's linters, say) is
            # unknown there; -Dweak. ignores it where it does not exist, so the strategy stays
            names = ", ".join(u["option"] for u in unknown)
            out.append(skip(cid, SECTION, title, f"cannot tell: {names} is unknown to Lean without imports (a library "
                            "the project imports may register it); simpulse build keeps the strategy",
                            strategy=s.name, unknown=unknown, accepted=True))
        elif unknown:
            names = ", ".join(u["option"] for u in unknown)
            out.append(fail(cid, SECTION, title, f"this Lean does not know {names} ({unknown[0]['error']}): "
                            "left out of simpulse build", remedy, strategy=s.name, unknown=unknown,
                            accepted=accepted.ok))
        elif not accepted.ok:
            out.append(fail(cid, SECTION, title, f"`lean {' '.join(added)} FILE` failed: {accepted.last_line()}: "
                            "left out of simpulse build", remedy, strategy=s.name, unknown=[], accepted=False))
        else:
            out.append(ok(cid, SECTION, title, "accepted", strategy=s.name, unknown=[], accepted=True))
    return out


def elab_async(ctx) -> Check:
    cid, title = "options.elab_async", "Elab.async's default on this Lean (observed)"
    users = [s.name for s in _strategies(ctx) if any(k == "Elab.async" for k, _ in s.options)]
    if not users:
        return skip(cid, SECTION, title, "no active strategy sets Elab.async")
    d = ctx.scratch_dir("elab-async")
    (d / "AsyncProbe.lean").write_text(ASYNC_PROBE)
    r = proc.run([str(ctx.tc.lean), "AsyncProbe.lean"], env=ctx.plain_env(), cwd=d, timeout=ctx.timeout)
    m = re.search(r"simpulse-doctor Elab\.async=(true|false)", r.text())
    if m is None:
        why = "this lean printed no answer to `#eval Elab.async.get (← getOptions)`"
        if ctx.tc.simulated:
            why += " (the simulated lean does not evaluate programs)"
        elif r.rc:
            why += f": {r.last_line()}"
        return skip(cid, SECTION, title, why, strategies=users)
    value = m.group(1) == "true"
    if value:
        return ok(cid, SECTION, title, f"true on the command line: {', '.join(users)} can change something",
                  default=True, strategies=users)
    return ok(cid, SECTION, title,
              f"false here (before lean4 PR #7485): {', '.join(users)} set what is already the default, so "
              "their Elab.async part changes nothing on this Lean", default=False, strategies=users)


def left_out(checks: list[Check]) -> dict[str, str]:
    """Strategies whose options this Lean does not accept: name → why."""
    return {c.data["strategy"]: c.detail for c in checks
            if c.id.startswith("options.strategy.") and c.status == "fail"}
