"""Turns failures into one clear line on stderr and an exit code, never a traceback."""

from __future__ import annotations

import contextlib
import os
import sys
import traceback

from simpulse.errors import SimpulseError


@contextlib.contextmanager
def error_handler():
    started_on_devnull = _stdout_is_devnull()
    try:
        yield
    except SimpulseError as e:
        _line(f"simpulse: error: {e}")
        raise SystemExit(e.exit_code) from None
    except KeyboardInterrupt:
        _line("simpulse: interrupted")
        raise SystemExit(130) from None
    except BrokenPipeError:
        _closed_pipe()
    except OSError as e:
        where = f" ({e.filename})" if getattr(e, "filename", None) else ""
        _line(f"simpulse: error: {e.strerror or e}{where}")
        raise SystemExit(2) from None
    except SystemExit as e:
        if e.code == 1 and _pipe_was_closed(started_on_devnull):
            _closed_pipe()
        raise
    except GeneratorExit:
        raise
    except Exception as e:  # noqa: BLE001 - the one place every error becomes one line
        usage = _usage_error(e)
        if usage is not None:
            raise SystemExit(usage) from None
        # a bug: say so in one line, keep the traceback out of the user's way
        _line(f"simpulse: internal error: {type(e).__name__}: {e} (set SIMPULSE_DEBUG=1 for the traceback)")
        if os.environ.get("SIMPULSE_DEBUG"):
            traceback.print_exc()
        raise SystemExit(3) from None


def _usage_error(e: Exception) -> int | None:
    """A command-line mistake reported by typer/click (run with standalone_mode=False): one line,
    `simpulse: error: <command>: <what>`, and click's exit code (2). None: not one of those."""
    X = _click_exceptions()
    if X is None:
        return None
    if isinstance(e, X.Abort):
        _line("simpulse: interrupted")
        return 130
    if isinstance(e, X.NoArgsIsHelpError):
        # `simpulse` (or a group) without arguments: the help, as click shows it
        print(e.format_message(), file=sys.stderr)
        return 2
    if not isinstance(e, X.ClickException):
        return None
    ctx = getattr(e, "ctx", None)
    where = ""
    if ctx is not None and ctx.command_path and ctx.command_path != "simpulse":
        where = ctx.command_path.removeprefix("simpulse ") + ": "
    hint = f" (see `{ctx.command_path} --help`)" if ctx is not None and isinstance(e, X.UsageError) else ""
    _line(f"simpulse: error: {where}{e.format_message()}{hint}")
    return e.exit_code


def _click_exceptions():
    """The module holding click's exception classes: vendored by newer typer, click's own before."""
    import types
    found = {}
    for name in ("typer._click.exceptions", "typer.exceptions", "click.exceptions"):
        try:
            mod = __import__(name, fromlist=["_"])
        except ImportError:
            continue
        for cls in ("Abort", "ClickException", "UsageError", "NoArgsIsHelpError"):
            if cls not in found and hasattr(mod, cls):
                found[cls] = getattr(mod, cls)
    if "ClickException" not in found:
        return None
    found.setdefault("Abort", type("NoAbort", (Exception,), {}))
    found.setdefault("UsageError", found["ClickException"])
    found.setdefault("NoArgsIsHelpError", type("NoNoArgs", (Exception,), {}))
    return types.SimpleNamespace(**found)


def _pipe_was_closed(started_on_devnull: bool) -> bool:
    """Whether an exit code 1 comes from a closed stdout: typer/click catch EPIPE themselves (they
    wrap the streams in PacifyFlushWrapper and exit 1), and so does rich (it points stdout at
    /dev/null and exits 1). An exit 1 of a command whose output went to /dev/null from the start
    (`simpulse verify >/dev/null`) stays 1."""
    if type(sys.stdout).__name__ == "PacifyFlushWrapper":
        return True
    return not started_on_devnull and _stdout_is_devnull()


def _stdout_is_devnull() -> bool:
    try:
        out, null = os.fstat(sys.__stdout__.fileno()), os.stat(os.devnull)
    except (OSError, AttributeError, ValueError):
        return False
    return (out.st_dev, out.st_ino) == (null.st_dev, null.st_ino)


def _closed_pipe():
    """Output piped into a reader that stopped (`simpulse stats | head -1`): not an error. Exit 0
    quietly, and point stdout at /dev/null so that the interpreter's last flush stays quiet."""
    with contextlib.suppress(Exception):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.__stdout__.fileno())
        os.close(devnull)
    with contextlib.suppress(Exception):
        sys.stdout = open(os.devnull, "w")
    raise SystemExit(0) from None


def _line(text: str) -> None:
    text = " ".join(str(text).split())
    print(text, file=sys.stderr)
