#!/usr/bin/env python3
"""How honest are simpulse's claims? Calibration of the learner's posteriors, SIMULATED.

Two settings, both in memory through `Learner(None, policy="thompson", seed=...)`:

1. The learning benchmark's workload (`simpulse/simulated/workload.py`, 300 modules, edit-driven
   rebuilds): after 300 (build 1), 500 and 2000 compiles, every context × strategy posterior
   is compared with the context's true effect (log of `TRUE_SPEED`): the mean error of the
   posterior means (> 0: speedups under-stated), its root mean square, and the share of 95 %
   intervals that contain the truth.
2. A small project rebuilt whole: `--modules` modules of one context (log-normal levels, a
   `lines` feature as noisy as the workload's), compiled `--rounds` times each, with fixed true
   effects. Reported: true regret (seconds of expected time against the best strategy),
   baseline compiles, how many of the 6 strategies end with a claim (an interval excluding "no
   effect"), how many intervals miss the truth, and the mean error.

    python scripts/bench_calibration.py               # 40 seeds each, prints the tables
    python scripts/bench_calibration.py --write-docs  # ... and writes them into docs/benchmarks.md
    python scripts/bench_calibration.py --seeds 10    # a bare run changes no tracked file
"""

from __future__ import annotations

import argparse
import math
import multiprocessing as mp
import random
import statistics as st
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
for p in (ROOT, ROOT / "scripts"):
    if str(p) not in sys.path:
        sys.path.insert(0, str(p))

from simpulse.learner import Learner  # noqa: E402
from simpulse.simulated import workload as W  # noqa: E402
from simpulse.strategy.catalogue import Catalogue  # noqa: E402

CHECKPOINTS = (300, 500, 2000)
SMALL_TRUE = {"baseline": 0.0, "no-linters": -0.10, "no-async": 0.05, "no-simprocs": -0.20,
              "single-thread": 0.03, "lean-fast": -0.05, "simp-lean": -0.30}


def _posterior_errors(learner: Learner, truth) -> tuple[list[float], int, int]:
    """(posterior mean − truth for every context × strategy, how many 95 % intervals hold the
    truth, how many exclude "no effect": the claims)."""
    errs, covered, claims = [], 0, 0
    for ctx, effects in truth.items():
        jp = learner.joint_posterior(ctx)
        for s, t in effects.items():
            m = jp.marginal(s)
            lo, hi = m.interval()
            errs.append(m.mu - t)
            covered += lo <= t <= hi
            claims += hi < 0 or lo > 0
    return errs, covered, claims


def workload_run(seed: int) -> dict:
    wl = W.Workload(seed, 300)
    noise = wl.noise(max(CHECKPOINTS))
    learner = Learner(None, policy="thompson", seed=seed, catalogue=Catalogue(enabled=list(wl.strategies)))
    truth = {c: {s: math.log(W.TRUE_SPEED[c][s]) for s in wl.strategies if s != W.BASELINE} for c in W.CONTEXTS}
    out = {}
    for req in wl.stream(max(CHECKPOINTS)):
        d = learner.choose(module=req.name, context=req.context, features=req.features)
        o = wl.outcome(req.module, d.strategy.name, noise[req.index])
        learner.observe(d, seconds=o.seconds, ok=o.ok, fallback_seconds=o.fallback_seconds, fallback_ok=o.fallback_ok)
        if req.index + 1 in CHECKPOINTS:
            errs, covered, _ = _posterior_errors(learner, truth)
            out[req.index + 1] = (st.mean(errs), math.sqrt(st.mean(e * e for e in errs)), covered / len(errs))
    return out


