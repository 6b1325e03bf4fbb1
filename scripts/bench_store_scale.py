"""Does the per-compile cost grow with history? (issue: reliability, scale)

A mathlib-sized project (6,000 modules, 6 contexts) and a year of builds (10^6 events): for
10^3, 10^5 and 10^6 recorded events, this script records the events through the real store
(appends, then the compaction `simpulse build` runs), and measures what one shim pays:

  * load: a fresh Store + Learner reading the snapshot and the log's tail;
  * choose alone (the decision), and choose + observe (the decision and the recording of one
    compile), fsync off;
  * choose again after the state imported an export (its own, at weight 0.5): every context
    then holds imported evidence, and a decision weighs the model with it against the model
    without it (`Learner.models`) — the costliest decision there is;
  * the same observe with fsync on, reported apart (it is the disk, not simpulse);
  * the snapshot's size, and the disk used by the log and its segments (with retention).

Targets: a decision (choose, with or without an import) ≤ 1 ms p50 and choose + observe ≤ 2 ms p50 at every size;
snapshot ≤ 5 MB at 10^6.
Usage: python scripts/bench_store_scale.py [--sizes 1000,100000,1000000] [--quick] [--write-docs]
(`--write-docs` writes its section of docs/benchmarks.md; a bare run changes no tracked file)
"""

from __future__ import annotations

import argparse
import math
import random
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))
from _benchdoc import write_section  # noqa: E402

from simpulse.learner import Learner, empty_stats, fold  # noqa: E402
from simpulse.store.store import Store  # noqa: E402
from simpulse.strategy.catalogue import BUILTIN  # noqa: E402

CONTEXTS = ("tiny", "simp_heavy", "arith", "structural", "definitions", "general")
EFFECT = {s.name: e for s, e in zip(BUILTIN, (0.0, -0.08, 0.04, -0.15, 0.02, -0.05, -0.2))}
N_MODULES = 6000


