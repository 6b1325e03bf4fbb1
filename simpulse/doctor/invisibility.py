"""Invisibility: through the facade, `lean`'s informational answers are byte-identical to the
real `lean`'s (and Lake sees the same githash), and a no-op `simpulse build` after a plain
`lake build` rebuilds nothing (contract §3). The build checks run on a scratch project."""

from __future__ import annotations

import sys

from simpulse.doctor import proc, scratch
from simpulse.doctor.check import Check, fail, ok, skip

SECTION = "invisibility"
FLAGS = ("--githash", "--version", "--print-prefix", "--print-libdir")
ANSWERS_TITLE = "the facade's lean answers " + ", ".join(FLAGS) + " like the real lean"
NOOP_TITLE = "a no-op simpulse build after a plain lake build rebuilds nothing"
REPORT = "please report it with `simpulse doctor --json`"


def _show(b: bytes) -> str:
    t = b.decode("utf-8", errors="replace").strip()
    return repr(t[:80] + ("…" if len(t) > 80 else ""))


def answers(ctx) -> Check:
    cid, title = "invisibility.answers", ANSWERS_TITLE
    if ctx.facade is None:
        return skip(cid, SECTION, title, ctx.facade_error or "no facade")
    compared, differ = {}, []
    jobs = [([str(ctx.tc.lean), flag], ctx.plain_env()) for flag in FLAGS] + \
           [([str(ctx.facade / "bin" / "lean"), flag], ctx.wrapped_env()) for flag in FLAGS]
    results = proc.run_all(jobs, timeout=ctx.timeout)
    for i, flag in enumerate(FLAGS):
        real, through = results[i], results[len(FLAGS) + i]
        same = (real.rc, real.out, real.err) == (through.rc, through.out, through.err) and real.rc is not None
        compared[flag] = {"identical": same, "real": real.text().strip(), "facade": through.text().strip(),
                          "real_rc": real.rc, "facade_rc": through.rc}
        if not same:
            differ.append(f"{flag}: facade {_show(through.out) if through.rc is not None else through.error} "
                          f"≠ real {_show(real.out) if real.rc is not None else real.error}")
    # Lake's own view: the githash it mixes into every trace, through the facade and without it
    wrapped, _ = ctx.lake_env(True)
    plain, _ = ctx.lake_env(False)
    if wrapped is not None and plain is not None and "LEAN_GITHASH" in wrapped and "LEAN_GITHASH" in plain:
        same = wrapped["LEAN_GITHASH"] == plain["LEAN_GITHASH"]
        compared["lake env LEAN_GITHASH"] = {"identical": same, "real": plain["LEAN_GITHASH"],
                                             "facade": wrapped["LEAN_GITHASH"]}
        if not same:
            differ.append(f"Lake's githash: through the facade {wrapped['LEAN_GITHASH']!r} ≠ plain {plain['LEAN_GITHASH']!r}")
    if differ:
        return fail(cid, SECTION, title, "; ".join(differ),
                    "simpulse build runs plain `lake build` on this toolchain (every module would rebuild "
                    f"through the facade); {REPORT}", compared=compared)
    return ok(cid, SECTION, title, f"{len(compared)} answers byte-identical", compared=compared)


def _simpulse(ctx, project, *args) -> proc.Result:
    return proc.run([sys.executable, "-m", "simpulse", "build", "--state-dir", str(ctx.scratch_state / "build"),
                     "--lean", str(ctx.tc.lean), "--lake", str(ctx.tc.lake), "--quiet", *args],
                    env=ctx.plain_env(), cwd=project, timeout=ctx.timeout * 3)


def _compiles(ctx) -> list[dict]:
    try:
        from simpulse.store.store import Store
        sdir = ctx.scratch_state / "build"
        if not sdir.is_dir():
            return []
        return [e for e in Store(sdir, create=False).iter_events() if e.get("kind") == "compile"]
    except Exception:  # noqa: BLE001
        return []


def _fell_back(r: proc.Result) -> str | None:
    for line in r.err.decode("utf-8", errors="replace").splitlines():
        if line.startswith("simpulse:") and "plain `lake build`" in line:
            return line
    return None


def _plain_build(ctx, project) -> proc.Result:
    return proc.run([str(ctx.tc.lake), "build"], env=ctx.plain_env(), cwd=project, timeout=ctx.timeout * 5)


