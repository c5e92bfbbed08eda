"""Rate-distortion figures (PNG, matplotlib): quality against bpp, one figure per metric.

Measured codecs are solid lines with markers; published curves, when given, are thin dashed
lines. The bpp axis ends a little past the measured codecs' largest rate, and published points far
beyond it are left out so that they do not squeeze the interesting part of the figure.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from pathlib import Path

from codec.evaluate.metrics import SET_METRICS, ms_ssim_db
from codec.extras import require
from codec.evaluate.report import Curve

# result key -> (file name, title, axis label, transform of the value)
FIGURES: dict[str, list[tuple[str, str, str, Callable[[float], float]]]] = {
    "psnr-rgb": [("rd-psnr.png", "PSNR", "PSNR RGB (dB)", float)],
    "ms-ssim-rgb": [("rd-ms-ssim.png", "MS-SSIM", "MS-SSIM RGB", float),
                    ("rd-ms-ssim-db.png", "MS-SSIM in dB", "MS-SSIM RGB (dB, -10 log10(1 - MS-SSIM))", ms_ssim_db)],
    "st-lpips-vgg": [("rd-st-lpips.png", "ST-LPIPS", "ST-LPIPS, VGG (lower is better)", float)],
    "ms-gmsd": [("rd-ms-gmsd.png", "MS-GMSD", "MS-GMSD (lower is better)", float)],
    "haarpsi": [("rd-haarpsi.png", "HaarPSI", "HaarPSI (higher is better)", float)],
    "fd-vgg-256": [("rd-fd-256.png", "Fréchet distance, 256 px windows",
                    "Fréchet distance of VGG features, 256 px windows (lower is better)", float)],
    "fd-vgg-128": [("rd-fd-128.png", "Fréchet distance, 128 px windows",
                    "Fréchet distance of VGG features, 128 px windows (lower is better)", float)],
}


def plot_all(curves: Sequence[Curve], anchors: Sequence[Curve], out_dir: Path, title: str) -> list[Path]:
    """Every figure the measured metrics allow; returns the files written."""
    matplotlib = require("matplotlib", "plotting")
    matplotlib.use("Agg")
    max_bpp = max(b for c in curves for b in c.results["bpp"]) * 1.08
    written = []
    for key, figures in FIGURES.items():
        if not any(key in c.results for c in curves):
            continue
        for name, what, label, transform in figures:
            path = out_dir / name
            _plot(curves, anchors, key, label, transform, max_bpp, f"{title}: {what}", path)
            written.append(path)
    return written


def _plot(curves: Sequence[Curve], anchors: Sequence[Curve], key: str, label: str,
          transform: Callable[[float], float], max_bpp: float, title: str, path: Path) -> None:
    plt = require("matplotlib.pyplot", "plotting")

    fig, ax = plt.subplots(figsize=(9, 5.5), dpi=120)
    for c, color in zip([c for c in anchors if key in c.results], itertools.cycle(_distinct(plt.cm.tab20b.colors))):
        pts = [(b, transform(v)) for b, v in zip(c.results["bpp"], c.results[key]) if b <= max_bpp * 1.15]
        if pts:
            ax.plot(*zip(*pts), "--", color=color, lw=1, label=f"{c.name} (published)")
    for c, color in zip([c for c in curves if key in c.results], itertools.cycle(plt.cm.tab10.colors)):
        ax.plot(c.results["bpp"], [transform(v) for v in c.results[key]], "o-", color=color, ms=4, lw=1.8,
                label=c.name)
    ax.set(xlabel="bits per pixel (whole file)", ylabel=label, title=title, xlim=(0, max_bpp))
    if key in SET_METRICS:  # distances over orders of magnitude
        ax.set_yscale("log")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1))
    fig.savefig(path, bbox_inches="tight")
    plt.close(fig)


def _distinct(colors: Sequence) -> list:
    """tab20b's 5 hues first, then their lighter shades: neighbouring anchors differ in hue."""
    return [c for shade in range(4) for c in colors[shade::4]]
