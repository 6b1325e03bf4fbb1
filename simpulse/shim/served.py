"""The shim's side of decisions served by `simpulse build` (config `serve`, experimental).

With `serve` on, `simpulse build` keeps the statistics in memory and answers on a private Unix
socket (`simpulse.lake.serve`); a compile's shim then neither imports the learner nor loads the
statistics: it asks (`ask`), runs `lean` as decided, and tells what happened (`Served.observe`)
on the same connection, which the build's server records (appended to the event log, as the
shim would) before it answers. The rules of the shim hold: any failure before lean runs and
the shim decides for itself (`shim/main.py`); after, the compile's result stands and the
failure is logged.

The wire: one JSON line each way per message — the request (module, source path, path in the
workspace, whether warnings are errors, the strategies excluded here, and Lake's invocation,
which the server keeps for `simpulse verify` while `lean` runs), the reply (the strategy, the
context, the source's hash), the observation (`Learner.observe`'s keyword arguments). The
shim sends the observation and ends without waiting: the server records it whenever it
reads it, and does not close before every decision it served has its observation or its end
of stream (`DecisionServer.close`); the compile's job ends that much sooner. (An observation
with ``"_ack": true`` is acknowledged with ``ok`` once recorded.) Standard library only
(`_socket`: `socket` imports `enum`).
"""

from __future__ import annotations

import _socket

from simpulse import _fastjson as json

TYPE_CHECKING = False        # `typing` costs the shim an import; mypy reads this name as typing's
if TYPE_CHECKING:
    from typing import Any

    from simpulse.strategy.catalogue import Catalogue

DECIDE_TIMEOUT = 5.0     # seconds to connect and have a decision: past it, the shim decides itself
TELL_TIMEOUT = 30.0      # seconds for the server to record the compile


class Decision:
    """What the shim needs of the server's decision (a `Learner.Decision`'s fields)."""

    __slots__ = ("module", "context", "strategy", "source_hash", "reason", "explore")

    def __init__(self, module: str, context: str, strategy: Any, source_hash: str | None, reason: str,
                 explore: bool) -> None:
        self.module, self.context, self.strategy = module, context, strategy
        self.source_hash, self.reason, self.explore = source_hash, reason, explore


class Served:
    """The open connection a decision came on: `observe` tells the server the outcome. The
    server kept the compile's invocation (`remembers`): the shim does not write it."""

    remembers = True

    def __init__(self, sock: Any, rest: bytes) -> None:
        self.sock, self.rest = sock, rest

    def observe(self, decision: Decision, *, wait: bool = False, **outcome: Any) -> None:
        """Send the outcome (`Learner.observe`'s keyword arguments); the server records it
        (and logs a failure to) without the shim waiting. `wait`: until it is recorded (raises
        ValueError when it was not). Raises OSError when it could not be sent."""
        try:
            self.sock.settimeout(TELL_TIMEOUT)
            _send(self.sock, dict(outcome, _ack=True) if wait else outcome)
            if wait:
                line, _ = _line(self.sock, self.rest)
                if line != b"ok":
                    raise ValueError(f"the server did not record the compile: {line[:200]!r}")
        finally:
            self.sock.close()


def ask(path: str, request: dict[str, Any], catalogue: Catalogue) -> tuple[Served, Decision]:
    """Connect to the build's server at `path`, send `request`, read its decision. Raises
    (OSError, ValueError, KeyError, TimeoutError) when there is no usable answer."""
    sock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
    try:
        sock.settimeout(DECIDE_TIMEOUT)
        sock.connect(path)
        _send(sock, request)
        line, rest = _line(sock, b"")
        reply = json.loads(line)
        if type(reply) is not dict or "error" in reply:
            raise ValueError(f"the server could not decide: {str(reply)[:200]}")
        strategy = catalogue.get(str(reply["strategy"]))
        decision = Decision(str(request["module"]), str(reply["context"]), strategy, reply.get("source_hash"),
                            str(reply.get("reason", "")), bool(reply.get("explore")))
    except BaseException:
        sock.close()
        raise
    return Served(sock, rest), decision


def message(doc: dict[str, Any]) -> bytes:
    """One message on the wire, either way: a JSON line."""
    return json.dumps(doc).encode("utf-8") + b"\n"


def _send(sock: Any, doc: dict[str, Any]) -> None:
    sock.sendall(message(doc))


def _line(sock: Any, have: bytes) -> tuple[bytes, bytes]:
    """(the next line without its newline, what was read past it). ValueError at the end of
    the stream before a newline."""
    buf = have
    while b"\n" not in buf:
        chunk = sock.recv(65536)
        if not chunk:
            raise ValueError("the connection closed before a reply")
        buf += chunk
    line, _, rest = buf.partition(b"\n")
    return line, rest
