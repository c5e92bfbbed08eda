"""An H x W x 3 uint8 image to coded latents and back, at any size in bounded memory: windowed
transforms and tiled latents. The API (:mod:`codec.api`) wraps the result in a file.

**Windowed transforms** (every image). The analysis and synthesis are convolutional: run on a
window of their input with a margin at least as wide as their receptive field, they give in the
window's centre what they give on the whole image. So an image is transformed window by window
and never held as a full-resolution 64-channel activation (6 GB at 24 megapixels). Windows are
at most ``WINDOW`` pixels a side, balanced over the image, so a Kodak-sized image is a single
window. Margins are cropped stage by stage as soon as the remaining stages no longer need them.
A window that reaches the image's edge has no margin there, and the convolutions' zero padding
is then the same as on the whole image.

**Tiled latents** (images above ``WHOLE_IMAGE_MAX_PIXELS``; the ``TLAT`` chunk, :mod:`codec.tiles`;
an image coded whole, the ``LATN`` chunk, is the case of a single tile)::

    y (whole) -> h_a -> z (whole) -> one z string -> z_hat (whole)
    for each tile:  z_hat[tile + Z_MARGIN] -> h_s -> (scales, means)[tile]
                    y[tile] + (scales, means)[tile] -> one y string

``Z_MARGIN`` covers the receptive field of h_s, so every tile is coded with the entropy
parameters of whole-image coding (up to float rounding) and tiling costs only the few bytes of
each extra string. The encoder and the decoder compute h_s on the same windows, so they agree bit
for bit on the table indexes that each tile's checksum guards.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import torch
from torch import Tensor, nn

from codec import container, tiles
from codec.config import Y_STRIDE, Z_STRIDE
from codec.latent import LatentCodec
from codec.model import AecModel
from codec.nn import fused
from codec.nn.fused import FusedDown, FusedUp, SubPixelUp, channels_last
from codec.tiles import Rect

WINDOW = 1024  # pixels: the largest side of a transform window
TILE_SIZE = 1024  # pixels: the side of a coded tile
WHOLE_IMAGE_MAX_PIXELS = 1 << 22  # larger images are coded in tiles

# Margins, per side, of the input and kept after each resampling stage (in units of that stage's
# output). g_a: output i of a 5x5 stride-2 convolution reads inputs 2i-2..2i+2, so a margin of
# 32 pixels leaves 15, 6, 2 and 0 exact elements after the four stages; what is kept stays a
# multiple of the remaining stride, so every window samples the whole image's grid.
ANALYSIS_MARGINS = (32, (16, 8, 2, 0))
# g_s: output p of a 5x5 stride-2 transposed convolution reads inputs p//2-1..p//2+1, so two
# latent elements leave 2, 2, 2 and 0 exact pixels after the four stages.
SYNTHESIS_MARGINS = (2, (2, 2, 1, 0))
# h_s (two such transposed convolutions and a 3x3 convolution) needs 1.75 elements of z.
Z_MARGIN = 2


def default_tile_size(width: int, height: int) -> int | None:
    """Tile size for an image: ``None`` (coded whole, format v1 ``LATN``) up to 4 megapixels."""
    return TILE_SIZE if width * height > WHOLE_IMAGE_MAX_PIXELS else None


def windows(height: int, width: int, limit: int, align: int) -> Iterator[Rect]:
    """A grid of at most ``limit`` x ``limit`` windows of nearly equal size, multiples of ``align``."""

    def step(n: int) -> int:
        parts = -(-n // limit)
        return -(-n // (parts * align)) * align

    return tiles.grid(height, width, step(height), step(width))


def _run(stages: nn.Sequential, x: Tensor, margins: tuple[int, ...], keep: tuple[int, ...]) -> Tensor:
    """Run ``stages`` on a window whose margins are (top, left, bottom, right) elements, cropping
    them to at most ``keep[k]`` after the k-th resampling stage (the last keeps none)."""
    k = 0
    for layer in stages:
        x = layer(x)
        if isinstance(layer, FusedDown):
            margins = tuple(m // 2 for m in margins)
        elif isinstance(layer, (FusedUp, SubPixelUp)):
            margins = tuple(2 * m for m in margins)
        else:
            continue
        cut = [max(0, m - keep[k]) for m in margins]
        if any(cut):
            h, w = x.shape[-2:]
            x = channels_last(x[..., cut[0] : h - cut[2], cut[1] : w - cut[3]])
            margins = tuple(m - c for m, c in zip(margins, cut))
        k += 1
    return x


def _margins(inner: Rect, outer: Rect) -> tuple[int, int, int, int]:
    return inner.top - outer.top, inner.left - outer.left, outer.bottom - inner.bottom, outer.right - inner.right


def _pixels(rgb: np.ndarray, rect: Rect) -> Tensor:
    """The window ``rect`` of ``rgb`` as a float channels-last tensor, edges replicated beyond
    the image: every image is padded to a multiple of ``Z_STRIDE``."""
    h, w = rgb.shape[:2]
    rows = np.minimum(np.arange(rect.top, rect.bottom), h - 1)
    cols = np.minimum(np.arange(rect.left, rect.right), w - 1)
    patch = rgb[np.ix_(rows, cols)]
    return torch.from_numpy(patch).permute(2, 0, 1)[None].float().div_(255)  # HWC memory: channels-last


@torch.inference_mode()
def analyze(g_a: nn.Module, rgb: np.ndarray, window: int = WINDOW) -> Tensor:
    """y of an H x W x 3 uint8 image, padded to a multiple of 64 like the whole-image transform."""
    stages = fused.fuse_analysis(g_a)
    h, w = (-(-n // Z_STRIDE) * Z_STRIDE for n in rgb.shape[:2])
    y = torch.empty(1, stages[-1].weight.shape[0], h // Y_STRIDE, w // Y_STRIDE)
    margin, keep = ANALYSIS_MARGINS
    for rect in windows(h, w, window, Y_STRIDE):
        outer = rect.grown(margin, h, w)
        y[(...,) + rect.shrunk(Y_STRIDE).slices] = _run(stages, _pixels(rgb, outer), _margins(rect, outer), keep)
    return y


def decoder(model: AecModel, realism: float) -> nn.Sequential:
    """The decoder of this realism (:meth:`AecModel.decoder`) fused for :func:`synthesize`.
    Building it blends and fuses weights, a tenth of a Kodak decode: build it once and keep it."""
    return fused.fuse_synthesis(model.decoder(realism))


@torch.inference_mode()
def synthesize(stages: nn.Sequential, y_hat: Tensor, size: tuple[int, int], window: int = WINDOW) -> np.ndarray:
    """The decoded H x W x 3 uint8 image of ``y_hat`` by a :func:`decoder`; ``size`` is (height, width)."""
    out = np.empty((*size, 3), np.uint8)
    margin, keep = SYNTHESIS_MARGINS
    h, w = y_hat.shape[-2:]
    for rect in windows(h, w, window // Y_STRIDE, 1):
        outer = rect.grown(margin, h, w)
        x = _run(stages, channels_last(y_hat[(...,) + outer.slices]), _margins(rect, outer), keep)
        px = rect.scaled(Y_STRIDE)
        rows, cols = min(size[0], px.bottom) - px.top, min(size[1], px.right) - px.left
        if rows > 0 and cols > 0:
            x = x[..., :rows, :cols].clamp_(0, 1).mul_(255).round_().to(torch.uint8)
            out[px.top : px.top + rows, px.left : px.left + cols] = x[0].permute(1, 2, 0).numpy()
    return out


def _entropy_parameters(lc: LatentCodec, z_hat: Tensor, rect: Rect) -> tuple[Tensor, Tensor]:
    """(scales, means) of the y elements in ``rect``, from h_s on z_hat around it."""
    ratio = Z_STRIDE // Y_STRIDE
    outer = rect.shrunk(ratio).grown(Z_MARGIN, *z_hat.shape[-2:])
    params = lc.hyper_for_coding(z_hat[(...,) + outer.slices])
    top, left = rect.top - ratio * outer.top, rect.left - ratio * outer.left
    inner = (..., slice(top, top + rect.bottom - rect.top), slice(left, left + rect.right - rect.left))
    return params[0][inner], params[1][inner]


def _latent_tiles(y_shape: tuple[int, int], tile_size: int | None) -> list[Rect]:
    """The tiles of y in raster order: one for an image coded whole (``tile_size`` None)."""
    t = tile_size // Y_STRIDE if tile_size is not None else max(y_shape)
    return list(tiles.grid(*y_shape, t, t))


@torch.inference_mode()
def compress_latent(lc: LatentCodec, y: Tensor, level: float, tile_size: int | None) -> container.Latent | tiles.TiledLatent:
    """Code ``y`` whole (``tile_size`` None) or in tiles; ``y`` is scaled in place by the level's
    gains (large images have no memory to spare)."""
    y_s = y.mul_(lc.gains(level)[0])
    z_string, z_hat = lc.code_z(lc.h_a(y_s))
    z_shape = tuple(z_hat.shape[-2:])
    strings = [lc.code_y(y_s[(...,) + rect.slices], *_entropy_parameters(lc, z_hat, rect))
               for rect in _latent_tiles(y.shape[-2:], tile_size)]
    if tile_size is None:
        (y_string, indexes_crc), = strings
        return container.Latent(z_shape, indexes_crc, z_string, y_string)
    return tiles.TiledLatent(tile_size, z_shape, z_string, tuple(tiles.TileString(crc, s) for s, crc in strings))


@torch.inference_mode()
def decompress_latent(lc: LatentCodec, latent: container.Latent | tiles.TiledLatent, level: float) -> Tensor:
    """y_hat of coded latents; raises FormatError when a string is bad or the table indexes do
    not match the encoder's."""
    if isinstance(latent, tiles.TiledLatent):
        tile_size, strings = latent.tile_size, [(t.y_string, t.indexes_crc) for t in latent.tiles]
    else:
        tile_size, strings = None, [(latent.y_string, latent.indexes_crc)]
    z_hat = lc.decode_z(latent.z_string, latent.z_shape)
    ratio = Z_STRIDE // Y_STRIDE
    y_shape = (ratio * latent.z_shape[0], ratio * latent.z_shape[1])
    y_hat = torch.empty(1, lc.log_gain.shape[1], *y_shape)
    for rect, (y_string, indexes_crc) in zip(_latent_tiles(y_shape, tile_size), strings, strict=True):
        y_hat[(...,) + rect.slices] = lc.decode_y(y_string, indexes_crc, *_entropy_parameters(lc, z_hat, rect))
    return y_hat.mul_(lc.gains(level)[1])


def compress(model: AecModel, rgb: np.ndarray, level: float, tile_size: int | None) -> container.Latent | tiles.TiledLatent:
    """The coded latents of an H x W x 3 uint8 image: whole (``tile_size`` None) or tiled."""
    return compress_latent(model.latent, analyze(model.g_a, rgb), level, tile_size)


def decompress(model: AecModel, stages: nn.Sequential, latent: container.Latent | tiles.TiledLatent, level: float,
               size: tuple[int, int]) -> np.ndarray:
    """The H x W x 3 uint8 image of coded latents, synthesized by a :func:`decoder` of ``model``.
    Raises FormatError when a string is bad or the table indexes do not match the encoder's."""
    return synthesize(stages, decompress_latent(model.latent, latent, level), size)
