"""The TLAT chunk in the container: round trip, and every malformed layout gives FormatError."""

from __future__ import annotations

import struct
import zlib

import pytest

from codec import container, tiles
from codec.container import AecFile, Header, Latent
from codec.errors import FormatError

HEADER = Header(200, 130, "RGB", 4, "aec-msh-v1", bytes(range(8)))  # 4 x 3 tiles of 64 pixels


def tiled(num_tiles: int = 12, tile_size: int = 64) -> AecFile:
    strings = tuple(tiles.TileString(i * 7919, bytes([i]) * (i % 4)) for i in range(num_tiles))
    return AecFile(HEADER, tiles.TiledLatent(tile_size, (3, 4), b"zzz", strings))


def with_crc(body: bytes) -> bytes:
    return body + struct.pack("<I", zlib.crc32(body))


def test_round_trip_keeps_every_tile():
    f = tiled()
    assert container.unpack(container.pack(f)) == f


def test_every_truncation_is_refused():
    data = container.pack(tiled())
    for n in range(len(data)):
        with pytest.raises(FormatError):
            container.unpack(data[:n])


@pytest.mark.parametrize("num_tiles", [11, 13, 0])
def test_the_number_of_tiles_must_match_the_grid(num_tiles):
    with pytest.raises(FormatError, match="TLAT"):
        container.unpack(container.pack(tiled(num_tiles)))


@pytest.mark.parametrize("tile_size", [0, 32, 100, 1 << 17])
def test_tile_size_must_be_a_multiple_of_64(tile_size):
    data = bytearray(container.pack(tiled()))
    struct.pack_into("<I", data, data.index(b"TLAT") + 8, tile_size)
    with pytest.raises(FormatError, match="tile size"):
        container.unpack(with_crc(bytes(data[:-4])))


def test_a_file_has_exactly_one_latent_chunk():
    body = container.pack(tiled())[:-4]
    latn = container.pack(AecFile(HEADER, Latent((3, 4), 1, b"z", b"y")))
    latn_chunk = latn[latn.index(b"LATN") : -4]
    with pytest.raises(FormatError, match="exactly one"):
        container.unpack(with_crc(body + latn_chunk))
    without = body.replace(b"TLAT", b"tlat")  # now an ancillary chunk, skipped
    with pytest.raises(FormatError, match="exactly one"):
        container.unpack(with_crc(without))
