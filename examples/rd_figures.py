"""README figures: the Kodak evaluation, with CompressAI's published curves overlaid.

    python examples/rd_figures.py ../shared/data/kodak [--jobs 2] [--no-realism]

Two runs of ``aecodec eval`` (a rerun reuses every finished measurement):

1. every codec at every setting, PSNR, MS-SSIM and MS-GMSD, with the published curves, into
   ``results/kodak``: the RD plots and the BD-rate table;
2. aecodec's three decoders (realism 0, 0.5 and 1) at the levels six, four and two below the
   best (7, 9 and 11 of thirteen levels; 2, 4 and 6 of eight) with the perceptual metrics too (ST-LPIPS on VGG is the
   expensive one), into ``results/kodak-realism``.

The figures and tables the README shows are copied into ``examples/figures/``, with a BD-rate
table of aecodec against the published curves (``kodak-bd-rate-published.md``; their rates count
only the coded strings, aecodec's the whole file). Published curves
are limited to the classical codecs and the two learned models closest to aecodec's
architecture, to keep the figures readable.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import click

import codec
from codec.evaluate.pipeline import Request, evaluate
from codec.evaluate.report import bd_rate_markdown, load_anchor

ROOT = Path(__file__).resolve().parent.parent
ANCHORS = ROOT.parent / "shared" / "anchors" / "compressai-kodak"
SHOWN_ANCHORS = ("jpeg", "webp", "bpg_444_x265_ycbcr", "av1", "vtm", "compressai-bmshj2018-hyperprior_mse_cpu",
                 "compressai-mbt2018-mean_mse_cpu")
ALL_CODECS = ("aec", "aec-gan", "jpeg", "webp", "avif", "avif-444", "jxl", "hevc")
DECODERS = ("aec", "aec-r0.5", "aec-gan")
FIGURES = ROOT / "examples" / "figures"


@click.command()
@click.argument("kodak", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--jobs", type=click.IntRange(1), default=1)
@click.option("--realism/--no-realism", default=True, show_default=True,
              help="Run part 2, the three decoders with the perceptual metrics (the slow one).")
def main(kodak: Path, jobs: int, realism: bool) -> None:
    anchors = tuple(p for p in (ANCHORS / f"{name}.json" for name in SHOWN_ANCHORS) if p.exists())
    best = codec.load_model().num_levels
    realism_levels = (best - 6, best - 4, best - 2)
    runs = {
        "kodak": Request((kodak,), ROOT / "results" / "kodak", codecs=ALL_CODECS, metrics=("psnr", "ms-ssim", "ms-gmsd"),
                         anchors=anchors, jobs=jobs, progress=True),
        "kodak-realism": Request((kodak,), ROOT / "results" / "kodak-realism", codecs=DECODERS,
                                 metrics=("psnr", "ms-ssim", "perceptual"), settings={c: realism_levels for c in DECODERS},
                                 jobs=jobs, progress=True),
    }
    if not realism:
        del runs["kodak-realism"]
    FIGURES.mkdir(parents=True, exist_ok=True)
    for name, request in runs.items():
        outcome = evaluate(request, click.echo)
        click.echo(f"{name}: {outcome.measured} measured, {outcome.reused} reused")
        for f in ("rd-psnr.png", "rd-ms-ssim-db.png", "rd-st-lpips.png", "bd-rate.md"):
            if (request.out_dir / f).exists():
                shutil.copy(request.out_dir / f, FIGURES / f"{name}-{f}")
    ours = [load_anchor(runs["kodak"].out_dir / f"{c}.json") for c in ("aec", "aec-gan")]
    table = bd_rate_markdown(ours + [load_anchor(p) for p in anchors])
    (FIGURES / "kodak-bd-rate-published.md").write_text(table)


if __name__ == "__main__":
    main()
