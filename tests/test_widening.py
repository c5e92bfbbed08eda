"""Widening the transforms of trained weights: the same files and images until training uses the
new channels."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch

from codec import weights
from codec.model import pad


def test_widened_transforms_code_and_decode_the_same(astronaut: np.ndarray):
    model = weights.load(weights.default_weights_dir()).eval()
    x = pad(torch.from_numpy(astronaut[:128, :192].copy()).permute(2, 0, 1)[None].float().div_(255))[0]
    wide = copy.deepcopy(model)
    a, s = model.config.encoder_channels + 16, model.config.decoder_channels + 32
    wide.widen_transforms(a, s)
    assert wide.g_a[0].conv.weight.shape[0] == a and wide.g_s[0].conv.weight.shape[1] == s
    assert (wide.config.analysis_channels, wide.config.synthesis_channels) == (a, s)
    assert wide.bitstream_hash() == model.bitstream_hash()
    c = model.compress(x, 4)
    assert wide.compress(x, 4) == c
    y_hat = model.decompress_latent(c, 4)
    with torch.inference_mode():
        for realism in (0.0, 1.0):
            assert torch.equal(wide.decoder(realism)(y_hat), model.decoder(realism)(y_hat))


def test_transforms_do_not_shrink():
    model = weights.load(weights.default_weights_dir())
    with pytest.raises(ValueError, match="analysis transform has 64 channels already; it cannot shrink to 63"):
        model.widen_transforms(63, 64)
    with pytest.raises(ValueError, match="synthesis transform has 64 channels already"):
        model.widen_transforms(64, 63)
