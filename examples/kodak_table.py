"""Kodak table of the README: aecodec's fidelity decoder against JPEG and WebP at the same bpp.

    python examples/kodak_table.py ../shared/data/kodak [--weights weights/] [--json out.json]

bpp is always 8 x the whole file's size / pixels. For each image and each aecodec level, JPEG's
and WebP's PSNR at exactly aecodec's bpp is interpolated (linearly in bpp) between the two
neighbouring quality settings of a sweep over 1..100, then averaged over the images. Where some
images' smallest file is larger than aecodec's, the cell says how many images reach that rate
instead: a mean over the easy images alone would flatter the classical codec.
"""

from __future__ import annotations

import io
import json
import time
from pathlib import Path

import click
import numpy as np
from PIL import Image

import codec
from codec.image import psnr


def classical_curve(img: Image.Image, fmt: str) -> tuple[np.ndarray, np.ndarray]:
    ref = np.asarray(img)
    bpps, psnrs = [], []
    for q in range(1, 101, 3):
        buf = io.BytesIO()
        img.save(buf, format=fmt, quality=q, **({"method": 6} if fmt == "WEBP" else {}))
        bpps.append(8 * buf.tell() / (img.width * img.height))
        psnrs.append(psnr(np.asarray(Image.open(buf).convert("RGB")), ref))
    order = np.argsort(bpps)
    return np.asarray(bpps)[order], np.asarray(psnrs)[order]


@click.command()
@click.argument("kodak", type=click.Path(exists=True, file_okay=False))
@click.option("--weights", type=click.Path(exists=True, file_okay=False))
@click.option("--json", "json_out", type=click.Path(dir_okay=False))
def main(kodak: str, weights: str | None, json_out: str | None) -> None:
    files = sorted(Path(kodak).glob("*.png"))
    levels = range(1, codec.load_model(weights).num_levels + 1)
    rows = {q: {"bpp": [], "psnr": [], "jpeg": [], "webp": [], "enc_s": [], "dec_s": []} for q in levels}
    for f in files:
        img = Image.open(f).convert("RGB")
        ref = np.asarray(img)
        curves = {fmt: classical_curve(img, fmt) for fmt in ("JPEG", "WEBP")}
        for q, r in rows.items():
            t0 = time.perf_counter()
            data = codec.encode(ref, quality=q, weights_dir=weights)
            t1 = time.perf_counter()
            out = np.asarray(codec.decode(data, weights_dir=weights, realism=0))  # the fidelity decoder
            r["dec_s"].append(time.perf_counter() - t1)
            r["enc_s"].append(t1 - t0)
            bpp = 8 * len(data) / (img.width * img.height)
            r["bpp"].append(bpp)
            r["psnr"].append(psnr(out, ref))
            for fmt, key in (("JPEG", "jpeg"), ("WEBP", "webp")):
                x, y = curves[fmt]
                r[key].append(float(np.interp(bpp, x, y, left=np.nan)))
    summary = {q: {k: float(np.mean(v)) for k, v in r.items()} for q, r in rows.items()}  # nan where any image is
    click.echo("| quality | bpp | PSNR (dB) | JPEG at same bpp | WebP at same bpp | encode (s) | decode (s) |")
    click.echo("|---|---|---|---|---|---|---|")
    for q, s in summary.items():
        at_rate = {key: f"{s[key]:.2f}" if np.isfinite(s[key]) else
                   f"— ({int(np.isfinite(rows[q][key]).sum())} of {len(files)} reach it)" for key in ("jpeg", "webp")}
        click.echo(f"| {q} | {s['bpp']:.3f} | {s['psnr']:.2f} | {at_rate['jpeg']} | {at_rate['webp']} "
                   f"| {s['enc_s']:.2f} | {s['dec_s']:.2f} |")
    if json_out:
        Path(json_out).write_text(json.dumps({"summary": summary, "per_image": rows, "files": [f.name for f in files]}, indent=1))


if __name__ == "__main__":
    main()
