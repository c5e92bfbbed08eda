"""What a wider decoder costs at decode time: the synthesis transform alone, at several widths.

    python examples/decoder_width.py [--widths 64,96,128] [--threads 1]

Random weights (the cost does not depend on them) on the latent of a Kodak-sized image (768x512:
a 48x32 latent of 192 channels), the median of five runs, in the float32 inference the decoder
uses (the fused layers of ``codec.coding``).
"""

from __future__ import annotations

import statistics
import time

import click
import torch

from codec.nn import fused
from codec.nn.transforms import Synthesis


@click.command()
@click.option("--widths", default="64,96,128", show_default=True)
@click.option("--threads", type=click.IntRange(1), default=1, show_default=True)
def main(widths: str, threads: int) -> None:
    torch.set_num_threads(threads)
    y = fused.channels_last(torch.randn(1, 192, 32, 48))
    click.echo("| decoder width | synthesis of a 768x512 image (s) |\n|---|---|")
    for n in map(int, widths.split(",")):
        stages = fused.fuse_synthesis(Synthesis(n, 192).eval())
        with torch.inference_mode():
            stages(y)
            times = []
            for _ in range(5):
                t0 = time.perf_counter()
                stages(y)
                times.append(time.perf_counter() - t0)
        click.echo(f"| {n} | {statistics.median(times):.3f} |")


if __name__ == "__main__":
    main()
