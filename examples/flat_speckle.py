"""Noise on flat surfaces, over whole images: does a decoder add speckle where the photo is smooth?

    python examples/flat_speckle.py FOLDER [FOLDER ...] [--quality 3 --quality 7] [--weights DIR] [--json out.json]

A GAN decoder may invent texture; on a flat wall that shows as grit and coloured speckle, the
defect the team saw at about 0.27 bpp on a facade (issue 19). Side-by-side crops show it for a
few places; this counts it everywhere. Every image is cut into 16x16 blocks; a block is flat
where the original's standard deviation is below 3 levels in luma and 2 in each chroma channel
(YCbCr, 8-bit). Within the flat blocks, the decoded image's mean standard deviation in luma and
in chroma (the root of the Cb and Cr variances) is its noise there, next to the original's own.
Each image is encoded once per quality; the same bytes are decoded by the fidelity decoder
(``realism=0``) and the GAN decoder (``realism=1``); AVIF 4:4:4 gets the highest quality whose
file is no larger (as in ``realism_crops.py``).
"""

from __future__ import annotations

import json
from pathlib import Path

import click
import numpy as np
from PIL import Image
from realism_crops import avif_within

import codec
from codec.evaluate import codecs
from codec.evaluate.dataset import collect, load_rgb

BLOCK = 16
FLAT = {"Y": 3.0, "Cb": 2.0, "Cr": 2.0}  # the original's largest per-block std for a flat block


def block_std(im: Image.Image) -> dict[str, np.ndarray]:
    """Per-channel standard deviation of every whole BLOCK x BLOCK block, as (rows, cols) arrays."""
    ycc = np.asarray(im.convert("YCbCr"), dtype=np.float64)
    h, w = (s // BLOCK * BLOCK for s in ycc.shape[:2])
    blocks = ycc[:h, :w].reshape(h // BLOCK, BLOCK, w // BLOCK, BLOCK, 3)
    std = blocks.std(axis=(1, 3))
    return {name: std[..., i] for i, name in enumerate(FLAT)}


def flat_noise(original: Image.Image, decoded: dict[str, Image.Image]) -> dict[str, float]:
    """Luma and chroma noise in the original's flat blocks, for the original and each decoding."""
    ref = block_std(original)
    flat = np.logical_and.reduce([ref[c] < limit for c, limit in FLAT.items()])
    out = {"flat_fraction": float(flat.mean())}
    for name, im in {"original": original, **decoded}.items():
        s = block_std(im)
        out[f"{name}_luma"] = float(s["Y"][flat].mean()) if flat.any() else float("nan")
        out[f"{name}_chroma"] = float(np.hypot(s["Cb"], s["Cr"])[flat].mean()) if flat.any() else float("nan")
    return out


def _images(folder: Path) -> list:
    try:
        return collect([folder])
    except codec.AecError as e:
        raise click.ClickException(str(e)) from None


@click.command()
@click.argument("folders", nargs=-1, required=True, type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--quality", "qualities", type=float, multiple=True, default=(3.0, 7.0), show_default=True)
@click.option("--weights", "weights_dir", type=click.Path(exists=True, file_okay=False))
@click.option("--json", "json_out", type=click.Path(dir_okay=False, path_type=Path))
def main(folders: tuple[Path, ...], qualities: tuple[float, ...], weights_dir: str | None, json_out: Path | None) -> None:
    avif = codecs.get("avif-444")
    rows = []
    for folder in folders:
        for q in qualities:
            per_image = []
            for f in _images(folder):
                original = Image.fromarray(load_rgb(f.path))
                pixels = original.width * original.height
                try:  # weights without a GAN decoder, a quality they lack: one line, not a traceback
                    data = codec.encode(original, quality=q, weights_dir=weights_dir)
                    decoded = {"fidelity": codec.decode(data, weights_dir=weights_dir, realism=0.0),
                               "gan": codec.decode(data, weights_dir=weights_dir, realism=1.0)}
                except codec.AecError as e:
                    raise click.ClickException(str(e)) from None
                avif_data = avif_within(np.asarray(original), len(data))
                decoded["avif"] = Image.fromarray(avif.decode(avif_data))
                per_image.append({"aec_bpp": 8 * len(data) / pixels, "avif_bpp": 8 * len(avif_data) / pixels,
                                  **flat_noise(original, decoded)})
            mean = {k: float(np.nanmean([r[k] for r in per_image])) for k in per_image[0]}
            rows.append({"folder": folder.name, "quality": q, **mean, "images": len(per_image)})
    click.echo("| set | quality | aecodec bpp | AVIF bpp | flat blocks | luma noise: original / fidelity / GAN / AVIF "
               "| chroma noise: original / fidelity / GAN / AVIF |")
    click.echo("|---|---|---|---|---|---|---|")
    for r in rows:
        luma, chroma = (" / ".join(f"{r[f'{n}_{c}']:.2f}" for n in ("original", "fidelity", "gan", "avif"))
                        for c in ("luma", "chroma"))
        click.echo(f"| {r['folder']} | {r['quality']:g} | {r['aec_bpp']:.3f} | {r['avif_bpp']:.3f} "
                   f"| {100 * r['flat_fraction']:.1f} % | {luma} | {chroma} |")
    if json_out:
        json_out.write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
