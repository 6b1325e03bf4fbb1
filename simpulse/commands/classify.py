"""`simpulse classify FILE...`: the context each module falls in, and with --explain why."""

from __future__ import annotations

from pathlib import Path

import typer

from simpulse.commands._common import JSON_OPTION, STATE_DIR_OPTION, print_json


class ModuleFile:
    """A Lean source file as simpulse sees it: where it is, its module name, its context."""

    def __init__(self, path: Path):
        from simpulse.context.classify import classify
        from simpulse.errors import SimpulseError
        from simpulse.lake.workspace import find_workspace

        p = Path(path).expanduser()
        if not p.exists():
            raise SimpulseError(f"{path}: no such file")
        if not p.is_file():
            raise SimpulseError(f"{path}: not a file")
        if p.suffix != ".lean":
            raise SimpulseError(f"{path}: not a Lean source file (expected a .lean file)")
        self.path = p.resolve()
        try:
            self.source = self.path.read_bytes()
        except OSError as e:
            raise SimpulseError(f"{path}: cannot read ({e.strerror or e})") from None
        try:
            self.workspace: Path | None = find_workspace(self.path.parent)
        except SimpulseError:
            self.workspace = None
        self.root = source_root(self.workspace, self.path) if self.workspace else self.path.parent
        self.rel = (str(self.path.relative_to(self.workspace)) if self.workspace else str(path))
        rel_mod = self.path.relative_to(self.root).with_suffix("")
        self.module = ".".join(rel_mod.parts)
        self.classification = classify(self.source, path=self.rel)

    @property
    def context(self) -> str:
        return self.classification.context


def source_root(workspace: Path, file: Path) -> Path:
    """The directory module names are relative to: the deepest `srcDir` of lakefile.toml (package
    and `[[lean_lib]]`) that holds `file`, else the workspace root (lakefile.lean is not read)."""
    from simpulse.lake.lakefile import read_lakefile, source_roots

    data, _ = read_lakefile(workspace)
    roots = [workspace, *source_roots(workspace, data)]
    best = workspace
    for r in roots:
        r = r.resolve()
        if file.is_relative_to(r) and len(r.parts) > len(best.parts):
            best = r
    return best


def parts_of(mods: list[ModuleFile], state: Path | None) -> tuple[list[str] | None, str | None]:
    """(the part of its context each module compiles in — `model/parts.py`: a context splits
    by its modules' tactics once its modules show it —, why none could be told): read from the
    project's learned statistics, which the classifier alone does not have. No state (outside a
    Lake project, or before a first `simpulse build`): (None, None)."""
    from simpulse.commands._common import learner, state_dir
    from simpulse.errors import SimpulseError
    try:
        sdir = state_dir(state, must_exist=False)
    except SimpulseError:
        return None, None
    if not sdir.is_dir():
        return None, None
    try:
        lrn = learner(sdir)
        return [lrn.part(m.context, m.module, m.classification.features) for m in mods], None
    except SimpulseError as e:
        return None, str(e)


def classify_cmd(
    files: list[Path] = typer.Argument(..., help="Lean source files."),
    explain: bool = typer.Option(False, "--explain", help="Print the rules that decided and the features."),
    state: Path | None = STATE_DIR_OPTION,
    as_json: bool = JSON_OPTION,
):
    """The context of each module, and the part of it a build compiles it in."""
    mods = [ModuleFile(f) for f in files]
    parts, unread = parts_of(mods, state)
    if as_json:
        print_json([{"path": m.rel, "module": m.module, "context": m.context,
                     "part": parts[i] if parts else None,
                     "reasons": list(m.classification.reasons), "features": m.classification.features,
                     "source_hash": m.classification.source_hash} for i, m in enumerate(mods)])
        return
    from rich.console import Console
    from rich.table import Table
    from rich.markup import escape
    console = Console()
    split = parts is not None and any(p != m.context for p, m in zip(parts, mods))
    if unread:
        console.print(f"[dim](parts not shown: the state could not be read: {escape(unread)})[/dim]")
    if not explain:
        table = Table(header_style="bold", box=None)
        table.add_column("file")
        table.add_column("module")
        table.add_column("context")
        if split:
            table.add_column("part")
        for i, m in enumerate(mods):
            row = [escape(m.rel), escape(m.module), f"[bold]{m.context}[/bold]"]
            if split and parts is not None:
                row.append(escape(parts[i]) if parts[i] != m.context else "—")
            table.add_row(*row)
        console.print(table)
        if split:
            console.print("  part: where a build compiles it, the context having split by its modules' tactics "
                          "(— : the context's own part); learned from this project's builds", soft_wrap=True)
        return
    from simpulse.context.classify import CONTEXTS
    for i, m in enumerate(mods):
        if i:
            console.print()
        console.print(f"[bold]{escape(m.rel)}[/bold] ({escape(m.module)}): context [bold]{m.context}[/bold]")
        if parts is not None and parts[i] != m.context:
            console.print(f"  part: [bold]{escape(parts[i])}[/bold] (the context split by its modules' tactics; "
                          "learned from this project's builds)")
        console.print(f"  rule: {escape(CONTEXTS.get(m.context, '?'))}")
        for r in m.classification.reasons:
            console.print(f"  · {escape(r)}")
        feats = m.classification.features
        items = [f"{k}={_fmt(v)}" for k, v in feats.items()]
        console.print("  features: " + ", ".join(items), markup=False)


def _fmt(v) -> str:
    if isinstance(v, float) and not v.is_integer():
        return f"{v:.3g}"
    return str(int(v)) if isinstance(v, (int, float)) else str(v)


def register(app) -> None:
    from simpulse.commands._common import DOCS
    app.command("classify", help=f"The context of each module (the rules: {DOCS / 'contexts.md'}).")(classify_cmd)
