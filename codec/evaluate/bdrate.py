"""Bjontegaard delta rate: how many more (or fewer) bits one codec needs for the same quality.

The classic method of VCEG-M33, the one most learned-compression tables use: for each curve, fit
a cubic polynomial to log(rate) as a function of quality (a least-squares fit when there are more
than four points), integrate both fits over the quality interval where the curves overlap, and
turn the mean difference of log-rates into a ratio::

    BD-rate = exp(mean over the overlap of (log r_test - log r_anchor)) - 1

Negative means the test codec needs fewer bits than the anchor. Why the fit rather than the
piecewise-cubic (pchip) interpolation of later recommendations: interpolation needs points that
are strictly monotonic in quality, and a sweep of a GAN decoder, or of any codec at its extremes,
need not be; a least-squares cubic tolerates small wiggles and is what published numbers use.
Pure numpy.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.polynomial import Polynomial

MIN_POINTS = 4


def bd_rate(anchor_rate: Sequence[float], anchor_quality: Sequence[float],
            test_rate: Sequence[float], test_quality: Sequence[float]) -> float:
    """BD-rate of the test curve against the anchor, in percent.

    Raises ``ValueError`` when a curve has fewer than four points, a rate that is not positive,
    or when the two curves share no quality interval.
    """
    fa, lo_a, hi_a = _fit(anchor_rate, anchor_quality, "anchor")
    ft, lo_t, hi_t = _fit(test_rate, test_quality, "test")
    lo, hi = max(lo_a, lo_t), min(hi_a, hi_t)
    if not lo < hi:
        raise ValueError(f"the curves do not overlap in quality (anchor {lo_a:.3g}..{hi_a:.3g}, "
                         f"test {lo_t:.3g}..{hi_t:.3g})")
    ia, it = fa.integ(), ft.integ()
    mean_diff = ((it(hi) - it(lo)) - (ia(hi) - ia(lo))) / (hi - lo)
    return float(np.expm1(mean_diff) * 100)


def _fit(rate: Sequence[float], quality: Sequence[float], which: str) -> tuple[Polynomial, float, float]:
    r, q = np.asarray(rate, dtype=np.float64), np.asarray(quality, dtype=np.float64)
    if r.shape != q.shape or r.ndim != 1:
        raise ValueError(f"{which}: rate and quality must be equal-length sequences")
    keep = np.isfinite(r) & np.isfinite(q)
    r, q = r[keep], q[keep]
    if len(r) < MIN_POINTS:
        raise ValueError(f"{which}: needs at least {MIN_POINTS} finite points, has {len(r)}")
    if np.any(r <= 0):
        raise ValueError(f"{which}: rates must be positive")
    return Polynomial.fit(q, np.log(r), 3), float(q.min()), float(q.max())
