"""The .aec container: round trip, and every malformed file gives FormatError/UnsupportedError."""

from __future__ import annotations

import struct
import zlib

import pytest

from codec import container
from codec.container import AecFile, Header, Latent
from codec.errors import AecError, FormatError, UnsupportedError


def sample(**overrides) -> AecFile:
    header = Header(17, 33, "RGBA", 4, "aec-msh-v1", bytes(range(8)))
    latent = Latent((1, 1), 0xDEADBEEF, b"zz", b"yyyyy")
    fields = dict(header=header, latent=latent, alpha=b"alpha", icc_profile=b"icc", exif=None)
    fields.update(overrides)
    return AecFile(**fields)


def with_crc(body: bytes) -> bytes:
    return body + struct.pack("<I", zlib.crc32(body))


def test_round_trip_keeps_every_field():
    f = sample()
    assert container.unpack(container.pack(f)) == f


def test_header_is_readable_alone():
    data = container.pack(sample())
    header, _ = container.read_header(data)
    assert (header.width, header.height, header.mode, header.quality) == (17, 33, "RGBA", 4)


def test_every_truncation_is_refused():
    data = container.pack(sample())
    for n in range(len(data)):
        with pytest.raises(FormatError):
            container.unpack(data[:n])


def test_every_single_bit_flip_is_detected():
    data = container.pack(sample())
    for i in range(len(data)):
        for bit in (0, 7):
            corrupt = bytearray(data)
            corrupt[i] ^= 1 << bit
            with pytest.raises(AecError):
                container.unpack(bytes(corrupt))


def test_wrong_magic():
    with pytest.raises(FormatError, match="magic"):
        container.unpack(b"\x89PNG\r\n\x1a\n" + bytes(40))


def test_newer_version_is_unsupported_not_corrupt():
    data = bytearray(container.pack(sample()))
    data[8] = container.VERSION + 1
    with pytest.raises(UnsupportedError, match="version 2"):
        container.unpack(with_crc(bytes(data[:-4])))


@pytest.mark.parametrize("width,height", [(0, 0), (1_000_000, 1_000_000), (65_536, 1024), (1, 0)])
def test_absurd_sizes_are_refused_before_anything_else(width, height):
    data = bytearray(container.pack(sample()))
    struct.pack_into("<II", data, 12, width, height)
    with pytest.raises(FormatError, match="size|limit"):
        container.unpack(with_crc(bytes(data[:-4])))


def test_string_length_past_the_end():
    f = sample(alpha=None, icc_profile=None, header=Header(17, 33, "RGB", 4, "aec-msh-v1", bytes(8)))
    data = bytearray(container.pack(f))
    latn = data.index(b"LATN") + 8  # start of the LATN payload
    struct.pack_into("<I", data, latn + 12, 2**32 - 1)  # length of the y string
    with pytest.raises(FormatError, match="LATN string lengths"):
        container.unpack(with_crc(bytes(data[:-4])))


def test_chunk_length_past_the_end():
    data = bytearray(container.pack(sample()))
    struct.pack_into("<I", data, data.index(b"ICCP") + 4, 10**9)
    with pytest.raises(FormatError, match="declares"):
        container.unpack(with_crc(bytes(data[:-4])))


def test_unknown_critical_chunk_refused_ancillary_skipped():
    body = container.pack(sample())[:-4]
    with pytest.raises(UnsupportedError, match="critical"):
        container.unpack(with_crc(body + b"XTRA" + struct.pack("<I", 1) + b"!"))
    assert container.unpack(with_crc(body + b"xtra" + struct.pack("<I", 1) + b"!")) == sample()


def test_alpha_chunk_must_match_mode():
    with pytest.raises(FormatError, match="ALPH"):
        container.unpack(container.pack(sample(alpha=None)))


@pytest.mark.parametrize("field,value", [("mode", "CMYK"), ("quality", 0), ("model_name", ""), ("width", 0)])
def test_pack_refuses_fields_the_format_cannot_hold(field, value):
    h = sample().header
    header = Header(**{**h.__dict__, field: value})
    with pytest.raises(FormatError):
        container.pack(sample(header=header))


def test_container_does_not_import_torch():
    import subprocess
    import sys

    code = "import sys, codec.container; assert 'torch' not in sys.modules"
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0
