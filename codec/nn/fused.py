"""Inference forms of the analysis and synthesis transforms: the same functions, less work.

Three rewrites, each exact in real arithmetic (float results differ in the last bits):

- A ``Down`` stage is a 5x5 stride-2 convolution plus a 1x1 convolution of the space-to-depth
  input. That shortcut reads input pixel (2i + a, 2j + b), a, b in {0, 1}, which is tap
  (2 + a, 2 + b) of the 5x5 window of output pixel (i, j), so it folds into the 5x5 kernel:
  one convolution instead of a pixel-unshuffle copy, two convolutions and an addition.
- An ``Up`` stage's 1x1 convolution + pixel shuffle writes output pixel (2i + a, 2j + b) from
  input pixel (i, j): tap (2 + a, 2 + b) of the transposed 5x5 kernel. Its bias depends on the
  phase (a, b), so it is added as a 2x2 pattern. The last stage, with 3 output channels, runs
  as a 3x3 convolution to 4 x 4 channels and a pixel shuffle (sub-pixel form), which oneDNN does
  twice as fast as a transposed convolution with 3 outputs.
- GDN is a matrix product over channels at every pixel: in channels-last memory that is a
  GEMM on a (pixels, channels) view, done in place a block of pixels at a time.

Everything runs in channels-last memory, which oneDNN's convolutions use natively: a
channels-first tensor is reordered on the way into and out of every convolution, and
PyTorch's 1x1 convolutions on one thread take a slow unfold path.

These modules snapshot the weights they are built from; build them again after changing them.
"""

from __future__ import annotations

from typing import ClassVar

import torch
from compressai.layers import GDN
from torch import Tensor, nn
from torch.nn import functional as F

from codec.nn.transforms import Analysis, Down, Synthesis, Up

CHANNELS_LAST = torch.channels_last

# Offset within the 5x5 kernel of a shortcut tap: phase a reads tap 2 + a.
_CENTRE = slice(2, 4)


def channels_last(x: Tensor) -> Tensor:
    return x.contiguous(memory_format=CHANNELS_LAST)


class FusedGDN(nn.Module):
    """GDN (or its inverse), ``x * (beta + x^2 @ gamma^T) ** -+0.5``, in place on a (pixels, C)
    view, a block of rows at a time: the temporaries stay in cache and no full-size tensor is
    allocated (each fresh one costs its page faults). Overwrites its (channels-last) input."""

    BLOCK_ROWS = 4096  # 1 MiB of float32 at 64 channels

    def __init__(self, gdn: GDN) -> None:
        super().__init__()
        c = gdn.beta.numel()
        self.inverse = gdn.inverse
        self.register_buffer("beta", gdn.beta_reparam(gdn.beta).detach().clone())
        self.register_buffer("gamma_t", gdn.gamma_reparam(gdn.gamma).detach().reshape(c, c).t().contiguous())

    def forward(self, x: Tensor) -> Tensor:
        flat = x.permute(0, 2, 3, 1).view(-1, x.shape[1])  # fails loudly unless x is channels-last
        for i in range(0, flat.shape[0], self.BLOCK_ROWS):
            block = flat[i : i + self.BLOCK_ROWS]
            norm = torch.addmm(self.beta, block.square(), self.gamma_t)
            block.mul_(norm.sqrt_() if self.inverse else norm.rsqrt_())
        return x


class FusedDown(nn.Module):
    """A ``Down`` stage as one 5x5 stride-2 convolution."""

    def __init__(self, down: Down) -> None:
        super().__init__()
        w = down.conv.weight.detach().clone()
        c_out, c_in = w.shape[:2]
        w[:, :, _CENTRE, _CENTRE] += down.shortcut.weight.detach().reshape(c_out, c_in, 2, 2)
        self.register_buffer("weight", channels_last(w))
        self.register_buffer("bias", (down.conv.bias + down.shortcut.bias).detach().clone())

    def forward(self, x: Tensor) -> Tensor:
        return F.conv2d(x, self.weight, self.bias, stride=2, padding=2)


