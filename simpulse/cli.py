"""The `simpulse` command: one module per subcommand under `simpulse/commands/`."""

from __future__ import annotations

import typer

from simpulse.commands import build as build_cmd
from simpulse.commands import stats as stats_cmd
from simpulse.error_handler import error_handler

app = typer.Typer(
    name="simpulse",
    help="Learns which Lean compilation strategy makes each kind of module build fastest, "
         "without ever breaking the build. Use `simpulse build` where you used `lake build`.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

PASSTHROUGH = {"allow_extra_args": True, "ignore_unknown_options": True}

app.command("build", context_settings=PASSTHROUGH)(build_cmd.build)
app.command("stats")(stats_cmd.stats)


def main() -> None:
    with error_handler():
        app()


if __name__ == "__main__":
    main()
