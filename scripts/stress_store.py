#!/usr/bin/env python3
"""Stress the state-directory store: many concurrent writers, a compactor and a reader at once.

    python scripts/stress_store.py                 # 16 writers x 500 events
    python scripts/stress_store.py --quick         # 4 x 100
    python scripts/stress_store.py --procs 32 --events 1000 --json out.json
    python scripts/stress_store.py --perf          # the single-process timings instead
    python scripts/stress_store.py --write-docs    # and write the results into docs/benchmarks.md

Each writer appends ``{"w": writer, "i": counter}`` through ``Store.append``; meanwhile one
process runs ``compact`` in a loop and another ``load`` (with its automatic checkpoint) in a
loop, as shims do. At the end every event is read back: written / found / lost / duplicated /
corrupt are exact, and the statistics of ``load`` must equal folding what was written.
Exit status 1 on any loss, duplicate or corruption.
"""

import argparse
import json
import multiprocessing
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from simpulse.store.store import Store  # noqa: E402


def fold(stats, ev):
    if ev.get("kind") != "stress":
        return stats
    w = str(ev["w"])
    stats["count"][w] = stats["count"].get(w, 0) + 1
    stats["sum"][w] = stats["sum"].get(w, 0) + ev["i"]
    # the learner's shape: per-writer records in a toolchain's `modules`, so the snapshot gets
    # a view (snapshot.view) and the lazy loads below read records through it
    mods = stats["toolchains"].setdefault("stress", {"modules": {}})["modules"]
    old = json.loads(mods.get(w) or "[0, 0]")
    mods[w] = json.dumps([old[0] + 1, old[1] + ev["i"]])
    return stats


def initial():
    return {"count": {}, "sum": {}, "toolchains": {}}


def _records_agree(st):
    """The records (read through the view, for a lazy load) say what the counters say."""
    mods = st["toolchains"].get("stress", {}).get("modules", {})
    return all(json.loads(mods.get(w) or "[0, 0]") == [st["count"][w], st["sum"][w]] for w in st["count"])


def writer(d, w, n, fsync, out):
    s = Store(d, fsync=fsync)
    t = time.perf_counter()
    worst = 0.0
    for i in range(n):
        t0 = time.perf_counter()
        s.append({"v": 1, "kind": "stress", "w": w, "i": i, "ts": time.time(), "id": f"{w:04x}{i:08x}"})
        worst = max(worst, time.perf_counter() - t0)
    out.put((w, time.perf_counter() - t, worst))


def compactor(d, stop, out, fsync):
    n = errors = 0
    while not stop.is_set():
        try:
            Store(d, fsync=fsync).compact(fold, initial())
            n += 1
        except Exception as e:  # noqa: BLE001 - counted: must stay 0
            errors += 1
            print(f"compactor: {type(e).__name__}: {e}", file=sys.stderr)
        time.sleep(0.01)
    out.put(("compactor", n, errors))


def loader(d, stop, out, total):
    """Loads as the shims do: every other one through the view (lazy records; checkpoints as
    successor views, and full snapshots from a detached process), checking the records read
    through it against the counters."""
    n = errors = regressions = 0
    prev = 0
    while not stop.is_set():
        try:
            s = Store(d)
            s.views = s.background_checkpoints = n % 2 == 1
            st, _ = s.load(fold, initial())
            seen = sum(st["count"].values())
            if seen < prev or seen > total or not _records_agree(st):
                regressions += 1
            prev = seen
            n += 1
        except Exception as e:  # noqa: BLE001 - counted: must stay 0
            errors += 1
            print(f"loader: {type(e).__name__}: {e}", file=sys.stderr)
        time.sleep(0.002)
    out.put(("loader", n, errors, regressions))


