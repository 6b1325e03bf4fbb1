"""Write one script's section of docs/benchmarks.md, between its own markers, leaving the rest."""

from __future__ import annotations

import time
from pathlib import Path

DOC = Path(__file__).resolve().parent.parent / "docs" / "benchmarks.md"
HEADER = ("# Benchmarks\n\nEach section is written by the script it names, measured on this project's "
          "development machine (2 cores, shared, noisy: compare ratios measured side by side in one run). "
          "Figures from the simulated toolchain are simulated and say so.\n")


def stamp() -> str:
    """Now, as a section's "Measured" line gives it."""
    return time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())


def write_section(name: str, title: str, body: str, measured: str | None = None) -> None:
    """``measured``: when the figures were measured (`stamp`), if not now (a re-rendering)."""
    start, end = f"<!-- {name}:start -->", f"<!-- {name}:end -->"
    stamp_ = measured or stamp()
    block = f"{start}\n## {title}\n\n_Measured {stamp_}._\n\n{body.rstrip()}\n{end}"
    text = DOC.read_text(encoding="utf-8") if DOC.exists() else HEADER
    if start in text and end in text:
        before, rest = text.split(start, 1)
        _, after = rest.split(end, 1)
        text = before + block + after
    else:
        text = text.rstrip() + "\n\n" + block + "\n"
    DOC.parent.mkdir(parents=True, exist_ok=True)
    DOC.write_text(text, encoding="utf-8")
