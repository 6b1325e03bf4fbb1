#!/usr/bin/env python3
"""Crash the state-directory store with SIGKILL, round after round, and check nothing is lost.

    python scripts/crash_store.py               # 100 rounds
    python scripts/crash_store.py --quick       # 20 rounds
    python scripts/crash_store.py --rounds 500 --seed 7 --json out.json
    python scripts/crash_store.py --write-docs  # and write the results into docs/benchmarks.md

All rounds share one state directory, so each round also starts from whatever the previous
crashes left behind. A round starts 2-4 writers (each appends ``{"w", "i"}`` events and, only
after ``append`` returned, writes ``i`` to its own acknowledgement file), sometimes a compactor
(``compact`` in a loop) and a loader (``load`` with a frequent automatic checkpoint), then kills
one process with SIGKILL:

* ``writer``        a writer, after a random delay;
* ``torn-write``    a writer that writes half of its line and SIGKILLs itself (what a power cut
                    or a kill between two pages of a write leaves behind);
* ``compactor``     the compactor, after a random delay (mid-compaction when its marker file
                    says it was inside ``compact``);
* ``compactor-step`` the compactor SIGKILLs itself at its k-th rename/replace/unlink/fsync/
                    write/ftruncate inside ``compact`` (every crash point of a compaction; a
                    write is cut in half first);
* ``loader``        the loader (often inside its checkpoint), after a random delay.

The survivors are stopped, then the state must load without exception and: every acknowledged
event is present exactly once; a killed writer has at most one event more than it acknowledged
(the one in flight, the next counter); other writers exactly what they acknowledged. The
statistics of ``load`` count every acknowledged event exactly once, per writer, checked against
the acknowledgements (writers acknowledge ``counter seq``), plus at most the killed writer's
in-flight one; earlier rounds' statistics never change; and, until retention deletes a segment,
they equal folding every event. Compactors sometimes run with ``retention_segments`` 0, 1 or 3
(then an acknowledged event may be absent from ``iter_events`` only if its seq is below the
oldest surviving one). Exit status 1 on any violation.
"""

import argparse
import json
import multiprocessing
import os
import random
import shutil
import signal
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from simpulse.store.store import Store  # noqa: E402

MAX_EVENTS = 1000  # per writer per round (a safety cap: writers run until stopped)
SCENARIOS = [("writer", 3), ("torn-write", 2), ("compactor", 3), ("compactor-step", 3), ("loader", 1)]


def fold(stats, ev):
    w = str(ev.get("w"))
    stats["count"][w] = stats["count"].get(w, 0) + 1
    stats["sum"][w] = stats["sum"].get(w, 0) + ev.get("i", 0)
    # the learner's shape: per-writer records in a toolchain's `modules`, so every snapshot gets
    # a view (snapshot.view), which the loader's lazy loads read and checkpoint
    mods = stats["toolchains"].setdefault("crash", {"modules": {}})["modules"]
    old = json.loads(mods.get(w) or "[0, 0]")
    mods[w] = json.dumps([old[0] + 1, old[1] + ev.get("i", 0)])
    return stats


def initial():
    return {"count": {}, "sum": {}, "toolchains": {}}


def lazy_load(d, **kw):
    """A load as the shim does it: through snapshot.view, the records read as asked for (and
    then all of them, plainly, to compare)."""
    from simpulse.store import views
    s = Store(d)
    s.views = True
    stats, n = s.load(fold, initial(), **kw)
    views.detach(stats)
    return stats, n


# --------------------------------------------------------------------------- children


