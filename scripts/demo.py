"""`make demo`: run `simpulse build` on lean_fixtures/ several times and show what was learned.

Uses the real `lake` when one is on PATH; otherwise installs the simulated toolchain and says
so loudly (every time it reports is then simulated). The fixtures are copied to a scratch
directory first, so the repository stays clean; that directory is removed at the end unless
`--keep DIR` names where to work (`make demo KEEP=DIR`), which is then kept.

    python scripts/demo.py [--rounds N] [--keep DIR] [--scale S]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def say(text: str) -> None:
    print(f"\n\033[1m== {text}\033[0m" if sys.stdout.isatty() else f"\n== {text}", flush=True)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=6, help="number of builds (default 6)")
    ap.add_argument("--keep", type=Path, help="work in this directory and keep it")
    ap.add_argument("--scale", type=float, default=0.5,
                    help="simulated toolchain only: time scale of the cost model (default 0.5)")
    args = ap.parse_args()
    if args.rounds < 1:
        ap.error("--rounds must be at least 1")
    if args.keep is not None:
        work = args.keep.expanduser().resolve()
        try:
            work.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            ap.error(f"--keep {args.keep}: {e.strerror or e}")
        return demo(args, work)
    with tempfile.TemporaryDirectory(prefix="simpulse-demo-") as tmp:
        return demo(args, Path(tmp))


def demo(args, work: Path) -> int:
    sys.path.insert(0, str(ROOT / "scripts"))
    from _simproject import fixture_copy, simulated_env
    project = fixture_copy(work)
    env = dict(os.environ)
    simpulse = [sys.executable, "-m", "simpulse"]

    if shutil.which("lake") and not os.environ.get("SIMPULSE_DEMO_SIMULATED"):
        say(f"Real Lean toolchain found: {shutil.which('lake')}")
    else:
        # the physical simulated lean (burns its modelled time as CPU, as Lean's elaboration
        # does), which the build objective assumes (`simpulse try`'s `simulated_env`)
        _, env = simulated_env(work, SIMPULSE_SIM_SCALE=os.environ.get("SIMPULSE_SIM_SCALE", str(args.scale)),
                               SIMPULSE_SIM_PHYSICAL=os.environ.get("SIMPULSE_SIM_PHYSICAL", "1"))
        say("No real `lake` on PATH: using simpulse's SIMULATED Lean toolchain. "
            "Its compile times come from the documented cost model (docs/cost-model.md), burned as CPU "
            "(its physical mode) and are real wall time, but every number below is SIMULATED.")

    edits = ["Fixtures/Basic.lean", "Fixtures/Arith.lean", "Fixtures/Lists.lean"]
    for i in range(1, args.rounds + 1):
        if i > 1 and i % 2 == 0:
            # An edit: only it and its dependents recompile.
            target = next((project / e for e in edits[(i // 2 - 1) % len(edits):] if (project / e).exists()), None)
            if target is None:
                target = sorted((project / "Fixtures").glob("*.lean"))[0]
            with open(target, "a", encoding="utf-8") as f:
                f.write(f"\n-- demo edit {i}\n")
            say(f"Build {i}/{args.rounds}: after editing {target.relative_to(project)}")
        elif i > 1:
            shutil.rmtree(project / ".lake", ignore_errors=True)
            say(f"Build {i}/{args.rounds}: clean rebuild")
        else:
            say(f"Build {i}/{args.rounds}: first build")
        rc = subprocess.call(simpulse + ["build"], cwd=project, env=env)
        if rc != 0:
            print(f"simpulse build failed with exit code {rc}", file=sys.stderr)
            return rc

    say("What simpulse learned (simpulse stats)")
    subprocess.call(simpulse + ["stats"], cwd=project, env=env)
    if args.keep:
        print(f"\nKept: the project and its state directory are in {project}; "
              f"`cd {project} && simpulse stats` shows them again.")
    else:
        print("\nThe demo worked in a temporary directory, removed now; "
              "`make demo KEEP=DIR` (or `scripts/demo.py --keep DIR`) keeps it in DIR.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
