"""`simpulse bench FILE`: a hyperfine-grade side-by-side of baseline and strategies on one module.

What it does, exactly:

1. FILE must be a module of a Lake workspace **whose imports are built** (`simpulse build` or
   `lake build` first): bench never builds anything itself, it checks that every imported
   module's ``.olean`` is on the search path and refuses with the module to build otherwise.
2. It runs the real compiler (``<sysroot>/bin/lean`` of `find_toolchain`, never the facade)
   directly, in the workspace, with Lake's argument list for the module — the package's and
   library's ``leanOptions``/``moreLeanArgs``/``weakLeanArgs`` from ``lakefile.toml`` (not
   ``lakefile.lean``), or the module's setup JSON when the build left one (newest Lake) — with
   ``LEAN_PATH=<sysroot>/lib/lean:<ws>/.lake/build/lib/lean[:<ws>/.lake/packages/*/.lake/build/lib/lean]``
   as `lake env` sets it, and ``-o/-i/-c`` pointing into a temporary directory: the build's
   artefacts are never touched.
3. Arms: baseline, baseline again (the A/A arm: the noise floor), and each strategy (default:
   every active one). Runs are interleaved round by round (A B C … A B C …); the first
   ``--warmup`` rounds are discarded. A strategy that breaks the module is reported and not run
   again; a baseline that fails stops the benchmark.
4. Statistics (`simpulse.stats.bench`): mean, median, stddev, min, max per arm, runs more than
   3 MAD from the median flagged as outliers, and each arm's time ratio to the baseline (ratio of
   geometric means) with a 95% Welch t-interval on log-times.
5. Unless ``--no-learn``, each strategy's result feeds the learner as one paired event (see
   `bench_event`): ``wall`` = the strategy's median, ``baseline_wall`` = the interleaved
   baseline's median.
"""

from __future__ import annotations

import glob
import math
import os
import re
import resource
import subprocess
import tempfile
import time
from pathlib import Path

import typer

from simpulse.commands._common import (JSON_OPTION, STATE_DIR_OPTION, fit_table, fmt_seconds, plural, print_json,
                                       progress_bar)

# Bench results are paired observations (baseline_wall = the interleaved baseline's median);
# the learner's fold treats kind "bench" like "record" and counts them under `benches`.
BENCH_EVENT_KIND = "bench"
CORE_PREFIXES = ("Init", "Std", "Lean", "Lake")
AA = "baseline (A/A)"


# --------------------------------------------------------------------------- the module's command

def header_imports(source: bytes) -> list[str]:
    """The modules a Lean file imports (its header), comments and strings never counted."""
    text = source.decode("utf-8", errors="replace")
    out, i, n, depth = [], 0, len(text), 0
    while i < n:
        if text.startswith("/-", i):
            depth += 1
            i += 2
        elif depth and text.startswith("-/", i):
            depth -= 1
            i += 2
        elif depth:
            i += 1
        elif text.startswith("--", i):
            j = text.find("\n", i)
            i = n if j < 0 else j
        else:
            out.append(text[i])
            i += 1
    tokens = re.findall(r"«[^»]*»(?:\.(?:«[^»]*»|[^\s.«]+))*|\S+", "".join(out))
    imports, k = [], 0
    while k < len(tokens):
        t = tokens[k]
        if t in ("prelude", "module", "public", "private", "meta"):
            k += 1
            continue
        if t != "import":
            break
        k += 1
        while k < len(tokens) and tokens[k] in ("all", "runtime", "meta", "public"):
            k += 1
        if k < len(tokens):
            imports.append(tokens[k].replace("«", "").replace("»", ""))
            k += 1
    return imports


def lean_path_dirs(sysroot: Path, ws: Path) -> list[str]:
    dirs = [str(sysroot / "lib" / "lean"), str(ws / ".lake" / "build" / "lib" / "lean")]
    dirs += sorted(glob.glob(str(ws / ".lake" / "packages" / "*" / ".lake" / "build" / "lib" / "lean")))
    return dirs


