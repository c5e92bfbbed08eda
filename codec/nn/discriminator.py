"""The discriminator of the GAN decoder's training (stage 2)."""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torch.nn.utils.parametrizations import spectral_norm

# The latent is reduced to this many channels before it is upsampled beside the image (HiFiC).
LATENT_FEATURES = 12
# Images enter as (x - 0.5) * IMAGE_SCALE. Spectral normalization makes every layer 1-Lipschitz,
# so two images' logits can differ by no more than the images do; in [0, 1] a decoding and its
# original differ by a few hundredths, too little for the discriminator to leave chance
# (examples/discriminator_probe.py measures it; MODEL_CARD.md has the figures).
IMAGE_SCALE = 8.0


class Discriminator(nn.Module):
    """Conditional PatchGAN with spectral normalization: one logit per 8x8-pixel patch.

    It sees the quantized latent, upsampled to the image size, next to the image, so it judges
    whether an image is a plausible decoding of *this* latent rather than any natural image,
    which keeps the generator from trading content for texture (Mentzer et al., HiFiC, 2020).
    Returns the logits and every block's features, for the feature-matching loss.
    """

    def __init__(self, latent_channels: int, width: int = 64) -> None:
        super().__init__()
        self.latent = nn.Sequential(spectral_norm(nn.Conv2d(latent_channels, LATENT_FEATURES, 1)), nn.LeakyReLU(0.2))
        chans = [3 + LATENT_FEATURES, width, 2 * width, 4 * width, 4 * width]
        strides = [2, 2, 2, 1]
        self.blocks = nn.ModuleList(
            nn.Sequential(spectral_norm(nn.Conv2d(c_in, c_out, 4 if s == 2 else 3, s, 1)), nn.LeakyReLU(0.2))
            for c_in, c_out, s in zip(chans, chans[1:], strides)
        )
        self.head = spectral_norm(nn.Conv2d(chans[-1], 1, 1))

    def forward(self, x: Tensor, y_hat: Tensor) -> tuple[Tensor, list[Tensor]]:
        scale = x.shape[-1] // y_hat.shape[-1]
        h = nn.functional.interpolate(self.latent(y_hat), scale_factor=scale, mode="nearest")
        h = torch.cat([(x - 0.5) * IMAGE_SCALE, h], dim=1)
        features = []
        for block in self.blocks:
            h = block(h)
            features.append(h)
        return self.head(h), features
