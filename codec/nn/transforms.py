"""Analysis, synthesis and hyper transforms.

Each resampling stage has a cheap linear shortcut beside its 5x5 convolution: space-to-depth
(or depth-to-space) plus a 1x1 convolution, which spans the same functions as AuxT's Haar wavelet
plus 1x1 path. It gives the gradient a short route through the deep transform, which makes
training converge markedly faster for a few percent more compute.
"""

from __future__ import annotations

import torch
from compressai.layers import GDN
from torch import Tensor, nn


class Down(nn.Module):
    """Stride-2 5x5 convolution plus a pixel-unshuffle 1x1 shortcut."""

    def __init__(self, c_in: int, c_out: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(c_in, c_out, 5, stride=2, padding=2)
        self.shortcut = nn.Conv2d(4 * c_in, c_out, 1)

    def forward(self, x: Tensor) -> Tensor:
        return self.conv(x) + self.shortcut(nn.functional.pixel_unshuffle(x, 2))


class Up(nn.Module):
    """Stride-2 5x5 transposed convolution plus a 1x1 pixel-shuffle shortcut."""

    def __init__(self, c_in: int, c_out: int) -> None:
        super().__init__()
        self.conv = nn.ConvTranspose2d(c_in, c_out, 5, stride=2, padding=2, output_padding=1)
        self.shortcut = nn.Conv2d(c_in, 4 * c_out, 1)

    def forward(self, x: Tensor) -> Tensor:
        return self.conv(x) + nn.functional.pixel_shuffle(self.shortcut(x), 2)


class Analysis(nn.Sequential):
    """g_a: image x (3 channels, [0, 1]) to latent y (M channels, 1/16 resolution)."""

    def __init__(self, n: int, m: int) -> None:
        super().__init__(
            Down(3, n), GDN(n), Down(n, n), GDN(n), Down(n, n), GDN(n), Down(n, m)
        )


class Synthesis(nn.Sequential):
    """g_s: quantized latent y_hat back to an image."""

    def __init__(self, n: int, m: int) -> None:
        super().__init__(
            Up(m, n), GDN(n, inverse=True), Up(n, n), GDN(n, inverse=True),
            Up(n, n), GDN(n, inverse=True), Up(n, 3),
        )


def widened(old: nn.Sequential, new: nn.Sequential) -> nn.Sequential:
    """``new``, a wider instance of ``old``'s architecture, made to compute ``old``'s function:
    the old weights fill the leading slices and the weights that read the added channels are
    zero, while those that write them keep their random start, so training can put them to use
    (Net2Net's idea, Chen et al. 2016). GDN's new cross terms start at zero too."""
    with torch.no_grad():
        for a, b in zip(old.modules(), new.modules(), strict=True):
            if isinstance(b, (nn.Conv2d, nn.ConvTranspose2d)):
                embed(a, b)
            elif isinstance(b, GDN):
                b.beta[: len(a.beta)] = a.beta
                b.gamma[: len(a.gamma), : len(a.gamma)] = a.gamma
    return new


def embed(a: nn.Module, b: nn.Module, out_idx: Tensor | None = None, in_idx: Tensor | None = None, *,
          zero_new_inputs: bool = True, zero_new_outputs: bool = False) -> nn.Module:
    """Copy convolution (or ``Down``/``Up`` stage) ``a`` into the wider ``b``: its output and input
    channels go to ``b``'s channels ``out_idx`` and ``in_idx`` (default: the leading ones). The
    rest of ``b`` keeps its random start, except the weights reading its new inputs (zeroed by
    default, so ``b`` ignores them) and, if asked, those writing its new outputs."""
    if isinstance(b, (Down, Up)):
        out_idx = torch.arange(a.conv.out_channels) if out_idx is None else out_idx
        in_idx = torch.arange(a.conv.in_channels) if in_idx is None else in_idx
        # A pixel (un)shuffle puts channel c at 4c .. 4c + 3.
        phases = (out_idx, _phases(in_idx)) if isinstance(b, Down) else (_phases(out_idx), in_idx)
        for name, idx in (("conv", (out_idx, in_idx)), ("shortcut", phases)):
            embed(getattr(a, name), getattr(b, name), *idx, zero_new_inputs=zero_new_inputs,
                  zero_new_outputs=zero_new_outputs)
        return b
    with torch.no_grad():
        reads = 0 if isinstance(b, nn.ConvTranspose2d) else 1
        w, w_a = b.weight.movedim(reads, 1), a.weight.movedim(reads, 1)  # views, (out, in, k, k)
        out_idx = torch.arange(w_a.shape[0]) if out_idx is None else out_idx
        in_idx = torch.arange(w_a.shape[1]) if in_idx is None else in_idx
        if zero_new_inputs:
            w[:, _others(in_idx, w.shape[1])] = 0
        if zero_new_outputs:
            w[_others(out_idx, w.shape[0])] = 0
            b.bias[_others(out_idx, w.shape[0])] = 0
        w[out_idx[:, None], in_idx[None, :]] = w_a
        b.bias[out_idx] = a.bias
    return b


def _phases(idx: Tensor) -> Tensor:
    return (4 * idx[:, None] + torch.arange(4)).flatten()


def _others(idx: Tensor, n: int) -> Tensor:
    mask = torch.ones(n, dtype=torch.bool)
    mask[idx] = False
    return mask.nonzero().flatten()


class HyperAnalysis(nn.Sequential):
    """h_a: latent y to hyper-latent z (1/64 resolution)."""

    def __init__(self, n: int, m: int) -> None:
        super().__init__(
            nn.Conv2d(m, n, 3, padding=1), nn.LeakyReLU(inplace=True),
            nn.Conv2d(n, n, 5, stride=2, padding=2), nn.LeakyReLU(inplace=True),
            nn.Conv2d(n, n, 5, stride=2, padding=2),
        )


class HyperSynthesis(nn.Sequential):
    """h_s: z_hat to the Gaussian parameters of y: output channels are (scales, means)."""

    def __init__(self, n: int, m: int) -> None:
        super().__init__(
            nn.ConvTranspose2d(n, m, 5, stride=2, padding=2, output_padding=1),
            nn.LeakyReLU(inplace=True),
            nn.ConvTranspose2d(m, m * 3 // 2, 5, stride=2, padding=2, output_padding=1),
            nn.LeakyReLU(inplace=True),
            nn.Conv2d(m * 3 // 2, m * 2, 3, padding=1),
        )
