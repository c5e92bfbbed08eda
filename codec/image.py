"""Reading and writing pictures: modes, EXIF orientation, ICC profiles and alpha. No torch.

aecodec codes 8-bit images. Anything else is refused with a message that says why, rather than
converted silently into a different picture.
"""

from __future__ import annotations

import io
import struct
import warnings
import zlib
import dataclasses
from dataclasses import dataclass
from typing import Union

import numpy as np
from PIL import Image, ImageOps

from codec.container import MAX_PIXELS, check_size
from codec.errors import FormatError, ImageError, UnsupportedError
from codec.sources import FileLike, as_bytes

ImageLike = Union[FileLike, Image.Image, np.ndarray]

# How each Pillow mode is coded: as which of aecodec's modes, or refused with which reason.
_MODE_MAP = {"1": "L", "L": "L", "LA": "LA", "La": "LA", "P": None, "PA": "RGBA",
             "RGB": "RGB", "RGBX": "RGB", "YCbCr": "RGB", "RGBA": "RGBA", "RGBa": "RGBA"}
_SIXTEEN_BIT_GRAY = ("I;16", "I;16L", "I;16B")
_REFUSED = {"CMYK": "CMYK images are not supported: convert to RGB with a colour-managed tool first",
            "LAB": "Lab images are not supported: convert to RGB first",
            "HSV": "HSV images are not supported: convert to RGB first"}
_ARRAY_MODES = {2: "L", 3: {1: "L", 2: "LA", 3: "RGB", 4: "RGBA"}}
_EXIF_ORIENTATION = 0x0112


@dataclass(frozen=True)
class Picture:
    """An 8-bit image split the way the codec needs it: RGB for the model, the rest beside."""

    rgb: np.ndarray  # H x W x 3, uint8
    alpha: np.ndarray | None  # H x W, uint8
    mode: str  # "L", "LA", "RGB" or "RGBA": what decoding gives back
    icc_profile: bytes | None = None
    exif: bytes | None = None
    notes: tuple[str, ...] = ()  # how the source was changed to be coded (16 bits to 8, ...)

    @property
    def size(self) -> tuple[int, int]:
        return self.rgb.shape[1], self.rgb.shape[0]


# What an encode may keep of the source's metadata (cwebp's and cjxl's -metadata): EXIF (with the
# GPS position, when the camera wrote one) and the ICC profile. The orientation is applied to the
# pixels in every case.
METADATA = ("all", "exif", "icc", "none")


def read(source: ImageLike, metadata: str = "all") -> Picture:
    """Load a path, encoded bytes, a PIL image or a uint8 array, keeping the ``metadata`` asked
    for (one of :data:`METADATA`); raises ImageError and friends."""
    if metadata not in METADATA:
        raise ImageError(f"metadata must be one of {', '.join(METADATA)}, got {metadata!r}")
    if isinstance(source, np.ndarray):
        return _from_array(source)
    if isinstance(source, Image.Image):
        return _from_pil(source, metadata)
    data, prefix = as_bytes(source, ImageError)  # the CLI names its inputs itself: bytes get no prefix
    if not data:
        raise ImageError(f"{prefix}empty file")
    notes = []
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # Pillow's warnings on odd files would break the one-line report
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            im = Image.open(io.BytesIO(data))
            check_size(*im.size)
            if getattr(im, "n_frames", 1) > 1:
                notes.append(f"animated image ({im.n_frames} frames): only the first frame is coded")
                im.seek(0)
            im.load()
            pic = _from_pil(im, metadata)
            if _is_16bit_png(data) and not pic.notes:  # 16-bit gray says so itself
                notes.append("16-bit PNG converted to 8 bits per channel")
            return dataclasses.replace(pic, notes=(*pic.notes, *notes))
    except (FormatError, UnsupportedError, ImageError) as e:
        raise type(e)(f"{prefix}{e}") from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise ImageError(f"{prefix}image is too large (limit {MAX_PIXELS} pixels)") from None
    except Image.UnidentifiedImageError:
        raise ImageError(f"{prefix}not an image format Pillow can read") from None
    except (OSError, SyntaxError, ValueError, TypeError, struct.error) as e:  # Pillow's ways to say "corrupt"
        raise ImageError(f"{prefix}corrupt or truncated image ({e})") from None


def _is_16bit_png(data: bytes) -> bool:
    # Pillow reads 16-bit RGB(A) PNGs as 8-bit "RGB" (the high bytes) without saying so; the
    # IHDR bit depth tells, so that the user is told.
    return data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 24 and data[24] == 16