def writer_main(d, w, ack_path, stop_path, torn_at):
    s = Store(d)
    ack = os.open(ack_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    real_write = os.write
    i = 0
    while i < MAX_EVENTS and not os.path.exists(stop_path):
        if torn_at is not None and i == torn_at:

            def torn_write(fd, data, _real=real_write):
                data = bytes(data)
                _real(fd, data[: max(1, len(data) // 2)])
                os.kill(os.getpid(), signal.SIGKILL)

            os.write = torn_write
        e = {"v": 1, "kind": "crash", "w": w, "i": i}
        s.append(e)
        real_write(ack, b"%d %d\n" % (i, e["seq"]))
        i += 1
        if i % 16 == 0:
            time.sleep(0.001)
    os._exit(0)


def compactor_main(d, stop_path, mark_path, kill_at, seed, retention):
    rng = random.Random(seed)
    real = {}
    state = {"active": False, "n": 0}
    real_write = os.write
    mark = os.open(mark_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    if kill_at is not None:
        names = ("replace", "rename", "unlink", "fsync", "fdatasync", "write", "ftruncate")
        for name in names:
            real[name] = getattr(os, name)

        def make(name):
            fn = real[name]

            def inner(*a, **k):
                if state["active"]:
                    state["n"] += 1
                    if state["n"] == kill_at:
                        real_write(mark, f"K {name}\n".encode())
                        if name == "write" and len(a) == 2 and len(a[1]) > 1:
                            fn(a[0], bytes(a[1])[: len(a[1]) // 2])
                        os.kill(os.getpid(), signal.SIGKILL)
                return fn(*a, **k)

            return inner

        for name in names:
            setattr(os, name, make(name))
    n = 0
    while not os.path.exists(stop_path):
        real_write(mark, b"B %d\n" % n)
        state["active"] = True
        Store(d).compact(fold, initial(), retention_segments=retention)
        state["active"] = False
        real_write(mark, b"E %d\n" % n)
        n += 1
        time.sleep(rng.uniform(0, 0.01))
    os._exit(0)


def loader_main(d, stop_path, seed):
    rng = random.Random(seed)
    while not os.path.exists(stop_path):
        s = Store(d)
        s.views = rng.random() < 0.5          # half as the shim: checkpoints as successor views
        s.load(fold, initial(), checkpoint_after=rng.choice([1, 1, 20, 200]))
        time.sleep(rng.uniform(0, 0.005))
    os._exit(0)


# --------------------------------------------------------------------------- parent


def read_acks(path):
    """{counter: seq} of the acknowledged events of one writer."""
    try:
        raw = open(path, "rb").read()
    except FileNotFoundError:
        return {}
    lines = raw.split(b"\n")
    lines.pop()  # incomplete (or empty) last piece: an ack being written when killed
    return {int(a): int(b) for a, b in (x.split() for x in lines if x)}


def run(rounds, seed, base, verbose, use_retention=True, stop_on_violation=False):
    rng = random.Random(seed)
    d = Path(base) / "state"
    aux = Path(base) / "aux"
    aux.mkdir(parents=True)
    Store(d)
    ctx = multiprocessing.get_context("fork")
    totals = {
        "rounds": 0,
        "kills": 0,
        "kills_by_scenario": {name: 0 for name, _ in SCENARIOS},
        "kills_mid_compaction": 0,
        "compaction_kill_points": {},
        "max_missing_per_kill": 0,
        "max_unacked_present_per_kill": 0,
        "lost_acknowledged": 0,
        "duplicated": 0,
        "corrupt": 0,
        "lines_skipped_torn_or_corrupt": 0,
        "load_failures": 0,
        "stats_mismatches": 0,
        "hangs": 0,
        "violations": [],
        "events_total": 0,
        "retention_deleted_upto": 0,
    }
    weights = [w for _, w in SCENARIOS]
    seen_problems = set()
    final_stats = {}  # writer -> (count, sum) in the statistics once its round is over
    for r in range(rounds):
        scenario = rng.choices([name for name, _ in SCENARIOS], weights)[0]
        stop = aux / f"stop-{r}"
        nw = rng.randint(2, 4)
        ids = [r * 10 + k for k in range(nw)]
        torn_writer = ids[0] if scenario == "torn-write" else None
        procs = {}
        for w in ids:
            torn_at = rng.randint(0, 60) if w == torn_writer else None
            p = ctx.Process(target=writer_main, args=(d, w, aux / f"ack-{w}", stop, torn_at))
            p.start()
            procs[("writer", w)] = p
        mark = aux / f"mark-{r}"
        if scenario.startswith("compactor") or rng.random() < 0.4:
            kill_at = rng.randint(1, 45) if scenario == "compactor-step" else None
            retention = rng.choice([None, None, None, 3, 1, 0]) if use_retention else None
            p = ctx.Process(target=compactor_main, args=(d, stop, mark, kill_at, rng.random(), retention))
            p.start()
            procs[("compactor", 0)] = p
        if scenario == "loader" or rng.random() < 0.5:
            p = ctx.Process(target=loader_main, args=(d, stop, rng.random()))
            p.start()
            procs[("loader", 0)] = p

        if scenario in ("writer",):
            victim = ("writer", rng.choice(ids))
        elif scenario == "torn-write":
            victim = ("writer", torn_writer)
        elif scenario.startswith("compactor"):
            victim = ("compactor", 0)
        else:
            victim = ("loader", 0)
        vp = procs[victim]
        if scenario in ("torn-write", "compactor-step"):
            vp.join(30)  # it kills itself
            if vp.exitcode is None:
                os.kill(vp.pid, signal.SIGKILL)
                vp.join()
        else:
            time.sleep(rng.uniform(0.005, 0.25))
            os.kill(vp.pid, signal.SIGKILL)
            vp.join()
        killed = vp.exitcode == -signal.SIGKILL
        if killed:
            totals["kills"] += 1
            totals["kills_by_scenario"][scenario] += 1
        mid_compaction = False
        if victim[0] == "compactor" and killed:
            marks = open(mark, "rb").read().split(b"\n") if mark.exists() else []
            marks = [m for m in marks if m]
            if marks and (marks[-1].startswith(b"B") or marks[-1].startswith(b"K")):
                mid_compaction = True
                totals["kills_mid_compaction"] += 1
            if marks and marks[-1].startswith(b"K"):
                point = marks[-1][2:].decode()
                totals["compaction_kill_points"][point] = totals["compaction_kill_points"].get(point, 0) + 1
        stop.touch()
        for key, p in procs.items():
            if key == victim:
                continue
            p.join(60)
            if p.exitcode is None:
                totals["hangs"] += 1
                totals["violations"].append(f"round {r}: {key} hung")
                os.kill(p.pid, signal.SIGKILL)
                p.join()
            elif p.exitcode != 0:
                totals["violations"].append(f"round {r}: {key} exited with {p.exitcode}")

        # ---- verify
        try:
            s = Store(d)
            events = list(s.iter_events())
            stats, _ = Store(d).load(fold, initial(), checkpoint_after=None)
            through_view, _ = lazy_load(d, checkpoint_after=None)
        except Exception as e:  # noqa: BLE001 - counted: must stay 0
            totals["load_failures"] += 1
            totals["violations"].append(f"round {r}: state does not load: {type(e).__name__}: {e}")
            totals["rounds"] += 1
            continue
        if through_view != stats:
            totals["stats_mismatches"] += 1
            totals["violations"].append(f"round {r}: a load through snapshot.view differs from the full load")
        new_problems = [p for p in s.problems if p not in seen_problems]
        seen_problems.update(s.problems)
        totals["lines_skipped_torn_or_corrupt"] += sum(1 for p in new_problems if "line" in p)
        other = [p for p in new_problems if "line" not in p]
        if other:
            totals["violations"].append(f"round {r}: problems {other}")
        seqs = set()
        by_writer = {w: {} for w in ids}
        for ev in events:
            if ev["seq"] in seqs:
                totals["duplicated"] += 1
                totals["violations"].append(f"round {r}: seq {ev['seq']} twice")
            seqs.add(ev["seq"])
            if ev.get("kind") != "crash" or type(ev.get("w")) is not int or type(ev.get("i")) is not int:
                totals["corrupt"] += 1
                totals["violations"].append(f"round {r}: malformed event {ev}")
                continue
            if ev["w"] in by_writer:
                by_writer[ev["w"]][ev["i"]] = by_writer[ev["w"]].get(ev["i"], 0) + 1
        # events below the oldest surviving seq were deleted by retention (their statistics live
        # on in the snapshot); before any deletion, load() must equal folding everything
        # (when retention deleted every event, all of them up to the highest covered seq are gone
        # by design: the snapshot and the log header say where that is)
        oldest = min(seqs) if seqs else s._max_known_seq() + 1
        if oldest > 1:
            totals["retention_deleted_upto"] = oldest - 1
        elif stats != fold_all(events):
            totals["stats_mismatches"] += 1
            totals["violations"].append(f"round {r}: load() statistics differ from folding all events")
        # statistics of earlier rounds' writers must never change again
        for w, (c, sm) in final_stats.items():
            if (stats["count"].get(str(w), 0), stats["sum"].get(str(w), 0)) != (c, sm):
                totals["stats_mismatches"] += 1
                totals["violations"].append(f"round {r}: statistics of writer {w} (an earlier round) changed")
        for w in ids:
            acks = read_acks(aux / f"ack-{w}")
            acked = set(acks)
            present = by_writer[w]
            dups = sum(c - 1 for c in present.values() if c > 1)
            if dups:
                totals["duplicated"] += dups
                totals["violations"].append(f"round {r}: writer {w}: {dups} duplicated events")
            missing = {i for i in acked - set(present) if acks[i] >= oldest}
            extra = set(present) - acked
            is_victim = victim == ("writer", w)
            nxt = (max(acked) + 1) if acked else 0
            if missing:
                totals["lost_acknowledged"] += len(missing)
                totals["violations"].append(f"round {r} ({scenario}): writer {w} lost acknowledged {sorted(missing)[:5]}")
            if is_victim:
                totals["max_missing_per_kill"] = max(totals["max_missing_per_kill"], len(missing))
                totals["max_unacked_present_per_kill"] = max(totals["max_unacked_present_per_kill"], len(extra))
                if extra - {nxt}:
                    totals["violations"].append(f"round {r}: killed writer {w} has unacknowledged events {sorted(extra)[:5]}")
            elif extra:
                totals["violations"].append(f"round {r}: writer {w} (not killed) has unacknowledged events {sorted(extra)[:5]}")
            # the statistics count every acknowledged event exactly once (even those retention
            # deleted), plus at most the killed writer's in-flight one
            c, sm = stats["count"].get(str(w), 0), stats["sum"].get(str(w), 0)
            ok_stats = [(len(acked), sum(acked))]
            if is_victim:
                ok_stats.append((len(acked) + 1, sum(acked) + nxt))
            if (c, sm) not in ok_stats:
                totals["stats_mismatches"] += 1
                totals["violations"].append(
                    f"round {r}: writer {w}: statistics count {c} sum {sm}, acknowledged {len(acked)} sum {sum(acked)}"
                )
            final_stats[w] = (c, sm)
        totals["events_total"] = len(events)
        totals["rounds"] += 1
        if stop_on_violation and totals["violations"]:
            break
        if verbose:
            print(
                f"round {r:3d} {scenario:15s} writers={nw} events={len(events)} killed={killed}"
                f"{' mid-compaction' if mid_compaction else ''}",
                flush=True,
            )

    # a final compaction over everything the crashes left must agree as well
    try:
        before, _ = Store(d).load(fold, initial(), checkpoint_after=None)
        Store(d).compact(fold, initial())
        after_stats, n = Store(d).load(fold, initial(), checkpoint_after=None)
        if after_stats != before or n != 0:
            totals["stats_mismatches"] += 1
            totals["violations"].append("final compaction: statistics differ")
        totals["segments"] = len(os.listdir(d / "segments"))
    except Exception as e:  # noqa: BLE001 - counted: must stay 0
        totals["load_failures"] += 1
        totals["violations"].append(f"final compaction failed: {type(e).__name__}: {e}")
    diag = d / "simpulse.log"
    totals["simpulse_log_lines"] = len(diag.read_text().splitlines()) if diag.exists() else 0
    return totals


def fold_all(events):
    st = initial()
    for ev in events:
        st = fold(st, ev)
    return st


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=100)
    ap.add_argument("--quick", action="store_true", help="20 rounds")
    ap.add_argument("--seed", type=int, default=None)
    ap.add_argument("--json", metavar="FILE")
    ap.add_argument("--keep", action="store_true", help="keep the state directory")
    ap.add_argument("--no-retention", action="store_true", help="compactors keep every segment")
    ap.add_argument("-v", "--verbose", action="store_true")
    ap.add_argument("--write-docs", action="store_true",
                    help="write the results into docs/benchmarks.md (a bare run changes no tracked file)")
    ap.add_argument("--no-doc", action="store_true", help=argparse.SUPPRESS)  # the default now; kept for old command lines
    ap.add_argument("--stop-on-violation", action="store_true", help="stop at the first violating round (with --keep: inspect it)")
    a = ap.parse_args(argv)
    if a.quick:
        a.rounds = 20
    seed = a.seed if a.seed is not None else random.randrange(1 << 30)
    base = tempfile.mkdtemp(prefix="simpulse-crash-")
    t = time.perf_counter()
    try:
        res = run(a.rounds, seed, base, a.verbose, use_retention=not a.no_retention,
                  stop_on_violation=a.stop_on_violation)
    finally:
        if a.keep:
            print("state kept in", base)
        else:
            shutil.rmtree(base, ignore_errors=True)
    res["seed"] = seed
    res["seconds"] = round(time.perf_counter() - t, 1)
    ok = not res["violations"]
    res["ok"] = ok
    print(
        f"rounds={res['rounds']} kills={res['kills']} kills_mid_compaction={res['kills_mid_compaction']} "
        f"max_missing_per_kill={res['max_missing_per_kill']} "
        f"max_unacked_present_per_kill={res['max_unacked_present_per_kill']} "
        f"lost_acknowledged={res['lost_acknowledged']} duplicated={res['duplicated']} corrupt={res['corrupt']} "
        f"load_failures={res['load_failures']} stats_mismatches={res['stats_mismatches']} hangs={res['hangs']}"
    )
    print(
        f"kills by scenario: {res['kills_by_scenario']}; compaction kill points: {res['compaction_kill_points']}; "
        f"torn/corrupt lines skipped: {res['lines_skipped_torn_or_corrupt']}; events at the end: {res['events_total']} "
        f"(retention deleted seqs <= {res['retention_deleted_upto']}); "
        f"seed={seed} time={res['seconds']}s"
    )
    for v in res["violations"][:30]:
        print("VIOLATION:", v)
    print("OK" if ok else "FAILED")
    if a.json:
        with open(a.json, "w") as f:
            json.dump(res, f, indent=2)
    if a.write_docs and not a.quick:
        _write_doc(res, ok)
    return 0 if ok else 1


def _write_doc(res, ok):
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from _benchdoc import write_section
    text = "\n".join([
        f"{res['rounds']} rounds: writers (and in some rounds a compactor) on one state directory, one of them "
        "killed with SIGKILL at a random moment, then the state is loaded and checked against what the "
        "writers had acknowledged.",
        "",
        "| kills | of them mid-compaction | max acknowledged events missing per kill | max unacknowledged (in-flight) present | duplicated | corrupt | load failures | statistics mismatches |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|",
        f"| {res['kills']} | {res['kills_mid_compaction']} | **{res['max_missing_per_kill']}** | "
        f"{res['max_unacked_present_per_kill']} | {res['duplicated']} | **{res['corrupt']}** | "
        f"**{res['load_failures']}** | {res['stats_mismatches']} |",
        "",
        "Each round also compares a load through `snapshot.view` (the shim's way; the loader checkpoints "
        "successor views half the time, so it is killed inside those writes too) with the full load: "
        "a difference counts as a statistics mismatch.",
        f"Compaction kill points reached: {res['compaction_kill_points']}. Torn or corrupt lines skipped on "
        f"load: {res['lines_skipped_torn_or_corrupt']}. Target (the state loads after every kill; at most the "
        f"one in-flight event missing): **{'met' if ok else 'NOT met'}**.",
        "",
        f"Reproduce: `.venv/bin/python scripts/crash_store.py --rounds {res['rounds']} --seed {res['seed']} --write-docs`",
    ])
    write_section("crash_store", "Crashes (crash_store.py)", text)


if __name__ == "__main__":
    sys.exit(main())
