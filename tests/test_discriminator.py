"""The GAN decoder's discriminator: it must be able to learn what a slightly soft decoding is."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch

from codec.losses import discriminator_loss
from codec.nn.discriminator import IMAGE_SCALE, Discriminator


def crops(photo, n: int, size: int = 64) -> torch.Tensor:
    x = torch.from_numpy(photo.copy()).permute(2, 0, 1).float().div(255)
    return torch.stack([x[:, 64 * i : 64 * i + size, 128 : 128 + size] for i in range(n)])


def blur_gap(photo, fed: Callable[[torch.Tensor], torch.Tensor]) -> float:
    """Mean logit gap between sharp and blurred crops after 60 discriminator steps; ``fed``
    maps the crops to what the discriminator is given."""
    torch.manual_seed(0)
    real = crops(photo, 6)
    blurred = torch.nn.functional.avg_pool2d(torch.nn.functional.pad(real, (1, 1, 1, 1), mode="replicate"), 3, 1)
    latent = torch.zeros(6, 128, 4, 4)
    disc = Discriminator(128)
    opt = torch.optim.Adam(disc.parameters(), lr=4e-4)
    for _ in range(60):
        loss = discriminator_loss(disc(fed(real), latent)[0], disc(fed(blurred), latent)[0])
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():
        return float(disc(fed(real), latent)[0].mean() - disc(fed(blurred), latent)[0].mean())


def test_discriminator_learns_to_spot_a_light_blur(astronaut):
    """A 3x3 box blur (28 dB here) softens an image about as much as a decoding at low rates."""
    assert blur_gap(astronaut, lambda x: x) > 0.5


def test_images_in_0_1_under_spectral_norm_barely_learn(astronaut):
    """The cause of the fix: fed as they were (x in [0, 1], no scaling), the same steps leave
    the logits of sharp and blurred crops far less apart."""
    assert blur_gap(astronaut, lambda x: x / IMAGE_SCALE + 0.5) < 0.25


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
