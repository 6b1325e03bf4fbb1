"""The learner's tunables: every constant of the model and of the decision, in one place, each with
what it means (docs/learning.md explains the model). Standard library only."""

from __future__ import annotations

import math

SCHEMA = 1
PLAUSIBLE_SECONDS = (1e-6, 86400.0)   # a compile time the fold accepts: at least 1 µs, at most a day
MODES = ("auto", "confident", "shadow")

MODULE_MEMORY = 8          # a module's mean under a strategy covers its last ~8 compiles
SHARE_KAPPA = 0.15         # a context borrows at most this many pseudo-observations from the other contexts
TOOLCHAIN_DISCOUNT = 0.25  # evidence from an earlier toolchain counts this much
TOOLCHAIN_CAP = 6.0        # ... and at most this many pseudo-observations
SLOWER = math.log(1 / 0.95)   # safety: recent results below 95% of baseline
RECENT = 6                 # ... judged on the median of the last 6 results in the context
COOLDOWN = 60              # a suspension for slowness is re-probed after 60 compiles in the context
CONFIDENT = 0.8
EXPLORE_BUDGET = 0.35       # the largest share of a toolchain's compiles that may explore (config `explore_budget`)
IMPORT_TRUST = 0.5         # prior probability that an import's evidence on a context describes this project ...
IMPORT_POOL = 0.5          # ... the other contexts' evidence on it counting half
IMPORT_EVEN = 0.5 - 1e-9   # below this, the model without the import is the likelier (even odds: with it)
TEMPERATURE_RANGE = (0.25, 4.0)   # exploration scale ∝ 1 / (module's cost relative to its context), clipped
OUTLIER_CLIP = 2.5         # a compile's slowdown against its expected log-time counts at most 2.5 σ
BREAK_PRIOR = (0.5, 10.0)  # Beta prior on the share of a context's modules a may-break strategy breaks
SAFE_BREAK_PRIOR = (0.5, 30.0)  # ... and one declared safe, once it has failed in the context
EVIDENCE_FLOOR = 2.0       # every strategy gets evidence worth 2 paired compiles in a context ...
FLOOR_COST = 0.5           # ... from modules under half the context's typical cost ...
FLOOR_AFTER = 30           # ... once the context has 30 compiles
BREAKING = (0.2, 0.95)     # suspended for failures: P(breaks > 20% of the context's modules) ≥ 0.95 ...
BREAKING_LAPSE = 8         # ... until COOLDOWN × 2^min(failures, 8) compiles in the context since it last ran
BREAK_COST = 1.65          # cost ratio of a failure (attempt + fallback over baseline) before one is seen
DEBIAS_REFRESH = 4         # de-biasing uses δ̂ re-solved every 4 module updates of a context
POOLED = "*"               # key of the regression over every context
REG_MIN = 2                # a regression predicts once it has REG_MIN × (number of features) points
REG_RIDGE = 0.1            # ridge on the log(lines) slope of the per-context level regression
BETA_PRIOR = (0.05, 1.0)   # pseudo-observations behind the joint model's prior on β (intercept, log(lines) slope)
PREDICTION_REFRESH = (0.25, 0.02)  # a context's modules are re-added when its level prediction's weight
                                   # moves by > 25% and > 0.02 compiles' worth
CARRY_MIN = 3              # carried levels predict once a context has 3 compiles of carried modules
SECONDARY = (10.0, 10.0)   # ridge of the stale regression / β prior weight on the slopes after log(lines):
                           # declarations and tactic counts must earn their place; size predicts first
