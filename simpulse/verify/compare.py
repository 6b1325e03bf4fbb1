"""Comparing two runs of `lean` on one module: exit code, messages, outputs.

A run is what a build would keep of a compile: whether it passed (Lake's verdict), what it
printed (Lake stores it in the trace and replays it on every up-to-date build, contract §3),
and the files it wrote (what importers load, and what input-keyed caches hold).

Messages are read from ``lean --json`` lines (``severity``, ``pos``, ``endPos``, ``data``) or
from plain ``FILE:L:C: severity: text`` lines (a message's text runs until the next such line);
any other stdout line, and stderr, are kept as ``stdout``/``stderr`` entries, since Lake logs
those too. Two runs print the same messages when these lists are equal, in order.
"""

from __future__ import annotations

import hashlib
import json
import os
import re

_PLAIN = re.compile(r"^(?P<file>.*?):(?P<line>\d+):(?P<col>\d+): "
                    r"(?P<sev>error|warning|info|information)(?:\(\w+\))?:? ?(?P<text>.*)$")


class Run:
    """One `lean` run: exit code (negative: killed by that signal), stdout, stderr, outputs."""

    def __init__(self, rc: int, stdout: bytes, stderr: bytes, outputs: dict[str, str], wall: float = 0.0):
        self.rc = rc
        self.stdout = stdout
        self.stderr = stderr
        self.outputs = outputs            # relative name -> sha256 of the bytes
        self.wall = wall
        self.messages = parse_messages(stdout, stderr)

    @property
    def ok(self) -> bool:
        return self.rc == 0


def parse_messages(stdout: bytes | str, stderr: bytes | str = b"") -> list[tuple]:
    """(severity, line, column, end line, end column, text) for every message, in order."""
    if isinstance(stdout, bytes):
        stdout = stdout.decode("utf-8", errors="replace")
    if isinstance(stderr, bytes):
        stderr = stderr.decode("utf-8", errors="replace")
    msgs: list[list] = []
    plain_open = False
    for raw in stdout.splitlines():
        line = raw.rstrip("\r")
        s = line.strip()
        if s.startswith("{"):
            try:
                m = json.loads(s)
            except ValueError:
                m = None
            if isinstance(m, dict) and "severity" in m:
                pos = m.get("pos") if isinstance(m.get("pos"), dict) else {}
                end = m.get("endPos") if isinstance(m.get("endPos"), dict) else {}
                msgs.append([str(m.get("severity")), pos.get("line"), pos.get("column"),
                             end.get("line"), end.get("column"), str(m.get("data", ""))])
                plain_open = False
                continue
        p = _PLAIN.match(line)
        if p:
            sev = p.group("sev")
            msgs.append(["information" if sev == "info" else sev, int(p.group("line")),
                         int(p.group("col")), None, None, p.group("text")])
            plain_open = True
        elif plain_open:
            msgs[-1][5] += "\n" + line
        elif s:
            msgs.append(["stdout", None, None, None, None, line])
    for line in stderr.splitlines():
        if line.strip():
            msgs.append(["stderr", None, None, None, None, line.rstrip("\r")])
    return [tuple(m) for m in msgs]


def hash_outputs(root: str) -> dict[str, str]:
    """Every file under `root` (relative path with ``/``) -> sha256 of its bytes."""
    out: dict[str, str] = {}
    for dirpath, _dirs, files in os.walk(root):
        for name in files:
            path = os.path.join(dirpath, name)
            h = hashlib.sha256()
            with open(path, "rb") as f:
                for chunk in iter(lambda: f.read(1 << 20), b""):
                    h.update(chunk)
            out[os.path.relpath(path, root).replace(os.sep, "/")] = h.hexdigest()
    return dict(sorted(out.items()))


def _fmt_msg(m: tuple) -> str:
    sev, line, col, _el, _ec, text = m
    where = f"{line}:{col} " if line is not None else ""
    first = text.strip().splitlines()[0] if text.strip() else ""
    return f"{where}{sev}: {first}"[:120]


def _describe_messages(a: list[tuple], b: list[tuple]) -> str:
    only_a = [m for m in a if m not in b]
    only_b = [m for m in b if m not in a]
    parts = []
    if only_a:
        parts.append(f"{len(only_a)} gone (first: {_fmt_msg(only_a[0])})")
    if only_b:
        parts.append(f"{len(only_b)} new (first: {_fmt_msg(only_b[0])})")
    if not parts:
        parts.append("same messages in another order")
    return f"messages {len(a)} → {len(b)}: " + "; ".join(parts)


def _describe_outputs(a: dict[str, str], b: dict[str, str]) -> str:
    missing = [k for k in a if k not in b]
    extra = [k for k in b if k not in a]
    changed = [k for k in a if k in b and a[k] != b[k]]
    parts = []
    if changed:
        parts.append("bytes differ: " + ", ".join(os.path.basename(k) for k in changed))
    if missing:
        parts.append("not written: " + ", ".join(os.path.basename(k) for k in missing))
    if extra:
        parts.append("written only here: " + ", ".join(os.path.basename(k) for k in extra))
    return "outputs " + "; ".join(parts)


def first_error(run: Run) -> str:
    for m in run.messages:
        if m[0] in ("error", "stderr"):
            return _fmt_msg(m)
    return f"lean exited with code {run.rc}" if run.rc >= 0 else f"lean killed by signal {-run.rc}"


def compare(base: Run, other: Run) -> dict:
    """What differs between `base` and `other`: ``{"verdict", "messages", "outputs"}`` booleans,
    ``what`` (``["verdict"]`` when the verdict differs, else the differing kinds among
    messages and outputs), ``breaks`` (other fails where base passes),
    ``fixes`` (the reverse), and a one-line ``detail``."""
    verdict = base.ok != other.ok
    messages = base.messages != other.messages
    outputs = base.outputs != other.outputs
    details = []
    if verdict:
        if base.ok:
            details.append(f"breaks the module: {first_error(other)}")
        else:
            details.append(f"passes where the baseline fails ({first_error(base)})")
    else:
        if messages:
            details.append(_describe_messages(base.messages, other.messages))
        if outputs:
            details.append(_describe_outputs(base.outputs, other.outputs))
    # A changed verdict is the whole story: the messages and outputs of a run that failed differ
    # from a passing run's as a consequence.
    what = ["verdict"] if verdict else [k for k, v in (("messages", messages), ("outputs", outputs)) if v]
    return {"verdict": verdict, "messages": messages, "outputs": outputs, "what": what,
            "breaks": verdict and base.ok, "fixes": verdict and not base.ok,
            "detail": "; ".join(details) if details else "identical"}
