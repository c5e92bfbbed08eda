"""The GAN decoder's discriminator: it must be able to learn what a slightly soft decoding is."""

from __future__ import annotations

import pytest
import torch

from codec.losses import discriminator_loss
from codec.nn.discriminator import Discriminator


def crops(photo, n: int, size: int = 64) -> torch.Tensor:
    x = torch.from_numpy(photo.copy()).permute(2, 0, 1).float().div(255)
    return torch.stack([x[:, 64 * i : 64 * i + size, 128 : 128 + size] for i in range(n)])


def test_discriminator_learns_to_spot_a_light_blur(astronaut):
    """A 3x3 box blur (28 dB here) softens an image about as much as a decoding at low rates.
    With spectral normalization and images fed in [0, 1], the mean logits of sharp and blurred
    crops were 0.12 to 0.13 apart after these steps (two seeds); scaled, 0.9 to 1.4 (three)."""
    torch.manual_seed(0)
    real = crops(astronaut, 6)
    blurred = torch.nn.functional.avg_pool2d(torch.nn.functional.pad(real, (1, 1, 1, 1), mode="replicate"), 3, 1)
    latent = torch.zeros(6, 128, 4, 4)
    disc = Discriminator(128)
    opt = torch.optim.Adam(disc.parameters(), lr=4e-4)
    for _ in range(60):
        loss = discriminator_loss(disc(real, latent)[0], disc(blurred, latent)[0])
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():
        gap = disc(real, latent)[0].mean() - disc(blurred, latent)[0].mean()
    assert gap > 0.5


def test_discriminator_learning_rate_follows_its_own_setting(astronaut):
    """The schedule gives the generator's rate; the discriminator's stays d_lr / g_lr times it
    (it used to be overwritten with the generator's)."""
    from codec import weights
    from codec.config import GanConfig
    from codec.train.gan import GanState, gan_step

    cfg = GanConfig(g_lr=1e-4, d_lr=4e-4)
    state = GanState.create(cfg, weights.default_weights_dir())
    stats = gan_step(state, crops(astronaut, 1), 4, 5e-5, cfg, lpips=None)  # warm-up: discriminator only
    assert set(stats) == {"d_loss"}
    assert state.g_opt.param_groups[0]["lr"] == 5e-5
    assert state.d_opt.param_groups[0]["lr"] == pytest.approx(2e-4)
