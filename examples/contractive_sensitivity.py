"""What the contractive encoder buys: how far the latent, the file and the decoding move when the
input changes a little (issue 19 part 4), for one or more weights folders side by side.

    python examples/contractive_sensitivity.py ../shared/data/kodak --weights weights [--weights runs/c0/export] [--quality 4]

Changes to each Kodak image: Gaussian noise of sigma 1 and 2 (8-bit levels), a shift by one
pixel to the right (the left column repeated), and a JPEG q95 round trip (4:4:4). For each,
means over the images:

- ``y moved``: ||y' - y|| / ||y|| of the analysis transform's output (before quantization);
- ``symbols flipped``: the share of coded elements of y whose value in the file moves by more
  than half a quantization step (the files' own y_hat, decoded back from the strings);
- ``size change``: | bytes' - bytes | / bytes of the whole .aec files;
- ``decoded PSNR``: PSNR between the fidelity decodings of the two files, against ``input
  PSNR`` between the two inputs: a decoder that passes the change through unchanged has the two
  equal; a contractive chain gives a decoded PSNR above the input's.

A one-pixel shift moves content by 1/16 of a latent cell, so its latent cannot stay put; it shows
how smoothly the latent follows, not an invariance.
"""

from __future__ import annotations

import io
from pathlib import Path

import click
import numpy as np
import torch
from PIL import Image

from codec import api, coding
from codec.image import psnr


def changes(rgb: np.ndarray, rng: np.random.Generator) -> dict[str, np.ndarray]:
    def noisy(sigma: float) -> np.ndarray:
        return np.clip(np.round(rgb + rng.normal(0, sigma, rgb.shape)), 0, 255).astype(np.uint8)

    shifted = np.concatenate([rgb[:, :1], rgb[:, :-1]], axis=1)
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, format="JPEG", quality=95, subsampling=0)
    return {"noise sigma 1": noisy(1), "noise sigma 2": noisy(2), "shift 1 px": shifted,
            "JPEG q95": np.asarray(Image.open(io.BytesIO(buf.getvalue())).convert("RGB"))}


@torch.inference_mode()
def measure(rgb: np.ndarray, other: np.ndarray, weights: str, quality: float) -> dict[str, float]:
    model = api.load_model(weights).model
    lc = model.latent
    ys = [coding.analyze(model.g_a, im) for im in (rgb, other)]
    latents = [coding.compress_latent(lc, y, quality, None) for y in ys]
    y_hats = [coding.decompress_latent(lc, latent, quality) for latent in latents]
    gain = lc.gains(quality)[0]
    files = [api.encode(im, quality, weights_dir=weights) for im in (rgb, other)]
    decoded = [np.asarray(api.decode(f, weights_dir=weights, realism=0).convert("RGB")) for f in files]
    return {
        "y moved": float((ys[1] - ys[0]).norm() / ys[0].norm()),
        "symbols flipped": float(((y_hats[1] - y_hats[0]).abs() * gain > 0.5).float().mean()),
        "size change": abs(len(files[1]) - len(files[0])) / len(files[0]),
        "decoded PSNR": psnr(decoded[0], decoded[1]),
        "input PSNR": psnr(rgb, other),
    }


@click.command()
@click.argument("kodak", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--weights", "weights_dirs", multiple=True, required=True, type=click.Path(exists=True, file_okay=False))
@click.option("--quality", default=4.0, show_default=True)
@click.option("--images", default=24, show_default=True, help="The first N images.")
def main(kodak: Path, weights_dirs: tuple[str, ...], quality: float, images: int) -> None:
    paths = sorted(kodak.glob("*.png"))[:images]
    rows: dict[tuple[str, str], list[dict[str, float]]] = {}
    for path in paths:
        rgb = np.asarray(Image.open(path).convert("RGB"))
        for change, other in changes(rgb, np.random.default_rng(0)).items():
            for w in weights_dirs:
                rows.setdefault((w, change), []).append(measure(rgb, other, w, quality))
    keys = ["y moved", "symbols flipped", "size change", "decoded PSNR", "input PSNR"]
    click.echo(f"Kodak, {len(paths)} images, quality {quality:g}, means over the images\n")
    click.echo("| weights | change | " + " | ".join(keys) + " |")
    click.echo("|---" * (len(keys) + 2) + "|")
    for (w, change), ms in rows.items():
        means = {k: float(np.mean([m[k] for m in ms])) for k in keys}
        cells = [f"{means['y moved']:.4f}", f"{100 * means['symbols flipped']:.2f} %", f"{100 * means['size change']:.2f} %",
                 f"{means['decoded PSNR']:.2f} dB", f"{means['input PSNR']:.2f} dB"]
        click.echo(f"| {w} | {change} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
