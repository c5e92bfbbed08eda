"""The training objectives."""

from __future__ import annotations

import torch

from codec.losses import contractive_penalty


def test_contractive_penalty_estimates_the_jacobian_frobenius_norm():
    torch.manual_seed(0)
    g = torch.nn.Conv2d(3, 4, 3, stride=2, padding=1)
    x = torch.rand(1, 3, 8, 8)
    exact = torch.autograd.functional.jacobian(lambda t: g(t), x).pow(2).sum() / 64
    with torch.no_grad():
        y = g(x)
        estimates = torch.stack([contractive_penalty(g, x, y, eps=1e-2) for _ in range(3000)])
    assert abs(float(estimates.mean() / exact) - 1) < 0.05


def test_contractive_penalty_has_a_gradient_that_shrinks_the_jacobian():
    torch.manual_seed(0)
    g = torch.nn.Conv2d(3, 4, 3, padding=1)
    x = torch.rand(2, 3, 8, 8)
    before = contractive_penalty(g, x, g(x), eps=1e-2)
    opt = torch.optim.SGD(g.parameters(), lr=0.05)
    for _ in range(20):
        opt.zero_grad()
        contractive_penalty(g, x, g(x), eps=1e-2).backward()
        opt.step()
    torch.manual_seed(1)
    assert contractive_penalty(g, x, g(x), eps=1e-2) < 0.5 * before