def builds(ctx) -> list[Check]:
    """The no-op check — a plain `lake build`, then `simpulse build`, which must rebuild nothing —
    on a scratch copy of the project when it is small and self-contained, else on the generated
    project; then the era check: `simpulse build` of a module of the generated project not built
    yet (its compile must reach the shim, which records the argument era Lake used)."""
    from simpulse.doctor.toolchain import ERA_TITLE
    noop_id, noop_title = "invisibility.noop", NOOP_TITLE
    era_id, era_title = "toolchain.era", ERA_TITLE
    generated = scratch.write(ctx.scratch_dir("project"))
    project, plain, where = None, None, "generated scratch project"
    why = scratch.why_not_copy(ctx.workspace)
    if why is None:
        copied = scratch.copy(ctx.workspace, ctx.root / "copy")
        plain = _plain_build(ctx, copied)
        if plain.ok:
            project, where = copied, "scratch copy of your project"
        else:
            why = f"plain `lake build` fails on a copy of it: {plain.last_line()}"
    if project is None:
        project = generated
        plain = _plain_build(ctx, project)
        if why is not None:
            where += f" (not a copy of yours: {why})"
    data = {"project": str(project), "on": where}
    if not plain.ok:
        failed = f"plain `lake build` failed on the {where}: {plain.last_line()}"
        remedy = "check that `lake build` works on a new project (`lake new demo && cd demo && lake build`)"
        return [fail(noop_id, SECTION, noop_title, failed, remedy, **data),
                skip(era_id, "toolchain", era_title, "the scratch project does not build", **data)]
    before = scratch.outputs(project)
    r = _simpulse(ctx, project)
    back = _fell_back(r)
    if back is not None:
        why = f"simpulse build does not wrap this toolchain ({back.removeprefix('simpulse: ')})"
        return [skip(noop_id, SECTION, noop_title, why, **data), skip(era_id, "toolchain", era_title, why, **data)]
    after = scratch.outputs(project)
    changed = sorted(k for k in set(before) | set(after) if before.get(k) != after.get(k))
    compiles = _compiles(ctx)
    checks = []
    if not r.ok:
        checks.append(fail(noop_id, SECTION, noop_title, f"simpulse build failed on the {where}: {r.last_line()}",
                           REPORT, rc=r.rc, **data))
    elif changed or compiles:
        checks.append(fail(noop_id, SECTION, noop_title,
                           f"{len(compiles)} module(s) recompiled, {len(changed)} build file(s) rewritten "
                           f"({', '.join(changed[:3])}{'…' if len(changed) > 3 else ''}) on the {where}",
                           f"Lake's traces do not match through the facade: {REPORT}",
                           changed=changed, compiles=len(compiles), **data))
    else:
        checks.append(ok(noop_id, SECTION, noop_title,
                         f"nothing recompiled, {len(after)} module artefacts and traces unchanged, on the {where}", **data))
    r2 = _simpulse(ctx, generated, scratch.EXTRA)
    events = [e for e in _compiles(ctx) if e.get("module") == scratch.EXTRA]
    data = {"project": str(generated)}
    if not r2.ok:
        checks.append(fail(era_id, "toolchain", era_title, f"simpulse build {scratch.EXTRA} failed: {r2.last_line()}",
                           REPORT, **data))
    elif not events:
        checks.append(fail(era_id, "toolchain", era_title,
                           f"Lake compiled {scratch.EXTRA}, but the compile never reached the shim (argument list not "
                           "recognised): simpulse build would pass every compile through unchanged, learning nothing",
                           REPORT, **data))
    else:
        e = events[-1]
        checks.append(ok(era_id, "toolchain", era_title,
                         f"{e.get('era', '?')} era (`{_ERA_SHAPES.get(e.get('era'), '?')}`); the shim recognised "
                         f"the compile of {scratch.EXTRA} ({e.get('outcome')})",
                         era=e.get("era"), outcome=e.get("outcome"), strategy=e.get("strategy"), **data))
    return checks


_ERA_SHAPES = {"v4.0": "FILE -R ROOT -o OLEAN …, no --json",
               "middle": "FILE -R ROOT -o OLEAN … --json",
               "setup": "FILE -o OLEAN … --setup SETUP.json --json"}
