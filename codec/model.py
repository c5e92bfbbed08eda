"""The variable-rate mean-scale hyperprior model.

Dataflow (level ``q`` picks one row of the gain tables)::

    x -> g_a -> y -> * gain[q] -> y_s --> h_a -> z -> [EntropyBottleneck] -> z_hat
                                   |                                          |
                                   |              (scales, means) <-  h_s  <--+
                                   v                    |
                      [GaussianConditional] <-----------+
                                   |
                                y_s_hat -> * inv_gain[q] -> y_hat -> g_s -> x_hat

One set of weights serves every quality level: the per-channel gains set how finely each
channel of ``y`` is quantized (Cui et al., "Asymmetric gained deep image compression"), and
training draws the level at random for every batch.

Training uses mixed quantization: additive noise for the likelihoods (the rate term) and
straight-through rounding for the latents the decoders see, so the decoder is trained on the
values it will get when decoding a file.
"""

from __future__ import annotations

import hashlib
import math
from typing import NamedTuple

import torch
from compressai.entropy_models import EntropyBottleneck, GaussianConditional
from compressai.ops import quantize_ste
from torch import Tensor, nn

from codec.config import ModelConfig
from codec.entropy import (
    compress_y,
    compress_z,
    decompress_y,
    decompress_z,
    indexes_checksum,
    scale_indexes,
    table_bytes,
)
from codec.errors import FormatError
from codec.nn.transforms import Analysis, HyperAnalysis, HyperSynthesis, Synthesis

# y is 1/16 of the image and z 1/64: inputs are padded to a multiple of this.
ALIGNMENT = 64


class ForwardOutput(NamedTuple):
    x_hat: Tensor
    y_likelihoods: Tensor
    z_likelihoods: Tensor


class Compressed(NamedTuple):
    y_string: bytes
    z_string: bytes
    z_shape: tuple[int, int]
    indexes_crc: int


