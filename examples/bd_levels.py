"""BD-rate of aecodec against each codec of an ``aecodec eval`` folder over a subset of its levels,
e.g. the levels an older release covered, to compare releases over the same rates.

    python examples/bd_levels.py results/kodak --from-level 6 [--metric psnr-rgb]
"""

from __future__ import annotations

import json
from pathlib import Path

import click

from codec.evaluate.bdrate import bd_rate


def _curve(path: Path, metric: str, first: int = 0) -> tuple[list[float], list[float]]:
    d = json.loads(path.read_text())
    if metric not in d["results"]:
        raise click.UsageError(f"{path} has no {metric} results")
    keep = [i for i, s in enumerate(d["settings"]) if s >= first]
    return [d["results"]["bpp"][i] for i in keep], [d["results"][metric][i] for i in keep]


@click.command()
@click.argument("folder", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--from-level", default=1, show_default=True, help="aecodec's lowest level to include.")
@click.option("--metric", default="psnr-rgb", show_default=True)
@click.option("--codec", "ours", default="aec", show_default=True)
def main(folder: Path, from_level: int, metric: str, ours: str) -> None:
    if not (folder / f"{ours}.json").is_file():
        raise click.UsageError(f"{folder} has no {ours}.json: run aecodec eval with --codecs {ours} into it first")
    rate, quality = _curve(folder / f"{ours}.json", metric, from_level)
    for other in sorted(p for p in folder.glob("*.json") if p.stem != ours):
        other_rate, other_quality = _curve(other, metric)
        click.echo(f"{ours} (levels {from_level}+) vs {other.stem}: {bd_rate(other_rate, other_quality, rate, quality):+.1f} %")


if __name__ == "__main__":
    main()
