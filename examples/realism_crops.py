"""The README's side-by-side pictures: original, fidelity decoder, GAN decoder (both from one
file) and AVIF 4:4:4 at no more bytes, at each low quality asked for.

    python examples/realism_crops.py ../shared/data/kodak ../shared/data/val/city100 [--quality 3 --quality 5] [--weights DIR]

Three Kodak crops, fine texture (kodim13), a face (kodim15), a house with text and flat walls
(kodim08), and three val/city100 crops of facades and stone walls, where a decoder that invents
texture shows it. Each image is encoded once per quality; the same .aec bytes are decoded with
``realism=0`` and ``realism=1``; AVIF (``aecodec eval``'s avif-444: speed 6) gets the highest
quality whose whole file is no larger than the .aec file. Writes
``examples/realism_crops_q<quality>.png`` per quality.
"""

from __future__ import annotations

from pathlib import Path

import click
import numpy as np
from PIL import Image, ImageDraw

import codec
from codec.evaluate import codecs

KODAK_CROPS = {"kodim13.png": (80, 256), "kodim15.png": (300, 60), "kodim08.png": (480, 200)}  # (left, top)
CITY_CROPS = {"094H.jpg": (420, 200), "097H.jpg": (150, 150), "099H.jpg": (700, 60)}
SIDE = 224
LABEL = 24


def avif_within(rgb: np.ndarray, max_bytes: int) -> bytes:
    """AVIF 4:4:4 at the highest quality whose file is at most ``max_bytes`` (quality 0 if none is)."""
    avif = codecs.get("avif-444")
    avif.check()
    lo, hi, best = 0, 100, avif.encode(rgb, 0)
    while lo <= hi:
        q = (lo + hi) // 2
        data = avif.encode(rgb, q)
        if len(data) <= max_bytes:
            best, lo = data, q + 1
        else:
            hi = q - 1
    return best


def sheet(crops: list[tuple[Path, tuple[int, int]]], quality: int, weights_dir: str | None) -> Image.Image:
    columns = ["original", "fidelity (realism 0)", "GAN (realism 1)", "AVIF 4:4:4"]
    out = Image.new("RGB", (len(columns) * SIDE, len(crops) * (SIDE + LABEL)), "white")
    draw = ImageDraw.Draw(out)
    for row, (path, (left, top)) in enumerate(crops):
        original = Image.open(path).convert("RGB")
        pixels = original.width * original.height
        data = codec.encode(original, quality=quality, weights_dir=weights_dir)
        avif = avif_within(np.asarray(original), len(data))
        decoded = [codec.decode(data, weights_dir=weights_dir, realism=r) for r in (0.0, 1.0)]
        images = [original, *decoded, Image.fromarray(codecs.get("avif-444").decode(avif))]
        sizes = [None, len(data), len(data), len(avif)]
        y = row * (SIDE + LABEL)
        for col, (im, title, size) in enumerate(zip(images, columns, sizes)):
            out.paste(im.crop((left, top, left + SIDE, top + SIDE)), (col * SIDE, y + LABEL))
            text = f"{path.stem} {title}" if size is None else f"{title}, {8 * size / pixels:.3f} bpp"
            draw.text((col * SIDE + 4, y + 6), text, fill="black")
    return out


@click.command()
@click.argument("kodak", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.argument("city", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--quality", "qualities", type=float, multiple=True, default=(3.0, 5.0), show_default=True)
@click.option("--out-dir", default="examples", show_default=True, type=click.Path(file_okay=False, path_type=Path))
@click.option("--weights", "weights_dir", type=click.Path(exists=True, file_okay=False),
              help="Weights folder (default: the shipped weights), e.g. a run's export to judge it first.")
def main(kodak: Path, city: Path, qualities: tuple[float, ...], out_dir: Path, weights_dir: str | None) -> None:
    crops = [(kodak / n, xy) for n, xy in KODAK_CROPS.items()] + [(city / n, xy) for n, xy in CITY_CROPS.items()]
    for q in qualities:
        path = out_dir / f"realism_crops_q{q:g}.png"
        sheet(crops, q, weights_dir).save(path, optimize=True)
        click.echo(f"wrote {path} (quality {q:g})")


if __name__ == "__main__":
    main()
