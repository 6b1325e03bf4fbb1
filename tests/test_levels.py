"""Module levels' features (simpulse/model/levels.py): the import closure as a feature of the
compile, and statistics of the earlier five-feature format read and continued, never reset."""

from __future__ import annotations

import math
import random

import pytest

from simpulse.model import levels as L

SOURCE = {"lines": 120, "declarations": 9, "simp": 4, "omega": 2}


def test_the_closure_is_a_sixth_feature_only_where_it_is_known():
    five = L.feature_vector(SOURCE)
    assert len(five) == 5
    six = L.feature_vector({**SOURCE, L.CLOSURE: 40})
    assert six[:5] == five and six[5] == pytest.approx(math.log1p(40))
    # the closure alone is no classified source: the record's vector stands for the source
    assert L.feature_vector({L.CLOSURE: 40}) is None
    rec_x = [round(v, 5) for v in five]
    assert L.with_closure(rec_x, {L.CLOSURE: 40}) == rec_x + [round(math.log1p(40), 5)]
    assert L.with_closure(rec_x, {}) == rec_x
    assert L.with_closure(rec_x + [1.0], {L.CLOSURE: 0})[5] == 0.0     # a closure that changed
    for bad in (-1, float("nan"), True, "40"):
        assert len(L.feature_vector({**SOURCE, L.CLOSURE: bad})) == 5


def _fill(tc: dict, rng: random.Random, n: int, closure: bool) -> None:
    for _ in range(n):
        lines, c = rng.randint(20, 800), rng.randint(0, 300)
        y = 0.8 * math.log1p(lines) + (0.5 * math.log1p(c) if closure else 0.0) - 4 + rng.gauss(0, 0.1)
        feats = {"lines": lines, "declarations": lines // 12, **({L.CLOSURE: c} if closure else {})}
        L._reg_add(tc, "ctx", L.feature_vector(feats), y)


def test_five_feature_sums_are_continued_with_six():
    """A state of the earlier format (five features, no closure) keeps its sums: they widen with
    zeros (as if every compile so far had measured no closure) when a compile brings one, the
    fit still answers five-feature vectors, and the closure enters the count of parameters only
    once measured (a project whose Lake writes no setup file keeps the regression it had)."""
    rng = random.Random(3)
    tc: dict = {}
    _fill(tc, rng, 40, closure=False)
    five = L.regression_fit(tc, "ctx", 5)
    assert five is not None and len(five[0]) == 5
    assert L._params(tc["reg"]["ctx"], 6) == 5             # widened, but nothing measured there
    widened = L.regression_fit(tc, "ctx", 6)
    assert widened is not None and widened[0][:5] == pytest.approx(five[0], abs=1e-6) and widened[0][5] == 0.0
    _fill(tc, rng, 60, closure=True)
    assert len(tc["reg"]["ctx"]["b"]) == 6 and tc["reg"]["ctx"]["n"] == 100
    assert L._params(tc["reg"]["ctx"], 6) == 6
    beta, _ = L.regression_fit(tc, "ctx", 6)
    assert 0.4 < beta[5] < 0.6          # the closure's slope, 0.5, recovered
    beta5, _ = L.regression_fit(tc, "ctx", 5)            # a record of the earlier format still predicts
    assert len(beta5) == 5
