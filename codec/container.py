"""The ``.aec`` file format, version 1: bytes in, fields out. Standard library only.

Layout (little-endian; ``docs``: FORMAT.md at the repository root)::

    magic        8   b"\\x89AEC\\r\\n\\x1a\\n"
    version      u8  1
    mode         u8  1 = L, 2 = LA, 3 = RGB, 4 = RGBA
    quality      u8  1..255 (the model says which levels exist)
    name_len     u8  1..64
    width        u32
    height       u32
    weights      8   first 8 bytes of the SHA-256 of the model's frozen entropy tables
    model_name   name_len bytes of ASCII
    chunks       tag (4 ASCII) + u32 length + payload, repeated
    crc32        u32 of every byte before it

Chunks: ``LATN`` (the coded latents) or, for a tiled image, ``TLAT`` (:mod:`codec.tiles`),
exactly one of the two; ``QUAL`` (u16, the quality in hundredths, only when it lies between two
levels: the header's byte is then its integer part); ``ALPH`` (alpha plane, deflate), ``ICCP`` (ICC profile), ``EXIF`` (EXIF
block). A tag starting with an upper-case letter is critical and an
unknown one is refused; a lower-case one is ancillary and an unknown one is skipped.

Every size is checked against the bytes present and against the limits below before anything
is allocated from it, so no file can make a reader allocate more than it holds.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass

from codec import tiles
from codec.errors import FormatError, UnsupportedError

MAGIC = b"\x89AEC\r\n\x1a\n"
VERSION = 1
MODES = {1: "L", 2: "LA", 3: "RGB", 4: "RGBA"}
MODE_CODES = {v: k for k, v in MODES.items()}
MAX_SIDE = 1 << 16
MAX_PIXELS = 1 << 25  # 33.5 megapixels
MAX_NAME = 64

_HEAD = struct.Struct("<8sBBBBII8s")
_CHUNK = struct.Struct("<4sI")
_LATENT = struct.Struct("<HHIII")
_CRC = struct.Struct("<I")
_QUAL = struct.Struct("<H")
QUALITY_STEPS = 100  # a quality between two levels is coded in hundredths


@dataclass(frozen=True)
class Header:
    width: int
    height: int
    mode: str
    quality: int
    model_name: str
    weights_hash: bytes

    @property
    def num_pixels(self) -> int:
        return self.width * self.height


@dataclass(frozen=True)
class Latent:
    """The entropy-coded strings of one image and what is needed to decode them."""

    z_shape: tuple[int, int]
    indexes_crc: int
    z_string: bytes
    y_string: bytes


@dataclass(frozen=True)
class AecFile:
    header: Header
    latent: Latent | tiles.TiledLatent
    alpha: bytes | None = None  # deflate-compressed alpha plane
    icc_profile: bytes | None = None
    exif: bytes | None = None
    quality_hundredths: int | None = None  # the QUAL chunk: set only for a quality between two levels

    @property
    def quality(self) -> float:
        """The quality the image was coded at: the header's level, or a value between two."""
        q = self.quality_hundredths
        return self.header.quality if q is None else q / QUALITY_STEPS


def check_size(width: int, height: int) -> None:
    if not (1 <= width <= MAX_SIDE and 1 <= height <= MAX_SIDE):
        raise FormatError(f"image size {width}x{height} outside 1..{MAX_SIDE} per side")
    if width * height > MAX_PIXELS:
        raise FormatError(f"image of {width}x{height} pixels exceeds the limit of {MAX_PIXELS} pixels")


def _validate_header(h: Header) -> None:
    check_size(h.width, h.height)
    if h.mode not in MODE_CODES:
        raise FormatError(f"colour mode must be one of {sorted(MODE_CODES)}, got {h.mode!r}")
    if not 1 <= h.quality <= 255:
        raise FormatError(f"quality must be in 1..255, got {h.quality}")
    if not (1 <= len(h.model_name) <= MAX_NAME and h.model_name.isascii() and h.model_name.isprintable()):
        raise FormatError(f"model name must be 1..{MAX_NAME} printable ASCII characters, got {h.model_name!r}")
    if len(h.weights_hash) != 8:
        raise FormatError(f"weights hash must be 8 bytes, got {len(h.weights_hash)}")


def _chunk(tag: bytes, payload: bytes) -> bytes:
    return _CHUNK.pack(tag, len(payload)) + payload


def pack(f: AecFile) -> bytes:
    """Serialize ``f``; raises FormatError on fields the format cannot hold."""
    h, lat = f.header, f.latent
    _validate_header(h)
    name = h.model_name.encode("ascii")
    out = [_HEAD.pack(MAGIC, VERSION, MODE_CODES[h.mode], h.quality, len(name), h.width, h.height, h.weights_hash), name]
    if (q := f.quality_hundredths) is not None:
        if not QUALITY_STEPS * h.quality < q < QUALITY_STEPS * (h.quality + 1):
            raise FormatError(f"quality {q / QUALITY_STEPS} is not strictly between level {h.quality} and the next")
        out.append(_chunk(b"QUAL", _QUAL.pack(q)))
    if isinstance(lat, tiles.TiledLatent):
        out.append(_chunk(b"TLAT", tiles.pack(lat)))
    else:
        latent = _LATENT.pack(*lat.z_shape, lat.indexes_crc, len(lat.z_string), len(lat.y_string))
        out.append(_chunk(b"LATN", latent + lat.z_string + lat.y_string))
    for tag, payload in ((b"ALPH", f.alpha), (b"ICCP", f.icc_profile), (b"EXIF", f.exif)):
        if payload is not None:
            out.append(_chunk(tag, payload))
    body = b"".join(out)
    return body + _CRC.pack(zlib.crc32(body))


