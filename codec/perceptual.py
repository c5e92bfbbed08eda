"""ST-LPIPS, the perceptual distance used to train the GAN decoder and to evaluate decoders.

Shift-tolerant LPIPS (Ghildyal and Liu, 2022) from ``stlpips-pytorch``, which ships its network
weights: it works offline, unlike the ``lpips`` package. Train on one backbone (AlexNet) and
report on another (VGG), so the reported figure is not the loss the decoder was fitted to.
"""

from __future__ import annotations

from torch import Tensor, nn

from codec.extras import require


class STLPIPS(nn.Module):
    """Frozen ST-LPIPS on images in [0, 1]; returns one distance per image."""

    def __init__(self, net: str = "alex") -> None:
        super().__init__()
        stlpips = require("stlpips_pytorch.stlpips", "ST-LPIPS, the loss of the gan stage")
        self.net = stlpips.LPIPS(net=net, variant="shift_tolerant", verbose=False).eval()
        self.requires_grad_(False)

    def train(self, mode: bool = True) -> STLPIPS:
        return super().train(False)  # dropout in the linear heads stays off

    def forward(self, x: Tensor, y: Tensor) -> Tensor:
        return self.net(x, y, normalize=True).flatten()
