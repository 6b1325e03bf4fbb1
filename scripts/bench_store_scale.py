"""What one compile pays at scale (issue 20, item 4): a mathlib-sized project (6,000 modules,
6 contexts) and up to a year of builds (10^6 events).

Per event count (`--sizes`), the events are recorded through the real store (appends, then the
compaction `simpulse build` runs; the generator folds each event once, ~0.25 ms: 10^6 events
take ~5 minutes), and then:

  * **the shim, end to end**: the facade's `bin/lean` on a module compile against this state,
    interleaved with the *exec-only floor* — the same venv Python started the same way
    (`-IS`) that execs the `lean` at once — with `/bin/true` as the `lean` (it exits at once:
    what is left of a compile is simpulse). Steady state: warm-up compiles first, then p50/p95/p99 of
    each, every compile recording its event (the log tail grows and is checkpointed as in a
    build); the modules are drawn from the 6,000, their sources unchanged (no classifier);
  * in process, what the shim's load costs: through `snapshot.view` (the shim's way) and in
    full (`snapshot.json`), then choose and choose + observe as before; and choose after the
    state imported its own export (the costliest decision);
  * `simpulse stats`, `simpulse monitor --once` and `simpulse report` on the state as a build
    leaves it (loaded and checkpointed after the shims above; the wall time of the command,
    the median of three runs but for the first report): the first report (the whole log replayed), one right after it (from
    report.cache), and after a clean build of the 6,000 modules (on copies of the state): as
    `simpulse build` leaves it (report.cache refreshed while the build ran, the last replay
    started as it ended) and with the whole build to replay;
  * the snapshot's and the view's size, and the disk used by the log and its segments;
  * the similarity step of a decision (the neighbour index of its context, `similar.Index`)
    through the view's sections and, on a copy of the state whose view has none, from every
    record; with `--compare-plain`, the shim end to end on that copy too.

Targets: shim p50 ≤ 25 ms and ≤ 2× the floor, p99 ≤ 50 ms; a decision ≤ 1 ms p50, choose +
observe ≤ 2 ms p50; stats and monitor --once ≤ 1 s, report ≤ 2 s; snapshot ≤ 5 MB at 10^6.
Usage: python scripts/bench_store_scale.py [--sizes 1000,100000,1000000] [--reps N] [--shim-runs N]
       [--quick] [--compare-plain] [--write-docs]
(`--write-docs` writes its section of docs/benchmarks.md; a bare run changes no tracked file)
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import random
import resource
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

from simpulse.learner import Learner, empty_stats, fold, validate_stats  # noqa: E402
from simpulse.store.store import Store  # noqa: E402
from simpulse.strategy.catalogue import BUILTIN  # noqa: E402

CONTEXTS = ("tiny", "simp_heavy", "arith", "structural", "definitions", "general")
# each strategy's (invented) log-effect on a module's time in the generated history; a strategy
# the catalogue gains later has none (0.0) until it is given one here
_EFFECTS = {"baseline": 0.0, "no-linters": -0.08, "no-async": 0.04, "no-simprocs": -0.15, "single-thread": 0.02,
            "lean-fast": -0.05, "simp-lean": -0.2, "threads-2": -0.03}
EFFECT = {s.name: _EFFECTS.get(s.name, 0.0) for s in BUILTIN}
N_MODULES = 6000
TOOLCHAIN = "0123456789abcdef"
COMMAND_RUNS = 3                  # runs of stats, monitor --once and a cached report: their median
SOURCE = "Fixtures/Tiny.lean"     # what every shim compile reads and hashes (its `lean` is /bin/true)
SOURCE_HASH = hashlib.sha1((ROOT / "lean_fixtures" / SOURCE).read_bytes()).hexdigest()


# The history's compile times are those of the `lean` the shim runs here (/bin/true, started
# by the shim: ~5 ms), so that the shim's own recordings continue it as a real build continues
# its history (steady state). With times from another distribution, every recorded compile is
# a surprise to the model and sets off context-wide refreshes (`_refresh_predictions`) that a
# steady state does not have.
LEVEL = math.log(0.005)


def project(rng: random.Random):
    mods = []
    for i in range(N_MODULES):
        lines = int(math.exp(rng.gauss(4.5, 0.9)))
        mods.append({
            "module": f"Mathlib.Area{i % 40}.Topic{i}", "context": rng.choice(CONTEXTS),
            "level": LEVEL + 0.05 * (math.log1p(lines) - 4.5) + rng.gauss(0, 0.1),
            "features": {"lines": lines, "declarations": max(1, lines // 12), "theorems": lines // 20,
                         "simp": lines // 15, "omega": lines // 60, "decide": lines // 90},
        })
    return mods


def event(rng, m, i):
    strategy = rng.choice(BUILTIN).name
    wall = math.exp(m["level"] + EFFECT[strategy] + rng.gauss(0, 0.1))
    # every module's source hash is the one the shim compiles: its record's classification holds
    return {"v": 1, "kind": "compile", "id": f"{i:016x}", "ts": 1.7e9 + i, "toolchain": TOOLCHAIN,
            "module": m["module"], "path": m["module"].replace(".", "/") + ".lean", "source_hash": SOURCE_HASH,
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
            store.compact(fold, empty_stats(), retention_segments=20, validate=validate_stats)   # what `simpulse build` does
        if (i + 1) % 100_000 == 0:
            print(f"  ... {i + 1:,} events recorded ({time.perf_counter() - t0:.0f} s)", file=sys.stderr, flush=True)
    if batch:
        store.append_many(batch)
    store.compact(fold, empty_stats(), retention_segments=20, validate=validate_stats)
    return time.perf_counter() - t0


def clean_build(sdir: Path, first: int, rng: random.Random, mods, *, refreshed: bool = False) -> None:
    """Record what a clean build of the whole project adds: one compile of every module (ids and
    times after the `first` events already there), then the compaction `simpulse build` runs.
    `refreshed`: as `simpulse build` does, the report cache is refreshed while the build runs
    (its tick: a replay when REFRESH_BACKLOG events wait; waited for here: a build's compiles
    arrive slower than a replay folds them), at the worst moment: the last replay just before
    the build's last REFRESH_BACKLOG − 1 compiles, which the build leaves, as it ends, to a
    replay it starts in the background (END_BACKLOG)."""
    from simpulse.stats import report_cache as rep
    store = Store(sdir, fsync=False)
    events = [event(rng, m, first + i) for i, m in enumerate(mods)]
    if refreshed:
        cut = max(0, len(events) - rep.REFRESH_BACKLOG + 1)
        for i in range(0, cut, 500):
            store.append_many(events[i:min(i + 500, cut)])
            if store.last_seq() - rep.cached_seq(sdir) >= rep.REFRESH_BACKLOG or i + 500 >= cut:
                rep.refresh(sdir)
        events = events[cut:]
    store.append_many(events)
    store.compact(fold, empty_stats(), retention_segments=20)
    if refreshed:
        rep.refresh_in_background(sdir, backlog=rep.END_BACKLOG)


def pct(xs, q):
    xs = sorted(xs)
    if not xs:
        return float("nan")
    k = (len(xs) - 1) * q
    lo = int(k)
    hi = min(lo + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (k - lo)


def import_own_export(sdir: Path) -> None:
    """Record, through the store, an import of the state's own export at weight 0.5."""
    from simpulse import exchange
    lrn = Learner(None, store=Store(sdir, create=False, fsync=False), toolchain=TOOLCHAIN, seed=0)
    doc = exchange.parse(exchange.dumps(exchange.build_export(lrn.stats, lrn.catalogue)).encode())
    exchange.validate(doc)
    lrn.record_event(exchange.import_event(exchange.plan_import(doc, lrn.catalogue).payload,
                                           weight=0.5, source="own.json"))