def check_imports_built(mf, dirs: list[str]) -> list[str]:
    from simpulse.errors import SimpulseError
    imports = header_imports(mf.source)
    for imp in imports:
        if imp.split(".")[0] in CORE_PREFIXES:
            continue
        rel = Path(*imp.split(".")).with_suffix(".olean") if "." in imp else Path(imp + ".olean")
        if not any((Path(d) / rel).is_file() for d in dirs):
            raise SimpulseError(f"{mf.rel} imports {imp}, which is not built (no {rel} on the search path): "
                                f"run `simpulse build` (or `lake build {imp}`) first; bench never builds")
    return imports


def lakefile_args(ws: Path, module: str) -> tuple[list[str], str | None]:
    """(weakLeanArgs + leanArgs) of `module` as Lake passes them, and a note when they could not
    be read (lakefile.lean, unreadable lakefile.toml)."""
    from simpulse.lake.lakefile import module_lean_args, read_lakefile

    data, note = read_lakefile(ws)
    if data is None:
        return [], f"{note}: the package's leanOptions are not applied"
    return module_lean_args(data, module), None


def module_argv(mf, ws: Path, out_dir: Path) -> tuple[list[str], str | None]:
    """Lake's argument list for the module, with its outputs redirected into `out_dir`."""
    stem = out_dir / "out" / Path(*mf.module.split("."))
    stem.parent.mkdir(parents=True, exist_ok=True)
    outs = ["-o", str(stem) + ".olean", "-i", str(stem) + ".ilean", "-c", str(stem) + ".c"]
    setup = ws / ".lake" / "build" / "ir" / (str(Path(*mf.module.split("."))) + ".setup.json")
    args, note = lakefile_args(ws, mf.module)
    if setup.is_file():
        # Newest Lake: options and imports live in the setup file; read only (a strategy's
        # options go into a private copy in out_dir).
        more = [a for a in args if not a.startswith("-D")]
        return [*more, mf.rel, *outs, "--setup", str(setup), "--json"], None
    root = os.path.relpath(mf.root, ws)
    return [*args, mf.rel, "-R", root, *outs, "--json"], note


# --------------------------------------------------------------------------- running

class Arm:
    def __init__(self, name: str, strategy, argv: list[str], *, aa: bool = False):
        self.name = name
        self.strategy = strategy
        self.argv = argv
        self.aa = aa
        self.times: list[float] = []
        self.cpu: list[float] = []
        self.warmup: list[float] = []
        self.error: str | None = None
        self.failed_wall: float | None = None

    @property
    def is_baseline(self) -> bool:
        return self.strategy.is_baseline


def _cpu() -> float:
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def run_once(lean: Path, argv: list[str], *, cwd: Path, env: dict) -> tuple[int, float, float, bytes, bytes]:
    c0 = _cpu()
    t0 = time.perf_counter()
    p = subprocess.run([str(lean), *argv], cwd=cwd, env=env, capture_output=True)
    wall = time.perf_counter() - t0
    return p.returncode, wall, _cpu() - c0, p.stdout, p.stderr


def run_bench(arms: list[Arm], *, lean: Path, cwd: Path, env: dict, runs: int, warmup: int, progress=None) -> None:
    from simpulse.errors import SimpulseError
    from simpulse.lake.messages import first_error
    for rnd in range(warmup + runs):
        for arm in arms:
            if arm.error is not None:
                continue
            if progress is not None:
                progress(arm, rnd < warmup)
            rc, wall, cpu, out, err = run_once(lean, arm.argv, cwd=cwd, env=env)
            if rc != 0:
                msg = first_error(out, err) or f"lean exited with code {rc}"
                if arm.is_baseline:
                    raise SimpulseError(f"the module does not compile with the baseline ({msg}): nothing to compare")
                arm.error, arm.failed_wall = msg, wall
                continue
            if rnd < warmup:
                arm.warmup.append(wall)
            else:
                arm.times.append(wall)
                arm.cpu.append(cpu)


