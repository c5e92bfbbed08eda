"""One hash per shipped weights folder of everything coding produces: run it on two checkouts
(before and after a change) and compare the lines to show that no byte or pixel moved.

    python examples/coding_fingerprint.py [--kodak ../shared/data/kodak]

For the shipped weights and every folder in ``weights/previous-releases``: an RGB and a gray crop
of two Kodak images at quality 1, 5 and 8, coded whole and in tiles of 128 pixels; the SHA-256 of
the files and of their decoded pixels at realism 0, 0.5 and 1 (where a GAN decoder exists). One
thread. Hashes of one machine: another processor may round differently (FORMAT.md).
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import click
import numpy as np
import torch
from PIL import Image

import codec
from codec import weights


@click.command()
@click.option("--kodak", type=click.Path(exists=True, file_okay=False, path_type=Path), default=Path("../shared/data/kodak"))
def main(kodak: Path) -> None:
    torch.set_num_threads(1)
    rgb = np.asarray(Image.open(kodak / "kodim19.png").convert("RGB"))[:256, :384]
    gray = np.asarray(Image.open(kodak / "kodim07.png").convert("L"))[:130, :200]
    folders = [None] + sorted(str(p) for p in (weights.default_weights_dir() / weights.PREVIOUS_DIR).iterdir())
    for folder in folders:
        h = hashlib.sha256()
        realisms = (0, 0.5, 1) if codec.load_model(folder).has_gan_decoder else (0,)
        for source in (rgb, gray):
            for quality in (1, 5, 8):
                for tile_size in (None, 128):
                    data = codec.encode(source, quality=quality, weights_dir=folder, tile_size=tile_size)
                    h.update(data)
                    for realism in realisms:
                        h.update(np.asarray(codec.decode(data, weights_dir=folder, realism=realism)).tobytes())
        click.echo(f"{Path(folder).name if folder else 'shipped'} {codec.load_model(folder).bitstream_hash.hex()} {h.hexdigest()[:16]}")


if __name__ == "__main__":
    main()
