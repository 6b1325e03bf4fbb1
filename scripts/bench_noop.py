"""A no-op `simpulse build` against a no-op `lake build` on a big generated project (SIMULATED).

Issue 20's target: a no-op `simpulse build` at most 0.4 s over `lake build` at 6,000 modules.
A generated project (simulated/genproject.py) of `--modules` modules is built once on two
copies — plain `lake build` on one, `simpulse build` on the other (the sleep-based simulated
`lean` at a tiny time scale: only the build's outputs and simpulse's state matter here) —,
then each copy's no-op build is timed `--runs` times, interleaved (ABAB…, the order swapped
every pair). Reported: each side's median, and the median of the paired differences with a
95 % interval (the paired differences' 2.5th–97.5th percentiles over a bootstrap of 2,000).

    python scripts/bench_noop.py --modules 6000 --runs 9
    python scripts/bench_noop.py --modules 60 --runs 15 --edit     # the edit-and-rebuild loop

With `--edit`, each pair of builds follows an edit of the same module in both copies (a line
appended to the module with the fewest importers: it and what imports it rebuild, a chain of a
few compiles): what simpulse adds to the smallest real rebuild, its per-build and per-compile
costs with almost no compile time (the sleep-based lean at a tiny scale) to hide them.

Prints figures; changes no tracked file unless `--write-docs`. Every time is of the SIMULATED
toolchain (its `lake` is Python: a no-op over 6,000 modules takes it seconds).
"""

from __future__ import annotations

import argparse
import random
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

from _benchdoc import write_section  # noqa: E402

from simpulse.simulated import genproject as gp  # noqa: E402


def timed(cmd: list[str], cwd: Path, env: dict) -> float:
    t0 = time.perf_counter()
    p = subprocess.run(cmd, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    dt = time.perf_counter() - t0
    if p.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed ({p.returncode}):\n{p.stdout[-1500:]}\n{p.stderr[-1500:]}")
    return dt


def least_imported(src: Path) -> tuple[Path, list[str]]:
    """(the module file with the fewest importers, relative to `src`, and their module names): the
    generated project's aggregator root imports every module, so the least is one or a few."""
    files = sorted(p.relative_to(src) for p in src.rglob("*.lean") if len(p.relative_to(src).parts) > 1)
    names = {f: ".".join(f.with_suffix("").parts) for f in files}
    texts = {f: (src / f).read_text(encoding="utf-8") for f in files}
    texts.update({p.relative_to(src): p.read_text(encoding="utf-8") for p in src.glob("*.lean")})
    imports = {f: set(re.findall(r"^import\s+(\S+)", t, re.M)) for f, t in texts.items()}

    def importers(f: Path) -> list[str]:
        return sorted(".".join(g.with_suffix("").parts) for g, im in imports.items() if g != f and names[f] in im)
    best = min(files, key=lambda f: (len(importers(f)), str(f)))
    return best, importers(best)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--modules", type=int, default=6000)
    ap.add_argument("--runs", type=int, default=9, help="no-op builds per side (default 9)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--edit", action="store_true",
                    help="edit one module (the one with the fewest importers) before each pair: an edit rebuild")
    ap.add_argument("--write-docs", action="store_true", help="write this benchmark's section of docs/benchmarks.md")
    args = ap.parse_args(argv)
    from _simproject import simulated_env
    work = Path(tempfile.mkdtemp(prefix="simpulse-noop-"))
    try:
        _, env = simulated_env(work, SIMPULSE_SIM_SCALE="0.0005", SIMPULSE_SIM_SEED="noop")
        proj = gp.make_graph(args.modules, args.seed)
        src = gp.write_project(proj, work / "src", args.seed)
        plain, simp = work / "plain", work / "simpulse"
        shutil.copytree(src, plain)
        shutil.copytree(src, simp)
        t0 = time.perf_counter()
        timed(["lake", "build"], plain, env)
        t1 = time.perf_counter()
        timed([sys.executable, "-m", "simpulse", "build"], simp, env)
        t2 = time.perf_counter()
        print(f"clean builds: plain {t1 - t0:.1f} s, simpulse {t2 - t1:.1f} s", file=sys.stderr)
        edited, importers = least_imported(src) if args.edit else (None, [])
        a, b = [], []
        for i in range(args.runs):
            if edited is not None:
                for side in (plain, simp):
                    with open(side / edited, "a", encoding="utf-8") as f:
                        f.write(f"\n-- edit {i}\n")
            pair = [("plain", ["lake", "build"], plain), ("simpulse", [sys.executable, "-m", "simpulse", "build"], simp)]
            for name, cmd, cwd in (pair if i % 2 == 0 else pair[::-1]):
                (a if name == "plain" else b).append(timed(cmd, cwd, env))
        diffs = [y - x for x, y in zip(a, b)]
        rng = random.Random(0)
        boot = sorted(statistics.median(rng.choices(diffs, k=len(diffs))) for _ in range(2000))
        lo, hi = boot[50], boot[1949]
        d = statistics.median(diffs)
        if edited is not None:
            module = ".".join(edited.with_suffix("").parts)
            text = "\n".join([
                f"An edit rebuild of a generated project of {args.modules:,} modules (seed {args.seed}), each side "
                f"built once first; before each of {args.runs} pairs of builds (interleaved), a line appended to "
                f"`{module}` in both copies, which {len(importers)} module(s) import"
                f"{' (' + ', '.join(importers[:3]) + ')' if importers else ''}. SIMULATED toolchain, sleep-based lean "
                "at a tiny scale: what remains is Lake, and what simpulse adds per build and per compile.",
                "",
                "| `lake build` after the edit, median | `simpulse build` after the edit, median | simpulse − lake, "
                "median of pairs | 95 % interval |",
                "|---:|---:|---:|---:|",
                f"| {statistics.median(a):.2f} s | {statistics.median(b):.2f} s | **{d:+.2f} s** | {lo:+.2f} – {hi:+.2f} s |",
                "",
                f"Reproduce: `.venv/bin/python scripts/bench_noop.py --modules {args.modules} --runs {args.runs} "
                "--edit --write-docs`",
            ])
            print(text)
            if args.write_docs:
                write_section("bench_edit", "An edit rebuild: the smallest real rebuild (SIMULATED)", text)
            return 0
        verdict = "met" if hi <= 0.4 else ("NOT met" if lo > 0.4 else "undecided")
        text = "\n".join([
            f"A no-op build of a generated project of {args.modules:,} modules (seed {args.seed}), each side built "
            f"once first; {args.runs} no-op builds per side, interleaved. SIMULATED toolchain (its `lake` is Python).",
            "",
            "| `lake build` no-op, median | `simpulse build` no-op, median | simpulse − lake, median of pairs | 95 % interval |",
            "|---:|---:|---:|---:|",
            f"| {statistics.median(a):.2f} s | {statistics.median(b):.2f} s | **{d:+.2f} s** | {lo:+.2f} – {hi:+.2f} s |",
            "",
            f"Target (≤ +0.4 s at 6,000 modules): **{verdict}**"
            f"{'' if args.modules == 6000 else f' (measured at {args.modules:,} modules)'}.",
            "",
            f"Reproduce: `.venv/bin/python scripts/bench_noop.py --modules {args.modules} --runs {args.runs} --write-docs`",
        ])
        print(text)
        if args.write_docs:
            write_section("bench_noop", "A no-op build at scale (SIMULATED)", text)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
