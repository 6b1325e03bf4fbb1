#!/usr/bin/env python3
"""Run each fault of the state directory during a real `simpulse build` on the simulated
toolchain, and print one row per fault (issue 19).

    python scripts/fault_matrix.py                  # every fault; changes no tracked file
    python scripts/fault_matrix.py --only junk-200MB,clean
    python scripts/fault_matrix.py --write-docs     # and write the table into docs/benchmarks.md
    python scripts/fault_matrix.py --junk-mb 20     # a smaller junk tail (quicker)

Every row starts from the same project (a copy of lean_fixtures/) and the same state directory
(the state a first `simpulse build` left: its events, snapshot, facade), removes `.lake/` so the
build recompiles every module, applies the fault, runs `simpulse build` and measures:

* exit — the build's exit code (for "SIGKILL mid-build": the build run after the killed one);
* outputs = lake — the hash of `.lake/build` equals the one plain `lake build` produces;
* lost / dup — modules compiled by the build without a new compile event (where the fault leaves
  the state directory usable; "refused" where simpulse refuses it by design and the build runs
  without learning), and event ids present more than once in the whole state;
* earlier kept — the events recorded before the fault are all still there;
* state loads — afterwards, `Learner(store=Store(state)).stats` loads (with the number of
  compiles counted), or the store refuses the directory with its own clear error;
* time — the build's wall time against the clean build's (the same full rebuild, no fault; run
  first and again last, the faster of the two is the reference).

Faults that need root (a directory owned by someone else, read-only and full file systems made
with `mount`) are skipped, and say so, without it. Exit status 1 when a row misses a target.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import zlib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))
from _simproject import fixture_copy, simulated_env  # noqa: E402

from simpulse.store.store import Store, StoreError  # noqa: E402

SIMPULSE = [sys.executable, "-m", "simpulse"]
IS_ROOT = hasattr(os, "geteuid") and os.geteuid() == 0


# --------------------------------------------------------------------------- helpers


def tree_hash(root: Path) -> str:
    m = hashlib.sha256()
    if not root.is_dir():
        return "missing"
    for p in sorted(root.rglob("*")):
        if p.is_file():
            m.update(str(p.relative_to(root)).encode() + b"\0")
            m.update(p.read_bytes())
    return m.hexdigest()[:12]


def events(sdir: Path) -> list[dict]:
    return list(Store(sdir, create=False).iter_events())


def write_snapshot(sdir: Path, stats, cursor) -> None:
    """A snapshot with a VALID checksum around the given statistics and cursor."""
    body = json.dumps(stats, separators=(",", ":")).encode()
    head = json.dumps({"schema": 1, "cursor": cursor, "written": time.time(),
                       "stats_crc": f"{zlib.crc32(body):08x}"}, separators=(",", ":")).encode()
    (sdir / "snapshot.json").write_bytes(head[:-1] + b',"stats":' + body + b"}\n")


def snapshot(sdir: Path) -> dict:
    return json.loads((sdir / "snapshot.json").read_bytes())


def load_state(sdir: Path) -> str:
    """How the state loads afterwards: '✓ N compiles', or the store's refusal, or ✗ <error>."""
    try:
        from simpulse.learner import Learner
        st = Learner(None, store=Store(sdir, create=False)).stats
        return f"✓ {st['counters']['compiles']} compiles"
    except StoreError as e:
        return f"refused ({type(e).__name__})" if "does not exist" not in str(e) else "✓ absent (deleted)"
    except Exception as e:  # noqa: BLE001 - the point of the column
        return f"✗ {type(e).__name__}: {e}"


class Mount:
    """A mount over `target` for the duration of a row (root only); always undone."""

    def __init__(self):
        self.mounted = []

    def __call__(self, *args):
        subprocess.run(["mount", *args], check=True, capture_output=True)
        self.mounted.append(args[-1])

    def undo(self):
        for t in reversed(self.mounted):
            subprocess.run(["umount", "-l", str(t)], capture_output=True)
        self.mounted.clear()


# --------------------------------------------------------------------------- faults
# Each fault: (name, description, apply(ctx) -> None, expectation)
#   apply may set ctx["recording"] = False: simpulse refuses or cannot write the state
#   directory by design, the build runs without learning ("refused" instead of lost counts).


