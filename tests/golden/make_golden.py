"""Make the golden files: small real photos coded with the shipped weights, and their decodes.

    python tests/golden/make_golden.py [--weights DIR]

This script is the only way golden files are made. It writes, into this folder, one ``.aec``
file per case, the PNG each decodes to, and ``manifest.json``, which records the weights they
were made with and, per file, the SHA-256 of its bytes, of its entropy-decoded symbols and of
its decoded pixels. ``tests/test_golden.py`` then checks on every machine that each file still
decodes to exactly those symbols (they are integers: any difference is a bitstream break) and
to pixels within one level of the PNG (the synthesis transform runs in float32, whose last bits
may differ between machines; a fraction limit keeps a systematic shift from hiding there).

Run it when the shipped weights change (the bitstream hash changes) and commit the result. The
outgoing set moves to ``previous/<its weights hash>/``, next to a copy of its weights that must
be shipped in ``weights/previous-releases/<hash>/``: files written by earlier releases keep decoding, and
the test checks that they do. A change of the format itself bumps the version in FORMAT.md and
keeps a reader for the old version, and its golden files stay.
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

import click
import numpy as np
from PIL import Image

HERE = Path(__file__).resolve().parent
MANIFEST = HERE / "manifest.json"
PREVIOUS = HERE / "previous"
TOLERANCE = {"max_abs_diff": 1, "max_fraction_differing": 0.01}


def cases() -> dict[str, tuple[Image.Image, float]]:
    """name -> (input image, quality): crops of scikit-image's photos, each a few KB coded."""
    from PIL import ImageCms
    from skimage import data

    astronaut, camera, coffee, cat = data.astronaut(), data.camera(), data.coffee(), data.chelsea()
    yy, xx = np.mgrid[:64, :80]
    alpha = np.clip(255 - 4 * np.hypot(yy - 32, xx - 40), 0, 255).astype(np.uint8)
    meta = Image.fromarray(cat[60:124, 120:216])
    exif = Image.Exif()
    exif[0x010F] = "aecodec golden"
    meta.info["exif"] = exif.tobytes()
    meta.info["icc_profile"] = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    return {
        "astronaut-rgb-q9": (Image.fromarray(astronaut[60:124, 180:276]), 9),
        "camera-gray-q7": (Image.fromarray(camera[120:184, 200:264]), 7),
        "coffee-odd-size-q13": (Image.fromarray(coffee[100:137, 200:251]), 13),
        "astronaut-rgba-q11": (Image.fromarray(np.dstack([astronaut[300:364, 40:120], alpha])), 11),
        "chelsea-exif-icc-q1": (meta, 1),  # the lowest level
        "coffee-between-levels-q10.5": (Image.fromarray(coffee[200:264, 300:396]), 10.5),  # a QUAL chunk
    }


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def pixels_digest(im: Image.Image) -> str:
    """SHA-256 of the decoded picture: mode, size and the uint8 pixels."""
    return sha256(f"{im.mode} {im.width}x{im.height}\n".encode() + np.asarray(im).tobytes())


def symbols_digest(data: bytes, weights_dir: str | None = None) -> str:
    """SHA-256 of the entropy-decoded z and y symbols (int64, C order) of an ``.aec`` file."""
    import torch

    from codec import api, container, entropy
    from codec.latent import split_y_string

    model, _ = api.load_model(weights_dir)
    lat = container.unpack(data).latent
    eb, gc = model.latent.entropy_bottleneck, model.latent.gaussian_conditional
    tables = entropy.Tables.of(gc)
    with torch.inference_mode():
        z = entropy.decode_symbols(entropy.Tables.of(eb), lat.z_string, entropy.z_indexes(eb, lat.z_shape))
        scales, means = model.latent.hyper_for_coding(z.float() + entropy.z_medians(eb))
        if model.latent.context is None:
            y = entropy.decode_symbols(tables, lat.y_string, entropy.scale_indexes(gc, scales))
        else:  # the anchors' string, then the others', coded with the anchors' context
            string_a, string_n = split_y_string(lat.y_string)
            _, indexes_a, indexes_n, _ = model.latent.anchor_pass(string_a, scales, means)
            y = torch.cat([entropy.decode_symbols(tables, string_a, indexes_a).flatten(),
                           entropy.decode_symbols(tables, string_n, indexes_n).flatten()])
    return sha256(z.numpy().tobytes() + y.numpy().tobytes())


@click.command()
@click.option("--weights", type=click.Path(exists=True, file_okay=False), help="Weights folder (default: shipped).")
def main(weights: str | None) -> None:
    import codec
    from codec import api, container

    _, digest = api.load_model(weights)
    written, files = {}, {}
    for name, (im, quality) in cases().items():  # all made before any file is touched
        data = codec.encode(im, quality=quality, weights_dir=weights)
        decoded = codec.decode(data, weights_dir=weights, realism=0)  # the fidelity decoder
        written[name] = data, decoded
        header = container.unpack(data).header
        files[f"{name}.aec"] = {"sha256": sha256(data), "bytes": len(data), "quality": quality, "mode": header.mode,
                                "size": [header.width, header.height], "decoded_png": f"{name}.png",
                                "symbols_sha256": symbols_digest(data, weights), "pixels_sha256": pixels_digest(decoded)}
        click.echo(f"{name}.aec: {len(data)} bytes, {header.width}x{header.height} {header.mode}", err=True)
    outgoing = [*HERE.glob("*.aec"), *HERE.glob("*.png"), MANIFEST]
    old_weights = json.loads(MANIFEST.read_text())["weights"] if MANIFEST.exists() else digest.hex()
    if old_weights != digest.hex():
        (PREVIOUS / old_weights).mkdir(parents=True)  # never over an archived set
        for old in outgoing:
            old.rename(PREVIOUS / old_weights / old.name)
        click.echo(f"moved the golden files of weights {old_weights} to previous/{old_weights}/: ship those "
                   f"weights in weights/previous-releases/{old_weights}/", err=True)
    for old in outgoing:
        old.unlink(missing_ok=True)
    for name, (data, decoded) in written.items():
        (HERE / f"{name}.aec").write_bytes(data)
        decoded.save(HERE / f"{name}.png")  # lossless; its metadata is not part of the check
    manifest = {"format_version": container.VERSION, "model": header.model_name, "weights": digest.hex(),
                "tolerance": TOLERANCE, "made_with": _versions(), "files": files}
    MANIFEST.write_text(json.dumps(manifest, indent=2) + "\n")
    click.echo(f"wrote {len(files)} golden files and {MANIFEST.name} for weights {digest.hex()}", err=True)


def _versions() -> dict[str, str]:
    import compressai
    import PIL
    import torch

    import codec

    return {"aecodec": codec.__version__, "torch": torch.__version__, "compressai": compressai.__version__,
            "numpy": np.__version__, "pillow": PIL.__version__, "python": sys.version.split()[0]}


if __name__ == "__main__":
    main()
