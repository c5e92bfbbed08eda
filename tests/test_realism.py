"""The Fréchet distance of VGG window features: the formula against known Gaussians, the windows
of a real image, and ``aecodec eval --metrics fd`` on real photographs."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from codec.evaluate import metrics, realism


def test_frechet_distance_of_known_gaussians():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(20000, 4))
    assert realism.frechet_distance(a, a) == pytest.approx(0, abs=1e-6)
    shifted = rng.normal(size=(20000, 4)) + np.array([1.0, 2.0, 0.0, 0.0])
    assert realism.frechet_distance(a, shifted) == pytest.approx(5.0, rel=0.02)  # |m|^2
    wider = 3 * rng.normal(size=(20000, 4))
    assert realism.frechet_distance(a, wider) == pytest.approx(4 * (3 - 1) ** 2, rel=0.03)  # d (s - 1)^2
    assert np.isnan(realism.frechet_distance(a[:1], a))


def test_windows_on_two_grids_of_a_photograph(astronaut):
    """512x512: a 2x2 grid of 256 px windows plus one shifted by half, 4x4 + 3x3 of 128 px."""
    ref = metrics.Reference(astronaut)
    big, small = ref.window_features("fd-vgg-256"), ref.window_features("fd-vgg-128")
    assert big.shape == (4 + 1, 512) and small.shape == (16 + 9, 512)
    values = ref.measure(astronaut.copy(), ("psnr-rgb", "fd-vgg-256"))
    np.testing.assert_allclose(values["fd-vgg-256"], big, rtol=1e-5)  # the same image, the same features
    assert metrics.Reference(astronaut[:200, :300]).window_features("fd-vgg-256").shape == (0, 512)


def test_eval_reports_the_distance_of_each_setting_over_all_images(cli, tmp_path):
    from skimage import data

    folder = tmp_path / "photos"
    folder.mkdir()
    for name in ("astronaut", "coffee", "chelsea", "rocket"):
        Image.fromarray(getattr(data, name)()).save(folder / f"{name}.png")
    out = tmp_path / "results"
    args = ("eval", folder, "--codecs", "jpeg", "--settings", "jpeg=5,90", "--metrics", "psnr,fd", "--out", out)
    r = cli(*args)
    assert r.returncode == 0, r.stderr.decode()[-2000:]
    jpeg = json.loads((out / "jpeg.json").read_text())
    far, near = jpeg["results"]["fd-vgg-256"]
    assert near < far / 4 and jpeg["results"]["fd-vgg-128"][1] < jpeg["results"]["fd-vgg-128"][0]
    assert "fd-vgg-256" not in jpeg["per_image"]["coffee.png"]  # a measure of the set, not of an image
    assert (out / "rd-fd-256.png").exists() and (out / "rd-fd-128.png").exists()
    assert "fd-vgg-256" not in (out / "measurements.csv").read_text()
    again = cli(*args)
    assert again.returncode == 0 and "0 measured, 8 reused" in again.stderr.decode()
    assert json.loads((out / "jpeg.json").read_text())["results"]["fd-vgg-256"] == [far, near]
