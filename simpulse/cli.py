"""The `simpulse` command: one module per subcommand under `simpulse/commands/`.

`simpulse build` runs on every build, so it is parsed with the standard library alone; the
other commands (and `build --help`) go through the typer app.
"""

from __future__ import annotations

import sys

from simpulse.error_handler import error_handler


# One module per subcommand under simpulse/commands/, each with `register(app)`.
COMMANDS = ("build", "recommend", "record", "stats", "monitor", "export", "import_", "bench",
            "classify", "strategies", "learnings", "report", "config", "init", "verify", "try_", "doctor")


def make_app(command: str | None = None):
    """The typer app. `command`: the subcommand the command line names (its first word), if
    any; only its module is imported and registered (a command's latency starts with the
    imports of the other sixteen otherwise). An unknown word, or none, registers them all, so
    that the top-level help lists them and typer names the mistake."""
    import importlib
    import importlib.util

    import typer

    app = typer.Typer(
        name="simpulse",
        help="Learns which Lean compilation strategy makes each kind of module build fastest, "
             "without ever breaking the build. Use `simpulse build` where you used `lake build`.",
        no_args_is_help=True,
        add_completion=False,
        pretty_exceptions_enable=False,
        context_settings={"help_option_names": ["-h", "--help"]},
    )

    @app.callback()
    def _top(version: bool = typer.Option(False, "--version", "-V", callback=_version, is_eager=True,
                                          help="Print simpulse's version and exit.")) -> None:
        pass
    names = [n for n in COMMANDS if command is not None and n.rstrip("_") == command] or COMMANDS
    for name in names:
        module = f"simpulse.commands.{name}"
        if importlib.util.find_spec(module) is not None:
            importlib.import_module(module).register(app)
    return app


def _version(value: bool) -> None:
    if value:
        import platform

        from simpulse import __version__
        print(f"simpulse {__version__} (Python {platform.python_version()})")
        raise SystemExit(0)


# Commands that run Lean or Lake (their children get the environment as the user set it).
RUNS_TOOLCHAIN = ("build", "try", "bench", "verify", "doctor")
# numpy's BLAS pool: simpulse's matrices are small (a block of 256 signatures at most), so a
# pool of one thread per core only spins, and on a machine whose cores are busy (a build beside
# `simpulse monitor`) it costs more than it computes: `simpulse stats` at 10^5 events took 1.6 s
# with one core busy, 1.2 s with one thread (docs/benchmarks.md, "Store at scale").
BLAS_THREADS = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    with error_handler():
        if argv[:1] == ["build"] and not {"--help", "-h"} & set(argv[1:]):
            from simpulse.commands.build import main_fast
            raise SystemExit(main_fast(argv[1:]))
        if argv[:1] and argv[0] not in RUNS_TOOLCHAIN:
            import os
            for name in BLAS_THREADS:       # before numpy is imported; a user's own setting stands
                os.environ.setdefault(name, "1")
        # standalone_mode=False: usage errors come back as exceptions, which error_handler
        # prints as one line (typer's own output is a multi-line box)
        code = make_app(argv[0] if argv else None)(args=argv, prog_name="simpulse", standalone_mode=False)
        raise SystemExit(code if isinstance(code, int) else 0)


if __name__ == "__main__":
    main()