class FusedUp(nn.Module):
    """An ``Up`` stage as one 5x5 stride-2 transposed convolution plus a 2x2 bias pattern."""

    def __init__(self, up: Up) -> None:
        super().__init__()
        w = up.conv.weight.detach().clone()  # (c_in, c_out, 5, 5)
        c_in, c_out = w.shape[:2]
        shortcut = up.shortcut.weight.detach().reshape(c_out, 2, 2, c_in)  # pixel-shuffle order
        w[:, :, _CENTRE, _CENTRE] += shortcut.permute(3, 0, 1, 2)
        self.register_buffer("weight", channels_last(w))
        # bias[c, a, b] of output pixel (2i + a, 2j + b), laid out to broadcast over (n, h, a, w, b, c)
        bias = up.conv.bias.detach()[:, None, None] + up.shortcut.bias.detach().reshape(c_out, 2, 2)
        self.register_buffer("bias", bias.permute(1, 2, 0)[None, None, :, None].contiguous())

    def forward(self, x: Tensor) -> Tensor:
        out = F.conv_transpose2d(x, self.weight, stride=2, padding=2, output_padding=1)
        n, c, h, w = out.shape
        out.permute(0, 2, 3, 1).view(n, h // 2, 2, w // 2, 2, c).add_(self.bias)
        return out


class SubPixelUp(nn.Module):
    """An ``Up`` stage as a 3x3 convolution to 4 x c_out channels and a pixel shuffle.

    Output pixel (2i + a, 2j + b) reads input rows i - 1..i + 1 through kernel rows 4, 2, 0
    (a = 0) or -, 3, 1 (a = 1), and the same for columns. Output channels are padded with zero
    filters to a multiple of 4 (3 colours to 4: oneDNN computes 16 channels faster than 12) and
    the padding is dropped after the shuffle, so the result is a view.
    """

    # (phase, offset in the 3x3 kernel) -> tap of the 5x5 kernel
    _TAPS: ClassVar[dict[tuple[int, int], int]] = {(0, 0): 4, (0, 1): 2, (0, 2): 0, (1, 1): 3, (1, 2): 1}

    def __init__(self, up: Up) -> None:
        super().__init__()
        wt = up.conv.weight.detach()  # (c_in, c_out, 5, 5)
        c_in, c_out = wt.shape[:2]
        self.c_out = c_out
        padded = -(-c_out // 4) * 4
        w = torch.zeros(padded, 2, 2, c_in, 3, 3)
        for (a, di), ki in self._TAPS.items():
            for (b, dj), kj in self._TAPS.items():
                w[:c_out, a, b, :, di, dj] = wt[:, :, ki, kj].t()
        w[:c_out, ..., 1, 1] += up.shortcut.weight.detach().reshape(c_out, 2, 2, c_in)
        bias = torch.zeros(padded, 2, 2)
        bias[:c_out] = up.conv.bias.detach()[:, None, None] + up.shortcut.bias.detach().reshape(c_out, 2, 2)
        self.register_buffer("weight", channels_last(w.reshape(4 * padded, c_in, 3, 3)))
        self.register_buffer("bias", bias.reshape(-1))

    def forward(self, x: Tensor) -> Tensor:
        return F.pixel_shuffle(F.conv2d(x, self.weight, self.bias, padding=1), 2)[:, : self.c_out]


def fuse_analysis(g_a: Analysis) -> nn.Sequential:
    """g_a as four (stride-2 convolution, GDN) stages; expects and returns channels-last."""
    return nn.Sequential(*(FusedDown(m) if isinstance(m, Down) else FusedGDN(m) for m in g_a)).eval()


def fuse_synthesis(g_s: Synthesis) -> nn.Sequential:
    """g_s as four (upsampling, inverse GDN) stages; expects and returns channels-last."""
    layers = list(g_s)
    fused = [FusedUp(m) if isinstance(m, Up) else FusedGDN(m) for m in layers[:-1]]
    return nn.Sequential(*fused, SubPixelUp(layers[-1])).eval()
