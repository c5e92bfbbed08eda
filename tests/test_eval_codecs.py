"""Codec adapters and metrics of the evaluation, on real photographs."""

from __future__ import annotations

import dataclasses
import io
import shutil

import numpy as np
import pytest
from PIL import Image

import codec
from codec.config import NUM_LEVELS
from codec.errors import AecError
from codec.evaluate import codecs, metrics, pipeline
from codec.image import psnr


@pytest.fixture(scope="module")
def crop(astronaut) -> np.ndarray:
    return np.ascontiguousarray(astronaut[:192, :256])


@pytest.mark.parametrize("name", list(codecs.CLASSICAL))
def test_classical_codecs_round_trip_and_trade_rate_for_quality(name, crop):
    adapter = codecs.get(name)
    adapter.check()
    low, high = adapter.settings[0], adapter.settings[-1]
    small, large = adapter.encode(crop, low), adapter.encode(crop, high)
    out_small, out_large = adapter.decode(small), adapter.decode(large)
    assert out_small.shape == crop.shape and out_small.dtype == np.uint8
    assert len(small) < len(large)
    assert psnr(out_small, crop) < psnr(out_large, crop)
    assert adapter.encode(crop, low) == small  # deterministic: the cache may rely on it


def test_classical_files_are_real_files_of_their_format(crop):
    expected = {"jpeg": "JPEG", "webp": "WEBP", "avif": "AVIF", "avif-444": "AVIF", "jxl": "JXL", "hevc": "HEIF"}
    for name, fmt in expected.items():
        adapter = codecs.get(name)
        adapter.check()
        with Image.open(io.BytesIO(adapter.encode(crop, adapter.settings[3]))) as im:
            assert im.format == fmt, name


def test_aec_adapter_is_the_public_api(crop):
    adapter = codecs.get("aec")
    data = adapter.encode(crop, 5)
    assert data == codec.encode(crop, quality=5)
    assert np.array_equal(adapter.decode(data), np.asarray(codec.decode(data, realism=0)))
    assert adapter.settings == tuple(range(1, NUM_LEVELS + 1))


@pytest.fixture()
def fidelity_only_weights(tmp_path) -> str:
    """The shipped weights without a GAN decoder, as weights are before training stage 2."""
    from codec import weights

    model = weights.load(weights.default_weights_dir())
    model.g_s_gan = None
    model.config = dataclasses.replace(model.config, gan_decoder=False)
    weights.export(model, tmp_path / "w")
    return str(tmp_path / "w")


def test_aec_gan_is_skipped_with_a_warning_when_there_is_no_gan_decoder(fidelity_only_weights):
    warnings: list[str] = []
    chosen = [a.name for a in pipeline.select(None, {}, fidelity_only_weights, warnings.append)]
    assert "aec" in chosen and "aec-gan" not in chosen
    assert len(warnings) == 1 and "aec-gan" in warnings[0] and "GAN decoder" in warnings[0]
    with pytest.raises(codecs.Unavailable, match="GAN decoder"):
        pipeline.select(["aec", "aec-gan"], {}, fidelity_only_weights, warnings.append)


def test_codec_names_and_settings_are_checked():
    with pytest.raises(AecError, match="unknown codec 'bpg'.*known: aec, aec-gan, jpeg"):
        codecs.get("bpg")
    assert codecs.get("aec-r0.5").realism == 0.5 and codecs.get("aec-gan").realism == 1.0
    for name in ("aec-r1.5", "aec-rx", "aecx"):
        with pytest.raises(AecError, match="unknown codec"):
            codecs.get(name)
    with pytest.raises(AecError, match=rf"aec: settings must be integers in 1\.\.{NUM_LEVELS}, got 0, {NUM_LEVELS + 1}"):
        codecs.get("aec", settings=(0, NUM_LEVELS + 1))
    assert codecs.get("jpeg", settings=(80, 20, 80)).settings == (20, 80)
    with pytest.raises(AecError, match="not among the codecs"):
        pipeline.select(["jpeg"], {"webp": (50,)}, None, print)
    assert pipeline.parse_settings(["jpeg=20,80", "aec=1"]) == {"jpeg": (20, 80), "aec": (1,)}
    with pytest.raises(AecError, match="CODEC=Q1,Q2"):
        pipeline.parse_settings(["jpeg:20"])


