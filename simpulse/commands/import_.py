"""`simpulse import IN.json`: merge another machine's or team's export as discounted evidence."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import typer

from simpulse.commands._common import JSON_OPTION, STATE_DIR_OPTION, config, learner, plural, print_json, state_dir


def _previous_imports(lrn, digest: str, origin: str | None) -> tuple[dict | None, dict | None]:
    """(the import event of these exact bytes, the latest import event of this origin)."""
    same = of_origin = None
    if lrn.store is None:
        return None, None
    for ev in lrn.store.iter_events():
        if ev.get("kind") != "import":
            continue
        if ev.get("sha256") == digest:
            same = ev
        if origin is not None and ev.get("origin") == origin:
            of_origin = ev
    return same, of_origin


def _write_strategies(sdir: Path, new: list[dict]) -> Path:
    from simpulse.config import IMPORTED_STRATEGIES, read_imported_strategies
    from simpulse.exchange import merge_strategy_list

    path = sdir / IMPORTED_STRATEGIES
    merged = merge_strategy_list(read_imported_strategies(sdir), new)
    from simpulse.store.atomic import write_atomic
    write_atomic(path, (json.dumps(merged, indent=2) + "\n").encode("utf-8"))
    return path


def import_(
    file: Path = typer.Argument(..., help="An export written by `simpulse export`."),
    weight: float = typer.Option(0.5, "--weight", help="How much the imported evidence counts, in (0, 1]: "
                                 "every sum and count is scaled by it (1 = as if measured here)."),
    trust_strategies: bool = typer.Option(False, "--trust-strategies",
                                          help="Add the file's strategies missing here (each passes the allowlist) "
                                               "to <state dir>/imported-strategies.json and keep their statistics."),
    again: bool = typer.Option(False, "--again", help="Import a file whose exact bytes were imported before."),
    state: Path | None = STATE_DIR_OPTION,
    as_json: bool = JSON_OPTION,
):
    """Validate an export file and merge its statistics (nothing is merged if anything is wrong)."""
    from simpulse import exchange
    from simpulse.config import catalogue_for
    from simpulse.errors import SimpulseError

    if not (0.0 < weight <= 1.0):          # also refuses NaN
        raise SimpulseError(f"--weight must be in (0, 1], got {weight!r}")
    file = Path(file).expanduser()
    doc = exchange.load_export(file)                     # refuses with one line; nothing written yet
    digest = hashlib.sha256(file.read_bytes()).hexdigest()
    sdir = state_dir(state, must_exist=False)
    cfg = config()
    catalogue = catalogue_for(cfg, sdir if sdir.is_dir() else None)
    plan = exchange.plan_import(doc, catalogue, trust_strategies=trust_strategies)
    origin = doc.get("origin")
    lrn = replaces = None
    if sdir.is_dir():
        if origin is not None and origin == exchange.state_origin(sdir, create=False):
            raise SimpulseError(f"{file.name} is an export of this state ({sdir}); importing it would "
                                "count its evidence twice")
        lrn = learner(sdir, catalogue=catalogue)
        prev, replaces = _previous_imports(lrn, digest, origin)
        if prev is not None and not again:
            twice = ("would change nothing: it replaces what it brought" if origin is not None
                     else "would count its evidence twice")
            raise SimpulseError(f"{file.name} was already imported (event {prev.get('id')}); importing it again "
                                f"{twice} (pass --again if you mean it)")
    result = {"file": str(file), "weight": weight, "merged": False, "event": None, "origin": origin,
              "replaces": None if replaces is None else {"event": replaces.get("id"), "source": replaces.get("source"),
                                                         "weight": replaces.get("weight")},
              "kept_strategies": plan.kept, "dropped_strategies": plan.dropped,
              "added_strategies": [d["name"] for d in plan.new_strategies], **plan.counts(),
              "simulated": any(tc["simulated"] for tc in plan.payload.values())}
    if plan.payload:
        if lrn is None:
            lrn = learner(sdir, catalogue=catalogue, create=True)
        if plan.new_strategies:
            _write_strategies(sdir, plan.new_strategies)
        event = exchange.import_event(plan.payload, weight=weight, source=file.name, origin=origin)
        event["sha256"] = digest
        lrn.record_event(event)
        result.update(merged=True, event=event["id"], state_dir=str(sdir))
    if as_json:
        print_json(result)
        return
    from rich.console import Console
    console = Console()
    for name, why in plan.dropped.items():
        console.print(f"simpulse: dropped the statistics of strategy {name!r}: {why}")
    for name in result["added_strategies"]:
        console.print(f"simpulse: added strategy {name!r} to {sdir / 'imported-strategies.json'} (--trust-strategies)")
    if not plan.payload:
        console.print(f"simpulse: nothing to merge from {file.name}")
        return
    sim = " (statistics from a SIMULATED toolchain)" if result["simulated"] else ""
    console.print(f"simpulse: merged {file.name} at weight {weight:g}: {plural(result['toolchains'], 'toolchain')}, "
                  f"{plural(result['contexts'], 'context')}, {plural(result['arms'], 'context×strategy statistic')}{sim}")
    if replaces is not None:
        console.print(f"  an export of the same state as {replaces.get('source')} (imported before, at weight "
                      f"{replaces.get('weight'):g}): it replaces what that one brought")


def register(app) -> None:
    app.command("import")(import_)
