"""What simpulse adds to a build: the shim's latency per module compile, and the no-op build.

Measured side by side in one run, interleaved (A B A B ...), against the simulated toolchain
with its cost model scaled to 0 (`SIMPULSE_SIM_SCALE=0`), so what is left of a compile is the
fake `lean`'s own start-up and I/O, identical on both sides, and the difference is simpulse:

  * per module: `<facade>/bin/lean <module args>` with a build's settings (`SIMPULSE_SHIM`, as
    `simpulse build` gives Lake) against `<sysroot>/bin/lean <module args>` — p50/p95 of each
    and of the paired differences, over ≥ 200 invocations, for the shim as a build runs it (its
    decision served by the build's server, `serve`, started here on the project's state) and
    for the shim deciding itself (serve off, or a server that does not answer), interleaved;
    each compile records its event (checked: a run that records fewer is refused);
  * no-op build: `simpulse build` against `lake build` on an up-to-date workspace;
  * imports: `python -X importtime` of the shim on a real compile lists no typer, rich, numpy,
    scipy.

Targets (issue 2): ≤ 25 ms p50 per module, ≤ 0.4 s no-op. With `--write-docs` it writes its
section of docs/benchmarks.md (a bare run changes no tracked file).
Usage: python scripts/bench_overhead.py [--runs N] [--noop-runs N] [--quick] [--write-docs]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))
from _benchdoc import write_section  # noqa: E402
from _simproject import fixture_copy, simulated_env  # noqa: E402

HEAVY = ("typer", "rich", "numpy", "scipy", "click", "watchdog")


def pct(xs, q):
    xs = sorted(xs)
    if not xs:
        return float("nan")
    k = (len(xs) - 1) * q
    lo, hi = int(k), min(int(k) + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (k - lo)


def timed(cmd, env, cwd):
    t0 = time.perf_counter()
    p = subprocess.run(cmd, env=env, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    dt = time.perf_counter() - t0
    if p.returncode != 0:
        raise SystemExit(f"command failed ({p.returncode}): {' '.join(map(str, cmd))}\n{p.stderr.decode()[-2000:]}")
    return dt


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=200, help="module compiles per side (default 200)")
    ap.add_argument("--noop-runs", type=int, default=20, help="no-op builds per side (default 20)")
    ap.add_argument("--quick", action="store_true", help="60 compiles, 6 no-op builds")
    ap.add_argument("--write-docs", action="store_true",
                    help="write the results into docs/benchmarks.md (a bare run changes no tracked file)")
    ap.add_argument("--no-doc", action="store_true", help=argparse.SUPPRESS)  # the default now; kept for old command lines
    args = ap.parse_args()
    if args.quick:
        args.runs, args.noop_runs = 60, 6

    work = Path(tempfile.mkdtemp(prefix="simpulse-overhead-"))
    try:
        sysroot, env = simulated_env(work, SIMPULSE_SIM_SCALE="0", SIMPULSE_SIM_SEED="1")
        proj = fixture_copy(work)
        simpulse = [sys.executable, "-m", "simpulse"]
        subprocess.run(simpulse + ["build", "--quiet"], cwd=proj, env=env, check=True, stdout=subprocess.DEVNULL)

        shim = proj / ".simpulse" / "facade" / "bin" / "lean"
        real = sysroot / "bin" / "lean"
        module = "Fixtures/SimpHeavy.lean"
        lib = proj / ".lake" / "build" / "lib" / "lean"
        cenv = dict(env, LEAN_PATH=f"{sysroot / 'lib' / 'lean'}:{lib}")

        def compile_args(tag):
            out = work / "out"
            out.mkdir(exist_ok=True)
            return [module, "-R", ".", "-o", str(out / f"{tag}.olean"), "-i", str(out / f"{tag}.ilean"),
                    "-c", str(out / f"{tag}.c"), "--json"]

        # the settings the build gave Lake (`simpulse build` keeps the last ones), and its server
        from simpulse.lake.serve import DecisionServer
        settings = json.loads((proj / ".simpulse" / "shim-settings.json").read_text())
        settings.pop("serve", None)
        own_env = dict(cenv, SIMPULSE_SHIM=json.dumps(settings))
        server = DecisionServer(dict(settings))
        server.prepare()
        served_env = dict(cenv, SIMPULSE_SHIM=json.dumps(dict(settings, serve=server.path)))
        from simpulse.store.store import Store
        before = sum(1 for _ in Store(proj / ".simpulse").iter_events())
        direct, through, diffs, own, own_diffs = [], [], [], [], []
        try:
            for i in range(args.runs + 5):
                a = timed([str(real)] + compile_args("real"), cenv, proj)
                b = timed([str(shim)] + compile_args("shim"), served_env, proj)
                c = timed([str(shim)] + compile_args("own"), own_env, proj)
                if i >= 5:      # warm-up discarded
                    direct.append(a)
                    through.append(b)
                    diffs.append(b - a)
                    own.append(c)
                    own_diffs.append(c - a)
        finally:
            server.close()
        recorded = sum(1 for _ in Store(proj / ".simpulse").iter_events()) - before
        if recorded < 2 * (args.runs + 5):
            raise SystemExit(f"bench_overhead: {recorded} events for {2 * (args.runs + 5)} compiles through the shim: "
                             "it did not run (see .simpulse/simpulse.log)")

        plain_env = dict(env)
        noop_lake, noop_simpulse = [], []
        for i in range(args.noop_runs + 1):
            a = timed([str(sysroot / "bin" / "lake"), "build"], plain_env, proj)
            b = timed(simpulse + ["build", "--quiet"], env, proj)
            if i >= 1:
                noop_lake.append(a)
                noop_simpulse.append(b)

        imp = subprocess.run([sys.executable, "-X", "importtime", "-IS", str(shim.parent.parent / "simpulse-shim.py")]
                             + compile_args("imp"), env=own_env, cwd=proj, capture_output=True, text=True)
        imported = {line.split("|")[-1].strip().split(".")[0] for line in imp.stderr.splitlines() if "|" in line}
        heavy = sorted(m for m in HEAVY if m in imported)
        n_events = sum(1 for _ in Store(proj / ".simpulse").iter_events())
    finally:
        shutil.rmtree(work, ignore_errors=True)

    ms = lambda x: f"{x * 1000:.1f} ms"  # noqa: E731
    p50, p95 = pct(diffs, 0.5), pct(diffs, 0.95)
    noop = statistics.median(noop_simpulse) - statistics.median(noop_lake)
    rows = [
        ("lean direct, per compile", ms(pct(direct, 0.5)), ms(pct(direct, 0.95))),
        ("through the shim, decision served (a build's default)", ms(pct(through, 0.5)), ms(pct(through, 0.95))),
        ("**added by the shim, served** (paired)", f"**{ms(p50)}**", f"**{ms(p95)}**"),
        ("through the shim, deciding itself (serve off)", ms(pct(own, 0.5)), ms(pct(own, 0.95))),
        ("added by the shim deciding itself (paired)", ms(pct(own_diffs, 0.5)), ms(pct(own_diffs, 0.95))),
        ("`lake build`, no-op", ms(statistics.median(noop_lake)), ms(pct(noop_lake, 0.95))),
        ("`simpulse build`, no-op", ms(statistics.median(noop_simpulse)), ms(pct(noop_simpulse, 0.95))),
        ("**no-op overhead** (median difference)", f"**{ms(noop)}**", ""),
    ]
    ok_shim, ok_noop = p50 <= 0.025, noop <= 0.4
    lines = [
        f"Simulated toolchain with `SIMPULSE_SIM_SCALE=0` (the fake lean does no modelled work; the "
        f"difference is simpulse). {len(diffs)} interleaved compile triples of `Fixtures/SimpHeavy.lean` (lean "
        f"direct, the shim served, the shim deciding itself, with the settings `simpulse build` gave Lake) "
        f"after 5 warm-up triples; {len(noop_lake)} interleaved no-op build pairs. Machine: {os.cpu_count()} cores, shared.",
        "",
        "| measure | p50 | p95 |",
        "|---|---|---|",
        *[f"| {a} | {b} | {c} |" for a, b, c in rows],
        "",
        f"Targets: added latency ≤ 25 ms p50 (served, as a build runs it) — **{'met' if ok_shim else 'NOT met'}**; "
        f"no-op overhead ≤ 0.4 s — "
        f"**{'met' if ok_noop else 'NOT met'}**. Events written during the run: {n_events}.",
        f"`python -X importtime` of the shim on a compile: heavy modules imported: {', '.join(heavy) or 'none'} "
        f"(checked: {', '.join(HEAVY)}).",
        "",
        "Where a served compile's time goes (2026-12-07, phases timed inside the shim on this machine): "
        "Python start-up with `-IS` ~9–11 ms (what the sh launcher and `python -IS` cost anyway: the floor of "
        "`docs/benchmarks.md`, \"Store at scale\"); then the bundle and simpulse's imports ~2.5 ms, the "
        "decision's round trip to the build's server ~1.3 ms, spawning and waiting for `lean` ~1.2 ms, the "
        "options in effect ~0.4 ms, the running marker ~0.2 ms; the outcome is sent without waiting for "
        "its record, and the server keeps the invocation for `simpulse verify` while lean runs (~1.1 ms "
        "less than before). A shim deciding itself loads the statistics and decides (~2 ms here, more at "
        "scale) and appends its event (no fsync per compile: the log is fsync'd once per build). "
        "Removed on the way from 86 ms: "
        "the replay of a long log tail at load (~4 ms: the checkpoint threshold follows the snapshot's size), "
        "the per-event fsync (1–25 ms), `json`→`re`→`enum` (8 ms: `simpulse/_fastjson.py` drives the `_json` "
        "accelerator directly), dataclasses (7 ms), `subprocess` (5 ms: `posix_spawn`), the classifier on "
        "unchanged sources (5 ms: cached by content hash), `pathlib` (4 ms), OpenSSL `hashlib` (3 ms), "
        "interpreter teardown (3 ms: `os._exit`). Timings move with the load of this shared 2-core machine: "
        "with other jobs running, the same code measured 38–49 ms.",
        "",
        "Reproduce: `.venv/bin/python scripts/bench_overhead.py --write-docs`",
    ]
    text = "\n".join(lines)
    print(text)
    if args.write_docs and not args.no_doc:
        write_section("bench_overhead", "Overhead of the shim and of `simpulse build`", text)
    return 0 if (ok_shim and ok_noop and not heavy) else 1


if __name__ == "__main__":
    sys.exit(main())