def test_aec_fingerprint_covers_the_weights_files(tmp_path):
    from codec.weights import default_weights_dir

    shutil.copytree(default_weights_dir(), tmp_path / "w")
    before = codecs.get("aec", str(tmp_path / "w")).fingerprint()
    (tmp_path / "w" / "config.json").write_text((tmp_path / "w" / "config.json").read_text() + "\n")
    assert codecs.get("aec", str(tmp_path / "w")).fingerprint() != before
    assert codecs.get("aec-gan", str(tmp_path / "w")).fingerprint() != codecs.get("aec", str(tmp_path / "w")).fingerprint()


def test_metric_names():
    assert metrics.result_keys(["psnr", "perceptual", "st-lpips"]) == ("psnr-rgb", "st-lpips-vgg", "ms-gmsd")
    with pytest.raises(AecError, match="unknown metric lpips"):
        metrics.result_keys(["lpips"])


def test_metrics_of_an_identical_and_a_degraded_image(crop):
    ref = metrics.Reference(crop)
    keys = ("psnr-rgb", "ms-ssim-rgb", "st-lpips-vgg", "ms-gmsd", "haarpsi")
    same = ref.measure(crop.copy(), keys)
    assert same["psnr-rgb"] > 99 and same["ms-ssim-rgb"] == pytest.approx(1, abs=1e-6)
    assert same["st-lpips-vgg"] == pytest.approx(0, abs=1e-6) and same["ms-gmsd"] == pytest.approx(0, abs=1e-6)
    assert same["haarpsi"] == pytest.approx(1, abs=1e-4)
    noisy = np.clip(crop + np.random.default_rng(0).normal(0, 8, crop.shape), 0, 255).astype(np.uint8)
    worse = ref.measure(noisy, keys)
    assert 25 < worse["psnr-rgb"] < 35 and worse["ms-ssim-rgb"] < 0.99
    assert worse["st-lpips-vgg"] > 0.01 and worse["ms-gmsd"] > 0.001 and worse["haarpsi"] < 0.95
    assert metrics.ms_ssim_db(0.99) == pytest.approx(20.0)


def test_st_lpips_with_kept_features_is_the_library_distance(crop):
    import torch

    blurred = np.asarray(Image.fromarray(crop).reduce(2).resize((256, 192)))
    ours = metrics.Reference(crop).measure(blurred, ("st-lpips-vgg",))["st-lpips-vgg"]
    from stlpips_pytorch import stlpips

    def tensor(rgb: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(rgb.copy()).permute(2, 0, 1)[None].float() / 255

    library = stlpips.LPIPS(net="vgg", variant="shift_tolerant", verbose=False).eval()
    with torch.no_grad():
        theirs = float(library(tensor(crop), tensor(blurred), normalize=True))
    assert ours == pytest.approx(theirs, rel=1e-5)


def test_ms_ssim_and_haarpsi_are_nan_for_images_too_small_for_their_scales(crop):
    small = crop[:150, :150]
    assert np.isnan(metrics.Reference(small).measure(small.copy(), ("ms-ssim-rgb",))["ms-ssim-rgb"])
    tiny = crop[:31, :40]
    assert np.isnan(metrics.Reference(tiny).measure(tiny.copy(), ("haarpsi",))["haarpsi"])
    least = crop[:32, :32]
    assert metrics.Reference(least).measure(least.copy(), ("haarpsi",))["haarpsi"] == pytest.approx(1, abs=1e-4)


@pytest.mark.slow
def test_default_sweeps_span_the_rate_range_on_kodak(kodak_dir):
    """Every default sweep rises in rate and spans about 0.1-0.3 to 1-4 bpp on an easy and a hard image."""
    for name in ("kodim23.png", "kodim13.png"):
        rgb = np.asarray(Image.open(kodak_dir / name).convert("RGB"))
        for adapter in [codecs.get(n) for n in codecs.names() if n != "aec-gan"]:
            adapter.check()
            bpps = [8 * len(adapter.encode(rgb, s)) / (768 * 512) for s in adapter.settings]
            assert bpps == sorted(bpps), (name, adapter.name, bpps)
            if adapter.name != "aec":
                assert bpps[0] < (0.4 if adapter.name == "jpeg" else 0.3), (name, adapter.name, bpps)
                assert bpps[-1] > 1.0, (name, adapter.name, bpps)


def test_aecodec_sweeps_the_levels_of_the_weights_evaluated():
    """0.10's weights (kept for its files) have eight levels, the shipped ones NUM_LEVELS."""
    from codec.weights import default_weights_dir

    older = default_weights_dir() / "previous-releases" / "794608e0a27305b7"
    (adapter,) = pipeline.select(["aec"], {}, str(older), print)
    assert adapter.settings == tuple(range(1, 9))
    (adapter,) = pipeline.select(["aec-gan"], {}, None, print)
    assert adapter.settings == tuple(range(1, NUM_LEVELS + 1))
