"""Cost: the time the shim adds to each module compile — as a build runs it (its decision served
by the build's server, `serve`, the default) and deciding itself (serve off) — against the real
`lean --version`'s own start-up, and what the launcher adds to a call it passes through.
Interleaved timed runs after a warm-up; medians with min–max. Times of a simulated lean are
labelled simulated."""

from __future__ import annotations

import json
import statistics
import sys

from simpulse.doctor import proc
from simpulse.doctor.check import Check, fail, ok, skip
from simpulse.lake.facade import SETTINGS_ENV, shim_script

SECTION = "cost"
RUNS = 5
TITLE = "the shim's added time per compile, against lean's own start-up"


def _ms(xs: list[float]) -> dict:
    return {"median_ms": round(statistics.median(xs) * 1000, 1), "min_ms": round(min(xs) * 1000, 1),
            "max_ms": round(max(xs) * 1000, 1), "runs": len(xs)}


def _fmt(s: dict) -> str:
    return f"{s['median_ms']:.0f} ms (median of {s['runs']}, {s['min_ms']:.0f}–{s['max_ms']:.0f} ms)"


def shim_cost(ctx, runs: int = RUNS) -> Check:
    cid, title = "cost.shim", TITLE
    if ctx.facade is None:
        return skip(cid, SECTION, title, ctx.facade_error or "no facade")
    d = ctx.scratch_dir("cost")
    (d / "Probe.lean").write_text("theorem simpulseDoctorCost : True := trivial\n")
    noop = d / "noop-lean"
    noop.write_text("#!/bin/sh\nexit 0\n")
    noop.chmod(0o700)
    state = ctx.scratch_state / "cost"
    state.mkdir(mode=0o700, exist_ok=True)
    from simpulse.store.store import Store
    Store(state, create=True)
    settings = json.loads(ctx.settings())
    settings.update(state_dir=str(state), workspace=str(d))
    settings.pop("serve", None)
    env = ctx.plain_env(**{SETTINGS_ENV: json.dumps(settings)})
    try:
        from simpulse.lake.serve import DecisionServer
        server = DecisionServer(dict(settings))
    except OSError as e:
        return fail(cid, SECTION, title, f"the build's decision server could not start: {e}",
                    "set `serve = false` in simpulse.toml; please report it with `simpulse doctor --json`")
    served_env = ctx.plain_env(**{SETTINGS_ENV: json.dumps(dict(settings, serve=server.path))})
    compile_args = ["Probe.lean", "-o", "out/Probe.olean", "-i", "out/Probe.ilean"]
    # the facade's own shim script, with a no-op lean
    shim = [sys.executable, "-IS", "-c", shim_script(ctx.facade, str(noop)), *compile_args]
    real_version = [str(ctx.tc.lean), "--version"]
    facade_version = [str(ctx.facade / "bin" / "lean"), "--version"]
    samples: dict[str, list[float]] = {"lean": [], "noop": [], "shim": [], "shim_own": [], "launcher": []}
    try:
        for i in range(runs + 1):                 # the first round is a warm-up
            r_lean = proc.run(real_version, env=ctx.plain_env(), timeout=ctx.timeout)
            r_noop = proc.run([str(noop), *compile_args], env=env, cwd=d, timeout=ctx.timeout)
            r_shim = proc.run(shim, env=served_env, cwd=d, timeout=ctx.timeout)
            r_own = proc.run(shim, env=env, cwd=d, timeout=ctx.timeout)
            r_fac = proc.run(facade_version, env=ctx.wrapped_env(), timeout=ctx.timeout)
            bad = next((r for r in (r_lean, r_noop, r_shim, r_own, r_fac) if not r.ok), None)
            if bad is not None:
                return fail(cid, SECTION, title, f"a timed run failed: {bad.last_line()}",
                            "see .simpulse/simpulse.log; please report it with `simpulse doctor --json`")
            if i == 0:
                continue
            samples["lean"].append(r_lean.seconds)
            samples["noop"].append(r_noop.seconds)
            samples["shim"].append(r_shim.seconds - r_noop.seconds)
            samples["shim_own"].append(r_own.seconds - r_noop.seconds)
            samples["launcher"].append(r_fac.seconds - r_lean.seconds)
    finally:
        server.close()
    recorded = [e for e in Store(state, create=False).iter_events() if e.get("kind") == "compile"]
    if len(recorded) < 2 * runs:
        return fail(cid, SECTION, title,
                    f"the shim recorded {len(recorded)} of {2 * (runs + 1)} compiles: it fell back to the plain lean",
                    f"see {state}/simpulse.log (kept only during the check); please report it with `simpulse doctor --json`")
    shim_s, own_s = _ms(samples["shim"]), _ms(samples["shim_own"])
    lean_s, launch_s = _ms(samples["lean"]), _ms(samples["launcher"])
    label = "SIMULATED lean" if ctx.tc.simulated else "lean"
    return ok(cid, SECTION, title,
              f"the shim adds {_fmt(shim_s)} per compile as a build runs it ({_fmt(own_s)} deciding itself); "
              f"{label} --version starts in {_fmt(lean_s)}; the launcher adds {_fmt(launch_s)} to a call it passes through",
              shim=shim_s, shim_own=own_s, lean_version=lean_s, launcher=launch_s, simulated_lean=ctx.tc.simulated,
              note="shim: its own work (Python start-up, its decision served by the build's server, recording) "
                   "around a no-op lean; shim_own: the same deciding itself (serve off)")
