"""The public surface: ``encode``, ``decode`` and ``info``.

``info`` reads only the container and imports neither torch nor numpy, so it stays instant; the model is
loaded on the first ``encode`` or ``decode`` and kept for later calls.
"""

from __future__ import annotations

import functools
import math
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

from codec import container, tiles
from codec.config import DEFAULT_QUALITY, NUM_LEVELS, Z_STRIDE
from codec.errors import AecError, AecWarning, FormatError, WeightsError
from codec.sources import FileLike, as_bytes

if TYPE_CHECKING:
    import torch
    from PIL import Image
    from torch import nn

    from codec import image
    from codec.model import AecModel



@dataclass(frozen=True)
class Info:
    header: container.Header
    file_size: int
    has_icc_profile: bool
    has_exif: bool
    latent_bytes: int
    quality: float  # what it was coded at: the header's level, or a value between two levels
    tile_size: int | None = None  # pixels; None when the image is coded whole

    @property
    def bpp(self) -> float:
        """Bits per pixel of the whole file, header and metadata included."""
        return 8 * self.file_size / self.header.num_pixels

    @property
    def tile_grid(self) -> tuple[int, int] | None:
        """(columns, rows) of tiles, or None for an image coded whole."""
        if self.tile_size is None:
            return None
        rows, cols = tiles.num_tiles(self.header.height, self.header.width, self.tile_size)
        return cols, rows


def _read(source: FileLike) -> bytes:
    return as_bytes(source)[0]


class LoadedModel(NamedTuple):
    model: "AecModel"
    bitstream_hash: bytes  # what every file coded with it records

    @property
    def has_gan_decoder(self) -> bool:
        """Whether ``realism`` above 0 is available (and realism 1 the default of :func:`decode`)."""
        return self.model.g_s_gan is not None

    @property
    def num_levels(self) -> int:
        """Its quality levels are 1 to this."""
        return self.model.config.num_levels


def load_model(weights_dir: str | Path | None = None) -> LoadedModel:
    """The model of a weights folder (the shipped weights by default), loaded once per folder."""
    return _load(_weights_key(weights_dir))


@functools.lru_cache(maxsize=4)
def _load(weights_dir: str | None) -> LoadedModel:
    from codec import weights

    return LoadedModel(*weights.load_with_hash(Path(weights_dir) if weights_dir else weights.default_weights_dir()))


@functools.lru_cache(maxsize=8)
def _decoder(loaded: LoadedModel, realism: float) -> "nn.Sequential":
    """The fused decoder of a realism, built once per weights and realism."""
    from codec import coding

    return coding.decoder(loaded.model, realism)


def _weights_key(weights_dir: str | Path | None) -> str | None:
    return str(weights_dir) if weights_dir is not None else None


def encode(source: image.ImageLike, quality: float = DEFAULT_QUALITY, weights_dir: str | Path | None = None,
           tile_size: int | None = None, metadata: str = "all") -> bytes:
    """Compress an image (path, encoded bytes, PIL image or uint8 array) into ``.aec`` bytes.

    ``quality`` is a number from 1 to the weights' levels (8): an integer is a trained level, a
    value between two (in hundredths, 4.25) interpolates their quantization. Images above 4
    megapixels are coded in tiles of 1024 pixels (``TLAT``, see FORMAT.md); ``tile_size`` (a
    multiple of 64) forces tiles of that size on any image. ``metadata`` says what of the
    source's EXIF (GPS position included) and ICC profile the file keeps: all, exif, icc or none
    (:data:`codec.image.METADATA`)."""
    job = _Encoding(source, weights_dir, tile_size, metadata)
    return job.file(job.hundredths(quality))


@dataclass(frozen=True)
class Target:
    """What :func:`encode_to_target` reached: the file, its quality and how many encodes it took."""

    data: bytes
    quality: float
    encodes: int
    met: bool  # False when even the end of the quality range misses the target


