"""Widening the transforms of trained weights: the same files and images until training uses the
new channels."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch

from codec import coding, weights
from codec.config import lower_lambdas
from codec.entropy import freeze_tables
from codec.model import AecModel


def code(model: AecModel, x: torch.Tensor, level: int):
    """The coded latents of a padded image tensor, from the trained (unfused) analysis."""
    with torch.inference_mode():
        return coding.compress_latent(model.latent, model.g_a(x), level, None)


def test_widened_transforms_code_and_decode_the_same(astronaut: np.ndarray):
    model = weights.load(weights.default_weights_dir()).eval()
    x = torch.from_numpy(astronaut[:128, :192].copy()).permute(2, 0, 1)[None].float().div_(255)
    wide = copy.deepcopy(model)
    a, s = model.config.encoder_channels + 16, model.config.decoder_channels + 32
    wide.widen_transforms(a, s)
    assert wide.g_a[0].conv.weight.shape[0] == a and wide.g_s[0].conv.weight.shape[1] == s
    assert (wide.config.analysis_channels, wide.config.synthesis_channels) == (a, s)
    assert wide.bitstream_hash() == model.bitstream_hash()
    c = code(model, x, 4)
    assert code(wide, x, 4) == c
    y_hat = coding.decompress_latent(model.latent, c, 4)
    with torch.inference_mode():
        for realism in (0.0, 1.0):
            # Not bit for bit: the zero channels change how the convolutions block their sums
            # (bit-identical on the machines of earlier sessions, not on an AMD EPYC).
            torch.testing.assert_close(wide.decoder(realism)(y_hat), model.decoder(realism)(y_hat), rtol=0, atol=1e-5)


def test_transforms_do_not_shrink():
    model = weights.load(weights.default_weights_dir())
    with pytest.raises(ValueError, match="analysis transform has 64 channels already; it cannot shrink to 63"):
        model.widen_transforms(63, 64)
    with pytest.raises(ValueError, match="synthesis transform has 64 channels already"):
        model.widen_transforms(64, 63)


def test_widened_latent_codes_and_decodes_the_same_image(astronaut: np.ndarray):
    """With a trained checkerboard context too, so that every concatenation of per-channel groups
    (scales, means, context features) is remapped; the new channels cost under a bit."""
    model = weights.load(weights.default_weights_dir()).eval()
    model.add_checkerboard()
    torch.manual_seed(0)
    with torch.no_grad():
        for p in model.latent.context.parameters_net[-1].parameters():
            p.normal_(0, 0.01)
    wide = copy.deepcopy(model)
    wide.widen_latent(model.config.latent_channels + 16)
    assert wide.config.latent_channels == model.config.latent_channels + 16 and wide.latent.log_gain.shape[1] == wide.config.latent_channels
    for m in (model, wide):
        freeze_tables(m)
    x = torch.from_numpy(astronaut[:128, :192].copy()).permute(2, 0, 1)[None].float().div_(255)
    for q in (1, 8):
        c, c_wide = code(model, x, q), code(wide, x, q)
        assert abs(len(c_wide.y_string) - len(c.y_string)) <= 2 and c_wide.z_string == c.z_string
        with torch.inference_mode():
            decoded = [m.g_s(coding.decompress_latent(m.latent, lat, q)) for m, lat in ((model, c), (wide, c_wide))]
        assert (decoded[1] - decoded[0]).abs().max() < 1e-5
        with torch.no_grad():
            out, out_wide = model(x, q), wide(x, q)
        assert (out_wide.x_hat - out.x_hat).abs().max() < 1e-5
        assert out.y_likelihoods.log2().sum() - out_wide.y_likelihoods.log2().sum() < 1.0
    with pytest.raises(ValueError, match="cannot shrink"):
        wide.widen_latent(model.config.latent_channels)


def test_lower_levels_code_coarser_and_leave_the_old_levels_alone(astronaut: np.ndarray):
    """Levels added below the lowest: the old ones move up by as many and code the same latents;
    each new one costs fewer bits than the one above it."""
    model = weights.load(weights.default_weights_dir()).eval()
    low = copy.deepcopy(model)
    low.add_lower_levels(lower_lambdas(model.config.lambdas, 3))
    assert low.config.num_levels == model.config.num_levels + 3 and low.config.lambdas[3:] == model.config.lambdas
    assert low.config.lambdas[0] < low.config.lambdas[1] < low.config.lambdas[3]
    x = torch.from_numpy(astronaut[:256, :256].copy()).permute(2, 0, 1)[None].float().div_(255)
    with torch.no_grad():
        for q in (1, model.config.num_levels):
            assert torch.equal(low(x, q + 3).x_hat, model(x, q).x_hat)
        bits = [float(-low(x, q).y_likelihoods.log2().sum()) for q in (1, 2, 3, 4)]
    assert bits[0] < bits[1] < bits[2] < bits[3]
    with pytest.raises(ValueError, match="do not extend"):
        low.add_lower_levels(model.config.lambdas)
