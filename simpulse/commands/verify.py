"""`simpulse verify [FILE...] [--all]`: does a strategy change what the build means?

For each module it replays the compile Lake last ran through simpulse (the argument list,
working directory and ``LEAN_PATH`` the shim remembered, `simpulse.store.invocations`) with
the real `lean`, outputs redirected into a scratch directory: the baseline twice (an A/A check
of reproducibility), then each strategy. It compares the verdict (exit code), the messages and
the output files' bytes with the baseline's, prints what differs, and records every comparison
as evidence per (context, strategy) in ``<state_dir>/verify.json`` (`simpulse.store.verdicts`),
which `stats`, `recommend` and the build's profile read. Exit 0: everything identical; exit 1:
some strategy changed something (or a module's baseline did not reproduce itself, or a run
could not be made); exit 2: bad input. Details: docs/verify.md; JSON: docs/json/verify.md.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import typer

from simpulse.commands._common import JSON_OPTION, STATE_DIR_OPTION, print_json, progress_bar


# --------------------------------------------------------------------------- selecting modules

def _source_of(inv: dict) -> str | None:
    """The absolute source path of a remembered invocation."""
    src = inv.get("source_path")
    if not isinstance(src, str) or not src:
        from simpulse.lake.leanargs import parse
        src = parse(inv["argv"]).source
    if not src:
        return None
    return os.path.realpath(os.path.join(inv["cwd"], src))


def select(invs: dict[str, dict], files: list[Path], everything: bool) -> list[tuple[str, dict]]:
    from simpulse.errors import SimpulseError
    if files and everything:
        raise SimpulseError("give FILE... or --all, not both")
    if not files and not everything:
        raise SimpulseError("nothing to verify: give FILE... or --all")
    if everything:
        if not invs:
            raise SimpulseError("no remembered compilations in this state directory: run `simpulse build` first")
        return list(invs.items())
    by_source: dict[str, tuple[str, dict]] = {}
    for module, inv in invs.items():
        src = _source_of(inv)
        if src is not None:
            by_source[src] = (module, inv)
    chosen: list[tuple[str, dict]] = []
    for f in files:
        p = Path(f).expanduser()
        if not p.is_file():
            raise SimpulseError(f"{f}: no such file")
        hit = by_source.get(os.path.realpath(p))
        if hit is None:
            raise SimpulseError(f"{f}: no remembered compilation of this file: run `simpulse build` first")
        if hit not in chosen:
            chosen.append(hit)
    return chosen


def choose_strategies(catalogue, names: list[str] | None) -> list:
    from simpulse.errors import SimpulseError
    if not names:
        return [s for s in catalogue.all.values() if not s.is_baseline]
    out = []
    for name in names:
        s = catalogue.get(name)
        if s.is_baseline:
            raise SimpulseError("baseline is what every strategy is compared with: choose other strategies")
        if s not in out:
            out.append(s)
    return out


# --------------------------------------------------------------------------- progress

class _Progress:
    """A rich progress bar on a terminal; one line per module on stderr otherwise."""

    def __init__(self, total: int):
        self.total = total
        self.prog = None
        self.n = 0
        if sys.stderr.isatty():
            self.prog = progress_bar("verify")
            self.prog.start()
            self.task = self.prog.add_task("", total=total)

    def module(self, module: str, context: str, runs: int) -> None:
        self.n += 1
        self.current = module
        if self.prog is None:
            sys.stderr.write(f"simpulse verify: [{self.n}/{self.total}] {module} ({context}): {runs} runs\n")
            sys.stderr.flush()
        else:
            self.prog.update(self.task, description=module)

    def step(self, what: str) -> None:
        if self.prog is not None:
            self.prog.update(self.task, description=f"{self.current}: {what}")

    def done_module(self) -> None:
        if self.prog is not None:
            self.prog.update(self.task, advance=1)

    def close(self) -> None:
        if self.prog is not None:
            self.prog.stop()


# --------------------------------------------------------------------------- the command

def _sha1(data: bytes) -> str:
    import hashlib
    return hashlib.sha1(data).hexdigest()


def run_verify(sdir: Path, files: list[Path], everything: bool, strategy_names: list[str] | None, *,
               keep: bool = False, record: bool = True, show_progress: bool = True,
               timeout: float | None = None) -> dict:
    from simpulse.commands._common import config, learner
    from simpulse.config import catalogue_for
    from simpulse.errors import SimpulseError
    from simpulse.lake.workspace import find_toolchain, find_workspace
    from simpulse.learner import Learner
    from simpulse.store import invocations, verdicts
    from simpulse.verify.run import VERIFIED, verify_module

    if timeout is not None and not timeout > 0:
        raise SimpulseError("--timeout must be a positive number of seconds")
    invs = invocations.load_all(sdir)
    chosen = select(invs, files, everything)
    try:
        ws = find_workspace(Path(chosen[0][1]["cwd"]))
    except SimpulseError:
        ws = Path(chosen[0][1]["cwd"])
    cfg = config(ws)
    strategies = choose_strategies(catalogue_for(cfg, sdir), strategy_names)
    tc = find_toolchain(ws, cache=sdir / "toolchain.json")
    lrn = learner(sdir, toolchain=tc.githash)
    # the classification cache is an optimisation only: statistics that do not load
    # classify from scratch
    try:
        lrn.toolchains()
        classify = lrn.classify
    except Exception:  # noqa: BLE001
        def classify(module, source, path):
            return Learner._classify(None, module, source, path)

    from simpulse.model.parts import parent
    modules, skipped = [], []
    todo = []
    for module, inv in chosen:
        src = _source_of(inv)
        path = os.path.relpath(src, ws) if src else None
        reason = None
        if src is None or not os.path.isfile(src):
            reason = f"source {inv.get('source_path') or '?'} no longer exists"
        elif inv.get("toolchain") not in (None, "", "unknown", tc.githash):
            reason = (f"remembered from toolchain {str(inv.get('toolchain'))[:12]}, the current one is "
                      f"{tc.githash[:12]}: run `simpulse build` first")
        if reason is not None:
            if files:
                raise SimpulseError(f"{module}: {reason}")
            skipped.append({"module": module, "path": path, "reason": reason})
        else:
            todo.append((module, inv, src, path))
    if not todo:
        raise SimpulseError("nothing to verify: " + "; ".join(f"{s['module']}: {s['reason']}" for s in skipped))

    progress = _Progress(len(todo)) if show_progress else None
    try:
        for module, inv, src, path in todo:
            with open(src, "rb") as f:
                source = f.read()
            context, _features, source_hash = classify(module, source, path)
            context = parent(context)       # evidence is per context, whichever part the module is in
            source_hash = source_hash or _sha1(source)
            if progress:
                progress.module(module, context, 2 + len(strategies))
            res = verify_module(str(tc.lean), inv, strategies, keep=keep, timeout=timeout,
                                progress=progress.step if progress else None)
            res = {"module": module, "path": path, "context": context, "source_hash": source_hash,
                   "source_changed": bool(inv.get("source_hash")) and inv.get("source_hash") != source_hash,
                   **res, "recorded": False}
            if record and res["status"] == VERIFIED:
                for e in res["strategies"]:
                    if e["status"] in ("identical", "differs"):
                        try:
                            verdicts.record(sdir, context, e["strategy"], module, path, e["what"], e["detail"],
                                            source_hash, tc.githash)
                        except OSError as err:
                            raise SimpulseError(f"cannot record the evidence in {sdir}: "
                                                f"{err.strerror or err}") from None
                res["recorded"] = True
            modules.append(res)
            if progress:
                progress.done_module()
    finally:
        if progress:
            progress.close()

    pairs = [e for m in modules for e in m["strategies"]]
    summary = {
        "modules": len(modules), "skipped": len(skipped),
        "verified": sum(m["status"] == VERIFIED for m in modules),
        "not_reproducible": sum(m["status"] == "baseline not reproducible" for m in modules),
        "errors": sum(m["status"] == "error" for m in modules) + sum(e["status"] == "error" for e in pairs),
        "compared": sum(e["status"] in ("identical", "differs") for e in pairs),
        "identical": sum(e["status"] == "identical" for e in pairs),
        "differs": sum(e["status"] == "differs" for e in pairs),
        "changes_messages": sum("messages" in e["what"] for e in pairs),
        "changes_outputs": sum("outputs" in e["what"] for e in pairs),
        "changes_verdict": sum("verdict" in e["what"] for e in pairs),
        "breaks": sum(bool(e["breaks"]) for e in pairs),
    }
    clean = summary["differs"] == 0 and summary["not_reproducible"] == 0 and summary["errors"] == 0
    return {"state_dir": str(sdir), "workspace": str(ws),
            "toolchain": {"githash": tc.githash, "version": tc.version, "lean": str(tc.lean),
                          "simulated": tc.simulated},
            "simulated": tc.simulated, "strategies": [s.name for s in strategies],
            "modules": modules, "skipped": skipped, "summary": summary, "exit_code": 0 if clean else 1}


# --------------------------------------------------------------------------- rendering

def outcome(e: dict) -> str:
    """One word or two for a strategy's comparison: identical, breaks, changes messages, ..."""
    if e["status"] == "error":
        return "error"
    if e["breaks"]:
        return "breaks"
    if e["fixes"]:
        return "changes verdict"
    if e["what"]:
        return "changes " + " + ".join(e["what"])
    return "identical"


