"""Turns failures into one clear line on stderr and an exit code, never a traceback."""

from __future__ import annotations

import contextlib
import os
import sys
import traceback

from simpulse.errors import SimpulseError


@contextlib.contextmanager
def error_handler():
    try:
        yield
    except SimpulseError as e:
        _line(f"simpulse: error: {e}")
        raise SystemExit(e.exit_code) from None
    except KeyboardInterrupt:
        _line("simpulse: interrupted")
        raise SystemExit(130) from None
    except BrokenPipeError:
        # Output piped into a closed reader (`simpulse stats | head`): not an error.
        with contextlib.suppress(Exception):
            sys.stdout = open(os.devnull, "w")
        raise SystemExit(0) from None
    except OSError as e:
        where = f" ({e.filename})" if getattr(e, "filename", None) else ""
        _line(f"simpulse: error: {e.strerror or e}{where}")
        raise SystemExit(2) from None
    except (SystemExit, GeneratorExit):
        raise
    except Exception as e:  # a bug: say so in one line, keep the traceback out of the user's way
        _line(f"simpulse: internal error: {type(e).__name__}: {e} (set SIMPULSE_DEBUG=1 for the traceback)")
        if os.environ.get("SIMPULSE_DEBUG"):
            traceback.print_exc()
        raise SystemExit(3) from None


def _line(text: str) -> None:
    text = " ".join(str(text).split())
    print(text, file=sys.stderr)
