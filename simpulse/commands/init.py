"""`simpulse init`: write a simpulse.toml with the defaults at the workspace root."""

from __future__ import annotations

import shutil

import typer

HEADER = """\
# simpulse.toml — configuration of simpulse (`simpulse config` shows the effective values).
# Precedence: defaults < this file < environment (SIMPULSE_MODE, SIMPULSE_POLICY,
# SIMPULSE_STATE_DIR, SIMPULSE_EXPLORE_BUDGET, SIMPULSE_PROFILE) < command-line flags.
#
# [simpulse]
{docs}
#
# User strategies (each passes simpulse's allowlist; see `simpulse strategies`):
# [strategies.no-unused]
# description = "unused-variable linter off"
# options = {{ "linter.unusedVariables" = false }}
# changes = ["messages"]     # what it may change besides time: messages, outputs (checked)
# may_break = false

"""


def render_toml() -> str:
    import tomli_w

    from simpulse.config import DEFAULTS, DOCS
    lines = []
    for key in DEFAULTS:
        lines.append(f"#   {key}: {DOCS.get(key, '')}")
    lines.append("#   (enabled is left out: all strategies; e.g. enabled = [\"no-linters\", \"no-async\"])")
    body = tomli_w.dumps({"simpulse": {k: v for k, v in DEFAULTS.items() if v is not None}})
    return HEADER.format(docs="\n".join(lines)) + body


def init(force: bool = typer.Option(False, "--force", help="Overwrite an existing simpulse.toml (kept as simpulse.toml.bak).")):
    """Write simpulse.toml with the default settings, documented, at the workspace root."""
    from simpulse.config import CONFIG_NAME
    from simpulse.errors import SimpulseError
    from simpulse.lake.workspace import find_workspace

    ws = find_workspace()
    path = ws / CONFIG_NAME
    if path.exists() and not force:
        raise SimpulseError(f"{path} already exists; pass --force to overwrite it (the old file is kept as {CONFIG_NAME}.bak)")
    text = render_toml()
    _check(text)
    backed_up = False
    if path.exists():
        shutil.copy2(path, path.with_name(CONFIG_NAME + ".bak"))
        backed_up = True
    from simpulse.store.atomic import write_atomic
    write_atomic(path, text.encode("utf-8"), mode=0o644)    # a project file, as an editor would write it
    print(f"simpulse: wrote {path}" + (f" (the previous file is kept as {CONFIG_NAME}.bak)" if backed_up else ""))


def _check(text: str) -> None:
    """The file written must load as it is (a bug here must never leave a broken config)."""
    import tempfile
    from pathlib import Path

    from simpulse.config import CONFIG_NAME, DEFAULTS, load_config
    with tempfile.TemporaryDirectory() as d:
        (Path(d) / CONFIG_NAME).write_text(text, encoding="utf-8")
        cfg = load_config(Path(d), env={})
    assert cfg.values == DEFAULTS, "simpulse init: the generated simpulse.toml does not load as the defaults"


def register(app) -> None:
    app.command("init")(init)