_STYLE = {"identical": "green", "error": "red", "breaks": "bold red", "changes verdict": "bold red"}


def render(data: dict, console=None) -> None:
    from rich import box
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    console = console or Console()
    sim = " (SIMULATED toolchain)" if data["simulated"] else ""
    console.print(f"[bold]simpulse verify[/bold] — toolchain {data['toolchain']['githash'][:12]}{sim}")
    table = Table(title="Strategies against the baseline (verdict, messages, outputs)", title_justify="left",
                  header_style="bold", box=box.SIMPLE_HEAD, pad_edge=False)
    for col in ("module", "context", "strategy", "result"):
        table.add_column(col, overflow="fold")
    details = []
    for m in data["modules"]:
        if m["status"] != "verified":
            table.add_row(escape(m["module"]), m["context"], "baseline", f"[red]{m['status']}[/red]")
            details.append(f"{m['module']}: {m['status']}: {m['detail']}")
            continue
        if m["baseline"] and not m["baseline"]["ok"]:
            details.append(f"{m['module']}: {m['detail']}")
        for i, e in enumerate(m["strategies"]):
            word = outcome(e)
            style = _STYLE.get(word, "yellow")
            table.add_row(escape(m["module"]) if i == 0 else "", m["context"] if i == 0 else "", e["strategy"],
                          f"[{style}]{word}[/{style}]")
            if word != "identical":
                details.append(f"{m['module']} · {e['strategy']}: {e['detail']}")
    console.print(table)
    for line in details:
        console.print(f"  {escape(line)}")
    for s in data["skipped"]:
        console.print(f"  skipped {escape(s['module'])}: {escape(s['reason'])}")
    s = data["summary"]
    console.print(f"  {s['verified']}/{s['modules']} modules verified, {s['compared']} comparisons: "
                  f"{s['identical']} identical, {s['changes_messages']} change messages, "
                  f"{s['changes_outputs']} change outputs, {s['changes_verdict']} change the verdict "
                  f"({s['breaks']} break the module)"
                  + (f", {s['not_reproducible']} baseline not reproducible" if s["not_reproducible"] else "")
                  + (f", {s['errors']} errors" if s["errors"] else ""))
    if any(m["recorded"] for m in data["modules"]):
        console.print(f"  evidence recorded in {escape(data['state_dir'])}/verify.json "
                      "(shown by `simpulse stats` and `simpulse recommend`)")


