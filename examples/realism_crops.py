"""The README's side-by-side picture: original, fidelity decoder, GAN decoder, from one file.

    python examples/realism_crops.py ../shared/data/kodak -o examples/realism_crops.png [--quality 2] [--weights DIR]

Three Kodak crops: fine texture (kodim13), a face (kodim15), text and fine lines (kodim08). Each
image is encoded once; the same .aec bytes are decoded with ``realism=0`` and ``realism=1``.
"""

from __future__ import annotations

from pathlib import Path

import click
from PIL import Image, ImageDraw

import codec

CROPS = {  # image: (left, top) of a square crop
    "kodim13": (80, 256),
    "kodim15": (300, 60),
    "kodim08": (480, 200),
}
SIDE = 256
LABEL = 24


@click.command()
@click.argument("kodak", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("-o", "--output", default="examples/realism_crops.png", show_default=True)
@click.option("--quality", default=2, show_default=True)
@click.option("--weights", "weights_dir", type=click.Path(exists=True, file_okay=False),
              help="Weights folder (default: the shipped weights), e.g. a run's export to judge it first.")
def main(kodak: Path, output: str, quality: int, weights_dir: str | None) -> None:
    columns = ["original", "fidelity (realism 0)", "GAN (realism 1)"]
    sheet = Image.new("RGB", (len(columns) * SIDE, len(CROPS) * (SIDE + LABEL)), "white")
    draw = ImageDraw.Draw(sheet)
    for row, (name, (left, top)) in enumerate(CROPS.items()):
        original = Image.open(kodak / f"{name}.png").convert("RGB")
        data = codec.encode(original, quality=quality, weights_dir=weights_dir)
        bpp = 8 * len(data) / (original.width * original.height)
        images = [original] + [codec.decode(data, weights_dir=weights_dir, realism=r) for r in (0.0, 1.0)]
        y = row * (SIDE + LABEL)
        for col, (im, title) in enumerate(zip(images, columns)):
            sheet.paste(im.crop((left, top, left + SIDE, top + SIDE)), (col * SIDE, y + LABEL))
            text = f"{name} {title}" + (f", {bpp:.2f} bpp" if col else "")
            draw.text((col * SIDE + 4, y + 6), text, fill="black")
    sheet.save(output)
    click.echo(f"wrote {output} (quality {quality})")


if __name__ == "__main__":
    main()