class AecModel(nn.Module):
    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        n, m = config.channels, config.latent_channels
        self.config = config
        self.g_a = Analysis(n, m)
        self.g_s = Synthesis(n, m)
        self.h_a = HyperAnalysis(n, m)
        self.h_s = HyperSynthesis(n, m)
        # Gains start at sqrt(lambda / geometric mean of lambdas): the quantization step that
        # balances rate and distortion scales as 1 / sqrt(lambda).
        log_l = torch.tensor([math.log(v) for v in config.lambdas])
        log_g = 0.5 * (log_l - log_l.mean())
        self.log_gain = nn.Parameter(log_g[:, None].repeat(1, m))
        self.log_inv_gain = nn.Parameter(-log_g[:, None].repeat(1, m))
        self.entropy_bottleneck = EntropyBottleneck(n)
        self.gaussian_conditional = GaussianConditional(None)

    def gains(self, level: int) -> tuple[Tensor, Tensor]:
        """Gain and inverse gain of quality level ``level`` (1-based), shaped for broadcasting."""
        i = level - 1
        return self.log_gain[i].exp()[None, :, None, None], self.log_inv_gain[i].exp()[None, :, None, None]

    def hyper(self, z_hat: Tensor) -> tuple[Tensor, Tensor]:
        scales, means = self.h_s(z_hat).chunk(2, dim=1)
        return scales, means

    def hyper_for_coding(self, z_hat: Tensor) -> tuple[Tensor, Tensor]:
        """:meth:`hyper` in float64 (scales kept in float64, means rounded to float32). The scales
        pick each element's probability table, which encoder and decoder must agree on exactly.
        In float32 two convolution algorithms differ by up to 2e-5 and pick other tables for
        dozens of Kodak elements; in float64 they differ by about 2e-14, far inside the margin
        (:data:`codec.entropy.INDEX_MARGIN`) that every Kodak element keeps from a boundary."""
        weights = {k: v.double() for k, v in self.h_s.state_dict().items()}
        scales, means = torch.func.functional_call(self.h_s, weights, (z_hat.double(),)).chunk(2, dim=1)
        return scales, means.float()

    def forward(self, x: Tensor, level: int) -> ForwardOutput:
        return self.forward_from_y(self.g_a(x), level)

    def forward_from_y(self, y: Tensor, level: int) -> ForwardOutput:
        """The rest of :meth:`forward`, for callers that also need ``y`` (the Jacobian penalty)."""
        gain, inv_gain = self.gains(level)
        y_s = y * gain
        z = self.h_a(y_s)
        _, z_likelihoods = self.entropy_bottleneck(z)
        medians = self.entropy_bottleneck._get_medians().detach().reshape(1, -1, 1, 1)
        z_hat = quantize_ste(z - medians) + medians
        scales, means = self.hyper(z_hat)
        _, y_likelihoods = self.gaussian_conditional(y_s, scales, means)
        y_s_hat = quantize_ste(y_s - means) + means
        return ForwardOutput(self.g_s(y_s_hat * inv_gain), y_likelihoods, z_likelihoods)

    @torch.inference_mode()
    def compress(self, x: Tensor, level: int) -> Compressed:
        """Code one padded image (batch of 1) into its two strings."""
        gain, _ = self.gains(level)
        y_s = self.g_a(x) * gain
        z = self.h_a(y_s)
        z_string = compress_z(self.entropy_bottleneck, z)
        z_hat = decompress_z(self.entropy_bottleneck, z_string, tuple(z.shape[-2:]))
        scales, means = self.hyper_for_coding(z_hat)
        indexes = scale_indexes(self.gaussian_conditional, scales)
        y_string = compress_y(self.gaussian_conditional, y_s, indexes, means)
        return Compressed(y_string, z_string, tuple(z.shape[-2:]), indexes_checksum(indexes))

    @torch.inference_mode()
    def decompress_latent(self, c: Compressed, level: int) -> Tensor:
        """Entropy-decode y_hat; raises FormatError on a bad string or when the table indexes do
        not match the file's."""
        z_hat = decompress_z(self.entropy_bottleneck, c.z_string, c.z_shape)
        scales, means = self.hyper_for_coding(z_hat)
        indexes = scale_indexes(self.gaussian_conditional, scales)
        if indexes_checksum(indexes) != c.indexes_crc:
            raise FormatError("cannot decode the latents: probability table selection differs from the encoder's")
        y_s_hat = decompress_y(self.gaussian_conditional, c.y_string, indexes, means)
        return y_s_hat * self.gains(level)[1]

    @torch.inference_mode()
    def decompress(self, c: Compressed, level: int) -> Tensor:
        return self.g_s(self.decompress_latent(c, level)).clamp_(0, 1)

    def bitstream_hash(self) -> bytes:
        """8-byte fingerprint of everything that decides what a file's strings decode to before
        the synthesis transform: the entropy tables, the hyper-synthesis and the inverse gains.
        Decoders that differ only in ``g_s`` (fidelity or GAN) share it, and read the same files."""
        h = hashlib.sha256()
        for chunk in table_bytes(self):
            h.update(chunk)
        for name, t in sorted(self.h_s.state_dict().items()) + [("log_inv_gain", self.log_inv_gain)]:
            h.update(name.encode())
            h.update(t.detach().to(torch.float32).contiguous().numpy().tobytes())
        return h.digest()[:8]

    def aux_loss(self) -> Tensor:
        """Loss that fits the EntropyBottleneck's quantiles, whose medians and tails set the
        range of its tables; it has its own optimizer and does not touch the transforms."""
        return self.entropy_bottleneck.loss()


def pad(x: Tensor) -> tuple[Tensor, tuple[int, int]]:
    """Replicate-pad to a multiple of ALIGNMENT (works down to 1x1); returns the original size."""
    h, w = x.shape[-2:]
    ph, pw = -h % ALIGNMENT, -w % ALIGNMENT
    return nn.functional.pad(x, (0, pw, 0, ph), mode="replicate"), (h, w)


def unpad(x: Tensor, size: tuple[int, int]) -> Tensor:
    return x[..., : size[0], : size[1]]
