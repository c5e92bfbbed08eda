"""One codec's measurements beside another's at the same rate, from an ``aecodec eval`` folder:
the README's "GAN decoder against AVIF at the same bpp" table.

    aecodec eval ../shared/data/kodak --codecs aec-gan,avif-444 --settings aec-gan=1,3,5,7,9,10 \\
        --settings avif-444=0,10,20,30,40,50 --metrics psnr,st-lpips,fd --out results/kodak-fd
    python examples/equal_rate.py results/kodak-fd --codec aec-gan --reference avif-444

The reference's curve is interpolated in log-bpp, linearly in the metric, or in its logarithm
for the Fréchet distances (they span orders of magnitude). Rates outside the reference's range
are not extrapolated: the row says where the reference's curve begins or ends. Bold marks the
better of the two.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import click
import numpy as np

LOWER_IS_BETTER = ("fd-vgg-256", "fd-vgg-128", "st-lpips-vgg", "ms-gmsd")
LOG_SCALE = ("fd-vgg-256", "fd-vgg-128")
FORMAT = {"fd-vgg-256": "{:,.0f}", "fd-vgg-128": "{:,.0f}", "psnr-rgb": "{:.2f}"}


def curve(folder: Path, codec: str) -> dict:
    path = folder / f"{codec}.json"
    try:
        data = json.loads(path.read_text())
        return {"settings": data["settings"], **data["results"]}
    except (OSError, ValueError, KeyError) as e:
        raise click.ClickException(f"{path}: not a result file of aecodec eval ({type(e).__name__}: {e})") from None


def at_rate(reference: dict, key: str, bpp: float) -> float | None:
    """The reference's ``key`` at ``bpp``, or None outside the rates it was measured at."""
    points = sorted((b, v) for b, v in zip(reference["bpp"], reference[key]) if v is not None)
    x = np.log([b for b, _ in points])
    y = np.array([v for _, v in points], dtype=float)
    r = math.log(bpp)
    if len(points) < 2 or not x[0] <= r <= x[-1]:
        return None
    if key in LOG_SCALE:
        return float(np.exp(np.interp(r, x, np.log(y))))
    return float(np.interp(r, x, y))


def cell(key: str, mine: float | None, theirs: float | None) -> str:
    fmt = FORMAT.get(key, "{:.3f}")
    if mine is None:  # not measurable (eval writes NaN as null)
        return "—"
    if theirs is None:
        return f"{fmt.format(mine)} / —"
    better = mine < theirs if key in LOWER_IS_BETTER else mine > theirs
    a, b = fmt.format(mine), fmt.format(theirs)
    return f"**{a}** / {b}" if better else f"{a} / **{b}**"


@click.command()
@click.argument("folder", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--codec", default="aec-gan", show_default=True, help="The rows.")
@click.option("--reference", default="avif-444", show_default=True, help="Interpolated at the rows' rates.")
@click.option("--metrics", default="fd-vgg-256,st-lpips-vgg", show_default=True,
              help="Result keys, comma-separated.")
def main(folder: Path, codec: str, reference: str, metrics: str) -> None:
    """FOLDER: the --out folder of an aecodec eval that measured both codecs."""
    mine, theirs = curve(folder, codec), curve(folder, reference)
    keys = [k for k in metrics.split(",") if k]
    missing = [k for k in keys if k not in mine or k not in theirs]
    if missing:
        raise click.ClickException(f"{', '.join(missing)} not measured for both {codec} and {reference} in {folder}")
    lo, hi = min(theirs["bpp"]), max(theirs["bpp"])
    click.echo(f"{reference} measured from {lo:.3f} to {hi:.3f} bpp; cells: {codec} / {reference} at the same bpp\n")
    click.echo("| setting | bpp | " + " | ".join(keys) + " |")
    click.echo("|---" * (len(keys) + 2) + "|")
    for i, (setting, bpp) in enumerate(zip(mine["settings"], mine["bpp"])):
        cells = [cell(k, mine[k][i], at_rate(theirs, k, bpp)) for k in keys]
        click.echo(f"| {setting} | {bpp:.3f} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
