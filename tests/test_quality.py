"""Quality between the levels and size / bpp / PSNR targets, with the shipped weights on a real photo."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

import codec
from codec import container
from codec.api import MAX_TARGET_ENCODES
from codec.config import NUM_LEVELS
from codec.errors import AecError, FormatError
from codec.image import psnr


@pytest.fixture(scope="module")
def photo(astronaut: np.ndarray) -> np.ndarray:
    return astronaut[:192, 128:384].copy()


def test_the_rate_grows_monotonically_with_the_quality(photo):
    qualities = [1 + i / 4 for i in range(4 * NUM_LEVELS - 3)]  # 1, 1.25, ..., the best level
    sizes = [len(codec.encode(photo, quality=q)) for q in qualities]
    assert all(a < b for a, b in zip(sizes, sizes[1:])), sizes


def test_between_two_levels_lies_between_them(photo):
    files = {q: codec.encode(photo, quality=q) for q in (4, 4.5, 5)}
    quality = {q: psnr(np.asarray(codec.decode(d, realism=0)), photo) for q, d in files.items()}
    assert len(files[4]) < len(files[4.5]) < len(files[5])
    assert quality[4] < quality[4.5] < quality[5]
    meta = codec.info(files[4.5])
    assert meta.quality == 4.5 and meta.header.quality == 4


def test_an_integer_quality_writes_the_files_of_before(photo):
    """No QUAL chunk, and 4.0 is level 4: the same bytes as every release wrote."""
    data = codec.encode(photo, quality=4)
    assert codec.encode(photo, quality=4.0) == data
    f = container.unpack(data)
    assert f.quality_hundredths is None and f.quality == 4 and b"QUAL" not in data


def test_quality_is_coded_in_hundredths_within_the_levels(photo):
    for bad in (4.333, 0.99, NUM_LEVELS + 0.01, True, "4"):
        with pytest.raises(AecError, match="quality"):
            codec.encode(photo, quality=bad)


def test_a_quality_chunk_must_agree_with_the_header(photo):
    f = container.unpack(codec.encode(photo, quality=4.5))
    for wrong in (400, 500, 650):
        with pytest.raises(FormatError, match="not strictly between level 4"):
            container.pack(dataclasses.replace(f, quality_hundredths=wrong))
    data = container.pack(dataclasses.replace(f, header=dataclasses.replace(f.header, quality=3), quality_hundredths=350))
    assert container.unpack(data).quality == 3.5
    with pytest.raises(FormatError, match="QUAL chunk says quality 4.5, not strictly between level 3"):
        container.unpack(_with_quality(data, 450))


def _with_quality(data: bytes, hundredths: int) -> bytes:
    """``data`` with its QUAL payload replaced and its CRC recomputed, as a crafted file would be."""
    import struct
    import zlib

    at = data.index(b"QUAL") + 8
    body = data[:at] + struct.pack("<H", hundredths) + data[at + 2 : -4]
    return body + struct.pack("<I", zlib.crc32(body))


@pytest.mark.parametrize("size", [2500, 6000])
def test_a_size_target_gives_the_largest_file_that_fits(photo, size):
    t = codec.encode_to_target(photo, size=size)
    assert t.met and len(t.data) <= size and t.encodes <= MAX_TARGET_ENCODES
    assert codec.info(t.data).quality == t.quality
    if t.quality < NUM_LEVELS:
        assert len(codec.encode(photo, quality=round(t.quality + 0.01, 2))) > size


def test_a_bpp_target_counts_the_whole_file(photo):
    t = codec.encode_to_target(photo, bpp=0.5)
    assert t.met and 8 * len(t.data) / (photo.shape[0] * photo.shape[1]) <= 0.5


def test_a_psnr_target_gives_the_smallest_file_that_reaches_it(photo):
    t = codec.encode_to_target(photo, psnr=30.0)
    reached = psnr(np.asarray(codec.decode(t.data, realism=0)), photo)
    assert t.met and reached >= 30.0 and t.encodes <= MAX_TARGET_ENCODES
    below = codec.encode(photo, quality=round(t.quality - 0.01, 2))
    assert psnr(np.asarray(codec.decode(below, realism=0)), photo) < 30.0


def test_an_unreachable_target_says_so(photo):
    small = codec.encode_to_target(photo, size=100)
    assert not small.met and small.quality == 1
    sharp = codec.encode_to_target(photo, psnr=80)
    assert not sharp.met and sharp.quality == NUM_LEVELS
    with pytest.raises(AecError, match="exactly one target"):
        codec.encode_to_target(photo, size=1000, psnr=30)
    with pytest.raises(AecError, match="positive number"):
        codec.encode_to_target(photo, bpp=-1)


def test_the_command_line_takes_a_quality_between_levels_and_targets(cli, photo_png, tmp_path):
    r = cli("encode", str(photo_png), "-o", str(tmp_path / "a.aec"), "-q", "4.5")
    assert r.returncode == 0 and "quality 4.5," in r.stderr.decode()
    r = cli("encode", str(photo_png), "-o", str(tmp_path / "b.aec"), "--target-size", "3k")
    assert r.returncode == 0 and "target size 3000 met" in r.stderr.decode()
    assert (tmp_path / "b.aec").stat().st_size <= 3000
    r = cli("encode", str(photo_png), "-o", str(tmp_path / "c.aec"), "--target-psnr", "29", "-q", "3")
    assert r.returncode == 1 and b"exclude each other" in r.stderr and not (tmp_path / "c.aec").exists()
    r = cli("encode", str(photo_png), "-o", str(tmp_path / "d.aec"), "--target-size", "lots")
    assert r.returncode == 2 and b"not a size in bytes" in r.stderr

