"""The result of one check: ✓ passed, ✗ failed (with a one-line remedy), – skipped (with why)."""

from __future__ import annotations

from dataclasses import dataclass, field

OK, FAIL, SKIP = "ok", "fail", "skip"
SYMBOL = {OK: "✓", FAIL: "✗", SKIP: "–"}


@dataclass
class Check:
    id: str                       # e.g. "toolchain.override", "options.strategy.no-async"
    section: str                  # toolchain | invisibility | options | meaning | cost | state
    title: str                    # what is checked, one short line
    status: str                   # OK | FAIL | SKIP
    detail: str = ""              # what was observed (for SKIP: why it was skipped)
    remedy: str | None = None     # one line, for FAIL
    data: dict = field(default_factory=dict)   # the observations, for --json and bug reports

    def to_json(self) -> dict:
        return {"id": self.id, "section": self.section, "title": self.title, "status": self.status,
                "symbol": SYMBOL[self.status], "detail": self.detail, "remedy": self.remedy,
                "data": self.data}


def ok(id, section, title, detail="", **data) -> Check:
    return Check(id, section, title, OK, detail, None, data)


def fail(id, section, title, detail, remedy, **data) -> Check:
    return Check(id, section, title, FAIL, detail, remedy, data)


def skip(id, section, title, why, **data) -> Check:
    return Check(id, section, title, SKIP, why, None, data)
