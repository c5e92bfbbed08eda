"""The latent codec: the latent ``y`` to two strings and back, and the same quantization in training.

Dataflow (level ``q`` picks one row of the gain tables)::

    y -> * gain[q] -> y_s --> h_a -> z -> [EntropyBottleneck] -> z_hat -> z string
                       |                                           |
                       |                 (scales, means) <- h_s <--+
                       |                        |
                       |   with the checkerboard context: the anchors (row + column even)
                       |   first, then the others, their (scales, means) corrected from
                       |   the decoded anchors
                       v                        v
                 [GaussianConditional] ----------------------> y string
                       |
                   y_s_hat -> * inv_gain[q] -> y_hat (to the decoders)

One set of weights serves every quality level: the per-channel gains set how finely each
channel of ``y`` is quantized (Cui et al., "Asymmetric gained deep image compression"), and
training draws the level at random for every batch.

Training (:meth:`LatentCodec.forward`) uses mixed quantization: additive noise for the
likelihoods (the rate term) and straight-through rounding for the latents the decoders see, so
the decoders are trained on the values they get from a file. Coding runs the hyper-synthesis and
the context in float64 (:meth:`LatentCodec.hyper_for_coding`), so that encoder and decoder agree
on every probability table on any machine.

The y string of a model with the checkerboard context is the u32 length of the anchors' string,
that string, then the others' (FORMAT.md). Everything that decides what a string decodes to is
hashed by :meth:`LatentCodec.bitstream_hash`; the decoders are not.
"""

from __future__ import annotations

import hashlib
import math
import struct

import torch
from torch import Tensor, nn

from codec import entropy
from codec.errors import FormatError
from codec.nn.transforms import HyperAnalysis, HyperSynthesis, embed

# A checkerboard model's y string: the length of the anchors' string, that string, the others'.
_ANCHORS_LEN = struct.Struct("<I")


