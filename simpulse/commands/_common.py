"""What every command shares: the state directory, the learner over it, JSON output."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import typer

from simpulse.errors import SimpulseError

STATE_DIR_OPTION = typer.Option(None, "--state-dir", envvar="SIMPULSE_STATE_DIR",
                                help="State directory (default: .simpulse/ at the workspace root).")
# The documentation the help points to is shipped inside the package (pyproject.toml: package
# data), so the path exists wherever simpulse is installed.
DOCS = Path(__file__).resolve().parent.parent / "docs"
JSON_OPTION = typer.Option(False, "--json", help=f"Machine-readable output (its shape: {DOCS / 'json'}/<command>.md).")


def workspace_or_none() -> Path | None:
    from simpulse.lake.workspace import find_workspace
    try:
        return find_workspace()
    except SimpulseError:
        return None


def config(workspace: Path | None = None, **flags):
    from simpulse.config import load_config
    return load_config(workspace if workspace is not None else workspace_or_none(), flags=flags)


def state_dir(given: Path | None, *, must_exist: bool = True, cfg=None) -> Path:
    """`--state-dir` / SIMPULSE_STATE_DIR, else `state_dir` of the configuration; relative
    paths are taken from the workspace root (`config.resolve_state_dir`)."""
    from simpulse.config import resolve_state_dir
    ws = workspace_or_none()
    if given is not None:
        sdir = resolve_state_dir(ws, given)
    else:
        if ws is None:
            raise SimpulseError("not inside a Lake project and no --state-dir given")
        cfg = cfg or config(ws)
        sdir = resolve_state_dir(ws, cfg["state_dir"])
    if must_exist and not sdir.is_dir():
        raise SimpulseError(f"no simpulse state at {sdir} (run `simpulse build` first, or pass --state-dir)")
    if sdir.is_dir():
        from simpulse.store.safe_open import refuse_foreign
        refuse_foreign(sdir)      # before anything (a lock, a cache) is written into someone's directory
    return sdir


def learner(sdir: Path | None, *, toolchain: str | None = None, create: bool = False, **kw):
    from simpulse.config import catalogue_for
    from simpulse.learner import Learner
    from simpulse.store.store import Store, StoreError
    cfg = config()
    kw.setdefault("catalogue", catalogue_for(cfg, sdir))
    kw.setdefault("policy", cfg["policy"])
    kw.setdefault("mode", cfg["mode"])
    try:
        store = Store(sdir, create=create) if sdir is not None else None
    except StoreError as e:
        raise SimpulseError(str(e)) from None
    lrn = Learner(None, store=store, **kw)
    if toolchain is None:
        order = lrn.toolchains()
        toolchain = order[-1] if order else "unknown"
    lrn.toolchain = toolchain
    return lrn


def print_json(data) -> None:
    sys.stdout.write(json.dumps(data, indent=2, sort_keys=True, default=str) + "\n")


def fmt_seconds(s: float) -> str:
    s = float(s)
    if abs(s) < 1:
        return f"{s * 1000:.0f}ms"
    if abs(s) < 60:
        return f"{s:.1f}s"
    if abs(s) < 3600:
        return f"{s / 60:.1f}min"
    return f"{s / 3600:.1f}h"


def fmt_speedup(x: float) -> str:
    """A speedup, > 1 faster (as hyperfine): "1.25×"."""
    return f"{x:.2f}×"


def fmt_faster(x: float) -> str:
    """A speedup in words: "1.25× faster", "1.06× slower" (the inverse, as hyperfine says it)."""
    if x >= 0.995:
        return f"{x:.2f}× faster" if x >= 1.005 else "as fast (1.00×)"
    return f"{1 / x:.2f}× slower" if x > 0 else "slower"


def fit_table(build, width: int | None, optional: tuple[str, ...]):
    """`build(dropped)` → a rich Table without the columns named in `dropped`. Leaves out the
    columns of `optional`, in that order, until the table's natural width fits `width`: a
    narrow terminal loses a column, never the end of a number."""
    from rich.console import Console
    from rich.measure import Measurement
    dropped: list[str] = []
    table = build(dropped)
    if width is None:
        return table
    wide = Console(width=10_000)           # measures the natural width, unclamped
    for col in optional:
        if Measurement.get(wide, wide.options, table).maximum <= width:
            break
        dropped.append(col)
        table = build(dropped)
    return table


def progress_bar(command: str, *, remaining: bool = False):
    """A rich progress bar on stderr for `command` (a label, the task's description, a bar,
    done/total and the elapsed — or, with `remaining`, the remaining — time), cleared when it
    stops: never part of the command's output."""
    from rich.console import Console
    from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn,
                               TimeRemainingColumn)
    return Progress(TextColumn(f"[bold]{command}[/bold] {{task.description}}"), BarColumn(), MofNCompleteColumn(),
                    TimeRemainingColumn() if remaining else TimeElapsedColumn(), console=Console(stderr=True),
                    transient=True)


def plural(n: int, one: str, many: str | None = None) -> str:
    """"1 strategy failure", "2 strategy failures"."""
    return f"{n} {one if n == 1 else (many or one + 's')}"


class Fitted:
    """A table built at render time for the width it gets (`fit_table`): for live displays,
    whose width is the terminal's at each refresh."""

    def __init__(self, build, optional: tuple[str, ...]):
        self.build, self.optional = build, optional

    def __rich_console__(self, console, options):
        yield fit_table(self.build, options.max_width, self.optional)
