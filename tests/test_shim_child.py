"""The shim's child runner: the real lean's output, exit status and times, whichever way it is
captured (in-memory files on Linux, pipes elsewhere)."""

from __future__ import annotations

import os
import sys

import pytest

from simpulse.shim.main import _Child

BIG = 300_000                    # more than a pipe holds: the runner must drain while lean writes
SCRIPT = ("import os, sys\n"
          "sys.stdout.buffer.write(b'o' * %d); sys.stdout.flush()\n"
          "sys.stderr.buffer.write(b'e' * 7 + b'\\n'); sys.stderr.flush()\n"
          "sum(range(2_000_000))\n"
          "sys.exit(int(sys.argv[1]))\n") % BIG


@pytest.mark.parametrize("piped", [False, True])
@pytest.mark.parametrize("code", [0, 3])
def test_output_exit_code_and_times_are_the_childs(piped, code):
    rc, out, err, wall, cpu = _Child.run([sys.executable, "-c", SCRIPT, str(code)], piped=piped)
    assert (rc, out, err) == (code, b"o" * BIG, b"e" * 7 + b"\n")
    assert wall > 0 and cpu > 0 and cpu < wall * 4
    assert _Child.pid is None


@pytest.mark.parametrize("piped", [False, True])
def test_a_child_killed_by_a_signal_reports_it(piped):
    rc, out, err, _, _ = _Child.run([sys.executable, "-c", "import os; print('x', flush=True); os.kill(os.getpid(), 9)"],
                                    piped=piped)
    assert (rc, out) == (-9, b"x\n")


def test_without_memfd_it_uses_pipes(monkeypatch):
    monkeypatch.delattr(os, "memfd_create", raising=False)
    rc, out, err, _, _ = _Child.run([sys.executable, "-c", SCRIPT, "0"])
    assert (rc, len(out), err) == (0, BIG, b"e" * 7 + b"\n")


def test_an_unstartable_lean_raises_oserror_and_leaks_no_descriptor(tmp_path):
    before = len(os.listdir("/proc/self/fd")) if os.path.isdir("/proc/self/fd") else None
    for piped in (False, True):
        with pytest.raises(OSError):
            _Child.run([str(tmp_path / "no-such-lean")], piped=piped)
    if before is not None:
        assert len(os.listdir("/proc/self/fd")) == before