def run_stress(procs, events, fsync, state_dir):
    d = Path(state_dir)
    Store(d, fsync=fsync)
    ctx = multiprocessing.get_context("fork")
    out = ctx.Queue()
    stop = ctx.Event()
    comp = ctx.Process(target=compactor, args=(d, stop, out, fsync))
    load = ctx.Process(target=loader, args=(d, stop, out, procs * events))
    comp.start()
    load.start()
    t0 = time.perf_counter()
    ws = [ctx.Process(target=writer, args=(d, w, events, fsync, out)) for w in range(procs)]
    for p in ws:
        p.start()
    for p in ws:
        p.join()
    wall = time.perf_counter() - t0
    stop.set()
    comp.join()
    load.join()
    results = [out.get(timeout=30) for _ in range(procs + 2)]
    writer_fail = sum(1 for p in ws if p.exitcode != 0)
    comp_res = next(r for r in results if r[0] == "compactor")
    load_res = next(r for r in results if r[0] == "loader")
    worst_append = max((r[2] for r in results if isinstance(r[0], int)), default=0.0)

    # read everything back
    t1 = time.perf_counter()
    r = Store(d)
    seen = {}
    seqs = set()
    dup_seq = corrupt = 0
    for ev in r.iter_events():
        if ev.get("kind") != "stress" or not isinstance(ev.get("w"), int) or not isinstance(ev.get("i"), int):
            corrupt += 1
            continue
        if ev["seq"] in seqs:
            dup_seq += 1
        seqs.add(ev["seq"])
        key = (ev["w"], ev["i"])
        seen[key] = seen.get(key, 0) + 1
    read_time = time.perf_counter() - t1
    expected = {(w, i) for w in range(procs) for i in range(events)}
    lost = len(expected - set(seen))
    duplicated = sum(c - 1 for c in seen.values() if c > 1)
    unexpected = len(set(seen) - expected)
    stats, _ = Store(d).load(fold, initial())
    stats_ok = all(
        stats["count"].get(str(w)) == events and stats["sum"].get(str(w)) == events * (events - 1) // 2
        for w in range(procs)
    ) and _records_agree(stats)
    lazy = Store(d)
    lazy.views = True
    lazy_stats, _ = lazy.load(fold, initial(), checkpoint_after=None)
    stats_ok = stats_ok and _records_agree(lazy_stats) and lazy_stats["count"] == stats["count"]
    # a final compaction must agree too
    final = Store(d).compact(fold, initial())
    stats2, n2 = Store(d).load(fold, initial())
    segs = len(os.listdir(d / "segments")) if (d / "segments").exists() else 0
    res = {
        "procs": procs,
        "events_per_proc": events,
        "fsync": fsync,
        "written": procs * events,
        "found": len(seen),
        "lost": lost,
        "duplicated": duplicated + dup_seq,
        "corrupt": corrupt + unexpected,
        "problems": r.problems,
        "writer_failures": writer_fail,
        "compactions": comp_res[1],
        "compaction_errors": comp_res[2],
        "loads": load_res[1],
        "load_errors": load_res[2],
        "load_regressions": load_res[3],
        "stats_match": stats_ok and stats2 == stats and n2 == 0,
        "segments": segs,
        "final_compaction": final,
        "write_seconds": round(wall, 3),
        "appends_per_second": round(procs * events / wall, 1),
        "worst_append_ms": round(worst_append * 1000, 2),
        "read_back_seconds": round(read_time, 3),
    }
    res["ok"] = (
        res["lost"] == 0
        and res["duplicated"] == 0
        and res["corrupt"] == 0
        and not res["problems"]
        and res["writer_failures"] == 0
        and res["compaction_errors"] == 0
        and res["load_errors"] == 0
        and res["load_regressions"] == 0
        and res["stats_match"]
    )
    return res


# --------------------------------------------------------------------------- --perf

