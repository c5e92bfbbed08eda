"""Hostile input images: damaged files of every format Pillow reads are encoded or refused with
an AecError (never another exception), and each class of bad image fails on the command line
with one line, a non-zero exit status and no output, while the good ones beside it are done."""

from __future__ import annotations

import io
import os
import re
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from PIL import Image

from codec import image
from codec.errors import AecError

CI = os.environ.get("CI") == "true"
FUZZ = settings(max_examples=300 if CI else 60, deadline=None, derandomize=CI,
                suppress_health_check=[HealthCheck.too_slow])


def encoded(im: Image.Image, fmt: str, **params) -> bytes:
    buf = io.BytesIO()
    im.save(buf, format=fmt, **params)
    return buf.getvalue()


@pytest.fixture(scope="module")
def photos(astronaut) -> dict[str, bytes]:
    """A small real photo in every format, with an EXIF block where the format holds one."""
    im = Image.fromarray(astronaut[:40, :56])
    exif = Image.Exif()
    exif[0x0112] = 6
    exif[0x010F] = "cam"
    return {"PNG": encoded(im, "PNG", exif=exif.tobytes()), "JPEG": encoded(im, "JPEG", exif=exif.tobytes()),
            "WEBP": encoded(im, "WEBP", exif=exif.tobytes()), "TIFF": encoded(im, "TIFF", exif=exif.tobytes()),
            "GIF": encoded(im, "GIF"), "BMP": encoded(im, "BMP")}


@FUZZ
@given(st.sampled_from(["PNG", "JPEG", "WEBP", "TIFF", "GIF", "BMP"]),
       st.lists(st.tuples(st.integers(0, 1 << 13), st.integers(0, 255)), min_size=1, max_size=8),
       st.one_of(st.none(), st.integers(0, 1 << 13)))
@example("TIFF", [(84, 11)], None)  # Pillow raised TypeError reading the damaged EXIF of a TIFF
def test_damaged_images_are_encoded_or_refused(photos, fmt, edits, cut):
    data = bytearray(photos[fmt])
    for pos, value in edits:
        data[pos % len(data)] = value
    if cut is not None:
        data = data[: cut % len(data)]
    try:
        pic = image.read(bytes(data))
    except AecError as e:
        assert str(e)
        return
    assert pic.rgb.dtype == np.uint8 and pic.rgb.ndim == 3 and pic.rgb.shape[2] == 3


@pytest.mark.parametrize("fmt", ["JPEG", "WEBP", "PNG"])
def test_an_unreadable_exif_block_is_refused_not_guessed(astronaut, fmt):
    """Pillow raised SyntaxError on these; the orientation is unknowable, so the image is refused."""
    exif = b"Exif\x00\x00MM\x005\x00\x00\x00\x08" if fmt == "JPEG" else b"MM\x005\x00\x00\x00\x08"
    with pytest.raises(AecError, match="EXIF"):
        image.read(encoded(Image.fromarray(astronaut[:16, :16]), fmt, exif=exif))


