"""The learner's generator (`policy/rng.py`) draws what `random.Random` draws, seed for seed."""

from __future__ import annotations

import random

import pytest

from simpulse.policy import rng as R


@pytest.mark.parametrize("seed", [0, 1, 12345, -7, 2**70])
def test_every_draw_equals_random_Random_for_the_same_seed(seed):
    ours, std = R.make(seed), random.Random(seed)
    assert type(ours) is R.Rng
    shapes = [0.2, 0.5, 0.99, 1.0, 1.5, 3.0, 40.0]      # GS (< 1), the exponential (= 1), GB (> 1)
    for i in range(6000):
        k = i % 6
        if k == 0:
            pair = ours.random(), std.random()
        elif k == 1:                                     # pairs: the spare variate is used in turn
            pair = ours.gauss(0.3, 2.0), std.gauss(0.3, 2.0)
        elif k == 2:
            a = shapes[(i // 6) % len(shapes)]
            pair = ours.gammavariate(a, 1.7), std.gammavariate(a, 1.7)
        elif k == 3:
            a, b = 0.5 + i % 5, 0.3 + i % 3
            pair = ours.betavariate(a, b), std.betavariate(a, b)
        elif k == 4:
            n = 1 + i % 13
            pair = ours.randrange(n), std.randrange(n)
        else:
            pair = ours.gauss(), std.gauss()
        assert pair[0] == pair[1], (seed, i, k)


def test_reseeding_forgets_the_spare_normal():
    ours, std = R.Rng(3), random.Random(3)
    ours.gauss(), std.gauss()                   # each keeps its second variate
    ours.seed(9), std.seed(9)
    assert [ours.gauss() for _ in range(5)] == [std.gauss() for _ in range(5)]


def test_unseeded_generators_differ_and_other_seeds_go_to_random():
    assert R.Rng().random() != R.Rng().random()
    assert isinstance(R.make("seven"), random.Random)
    assert R.make("seven").random() == random.Random("seven").random()


def test_bad_arguments_are_refused_as_random_refuses_them():
    g = R.Rng(1)
    with pytest.raises(ValueError):
        g.randrange(0)
    with pytest.raises(ValueError):
        g.gammavariate(0.0, 1.0)
    with pytest.raises(ValueError):
        g.gammavariate(1.0, -1.0)


def test_the_learner_draws_from_it():
    from simpulse.learner import Learner
    assert type(Learner(None, seed=4).rng) is R.Rng
