"""Named views of the learner's statistics, for everything outside the model.

The statistics are a plain JSON-able dict (so the store can snapshot them and the shim can load
them fast). Inside `simpulse.model` and `simpulse.policy` they keep their compact layout —
position-indexed arms, one-letter module-record keys — which docs/state-format.md documents
field by field. Outside, code reads them through `Learner`'s query methods, which return the
types below; nothing outside the model indexes an arm or spells a record key.

Standard library only; not imported by the shim (the query methods import it when called).
"""

from __future__ import annotations

from typing import Any

from simpulse._record import Record
from simpulse.policy.posterior import FAILS, N, S1, S2, W, WINS


class ArmStats(Record):
    """One arm's sufficient statistics: a strategy in a context (or, for `Learner.strategy_totals`,
    summed over contexts). `weight` is the sum of the evidence's weights, `total` and `squares`
    the weighted sums of the residuals (log time against the module's level) and of their
    squares, `pulls` the raw number of observations, `fails` how many broke the module, `wins`
    how many were faster than the module's level."""

    __slots__ = ("weight", "total", "squares", "pulls", "fails", "wins")
    _frozen = True
    weight: float
    total: float
    squares: float
    pulls: int
    fails: int
    wins: int

    @classmethod
    def of(cls, arm: list[float] | None) -> ArmStats:
        if not arm:
            return cls(0.0, 0.0, 0.0, 0, 0, 0)
        return cls(float(arm[W]), float(arm[S1]), float(arm[S2]), int(arm[N]), int(arm[FAILS]), int(arm[WINS]))

    @property
    def mean(self) -> float | None:
        """The weighted mean residual (negative: faster than the level), None without weight."""
        return self.total / self.weight if self.weight > 0 else None


class ModuleView(Record):
    """What the learner keeps of one module under one toolchain (decoded from its record):
    - `context`: the context it was last classified into (None before its first compile);
    - `source_hash`: the first 16 hex digits of the last source compiled (None if unknown);
    - `observations`: strategy → (compiles, sum of log seconds) on this module;
    - `failed`: strategy → the source hash it broke (a strategy is not tried on that source
      again; "*…" when the failure came without a hash);
    - `carried_level`: log seconds measured under an earlier toolchain, if carried over;
    - `features`: the feature vector the level regression uses (None without features)."""

    __slots__ = ("module", "context", "source_hash", "observations", "failed", "carried_level", "features")
    _frozen = True
    module: str
    context: str | None
    source_hash: str | None
    observations: dict[str, tuple[int, float]]
    failed: dict[str, str]
    carried_level: float | None
    features: list[float] | None

    @classmethod
    def of(cls, module: str, rec: dict[str, Any]) -> ModuleView:
        obs = {str(k): (int(e[0]), float(e[1])) for k, e in (rec.get("s") or {}).items()}
        o = rec.get("o")
        x = rec.get("x")
        return cls(module, rec.get("k"), rec.get("h"), obs, dict(rec.get("f") or {}),
                   float(o) if isinstance(o, (int, float)) else None,
                   [float(v) for v in x] if isinstance(x, list) else None)

    @property
    def compiles(self) -> int:
        return sum(n for n, _ in self.observations.values())


class ToolchainView(Record):
    """A toolchain's statistics in outline: its githash, whether its compiles were simulated,
    the first and last event time, the contexts and modules it has seen, its compiles and how
    many of them explored, and whether it holds evidence imported from another project."""

    __slots__ = ("githash", "simulated", "first", "last", "contexts", "modules", "compiles",
                 "explored", "imported")
    _frozen = True
    githash: str
    simulated: bool
    first: float | None
    last: float | None
    contexts: list[str]
    modules: int
    compiles: int
    explored: int
    imported: bool

    @classmethod
    def of(cls, githash: str, tc: dict[str, Any]) -> ToolchainView:
        explore = tc.get("explore") or [0, 0]
        return cls(githash, bool(tc.get("simulated")), tc.get("first"), tc.get("last"),
                   sorted(tc.get("arms", {})), len(tc.get("modules", {})), int(explore[1]),
                   int(explore[0]), bool(tc.get("imp")))
