"""`simpulse export OUT.json`: what simpulse learned, as a versioned JSON file (docs/export-format.md)."""

from __future__ import annotations

from pathlib import Path

import typer

from simpulse.commands._common import JSON_OPTION, STATE_DIR_OPTION, learner, print_json, state_dir


def export(
    out: Path = typer.Argument(..., help="The file to write (JSON; replaced atomically)."),
    include_paths: bool = typer.Option(False, "--include-paths",
                                       help="Name modules in the file (default: a 16-hex SHA-256 prefix of each name)."),
    include_imported: bool = typer.Option(
        False, "--include-imported",
        help="Also pass on what imports brought (default: only what this project measured; "
             "passed on, imported evidence counts twice for whoever already has it)."),
    state: Path | None = STATE_DIR_OPTION,
    as_json: bool = JSON_OPTION,
):
    """Write the learned statistics (per toolchain, context and strategy) to a portable file."""
    from simpulse import exchange
    from simpulse.errors import SimpulseError

    sdir = state_dir(state)
    lrn = learner(sdir)
    out = Path(out).expanduser()
    if out.is_dir():
        raise SimpulseError(f"{out} is a directory; give a file name such as simpulse-export.json")
    origin = exchange.state_origin(sdir) if sdir.is_dir() else None
    doc = exchange.build_export(lrn.stats, lrn.catalogue, include_paths=include_paths,
                                include_imported=include_imported, origin=origin)
    imports = lrn.has_imports()
    size = exchange.write_export(doc, out)
    tcs = doc["toolchains"]
    info = {
        "path": str(out.resolve()),
        "bytes": size,
        "format": doc["format"],
        "version": doc["version"],
        "origin": origin,
        "toolchains": [{"githash": g, "contexts": len(tc["arms"]), "modules": len(tc["modules"]),
                        "pulls": sum(c["pulls"] for c in tc["contexts"].values()),
                        "simulated": tc["simulated"]} for g, tc in tcs.items()],
        "strategies": [d["name"] for d in doc["strategies"]],
        "module_names": "included" if include_paths else "hashed",
        "imported_evidence": ("none" if not imports else "included" if include_imported else "left out"),
    }
    if as_json:
        print_json(info)
        return
    from rich.console import Console
    console = Console()
    left_out = ("imported evidence left out (pass --include-imported to pass it on)"
                if info["imported_evidence"] == "left out" else None)
    if not tcs:
        what = "nothing measured here yet" if imports else "nothing learned yet"
        console.print(f"simpulse: {what}; wrote an empty export to {out}")
        if left_out:
            console.print(f"  {left_out}")
        return
    console.print(f"simpulse: wrote {out} ({size} bytes, format {doc['format']} v{doc['version']})")
    for t in info["toolchains"]:
        sim = " [SIMULATED toolchain]" if t["simulated"] else ""
        console.print(f"  toolchain {t['githash'][:12]}{sim}: {t['contexts']} contexts, "
                      f"{t['pulls']:g} compiles, {t['modules']} modules")
    console.print(f"  strategies defined: {', '.join(info['strategies']) or '—'}")
    console.print("  module names: " + ("included (--include-paths)" if include_paths
                                        else "hashed (pass --include-paths to include them)"))
    if left_out:
        console.print(f"  {left_out}")
    elif info["imported_evidence"] == "included":
        console.print("  imported evidence included (--include-imported)")


def register(app) -> None:
    app.command("export")(export)