def f_clean(ctx):
    pass


def f_damaged_lines(ctx):
    log = ctx["sdir"] / "events.log"
    raw = bytearray(log.read_bytes())
    rng = random.Random(19)
    lines = [i for i, b in enumerate(raw) if b == 0x0A]
    for nl in rng.sample(lines[1:-1], min(10, len(lines) - 2)):   # one flipped byte in 10 lines
        raw[nl - 3] ^= 0x10
    log.write_bytes(bytes(raw))
    ctx["expect_kept_lost"] = 10


def f_junk(ctx):
    rng = random.Random(19)
    block = bytearray()
    while len(block) < 1 << 20:
        k = rng.randint(20, 200)
        block += bytes(rng.randrange(32, 127) for _ in range(k)) + b"\n"
    with open(ctx["sdir"] / "events.log", "ab") as f:
        for _ in range(ctx["junk_mb"]):
            f.write(block)


def f_snapshot_empty_stats(ctx):
    s = snapshot(ctx["sdir"])
    write_snapshot(ctx["sdir"], {}, s["cursor"])


def f_snapshot_strings(ctx):
    s = snapshot(ctx["sdir"])
    st = s["stats"]
    st["counters"] = {k: str(v) for k, v in st["counters"].items()}
    write_snapshot(ctx["sdir"], st, s["cursor"])


def f_snapshot_seq(ctx):
    s = snapshot(ctx["sdir"])
    write_snapshot(ctx["sdir"], s["stats"], dict(s["cursor"], seq=10 ** 15))


def f_fallback_x(ctx):
    """An event line with a valid checksum and "fallback_wall": "x" (the issue's fold row)."""
    Store(ctx["sdir"], fsync=False).append({
        "kind": "compile", "context": "arith", "strategy": "no-linters", "module": "Fixtures.Arith",
        "toolchain": ctx["toolchain"], "wall": 1.0, "outcome": "strategy_failed", "fallback_wall": "x",
        "ts": time.time(), "id": "fault-fallback-x"})
    ctx["earlier_extra"] = 1


def f_log_symlink(ctx):
    target = ctx["work"] / "elsewhere.log"
    target.write_bytes(b"not simpulse's\n")
    os.chmod(target, 0o644)
    log = ctx["sdir"] / "events.log"
    ctx["saved_log"] = log.read_bytes()
    log.unlink()
    os.symlink(target, log)
    ctx["recording"] = False
    ctx["check"] = lambda: ("target untouched" if target.read_bytes() == b"not simpulse's\n"
                            and (target.stat().st_mode & 0o777) == 0o644 else "✗ TARGET WRITTEN")


def f_dir_0755(ctx):
    os.chmod(ctx["sdir"], 0o755)
    ctx["check"] = lambda: "dir now 0%o" % (ctx["sdir"].stat().st_mode & 0o777)


def f_dir_other_owner(ctx):
    os.chown(ctx["sdir"], 65534, 65534)
    ctx["recording"] = False


def f_dir_symlink(ctx):
    real = ctx["work"] / "state-elsewhere"
    if real.exists():
        shutil.rmtree(real)
    shutil.move(str(ctx["sdir"]), real)
    os.symlink(real, ctx["sdir"])
    ctx["recording"] = False
    ctx["kept_dir"] = real


def f_readonly(ctx):
    m = ctx["mount"]
    m("--bind", str(ctx["sdir"]), str(ctx["sdir"]))
    m("-o", "remount,bind,ro", str(ctx["sdir"]))
    ctx["recording"] = False


def f_full(ctx):
    """A tmpfs holding a copy of the state, filled up: every write gets ENOSPC."""
    sdir = ctx["sdir"]
    keep = ctx["work"] / "state-copy"
    if keep.exists():
        shutil.rmtree(keep)
    shutil.copytree(sdir, keep, symlinks=True)
    size = sum(p.lstat().st_size for p in keep.rglob("*")) + (1 << 20)
    ctx["mount"]("-t", "tmpfs", "-o", f"size={size},mode=0700", "simpulse-full", str(sdir))
    subprocess.run(["cp", "-a", f"{keep}/.", str(sdir)], check=True)
    try:
        with open(sdir / "filler", "wb") as f:
            while True:
                f.write(b"\0" * 65536)
                f.flush()
    except OSError:
        pass
    ctx["recording"] = False
    ctx["restore"] = lambda: (ctx["mount"].undo(), shutil.rmtree(sdir), shutil.copytree(keep, sdir, symlinks=True))


