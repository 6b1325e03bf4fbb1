"""The lower bound of decisions served by `simpulse build` (`serve`; simpulse/lake/serve.py).

Today every compile's shim starts Python, imports simpulse's hot path, loads the statistics
(through snapshot.view), decides, runs `lean`, records its event and exits: ~2.5-2.9x the
exec-only floor at Mathlib's size (docs/benchmarks.md, "Store at scale"). The issue's target is
2x. Most of the difference is work a long-lived process would do once: the imports of the
learner, the load, the similarity index. `simpulse build` is such a process — it waits on Lake
for the whole build.

This script measured the design before it was built, and still times its floor: interleaved,
`--runs` times each:

* the **floor**: the venv Python started as the facade starts the shim (`-IS`), which execs
  `/bin/true` at once (what bench_store_scale.py calls the floor);
* a **served client**: the same start, then what the smallest such shim must do — connect to a
  Unix socket, send its request, read the decision, spawn `/bin/true` with `posix_spawn`, wait
  for it with `wait4` (the CPU time the objective needs), send the observation, exit. The
  server (a thread here) answers at once: a warm learner's decision (~1-2 ms at Mathlib's size,
  `choose` in bench_store_scale.py) would come on top, in another process.

It measures the architecture's floor, not the shim: no settings parsed, no fallback, no output
capture, no message checks (the real served shim: bench_store_scale.py). Prints figures; changes no tracked file unless `--write-docs`.

    python scripts/bench_served_shim.py [--runs 150] [--write-docs]
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _benchdoc import write_section  # noqa: E402

TRUE = "/bin/true"
FLOOR = f"import os\nos.execv({TRUE!r}, [{TRUE!r}])\n"
CLIENT = """
import _socket, os
s = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
s.connect({path!r})
s.sendall(b'{{"module":"Fixtures.A","args":["Fixtures/A.lean","-o","A.olean"]}}\\n')
decision = s.recv(65536)
pid = os.posix_spawn({true!r}, [{true!r}], os.environ)
_, status, usage = os.wait4(pid, 0)
s.sendall(b'{{"status":%d,"cpu":%.6f}}\\n' % (status, usage.ru_utime + usage.ru_stime))
s.close()
os._exit(0)
"""


def serve(server: socket.socket) -> None:
    while True:
        try:
            conn, _ = server.accept()
        except OSError:
            return
        with conn:
            conn.recv(65536)
            conn.sendall(b'{"strategy":"baseline","args":[]}\n')
            conn.recv(65536)


def timed(cmd: list[str]) -> float:
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True)
    return time.perf_counter() - t0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--runs", type=int, default=150)
    ap.add_argument("--python", default=sys.executable)
    ap.add_argument("--write-docs", action="store_true", help="write this benchmark's section of docs/benchmarks.md")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "decide.sock")
        server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        server.bind(path)
        server.listen(64)
        threading.Thread(target=serve, args=(server,), daemon=True).start()
        client = CLIENT.format(path=path, true=TRUE)
        floor, served = [], []
        for _ in range(args.runs):
            floor.append(timed([args.python, "-IS", "-c", FLOOR]))
            served.append(timed([args.python, "-IS", "-c", client]))
        server.close()
    f, c = statistics.median(floor), statistics.median(served)
    ratios = sorted(b / a for a, b in zip(floor, served))
    text = "\n".join([
        "The lower bound of a shim whose decision `simpulse build` serves over a Unix socket (`serve`; the real "
        "served shim is timed in \"Store at scale\"): "
        "the venv Python started as the facade starts the shim, connecting, sending a request, reading a decision "
        "answered at once, spawning `/bin/true` (`posix_spawn`, `wait4`), sending the observation; against the "
        f"floor (the same start, exec of `/bin/true`). {args.runs} interleaved pairs.",
        "",
        "| floor p50 | served client p50 | client / floor (median of pairs) |",
        "|---:|---:|---:|",
        f"| {f * 1e3:.1f} ms | {c * 1e3:.1f} ms | {statistics.median(ratios):.2f}× |",
        "",
        "A warm learner's decision (~1–2 ms at 6,000 modules) and the real shim's own work (settings, fallback, "
        "output capture) would come on top; the load of the statistics, the similarity index and most imports "
        "would not.",
        "",
        f"Reproduce: `.venv/bin/python scripts/bench_served_shim.py --runs {args.runs} --write-docs`",
    ])
    print(text)
    if args.write_docs:
        write_section("bench_served_shim", "A shim served by the build: the lower bound", text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