def png_chunks(width: int, height: int, depth: int, colour: int, idat: bytes) -> bytes:
    def chunk(tag: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data))

    ihdr = struct.pack(">IIBBBBB", width, height, depth, colour, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def gif_bomb(gif: bytes) -> bytes:
    """A real GIF whose screen and frame claim 60000 x 60000 pixels."""
    data = bytearray(gif)
    struct.pack_into("<HH", data, 6, 60_000, 60_000)
    struct.pack_into("<HH", data, data.index(b"\x2c\x00\x00\x00\x00") + 5, 60_000, 60_000)
    return bytes(data)


def bad_images(folder: Path, astronaut: np.ndarray) -> dict[str, str]:
    """Write one file per class of bad image; returns name -> what its error must say."""
    im = Image.fromarray(astronaut[:32, :48])
    png = encoded(im, "PNG")
    files = {
        "empty.png": (b"", "empty"),
        "text.png": (b"hello, world\n" * 50, "not an image"),
        "elf.jpg": (b"\x7fELF\x02\x01\x01" + bytes(300), "not an image"),
        "pdf.png": (b"%PDF-1.7\n" + bytes(300), "not an image"),
        "bad-crc.png": (png[:60] + bytes([png[60] ^ 0xFF]) + png[61:], "corrupt"),
        "truncated-png.png": (png[: len(png) // 2], "corrupt|truncated"),
        "truncated-jpeg.jpg": (encoded(im, "JPEG")[:300], "corrupt|truncated"),
        "bomb-png.png": (png_chunks(100_000, 100_000, 8, 2, zlib.compress(bytes(1000))), "limit|large"),
        "bomb-gif.gif": (gif_bomb(encoded(im, "GIF")), "limit|large"),
        "cmyk.jpg": (encoded(Image.new("CMYK", (16, 16)), "JPEG"), "CMYK"),
        "float.tif": (encoded(Image.fromarray(np.zeros((8, 8), np.float32)), "TIFF"), "float"),
        "bad-exif.jpg": (encoded(im, "JPEG", exif=b"Exif\x00\x00MM\x005\x00\x00\x00\x08"), "EXIF"),
        "already.aec": (b"\x89AEC\r\n\x1a\n" + bytes(40), "not an image"),
    }
    for name, (data, _) in files.items():
        (folder / name).write_bytes(data)
    (folder / "folder.png").mkdir()
    return {name: match for name, (_, match) in files.items()} | {"folder.png": "directory"}


def good_images(folder: Path, astronaut: np.ndarray) -> list[str]:
    """Odd but valid: palette with and without transparency, gray with alpha, 1-bit."""
    crop = Image.fromarray(astronaut[:32, :48])
    pal = crop.quantize(16)
    pal.save(folder / "palette.png")
    pal.save(folder / "palette-transparent.png", transparency=0)
    crop.convert("LA").save(folder / "gray-alpha.png")
    crop.convert("1").save(folder / "bilevel.png")
    return ["palette.png", "palette-transparent.png", "gray-alpha.png", "bilevel.png"] + list(noted_images(folder, crop))


def noted_images(folder: Path, crop: Image.Image) -> dict[str, str]:
    """Coded after a change that the command notes, as cwebp and cjxl do: name -> note."""
    frames = [crop, crop.transpose(Image.Transpose.FLIP_TOP_BOTTOM)]
    files = {
        "16bit-png.png": (encoded(Image.fromarray(np.zeros((8, 8), np.uint16)), "PNG"), "16-bit grayscale converted to 8 bits"),
        "16bit-tiff.tif": (encoded(Image.fromarray(np.zeros((8, 8), np.uint16)), "TIFF"), "16-bit grayscale converted"),
        "animated-gif.gif": (encoded(frames[0], "GIF", save_all=True, append_images=frames[1:]), "only the first frame"),
        "animated-png.png": (encoded(frames[0], "PNG", save_all=True, append_images=frames[1:]), "only the first frame"),
        "animated-webp.webp": (encoded(frames[0], "WEBP", save_all=True, append_images=frames[1:]), "only the first frame"),
    }
    for name, (data, _) in files.items():
        (folder / name).write_bytes(data)
    return {name: note for name, (_, note) in files.items()}


def test_each_class_of_bad_image_from_the_command_line(cli, tmp_path, astronaut):
    src, out = tmp_path / "in", tmp_path / "out"
    src.mkdir()
    bad = bad_images(src, astronaut)
    good = good_images(src, astronaut)
    originals = {p.name: p.read_bytes() for p in src.iterdir() if p.is_file()}
    r = cli("encode", *sorted(src.iterdir()), "-o", out)
    err = r.stderr.decode()
    assert r.returncode == 1 and "Traceback" not in err and "internal error" not in err, err
    total = len(bad) + len(good)
    assert f"{len(good)} of {total} done, {len(bad)} failed" in err
    for name, match in bad.items():
        lines = [line for line in err.splitlines() if line.startswith(f"aecodec: error: {src / name}:")]
        assert len(lines) == 1 and re.search(match, lines[0]), (name, lines)
    assert sorted(p.name for p in out.iterdir()) == sorted(Path(n).stem + ".aec" for n in good)
    for name, note in noted_images(tmp_path, Image.fromarray(astronaut[:32, :48])).items():
        lines = [line for line in err.splitlines() if line.startswith(f"aecodec: note: {src / name}: ")]
        assert len(lines) == 1 and note in lines[0], (name, err)
    assert {p.name: p.read_bytes() for p in src.iterdir() if p.is_file()} == originals  # inputs untouched
