"""The tile layout of large images: grid geometry and the ``TLAT`` chunk. Standard library only.

A large image is coded as one hyper-latent ``z`` for the whole image plus one ``y`` string per
square tile of ``tile_size`` pixels, in raster order. The tiles bound what the entropy coder holds
at a time; sharing ``z`` lets each tile's entropy model see across tile borders, so tiling costs
only the few bytes per tile of the extra strings (FORMAT.md, "TLAT").

``TLAT`` payload (little-endian)::

    tile_size    u32  side of a tile in pixels, a multiple of 64
    z_height     u16  ceil(height / 64)
    z_width      u16  ceil(width / 64)
    z_len        u32
    z string
    per tile, raster order, ceil(height / tile_size) * ceil(width / tile_size) of them:
        indexes_crc  u32  CRC-32 of the tile's Gaussian table indexes (C order)
        y_len        u32
        y string
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from dataclasses import dataclass

from codec.config import Z_STRIDE
from codec.errors import FormatError

MAX_TILE_SIZE = 1 << 16

_HEAD = struct.Struct("<IHHI")
_TILE = struct.Struct("<II")


@dataclass(frozen=True)
class Rect:
    """Rows ``top:bottom`` and columns ``left:right`` of a grid, in some unit."""

    top: int
    left: int
    bottom: int
    right: int

    def scaled(self, factor: int) -> Rect:
        return Rect(self.top * factor, self.left * factor, self.bottom * factor, self.right * factor)

    def shrunk(self, divisor: int) -> Rect:
        """The rect in a grid ``divisor`` times coarser, rounded outwards."""
        return Rect(self.top // divisor, self.left // divisor, -(-self.bottom // divisor), -(-self.right // divisor))

    def grown(self, margin: int, height: int, width: int) -> Rect:
        """The rect with ``margin`` more on every side, clipped to ``height`` x ``width``."""
        return Rect(max(0, self.top - margin), max(0, self.left - margin),
                    min(height, self.bottom + margin), min(width, self.right + margin))

    @property
    def slices(self) -> tuple[slice, slice]:
        return slice(self.top, self.bottom), slice(self.left, self.right)


def grid(height: int, width: int, tile_height: int, tile_width: int) -> Iterator[Rect]:
    """Tiles covering ``height`` x ``width`` in raster order; the last row and column are cut
    short by the edges."""
    for top in range(0, height, tile_height):
        for left in range(0, width, tile_width):
            yield Rect(top, left, min(height, top + tile_height), min(width, left + tile_width))


def num_tiles(height: int, width: int, tile: int) -> tuple[int, int]:
    """(rows, columns) of the grid."""
    return -(-height // tile), -(-width // tile)


@dataclass(frozen=True)
class TileString:
    indexes_crc: int
    y_string: bytes


@dataclass(frozen=True)
class TiledLatent:
    """The entropy-coded strings of a tiled image: one ``z`` and one ``y`` string per tile."""

    tile_size: int
    z_shape: tuple[int, int]
    z_string: bytes
    tiles: tuple[TileString, ...]

    @property
    def num_bytes(self) -> int:
        return len(self.z_string) + sum(len(t.y_string) for t in self.tiles)


def check_tile_size(tile_size: int) -> None:
    if not (isinstance(tile_size, int) and tile_size % Z_STRIDE == 0 and 0 < tile_size <= MAX_TILE_SIZE):
        raise FormatError(f"tile size must be a multiple of {Z_STRIDE} in 64..{MAX_TILE_SIZE}, got {tile_size!r}")


def pack(t: TiledLatent) -> bytes:
    check_tile_size(t.tile_size)
    out = [_HEAD.pack(t.tile_size, *t.z_shape, len(t.z_string)), t.z_string]
    for tile in t.tiles:
        out += [_TILE.pack(tile.indexes_crc, len(tile.y_string)), tile.y_string]
    return b"".join(out)


def unpack(payload: bytes, width: int, height: int) -> TiledLatent:
    """Parse a ``TLAT`` payload of a ``width`` x ``height`` image, checking every length."""
    if len(payload) < _HEAD.size:
        raise FormatError(f"TLAT chunk of {len(payload)} bytes is shorter than its {_HEAD.size}-byte header")
    tile_size, zh, zw, len_z = _HEAD.unpack_from(payload)
    check_tile_size(tile_size)
    pos = _HEAD.size + len_z
    if pos > len(payload):
        raise FormatError(f"TLAT z string of {len_z} bytes runs past the chunk's end")
    z = payload[_HEAD.size : pos]
    rows, cols = num_tiles(height, width, tile_size)
    tiles = []
    for i in range(rows * cols):
        if len(payload) - pos < _TILE.size:
            raise FormatError(f"TLAT chunk ends at tile {i} of {rows * cols}")
        crc, len_y = _TILE.unpack_from(payload, pos)
        pos += _TILE.size
        if len_y > len(payload) - pos:
            raise FormatError(f"TLAT tile {i} declares {len_y} bytes, only {len(payload) - pos} remain")
        tiles.append(TileString(crc, payload[pos : pos + len_y]))
        pos += len_y
    if pos != len(payload):
        raise FormatError(f"TLAT chunk has {len(payload) - pos} bytes after its {rows * cols} tiles")
    return TiledLatent(tile_size, (zh, zw), z, tuple(tiles))
