"""The one exception type a user may see. Standard library only (the shim imports it)."""


class SimpulseError(Exception):
    """A failure the user caused or can fix: printed as one line, exit code 2."""

    exit_code = 2
