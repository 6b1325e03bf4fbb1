"""`simpulse report` at Mathlib scale (issue 20): the state of `bench_store_scale.py` (6,000
modules, 6 contexts, synthetic events recorded through the store and compacted as `simpulse
build` does), and on it, per event count (`--sizes`), the wall time of the command:

  * the first report (no report.cache: the whole log replayed);
  * a report right after it (report.cache current: nothing to replay);
  * a report after a clean build of every module (`--build` new events, compacted as a build
    does): what a user waits for after a build;

then, in process, what one of those new events costs the replay (`Replay.feed`) and, of that,
the learner's own fold (`simpulse.learner.fold`, which the replay cannot skip: the report's
posteriors are the learner's).

Only the report is measured (`bench_store_scale.py` measures everything, the report included,
and writes docs/benchmarks.md with `--write-docs`); this script changes no file.
Usage: python scripts/bench_report_scale.py [--sizes 100000,1000000] [--effect STRATEGY=DELTA ...]
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))
import bench_store_scale  # noqa: E402
from bench_store_scale import N_MODULES, clean_build, fill, project, timed_command  # noqa: E402

from simpulse.learner import fold  # noqa: E402
from simpulse.store.store import Store  # noqa: E402


def per_event(sdir: Path, cache: dict) -> tuple[float, float, int]:
    """(replay, fold) seconds per event over the events after the cache's last one."""
    import copy

    from simpulse.commands._common import config
    from simpulse.config import catalogue_for
    from simpulse.stats.history import Replay
    catalogue = catalogue_for(config(), sdir)
    events = list(Store(sdir, create=False).iter_events(after=cache["replay"]["counts"][4]))
    stats = copy.deepcopy(cache["replay"]["stats"])
    t0 = time.perf_counter()
    for ev in events:
        fold(stats, ev)
    t1 = time.perf_counter()
    replay = Replay.from_json(cache["replay"], catalogue)
    t2 = time.perf_counter()
    for ev in events:
        replay.feed(ev)
    replay.result()
    t3 = time.perf_counter()
    n = max(1, len(events))
    return (t3 - t2) / n, (t1 - t0) / n, len(events)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="100000", help="event counts, comma-separated")
    ap.add_argument("--effect", action="append", default=[], metavar="STRATEGY=DELTA",
                    help="a strategy's effect on log-time in the synthetic events (bench_store_scale's are "
                         "kept otherwise; none of the safe profile's helps there, so no context is ever "
                         "established): e.g. single-thread=-0.10")
    args = ap.parse_args()
    for spec in args.effect:
        name, _, delta = spec.partition("=")
        try:
            bench_store_scale.EFFECT[name] = float(delta)
        except ValueError:
            ap.error(f"--effect {spec}: not STRATEGY=DELTA")
    rng = random.Random(1)
    mods = project(rng)
    work = Path(tempfile.mkdtemp(prefix="simpulse-report-scale-"))
    rows = []
    try:
        for n in (int(x) for x in args.sizes.split(",")):
            sdir = work / f"state-{n}"
            fill_s = fill(sdir, n, rng, mods)
            first = timed_command(sdir, ["report"], work)
            again = timed_command(sdir, ["report"], work)
            cache = json.loads((sdir / "report.cache").read_text())
            clean_build(sdir, n, rng, mods)
            built = timed_command(sdir, ["report"], work)
            established = len(json.loads((sdir / "report.cache").read_text())["replay"]["confident_ctx"])
            feed_s, fold_s, k = per_event(sdir, cache)
            rows.append((n, first, again, built, feed_s, fold_s, k, established))
            print(f"{n:>9,} events (recorded in {fill_s:.0f} s): first report {first:.2f} s, report again "
                  f"{again:.2f} s, after a clean build ({k:,} new events) {built:.2f} s; replay "
                  f"{feed_s * 1e6:.0f} µs per new event, of which the learner's fold {fold_s * 1e6:.0f} µs; "
                  f"contexts established {established}", flush=True)
            shutil.rmtree(sdir, ignore_errors=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(f"\n| events | first report | report again | report after a clean build ({N_MODULES:,} new events) "
          "| replay per new event | of which the learner's fold | contexts established |\n"
          "|---:|---:|---:|---:|---:|---:|---:|")
    for n, first, again, built, feed_s, fold_s, _, established in rows:
        print(f"| {n:,} | {first:.2f} s | {again:.2f} s | {built:.2f} s | {feed_s * 1e6:.0f} µs | {fold_s * 1e6:.0f} µs "
              f"| {established} of {len(bench_store_scale.CONTEXTS)} |")
    ok = all(again <= 2 and built <= 2 for _, _, again, built, *_ in rows)
    print(f"\nTarget: report ≤ 2 s (again and after a clean build) — {'met' if ok else 'NOT met'}.")
    effects = "".join(f" --effect {e}" for e in args.effect)
    print(f"Reproduce: `.venv/bin/python scripts/bench_report_scale.py --sizes {args.sizes}{effects}`")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