def measure(sdir: Path, rng: random.Random, mods, reps: int) -> dict:
    """In process: the load through the view (as the shim) and in full, choose, choose + observe."""
    loads, full, choose, decide, decide_fsync = [], [], [], [], []
    for i in range(reps):
        m = rng.choice(mods)
        fsync = i % 2 == 1
        t0 = time.perf_counter()
        Store(sdir, create=False).load(fold, empty_stats(), validate=validate_stats, checkpoint_after=None)
        t1 = time.perf_counter()
        store = Store(sdir, create=False, fsync=fsync)
        store.views = True
        lrn = Learner(None, store=store, toolchain=TOOLCHAIN, seed=i)
        _ = lrn.stats                               # the load a shim pays
        t2 = time.perf_counter()
        d = lrn.choose(module=m["module"], context=m["context"], features=m["features"])
        t3 = time.perf_counter()
        lrn.observe(d, seconds=math.exp(m["level"]), cpu=0.1)
        t4 = time.perf_counter()
        full.append(t1 - t0)
        loads.append(t2 - t1)
        choose.append(t3 - t2)
        (decide_fsync if fsync else decide).append(t4 - t2)
    disk = sum(p.stat().st_size for p in sdir.rglob("*") if p.is_file())
    view = sdir / "snapshot.view"
    return {"load_p50": pct(loads, 0.5), "load_p95": pct(loads, 0.95), "full_p50": pct(full, 0.5),
            "choose_p50": pct(choose, 0.5), "choose_p95": pct(choose, 0.95),
            "co_p50": pct(decide, 0.5), "co_p95": pct(decide, 0.95),
            "co_fsync_p50": pct(decide_fsync, 0.5),
            "snapshot_bytes": (sdir / "snapshot.json").stat().st_size,
            "view_bytes": view.stat().st_size if view.exists() else 0, "disk_bytes": disk}