def analyse(arms: list[Arm]) -> list[dict]:
    from simpulse.stats import bench as B
    base = arms[0]
    rows = []
    for arm in arms:
        s = B.summarize(arm.times)
        row = {"name": arm.name, "strategy": arm.strategy.name, "aa": arm.aa, "times": arm.times,
               "warmup_times": arm.warmup, "cpu_times": arm.cpu, **s,
               "outliers": B.outliers(arm.times), "failed": arm.error is not None, "error": arm.error}
        if arm is base:
            row.update(ratio=1.0, ci=[1.0, 1.0], speedup=1.0, speedup_ci=[1.0, 1.0], verdict="reference", df=None)
        elif arm.times:
            r = B.log_ratio_ci(arm.times, base.times)
            row.update(ratio=r["ratio"], ci=r["ci"], speedup=1.0 / r["ratio"], df=r["df"],
                       speedup_ci=[_inverse(r["ci"][1]), _inverse(r["ci"][0])], verdict=B.verdict(r["ci"]))
        else:
            row.update(ratio=None, ci=[None, None], speedup=None, speedup_ci=[None, None], verdict="failed", df=None)
        if arm.error is not None:
            row["verdict"] = "failed"          # broke the module at some run: never "faster"
        for key in ("ci", "speedup_ci"):
            row[key] = [None if (x is None or not math.isfinite(x)) else x for x in row[key]]
        rows.append(row)
    return rows


def _inverse(x):
    return None if x is None or not (x > 0) else 1.0 / x


def bench_event(row: dict, base_row: dict, *, mf, toolchain, ws: Path) -> dict:
    """One paired observation for the learner (folded like `simpulse record`)."""
    ev = {"v": 1, "kind": BENCH_EVENT_KIND, "source": "bench", "id": os.urandom(8).hex(), "ts": time.time(),
          "toolchain": toolchain.githash, "module": mf.module, "path": mf.rel,
          "source_hash": mf.classification.source_hash, "context": mf.context, "strategy": row["strategy"],
          "baseline_wall": round(base_row["median"], 6), "runs": row["n"], "simulated": toolchain.simulated}
    if row["failed"]:
        ev.update(outcome="strategy_failed", wall=round(row["failed_wall"], 6),
                  fallback_wall=round(base_row["median"], 6), error=row["error"])
    else:
        ev.update(outcome="ok", wall=round(row["median"], 6))
    return ev


# --------------------------------------------------------------------------- rendering

def _ms(x) -> str:
    return "—" if x is None else fmt_seconds(x)


def _ci(row, nd: int = 2) -> str:
    lo, hi = row["speedup_ci"]
    if lo is None or hi is None:
        return "—"
    return f"{lo:.{nd}f}–{hi:.{nd}f}"


def _speedup(row) -> str:
    """The arm's speedup over the baseline (> 1 is faster) with its 95% interval."""
    if row["speedup"] is None:
        return "—"
    return f"{row['speedup']:.3f}×" + (f" [{_ci(row, 3)}]" if row["speedup_ci"][0] is not None else "")


VERDICTS = {"faster": "[green]faster[/green]", "slower": "[red]slower[/red]", "same": "n.s.",
            "reference": "reference", "unknown": "?"}
# Columns in the order they are given up when the terminal is too narrow for all of them.
OPTIONAL_COLUMNS = ("mean ± σ", "min–max")