BIG = {
    "v": 1, "kind": "compile", "ts": 1700000000.123, "id": "abcdef0123456789", "toolchain": "a" * 40,
    "module": "Mathlib.Algebra.Group.Basic", "path": "Mathlib/Algebra/Group/Basic.lean",
    "source_hash": "b" * 40, "context": "algebra", "features": {f"f{i}": i * 0.5 for i in range(20)},
    "strategy": "maxHeartbeats-400k", "policy": "thompson", "mode": "auto", "explore": False,
    "wall": 1.23, "cpu": 1.1, "outcome": "ok", "error": None, "fallback_wall": None, "simulated": True,
}
SMALL = {
    "v": 1, "kind": "compile", "ts": 1700000000.123, "id": "abcdef0123456789", "module": "Fixtures.Arith",
    "context": "arith", "features": {"lines": 120, "simp": 4}, "strategy": "s1", "wall": 1.23, "outcome": "ok",
}


def pfold(st, e):
    k = e.get("strategy", "?")
    c = st.setdefault(k, [0, 0.0])
    c[0] += 1
    c[1] += e.get("wall", 0.0)
    return st


def run_perf(base):
    def timeit(fn, n):
        t = time.perf_counter()
        for _ in range(n):
            fn()
        return (time.perf_counter() - t) / n * 1000

    def med(fn, n=9):
        ts = []
        for _ in range(n):
            t = time.perf_counter()
            fn()
            ts.append((time.perf_counter() - t) * 1000)
        return sorted(ts)[n // 2]

    out = {}
    for fsync in (False, True):
        d = Path(tempfile.mkdtemp(dir=base))
        s = Store(d, fsync=fsync)
        s.append(dict(BIG))
        tag = "fsync" if fsync else "nofsync"
        out[f"append_ms_{tag}"] = round(timeit(lambda s=s: s.append(dict(BIG)), 2000), 4)
        out[f"open_and_append_ms_{tag}"] = round(timeit(lambda d=d, fsync=fsync: Store(d, fsync=fsync).append(dict(BIG)), 500), 4)
    for name, ev in (("big", BIG), ("small", SMALL)):
        d = Path(tempfile.mkdtemp(dir=base))
        s = Store(d, fsync=False)
        s.append_many([dict(ev) for _ in range(20000)])
        st, _ = s.load(pfold, {}, checkpoint_after=None)
        s.checkpoint(st)
        out[f"event_bytes_{name}"] = len(json.dumps(ev, separators=(",", ":"))) + 20
        for tail in (0, 256, 1000):
            if tail:
                s.append_many([dict(ev) for _ in range(tail - (0 if tail == 256 else 256))])
            ms = med(lambda d=d: Store(d).load(pfold, {}, checkpoint_after=None))
            out[f"load_ms_snapshot_plus_{tail}_tail_{name}"] = round(ms, 3)
        out[f"snapshot_bytes_{name}"] = os.path.getsize(d / "snapshot.json")
    # history size does not matter: 200k events behind the snapshot
    d = Path(tempfile.mkdtemp(dir=base))
    s = Store(d, fsync=False)
    s.append_many([dict(SMALL) for _ in range(200000)])
    t = time.perf_counter()
    res = s.compact(pfold, {})
    out["compact_200k_s"] = round(time.perf_counter() - t, 2)
    out["segment_bytes_200k"] = sum(p.stat().st_size for p in (d / "segments").iterdir())
    s.append_many([dict(SMALL) for _ in range(100)])
    out["load_ms_200k_history_plus_100_tail"] = round(med(lambda: Store(d).load(pfold, {}, checkpoint_after=None)), 3)
    st, _ = s.load(pfold, {})
    t = time.perf_counter()
    s.checkpoint(st)
    out["checkpoint_ms"] = round((time.perf_counter() - t) * 1000, 3)
    t = time.perf_counter()
    n = sum(1 for _ in Store(d).iter_events())
    out["iter_events_200k_s"] = round(time.perf_counter() - t, 2)
    assert n == 200100 and res["archived"] == 200000
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--procs", type=int, default=16)
    ap.add_argument("--events", type=int, default=500)
    ap.add_argument("--quick", action="store_true", help="4 writers x 100 events")
    ap.add_argument("--no-fsync", action="store_true", help="appends without fdatasync")
    ap.add_argument("--dir", help="state directory to use (default: a fresh temporary one)")
    ap.add_argument("--keep", action="store_true", help="keep the temporary state directory")
    ap.add_argument("--json", metavar="FILE", help="also write the results to FILE")
    ap.add_argument("--write-docs", action="store_true",
                    help="write the results into docs/benchmarks.md (a bare run changes no tracked file)")
    ap.add_argument("--no-doc", action="store_true", help=argparse.SUPPRESS)  # the default now; kept for old command lines
    ap.add_argument("--perf", action="store_true", help="measure single-process timings instead")
    a = ap.parse_args(argv)
    if a.quick:
        a.procs, a.events = 4, 100
    base = tempfile.mkdtemp(prefix="simpulse-stress-")
    try:
        if a.perf:
            res = run_perf(base)
            for k, v in res.items():
                print(f"{k:45s} {v}")
            ok = True
        else:
            d = a.dir or os.path.join(base, "state")
            res = run_stress(a.procs, a.events, not a.no_fsync, d)
            print(
                f"writers={res['procs']} x {res['events_per_proc']} (fsync={res['fsync']}): "
                f"written={res['written']} found={res['found']} lost={res['lost']} "
                f"duplicated={res['duplicated']} corrupt={res['corrupt']} "
                f"time={res['write_seconds']}s ({res['appends_per_second']:.0f} appends/s, "
                f"worst append {res['worst_append_ms']} ms)"
            )
            print(
                f"compactions={res['compactions']} (errors {res['compaction_errors']}) "
                f"loads={res['loads']} (errors {res['load_errors']}, regressions {res['load_regressions']}) "
                f"stats_match={res['stats_match']} segments={res['segments']} "
                f"read_back={res['read_back_seconds']}s problems={len(res['problems'])}"
            )
            for p in res["problems"]:
                print("  problem:", p)
            ok = res["ok"]
            print("OK" if ok else "FAILED")
            if a.write_docs and not a.quick:
                _write_doc(res, ok)
        if a.json:
            with open(a.json, "w") as f:
                json.dump(res, f, indent=2)
        return 0 if ok else 1
    finally:
        if not a.keep:
            shutil.rmtree(base, ignore_errors=True)


def _write_doc(res, ok):
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from _benchdoc import write_section
    text = "\n".join([
        f"{res['procs']} writer processes × {res['events_per_proc']} events each through `Store.append` "
        f"(fsync {'on' if res['fsync'] else 'off'}), with a process compacting the log meanwhile and one loading "
        "(every other load through `snapshot.view` as the shim does: records read lazily and checked against the "
        "counters, checkpoints as successor views and detached full snapshots). Timings on a shared, busy 2-core machine.",
        "",
        "| written | found | lost | duplicated | corrupt | compactions meanwhile | loads meanwhile | appends/s | worst append |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
        f"| {res['written']} | {res['found']} | **{res['lost']}** | **{res['duplicated']}** | **{res['corrupt']}** | "
        f"{res['compactions']} | {res['loads']} | {res['appends_per_second']:.0f} | {res['worst_append_ms']} ms |",
        "",
        f"Target 0 lost, 0 duplicated, 0 corrupt: **{'met' if ok else 'NOT met'}** "
        f"(statistics folded by concurrent loads matched: {res['stats_match']}).",
        "",
        f"Reproduce: `.venv/bin/python scripts/stress_store.py --procs {res['procs']} --events {res['events_per_proc']} --write-docs`",
    ])
    write_section("stress_store", "Concurrent writers (stress_store.py)", text)


if __name__ == "__main__":
    sys.exit(main())
