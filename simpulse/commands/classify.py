"""`simpulse classify FILE...`: the context each module falls in, and with --explain why."""

from __future__ import annotations

from pathlib import Path

import typer

from simpulse.commands._common import JSON_OPTION, print_json


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


def classify_cmd(
    files: list[Path] = typer.Argument(..., help="Lean source files."),
    explain: bool = typer.Option(False, "--explain", help="Print the rules that decided and the features."),
    as_json: bool = JSON_OPTION,
):
    """The context of each module."""
    mods = [ModuleFile(f) for f in files]
    if as_json:
        print_json([{"path": m.rel, "module": m.module, "context": m.context,
                     "reasons": list(m.classification.reasons), "features": m.classification.features,
                     "source_hash": m.classification.source_hash} for m in mods])
        return
    from rich.console import Console
    from rich.table import Table
    from rich.markup import escape
    console = Console()
    if not explain:
        table = Table(header_style="bold", box=None)
        table.add_column("file")
        table.add_column("module")
        table.add_column("context")
        for m in mods:
            table.add_row(escape(m.rel), escape(m.module), f"[bold]{m.context}[/bold]")
        console.print(table)
        return
    from simpulse.context.classify import CONTEXTS
    for i, m in enumerate(mods):
        if i:
            console.print()
        console.print(f"[bold]{escape(m.rel)}[/bold] ({escape(m.module)}): context [bold]{m.context}[/bold]")
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
