"""How close ``encode_to_target`` comes to size, bpp and PSNR targets on Kodak, in how many encodes.

    python examples/targets.py ../shared/data/kodak [--images 24] [--threads 1]

For each target: the mean reached value and its range over the images, how many met it, the
encodes spent (each a full entropy coding of the image; PSNR targets also decode each) and the
wall time per image, model loading excluded.
"""

from __future__ import annotations

import statistics
import time
from pathlib import Path

import click
import numpy as np
import torch
from PIL import Image

import codec
from codec.image import psnr

TARGETS = (("size", 20_000), ("size", 50_000), ("bpp", 0.25), ("bpp", 0.75), ("psnr", 30.0), ("psnr", 34.0))


@click.command()
@click.argument("kodak", type=click.Path(exists=True, file_okay=False))
@click.option("--images", type=click.IntRange(1, 24), default=24, show_default=True)
@click.option("--threads", type=click.IntRange(1), default=1, show_default=True)
def main(kodak: str, images: int, threads: int) -> None:
    torch.set_num_threads(threads)
    paths = sorted(Path(kodak).glob("*.png"))[:images]
    refs = [np.asarray(Image.open(p).convert("RGB")) for p in paths]
    codec.load_model()
    click.echo("| target | reached (mean, min..max) | quality (mean) | met | encodes (mean, max) | s per image |")
    click.echo("|---|---|---|---|---|---|")
    for name, value in TARGETS:
        reached, qualities, met, encodes, seconds = [], [], 0, [], []
        for ref in refs:
            t0 = time.perf_counter()
            t = codec.encode_to_target(ref, **{name: value})
            seconds.append(time.perf_counter() - t0)
            if name == "size":
                reached.append(len(t.data))
            elif name == "bpp":
                reached.append(8 * len(t.data) / (ref.shape[0] * ref.shape[1]))
            else:
                reached.append(psnr(np.asarray(codec.decode(t.data, realism=0)), ref))
            qualities.append(t.quality)
            met += t.met
            encodes.append(t.encodes)
        click.echo(f"| {name} {value:g} | {statistics.mean(reached):.4g} ({min(reached):.4g}..{max(reached):.4g}) "
                   f"| {statistics.mean(qualities):.2f} | {met}/{len(refs)} | {statistics.mean(encodes):.1f}, "
                   f"{max(encodes)} | {statistics.mean(seconds):.2f} |")


if __name__ == "__main__":
    main()