# One end of the shipped weights' range, then halving its hundredths (701 for levels 1..8, 1201 for 1..13).
MAX_TARGET_ENCODES = 1 + math.ceil(math.log2(container.QUALITY_STEPS * (NUM_LEVELS - 1) + 1))


def encode_to_target(source: image.ImageLike, *, bpp: float | None = None, size: int | None = None,
                     psnr: float | None = None, weights_dir: str | Path | None = None,
                     tile_size: int | None = None, metadata: str = "all") -> Target:
    """The file for exactly one target: the highest quality whose whole file is at most ``size``
    bytes or ``bpp`` bits per pixel, or the lowest quality whose fidelity decoding reaches ``psnr``
    dB (RGB, 8 bits). A bisection over the quality in hundredths, on one analysis of the image."""
    given = [name for name, v in (("bpp", bpp), ("size", size), ("psnr", psnr)) if v is not None]
    if len(given) != 1:
        raise AecError(f"give exactly one target (bpp, size or psnr), got {', '.join(given) or 'none'}")
    for name, v in (("bpp", bpp), ("size", size), ("psnr", psnr)):
        if v is not None and (isinstance(v, bool) or not isinstance(v, (int, float)) or not v > 0):
            raise AecError(f"target {name} must be a positive number, got {v!r}")
    job = _Encoding(source, weights_dir, tile_size, metadata)
    files: dict[int, bytes] = {}

    def meets(k: int) -> bool:
        files[k] = job.file(k)  # each k is tried once
        if psnr is not None:
            return job.psnr(files[k]) >= psnr
        limit = size if size is not None else bpp * job.pic.size[0] * job.pic.size[1] / 8
        return len(files[k]) <= limit

    lo, hi = container.QUALITY_STEPS, container.QUALITY_STEPS * job.levels
    # Size targets: the largest k that meets; PSNR targets: the smallest. Both are monotone in k.
    if psnr is None:
        if not meets(lo):
            return Target(files[lo], lo / container.QUALITY_STEPS, len(files), False)
        while lo < hi:  # invariant: lo meets
            mid = (lo + hi + 1) // 2
            lo, hi = (mid, hi) if meets(mid) else (lo, mid - 1)
        best = lo
    else:
        if not meets(hi):
            return Target(files[hi], hi / container.QUALITY_STEPS, len(files), False)
        while lo < hi:  # invariant: hi meets
            mid = (lo + hi) // 2
            lo, hi = (lo, mid) if meets(mid) else (mid + 1, hi)
        best = hi
    return Target(files[best], best / container.QUALITY_STEPS, len(files), True)