def strip_sections(src: Path, dst: Path) -> None:
    """A copy of the state whose view has no similarity sections (as written before them): its
    readers build a context's neighbour index by reading every record."""
    shutil.copytree(src, dst)
    path = dst / "snapshot.view"
    raw = path.read_bytes()
    nl = raw.index(b"\n")
    head = json.loads(raw[:nl])
    head.pop("sim", None)
    end = head.pop("end", None)
    body = raw[nl + 1:nl + 1 + head["b"][-1]] if end is not None else raw[nl + 1:]
    path.write_bytes(json.dumps(head, separators=(",", ":")).encode() + b"\n" + body)


def similarity(sdir: Path, rng: random.Random, mods, reps: int) -> dict:
    """The similarity step of a decision in a fresh process's learner (`similar.Index.context`:
    the neighbour index of the module's context, built once per process), through the view's
    sections and — on a copy whose view has none — by reading every record; wall and CPU time,
    and the view's buckets read by the whole decision."""
    from simpulse.model import similar
    from simpulse.model.records import module_record
    plain = sdir.parent / (sdir.name + "-nosections")
    strip_sections(sdir, plain)
    out: dict = {"sec": [], "sec_cpu": [], "rec": [], "rec_cpu": [], "read": [], "of": 0, "indexed": [],
                 "choose_cpu": []}
    try:
        for i in range(reps):
            m = rng.choice(mods)
            for key, d in (("sec", sdir), ("rec", plain)):
                store = Store(d, create=False, fsync=False)
                store.views = True
                lrn = Learner(None, store=store, toolchain=TOOLCHAIN, seed=i)
                tc = lrn.stats["toolchains"][TOOLCHAIN]
                w0, c0 = time.perf_counter(), time.process_time()
                table = similar.Index().context(tc, lrn.stats, TOOLCHAIN, m["context"], module_record)
                w1, c1 = time.perf_counter(), time.process_time()
                out[key].append(w1 - w0)
                out[key + "_cpu"].append(c1 - c0)
                if key == "sec":
                    out["indexed"].append(len(table))
                    # a whole decision in a fresh learner (its own index): CPU time, buckets read
                    lrn = Learner(None, store=Store(d, create=False, fsync=False), toolchain=TOOLCHAIN, seed=i)
                    lrn.store.views = True
                    _ = lrn.stats
                    c0 = time.process_time()
                    lrn.choose(module=m["module"], context=m["context"], features=m["features"])
                    out["choose_cpu"].append(time.process_time() - c0)
                    view = lrn.stats["toolchains"][TOOLCHAIN]["modules"]._view
                    out["read"].append(len(view._parsed))
                    out["of"] = len(view.crcs)
    finally:
        shutil.rmtree(plain, ignore_errors=True)
    return {"sim_p50": pct(out["sec"], 0.5), "sim_cpu_p50": pct(out["sec_cpu"], 0.5),
            "sim_rec_p50": pct(out["rec"], 0.5), "sim_rec_cpu_p50": pct(out["rec_cpu"], 0.5),
            "sim_read_p50": pct(out["read"], 0.5), "sim_read_max": max(out["read"]), "sim_buckets": out["of"],
            "sim_indexed_p50": pct(out["indexed"], 0.5), "choose_cpu_p50": pct(out["choose_cpu"], 0.5)}