def is_aec(data: bytes) -> bool:
    return data[: len(MAGIC)] == MAGIC


def read_header(data: bytes) -> tuple[Header, int]:
    """Parse and validate the fixed header; returns it and the offset of the first chunk."""
    if len(data) < len(MAGIC) or not is_aec(data):
        raise FormatError("not an .aec file (wrong magic bytes)")
    if len(data) < _HEAD.size:
        raise FormatError(f"truncated header: {len(data)} bytes, at least {_HEAD.size} needed")
    magic, version, mode, quality, name_len, width, height, weights = _HEAD.unpack_from(data)
    if version != VERSION:
        raise UnsupportedError(f"format version {version} is not supported (this aecodec reads version {VERSION})")
    if mode not in MODES:
        raise FormatError(f"unknown colour mode code {mode}")
    end = _HEAD.size + name_len
    if len(data) < end:
        raise FormatError("truncated header: model name runs past the end of the file")
    try:
        name = data[_HEAD.size : end].decode("ascii")
    except UnicodeDecodeError:
        raise FormatError("model name is not ASCII") from None
    header = Header(width, height, MODES[mode], quality, name, weights)
    _validate_header(header)
    return header, end


def unpack(data: bytes) -> AecFile:
    """Parse a whole file, checking its CRC and every length; raises FormatError."""
    header, pos = read_header(data)
    if len(data) < pos + _CRC.size:
        raise FormatError("truncated file: no chunks and no checksum")
    body_end = len(data) - _CRC.size
    (crc,) = _CRC.unpack_from(data, body_end)
    if zlib.crc32(memoryview(data)[:body_end]) != crc:
        raise FormatError("checksum mismatch: the file is corrupt or truncated")
    chunks: dict[bytes, bytes] = {}
    while pos < body_end:
        if body_end - pos < _CHUNK.size:
            raise FormatError(f"truncated chunk header at byte {pos}")
        tag, length = _CHUNK.unpack_from(data, pos)
        pos += _CHUNK.size
        if length > body_end - pos:
            raise FormatError(f"chunk {tag!r} declares {length} bytes, only {body_end - pos} remain")
        if tag in chunks:
            raise FormatError(f"duplicate chunk {tag!r}")
        chunks[tag] = bytes(data[pos : pos + length])
        pos += length
    return _from_chunks(header, chunks)


def _from_chunks(header: Header, chunks: dict[bytes, bytes]) -> AecFile:
    known = {b"LATN", b"TLAT", b"QUAL", b"ALPH", b"ICCP", b"EXIF"}
    for tag in chunks:
        if tag not in known and tag[:1].isupper():
            raise UnsupportedError(f"unknown critical chunk {tag!r}")
    if (b"LATN" in chunks) == (b"TLAT" in chunks):
        raise FormatError("a file needs exactly one of the LATN and TLAT chunks")
    if (b"ALPH" in chunks) != header.mode.endswith("A"):
        raise FormatError(f"ALPH chunk presence does not match colour mode {header.mode}")
    if b"TLAT" in chunks:
        latent = tiles.unpack(chunks[b"TLAT"], header.width, header.height)
    else:
        latent = _parse_latent(chunks[b"LATN"])
    return AecFile(header, latent, chunks.get(b"ALPH"), chunks.get(b"ICCP"), chunks.get(b"EXIF"),
                   _parse_quality(chunks[b"QUAL"], header) if b"QUAL" in chunks else None)


def _parse_quality(payload: bytes, header: Header) -> int:
    if len(payload) != _QUAL.size:
        raise FormatError(f"QUAL chunk of {len(payload)} bytes, {_QUAL.size} expected")
    (q,) = _QUAL.unpack(payload)
    if not QUALITY_STEPS * header.quality < q < QUALITY_STEPS * (header.quality + 1):
        raise FormatError(f"QUAL chunk says quality {q / QUALITY_STEPS}, not strictly between level "
                          f"{header.quality} and the next")
    return q


def _parse_latent(payload: bytes) -> Latent:
    if len(payload) < _LATENT.size:
        raise FormatError(f"LATN chunk of {len(payload)} bytes is shorter than its {_LATENT.size}-byte header")
    zh, zw, crc, len_z, len_y = _LATENT.unpack_from(payload)
    if _LATENT.size + len_z + len_y != len(payload):
        raise FormatError(
            f"LATN string lengths {len_z} + {len_y} do not match the chunk's {len(payload) - _LATENT.size} bytes"
        )
    z = payload[_LATENT.size : _LATENT.size + len_z]
    return Latent((zh, zw), crc, z, payload[_LATENT.size + len_z :])
