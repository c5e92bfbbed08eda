"""PSNR and ST-LPIPS (AlexNet, the GAN stage's loss) of a weights folder's decoders on the GAN
stage's held-out crops: how a GAN decoder compares with another, or with its fidelity decoder.

    python examples/decoder_crops.py runs/rd11/export [--val ../shared/data/train/bsds500/val --val ../shared/data/val/city100]

The same function the GAN stage logs with (``codec.train.gan.validate``), on the same 12 centre
crops of 256 px per folder, at quality 2 and 6, for realism 0, 0.5 and 1.
"""

from __future__ import annotations

import click
import torch

from codec import weights
from codec.perceptual import STLPIPS
from codec.train.data import validation_sets
from codec.train.gan import validate

VAL = ("../shared/data/train/bsds500/val", "../shared/data/val/city100")


@click.command()
@click.argument("weights_dir", type=click.Path(exists=True, file_okay=False))
@click.option("--val", "val_dirs", multiple=True, type=click.Path(exists=True, file_okay=False), default=VAL)
def main(weights_dir: str, val_dirs: tuple[str, ...]) -> None:
    torch.set_num_threads(1)
    model = weights.load(weights_dir)
    lpips = STLPIPS("alex")
    for prefix, x in validation_sets(val_dirs, 12, 256, torch.device("cpu")).items():
        for realism in (0.0, 0.5, 1.0) if model.g_s_gan is not None else (0.0,):
            scores = validate(model, x, realism, lpips)
            click.echo(f"{prefix.strip('_')} realism {realism:g}: " + ", ".join(f"{k} {v:.4f}" for k, v in scores.items()))


if __name__ == "__main__":
    main()