class ShimBench:
    """A facade like the one `simpulse build` makes, over a toolchain whose `lean` is
    `/bin/true` (it exits at once: what is left of a compile is simpulse), and beside it the
    floor: the same launcher starting the same venv Python (`-IS`), which execs that `lean`
    at once."""

    def __init__(self, work: Path):
        from simpulse.lake.facade import SHIM_SCRIPT, _contents
        self.work = work
        self.proj = work / "project"
        (self.proj / "Fixtures").mkdir(parents=True)
        shutil.copy(ROOT / "lean_fixtures" / SOURCE, self.proj / SOURCE)
        sysroot = work / "toolchain"
        (sysroot / "bin").mkdir(parents=True)
        os.symlink(shutil.which("true") or "/bin/true", sysroot / "bin" / "lean")
        self.real = sysroot / "bin" / "lean"
        self.facades = {}
        for name in ("shim", "floor"):
            facade = work / name
            for rel, text in _contents(facade, sysroot, sys.executable).items():
                (facade / rel).parent.mkdir(parents=True, exist_ok=True)
                (facade / rel).write_text(text)
            (facade / "bin" / "lean").chmod(0o755)
            self.facades[name] = facade / "bin" / "lean"
        (work / "floor" / SHIM_SCRIPT).write_text(
            f"import os, sys\nos.execv({str(self.real)!r}, [{str(self.real)!r}] + sys.argv[1:])\n")
        self.shim_py = work / "shim" / SHIM_SCRIPT
        self.env = {k: v for k, v in os.environ.items() if not k.startswith(("SIMPULSE_", "LEAN", "LAKE"))}
        self.out = work / "out" / "lib" / "lean"

    def args(self, module: str) -> list[str]:
        rel = Path(*module.split("."))
        (self.out / rel).parent.mkdir(parents=True, exist_ok=True)
        o = self.out / rel
        return [SOURCE, "-R", ".", "-o", f"{o}.olean", "-i", f"{o}.ilean", "-c", f"{o}.c", "--json"]

    def settings(self, sdir: Path) -> str:
        return json.dumps({"state_dir": str(sdir), "workspace": str(self.proj), "mode": "auto", "policy": "thompson",
                           "toolchain": TOOLCHAIN, "simulated": True, "fsync": False, "enabled": None,
                           "profile": "safe", "build_id": "bench"})

    def _timed(self, cmd, env) -> float:
        t0 = time.perf_counter()
        ru0 = resource.getrusage(resource.RUSAGE_CHILDREN)
        p = subprocess.run(cmd, env=env, cwd=self.proj, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        dt = time.perf_counter() - t0
        ru1 = resource.getrusage(resource.RUSAGE_CHILDREN)
        self.cpu = ru1.ru_utime + ru1.ru_stime - ru0.ru_utime - ru0.ru_stime
        if p.returncode != 0:
            raise SystemExit(f"command failed ({p.returncode}): {' '.join(map(str, cmd))}\n{p.stderr.decode()[-2000:]}")
        return dt

    def run(self, sdir: Path, mods, rng: random.Random, runs: int, warmup: int) -> dict:
        """Interleaved, per compile: the floor, the shim as `simpulse build` runs it (decisions
        served by the build's server, `serve` — the default — started here on the state as the
        build starts it), and the shim deciding for itself (loading the statistics: `serve`
        off, or a shim its server does not answer)."""
        from simpulse.lake.serve import DecisionServer
        settings = json.loads(self.settings(sdir))
        env = dict(self.env, SIMPULSE_SHIM=json.dumps(settings))
        server = DecisionServer(dict(settings))
        served_env = dict(self.env, SIMPULSE_SHIM=json.dumps(dict(settings, serve=server.path)))
        shim, floor, shim_cpu, floor_cpu, own, own_cpu = [], [], [], [], [], []
        try:
            for i in range(warmup + runs):
                args = self.args(rng.choice(mods)["module"])
                a = self._timed([str(self.facades["floor"])] + args, env)
                ca = self.cpu
                b = self._timed([str(self.facades["shim"])] + args, served_env)
                cb = self.cpu
                c = self._timed([str(self.facades["shim"])] + args, env)
                if i >= warmup:
                    floor.append(a)
                    shim.append(b)
                    own.append(c)
                    floor_cpu.append(ca)
                    shim_cpu.append(cb)
                    own_cpu.append(self.cpu)
        finally:
            server.close()
        # a served decision first folds what the shims that decided for themselves appended
        # (`_Shared.catch_up`): here one, the `own` shim run between two served ones (in a
        # build, only a shim the server did not answer in time): timed apart
        caught = server.catch_up_s[warmup:]
        decided = [a - c for a, c in zip(server.decide_s[warmup:], caught)]
        both = [a + b for a, b in zip(decided, server.observe_s[warmup:])]
        log = Path(sdir / "simpulse.log")
        text = log.read_text(errors="replace") if log.exists() else ""
        return {"shim_p50": pct(shim, 0.5), "shim_p95": pct(shim, 0.95), "shim_p99": pct(shim, 0.99),
                "shim_max": max(shim), "floor_p50": pct(floor, 0.5), "floor_p99": pct(floor, 0.99),
                "shim_runs": len(shim), "passthrough": text.count("passthrough"),
                "decided_itself": text.count("decided in the shim"),
                "own_p50": pct(own, 0.5), "own_p99": pct(own, 0.99), "own_cpu_p50": pct(own_cpu, 0.5),
                "served_decide_p50": pct(decided, 0.5) if decided else float("nan"),
                "served_decide_p95": pct(decided, 0.95) if decided else float("nan"),
                "served_co_p50": pct(both, 0.5) if both else float("nan"),
                "served_catch_up_p50": pct(caught, 0.5) if caught else float("nan"),
                "shim_cpu_p50": pct(shim_cpu, 0.5), "floor_cpu_p50": pct(floor_cpu, 0.5)}

    def commands(self, sdir: Path, report: bool, n: int = 0, rng: random.Random | None = None, mods=()) -> dict:
        out = {}
        # report twice: the first replays the whole log and keeps report.cache, the second reads it;
        # then, on a copy of the state, once more after a clean build of every module (`clean_build`)
        # as a build leaves the state: its end loads the statistics (folding what its compiles
        # appended: here the shims timed above) and checkpoints (`Store.load`)
        Store(sdir, create=False).load(fold, empty_stats(), validate=validate_stats)
        todo = [("stats", ["stats"]), ("monitor", ["monitor", "--once"])] + (
            [("report_first", ["report"]), ("report", ["report"])] if report else [])
        for name, cmd in todo:
            # the median of COMMAND_RUNS (a shared machine), but the first report: it replays
            # the whole log, which the next ones read from report.cache
            runs = 1 if name == "report_first" else COMMAND_RUNS
            out[name] = statistics.median(timed_command(sdir, cmd, self.proj) for _ in range(runs))
        if report and rng is not None and mods:
            # on copies: right after a clean build, as `simpulse build` leaves the cache (refreshed
            # while it ran, its last replay started as it ended: the report waits for it), and
            # with the whole build to replay (a build that kept no cache)
            for key, refreshed in (("report_build", True), ("report_build_all", False)):
                copy = sdir.parent / (sdir.name + "-built")
                shutil.copytree(sdir, copy)
                try:
                    clean_build(copy, n, random.Random(rng.random()), mods, refreshed=refreshed)
                    out[key] = timed_command(copy, ["report"], self.proj)
                finally:
                    shutil.rmtree(copy, ignore_errors=True)
        return out


def timed_command(sdir: Path, cmd: list[str], cwd: Path) -> float:
    """The wall time of `simpulse CMD` on the state `sdir` (its output discarded)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SIMPULSE_", "LEAN", "LAKE"))}
    env.update(SIMPULSE_STATE_DIR=str(sdir), COLUMNS="120")
    t0 = time.perf_counter()
    p = subprocess.run([sys.executable, "-m", "simpulse"] + cmd, env=env, cwd=cwd, stdout=subprocess.DEVNULL,
                       stderr=subprocess.PIPE, timeout=7200)
    dt = time.perf_counter() - t0
    if p.returncode not in (0, 1):
        print(f"  simpulse {' '.join(cmd)} exited {p.returncode}: {p.stderr.decode()[-500:]}", file=sys.stderr)
    return dt


def fmt_s(x) -> str:
    return "not timed (`--report-max`)" if x is None else f"{x:.2f} s"


def import_ms(bench: ShimBench, sdir: Path, module: str) -> float:
    """The shim's own imports on a compile (`python -X importtime`, cumulative, simpulse.*)."""
    env = dict(bench.env, SIMPULSE_SHIM=bench.settings(sdir))
    p = subprocess.run([sys.executable, "-X", "importtime", "-IS", str(bench.shim_py)] + bench.args(module),
                       env=env, cwd=bench.proj, capture_output=True, text=True)
    total = 0
    for line in p.stderr.splitlines():
        if not line.startswith("import time:") or "|" not in line:
            continue
        parts = line.split("|")
        name = parts[2].rstrip()
        if name.startswith("simpulse") and not name.startswith(" "):     # top level only: cumulative
            total += int(parts[1])
        elif name.strip().startswith("simpulse") and len(name) - len(name.lstrip()) == 1:
            total += int(parts[1])
    return total / 1000.0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="1000,100000,1000000", help="event counts, comma-separated")
    ap.add_argument("--reps", type=int, default=200, help="in-process load/choose/observe rounds per size")
    ap.add_argument("--shim-runs", type=int, default=300, help="shim compiles (and as many floor runs) per size")
    ap.add_argument("--warmup", type=int, default=40, help="shim compiles before measuring (steady state)")
    ap.add_argument("--no-commands", action="store_true", help="skip timing stats / monitor --once / report")
    ap.add_argument("--report-max", type=int, default=10**9,
                    help="time `simpulse report` only up to this many events (it replays the whole history)")
    ap.add_argument("--compare-plain", action="store_true",
                    help="also time the shim on a copy of each state whose view has no similarity sections")
    ap.add_argument("--quick", action="store_true", help="sizes 1000,20000; 60 reps; 100 shim runs")
    ap.add_argument("--write-docs", action="store_true",
                    help="write the results into docs/benchmarks.md (a bare run changes no tracked file)")
    ap.add_argument("--no-doc", action="store_true", help=argparse.SUPPRESS)  # the default now; kept for old command lines
    args = ap.parse_args()
    if args.quick:
        args.sizes, args.reps, args.shim_runs, args.warmup = "1000,20000", 60, 100, 20
    sizes = [int(x) for x in args.sizes.split(",")]
    rng = random.Random(1)
    mods = project(rng)
    rows = []
    work = Path(tempfile.mkdtemp(prefix="simpulse-scale-"))
    try:
        bench = ShimBench(work)
        for n in sizes:
            sdir = work / f"state-{n}"
            fill_s = fill(sdir, n, rng, mods)
            r = measure(sdir, rng, mods, args.reps)
            r.update(similarity(sdir, rng, mods, max(10, args.reps // 4)))
            # modules with a record (compiled before, source unchanged): a new module's first
            # compile runs the classifier, which is not what this measures
            r.update(bench.run(sdir, mods[:n], rng, args.shim_runs, args.warmup))
            r["import_ms"] = import_ms(bench, sdir, mods[0]["module"])
            if args.compare_plain:
                plain = work / f"state-{n}-plain"
                strip_sections(sdir, plain)
                got = bench.run(plain, mods[:n], rng, args.shim_runs, args.warmup)
                r["plain_shim_p50"], r["plain_shim_cpu_p50"] = got["own_p50"], got["own_cpu_p50"]
                shutil.rmtree(plain, ignore_errors=True)
            if not args.no_commands:
                r.update(bench.commands(sdir, report=n <= args.report_max, n=n, rng=rng, mods=mods))
            import_own_export(sdir)
            imported = measure(sdir, rng, mods, args.reps)
            r["choose_imp_p50"], r["choose_imp_p95"] = imported["choose_p50"], imported["choose_p95"]
            shutil.rmtree(sdir, ignore_errors=True)
            r["n"], r["fill_s"] = n, fill_s
            rows.append(r)
            ms = lambda x: f"{x * 1e3:.1f} ms"  # noqa: E731
            print(f"{n:>9} events: shim p50 {ms(r['shim_p50'])} p99 {ms(r['shim_p99'])} (floor p50 {ms(r['floor_p50'])}, "
                  f"ratio {r['shim_p50'] / r['floor_p50']:.2f}); load via view p50 {ms(r['load_p50'])}, in full "
                  f"{ms(r['full_p50'])}; choose p50 {r['choose_p50'] * 1e3:.2f} ms (CPU {r['choose_cpu_p50'] * 1e3:.2f} ms; "
                  f"similarity step {r['sim_p50'] * 1e3:.2f} ms from the sections, {r['sim_rec_p50'] * 1e3:.1f} ms "
                  f"from every record; buckets read {r['sim_read_p50']:.0f} of {r['sim_buckets']}); "
                  f"imports {r['import_ms']:.1f} ms"
                  + ("" if args.no_commands else f"; stats {r['stats']:.2f} s, monitor --once {r['monitor']:.2f} s, "
                     f"report {fmt_s(r.get('report'))}") + f" (recorded in {fill_s:.0f} s)", flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return report(rows, args)


def report(rows, args) -> int:
    ms = lambda x: f"{x * 1e3:.1f} ms"  # noqa: E731
    ms2 = lambda x: f"{x * 1e3:.2f} ms"  # noqa: E731
    ok_shim = all(r["shim_p50"] <= 0.025 and r["shim_p50"] <= 2 * r["floor_p50"] and r["shim_p99"] <= 0.050 for r in rows)
    ok_co = all(r["co_p50"] <= 0.002 for r in rows)
    ok_choose = all(max(r["choose_p50"], r["choose_imp_p50"]) <= 0.001 for r in rows)
    ok_served = all(r["served_decide_p50"] <= 0.001 for r in rows)
    ok_served_co = all(r["served_co_p50"] <= 0.002 for r in rows)
    big = [r for r in rows if r["n"] >= 1_000_000]
    ok_snap = all(r["snapshot_bytes"] <= 5e6 for r in big) if big else None
    timed = [r for r in rows if "stats" in r]
    ok_cmd = all(r["stats"] <= 1 and r["monitor"] <= 1 and r.get("report", 99) <= 2 and r.get("report_build", 99) <= 2
                 for r in timed) if timed else None
    verdict = lambda ok: "met" if ok else ("NOT met" if ok is False else "not measured in this run")  # noqa: E731
    lines = [
        f"Mathlib-sized synthetic project: {N_MODULES} modules, {len(CONTEXTS)} contexts, events written through "
        "`Store.append_many` and compacted as `simpulse build` does (retention 20 segments). Synthetic events "
        "(no compiler ran); the latencies are real. **Shim**: the facade's `bin/lean` on a module compile of the "
        "toolchain whose `lean` is `/bin/true` (what is left of a compile is simpulse), each compile recording its event, "
        "its decision served by the build's server (`serve`, the default: the statistics loaded once, in memory; "
        "`simpulse/lake/serve.py`, started here on the state as `simpulse build` starts it) and, in the same "
        "interleaving, **deciding itself** (it loads the statistics: `serve` off, or a shim its server does not answer), "
        f"after {args.warmup} warm-up compiles (steady state: the tail grows and is checkpointed), interleaved with the "
        "**floor**: the same launcher starting the same venv Python (`-IS`), which execs the same `lean` at once. "
        f"{args.shim_runs} pairs per size; modules drawn from the 6,000, sources unchanged. In process, per size, "
        f"{args.reps} rounds: the load through `snapshot.view` (what the shim pays) and in full (`snapshot.json`), "
        "then `choose` and `choose` + `observe`, and `choose` again after the state imported its own export.",
        "",
        "| events | shim p50 | p95 | p99 | floor p50 | shim / floor | CPU: shim / floor p50 | deciding itself: p50, p99, / floor | shim imports (deciding itself) "
        "| load (view) p50 | load (full) p50 | choose p50 | after an import | choose+observe p50 | snapshot | view | disk |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
        *[f"| {r['n']:,} | **{ms(r['shim_p50'])}** | {ms(r['shim_p95'])} | **{ms(r['shim_p99'])}** | {ms(r['floor_p50'])} | "
          f"**{r['shim_p50'] / r['floor_p50']:.2f}×** | {ms(r['shim_cpu_p50'])} / {ms(r['floor_cpu_p50'])} | "
          f"{ms(r['own_p50'])}, {ms(r['own_p99'])}, {r['own_p50'] / r['floor_p50']:.2f}× | "
          f"{r['import_ms']:.1f} ms | {ms2(r['load_p50'])} | {ms2(r['full_p50'])} | "
          f"{ms2(r['choose_p50'])} | {ms2(r['choose_imp_p50'])} | {ms2(r['co_p50'])} | "
          f"{r['snapshot_bytes'] / 1e6:.2f} MB | {r['view_bytes'] / 1e6:.2f} MB | {r['disk_bytes'] / 1e6:.1f} MB |" for r in rows],
    ]
    lines += ["", "A decision served by the build's server (the shim's request to its reply, in the server: "
              "`decide` on the statistics it loaded once, its similarity index kept warm): "
              + "; ".join(f"{r['n']:,} events p50 {ms2(r['served_decide_p50'])}, p95 {ms2(r['served_decide_p95'])}, "
                          f"with its record (`observe`: appended and folded) p50 {ms2(r['served_co_p50'])}, "
                          f"folding first the compile a shim deciding for itself appended (`catch_up`) p50 "
                          f"{ms2(r['served_catch_up_p50'])}"
                          for r in rows) + ". Here every served decision follows such a compile (the shim "
              "deciding for itself is timed between two served ones); in a build, only a shim the server did not "
              "answer in time decides for itself, so the decision is timed without it."]
    lines += ["", "The similarity step (`similar.Index.context`: the neighbour index of the decided module's context, "
              "built once per process — so once per compile in the shim) through the view's sections, and on a copy of "
              "the same state whose view has none (every record read and decoded, as before the sections); the "
              f"buckets of the view a whole decision reads (of all of them); {max(10, args.reps // 4)} rounds, modules "
              "drawn from the 6,000. CPU times are this process's (`time.process_time`): the machine is shared.",
              "", "| events | modules indexed (p50) | step from sections p50 (CPU) | from every record p50 (CPU) "
              "| every record / sections (CPU) | choose CPU p50 | buckets read p50 (max) / of |",
              "|---:|---:|---:|---:|---:|---:|---:|",
              *[f"| {r['n']:,} | {r['sim_indexed_p50']:.0f} | {ms2(r['sim_p50'])} ({ms2(r['sim_cpu_p50'])}) | "
                f"{ms2(r['sim_rec_p50'])} ({ms2(r['sim_rec_cpu_p50'])}) | "
                f"{r['sim_rec_cpu_p50'] / max(r['sim_cpu_p50'], 1e-9):.1f}× | {ms2(r['choose_cpu_p50'])} | "
                f"{r['sim_read_p50']:.0f} ({r['sim_read_max']}) / {r['sim_buckets']} |" for r in rows]]
    cmp = [r for r in rows if "plain_shim_p50" in r]
    if cmp:
        lines += ["", "The shim deciding itself, end to end, with the view's similarity sections and on a copy of the same state whose "
                  "view has none (`--compare-plain`; the same number of compiles):", "",
                  "| events | shim p50 (CPU p50), sections | without sections | CPU without / with |",
                  "|---:|---:|---:|---:|",
                  *[f"| {r['n']:,} | {ms(r['own_p50'])} ({ms(r['own_cpu_p50'])}) | {ms(r['plain_shim_p50'])} "
                    f"({ms(r['plain_shim_cpu_p50'])}) | {r['plain_shim_cpu_p50'] / max(r['own_cpu_p50'], 1e-9):.2f}× |"
                    for r in cmp]]
    if timed:
        lines += ["", "The commands run on the state as a build leaves it (its end loads the statistics, folding "
                  "what the shims above appended, and checkpoints); each figure is the median of "
                  f"{COMMAND_RUNS} runs, but the first report's (it replays the whole log once).",
                  "", f"A clean build adds {N_MODULES:,} events. `simpulse build` keeps report.cache near the log while "
                  "it runs (every 30 s, a background replay when 1,000 events wait) and starts the replay of the rest "
                  "as it ends; the report right after it is timed as the build leaves the state (the replays during "
                  "the build done, the last one started: the report waits for it), and without any replay since the "
                  "last report (the whole build replayed by the report).",
                  "", "| events | `simpulse stats` | `simpulse monitor --once` | `simpulse report` (from report.cache) "
                  "| report right after a clean build | ... with the whole build to replay | first report (replays the whole log) |",
                  "|---:|---:|---:|---:|---:|---:|---:|",
                  *[f"| {r['n']:,} | {r['stats']:.2f} s | {r['monitor']:.2f} s | {fmt_s(r.get('report'))} | "
                    f"{fmt_s(r.get('report_build'))} | {fmt_s(r.get('report_build_all'))} | {fmt_s(r.get('report_first'))} |"
                    for r in timed]]
    lines += [
        "",
        f"Targets: shim p50 ≤ 25 ms and ≤ 2× the floor, p99 ≤ 50 ms — **{verdict(ok_shim)}**; a decision (choose, with "
        f"or without an import) ≤ 1 ms p50 — **{verdict(ok_choose)}** (in a process that loads the state; served by the "
        f"build, whose state is loaded once per build: **{verdict(ok_served)}**); choose + observe ≤ 2 ms p50 — "
        f"**{verdict(ok_co)}** (served: **{verdict(ok_served_co)}**); stats and monitor --once ≤ 1 s, report ≤ 2 s — **{verdict(ok_cmd)}**; snapshot ≤ 5 MB "
        f"at 10^6 — **{verdict(ok_snap)}**. Passthroughs (the shim failing open) during the runs: "
        f"{sum(r['passthrough'] for r in rows)}; served shims that decided themselves: {sum(r['decided_itself'] for r in rows)}.",
        "",
        f"Reproduce: `.venv/bin/python scripts/bench_store_scale.py --sizes {args.sizes} --shim-runs {args.shim_runs} "
        f"--reps {args.reps}{' --warmup %d' % args.warmup if args.warmup != 40 else ''}"
        f"{' --no-commands' if args.no_commands else ''}{' --compare-plain' if args.compare_plain else ''} --write-docs`",
    ]
    text = "\n".join(lines)
    print(text)
    if args.write_docs and not args.no_doc:
        write_section("bench_store_scale", "Store at scale: what one compile pays against history", text)
    return 0 if ok_co and ok_choose and ok_shim and ok_snap is not False and ok_cmd is not False else 1


if __name__ == "__main__":
    sys.exit(main())
