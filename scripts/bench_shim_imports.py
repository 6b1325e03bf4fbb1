"""What the shim's imports cost a module compile, compared between checkouts of simpulse.

For each checkout (a directory holding `simpulse/` and `tests/conftest.py`), makes a scratch
copy of lean_fixtures/ with the SIMULATED toolchain, builds it once with that checkout's
simpulse, then compiles one module through that checkout's real shim `--runs` times (the
state is in steady state after the first few) with `python -X importtime`, interleaving the
checkouts so the machine's load hits every side alike. It reports, per checkout:

* the modules the shim imported in its last compile (steady state: the source is unchanged,
  so the classifier and `re` are not among them), and the sum of each one's *minimum* self time
  over the runs — the least noisy figure on a shared machine;
* the wall time of importing exactly those modules, in the same order, the way the facade's
  shim script does (through the bundle of `shim/bundle.py` and with the garbage collector off,
  where the checkout's shim does so), without
  the instrumentation (`python -IS -c`, median and minimum over `--runs` interpreter starts):
  what a compile pays for its imports.

    git worktree add /tmp/before <rev>
    python scripts/bench_shim_imports.py /tmp/before .

Prints figures; changes no tracked file (the scratch projects live in a temporary directory)
unless given ``--write-docs``, which writes its section of docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _benchdoc import write_section  # noqa: E402

SETUP = r'''
import json, sys
from pathlib import Path
sys.path.insert(0, "tests")
import conftest
from simpulse.simulated.toolchain import install
tmp = Path(sys.argv[1])
p = conftest.scratch_project(tmp, install(tmp / "sys"))
p.simpulse("build", "Fixtures.Basic", check=0)
env = p.shim_env(LEAN_PATH=str(p.root / ".lake/build/lib/lean"), SIMPULSE_SIM_SCALE="0")
print(json.dumps({"shim": str(p.facade / "simpulse-shim.py"), "env": env, "root": str(p.root),
                  "bundle": str(p.facade.resolve() / "simpulse-hot.marshal")}))
'''

# as the facade's shim script does: the bundle first (`shim/bundle.py`), where the checkout has one
TIMED = ("import sys, time\nt0 = time.perf_counter()\n{gc}sys.path.insert(0, {parent!r})\n"
         "try:\n    from simpulse.shim.bundle import install\n    install({bundle!r})\nexcept ImportError:\n    pass\n"
         "for m in {modules!r}:\n    __import__(m)\nprint(time.perf_counter() - t0)\n")


def setup(checkout: str, tmp: str, python: str) -> dict[str, object]:
    env = dict(os.environ, PYTHONPATH=os.path.abspath(checkout))
    out = subprocess.run([python, "-c", SETUP, tmp], cwd=checkout, env=env, capture_output=True, text=True,
                         check=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def compile_once(s: dict[str, object], python: str) -> list[tuple[str, int, bool]]:
    """One compile through the shim: (module, self µs, imported at top level) in import order."""
    out = f"{s['root']}/x"
    p = subprocess.run([python, "-X", "importtime", "-IS", str(s["shim"]), "Fixtures/Tiny.lean", "-R", ".",
                        "-o", f"{out}.olean", "-i", f"{out}.ilean", "-c", f"{out}.c", "--json"],
                       cwd=str(s["root"]), env=s["env"], capture_output=True, text=True)  # type: ignore[arg-type]
    if p.returncode != 0:
        raise SystemExit(f"the shim failed: {p.stderr[-500:]}")
    got = []
    for line in p.stderr.splitlines():
        if line.startswith("import time:") and "self [us]" not in line:
            self_us, _cumulative, name = line[len("import time:"):].split("|")
            got.append((name.strip(), int(self_us), not name[1:].startswith(" ")))
    return got


def timed_import(checkout: str, bundle: str, modules: list[str], python: str) -> float:
    # the collector off as well, where the checkout's shim script turns it off
    with open(os.path.join(checkout, "simpulse", "lake", "facade.py"), encoding="utf-8") as f:
        gc = "import gc\ngc.disable()\n" if "gc.disable()" in f.read() else ""
    code = TIMED.format(parent=os.path.abspath(checkout), bundle=bundle, modules=modules, gc=gc)
    return float(subprocess.run([python, "-IS", "-c", code], capture_output=True, text=True, check=True).stdout)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("checkouts", nargs="+", help="directories holding simpulse/ and tests/ (e.g. git worktrees)")
    ap.add_argument("--runs", type=int, default=21, help="compiles and timed imports per checkout (default 21)")
    ap.add_argument("--top", type=int, default=8, help="costliest modules listed per checkout")
    ap.add_argument("--python", default=sys.executable)
    ap.add_argument("--write-docs", action="store_true", help="write this benchmark's section of docs/benchmarks.md")
    args = ap.parse_args(argv)
    tmp = tempfile.mkdtemp(prefix="simpulse-bench-imports-")
    try:
        sides = {c: setup(c, os.path.join(tmp, str(i)), args.python) for i, c in enumerate(args.checkouts)}
        mins: dict[str, dict[str, int]] = {c: collections.defaultdict(lambda: 1 << 60) for c in args.checkouts}
        last: dict[str, list[str]] = {}
        roots: dict[str, list[str]] = {}
        for _ in range(args.runs):                    # interleaved: the machine's load hits every side
            for c in args.checkouts:
                got = compile_once(sides[c], args.python)
                for name, us, _top in got:
                    mins[c][name] = min(mins[c][name], us)
                last[c] = [name for name, _, _ in got]
                roots[c] = [name for name, _, top in got if top]    # importing these imports the rest
        walls: dict[str, list[float]] = {c: [] for c in args.checkouts}
        for _ in range(args.runs):
            for c in args.checkouts:
                walls[c].append(timed_import(c, str(sides[c]["bundle"]), roots[c], args.python))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    for c in args.checkouts:
        m = {k: mins[c][k] for k in last[c]}
        own = {k: v for k, v in m.items() if k == "simpulse" or k.startswith("simpulse.")}
        print(f"{c}: {len(m)} modules in a steady-state compile ({len(own)} of simpulse)")
        print(f"   sum of minimum self times (-X importtime): {sum(m.values()) / 1000:.1f} ms, "
              f"simpulse's {sum(own.values()) / 1000:.1f} ms")
        print(f"   importing them, uninstrumented: median {statistics.median(walls[c]) * 1000:.1f} ms, "
              f"min {min(walls[c]) * 1000:.1f} ms")
        top = sorted(m.items(), key=lambda kv: -kv[1])[:args.top]
        print("   costliest: " + ", ".join(f"{k} {v / 1000:.2f}" for k, v in top))
    if args.write_docs:
        write_section("bench_shim_imports", "The shim's imports, checkout against checkout",
                      _doc(args, last, mins, walls))
    if len(args.checkouts) > 1:
        first = set(last[args.checkouts[0]])
        for c in args.checkouts[1:]:
            print(f"{c} vs {args.checkouts[0]}: import wall median ratio "
                  f"{statistics.median(walls[c]) / statistics.median(walls[args.checkouts[0]]):.2f}")
            for label, names in (("only", set(last[c]) - first), ("not", first - set(last[c]))):
                if names:
                    print(f"   imported {label} by {c}: {', '.join(sorted(names))}")
    return 0


def _rev(checkout: str) -> str:
    p = subprocess.run(["git", "-C", checkout, "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
    return p.stdout.strip() or os.path.basename(os.path.abspath(checkout))


def _doc(args: argparse.Namespace, last: dict[str, list[str]], mins: dict[str, dict[str, int]],
         walls: dict[str, list[float]]) -> str:
    rows = ["| checkout | modules (of simpulse) | sum of minimum self times | simpulse's | "
            "imports, uninstrumented: median (min) | ratio to the first |", "|---|---:|---:|---:|---:|---:|"]
    base = statistics.median(walls[args.checkouts[0]])
    for c in args.checkouts:
        m = {k: mins[c][k] for k in last[c]}
        own = sum(v for k, v in m.items() if k == "simpulse" or k.startswith("simpulse."))
        n_own = sum(1 for k in m if k == "simpulse" or k.startswith("simpulse."))
        med = statistics.median(walls[c])
        rows.append(f"| `{_rev(c)}` | {len(m)} ({n_own}) | {sum(m.values()) / 1000:.1f} ms | {own / 1000:.1f} ms | "
                    f"{med * 1000:.1f} ms ({min(walls[c]) * 1000:.1f} ms) | {med / base:.2f}× |")
    revs = " ".join(_rev(c) for c in args.checkouts)
    return (f"What a module compile's imports cost, the shim's steady state (an unchanged source: no classifier), "
            f"{args.runs} interleaved compiles and {args.runs} interleaved timed imports per checkout on a shared "
            f"2-core machine. The project is built with the SIMULATED toolchain; the imports are real. "
            f"*Sum of minimum self times*: `python -X importtime`, each module's least self time over the runs. "
            f"*Uninstrumented*: the same modules imported the way the checkout's shim script imports them "
            f"(its bundle and collector setting, where it has them), timed inside a fresh `python -IS`.\n\n"
            + "\n".join(rows)
            + f"\n\nReproduce: `git worktree add /tmp/<rev> <rev>` for each of {revs}, then "
            f"`.venv/bin/python scripts/bench_shim_imports.py <the worktrees> --runs {args.runs} --write-docs`.\n")


if __name__ == "__main__":
    sys.exit(main())