def verify(
    files: list[Path] = typer.Argument(None, help="Lean source files (modules compiled by `simpulse build`)."),
    everything: bool = typer.Option(False, "--all", help="Every module simpulse has seen compiled."),
    strategy: list[str] = typer.Option(None, "--strategy", "-s",
                                       help="A strategy to verify (repeat; default: every strategy but baseline)."),
    keep: bool = typer.Option(False, "--keep-scratch", help="Keep each module's scratch directory (runs/<n>-<name>/ "
                                                            "hold each run's outputs) and show its path."),
    no_record: bool = typer.Option(False, "--no-record", help="Compare only; record no evidence."),
    timeout: float | None = typer.Option(None, "--timeout", help="Kill a lean run after this many seconds "
                                                                  "(an error for that module or strategy)."),
    state: Path | None = STATE_DIR_OPTION,
    as_json: bool = JSON_OPTION,
):
    """Compile modules with each strategy and the baseline; report any change of verdict, messages or outputs."""
    from simpulse.commands._common import state_dir
    sdir = state_dir(state)
    data = run_verify(sdir, list(files or []), everything, list(strategy or []) or None, keep=keep,
                      record=not no_record, timeout=timeout)
    if as_json:
        print_json(data)
    else:
        render(data)
        if keep:
            for m in data["modules"]:
                if m.get("scratch"):
                    print(f"  scratch of {m['module']}: {m['scratch']}")
    raise typer.Exit(data["exit_code"])


def register(app) -> None:
    app.command("verify")(verify)