def small_run(args: tuple[int, int, int]) -> tuple[float, ...]:
    seed, n_modules, rounds = args
    learner = Learner(None, policy="thompson", seed=seed, catalogue=Catalogue(enabled=list(SMALL_TRUE)))
    rng = random.Random(f"calibration-small|{seed}")
    levels = {f"M{i}": rng.gauss(0.5, 1.0) for i in range(n_modules)}
    feats = {m: {"lines": int(W.LINES_SCALE * math.exp(W.LINES_EXPONENT * mu + rng.gauss(0.0, W.LINES_SIGMA)))}
             for m, mu in levels.items()}
    best = min(SMALL_TRUE.values())
    regret, baseline = 0.0, 0
    # what always compiling the baseline would have cost against the best strategy
    never_learning = rounds * sum(math.exp(mu) * (1.0 - math.exp(best)) for mu in levels.values())
    for _ in range(rounds):
        for m, mu in levels.items():
            d = learner.choose(module=m, context="simp_heavy", features=feats[m])
            e = SMALL_TRUE[d.strategy.name]
            baseline += d.strategy.is_baseline
            regret += math.exp(mu) * (math.exp(e) - math.exp(best))
            learner.observe(d, seconds=math.exp(mu + e + rng.gauss(0.0, 0.1)))
    truth = {"simp_heavy": {s: t for s, t in SMALL_TRUE.items() if s != "baseline"}}
    errs, covered, claims = _posterior_errors(learner, truth)
    return regret, never_learning, baseline, claims, len(errs) - covered, st.mean(errs)


def _mean_ci(xs: list[float]) -> str:
    m = st.mean(xs)
    h = 1.96 * st.stdev(xs) / math.sqrt(len(xs)) if len(xs) > 1 else float("nan")
    return f"{m:.3f} ± {h:.3f}"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", type=int, default=40)
    ap.add_argument("--seed0", type=int, default=0)
    ap.add_argument("--modules", type=int, default=16)
    ap.add_argument("--rounds", type=int, default=12)
    ap.add_argument("--write-docs", action="store_true",
                    help="write the tables into docs/benchmarks.md (a bare run changes no tracked file)")
    ap.add_argument("--no-write", action="store_true", help="print only (the default now; overrides --write-docs)")
    args = ap.parse_args(argv)
    if args.seeds < 2 or args.modules < 1 or args.rounds < 1:
        ap.error("--seeds must be ≥ 2, --modules and --rounds ≥ 1")
    t0 = time.time()
    seeds = range(args.seed0, args.seed0 + args.seeds)
    with mp.Pool(min(len(seeds), mp.cpu_count())) as pool:
        wl = pool.map(workload_run, seeds)
        small = pool.map(small_run, [(s, args.modules, args.rounds) for s in seeds])
    lines = [
        f"**Calibration — SIMULATED** (`scripts/bench_calibration.py`; {args.seeds} seeds from {args.seed0}; "
        f"mean ± 95 % normal interval over seeds; {time.time() - t0:.0f} s). Policy `thompson`.",
        "",
        "Learning-benchmark workload: every context × strategy posterior against the context's true effect "
        "(error > 0: speedups under-stated).",
        "",
        "| compiles | mean error of posterior means | rms error | 95 % intervals holding the truth |",
        "|---:|---:|---:|---:|",
    ]
    for k in CHECKPOINTS:
        lines.append(f"| {k} | {_mean_ci([r[k][0] for r in wl])} | {_mean_ci([r[k][1] for r in wl])} | "
                     f"{_mean_ci([r[k][2] for r in wl])} |")
    cols = list(zip(*small))
    lines += [
        "",
        f"A small project rebuilt whole: {args.modules} modules of one context, {args.rounds} builds "
        f"({args.modules * args.rounds} compiles), true effects {', '.join(f'{s} {v:+.2f}' for s, v in SMALL_TRUE.items() if s != 'baseline')} "
        "(log-time).",
        "",
        "| true regret (s) | always-baseline's regret (s) | baseline compiles "
        "| strategies claimed (interval excludes no effect, of 6) | intervals missing the truth (of 6) | mean error |",
        "|---:|---:|---:|---:|---:|---:|",
        "| " + " | ".join(_mean_ci(list(c)) for c in cols) + " |",
    ]
    body = "\n".join(lines)
    print(body)
    if args.write_docs and not args.no_write:
        from _benchdoc import write_section
        write_section("bench_calibration", "Calibration of the posteriors (simulated)", body)
        print("\nwritten to docs/benchmarks.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