class _Encoding:
    """One image read and analysed once, to be coded at one or several qualities."""

    def __init__(self, source: image.ImageLike, weights_dir: str | Path | None, tile_size: int | None,
                 metadata: str) -> None:
        from codec import image

        self.pic = image.read(source, metadata)  # before importing torch: bad input fails fast
        for note in self.pic.notes:
            warnings.warn(note, AecWarning, stacklevel=3)
        if tile_size is not None:
            tiles.check_tile_size(tile_size)

        from codec import coding

        self.weights_dir = weights_dir
        self.loaded = load_model(weights_dir)
        self.levels = self.loaded.num_levels
        self.tile_size = tile_size or coding.default_tile_size(*self.pic.size)
        self._y: "torch.Tensor | None" = None
        self._alpha = image.pack_alpha(self.pic.alpha) if self.pic.alpha is not None else None

    def hundredths(self, quality: float) -> int:
        steps = container.QUALITY_STEPS
        if isinstance(quality, bool) or not isinstance(quality, (int, float)) or not 1 <= quality <= self.levels:
            raise AecError(f"quality must be a number from 1 to {self.levels}, got {quality!r}")  # True is an int
        k = round(quality * steps)
        if abs(k - quality * steps) > 1e-6 * steps:
            raise AecError(f"quality is coded in hundredths: {quality!r} has more decimals")
        return k

    def file(self, k: int) -> bytes:
        """The whole file at quality ``k`` hundredths."""
        from codec import coding

        model, digest = self.loaded
        if self._y is None:
            self._y = coding.analyze(model.g_a, self.pic.rgb)
        steps = container.QUALITY_STEPS
        latent = coding.compress_latent(model.latent, self._y.clone(), k / steps, self.tile_size)
        header = container.Header(self.pic.size[0], self.pic.size[1], self.pic.mode, k // steps, model.config.name, digest)
        fine = k if k % steps else None
        return container.pack(container.AecFile(header, latent, self._alpha, self.pic.icc_profile, self.pic.exif, fine))

    def psnr(self, data: bytes) -> float:
        """PSNR (RGB, 8 bits) of the fidelity decoding of ``data`` against the source."""
        import numpy as np

        from codec.image import psnr

        return psnr(self.pic.rgb, np.asarray(decode(data, weights_dir=self.weights_dir, realism=0).convert("RGB")))


def decode(source: FileLike, weights_dir: str | Path | None = None, realism: float | None = None) -> Image.Image:
    """Decompress ``.aec`` bytes (or a path to them) into a PIL image in the original mode.

    ``realism`` picks the decoder: 0 the fidelity (MSE-trained) one, 1 the GAN-trained one,
    anything in between a blend; the default is the GAN decoder when the weights have one.
    The file is the same whichever is chosen."""
    from codec import coding, image

    f = container.unpack(_read(source))
    h = f.header
    loaded = load_model(weights_dir)
    if weights_dir is None and h.weights_hash != loaded.bitstream_hash:
        from codec import weights

        if (previous := weights.previous_weights_dir(h.weights_hash)) is not None:
            loaded = load_model(previous)
    model, digest = loaded
    realism = _realism(loaded, realism)
    if h.model_name != model.config.name or h.weights_hash != digest:
        raise WeightsError(
            f"file was written by model {h.model_name} with weights {h.weights_hash.hex()}; "
            f"the loaded weights are {model.config.name} {digest.hex()}"
            + ("; this aecodec does not ship those weights: pass their folder (--weights)" if weights_dir is None else "")
        )
    if f.quality > model.config.num_levels:
        raise FormatError(f"quality {f.quality:g} exceeds the model's {model.config.num_levels} levels")
    expected = (-(-h.height // Z_STRIDE), -(-h.width // Z_STRIDE))
    if f.latent.z_shape != expected:
        raise FormatError(f"latent shape {f.latent.z_shape} does not match a {h.width}x{h.height} image")
    rgb = coding.decompress(model, _decoder(loaded, realism), f.latent, f.quality, (h.height, h.width))
    alpha = image.unpack_alpha(f.alpha, h.width, h.height) if f.alpha is not None else None
    return image.to_pil(image.Picture(rgb, alpha, h.mode, f.icc_profile, f.exif))


def _realism(loaded: LoadedModel, realism: float | None) -> float:
    if realism is None:
        return float(loaded.has_gan_decoder)
    if not isinstance(realism, (int, float)) or not 0 <= realism <= 1:
        raise AecError(f"realism must be a number between 0 and 1, got {realism!r}")
    if realism > 0 and not loaded.has_gan_decoder:
        raise AecError("these weights have no GAN decoder; use realism 0")
    return float(realism)


def info(source: FileLike) -> Info:
    """Header fields and sizes of an ``.aec`` file, without loading the model."""
    data = _read(source)
    f = container.unpack(data)
    lat = f.latent
    tiled = isinstance(lat, tiles.TiledLatent)
    latent_bytes = lat.num_bytes if tiled else len(lat.y_string) + len(lat.z_string)
    return Info(f.header, len(data), f.icc_profile is not None, f.exif is not None, latent_bytes, f.quality,
                lat.tile_size if tiled else None)
