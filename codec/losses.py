"""Training objectives."""

from __future__ import annotations

import math
from typing import NamedTuple

import torch
from torch import Tensor, nn

from codec.model import ForwardOutput


class RDLoss(NamedTuple):
    loss: Tensor
    bpp_estimate: Tensor
    mse: Tensor


def rate_distortion(out: ForwardOutput, x: Tensor, lmbda: float) -> RDLoss:
    """lambda * 255^2 * MSE + bits per pixel, CompressAI's convention for lambda."""
    num_pixels = x.shape[0] * x.shape[2] * x.shape[3]
    bits = sum(torch.log(lik).sum() for lik in (out.y_likelihoods, out.z_likelihoods)) / -math.log(2)
    bpp = bits / num_pixels
    mse = torch.mean((out.x_hat - x) ** 2)
    return RDLoss(lmbda * 255**2 * mse + bpp, bpp, mse)


def contractive_penalty(g_a: nn.Module, x: Tensor, y: Tensor, eps: float) -> Tensor:
    """Random-projection estimate of ||J||_F^2 per pixel for the analysis transform at ``x``.

    For v ~ N(0, I), E ||J v||^2 = ||J||_F^2, and J v is approximated by the forward difference
    (g_a(x + eps v) - g_a(x)) / eps, which costs one more forward pass of ``g_a`` and no
    second-order autograd. ``y`` is g_a(x), already computed for the main loss.
    """
    v = torch.randn_like(x)
    jv = (g_a(x + eps * v) - y) / eps
    return jv.pow(2).sum() / (x.shape[0] * x.shape[2] * x.shape[3])


def psnr_db(mse: float) -> float:
    return 10 * math.log10(1 / max(mse, 1e-12))


def discriminator_loss(real_logits: Tensor, fake_logits: Tensor) -> Tensor:
    """Non-saturating GAN loss of the discriminator: -log D(real) - log(1 - D(fake))."""
    return nn.functional.softplus(-real_logits).mean() + nn.functional.softplus(fake_logits).mean()


def generator_adversarial_loss(fake_logits: Tensor) -> Tensor:
    """Non-saturating generator loss -log D(fake): strong gradients while D wins."""
    return nn.functional.softplus(-fake_logits).mean()


def feature_matching(real: list[Tensor], fake: list[Tensor]) -> Tensor:
    """Mean L1 distance between the discriminator's features of the original and the decoding:
    a dense, stable signal alongside the single logit (pix2pixHD)."""
    return sum(torch.mean(torch.abs(r.detach() - f)) for r, f in zip(real, fake)) / len(real)