def project(rng: random.Random):
    mods = []
    for i in range(N_MODULES):
        lines = int(math.exp(rng.gauss(4.5, 0.9)))
        mods.append({
            "module": f"Mathlib.Area{i % 40}.Topic{i}", "context": rng.choice(CONTEXTS),
            "level": math.log(0.2) + 0.8 * math.log1p(lines) - 3.0 + rng.gauss(0, 0.3),
            "features": {"lines": lines, "declarations": max(1, lines // 12), "theorems": lines // 20,
                         "simp": lines // 15, "omega": lines // 60, "decide": lines // 90},
        })
    return mods


def event(rng, m, i):
    strategy = rng.choice(BUILTIN).name
    wall = math.exp(m["level"] + EFFECT[strategy] + rng.gauss(0, 0.1))
    return {"v": 1, "kind": "compile", "id": f"{i:016x}", "ts": 1.7e9 + i, "toolchain": "0123456789abcdef",
            "module": m["module"], "path": m["module"].replace(".", "/") + ".lean", "source_hash": f"{i:040x}",
            "context": m["context"], "features": m["features"], "strategy": strategy, "policy": "thompson",
            "mode": "auto", "explore": False, "recommended": None, "wall": round(wall, 6), "cpu": round(wall * 0.9, 6),
            "outcome": "ok", "error": None, "fallback_wall": None, "simulated": True, "era": "middle"}


def fill(sdir: Path, n: int, rng: random.Random, mods) -> float:
    store = Store(sdir, fsync=False)
    t0 = time.perf_counter()
    batch = []
    for i in range(n):
        m = mods[i % N_MODULES] if i < N_MODULES else rng.choice(mods)
        batch.append(event(rng, m, i))
        if len(batch) == 5000:
            store.append_many(batch)
            batch = []
        if (i + 1) % 200_000 == 0:
            store.compact(fold, empty_stats(), retention_segments=20)   # what `simpulse build` does
    if batch:
        store.append_many(batch)
    store.compact(fold, empty_stats(), retention_segments=20)
    return time.perf_counter() - t0


def pct(xs, q):
    xs = sorted(xs)
    k = (len(xs) - 1) * q
    lo = int(k)
    hi = min(lo + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (k - lo)


def import_own_export(sdir: Path) -> None:
    """Record, through the store, an import of the state's own export at weight 0.5."""
    from simpulse import exchange
    lrn = Learner(None, store=Store(sdir, create=False, fsync=False), toolchain="0123456789abcdef", seed=0)
    doc = exchange.parse(exchange.dumps(exchange.build_export(lrn.stats, lrn.catalogue)).encode())
    exchange.validate(doc)
    lrn.record_event(exchange.import_event(exchange.plan_import(doc, lrn.catalogue).payload,
                                           weight=0.5, source="own.json"))


def measure(sdir: Path, rng: random.Random, mods, reps: int) -> dict:
    loads, choose, decide, decide_fsync = [], [], [], []
    for i in range(reps):
        m = rng.choice(mods)
        fsync = i % 2 == 1
        t0 = time.perf_counter()
        lrn = Learner(None, store=Store(sdir, create=False, fsync=fsync), toolchain="0123456789abcdef", seed=i)
        _ = lrn.stats                               # the load a shim pays
        t1 = time.perf_counter()
        d = lrn.choose(module=m["module"], context=m["context"], features=m["features"])
        tc = time.perf_counter()
        lrn.observe(d, seconds=math.exp(m["level"]), cpu=0.1)
        t2 = time.perf_counter()
        loads.append(t1 - t0)
        choose.append(tc - t1)
        (decide_fsync if fsync else decide).append(t2 - t1)
    disk = sum(p.stat().st_size for p in sdir.rglob("*") if p.is_file())
    return {"load_p50": pct(loads, 0.5), "load_p95": pct(loads, 0.95),
            "choose_p50": pct(choose, 0.5), "choose_p95": pct(choose, 0.95),
            "co_p50": pct(decide, 0.5), "co_p95": pct(decide, 0.95),
            "co_fsync_p50": pct(decide_fsync, 0.5),
            "snapshot_bytes": (sdir / "snapshot.json").stat().st_size, "disk_bytes": disk}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="1000,100000,1000000")
    ap.add_argument("--reps", type=int, default=200, help="shim-equivalent compiles measured per size")
    ap.add_argument("--quick", action="store_true", help="sizes 1000,20000; 60 reps")
    ap.add_argument("--write-docs", action="store_true",
                    help="write the results into docs/benchmarks.md (a bare run changes no tracked file)")
    ap.add_argument("--no-doc", action="store_true", help=argparse.SUPPRESS)  # the default now; kept for old command lines
    args = ap.parse_args()
    if args.quick:
        args.sizes, args.reps = "1000,20000", 60
    sizes = [int(x) for x in args.sizes.split(",")]
    rng = random.Random(1)
    mods = project(rng)
    rows = []
    for n in sizes:
        work = Path(tempfile.mkdtemp(prefix="simpulse-scale-"))
        try:
            fill_s = fill(work / "state", n, rng, mods)
            r = measure(work / "state", rng, mods, args.reps)
            import_own_export(work / "state")
            imported = measure(work / "state", rng, mods, args.reps)
            r["choose_imp_p50"], r["choose_imp_p95"] = imported["choose_p50"], imported["choose_p95"]
        finally:
            shutil.rmtree(work, ignore_errors=True)
        r["n"], r["fill_s"] = n, fill_s
        rows.append(r)
        print(f"{n:>9} events: load p50 {r['load_p50'] * 1e3:.2f} ms, choose p50 {r['choose_p50'] * 1e3:.2f} ms (after an import {r['choose_imp_p50'] * 1e3:.2f} ms), choose+observe p50 {r['co_p50'] * 1e3:.2f} ms "
              f"(p95 {r['co_p95'] * 1e3:.2f}), with fsync {r['co_fsync_p50'] * 1e3:.2f} ms, snapshot "
              f"{r['snapshot_bytes'] / 1e6:.2f} MB, disk {r['disk_bytes'] / 1e6:.1f} MB (recorded in {fill_s:.0f} s)",
              flush=True)
    ok_co = all(r["co_p50"] <= 0.002 for r in rows)
    ok_choose = all(max(r["choose_p50"], r["choose_imp_p50"]) <= 0.001 for r in rows)
    big = [r for r in rows if r["n"] >= 1_000_000]
    ok_snap = all(r["snapshot_bytes"] <= 5e6 for r in big) if big else None
    ms = lambda x: f"{x * 1e3:.2f} ms"  # noqa: E731
    lines = [
        f"Mathlib-sized synthetic project: {N_MODULES} modules, {len(CONTEXTS)} contexts, events written through "
        "`Store.append_many` and compacted as `simpulse build` does (retention 20 segments). Per size, "
        f"{args.reps} shim-equivalent compiles: a fresh `Store` + `Learner` (load), then `choose` + `observe`; then "
        f"the state imports its own export (weight 0.5) and {args.reps} more such compiles run, their `choose` reported (after an import: "
        "every context weighs the model with the import against the model without it). "
        "Synthetic events (no compiler ran); the latencies are real.",
        "",
        "| events recorded | load p50 | load p95 | choose p50 | p95 | choose after an import p50 | p95 "
        "| choose+observe p50 | p95 | with fsync p50 | snapshot | disk (log + segments) |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
        *[f"| {r['n']:,} | {ms(r['load_p50'])} | {ms(r['load_p95'])} | **{ms(r['choose_p50'])}** | {ms(r['choose_p95'])} | "
          f"**{ms(r['choose_imp_p50'])}** | {ms(r['choose_imp_p95'])} | "
          f"**{ms(r['co_p50'])}** | {ms(r['co_p95'])} | "
          f"{ms(r['co_fsync_p50'])} | **{r['snapshot_bytes'] / 1e6:.2f} MB** | {r['disk_bytes'] / 1e6:.1f} MB |" for r in rows],
        "",
        f"Targets: a decision (choose, with or without an import) ≤ 1 ms p50 at every size — **{'met' if ok_choose else 'NOT met'}**; "
        f"choose + observe ≤ 2 ms p50 — **{'met' if ok_co else 'NOT met'}**; snapshot ≤ 5 MB "
        f"at 10^6 — **{'met' if ok_snap else ('NOT met' if ok_snap is False else 'not measured in this run')}**.",
        "",
        f"Reproduce: `.venv/bin/python scripts/bench_store_scale.py --sizes {args.sizes} --write-docs`",
    ]
    text = "\n".join(lines)
    print(text)
    if args.write_docs and not args.no_doc:
        write_section("bench_store_scale", "Store at scale: per-compile cost against history", text)
    return 0 if ok_co and ok_choose and ok_snap is not False else 1


if __name__ == "__main__":
    sys.exit(main())