class LatentCodec(nn.Module):
    """Hyperprior (``h_a``, ``h_s``, the two entropy models), optional checkerboard context and
    per-level gains. Its parameter names are part of the bitstream hash: keep them."""

    def __init__(self, n: int, m: int, lambdas: tuple[float, ...], checkerboard: bool) -> None:
        super().__init__()
        self.h_a = HyperAnalysis(n, m)
        self.h_s = HyperSynthesis(n, m)
        self.context = CheckerboardContext(m) if checkerboard else None
        log_g = _initial_log_gains(lambdas)
        self.log_gain = nn.Parameter(log_g[:, None].repeat(1, m))
        self.log_inv_gain = nn.Parameter(-log_g[:, None].repeat(1, m))
        self.entropy_bottleneck, self.gaussian_conditional = entropy.new_entropy_models(n)

    def gains(self, level: float) -> tuple[Tensor, Tensor]:
        """Gain and inverse gain of quality ``level`` (1-based), shaped for broadcasting. Between
        two levels the log-gains are interpolated (Cui et al. 2021), so the rate grows smoothly."""
        i, t = int(level) - 1, level - int(level)
        if t == 0:
            log_gain, log_inv_gain = self.log_gain[i], self.log_inv_gain[i]
        else:
            log_gain = torch.lerp(self.log_gain[i], self.log_gain[i + 1], t)
            log_inv_gain = torch.lerp(self.log_inv_gain[i], self.log_inv_gain[i + 1], t)
        return log_gain.exp()[None, :, None, None], log_inv_gain.exp()[None, :, None, None]

    # Training.

    def forward(self, y: Tensor, level: int) -> tuple[Tensor, Tensor, Tensor]:
        """The decoders' input ``y_hat`` (rounded as in a file, straight-through for gradients)
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
        medians = entropy.z_medians(self.entropy_bottleneck)
        z_hat = entropy.round_ste(z - medians) + medians
        scales, means = self.hyper(z_hat)
        if self.context is not None:
            anchors = anchor_mask(tuple(y_s.shape[-2:])).to(y_s.device)
            scales, means = self.contextual((entropy.round_ste(y_s - means) + means) * anchors, scales, means)
        _, y_likelihoods = self.gaussian_conditional(y_s, scales, means)
        y_s_hat = entropy.round_ste(y_s - means) + means
        return y_s_hat * inv_gain, y_likelihoods, z_likelihoods

    def hyper(self, z_hat: Tensor) -> tuple[Tensor, Tensor]:
        scales, means = self.h_s(z_hat).chunk(2, dim=1)
        return scales, means

    def contextual(self, anchors_hat: Tensor, scales: Tensor, means: Tensor) -> tuple[Tensor, Tensor]:
        """(scales, means) with the checkerboard context's corrections at the non-anchors."""
        delta_scales, delta_means = self.context(anchors_hat, scales, means).chunk(2, dim=1)
        others = ~anchor_mask(tuple(scales.shape[-2:])).to(scales.device)
        return scales + delta_scales * others, means + delta_means * others

    def aux_loss(self) -> Tensor:
        """Loss that fits the EntropyBottleneck's quantiles, whose medians and tails set the
        range of its tables; it has its own optimizer and does not touch the transforms."""
        return self.entropy_bottleneck.loss()

    # Coding. ``code_*`` and ``decode_*`` work on any window of the latent (:mod:`codec.coding`
    # codes large images in tiles); ``y_s`` is y times the level's gain.

    def hyper_for_coding(self, z_hat: Tensor) -> tuple[Tensor, Tensor]:
        """:meth:`hyper` in float64 (scales kept in float64, means rounded to float32). The scales
        pick each element's probability table, which encoder and decoder must agree on exactly.
        In float32 two convolution algorithms differ by up to 2e-5 and pick other tables for
        dozens of Kodak elements; in float64 they differ by about 2e-14, far inside the margin
        (:data:`codec.entropy.INDEX_MARGIN`) that every Kodak element keeps from a boundary."""
        weights = {k: v.double() for k, v in self.h_s.state_dict().items()}
        scales, means = torch.func.functional_call(self.h_s, weights, (z_hat.double(),)).chunk(2, dim=1)
        return scales, means.float()

    def contextual_for_coding(self, anchors_hat: Tensor, scales: Tensor, means: Tensor) -> tuple[Tensor, Tensor]:
        """:meth:`contextual` at the non-anchors only (shaped like ``t[..., ~anchor_mask]``), in
        float64 for the reason given in :meth:`hyper_for_coding`."""
        others = ~anchor_mask(tuple(scales.shape[-2:])).to(scales.device)
        scales, means = scales[..., others].double(), means[..., others].double()
        delta = self.context.at_non_anchors(anchors_hat.double(), scales, means)
        delta_scales, delta_means = delta.chunk(2, dim=1)
        return scales + delta_scales, (means + delta_means).float()

    def code_z(self, z: Tensor) -> tuple[bytes, Tensor]:
        """The string of ``z`` and ``z_hat`` exactly as the decoder will get it."""
        z_string = entropy.compress_z(self.entropy_bottleneck, z)
        return z_string, self.decode_z(z_string, tuple(z.shape[-2:]))

    def decode_z(self, z_string: bytes, z_shape: tuple[int, int]) -> Tensor:
        return entropy.decompress_z(self.entropy_bottleneck, z_string, z_shape)

    def code_y(self, y_s: Tensor, scales: Tensor, means: Tensor) -> tuple[bytes, int]:
        """The string of ``y_s`` and the checksum of the tables it was coded with, given the
        hyperprior's (scales, means)."""
        gc = self.gaussian_conditional
        if self.context is None:
            indexes = entropy.scale_indexes(gc, scales)
            return entropy.compress_y(gc, y_s, indexes, means), entropy.indexes_checksum(indexes)
        a = anchor_mask(tuple(y_s.shape[-2:]))
        string_a = entropy.compress_y(gc, y_s[..., a], entropy.scale_indexes(gc, scales[..., a]), means[..., a])
        # The rest is coded with the anchors as the decoder will have them (the encoder clamps
        # symbols into their tables).
        _, indexes_a, indexes_n, means_n = self.anchor_pass(string_a, scales, means)
        string_n = entropy.compress_y(gc, y_s[..., ~a], indexes_n, means_n)
        return _ANCHORS_LEN.pack(len(string_a)) + string_a + string_n, _checksum(indexes_a, indexes_n)

    def decode_y(self, y_string: bytes, indexes_crc: int, scales: Tensor, means: Tensor) -> Tensor:
        """``y_s_hat``; raises FormatError on a bad string or when the table indexes do not match
        the encoder's."""
        gc = self.gaussian_conditional
        if self.context is None:
            indexes = entropy.scale_indexes(gc, scales)
            _check_indexes(entropy.indexes_checksum(indexes), indexes_crc)
            return entropy.decompress_y(gc, y_string, indexes, means)
        string_a, string_n = split_y_string(y_string)
        y_hat, indexes_a, indexes_n, means_n = self.anchor_pass(string_a, scales, means)
        _check_indexes(_checksum(indexes_a, indexes_n), indexes_crc)
        y_hat[..., ~anchor_mask(tuple(scales.shape[-2:]))] = entropy.decompress_y(gc, string_n, indexes_n, means_n)
        return y_hat

    def anchor_pass(self, string_a: bytes, scales: Tensor, means: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """What both coder and decoder derive from the anchors' string: the latent with its
        anchors decoded (zeros elsewhere), the anchors' table indexes, and the others' table
        indexes and means, refined by the context."""
        gc = self.gaussian_conditional
        a = anchor_mask(tuple(scales.shape[-2:]))
        indexes_a = entropy.scale_indexes(gc, scales[..., a])
        y_hat = torch.zeros_like(means)
        y_hat[..., a] = entropy.decompress_y(gc, string_a, indexes_a, means[..., a])
        scales_n, means_n = self.contextual_for_coding(y_hat, scales, means)
        return y_hat, indexes_a, entropy.scale_indexes(gc, scales_n), means_n

    def bitstream_hash(self) -> bytes:
        """8-byte fingerprint of everything that decides what a file's strings decode to before
        the synthesis transform: the entropy tables, the hyper-synthesis, the checkerboard
        context (if any) and the inverse gains. Names are taken relative to this module."""
        h = hashlib.sha256()
        for chunk in entropy.table_bytes(self):
            h.update(chunk)
        context = sorted(self.context.state_dict(prefix="context.").items()) if self.context is not None else []
        for name, t in sorted(self.h_s.state_dict().items()) + context + [("log_inv_gain", self.log_inv_gain)]:
            h.update(name.encode())
            h.update(t.detach().to(torch.float32).contiguous().numpy().tobytes())
        return h.digest()[:8]

    # Surgery on trained weights: each change codes exactly as before until training uses it.

    def add_checkerboard(self) -> None:
        """A checkerboard context whose last layer is zero, so it changes nothing at first."""
        if self.context is None:
            self.context = CheckerboardContext(self.log_gain.shape[1])

    def add_lower_levels(self, k: int) -> None:
        """``k`` quality levels below the lowest, ahead of the others in the gain tables. Their
        log-gains continue, per channel, the mean step of the lowest three levels (or two), so each new
        level quantizes coarser than the one above and training starts from a sensible rate."""
        j = torch.arange(k, 0, -1, dtype=self.log_gain.dtype, device=self.log_gain.device)[:, None]
        with torch.no_grad():
            for name in ("log_gain", "log_inv_gain"):
                table = getattr(self, name)
                top = min(2, len(table) - 1)  # the lowest three levels, or as many as there are
                if top < 1:
                    raise ValueError("levels can be added below two levels or more, not below one")
                step = (table[top] - table[0]) / top
                setattr(self, name, nn.Parameter(torch.cat([table[0] - j * step, table])))

    def widen(self, m: int, lambdas: tuple[float, ...]) -> None:
        """``m`` latent channels, the new ones at zero: coded at mean zero with the narrowest table
        (a few bytes an image) until training puts them to use. The transforms on either side
        (g_a's last stage, the decoders' first) are widened by :class:`codec.model.AecModel`."""
        old, n = self.log_gain.shape[1], self.h_a[0].out_channels
        keep = torch.arange(old)

        def chunks(k: int) -> Tensor:  # the old channels of k concatenated m-channel groups
            return torch.cat([keep + i * m for i in range(k)])

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
        log_g = _initial_log_gains(lambdas)[:, None].repeat(1, m - old)
        with torch.no_grad():
            self.log_gain = nn.Parameter(torch.cat([self.log_gain, log_g], 1))
            self.log_inv_gain = nn.Parameter(torch.cat([self.log_inv_gain, -log_g], 1))


class CheckerboardContext(nn.Module):
    """Corrections to the (scales, means) of the non-anchor half of ``y``, from its decoded
    anchor half (He et al. 2021, "Checkerboard context model"). The anchors are the elements whose
    row plus column is even; each non-anchor has four of them as direct neighbours, so two
    parallel passes replace a serial context. The last layer starts at zero: a model given this
    context codes exactly as before until training teaches it something."""

    def __init__(self, m: int) -> None:
        super().__init__()
        self.context = nn.Conv2d(m, m, 5, padding=2)
        self.parameters_net = nn.Sequential(
            nn.Conv2d(3 * m, 2 * m, 1), nn.LeakyReLU(inplace=True), nn.Conv2d(2 * m, 2 * m, 1)
        )
        nn.init.zeros_(self.parameters_net[-1].weight)
        nn.init.zeros_(self.parameters_net[-1].bias)

    def forward(self, anchors_hat: Tensor, scales: Tensor, means: Tensor) -> Tensor:
        """``anchors_hat``: y_hat with its non-anchors zeroed; returns the corrections, (scales,
        means) along channels, to apply at the non-anchors only."""
        return self.parameters_net(torch.cat([scales, means, self.context(anchors_hat)], dim=1))

    def at_non_anchors(self, anchors_hat: Tensor, scales: Tensor, means: Tensor) -> Tensor:
        """:meth:`forward`'s corrections at the non-anchors only, shaped (batch, 2m, non-anchors)
        like ``t[..., ~anchor_mask(...)]``, for a quarter of the work: a non-anchor's 5x5 window
        holds anchors at only 12 of its 25 taps (the others read zeros), and the 1x1 layers need
        only run at the non-anchors. ``scales`` and ``means`` are given at the non-anchors. It
        computes in the inputs' dtype (the coders' float64), whatever the weights' dtype."""
        conv = self.context
        r = conv.kernel_size[0] // 2
        h, w = anchors_hat.shape[-2:]
        others = ~anchor_mask((h, w)).to(anchors_hat.device)
        if not others.any():  # a 1x1 latent: convolutions refuse empty inputs
            return scales.new_zeros(scales.shape[0], 2 * scales.shape[1], 0)
        # The anchors are where row + column is even, so (dy - r) + (dx - r) is odd at the taps
        # that reach an anchor from a non-anchor: dy + dx odd.
        taps = [(dy, dx) for dy in range(2 * r + 1) for dx in range(2 * r + 1) if (dy + dx) % 2]
        padded = nn.functional.pad(anchors_hat, (r, r, r, r))
        windows = torch.stack([padded[:, :, dy : dy + h, dx : dx + w][..., others] for dy, dx in taps], dim=2)
        dtype = scales.dtype
        weight = conv.weight[:, :, [dy for dy, _ in taps], [dx for _, dx in taps]].to(dtype)  # (m, m, taps)
        context = torch.einsum("oit,bitk->bok", weight, windows) + conv.bias.to(dtype)[:, None]
        net_input = torch.cat([scales, means, context], dim=1)[..., None]  # the 1x1 layers take (b, c, k, 1)
        net_weights = {k: v.to(dtype) for k, v in self.parameters_net.state_dict().items()}
        return torch.func.functional_call(self.parameters_net, net_weights, (net_input,))[..., 0]


def anchor_mask(shape: tuple[int, int]) -> Tensor:
    """Boolean (rows, columns) mask of the anchors: row plus column even."""
    rows, cols = torch.arange(shape[0])[:, None], torch.arange(shape[1])[None, :]
    return (rows + cols) % 2 == 0


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


def _checksum(indexes_a: Tensor, indexes_n: Tensor) -> int:
    return entropy.indexes_checksum(torch.cat([indexes_a.flatten(), indexes_n.flatten()]))


def _check_indexes(crc: int, expected: int) -> None:
    if crc != expected:
        raise FormatError("cannot decode the latents: probability table selection differs from the encoder's")
