"""Reading what `lean` printed: `--json` messages (contract §4) or plain ``FILE:L:C: error:`` lines.

Standard library only (the shim imports it).
"""

from __future__ import annotations

import json
import re

_PLAIN = re.compile(r"^(?P<file>.*?):(?P<line>\d+):(?P<col>\d+): (?P<sev>error|warning|info|information)\b:? ?(?P<text>.*)$")


def iter_messages(stdout: bytes | str):
    """Yield dicts with fileName, line, column, severity, text from Lean's output, leniently."""
    if isinstance(stdout, bytes):
        stdout = stdout.decode("utf-8", errors="replace")
    for raw in stdout.splitlines():
        line = raw.strip()
        if not line:
            continue
        if line.startswith("{"):
            try:
                msg = json.loads(line)
            except ValueError:
                msg = None
            if isinstance(msg, dict) and "severity" in msg:
                pos = msg.get("pos") if isinstance(msg.get("pos"), dict) else {}
                yield {
                    "fileName": str(msg.get("fileName", "")),
                    "line": pos.get("line", 0),
                    "column": pos.get("column", 0),
                    "severity": str(msg.get("severity")),
                    "text": str(msg.get("data", "")),
                }
                continue
        m = _PLAIN.match(line)
        if m:
            sev = m.group("sev")
            yield {
                "fileName": m.group("file"),
                "line": int(m.group("line")),
                "column": int(m.group("col")),
                "severity": "information" if sev == "info" else sev,
                "text": m.group("text"),
            }


def first_error(stdout: bytes | str, stderr: bytes | str = b"") -> str | None:
    """Lean's first error, as one line ``FILE:LINE:COL: first line of the message``."""
    for msg in iter_messages(stdout):
        if msg["severity"] == "error":
            text = msg["text"].strip().splitlines()[0] if msg["text"].strip() else ""
            return f"{msg['fileName']}:{msg['line']}:{msg['column']}: {text}"[:500]
    if isinstance(stderr, bytes):
        stderr = stderr.decode("utf-8", errors="replace")
    for line in stderr.splitlines():
        if line.strip():
            return line.strip()[:500]
    return None


def error_kind(text: str | None) -> str:
    """A normalised Lean error: what `learnings` groups failures by."""
    if not text:
        return "unknown"
    t = text.lower()
    for needle, kind in (
        ("unsolved goals", "unsolved goals"),
        ("simp made no progress", "simp made no progress"),
        ("maximum recursion depth", "maximum recursion depth"),
        ("maximum number of heartbeats", "heartbeats exhausted"),
        ("deterministic) timeout", "heartbeats exhausted"),
        ("unknown configuration option", "unknown option"),
        ("proved that the proposition", "decide: proposition is false"),
        ("failed to synthesize", "failed to synthesize instance"),
        ("type mismatch", "type mismatch"),
        ("unknown identifier", "unknown identifier"),
        ("unknown constant", "unknown constant"),
        ("linter", "linter error"),
        ("omega could not prove", "omega failed"),
    ):
        if needle in t:
            return kind
    return "other"