def f_deleted(ctx):
    ctx["during"] = lambda proc: (time.sleep(ctx["t_clean"] * 0.3), shutil.rmtree(ctx["sdir"], ignore_errors=True))
    ctx["recording"] = False
    ctx["kept_skip"] = "deleted"


def f_sigkill(ctx):
    """A build SIGKILLed (its whole process group: simpulse, lake, shims, leans) part-way; the
    row's build is the one run after it."""
    p = subprocess.Popen(SIMPULSE + ["build"], cwd=ctx["proj"], env=ctx["env"], start_new_session=True,
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(ctx["t_clean"] * 0.45)
    os.killpg(p.pid, signal.SIGKILL)
    p.wait()
    ctx["note"] = f"killed build exit {p.returncode}"


def f_two_builds(ctx):
    ctx["parallel"] = True


FAULTS = [
    ("clean", "no fault, first", f_clean, False),
    ("damaged-lines", "10 event lines with a flipped byte", f_damaged_lines, False),
    ("junk-200MB", "200 MB of corrupt lines appended to events.log", f_junk, False),
    ("snapshot-{}", "snapshot: statistics `{}`, valid checksum", f_snapshot_empty_stats, False),
    ("snapshot-strings", "snapshot: strings for numbers in counters, valid checksum", f_snapshot_strings, False),
    ("snapshot-seq-1e15", "snapshot: cursor seq 10^15, valid checksum", f_snapshot_seq, False),
    ("event-fallback-x", "an event line with `\"fallback_wall\": \"x\"`, valid checksum", f_fallback_x, False),
    ("events.log-symlink", "events.log a symlink to a 0644 file elsewhere", f_log_symlink, False),
    ("dir-0755", "state directory 0755", f_dir_0755, False),
    ("dir-other-owner", "state directory owned by another user", f_dir_other_owner, True),
    ("dir-symlink", "state directory a symlink to a directory", f_dir_symlink, False),
    ("read-only", "state directory on a read-only mount", f_readonly, True),
    ("deleted", "state directory deleted mid-build", f_deleted, False),
    ("full", "state directory on a full file system", f_full, True),
    ("sigkill", "SIGKILL mid-build, then build again", f_sigkill, False),
    ("two-builds", "two builds at once", f_two_builds, False),
]


# --------------------------------------------------------------------------- running


def run_build(ctx) -> tuple[int, float, str]:
    t = time.perf_counter()
    if ctx.get("parallel"):
        ps = [subprocess.Popen(SIMPULSE + ["build"], cwd=ctx["proj"], env=ctx["env"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE) for _ in range(2)]
        outs = [p.communicate()[1] for p in ps]
        rc = max(p.returncode for p in ps)
        err = b"".join(outs)
    else:
        p = subprocess.Popen(SIMPULSE + ["build"], cwd=ctx["proj"], env=ctx["env"],
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        if ctx.get("during"):
            ctx["during"](p)
        err = p.communicate()[1]
        rc = p.returncode
    return rc, time.perf_counter() - t, err.decode("utf-8", "replace")


def warning_of(stderr: str) -> str:
    for line in stderr.splitlines():
        if "warning" in line or "error" in line.lower():
            return line.strip()[:110]
    return ""


def row(name, desc, apply, ctx_base, template_state: Path, lake_hash: str) -> dict:
    work = ctx_base["work"]
    proj = fixture_copy(work)
    sdir = proj / ".simpulse"
    shutil.copytree(template_state, sdir, symlinks=True)
    os.chmod(sdir, 0o700)
    before = {e.get("id") for e in events(sdir)}
    ctx = dict(ctx_base, proj=proj, sdir=sdir, recording=True, mount=Mount())
    try:
        apply(ctx)
        rc, secs, err = run_build(ctx)
        # how the state loads afterwards, with the fault still in place
        state = load_state(sdir)
        note = ctx.get("note") or (ctx["check"]() if ctx.get("check") else "")
        if ctx.get("restore"):
            ctx["restore"]()            # e.g. copy what the full file system holds back out
    finally:
        ctx["mount"].undo()
    # then the fault is removed, to count what was recorded and kept
    if name == "dir-other-owner":
        os.chown(sdir, os.geteuid(), os.getegid())
    if name == "events.log-symlink":
        (sdir / "events.log").unlink()
        (sdir / "events.log").write_bytes(ctx["saved_log"])
        os.chmod(sdir / "events.log", 0o600)
    if name == "dir-symlink":
        sdir.unlink()
        shutil.move(str(ctx["kept_dir"]), sdir)
    out_hash = tree_hash(proj / ".lake" / "build")
    lib = proj / ".lake" / "build" / "lib" / "lean"
    modules = sorted(p.relative_to(lib).with_suffix("").as_posix().replace("/", ".") for p in lib.rglob("*.olean"))
    try:
        evs = events(sdir) if sdir.exists() else []
        ev_err = ""
    except StoreError as e:
        evs, ev_err = [], str(e)
    ids = [e.get("id") for e in evs]
    dup = len(ids) - len(set(ids))
    new = [e for e in evs if e.get("id") not in before and e.get("kind") == "compile"
           and e.get("id") != "fault-fallback-x"]
    recorded_modules = {e.get("module") for e in new}
    if ctx["recording"]:
        lost = len(set(modules) - recorded_modules)
        lost_s = str(lost)
    else:
        lost = 0
        lost_s = f"dir gone ({len(new)} rec.)" if name == "deleted" else f"refused ({len(new)} rec.)"
    if ctx.get("kept_skip"):
        kept_s, kept_ok = "n/a (" + ctx["kept_skip"] + ")", True
    else:
        missing = len(before - {e.get("id") for e in evs})
        allowed = ctx.get("expect_kept_lost", 0)       # lines the fault itself destroyed
        kept_ok = missing <= allowed
        kept_s = "✓" if missing == 0 else f"{missing} destroyed by the fault" if kept_ok else f"✗ {missing} missing"
    warn = warning_of(err)
    return {"fault": name, "what": desc, "exit": rc, "outputs_equal": out_hash == lake_hash, "lost": lost,
            "lost_s": lost_s, "dup": dup, "kept": kept_s, "kept_ok": kept_ok, "state": state,
            "seconds": secs, "note": "; ".join(x for x in (note, warn, ev_err) if x)}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--only", help="comma-separated fault names (clean is always run first)")
    ap.add_argument("--junk-mb", type=int, default=200)
    ap.add_argument("--write-docs", action="store_true", help="write the table into docs/benchmarks.md")
    ap.add_argument("--keep", action="store_true", help="keep the scratch directory")
    a = ap.parse_args(argv)
    only = set(a.only.split(",")) | {"clean"} if a.only else None

    work = Path(tempfile.mkdtemp(prefix="simpulse-faults-"))
    try:
        sysroot, env = simulated_env(work)
        proj = fixture_copy(work)
        t = time.perf_counter()
        subprocess.run([str(sysroot / "bin" / "lake"), "build"], cwd=proj, env=env, check=True, capture_output=True)
        t_lake = time.perf_counter() - t
        lake_hash = tree_hash(proj / ".lake" / "build")
        # the state every row starts from: what a first build leaves
        shutil.rmtree(proj / ".lake")
        subprocess.run(SIMPULSE + ["build"], cwd=proj, env=env, check=True, capture_output=True)
        assert tree_hash(proj / ".lake" / "build") == lake_hash, "a clean simpulse build differs from lake build"
        template = work / "state-template"
        shutil.copytree(proj / ".simpulse", template, symlinks=True)
        toolchain = next((e.get("toolchain") for e in events(template) if e.get("toolchain")), "unknown")
        n_before = len(events(template))
        ctx = {"work": work, "env": env, "junk_mb": a.junk_mb, "toolchain": toolchain, "t_clean": 10.0}
        print(f"simulated toolchain; plain `lake build`: {t_lake:.1f} s, hash {lake_hash}; "
              f"state before each row: {n_before} events", flush=True)
        rows = []
        for name, desc, apply, needs_root in FAULTS:
            if only is not None and name not in only:
                continue
            if name == "junk-200MB" and a.junk_mb != 200:
                desc = desc.replace("200 MB", f"{a.junk_mb} MB")
            if needs_root and not IS_ROOT:
                rows.append({"fault": name, "what": desc, "skipped": "needs root"})
                print(f"{name}: skipped (needs root)", flush=True)
                continue
            r = row(name, desc, apply, ctx, template, lake_hash)
            if name == "clean":
                ctx["t_clean"] = r["seconds"]
            r["ratio"] = r["seconds"] / ctx["t_clean"]
            rows.append(r)
            print(f"{name}: exit {r['exit']} outputs {'=' if r['outputs_equal'] else '≠'} lost {r['lost_s']} "
                  f"dup {r['dup']} kept {r['kept']} state {r['state']} {r['seconds']:.1f}s ({r['ratio']:.2f}×) {r['note']}",
                  flush=True)
        # the clean build again, at the end: the reference is the faster of the two (the machine
        # is shared and noisy; the faster reference makes every other row's ratio the larger)
        again = row("clean", "no fault, again at the end", f_clean, ctx, template, lake_hash)
        cleans = [rows[0]["seconds"], again["seconds"]]
        ctx["t_clean"] = min(cleans)
        rows.append(again)
        for r in rows:
            if not r.get("skipped"):
                r["ratio"] = r["seconds"] / ctx["t_clean"]
        print(f"clean again: {again['seconds']:.1f}s; reference {ctx['t_clean']:.1f}s", flush=True)
    finally:
        if not a.keep:
            shutil.rmtree(work, ignore_errors=True)
        else:
            print("kept", work)

    ok_all = True
    lines = ["| fault | exit | outputs = `lake build` | events lost | dup | earlier events | state loads afterwards | time vs clean | ok | notes |",
             "|---|---:|:---:|---|---:|---|---|---:|:---:|---|"]
    for r in rows:
        if r.get("skipped"):
            lines.append(f"| {r['what']} | | | | | | | | skipped | {r['skipped']} |")
            continue
        ok = (r["exit"] == 0 and r["outputs_equal"] and r["lost"] == 0 and r["dup"] == 0 and r["kept_ok"]
              and not r["state"].startswith("✗") and r["ratio"] <= 2.0 and "✗" not in r["note"])
        ok_all &= ok
        lines.append(f"| {r['what']} | {r['exit']} | {'✓' if r['outputs_equal'] else '✗'} | {r['lost_s']} | {r['dup']} | "
                     f"{r['kept']} | {r['state']} | {r['seconds']:.1f} s ({r['ratio']:.2f}×) | {'✓' if ok else '✗'} | "
                     f"{r['note'].replace('|', '/')} |")
    text = "\n".join([
        f"Each row: a copy of `lean_fixtures/` with the state a first `simpulse build` left ({n_before} events), "
        f"`.lake/` removed, the fault applied, then `simpulse build` on the simulated toolchain (plain `lake build` "
        f"of the same project: {t_lake:.1f} s). \"refused\": simpulse does not use the state directory, by design "
        f"(the build runs, nothing is learned; \"rec.\" counts the events recorded anyway). Targets: exit 0, outputs "
        f"identical, nothing lost or duplicated, the state loads, every row within 2× the clean build "
        f"(the faster of two clean builds, first and last: {' and '.join(f'{x:.1f} s' for x in cleans)}).",
        "",
        *lines,
        "",
        f"All rows met: **{'yes' if ok_all else 'NO'}**. Reproduce: `.venv/bin/python scripts/fault_matrix.py` "
        f"(root, for the mount and chown rows).",
    ])
    print()
    print(text)
    if a.write_docs:
        from _benchdoc import write_section
        write_section("fault_matrix", "Faults of the state directory during a build (fault_matrix.py)", text)
    return 0 if ok_all else 1


if __name__ == "__main__":
    sys.exit(main())
