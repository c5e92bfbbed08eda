"""How close the predicted scales come to a table boundary, on Kodak (the numbers in FORMAT.md).

    python examples/index_margins.py ../shared/data/kodak [--weights weights/]

Each element of y is coded with the table whose scale is the first at or above its predicted
scale; encoder and decoder compute that scale separately, so an element whose scale lies within
the two machines' arithmetic difference of a boundary can pick different tables (the file is
then refused, thanks to the indexes CRC). This prints the margins the encoder sees in float64,
how far float32 would be from float64, and how many tables float32 would pick differently.
"""

from __future__ import annotations

from pathlib import Path

import click
import numpy as np
import torch
from PIL import Image

from codec import api, coding, entropy

THRESHOLDS = (entropy.INDEX_MARGIN, 1e-7, 1e-6, 1e-5)


@click.command()
@click.argument("kodak", type=click.Path(exists=True, file_okay=False))
@click.option("--weights", type=click.Path(exists=True, file_okay=False))
@click.option("--levels", default="1,4,8", show_default=True, help="Quality levels to measure.")
@torch.inference_mode()
def main(kodak: str, weights: str | None, levels: str) -> None:
    model, _ = api.load_model(weights)
    lc = model.latent
    eb, gc = lc.entropy_bottleneck, lc.gaussian_conditional
    below = dict.fromkeys(THRESHOLDS, 0)
    total, smallest, float32_gap, float32_flips = 0, float("inf"), 0.0, 0
    for path in sorted(Path(kodak).glob("*.png")):
        y = coding.analyze(model.g_a, np.asarray(Image.open(path).convert("RGB")))
        for level in map(int, levels.split(",")):
            z = lc.h_a(y * lc.gains(level)[0])
            z_hat = entropy.decompress_z(eb, entropy.compress_z(eb, z), tuple(z.shape[-2:]))
            scales, _ = lc.hyper_for_coding(z_hat)
            scales32, _ = lc.hyper(z_hat)
            margin = entropy.index_margin(gc, scales)
            total += margin.numel()
            smallest = min(smallest, float(margin.min()))
            for t in THRESHOLDS:
                below[t] += int((margin < t).sum())
            coded = scales > gc.scale_table[0] / 2  # where the table choice is not a clamp
            float32_gap = max(float32_gap, float(((scales32 - scales).abs() / scales)[coded].max()))
            float32_flips += int((entropy.scale_indexes(gc, scales32) != entropy.scale_indexes(gc, scales)).sum())
    print(f"{total} elements, smallest relative margin {smallest:.3g}")
    for t in THRESHOLDS:
        print(f"  margin below {t:g}: {below[t]}")
    print(f"float32 scales differ from float64 by up to {float32_gap:.3g} (relative) and pick {float32_flips} other tables")


if __name__ == "__main__":
    main()
