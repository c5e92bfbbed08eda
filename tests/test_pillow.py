"""The Pillow plugin through Pillow's own API, with the shipped weights on a real photo."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image, ImageOps

import codec
import codec.pillow
from codec import container
from codec.config import NUM_LEVELS


@pytest.fixture(autouse=True)
def default_options():
    yield
    codec.pillow.register()  # a test that set a realism leaves the defaults behind


@pytest.fixture(scope="module")
def photo(astronaut: np.ndarray) -> Image.Image:
    return Image.fromarray(astronaut[:160, 96:320])


def saved(im: Image.Image, **options) -> bytes:
    buf = io.BytesIO()
    im.save(buf, format="AEC", **options)
    return buf.getvalue()


def test_a_pillow_image_saves_and_opens_as_aec(tmp_path, photo):
    path = tmp_path / "photo.aec"
    photo.save(path, quality=6)  # the format from the suffix, as for any Pillow format
    data = path.read_bytes()
    assert codec.info(data).header.quality == 6
    with Image.open(path) as im:
        assert (im.format, im.size, im.mode) == ("AEC", photo.size, "RGB")
        assert Image.MIME[im.format] == "image/x-aec"
        pixels = np.asarray(im)
    np.testing.assert_array_equal(pixels, np.asarray(codec.decode(data)))


def test_opening_decodes_nothing_until_the_pixels_are_needed(photo):
    """A file whose container is sound but whose latent is garbage opens (size, mode) and fails
    only on load, with the codec's message in Pillow's usual OSError."""
    f = container.unpack(saved(photo))
    lat = f.latent
    bad = container.pack(container.AecFile(f.header, container.Latent(lat.z_shape, lat.indexes_crc, lat.z_string, b"\x01" * 7)))
    im = Image.open(io.BytesIO(bad))
    assert im.size == photo.size and im.mode == "RGB"
    with pytest.raises(OSError, match="cannot decode this .aec file: "):
        im.load()


def test_a_broken_container_is_an_oserror_with_the_codecs_message(photo):
    data = bytearray(saved(photo))
    data[-1] ^= 1
    with pytest.raises(OSError, match="cannot open this .aec file: .*(checksum|CRC)"):
        Image.open(io.BytesIO(bytes(data)))


def test_thumbnail_conversion_and_exif_transpose(photo):
    im = Image.open(io.BytesIO(saved(photo, quality=3)))
    im.thumbnail((64, 64))
    assert max(im.size) == 64
    png = io.BytesIO()
    im.save(png, format="PNG")
    assert Image.open(png).size == im.size
    assert ImageOps.exif_transpose(Image.open(io.BytesIO(saved(photo)))).size == photo.size


def test_a_rotated_jpeg_comes_back_upright_with_its_exif(photo):
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise to display
    exif[0x010F] = "aecodec test"  # Make
    jpeg = io.BytesIO()
    photo.save(jpeg, format="JPEG", exif=exif, quality=95)
    im = Image.open(io.BytesIO(saved(Image.open(jpeg))))
    assert im.size == photo.size[::-1]
    assert im.getexif()[0x010F] == "aecodec test" and 0x0112 not in im.getexif()
    assert ImageOps.exif_transpose(im).size == im.size


def test_grayscale_and_alpha_keep_their_modes(photo):
    for mode in ("L", "RGBA"):
        im = Image.open(io.BytesIO(saved(photo.convert(mode))))
        assert im.mode == mode and np.asarray(im).shape[:2] == photo.size[::-1]


def test_the_realism_option_picks_the_decoder(photo):
    data = saved(photo, quality=2)
    codec.pillow.register(realism=0)
    np.testing.assert_array_equal(np.asarray(Image.open(io.BytesIO(data))), np.asarray(codec.decode(data, realism=0)))


def test_what_aecodec_cannot_code_is_an_oserror(photo):
    with pytest.raises(OSError, match="cannot write this image as .aec: .*CMYK"):
        saved(photo.convert("CMYK"))
    with pytest.raises(OSError, match=f"quality must be a number from 1 to {NUM_LEVELS}"):
        saved(photo, quality=NUM_LEVELS + 1)