def table(data: dict, width: int | None = None):
    """The results table; columns of OPTIONAL_COLUMNS are left out, in that order, until it fits
    `width`: a number is never cut."""
    from rich import box
    from rich.markup import escape
    from rich.table import Table
    base_med = data["arms"][0]["median"] or 1.0
    unit, k, nd = ("ms", 1000.0, 1 if base_med < 0.01 else 0) if base_med < 1 else ("s", 1.0, 2)

    def f(x):
        return "—" if x is None else f"{x * k:.{nd}f}"

    def build(dropped):
        t = Table(header_style="bold", box=box.SIMPLE_HEAD, pad_edge=False,
                  caption=f"times in {unit}; speedup = baseline's time / arm's (geometric means, > 1 is "
                          f"faster), 95% Welch CI on log-times"
                          + (f"; not shown for width: {', '.join(dropped)}" if dropped else ""),
                  caption_justify="left")
        cols = [("arm", "left"), ("median", "right"), ("mean ± σ", "right"), ("min–max", "right"),
                ("speedup", "right"), ("95% CI", "right"), ("verdict", "left")]
        keep = [c for c in cols if c[0] not in dropped]
        for col, j in keep:
            t.add_column(col, justify=j, no_wrap=col not in ("arm", "verdict"))
        for r in data["arms"]:
            if r["failed"]:
                cells = {"arm": escape(r["name"]), "verdict": "[red]broke it[/red]"}
            else:
                sd = f" ± {f(r['stddev'])}" if r["stddev"] is not None else ""
                cells = {"arm": escape(r["name"]), "median": f(r["median"]), "mean ± σ": f"{f(r['mean'])}{sd}",
                         "min–max": f"{f(r['min'])}–{f(r['max'])}",
                         "speedup": "—" if r["speedup"] is None else f"{r['speedup']:.3f}×",
                         "95% CI": _ci(r), "verdict": "A/A noise" if r["aa"] else VERDICTS.get(r["verdict"], r["verdict"])}
            t.add_row(*[cells.get(c, "—") for c, _ in keep])
        return t

    return fit_table(build, width, OPTIONAL_COLUMNS)


def render(data: dict, console) -> None:
    from rich.markup import escape
    if data["simulated"]:
        console.print("[bold yellow]SIMULATED toolchain: every time below is simulated, not a real Lean measurement[/bold yellow]")
    console.print(f"[bold]{escape(data['file'])}[/bold] ({escape(data['module'])}, context {data['context']}): "
                  f"{plural(data['runs'], 'run')} per arm, interleaved, after {plural(data['warmup'], 'warm-up round')}; "
                  f"toolchain {data['toolchain']['githash'][:12]}")
    if data.get("note"):
        console.print(f"  note: {escape(data['note'])}")
    console.print(table(data, console.width))
    nf = data["noise_floor"]
    if nf is not None:
        console.print(f"  noise floor: the A/A run (baseline against itself) spans ±{nf:.1%}: smaller differences are noise")
    for r in data["arms"]:
        if r["failed"]:
            console.print(f"  [red]{escape(r['name'])}[/red] broke the module: {escape(r['error'] or '?')}")
    flagged = [r["name"] for r in data["arms"] if r["outliers"]]
    if flagged:
        console.print(f"  [yellow]warning[/yellow]: runs more than 3 MAD from the median in {escape(', '.join(flagged))} "
                      "(a busy machine?); consider more --runs")
    if data["learned"]:
        console.print(f"  fed {plural(len(data['learned']), 'result')} to the learner (state {escape(data['state_dir'])}; "
                      "--no-learn to skip)")
    elif data["no_learn"]:
        console.print("  --no-learn: nothing recorded")


def markdown(data: dict) -> str:
    lines = []
    if data["simulated"]:
        lines.append("> SIMULATED toolchain: every time below is simulated.\n")
    lines.append(f"`{data['file']}` ({data['module']}, context {data['context']}), {plural(data['runs'], 'run')}, "
                 f"{plural(data['warmup'], 'warm-up round')}, interleaved.\n")
    lines.append("| Strategy | Mean [ms] | Median [ms] | Min [ms] | Max [ms] | Speedup [95% CI] |")
    lines.append("|:---|---:|---:|---:|---:|---:|")
    for r in data["arms"]:
        if r["failed"]:
            lines.append(f"| `{r['name']}` | failed | | | | |")
            continue
        ms = lambda x: "—" if x is None else f"{x * 1000:.1f}"  # noqa: E731
        sd = f" ± {ms(r['stddev'])}" if r["stddev"] is not None else ""
        lines.append(f"| `{r['name']}` | {ms(r['mean'])}{sd} | {ms(r['median'])} | {ms(r['min'])} | {ms(r['max'])} | {_speedup(r)} |")
    lines.append("\nSpeedup: the baseline's time over the arm's (geometric means); > 1 is faster.")
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------- the command

