"""Reading pictures: every mode is coded as the right thing, or refused with a clear message."""

from __future__ import annotations

import io
import struct
import zlib

import numpy as np
import pytest
from PIL import Image

from codec import image
from codec.errors import AecError, FormatError, ImageError, UnsupportedError


def encoded(im: Image.Image, fmt: str = "PNG", **params) -> bytes:
    buf = io.BytesIO()
    im.save(buf, format=fmt, **params)
    return buf.getvalue()


def png_header_only(width: int, height: int, depth: int = 8, colour: int = 2) -> bytes:
    def chunk(tag: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data))

    ihdr = struct.pack(">IIBBBBB", width, height, depth, colour, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 16)) + chunk(b"IEND", b"")


def test_rgb_photo(astronaut):
    p = image.read(encoded(Image.fromarray(astronaut)))
    assert p.mode == "RGB" and p.alpha is None
    np.testing.assert_array_equal(p.rgb, astronaut)


def test_grayscale_is_coded_as_gray(camera):
    p = image.read(Image.fromarray(camera))
    assert p.mode == "L"
    np.testing.assert_array_equal(p.rgb[..., 1], camera)
    np.testing.assert_array_equal(np.asarray(image.to_pil(p)), camera)


def test_alpha_is_kept_and_packs_losslessly(astronaut):
    alpha = np.tile(np.arange(256, dtype=np.uint8), (512, 2))
    p = image.read(np.dstack([astronaut, alpha]))
    assert p.mode == "RGBA"
    np.testing.assert_array_equal(image.unpack_alpha(image.pack_alpha(p.alpha), 512, 512), alpha)


def test_palette_with_and_without_transparency(astronaut):
    pal = Image.fromarray(astronaut).quantize(64)
    assert image.read(encoded(pal)).mode == "RGB"
    assert image.read(encoded(pal, transparency=0)).mode == "RGBA"


def test_exif_orientation_is_applied_and_reset(astronaut):
    im = Image.fromarray(astronaut[:100, :200])
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise to display
    exif[0x010F] = "aecodec camera"  # Make
    p = image.read(encoded(im, "JPEG", exif=exif.tobytes(), quality=95))
    assert p.size == (100, 200)
    assert p.exif is not None  # the rest of the EXIF block travels with the image
    reread = Image.open(io.BytesIO(encoded(image.to_pil(p), exif=p.exif)))
    assert reread.getexif().get(0x0112) is None
    assert reread.getexif().get(0x010F) == "aecodec camera"
    assert reread.size == (100, 200)


def test_icc_profile_is_kept(astronaut):
    from PIL import ImageCms

    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    p = image.read(encoded(Image.fromarray(astronaut), icc_profile=icc))
    assert p.icc_profile == icc
    assert image.to_pil(p).info["icc_profile"] == icc


@pytest.mark.parametrize("mode,match", [("CMYK", "CMYK"), ("F", "8-bit"), ("I", "8-bit")])
def test_unsupported_modes_are_refused(mode, match):
    with pytest.raises(UnsupportedError, match=match):
        image.read(Image.new(mode, (8, 8)))


def test_16bit_images_are_converted_to_8_bits_with_a_note(astronaut):
    gray = np.minimum(astronaut[..., 1].astype(np.int64) * 257 + 100, 65535).astype(np.uint16)
    for fmt in ("PNG", "TIFF"):
        p = image.read(encoded(Image.fromarray(gray), fmt))
        assert p.mode == "L" and p.notes == ("16-bit grayscale converted to 8 bits",)
        assert np.abs(p.rgb[..., 0].astype(int) - astronaut[..., 1]).max() <= 1
    assert image.read(encoded(Image.fromarray(astronaut), "PNG")).notes == ()  # 8 bits: nothing to say


def test_16bit_rgb_png_is_read_as_8_bits_with_a_note(tmp_path, astronaut):
    import zlib

    raw = b"".join(b"\x00" + row.astype(">u2").tobytes() for row in astronaut[:16, :16].astype(np.uint16) * 257)

    def chunk(kind: bytes, body: bytes) -> bytes:
        return len(body).to_bytes(4, "big") + kind + body + zlib.crc32(kind + body).to_bytes(4, "big")

    ihdr = (16).to_bytes(4, "big") * 2 + bytes([16, 2, 0, 0, 0])
    data = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")
    p = image.read(data)
    assert p.mode == "RGB" and p.notes == ("16-bit PNG converted to 8 bits per channel",)
    assert np.array_equal(p.rgb, astronaut[:16, :16])


def test_an_animated_image_codes_its_first_frame_with_a_note(astronaut):
    frames = [Image.fromarray(astronaut), Image.fromarray(astronaut[::-1].copy())]
    for fmt in ("GIF", "PNG", "WEBP"):
        p = image.read(encoded(frames[0], fmt, save_all=True, append_images=frames[1:], lossless=True)
                       if fmt == "WEBP" else encoded(frames[0], fmt, save_all=True, append_images=frames[1:]))
        assert p.notes == ("animated image (2 frames): only the first frame is coded",)
        first = np.asarray(Image.open(io.BytesIO(encoded(frames[0], fmt))).convert("RGB")) if fmt == "GIF" else astronaut
        assert np.abs(p.rgb.astype(int) - first).mean() < 3, fmt


def test_decompression_bomb_is_refused_before_decoding():
    with pytest.raises((FormatError, ImageError), match="limit|large"):
        image.read(png_header_only(100_000, 100_000))


@pytest.mark.parametrize("data,match", [(b"", "empty"), (b"hello, world\n" * 10, "not an image"),
                                        (b"\x89PNG\r\n\x1a\n" + b"\0" * 30, "not an image|corrupt")])
def test_bad_bytes(data, match):
    with pytest.raises(ImageError, match=match):
        image.read(data)


def test_truncated_jpeg(astronaut):
    data = encoded(Image.fromarray(astronaut), "JPEG")
    with pytest.raises(ImageError, match="corrupt or truncated"):
        image.read(data[: len(data) // 2])


def test_missing_file(tmp_path):
    with pytest.raises(ImageError, match="No such file"):
        image.read(tmp_path / "nope.png")


@pytest.mark.parametrize("arr", [np.zeros((4, 4), np.uint16), np.zeros((4, 4, 5), np.uint8), np.zeros(4, np.uint8)])
def test_bad_arrays(arr):
    with pytest.raises(AecError):
        image.read(arr)


def test_deflate_bomb_in_alpha_is_bounded():
    bomb = zlib.compress(b"\0" * 10_000_000)
    with pytest.raises(FormatError, match="alpha"):
        image.unpack_alpha(bomb, 10, 10)
