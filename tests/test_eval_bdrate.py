"""Bjontegaard delta rate against cases worked out by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest

from codec.evaluate.bdrate import bd_rate

# A realistic anchor, shaped like JPEG's mean curve on Kodak (bpp, PSNR in dB).
JPEG_BPP = [0.2, 0.34, 0.48, 0.63, 0.8, 1.0, 1.3, 1.8]
JPEG_PSNR = [23.8, 27.1, 29.0, 30.4, 31.6, 32.8, 34.3, 36.3]


@pytest.mark.parametrize("factor", [0.5, 0.8, 1.0, 1.25, 3.0])
def test_a_curve_with_every_rate_scaled_by_a_constant_has_exactly_that_bd_rate(factor):
    scaled = [factor * r for r in JPEG_BPP]
    assert bd_rate(JPEG_BPP, JPEG_PSNR, scaled, JPEG_PSNR) == pytest.approx((factor - 1) * 100, abs=1e-9)


def test_hand_worked_example_with_partial_overlap():
    # Anchor: ln r = 0.1 (q - 30) at q = 30, 32, 34, 36. Test: ln r = 0.15 (q - 32) at q = 32, 34, 36, 38.
    # Both are straight lines, so the cubic fits are exact. Overlap: q in [32, 36]. The mean of the
    # difference of two lines over an interval is the difference at its midpoint, q = 34:
    # ln r_test - ln r_anchor = 0.15 * 2 - 0.1 * 4 = -0.1, so BD-rate = exp(-0.1) - 1 = -9.516 %.
    qa, qt = [30, 32, 34, 36], [32, 34, 36, 38]
    ra = [math.exp(0.1 * (q - 30)) for q in qa]  # 1.000, 1.221, 1.492, 1.822 bpp
    rt = [math.exp(0.15 * (q - 32)) for q in qt]  # 1.000, 1.350, 1.822, 2.460 bpp
    assert bd_rate(ra, qa, rt, qt) == pytest.approx(-9.5163, abs=1e-4)


def test_hand_worked_example_with_a_curved_anchor():
    # Anchor: ln r = (q - 30)^2 / 20 (a parabola: the cubic fit reproduces it exactly); test: ln r = 0.
    # Over q in [30, 34]: mean of (0 - (q - 30)^2 / 20) = -(4^3 / 3) / 4 / 20 = -4 / 15.
    q = [30, 31, 32, 33, 34]
    ra = [math.exp((x - 30) ** 2 / 20) for x in q]
    assert bd_rate(ra, q, [1.0] * 5, q) == pytest.approx(math.expm1(-4 / 15) * 100, abs=1e-9)


def test_swapping_the_curves_inverts_the_ratio():
    rng = np.random.default_rng(0)
    test_bpp = [r * f for r, f in zip(JPEG_BPP, rng.uniform(0.6, 0.9, len(JPEG_BPP)))]
    a = bd_rate(JPEG_BPP, JPEG_PSNR, test_bpp, JPEG_PSNR) / 100
    b = bd_rate(test_bpp, JPEG_PSNR, JPEG_BPP, JPEG_PSNR) / 100
    assert (1 + a) * (1 + b) == pytest.approx(1.0, abs=1e-12)
    assert -40 < a * 100 < -10


def test_unordered_points_give_the_same_answer():
    order = [3, 0, 7, 5, 1, 6, 2, 4]
    scaled = [0.7 * r for r in JPEG_BPP]
    shuffled = bd_rate([JPEG_BPP[i] for i in order], [JPEG_PSNR[i] for i in order], scaled, JPEG_PSNR)
    assert shuffled == pytest.approx(-30.0, abs=1e-9)


@pytest.mark.parametrize("anchor, test, message", [
    (([1, 2, 3], [30, 31, 32]), ([1, 2, 3, 4], [30, 31, 32, 33]), "at least 4"),
    (([1, 2, 3, 4], [30, 31, 32, 33]), ([1, 2, 3, 4], [40, 41, 42, 43]), "do not overlap"),
    (([0, 2, 3, 4], [30, 31, 32, 33]), ([1, 2, 3, 4], [30, 31, 32, 33]), "positive"),
])
def test_refuses_what_it_cannot_compute(anchor, test, message):
    with pytest.raises(ValueError, match=message):
        bd_rate(*anchor, *test)