def bench(
    file: Path = typer.Argument(..., help="A module of a built Lake workspace."),
    strategy: list[str] | None = typer.Option(None, "--strategy", "-s",
                                              help="A strategy to compare (repeatable; default: every active one)."),
    runs: int = typer.Option(10, "--runs", "-r", help="Measured runs per arm (at least 2)."),
    warmup: int = typer.Option(1, "--warmup", "-w", help="Warm-up rounds, discarded."),
    export_json: Path | None = typer.Option(None, "--export-json", help="Also write the results as JSON to this file."),
    export_markdown: Path | None = typer.Option(None, "--export-markdown", help="Also write a Markdown table to this file."),
    no_learn: bool = typer.Option(False, "--no-learn", help="Do not feed the results to the learner."),
    state: Path | None = STATE_DIR_OPTION,
    as_json: bool = JSON_OPTION,
):
    """Baseline against strategies on one module: interleaved runs, A/A noise floor, ratios with 95% CIs."""
    from simpulse.commands._common import config, learner
    from simpulse.commands.classify import ModuleFile
    from simpulse.config import catalogue_for
    from simpulse.errors import SimpulseError
    from simpulse.lake.leanargs import apply_strategy, parse
    from simpulse.lake.workspace import find_toolchain
    from simpulse.stats import bench as B

    if runs < 2:
        raise SimpulseError("--runs must be at least 2 (a confidence interval needs two runs per arm)")
    if warmup < 0:
        raise SimpulseError("--warmup must be 0 or more")
    mf = ModuleFile(file)
    ws = mf.workspace
    if ws is None:
        raise SimpulseError(f"{file} is not inside a Lake project (no lakefile.toml or lakefile.lean above it)")
    cfg = config(ws)
    if state is not None:
        sdir = Path(state).expanduser().resolve()
    else:
        p = Path(cfg["state_dir"]).expanduser()
        sdir = (p if p.is_absolute() else ws / p).resolve()
    catalogue = catalogue_for(cfg, sdir if sdir.is_dir() else None)
    if strategy:
        chosen = []
        for name in strategy:
            s = catalogue.get(name)
            if not s.is_baseline and s not in chosen:
                chosen.append(s)
    else:
        chosen = [s for s in catalogue.active if not s.is_baseline]
    # everything the results will be written to is checked before minutes of measuring
    for opt, path in (("--export-json", export_json), ("--export-markdown", export_markdown)):
        if path is not None:
            check_writable_file(opt, Path(path))
    if not no_learn:
        check_writable_state(sdir)
    tc = find_toolchain(ws, cache=sdir / "toolchain.json" if sdir.is_dir() else None)
    dirs = lean_path_dirs(tc.sysroot, ws)
    check_imports_built(mf, dirs)
    env = dict(os.environ)
    for var in ("LAKE_OVERRIDE_LEAN", "LEAN_SYSROOT"):
        env.pop(var, None)
    env["LEAN_PATH"] = os.pathsep.join(dirs)
    baseline = catalogue.get("baseline")

    with tempfile.TemporaryDirectory(prefix="simpulse-bench-") as tmp:
        tmp = Path(tmp)
        argv, note = module_argv(mf, ws, tmp)
        call = parse(argv)
        arms = [Arm("baseline", baseline, argv), Arm(AA, baseline, argv, aa=True)]
        for i, s in enumerate(chosen):
            sub = tmp / f"arm{i}"
            sub.mkdir()
            arms.append(Arm(s.name, s, apply_strategy(call, s, str(sub)).argv))
        total = (warmup + runs) * len(arms)
        if as_json:
            run_bench(arms, lean=tc.lean, cwd=ws, env=env, runs=runs, warmup=warmup)
        else:
            with progress_bar("bench") as prog:
                task = prog.add_task("", total=total)

                def tick(arm, is_warmup):
                    prog.update(task, description=f"{arm.name}{' (warm-up)' if is_warmup else ''}", advance=1)
                run_bench(arms, lean=tc.lean, cwd=ws, env=env, runs=runs, warmup=warmup, progress=tick)

    rows = analyse(arms)
    for arm, row in zip(arms, rows):
        row["failed_wall"] = arm.failed_wall
        row["options"] = dict(arm.strategy.options)
        row["args"] = list(arm.strategy.args)
    aa = next(r for r in rows if r["aa"])
    learned = []
    # a write that fails after all (a state or file that changed while measuring) does not
    # cost the results: they are shown, then the error
    problems: list[str] = []
    if not no_learn:
        try:
            lrn = learner(sdir, catalogue=catalogue, create=True, toolchain=tc.githash)
            for row in rows:
                if row["strategy"] == "baseline":
                    continue
                ev = bench_event(row, rows[0], mf=mf, toolchain=tc, ws=ws)
                lrn.record_event(ev)
                learned.append(ev["id"])
        except (SimpulseError, OSError) as e:
            problems.append(f"the results were not recorded in {sdir}: {_why(e)}")
    data = {
        "file": mf.rel, "module": mf.module, "context": mf.context, "workspace": str(ws),
        "toolchain": {"githash": tc.githash, "version": tc.version, "lean": str(tc.lean),
                      "simulated": tc.simulated, "describe": tc.describe()},
        "simulated": tc.simulated, "runs": runs, "warmup": warmup, "order": "interleaved",
        "argv": [str(tc.lean), *[a for a in argv]], "lean_path": dirs, "note": note,
        "arms": rows, "noise_floor": B.noise_floor(aa), "aa": {"ratio": aa["ratio"], "ci": aa["ci"]},
        "learned": learned, "no_learn": no_learn, "state_dir": str(sdir),
    }
    import json
    for opt, path, text in (("--export-json", export_json, lambda: json.dumps(data, indent=2, default=str) + "\n"),
                            ("--export-markdown", export_markdown, lambda: markdown(data))):
        if path is not None:
            try:
                Path(path).write_text(text(), encoding="utf-8")
            except OSError as e:
                problems.append(f"{opt} {path}: {_why(e)}")
    if as_json:
        print_json(data)
    else:
        from rich.console import Console
        render(data, Console())
    if problems:
        raise SimpulseError("; ".join(problems))


