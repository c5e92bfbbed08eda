"""The checkerboard context: the two-pass coder against the training path, on a real photo with
shipped weights: version 0.4's plain hyperprior given a zero context (as training starts it), and
the current weights, whose context is trained."""

from __future__ import annotations

import copy
import dataclasses

import numpy as np
import pytest
import torch

from codec import coding, container, weights
from codec.entropy import freeze_tables
from codec.errors import FormatError
from codec.latent import anchor_mask
from codec.model import AecModel

PLAIN_RELEASE = "6aa4b2f41fe29551"  # version 0.4, aec-msh-v1: the hyperprior without a context


def _plain() -> AecModel:
    folder = weights.previous_weights_dir(bytes.fromhex(PLAIN_RELEASE))
    assert folder is not None, f"weights/previous-releases/{PLAIN_RELEASE} is shipped"
    return weights.load(folder).eval()


def _shipped() -> AecModel:
    model = weights.load(weights.default_weights_dir()).eval()
    assert model.latent.context is not None
    return model


def code(model: AecModel, x: torch.Tensor, q: int) -> container.Latent:
    with torch.inference_mode():
        return coding.compress_latent(model.latent, model.g_a(x), q, None)


def decoded(model: AecModel, latent: container.Latent, q: int) -> torch.Tensor:
    with torch.inference_mode():
        return model.g_s(coding.decompress_latent(model.latent, latent, q)).clamp_(0, 1)


@pytest.fixture(scope="module")
def x(astronaut: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(astronaut[:256, :320].copy()).permute(2, 0, 1)[None].float().div_(255)  # 64-aligned


def test_zero_context_codes_as_the_plain_model(x):
    plain = _plain()
    model = _plain()
    model.add_checkerboard()
    freeze_tables(model)
    assert model.config.name != plain.config.name and model.bitstream_hash() != plain.bitstream_hash()
    for q in (1, 8):
        c_plain, c = code(plain, x, q), code(model, x, q)
        assert torch.equal(decoded(model, c, q), decoded(plain, c_plain, q))
        assert 0 < len(c.y_string) - len(c_plain.y_string) <= 16  # the anchors' length and one more rANS flush


@pytest.mark.parametrize("q", [2, 6])
def test_decoded_latent_is_the_training_paths(x, q):
    """A learned context moves the non-anchors' means; the file must decode to what training saw."""
    model = _shipped()
    without_context = copy.deepcopy(model)
    without_context.latent.context = None
    c = code(model, x, q)
    with torch.inference_mode():
        y_train = model.latent(model.g_a(x), q)[0]
        y_plain = without_context.latent(model.g_a(x), q)[0]
        y_file = coding.decompress_latent(model.latent, c, q)
    assert (y_file - y_train).abs().max() < 1e-3
    assert (y_file - y_plain).abs().max() > 1e-2  # the context did change the coding


def test_bad_anchor_length_is_a_format_error(x):
    model = _shipped()
    c = code(model, x, 4)
    for y_string in (c.y_string[:3], (len(c.y_string)).to_bytes(4, "little") + c.y_string[4:]):
        with pytest.raises(FormatError):
            coding.decompress_latent(model.latent, dataclasses.replace(c, y_string=y_string), 4)


def test_tiles_are_coded_with_their_own_context(x):
    """Each tile's anchors are its own (no context across tiles), and every tile decodes to y
    rounded on the grid set by its means."""
    model = _shipped()
    with torch.inference_mode():
        y = model.g_a(x)
    t = coding.compress_latent(model.latent, y.clone(), 4, tile_size=128)
    assert len(t.tiles) == 2 * 3
    y_hat = coding.decompress_latent(model.latent, t, 4)
    with torch.inference_mode():
        gain, inv_gain = model.latent.gains(4)
    assert ((y_hat / inv_gain - y * gain).abs() <= 0.5 + 1e-3).all()


@pytest.mark.parametrize("shape", [(1, 1), (1, 2), (3, 5), (16, 24)])
def test_coding_path_context_is_the_full_convolution_at_the_non_anchors(shape):
    """The coders run the context at the non-anchors only, on the 12 taps that see anchors, in
    float64 from the float32 weights."""
    context = _shipped().latent.context
    torch.manual_seed(0)
    anchors = anchor_mask(shape)
    y_hat = torch.randn(1, 192, *shape, dtype=torch.float64).mul_(4) * anchors
    scales, means = torch.rand(1, 192, *shape, dtype=torch.float64) * 8, torch.randn(1, 192, *shape, dtype=torch.float64)
    with torch.inference_mode():
        full = copy.deepcopy(context).double()(y_hat, scales, means)[..., ~anchors]
        sparse = context.at_non_anchors(y_hat, scales[..., ~anchors], means[..., ~anchors])
    assert sparse.shape == full.shape
    torch.testing.assert_close(sparse, full, rtol=0, atol=1e-12)
