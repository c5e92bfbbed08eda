"""Can the GAN stage's discriminator tell the fidelity decoder's output from the original?

    python examples/discriminator_probe.py ../shared/data/train/bsds500/train [--steps 300] [--weights weights]

Trains only the discriminator, against the frozen fidelity decoder, for a few hundred steps per
variant (how the image is scaled on its way in, learning rate) and reports the held-out loss
(2 ln 2 = 1.386 is chance), the share of patches classified right and the mean logit gap
between originals and decodings. A discriminator that cannot separate them in a few hundred
steps gives the generator no adversarial signal (MODEL_CARD.md, stage 2).
"""

from __future__ import annotations

import random
import time

import click
import torch

from codec import weights
from codec.losses import discriminator_loss
from codec.nn.discriminator import IMAGE_SCALE, Discriminator
from codec.train.data import CropSampler, list_images

# (label, scale of (x - 0.5) as the discriminator sees it, or None for x in [0, 1], learning rate)
VARIANTS = (
    ("[0, 1]", None, 1e-4),
    ("centred, x1", 1.0, 1e-4),
    ("centred, x1", 1.0, 4e-4),
    ("centred, x8", 8.0, 1e-4),
    ("centred, x8 (the default)", 8.0, 4e-4),
    ("centred, x16", 16.0, 1e-4),
    ("centred, x16", 16.0, 4e-4),
)


def as_fed(x: torch.Tensor, scale: float | None) -> torch.Tensor:
    """The input that makes the discriminator (which scales by IMAGE_SCALE) see this variant."""
    if scale is None:
        return x / IMAGE_SCALE + 0.5
    return (x - 0.5) * scale / IMAGE_SCALE + 0.5


def probe(batches: list, held_out: list, scale: float | None, lr: float, steps: int, latent_channels: int) -> dict:
    torch.manual_seed(1)
    disc = Discriminator(latent_channels)
    opt = torch.optim.Adam(disc.parameters(), lr=lr)
    for step in range(steps):
        x, y_hat, x_hat = batches[step % len(batches)]
        loss = discriminator_loss(disc(as_fed(x, scale), y_hat)[0], disc(as_fed(x_hat, scale), y_hat)[0])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    losses, right, gaps = [], [], []
    with torch.no_grad():
        for x, y_hat, x_hat in held_out:
            real, fake = disc(as_fed(x, scale), y_hat)[0], disc(as_fed(x_hat, scale), y_hat)[0]
            losses.append(float(discriminator_loss(real, fake)))
            right.append(float(((real > 0).float().mean() + (fake < 0).float().mean()) / 2))
            gaps.append(float((real - fake).mean()))
    n = len(held_out)
    return {"loss": sum(losses) / n, "right": sum(right) / n, "gap": sum(gaps) / n}


@click.command()
@click.argument("train_dir", type=click.Path(exists=True, file_okay=False))
@click.option("--weights", "weights_dir", default="weights", show_default=True)
@click.option("--steps", type=int, default=300, show_default=True)
@click.option("--batches", "num_batches", type=int, default=120, show_default=True, help="Batches of 4 crops of 128 px.")
@click.option("--threads", type=int, default=1, show_default=True)
def main(train_dir: str, weights_dir: str, steps: int, num_batches: int, threads: int) -> None:
    torch.set_num_threads(threads)
    model = weights.load(weights_dir)
    model.requires_grad_(False)
    sampler = CropSampler(list_images([train_dir]), 128, (0.5, 0.95), seed=0)
    rng = random.Random(0)
    batches = []
    with torch.no_grad():
        for _ in range(num_batches):
            x = sampler.batch(4)
            y_hat = model.latent(model.g_a(x), rng.randint(1, model.config.num_levels))[0]
            batches.append((x, y_hat, model.g_s(y_hat).clamp(0, 1)))
    train, held_out = batches[:-16], batches[-16:]
    click.echo("| input | D lr | held-out loss | patches right | logit gap | seconds |\n|---|---|---|---|---|---|")
    for label, scale, lr in VARIANTS:
        t0 = time.monotonic()
        r = probe(train, held_out, scale, lr, steps, model.config.latent_channels)
        click.echo(f"| {label} | {lr:g} | {r['loss']:.3f} | {r['right']:.1%} | {r['gap']:.2f} | {time.monotonic() - t0:.0f} |")


if __name__ == "__main__":
    main()