def _why(e: Exception) -> str:
    return (getattr(e, "strerror", None) or str(e)) if isinstance(e, OSError) else str(e)


def check_writable_file(opt: str, path: Path) -> None:
    from simpulse.errors import SimpulseError
    if path.is_dir():
        raise SimpulseError(f"{opt} {path}: is a directory")
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.is_dir():
        raise SimpulseError(f"{opt} {path}: no such directory {parent}")
    if (path.exists() and not os.access(path, os.W_OK)) or (not path.exists() and not os.access(parent, os.W_OK | os.X_OK)):
        raise SimpulseError(f"{opt} {path}: not writable")


def check_writable_state(sdir: Path) -> None:
    """The results go to the state directory: it (or where it would be made) must be writable."""
    from simpulse.errors import SimpulseError
    hint = "pass --no-learn to measure without recording, or --state-dir"
    if sdir.is_dir():
        log = sdir / "events.log"
        if not os.access(sdir, os.W_OK | os.X_OK) or (log.exists() and not os.access(log, os.W_OK)):
            raise SimpulseError(f"the state directory {sdir} is not writable: {hint}")
    elif sdir.exists():
        raise SimpulseError(f"the state directory {sdir} is not a directory: {hint}")
    else:
        parent = next((p for p in sdir.parents if p.exists()), None)
        if parent is None or not os.access(parent, os.W_OK | os.X_OK):
            raise SimpulseError(f"the state directory {sdir} cannot be created: {hint}")


def register(app) -> None:
    app.command("bench")(bench)
