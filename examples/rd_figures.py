"""README figures: the Kodak evaluation with CompressAI's published curves overlaid.

    python examples/rd_figures.py ../shared/data/kodak [--out results/kodak] [--jobs 2]

The same as ``aecodec eval KODAK --out OUT --anchors ../shared/anchors/compressai-kodak`` (so a
rerun reuses every finished measurement), then copies the figures and the BD-rate table that the
README shows into ``docs/eval/``. Published curves are limited to the classical codecs and the two
learned models closest to aecodec's architecture, to keep the figures readable.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import click

from codec.evaluate.pipeline import Request, evaluate

ROOT = Path(__file__).resolve().parent.parent
ANCHORS = ROOT.parent / "shared" / "anchors" / "compressai-kodak"
SHOWN_ANCHORS = ("jpeg", "webp", "bpg_444_x265_ycbcr", "av1", "vtm", "compressai-bmshj2018-hyperprior_mse_cpu",
                 "compressai-mbt2018-mean_mse_cpu")
README_FILES = ("rd-psnr.png", "rd-ms-ssim-db.png", "rd-st-lpips.png", "bd-rate.md")


@click.command()
@click.argument("kodak", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=ROOT / "results" / "kodak")
@click.option("--jobs", type=click.IntRange(1), default=1)
def main(kodak: Path, out: Path, jobs: int) -> None:
    anchors = tuple(p for p in (ANCHORS / f"{name}.json" for name in SHOWN_ANCHORS) if p.exists())
    outcome = evaluate(Request((kodak,), out, anchors=anchors, jobs=jobs, progress=True), click.echo)
    click.echo(f"{outcome.measured} measured, {outcome.reused} reused")
    figures = ROOT / "docs" / "eval"
    figures.mkdir(parents=True, exist_ok=True)
    for name in README_FILES:
        if (out / name).exists():
            shutil.copy(out / name, figures / name)
            click.echo(f"  {figures / name}")


if __name__ == "__main__":
    main()