def _from_pil(im: Image.Image, metadata: str = "all") -> Picture:
    check_size(*im.size)
    if im.mode in _REFUSED:
        raise UnsupportedError(_REFUSED[im.mode])
    if im.mode in _SIXTEEN_BIT_GRAY:  # rounded to 8 bits, as cwebp and cjxl do
        info = im.info
        im = Image.fromarray(np.round(np.asarray(im, dtype=np.float64) / 257).astype(np.uint8), "L")
        im.info.update(info)
        return dataclasses.replace(_from_pil(im, metadata), notes=("16-bit grayscale converted to 8 bits",))
    if im.mode not in _MODE_MAP:
        raise UnsupportedError(f"image mode {im.mode} (16-bit, 32-bit or float) is not supported: aecodec codes 8-bit images")
    icc = (im.info.get("icc_profile") or None) if metadata in ("all", "icc") else None
    try:
        im = ImageOps.exif_transpose(im)
        exif = _exif_without_orientation(im) if metadata in ("all", "exif") else None
    except (SyntaxError, ValueError, TypeError, KeyError, IndexError, struct.error, OSError) as e:
        # Its orientation cannot be known, so neither can the picture: refuse, do not guess,
        # unless the user drops the block, and with it the orientation.
        if metadata in ("all", "exif"):
            raise ImageError(f"the EXIF block cannot be read ({e}); drop it with --metadata icc or none "
                             "(the pixels are then taken as stored, unrotated)") from None
        exif = None
    mode = _MODE_MAP[im.mode] or ("RGBA" if "transparency" in im.info else "RGB")
    converted = im.convert(mode)
    arr = np.asarray(converted)
    if mode in ("L", "LA"):
        gray = arr if mode == "L" else arr[..., 0]
        rgb = np.repeat(gray[..., None], 3, axis=2)
    else:
        rgb = arr[..., :3]
    alpha = arr[..., -1].copy() if mode.endswith("A") else None
    return Picture(np.ascontiguousarray(rgb), alpha, mode, icc, exif)


def _exif_without_orientation(im: Image.Image) -> bytes | None:
    exif = Image.Exif()
    exif.load(im.getexif().tobytes())
    if not exif:
        return None
    exif.pop(_EXIF_ORIENTATION, None)
    return exif.tobytes() or None


def _from_array(a: np.ndarray) -> Picture:
    if a.dtype != np.uint8:
        raise UnsupportedError(f"array dtype must be uint8, got {a.dtype}")
    if a.ndim == 2:
        mode = "L"
    elif a.ndim == 3 and a.shape[2] in _ARRAY_MODES[3]:
        mode = _ARRAY_MODES[3][a.shape[2]]
        a = a[..., 0] if mode == "L" else a
    else:
        raise UnsupportedError(f"array shape must be HxW or HxWxC with C in 1..4, got {a.shape}")
    return _from_pil(Image.fromarray(np.ascontiguousarray(a), mode))


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    """PSNR in dB of two 8-bit pictures of one shape (peak 255, capped at 100 dB for equal ones)."""
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float(10 * np.log10(255**2 / max(mse, 1e-10)))


def to_pil(p: Picture) -> Image.Image:
    """Assemble the decoded picture in its original mode, with its ICC profile and EXIF."""
    if p.mode in ("L", "LA"):
        planes = [np.round(p.rgb.mean(axis=2, dtype=np.float32)).astype(np.uint8)]
    else:
        planes = [p.rgb[..., i] for i in range(3)]
    if p.alpha is not None:
        planes.append(p.alpha)
    arr = planes[0] if len(planes) == 1 else np.stack(planes, axis=2)
    im = Image.fromarray(arr, p.mode)
    if p.icc_profile:
        im.info["icc_profile"] = p.icc_profile
    if p.exif:
        im.info["exif"] = p.exif
    return im


def pack_alpha(alpha: np.ndarray) -> bytes:
    return zlib.compress(alpha.tobytes(), 9)


def unpack_alpha(data: bytes, width: int, height: int) -> np.ndarray:
    """Inflate at most width*height bytes, so a deflate bomb cannot exhaust memory."""
    d = zlib.decompressobj()
    try:
        raw = d.decompress(data, width * height)
    except zlib.error as e:
        raise FormatError(f"corrupt alpha plane ({e})") from None
    if len(raw) != width * height or d.unconsumed_tail or not d.eof:
        raise FormatError(f"alpha plane does not hold {width}x{height} bytes")
    return np.frombuffer(raw, np.uint8).reshape(height, width)


# A decoded image written as JPEG or WebP is compressed once more; without a quality it loses as
# little as the format allows: WebP lossless, JPEG at 95 without chroma subsampling (Pillow's own
# defaults, JPEG 75 4:2:0 and lossy WebP 80, cost about 0.8 dB on Kodak).
LOSSY_FORMATS = ("JPEG", "WEBP")


def save(im: Image.Image, fp, fmt: str, quality: int | None = None) -> None:
    """Write ``im`` as ``fmt`` (a Pillow format name), keeping its ICC profile and EXIF;
    ``quality`` (1..100) for JPEG and WebP, lossy."""
    params = {k: im.info[k] for k in ("icc_profile", "exif") if im.info.get(k)}
    if fmt == "JPEG":
        params.update(quality=quality or 95, subsampling=0 if quality is None or quality >= 90 else 2)
    elif fmt == "WEBP":
        params.update({"lossless": True} if quality is None else {"quality": quality})
    if fmt == "JPEG" and im.mode in ("LA", "RGBA"):
        raise UnsupportedError("JPEG cannot hold an alpha channel; write PNG or WebP instead")
    try:
        im.save(fp, format=fmt, **params)
    except (ValueError, SyntaxError, struct.error, IndexError, KeyError) as e:
        # Pillow parses the stored EXIF block for some formats (TIFF) and limits it for others
        # (JPEG: 64 KB); a block it cannot take is reported, not a crash.
        raise ImageError(f"cannot write {fmt} with this image's metadata ({type(e).__name__}: {e})") from None
