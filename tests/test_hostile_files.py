"""Hostile .aec files through the whole decoder, from the bytes to a written PNG, TIFF or JPEG:
each one decodes or gives an AecError with a clear message, in bounded time and memory.
Anything else escaping is a bug, and every crasher the fuzzers ever found stays as an example."""

from __future__ import annotations

import io
import os
import re
import resource
import struct
import time
import zlib

import numpy as np
import pytest
from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st
from PIL import Image

import codec
from codec.config import NUM_LEVELS
from codec import container, image
from codec.cli import DECODE_FORMATS
from codec.config import ModelConfig
from codec.errors import AecError, FormatError, UnsupportedError, WeightsError
from codec.model import AecModel
from codec.weights import export

CI = os.environ.get("CI") == "true"
# Bounded and, in CI, derandomized (the same cases every run); locally each run explores anew.
FUZZ = settings(max_examples=200 if CI else 30, deadline=None, derandomize=CI,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
SECONDS_PER_FILE = 10


@pytest.fixture(scope="module")
def samples(astronaut, camera) -> dict[str, bytes]:
    """Small real files of every kind: colour, gray, alpha, and one carrying EXIF and ICC."""
    from PIL import ImageCms

    exif = Image.Exif()
    exif[0x010F] = "aecodec camera"
    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    buf = io.BytesIO()
    Image.fromarray(astronaut[40:88, 240:320]).save(buf, "PNG", exif=exif.tobytes(), icc_profile=icc)
    alpha = np.tile(np.arange(0, 240, 3, dtype=np.uint8), (48, 1))
    return {"rgb": codec.encode(astronaut[:48, 200:280], quality=6),
            "gray": codec.encode(camera[100:148, 100:180], quality=2),
            "rgba": codec.encode(np.dstack([astronaut[300:348, :80], alpha]), quality=4),
            "meta": codec.encode(buf.getvalue(), quality=8)}


def with_crc(body: bytes) -> bytes:
    return body + struct.pack("<I", zlib.crc32(body))


def decode_every_way(data: bytes) -> str:
    """Decode and write every output format; returns "decoded" or the AecError's class name."""
    t0 = time.perf_counter()
    try:
        im = codec.decode(data)
    except AecError as e:
        assert str(e), "an error without a message"
        return type(e).__name__
    finally:
        assert time.perf_counter() - t0 < SECONDS_PER_FILE
    header, _ = container.read_header(data)
    assert im.size == (header.width, header.height)
    for fmt in sorted(set(DECODE_FORMATS.values())):
        try:
            image.save(im, io.BytesIO(), fmt)
        except AecError:
            pass
    return "decoded"


def test_every_truncation_of_real_files(samples):
    for data in samples.values():
        for n in range(len(data)):
            with pytest.raises(FormatError):
                codec.decode(data[:n])


@FUZZ
@given(st.binary(max_size=4096), st.booleans())
def test_random_bytes(blob, with_magic):
    data = container.MAGIC + bytes([container.VERSION]) + blob if with_magic else blob
    with pytest.raises(AecError):
        codec.decode(data)


@FUZZ
@given(st.sampled_from(["rgb", "gray", "rgba", "meta"]), st.lists(st.tuples(st.integers(0), st.integers(0, 7)),
                                                               min_size=1, max_size=3))
def test_accidental_damage_is_always_caught(samples, name, flips):
    """Up to three flipped bits anywhere: CRC-32 catches every one (or the header check first)."""
    data = bytearray(samples[name])
    for pos, bit in flips:
        data[pos % len(data)] ^= 1 << bit
    if bytes(data) != samples[name]:
        with pytest.raises(AecError):
            codec.decode(bytes(data))


@FUZZ
@given(st.sampled_from(["rgb", "gray", "rgba", "meta"]),
       st.lists(st.tuples(st.integers(0, 1 << 12), st.integers(0, 255)), min_size=1, max_size=8),
       st.one_of(st.none(), st.integers(0, 1 << 12)), st.binary(max_size=64))
@example("rgb", [(11, 0xFF)], None, b"")  # a model name of 255 bytes, running into the chunks
@example("rgba", [(8, 2)], None, b"")  # a newer version
@example("meta", [(0, 0x89)], 200, b"\xff" * 64)  # cut inside the LATN chunk, garbage after it
def test_crafted_files_with_recomputed_checksum(samples, name, edits, cut, tail):
    """What an attacker sends: bytes replaced, the body cut or extended, the CRC made right."""
    body = bytearray(samples[name][:-4])
    for pos, value in edits:
        body[pos % len(body)] = value
    body = bytes(body[: cut % len(body)] if cut is not None else body) + tail
    event(decode_every_way(with_crc(body)))  # outcome counts: pytest --hypothesis-show-statistics


@FUZZ
@given(st.one_of(st.none(), st.binary(max_size=300)), st.one_of(st.none(), st.binary(max_size=300)))
@example(b"\x8cP\xc7\x18", None)  # TIFF: Pillow's EXIF parser raised SyntaxError
@example(b"MM\x00*\x00", None)  # TIFF: struct.error from a cut EXIF header
@example(b"Exif\x00\x00" + b"\x00" * 70_000, None)  # JPEG: EXIF longer than a JPEG segment holds
@example(None, b"\x00" * 3)  # an ICC profile that is not one
def test_hostile_metadata(samples, exif, icc):
    """EXIF and ICC travel as opaque bytes; whatever they hold, writing the image never crashes."""
    f = container.unpack(samples["rgb"])
    event(decode_every_way(container.pack(container.AecFile(f.header, f.latent, None, icc, exif))))


def named_cases(samples: dict[str, bytes], other_weights: bytes) -> dict[str, tuple[bytes, type, str]]:
    """Each class of bad file, with the error it must give and what the message must say."""
    rgb, rgba = samples["rgb"], samples["rgba"]
    body = rgb[:-4]

    def header_field(fmt: str, offset: int, *values: int) -> bytes:
        b = bytearray(body)
        struct.pack_into(fmt, b, offset, *values)
        return with_crc(bytes(b))

    latn = body.index(b"LATN") + 8
    f = container.unpack(rgb)
    lat = f.latent
    fa = container.unpack(rgba)

    def repack(**changes) -> bytes:
        fields = {"header": f.header, "latent": lat, "alpha": f.alpha, "icc_profile": None, "exif": None} | changes
        return container.pack(container.AecFile(**fields))

    bomb = zlib.compress(bytes(100_000_000))
    return {
        "empty": (b"", FormatError, "magic"),
        "png-not-aec": (b"\x89PNG\r\n\x1a\n" + bytes(100), FormatError, "magic"),
        "header-only": (rgb[:20], FormatError, "truncated"),
        "bit-flip": (rgb[:40] + bytes([rgb[40] ^ 4]) + rgb[41:], FormatError, "checksum"),
        "newer-version": (header_field("<B", 8, 2), UnsupportedError, "version 2"),
        "size-0x0": (header_field("<II", 12, 0, 0), FormatError, "size"),
        "size-1e6x1e6": (header_field("<II", 12, 1_000_000, 1_000_000), FormatError, "size"),
        "size-65536x65536": (header_field("<II", 12, 65_536, 65_536), FormatError, "limit"),
        "name-past-end": (with_crc(body[:28] + b"aec"), FormatError, "model name"),
        "chunk-past-end": (header_field("<I", latn - 4, 2**31), FormatError, "declares"),
        "strings-past-end": (header_field("<I", latn + 12, 2**32 - 1), FormatError, "LATN string lengths"),
        "latent-shape": (repack(latent=container.Latent((40, 40), lat.indexes_crc, lat.z_string, lat.y_string)),
                         FormatError, "latent shape"),
        "quality-past-the-levels": (repack(header=container.Header(**{**f.header.__dict__, "quality": NUM_LEVELS + 1})), FormatError, "quality"),
        "unknown-critical-chunk": (with_crc(body + b"QQQQ" + struct.pack("<I", 1) + b"!"), UnsupportedError, "critical"),
        "duplicate-chunk": (with_crc(body + body[latn - 8 :]), FormatError, "duplicate"),
        "no-alpha-for-rgba": (container.pack(container.AecFile(fa.header, fa.latent)), FormatError, "ALPH"),
        "alpha-deflate-bomb": (container.pack(container.AecFile(fa.header, fa.latent, bomb)), FormatError, "alpha"),
        "z-string-empty": (repack(latent=container.Latent(lat.z_shape, lat.indexes_crc, b"", lat.y_string)),
                           FormatError, "rANS string"),
        "y-string-all-ff": (repack(latent=container.Latent(lat.z_shape, lat.indexes_crc, lat.z_string, b"\xff" * 64)),
                            FormatError, "bytes of anchors"),
        "y-anchors-all-ff": (repack(latent=container.Latent(lat.z_shape, lat.indexes_crc, lat.z_string,
                                                            struct.pack("<I", 32) + b"\xff" * 64)),
                             FormatError, "escaped value"),
        "indexes-crc": (repack(latent=container.Latent(lat.z_shape, lat.indexes_crc ^ 1, lat.z_string, lat.y_string)),
                        FormatError, "table selection"),
        "other-weights": (other_weights, WeightsError, "written by model"),
    }


@pytest.fixture(scope="module")
def other_weights(tmp_path_factory, astronaut) -> bytes:
    folder = tmp_path_factory.mktemp("w") / "tiny"
    export(AecModel(ModelConfig(name="aec-tiny", channels=8, latent_channels=8)), folder)
    return codec.encode(astronaut[:32, :32], weights_dir=folder)


def test_each_class_of_bad_file(samples, other_weights):
    for data, error, match in named_cases(samples, other_weights).values():
        with pytest.raises(error, match=match):
            codec.decode(data)


def test_each_class_of_bad_file_from_the_command_line(cli, tmp_path, samples, other_weights):
    """One batch over all of them: a one-line message each, a summary, exit status 1, no output
    written, and the child's memory stays that of an ordinary decode (sizes are checked first)."""
    cases = named_cases(samples, other_weights)
    for name, (data, _, _) in cases.items():
        (tmp_path / f"{name}.aec").write_bytes(data)
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    r = cli("decode", *sorted(tmp_path.glob("*.aec")), "-o", tmp_path / "out")
    peak_mib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    err = r.stderr.decode()
    assert r.returncode == 1 and "Traceback" not in err and "internal error" not in err, err
    assert f"0 of {len(cases)} done, {len(cases)} failed" in err
    for name, (_, _, match) in cases.items():
        line = next(line for line in err.splitlines() if f"{name}.aec" in line)
        assert line.startswith("aecodec: error:") and re.search(match, line), line
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())
    assert peak_mib < 3000 or before / 1024 >= 3000, peak_mib
