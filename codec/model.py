"""The variable-rate mean-scale hyperprior model.

Dataflow (level ``q`` picks one row of the gain tables)::

    x -> g_a -> y -> * gain[q] -> y_s --> h_a -> z -> [EntropyBottleneck] -> z_hat
                                   |                                          |
                                   |              (scales, means) <-  h_s  <--+
                                   v                    |
                      [GaussianConditional] <-----------+
                                   |
                                y_s_hat -> * inv_gain[q] -> y_hat -> g_s -> x_hat
                                                            (or g_s_gan, the GAN decoder)

With the optional checkerboard context (``ModelConfig.checkerboard``), half of ``y_s`` (the
anchors) is coded first with the hyperprior's parameters, and the other half with parameters
corrected from the decoded anchors (:class:`codec.nn.transforms.CheckerboardContext`).

One set of weights serves every quality level: the per-channel gains set how finely each
channel of ``y`` is quantized (Cui et al., "Asymmetric gained deep image compression"), and
training draws the level at random for every batch.

Training uses mixed quantization: additive noise for the likelihoods (the rate term) and
straight-through rounding for the latents the decoders see, so the decoder is trained on the
values it will get when decoding a file.
"""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import math
import struct
from collections.abc import Mapping
from typing import Any, NamedTuple

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
    resize_table_buffers,
    scale_indexes,
    table_bytes,
)
from codec.errors import FormatError
from codec.nn.transforms import (
    Analysis, CheckerboardContext, HyperAnalysis, HyperSynthesis, Synthesis, anchor_mask, embed, widened,
)

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
        self.g_a = Analysis(config.encoder_channels, m)
        self.g_s = Synthesis(config.decoder_channels, m)
        self.g_s_gan = Synthesis(config.decoder_channels, m) if config.gan_decoder else None
        self.h_a = HyperAnalysis(n, m)
        self.h_s = HyperSynthesis(n, m)
        self.context = CheckerboardContext(m) if config.checkerboard else None
        log_g = _initial_log_gains(config.lambdas)
        self.log_gain = nn.Parameter(log_g[:, None].repeat(1, m))
        self.log_inv_gain = nn.Parameter(-log_g[:, None].repeat(1, m))
        self.entropy_bottleneck = EntropyBottleneck(n)
        self.gaussian_conditional = GaussianConditional(None)

    def load_state_dict(self, state_dict: Mapping[str, Any], strict: bool = True, assign: bool = False) -> Any:
        """As nn.Module's, but frozen entropy tables (exported weights, or a checkpoint of a run
        started from them) are taken at their saved shapes."""
        resize_table_buffers(self, state_dict)
        return super().load_state_dict(state_dict, strict, assign)

    def gains(self, level: int) -> tuple[Tensor, Tensor]:
        """Gain and inverse gain of quality level ``level`` (1-based), shaped for broadcasting."""
        i = level - 1
        return self.log_gain[i].exp()[None, :, None, None], self.log_inv_gain[i].exp()[None, :, None, None]

    def hyper(self, z_hat: Tensor) -> tuple[Tensor, Tensor]:
        scales, means = self.h_s(z_hat).chunk(2, dim=1)
        return scales, means

    def add_checkerboard(self) -> None:
        """Give the model a checkerboard context that starts out changing nothing."""
        if self.context is None:
            self.context = CheckerboardContext(self.config.latent_channels)
            self.config = self.config.with_checkerboard()

    def widen_transforms(self, analysis: int, synthesis: int) -> None:
        """Give the encoder and the decoders these widths. The model codes and decodes exactly as
        before until training uses the new channels; the entropy model and the bitstream stay."""
        m, before = self.config.latent_channels, (self.config.encoder_channels, self.config.decoder_channels)
        for name, had, wanted in zip(("analysis", "synthesis"), before, (analysis, synthesis)):
            if wanted < had:
                raise ValueError(f"the {name} transform has {had} channels already; it cannot shrink to {wanted}")
        if analysis != before[0]:
            self.g_a = widened(self.g_a, Analysis(analysis, m))
        if synthesis != before[1]:
            self.g_s = widened(self.g_s, Synthesis(synthesis, m))
            if self.g_s_gan is not None:
                self.g_s_gan = widened(self.g_s_gan, Synthesis(synthesis, m))
        self.config = dataclasses.replace(self.config, analysis_channels=analysis, synthesis_channels=synthesis)

    def widen_latent(self, m: int) -> None:
        """Give the latent ``m`` channels. The new ones start at zero, coded at mean zero with the
        narrowest table (a few bytes an image), and the decoders read them with random weights,
        so training can put them to use; until it does, the model decodes the same images."""
        old, n = self.config.latent_channels, self.config.channels
        if m == old:
            return
        if m < old:
            raise ValueError(f"the latent has {old} channels already; it cannot shrink to {m}")
        keep = torch.arange(old)

        def chunks(k: int) -> Tensor:  # the old channels of k concatenated m-channel groups
            return torch.cat([keep + i * m for i in range(k)])

        self.g_a[-1] = embed(self.g_a[-1], Analysis(self.config.encoder_channels, m)[-1], zero_new_outputs=True)
        for g_s in (self.g_s, self.g_s_gan):
            if g_s is not None:
                g_s[0] = embed(g_s[0], Synthesis(self.config.decoder_channels, m)[0], zero_new_inputs=False)
        self.h_a[0] = embed(self.h_a[0], HyperAnalysis(n, m)[0], zero_new_inputs=False)
        h_s = HyperSynthesis(n, m)
        embed(self.h_s[0], h_s[0])
        embed(self.h_s[2], h_s[2])
        embed(self.h_s[4], h_s[4], out_idx=chunks(2), zero_new_outputs=True)  # new scales at the bound, means 0
        self.h_s = h_s
        if self.context is not None:
            context = CheckerboardContext(m)
            embed(self.context.context, context.context, zero_new_inputs=False)
            embed(self.context.parameters_net[0], context.parameters_net[0], in_idx=chunks(3))
            embed(self.context.parameters_net[2], context.parameters_net[2], out_idx=chunks(2), zero_new_outputs=True)
            self.context = context
        log_g = _initial_log_gains(self.config.lambdas)[:, None].repeat(1, m - old)
        with torch.no_grad():
            self.log_gain = nn.Parameter(torch.cat([self.log_gain, log_g], 1))
            self.log_inv_gain = nn.Parameter(torch.cat([self.log_inv_gain, -log_g], 1))
        self.config = dataclasses.replace(self.config, latent_channels=m)

    def contextual(self, anchors_hat: Tensor, scales: Tensor, means: Tensor) -> tuple[Tensor, Tensor]:
        """(scales, means) with the checkerboard context's corrections at the non-anchors."""
        return _at_non_anchors(self.context(anchors_hat, scales, means), scales, means)

    def contextual_for_coding(self, anchors_hat: Tensor, scales: Tensor, means: Tensor) -> tuple[Tensor, Tensor]:
        """:meth:`contextual` at the non-anchors only (shaped like ``t[..., ~anchor_mask]``), in
        float64 for the reason given in :meth:`hyper_for_coding`."""
        others = ~anchor_mask(tuple(scales.shape[-2:])).to(scales.device)
        scales, means = scales[..., others].double(), means[..., others].double()
        delta = self.context.at_non_anchors(anchors_hat.double(), scales, means)
        delta_scales, delta_means = delta.chunk(2, dim=1)
        return scales + delta_scales, (means + delta_means).float()

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
        y_hat, y_likelihoods, z_likelihoods = self.quantize(self.g_a(x), level)
        return ForwardOutput(self.g_s(y_hat), y_likelihoods, z_likelihoods)

    def quantize(self, y: Tensor, level: int) -> tuple[Tensor, Tensor, Tensor]:
        """The decoder's input ``y_hat`` (rounded as in a file, straight-through for gradients)
        and the likelihoods of ``y`` and ``z`` (additive noise, the rate term's estimate).

        All of it runs in float32 whatever autocast the caller set (bfloat16 training,
        :mod:`codec.train.precision`): the hyperprior and the entropy models decide the rates and
        the tables, and bfloat16's 8-bit mantissa would blur both."""
        with torch.autocast(y.device.type, enabled=False):
            return self._quantize(y.float(), level)

    def _quantize(self, y: Tensor, level: int) -> tuple[Tensor, Tensor, Tensor]:
        gain, inv_gain = self.gains(level)
        y_s = y * gain
        z = self.h_a(y_s)
        _, z_likelihoods = self.entropy_bottleneck(z)
        medians = self.entropy_bottleneck._get_medians().detach().reshape(1, -1, 1, 1)
        z_hat = quantize_ste(z - medians) + medians
        scales, means = self.hyper(z_hat)
        if self.context is not None:
            anchors = anchor_mask(tuple(y_s.shape[-2:])).to(y_s.device)
            scales, means = self.contextual((quantize_ste(y_s - means) + means) * anchors, scales, means)
        _, y_likelihoods = self.gaussian_conditional(y_s, scales, means)
        y_s_hat = quantize_ste(y_s - means) + means
        return y_s_hat * inv_gain, y_likelihoods, z_likelihoods

    def add_gan_decoder(self) -> None:
        """Give the model a second synthesis transform, starting as a copy of the fidelity one."""
        if self.g_s_gan is None:
            self.g_s_gan = copy.deepcopy(self.g_s)
            self.config = dataclasses.replace(self.config, gan_decoder=True)

    def decoder(self, realism: float) -> nn.Module:
        """The fidelity decoder (realism 0), the GAN decoder (1), or, in between, a decoder whose
        weights are interpolated between the two. The GAN decoder is fine-tuned from the fidelity
        one, so the straight path between their weights gives images in between (network
        interpolation, as in ESRGAN)."""
        if realism == 0:
            return self.g_s
        if self.g_s_gan is None:
            raise ValueError("these weights have no GAN decoder")
        if realism == 1:
            return self.g_s_gan
        blend = copy.deepcopy(self.g_s)
        gan = self.g_s_gan.state_dict()
        blend.load_state_dict({k: torch.lerp(v, gan[k], realism) if v.is_floating_point() else v
                               for k, v in self.g_s.state_dict().items()})
        return blend

    @torch.inference_mode()
    def compress(self, x: Tensor, level: int) -> Compressed:
        """Code one padded image (batch of 1) into its two strings."""
        return self.compress_y(self.g_a(x), level)

    @torch.inference_mode()
    def compress_y(self, y: Tensor, level: int) -> Compressed:
        """Code the latent ``y`` of one image, however it was computed (:mod:`codec.tiling`)."""
        y_s = y * self.gains(level)[0]
        z_string, z_hat = self.code_z(self.h_a(y_s))
        y_string, indexes_crc = self.code_y(y_s, *self.hyper_for_coding(z_hat))
        return Compressed(y_string, z_string, tuple(z_hat.shape[-2:]), indexes_crc)

    @torch.inference_mode()
    def decompress_latent(self, c: Compressed, level: int) -> Tensor:
        """Entropy-decode y_hat; raises FormatError on a bad string or when the table indexes do
        not match the file's."""
        z_hat = self.decode_z(c.z_string, c.z_shape)
        return self.decode_y(c.y_string, c.indexes_crc, *self.hyper_for_coding(z_hat)) * self.gains(level)[1]

    # The four entropy-coding steps, shared by whole-image and tiled coding (codec.tiling).

    def code_z(self, z: Tensor) -> tuple[bytes, Tensor]:
        """The string of ``z`` and ``z_hat`` exactly as the decoder will get it."""
        z_string = compress_z(self.entropy_bottleneck, z)
        return z_string, self.decode_z(z_string, tuple(z.shape[-2:]))

    def decode_z(self, z_string: bytes, z_shape: tuple[int, int]) -> Tensor:
        return decompress_z(self.entropy_bottleneck, z_string, z_shape)

    def code_y(self, y_s: Tensor, scales: Tensor, means: Tensor) -> tuple[bytes, int]:
        """The string of the gained latent ``y_s`` and the checksum of the tables it was coded with,
        given the hyperprior's (scales, means)."""
        gc = self.gaussian_conditional
        if self.context is None:
            indexes = scale_indexes(gc, scales)
            return compress_y(gc, y_s, indexes, means), indexes_checksum(indexes)
        a = anchor_mask(tuple(y_s.shape[-2:]))
        string_a = compress_y(gc, y_s[..., a], scale_indexes(gc, scales[..., a]), means[..., a])
        # The rest is coded with the anchors as the decoder will have them (the encoder clamps
        # symbols into their tables).
        _, indexes_a, indexes_n, means_n = self.anchor_pass(string_a, scales, means)
        string_n = compress_y(gc, y_s[..., ~a], indexes_n, means_n)
        return _ANCHORS_LEN.pack(len(string_a)) + string_a + string_n, _checksum(indexes_a, indexes_n)

    def decode_y(self, y_string: bytes, indexes_crc: int, scales: Tensor, means: Tensor) -> Tensor:
        """``y_s_hat``; raises FormatError on a bad string or when the table indexes do not match
        the encoder's."""
        gc = self.gaussian_conditional
        if self.context is None:
            indexes = scale_indexes(gc, scales)
            _check_indexes(indexes_checksum(indexes), indexes_crc)
            return decompress_y(gc, y_string, indexes, means)
        string_a, string_n = split_y_string(y_string)
        y_hat, indexes_a, indexes_n, means_n = self.anchor_pass(string_a, scales, means)
        _check_indexes(_checksum(indexes_a, indexes_n), indexes_crc)
        y_hat[..., ~anchor_mask(tuple(scales.shape[-2:]))] = decompress_y(gc, string_n, indexes_n, means_n)
        return y_hat

    def anchor_pass(self, string_a: bytes, scales: Tensor, means: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """What both coder and decoder derive from the anchors' string: the latent with its
        anchors decoded (zeros elsewhere), the anchors' table indexes, and the others' table
        indexes and means, refined by the context."""
        gc = self.gaussian_conditional
        a = anchor_mask(tuple(scales.shape[-2:]))
        indexes_a = scale_indexes(gc, scales[..., a])
        y_hat = torch.zeros_like(means)
        y_hat[..., a] = decompress_y(gc, string_a, indexes_a, means[..., a])
        scales_n, means_n = self.contextual_for_coding(y_hat, scales, means)
        return y_hat, indexes_a, scale_indexes(gc, scales_n), means_n

    @torch.inference_mode()
    def decompress(self, c: Compressed, level: int) -> Tensor:
        return self.g_s(self.decompress_latent(c, level)).clamp_(0, 1)

    def bitstream_hash(self) -> bytes:
        """8-byte fingerprint of everything that decides what a file's strings decode to before
        the synthesis transform: the entropy tables, the hyper-synthesis, the checkerboard context (if
        any) and the inverse gains.
        The fidelity and GAN decoders (``g_s``, ``g_s_gan``) are outside it: both read the same files."""
        h = hashlib.sha256()
        for chunk in table_bytes(self):
            h.update(chunk)
        context = sorted(self.context.state_dict(prefix="context.").items()) if self.context is not None else []
        for name, t in sorted(self.h_s.state_dict().items()) + context + [("log_inv_gain", self.log_inv_gain)]:
            h.update(name.encode())
            h.update(t.detach().to(torch.float32).contiguous().numpy().tobytes())
        return h.digest()[:8]

    def aux_loss(self) -> Tensor:
        """Loss that fits the EntropyBottleneck's quantiles, whose medians and tails set the
        range of its tables; it has its own optimizer and does not touch the transforms."""
        return self.entropy_bottleneck.loss()


# A checkerboard model's y string: the length of the anchors' string, that string, the others'.
_ANCHORS_LEN = struct.Struct("<I")


def split_y_string(y_string: bytes) -> tuple[bytes, bytes]:
    """A checkerboard model's y string cut into the anchors' string and the others'."""
    if len(y_string) < _ANCHORS_LEN.size:
        raise FormatError(f"y string of {len(y_string)} bytes is too short for a checkerboard model")
    (n,) = _ANCHORS_LEN.unpack_from(y_string)
    string_a, string_n = y_string[_ANCHORS_LEN.size : _ANCHORS_LEN.size + n], y_string[_ANCHORS_LEN.size + n :]
    if len(string_a) != n:
        raise FormatError(f"y string declares {n} bytes of anchors but holds {len(string_a)}")
    return string_a, string_n


def _initial_log_gains(lambdas: tuple[float, ...]) -> Tensor:
    """Gains start at sqrt(lambda / geometric mean of lambdas): the quantization step that
    balances rate and distortion scales as 1 / sqrt(lambda)."""
    log_l = torch.tensor([math.log(v) for v in lambdas])
    return 0.5 * (log_l - log_l.mean())


def _at_non_anchors(delta: Tensor, scales: Tensor, means: Tensor) -> tuple[Tensor, Tensor]:
    """(scales, means) plus the context's corrections ``delta`` (scales, means along channels), at
    the non-anchors only."""
    delta_scales, delta_means = delta.chunk(2, dim=1)
    others = ~anchor_mask(tuple(scales.shape[-2:])).to(scales.device)
    return scales + delta_scales * others, means + delta_means * others


def _checksum(indexes_a: Tensor, indexes_n: Tensor) -> int:
    return indexes_checksum(torch.cat([indexes_a.flatten(), indexes_n.flatten()]))


def _check_indexes(crc: int, expected: int) -> None:
    if crc != expected:
        raise FormatError("cannot decode the latents: probability table selection differs from the encoder's")


def pad(x: Tensor) -> tuple[Tensor, tuple[int, int]]:
    """Replicate-pad to a multiple of ALIGNMENT (works down to 1x1); returns the original size."""
    h, w = x.shape[-2:]
    ph, pw = -h % ALIGNMENT, -w % ALIGNMENT
    return nn.functional.pad(x, (0, pw, 0, ph), mode="replicate"), (h, w)


def unpad(x: Tensor, size: tuple[int, int]) -> Tensor:
    return x[..., : size[0], : size[1]]
