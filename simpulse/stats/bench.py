"""The statistics of `simpulse bench` (hyperfine-grade): data only, no output.

* `summarize`: mean, median, sample standard deviation, min, max, MAD of one arm's wall times.
* `outliers`: runs farther than 3 MAD from the median, MAD being the normal-consistent median
  absolute deviation (1.4826 × median |x − median|); with MAD = 0 nothing is flagged.
* `log_ratio_ci`: the ratio of one arm's times to another's, as the ratio of geometric means,
  with a Welch t-interval computed on log-times (unequal variances, Welch–Satterthwaite degrees
  of freedom, Student t quantile from scipy) and mapped back by exp(): a ratio < 1 is faster.
"""

from __future__ import annotations

import math

import numpy as np

MAD_SCALE = 1.482602218505602     # 1 / Φ⁻¹(3/4): makes the MAD estimate σ for normal data
OUTLIER_MADS = 3.0


def summarize(times) -> dict:
    x = np.asarray(times, dtype=float)
    n = int(x.size)
    if n == 0:
        return {"n": 0, "mean": None, "median": None, "stddev": None, "min": None, "max": None, "mad": None}
    med = float(np.median(x))
    return {
        "n": n,
        "mean": float(x.mean()),
        "median": med,
        "stddev": float(x.std(ddof=1)) if n > 1 else None,
        "min": float(x.min()),
        "max": float(x.max()),
        "mad": mad(x),
    }


def mad(times, *, scale: float = MAD_SCALE) -> float:
    x = np.asarray(times, dtype=float)
    if x.size == 0:
        return float("nan")
    med = np.median(x)
    return float(scale * np.median(np.abs(x - med)))


def outliers(times, *, k: float = OUTLIER_MADS) -> list[int]:
    """Indices of the runs more than k MAD from the median."""
    x = np.asarray(times, dtype=float)
    if x.size < 3:
        return []
    m = mad(x)
    if not m > 0:
        return []
    med = np.median(x)
    return [int(i) for i in np.nonzero(np.abs(x - med) > k * m)[0]]


def log_ratio_ci(a, b, *, level: float = 0.95) -> dict:
    """Times `a` relative to times `b`: {"ratio", "ci": [lo, hi], "df", "diff", "se"}.

    ratio = exp(mean(log a) − mean(log b)); the interval is Welch's t-interval of that difference
    of means, exponentiated. With fewer than 2 runs on a side the interval is [nan, nan]; with
    no spread on either side it is the ratio itself.
    """
    from scipy import stats as st
    la = np.log(np.asarray(a, dtype=float))
    lb = np.log(np.asarray(b, dtype=float))
    if la.size == 0 or lb.size == 0:
        return {"ratio": float("nan"), "ci": [float("nan"), float("nan")], "df": None, "diff": None, "se": None}
    diff = float(la.mean() - lb.mean())
    if la.size < 2 or lb.size < 2:
        return {"ratio": math.exp(diff), "ci": [float("nan"), float("nan")], "df": None, "diff": diff, "se": None}
    va, vb = la.var(ddof=1) / la.size, lb.var(ddof=1) / lb.size
    se2 = float(va + vb)
    if se2 <= 0:
        return {"ratio": math.exp(diff), "ci": [math.exp(diff), math.exp(diff)], "df": None, "diff": diff, "se": 0.0}
    df = se2 ** 2 / (va ** 2 / (la.size - 1) + vb ** 2 / (lb.size - 1))
    q = float(st.t.ppf(0.5 + level / 2, df))
    se = math.sqrt(se2)
    return {"ratio": math.exp(diff), "ci": [math.exp(diff - q * se), math.exp(diff + q * se)],
            "df": float(df), "diff": diff, "se": se}


def verdict(ci) -> str:
    """'faster' / 'slower' when the whole interval of the ratio is below / above 1, else 'same'."""
    lo, hi = ci
    if lo is None or hi is None or not (math.isfinite(lo) and math.isfinite(hi)):
        return "unknown"
    if hi < 1.0:
        return "faster"
    if lo > 1.0:
        return "slower"
    return "same"


def noise_floor(aa: dict) -> float | None:
    """The half-width of the A/A interval, as a fraction: differences smaller are noise."""
    lo, hi = aa["ci"]
    if lo is None or not (math.isfinite(lo) and math.isfinite(hi)):
        return None
    return max(1.0 - lo, hi - 1.0)
