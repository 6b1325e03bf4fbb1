"""What importing the shim's modules costs, compared between checkouts of simpulse.

For each checkout (a directory holding `simpulse/`), starts `python -IS -X importtime` N times
importing what a module compile imports (the shim, the learner, the store and its view loader,
the Lake argument rewriter, the catalogue; modules a checkout lacks are skipped) and reports, per
module, the *minimum* self time over the runs — the least noisy figure on a shared machine — and
their sums. Compare checkouts side by side in one run:

    git worktree add /tmp/before <rev>
    python scripts/bench_shim_imports.py /tmp/before .

Prints figures only; changes no file.
"""

from __future__ import annotations

import argparse
import collections
import subprocess
import sys

MODULES = ("simpulse.shim.main", "simpulse.learner", "simpulse.store.store", "simpulse.store.viewload",
           "simpulse.lake.leanargs", "simpulse.strategy.catalogue", "simpulse.strategy.allowlist",
           "simpulse.shim.running", "simpulse.model.objective")


def once(checkout: str, python: str) -> dict[str, int]:
    code = "import sys\nsys.path.insert(0, '.')\n" + "".join(
        f"try:\n    import {m}\nexcept ImportError:\n    pass\n" for m in MODULES)
    err = subprocess.run([python, "-IS", "-X", "importtime", "-c", code], cwd=checkout,
                         capture_output=True, text=True, check=True).stderr
    out: dict[str, int] = {}
    for line in err.splitlines():
        if line.startswith("import time:") and "self [us]" not in line:
            self_us, _cumulative, name = line[len("import time:"):].split("|")
            out[name.strip()] = int(self_us)
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("checkouts", nargs="+", help="directories holding simpulse/ (e.g. git worktrees)")
    ap.add_argument("--runs", type=int, default=15, help="interpreter starts per checkout (default 15)")
    ap.add_argument("--top", type=int, default=10, help="costliest modules listed per checkout")
    ap.add_argument("--python", default=sys.executable)
    args = ap.parse_args(argv)
    mins: dict[str, dict[str, int]] = {c: collections.defaultdict(lambda: 1 << 60) for c in args.checkouts}
    for _ in range(args.runs):                       # interleaved: the machine's load hits every side
        for c in args.checkouts:
            for name, us in once(c, args.python).items():
                mins[c][name] = min(mins[c][name], us)
    for c in args.checkouts:
        m = mins[c]
        own = {k: v for k, v in m.items() if k == "simpulse" or k.startswith("simpulse.")}
        print(f"{c}: {len(m)} modules ({len(own)} of simpulse); sum of minimum self times "
              f"{sum(m.values()) / 1000:.1f} ms, simpulse's {sum(own.values()) / 1000:.1f} ms")
        top = sorted(m.items(), key=lambda kv: -kv[1])[:args.top]
        print("   " + ", ".join(f"{k} {v / 1000:.2f}" for k, v in top))
    if len(args.checkouts) > 1:
        first = set(mins[args.checkouts[0]])
        for c in args.checkouts[1:]:
            extra = sorted(set(mins[c]) - first)
            if extra:
                print(f"imported by {c} only: {', '.join(extra)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
