"""The learner's random generator, without importing `random` (the shim's hot path).

Importing the standard library's `random` costs a compile ~2 ms: it pulls in `warnings`,
`operator`, `bisect`, `_sha512` and more, for the few draws a decision makes. `Rng` is the
Mersenne Twister of `_random` (the C core `random.Random` is built on) with the four draws the
policies use written here: `random`, `gauss`, `gammavariate`, `betavariate` and `randrange`.

Same seed, same numbers: for a seed that is None or an int, every draw equals the one
`random.Random(seed)` makes, bit for bit (`tests/test_rng.py` checks it over every branch), so
seeded benchmarks and tests give the figures they gave with `random`. To get there the
arithmetic below follows the order of operations of CPython's `random` module; the algorithms
are the textbook ones it uses:

* normal: Box–Muller, the second variate of a pair kept for the next call;
* gamma, shape > 1: R. C. H. Cheng (1977), "The generation of gamma variables with
  non-integral shape parameter", algorithm GB;
* gamma, shape = 1: the exponential by inversion;
* gamma, shape < 1: J. H. Ahrens and U. Dieter (1974), algorithm GS;
* beta: X / (X + Y) with X ~ Gamma(a), Y ~ Gamma(b);
* randrange(n): rejection sampling of `n.bit_length()` random bits.

Any other seed (a string, bytes) goes to `random.Random` itself: `make(seed)`.

Standard library only.
"""

from __future__ import annotations

import _random
from math import cos, e, exp, log, sin, sqrt, tau

TYPE_CHECKING = False        # `typing` costs the shim an import; mypy reads this name as typing's
if TYPE_CHECKING:
    import random

_LOG4 = log(4.0)
_SG_MAGIC = 1.0 + log(4.5)


class Rng(_random.Random):
    """`random.Random`'s draws the learner uses, on the same generator (see the module)."""

    def __init__(self, seed: int | None = None) -> None:
        super().__init__(seed)
        self._spare: float | None = None

    def seed(self, n: int | None = None) -> None:  # type: ignore[override]
        super().seed(n)
        self._spare = None

    def gauss(self, mu: float = 0.0, sigma: float = 1.0) -> float:
        z = self._spare
        self._spare = None
        if z is None:
            angle = self.random() * tau
            radius = sqrt(-2.0 * log(1.0 - self.random()))
            z = cos(angle) * radius
            self._spare = sin(angle) * radius
        return mu + z * sigma

    def gammavariate(self, alpha: float, beta: float) -> float:
        if alpha <= 0.0 or beta <= 0.0:
            raise ValueError("gammavariate: alpha and beta must be > 0.0")
        draw = self.random
        if alpha > 1.0:                                  # Cheng's GB
            a = sqrt(2.0 * alpha - 1.0)
            b = alpha - _LOG4
            c = alpha + a
            while True:
                u1 = draw()
                if not 1e-7 < u1 < 0.9999999:
                    continue
                u2 = 1.0 - draw()
                v = log(u1 / (1.0 - u1)) / a
                x = alpha * exp(v)
                z = u1 * u1 * u2
                r = b + c * v - x
                if r + _SG_MAGIC - 4.5 * z >= 0.0 or r >= log(z):
                    return x * beta
        if alpha == 1.0:                                 # exponential
            return -log(1.0 - draw()) * beta
        while True:                                      # Ahrens–Dieter GS
            u = draw()
            b = (e + alpha) / e
            p = b * u
            x = p ** (1.0 / alpha) if p <= 1.0 else -log((b - p) / alpha)
            u1 = draw()
            if p > 1.0:
                if u1 <= x ** (alpha - 1.0):
                    break
            elif u1 <= exp(-x):
                break
        return x * beta

    def betavariate(self, alpha: float, beta: float) -> float:
        y = self.gammavariate(alpha, 1.0)
        return y / (y + self.gammavariate(beta, 1.0)) if y else 0.0

    def randrange(self, n: int) -> int:
        """A uniform int in [0, n) (`random.Random.randrange` with one argument)."""
        if n <= 0:
            raise ValueError("empty range for randrange()")
        k = n.bit_length()
        r = self.getrandbits(k)
        while r >= n:
            r = self.getrandbits(k)
        return r


if TYPE_CHECKING:
    Generator = Rng | random.Random      # what the policies draw from


def make(seed: object = None) -> Generator:
    """The learner's generator for `seed`: an `Rng` for None or an int (the shim's seeds, the
    benchmarks'), `random.Random` for anything else it accepts."""
    if seed is None or type(seed) is int:
        return Rng(seed)
    import random
    return random.Random(seed)  # type: ignore[arg-type]
