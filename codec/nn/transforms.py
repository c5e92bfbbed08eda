"""Analysis, synthesis and hyper transforms.

Each resampling stage has a cheap linear shortcut beside its 5x5 convolution: space-to-depth
(or depth-to-space) plus a 1x1 convolution, which spans the same functions as AuxT's Haar wavelet
plus 1x1 path. It gives the gradient a short route through the deep transform, which makes
training converge markedly faster for a few percent more compute.
"""

from __future__ import annotations

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
