"""The Python API with the shipped weights, on real photographs."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

import codec
from codec import container
from codec.config import NUM_LEVELS, ModelConfig
from codec.image import psnr
from codec.errors import FormatError, WeightsError
from codec.model import AecModel
from codec.weights import export


@pytest.fixture(scope="module")
def kodim23(kodak_dir) -> np.ndarray:
    return np.asarray(Image.open(kodak_dir / "kodim23.png").convert("RGB"))


@pytest.fixture(scope="module")
def kodak_sweep(kodim23):
    """(bpp from the real file size, PSNR) of kodim23 at every quality."""
    out = []
    for q in range(1, NUM_LEVELS + 1):
        data = codec.encode(kodim23, quality=q)
        decoded = np.asarray(codec.decode(data, realism=0))
        assert decoded.shape == kodim23.shape and decoded.dtype == np.uint8
        out.append((8 * len(data) / (768 * 512), psnr(decoded, kodim23)))
    return out


def test_every_quality_round_trips_and_trades_rate_for_quality(kodak_sweep):
    bpps, psnrs = zip(*kodak_sweep)
    assert all(a < b for a, b in zip(bpps, bpps[1:])), bpps
    assert all(a < b for a, b in zip(psnrs, psnrs[1:])), psnrs


def test_shipped_model_is_a_real_codec(kodak_sweep):
    # kodim23, measured with 0.11's weights: quality 1 0.035 bpp 26.6 dB, quality 6 (0.10's
    # lowest, 1) 0.101 bpp 31.8 dB, quality 13 0.452 bpp 37.6 dB (JPEG needs about 0.9 bpp for
    # 34 dB on it).
    (bpp_low, psnr_low), (bpp_mid, psnr_mid), (bpp_best, psnr_best) = kodak_sweep[0], kodak_sweep[-8], kodak_sweep[-1]
    assert bpp_low < 0.05 and psnr_low > 26
    assert bpp_mid < 0.16 and psnr_mid > 29.5
    assert bpp_best < 0.62 and psnr_best > 33.8


@pytest.mark.slow
def test_gan_decoder_is_the_default_and_perceptually_closer(kodim23):
    from codec.evaluate.metrics import Reference

    data = codec.encode(kodim23, quality=2)
    fidelity, gan = (np.asarray(codec.decode(data, realism=r)) for r in (0, 1))
    np.testing.assert_array_equal(np.asarray(codec.decode(data)), gan)
    ref = Reference(kodim23)
    # ST-LPIPS on VGG, not the AlexNet variant the GAN decoder was trained on.
    assert ref.measure(gan, ("st-lpips-vgg",))["st-lpips-vgg"] < ref.measure(fidelity, ("st-lpips-vgg",))["st-lpips-vgg"]


def test_info_reports_the_real_file_size(kodim23):
    data = codec.encode(kodim23, quality=3)
    meta = codec.info(data)
    assert meta.file_size == len(data)
    assert meta.bpp == pytest.approx(8 * len(data) / (768 * 512))
    assert (meta.header.width, meta.header.height, meta.header.quality) == (768, 512, 3)


def test_encoding_is_deterministic(astronaut):
    assert codec.encode(astronaut, quality=5) == codec.encode(astronaut, quality=5)


@pytest.mark.parametrize("size", [(1, 1), (17, 33), (33, 17), (64, 64), (65, 129)])
def test_any_size(astronaut, size):
    w, h = size
    crop = astronaut[100 : 100 + h, 100 : 100 + w]
    out = codec.decode(codec.encode(crop, quality=6))
    assert out.size == (w, h) and out.mode == "RGB"
    if w * h >= 64 * 64:
        assert psnr(np.asarray(out), crop) > 25


@pytest.mark.slow
def test_12_megapixels(kodak_dir):
    tile = np.asarray(Image.open(kodak_dir / "kodim01.png").convert("RGB"))
    big = np.tile(tile, (6, 6, 1))[:3000, :4000]
    out = np.asarray(codec.decode(codec.encode(big, quality=2)))
    assert out.shape == big.shape
    assert psnr(out, big) > 22


def test_grayscale_decodes_to_grayscale(camera):
    out = codec.decode(codec.encode(camera, quality=6))
    assert out.mode == "L" and out.size == (512, 512)
    assert psnr(np.asarray(out), camera) > 28


def test_alpha_is_lossless(astronaut):
    yy, xx = np.mgrid[:512, :512]
    alpha = ((xx + yy) % 256).astype(np.uint8)
    out = codec.decode(codec.encode(np.dstack([astronaut, alpha]), quality=2))
    assert out.mode == "RGBA"
    np.testing.assert_array_equal(np.asarray(out)[..., 3], alpha)


def test_paths_pil_images_and_arrays_agree(tmp_path, photo_png):
    from_path = codec.encode(photo_png)
    assert codec.encode(Image.open(photo_png)) == from_path
    assert codec.encode(np.asarray(Image.open(photo_png))) == from_path
    (tmp_path / "a.aec").write_bytes(from_path)
    assert codec.decode(tmp_path / "a.aec").tobytes() == codec.decode(from_path).tobytes()


def test_file_from_other_weights_is_refused(tmp_path, photo_png):
    other = AecModel(ModelConfig(channels=8, latent_channels=8))
    export(other, tmp_path / "other")
    data = codec.encode(photo_png, weights_dir=tmp_path / "other")
    with pytest.raises(WeightsError, match="written by model"):
        codec.decode(data)


def test_corrupt_latent_is_refused(photo_png):
    f = container.unpack(codec.encode(photo_png))
    bad = container.Latent(f.latent.z_shape, f.latent.indexes_crc ^ 1, f.latent.z_string, f.latent.y_string)
    with pytest.raises(FormatError, match="table selection"):
        codec.decode(container.pack(container.AecFile(f.header, bad)))
    wrong_shape = container.Latent((9, 9), f.latent.indexes_crc, f.latent.z_string, f.latent.y_string)
    with pytest.raises(FormatError, match="latent shape"):
        codec.decode(container.pack(container.AecFile(f.header, wrong_shape)))


@pytest.mark.parametrize("quality", [0, NUM_LEVELS + 1, 2.555, "3"])
def test_quality_out_of_range(photo_png, quality):
    with pytest.raises(codec.AecError, match="quality"):
        codec.encode(photo_png, quality=quality)


@pytest.mark.parametrize("realism", [-0.1, 1.5, "1"])
def test_realism_out_of_range(photo_png, realism):
    data = codec.encode(photo_png, quality=1)
    with pytest.raises(codec.AecError, match="realism must be a number between 0 and 1"):
        codec.decode(data, realism=realism)
