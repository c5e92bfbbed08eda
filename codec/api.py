"""The public surface: ``encode``, ``decode`` and ``info``.

``info`` reads only the container and imports neither torch nor numpy, so it stays instant; the model is
loaded on the first ``encode`` or ``decode`` and kept for later calls.
"""

from __future__ import annotations

import functools
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

from codec import container, tiles
from codec.config import DEFAULT_QUALITY, Z_STRIDE
from codec.errors import AecError, AecWarning, FormatError, WeightsError
from codec.sources import FileLike, as_bytes

if TYPE_CHECKING:
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


def encode(source: image.ImageLike, quality: int = DEFAULT_QUALITY, weights_dir: str | Path | None = None,
           tile_size: int | None = None, metadata: str = "all") -> bytes:
    """Compress an image (path, encoded bytes, PIL image or uint8 array) into ``.aec`` bytes.

    Images above 4 megapixels are coded in tiles of 1024 pixels (``TLAT``, see FORMAT.md);
    ``tile_size`` (a multiple of 64) forces tiles of that size on any image. ``metadata`` says
    what of the source's EXIF (GPS position included) and ICC profile the file keeps: all, exif,
    icc or none (:data:`codec.image.METADATA`)."""
    from codec import image

    pic = image.read(source, metadata)  # before importing torch: bad input fails fast
    for note in pic.notes:
        warnings.warn(note, AecWarning, stacklevel=2)
    if tile_size is not None:
        tiles.check_tile_size(tile_size)

    from codec import coding

    model, digest = load_model(weights_dir)
    levels = model.config.num_levels
    if isinstance(quality, bool) or not isinstance(quality, int) or not 1 <= quality <= levels:  # True is an int
        raise AecError(f"quality must be an integer in 1..{levels}, got {quality!r}")
    tile_size = tile_size or coding.default_tile_size(*pic.size)
    latent = coding.compress(model, pic.rgb, quality, tile_size)
    header = container.Header(pic.size[0], pic.size[1], pic.mode, quality, model.config.name, digest)
    alpha = image.pack_alpha(pic.alpha) if pic.alpha is not None else None
    return container.pack(container.AecFile(header, latent, alpha, pic.icc_profile, pic.exif))


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
    if h.quality > model.config.num_levels:
        raise FormatError(f"quality {h.quality} exceeds the model's {model.config.num_levels} levels")
    expected = (-(-h.height // Z_STRIDE), -(-h.width // Z_STRIDE))
    if f.latent.z_shape != expected:
        raise FormatError(f"latent shape {f.latent.z_shape} does not match a {h.width}x{h.height} image")
    rgb = coding.decompress(model, _decoder(loaded, realism), f.latent, h.quality, (h.height, h.width))
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
    if isinstance(lat, tiles.TiledLatent):
        return Info(f.header, len(data), f.icc_profile is not None, f.exif is not None, lat.num_bytes, lat.tile_size)
    return Info(f.header, len(data), f.icc_profile is not None, f.exif is not None, len(lat.y_string) + len(lat.z_string))
