"""Quality metrics on 8-bit RGB, computed in one place so that every codec is measured alike.

Result keys follow CompressAI's result files where they exist:

- ``psnr-rgb``: PSNR over the three channels, peak 255;
- ``ms-ssim-rgb``: MS-SSIM (pytorch-msssim: 5 scales, 11x11 Gaussian, data range 255). It needs
  both sides above 160 pixels and is NaN for smaller images;
- ``st-lpips-vgg``: shift-tolerant LPIPS with the VGG trunk, a learned perceptual distance (lower
  is better). The GAN decoder is trained with the AlexNet variant; reporting the distance it was
  trained to minimise would flatter it, hence VGG;
- ``ms-gmsd``: multi-scale gradient magnitude similarity deviation (piq), a perceptual distance
  that is not learned, as a check on the learned one (lower is better);
- ``haarpsi``: Haar wavelet-based perceptual similarity (piq), a second non-learned check (higher
  is better); NaN for images with a side under 32 pixels. Asked for by name only, not part of
  ``perceptual``;
- ``fd-vgg-256``, ``fd-vgg-128`` (``fd``): the Fréchet distance of VGG window features
  (:mod:`codec.evaluate.realism`), a measure of a *set* of decodings, not of one: per image,
  :meth:`Reference.measure` gives the windows' features, and the evaluation pools them over
  the images of each setting. Asked for by name only.

A :class:`Reference` keeps what the metrics need of the original (its tensor, its VGG features),
so a sweep computes them once per image: the VGG pass is the most expensive step of an
evaluation, and one pass of each decoding serves ST-LPIPS and the Fréchet distance. Torch and
the metric packages are imported on first use.
"""

from __future__ import annotations

import functools
import warnings
from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np

from codec.errors import AecError
from codec.evaluate import realism
from codec.extras import missing, require
from codec.image import psnr

if TYPE_CHECKING:
    import torch

# user-facing metric names -> the result keys they produce
METRICS: dict[str, tuple[str, ...]] = {
    "psnr": ("psnr-rgb",),
    "ms-ssim": ("ms-ssim-rgb",),
    "st-lpips": ("st-lpips-vgg",),
    "ms-gmsd": ("ms-gmsd",),
    "perceptual": ("st-lpips-vgg", "ms-gmsd"),
    "haarpsi": ("haarpsi",),
    "fd": tuple(realism.WINDOWS),
}
SET_METRICS = frozenset(realism.WINDOWS)  # measured over the images of a setting, not per image
LOWER_IS_BETTER = frozenset({"st-lpips-vgg", "ms-gmsd", *SET_METRICS})
MS_SSIM_MIN_SIDE = 161  # 4 halvings of an 11-pixel window
HAARPSI_MIN_SIDE = 32  # halved once, then Haar filters of up to 16 pixels


def result_keys(names: list[str]) -> tuple[str, ...]:
    """The result keys of user-facing metric names, in a stable order without repeats."""
    unknown = [n for n in names if n not in METRICS]
    if unknown or not names:
        raise AecError(f"unknown metric {', '.join(unknown) or '(none given)'} (known: {', '.join(METRICS)})")
    return tuple(dict.fromkeys(k for n in names for k in METRICS[n]))


def ms_ssim_db(value: float) -> float:
    """MS-SSIM on the decibel scale of learned-compression papers: -10 log10(1 - MS-SSIM)."""
    return float(-10 * np.log10(max(1.0 - value, 1e-10)))


class Reference:
    """An original image and what the metrics need of it, computed once and kept."""

    def __init__(self, rgb: np.ndarray) -> None:
        self.rgb = rgb
        self.decoded = _Decoded(rgb)  # the original seen as a decoding: its tensor, its VGG maps

    @property
    def num_pixels(self) -> int:
        return self.rgb.shape[0] * self.rgb.shape[1]

    @property
    def tensor(self) -> torch.Tensor:
        return self.decoded.tensor

    def measure(self, rgb: np.ndarray, keys: tuple[str, ...]) -> dict[str, float | np.ndarray]:
        """Every metric in ``keys`` of the decoded ``rgb`` against this reference: a number per
        key, except for :data:`SET_METRICS`, whose value is the decoding's window features."""
        if rgb.shape != self.rgb.shape:
            raise AecError(f"decoded image is {rgb.shape}, the original {self.rgb.shape}")
        decoded = _Decoded(rgb)
        return {k: _MEASURES[k](self, decoded) for k in keys}

    def window_features(self, key: str) -> np.ndarray:
        """The original's own features for the set metric ``key``."""
        return _window_features(self, self.decoded, key)


class _Decoded:
    """A decoding and, computed when first asked, its tensor and its VGG maps."""

    def __init__(self, rgb: np.ndarray) -> None:
        self.rgb = rgb

    @functools.cached_property
    def tensor(self) -> torch.Tensor:
        return _tensor(self.rgb)

    @functools.cached_property
    def vgg_maps(self) -> list[torch.Tensor]:
        """The VGG trunk's five maps of the image in [0, 1]: the first half of ``LPIPS.forward``."""
        import torch

        model = _lpips_model()
        with torch.no_grad():
            return list(model.net.forward(model.scaling_layer(2 * self.tensor - 1)))

    @functools.cached_property
    def lpips_features(self) -> list[torch.Tensor]:
        normalize_tensor = require("stlpips_pytorch.utils", "the st-lpips metric").normalize_tensor

        return [normalize_tensor(f) for f in self.vgg_maps]


def _tensor(rgb: np.ndarray) -> torch.Tensor:
    import torch

    return torch.from_numpy(np.array(rgb)).permute(2, 0, 1)[None].float().div_(255)


def _ms_ssim(ref: Reference, dec: _Decoded) -> float:
    if min(dec.rgb.shape[:2]) < MS_SSIM_MIN_SIDE:
        return float("nan")
    import torch

    ms_ssim = require("pytorch_msssim", "the ms-ssim metric").ms_ssim
    with torch.no_grad():
        return float(ms_ssim(ref.tensor * 255, dec.tensor * 255, data_range=255))


def _ms_gmsd(ref: Reference, dec: _Decoded) -> float:
    import torch

    piq = require("piq", "the ms-gmsd metric")

    with torch.no_grad():
        return float(piq.multi_scale_gmsd(ref.tensor, dec.tensor, data_range=1.0))


def _haarpsi(ref: Reference, dec: _Decoded) -> float:
    if min(dec.rgb.shape[:2]) < HAARPSI_MIN_SIDE:
        return float("nan")
    import torch

    piq = require("piq", "the haarpsi metric")

    with torch.no_grad():
        return float(piq.haarpsi(dec.tensor, ref.tensor, data_range=1.0))


@functools.cache
def _lpips_model() -> torch.nn.Module:
    """ST-LPIPS (VGG, shift-tolerant); its weights ship inside the package, nothing is downloaded."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # torchvision's notices about the 'pretrained' argument
            from stlpips_pytorch import stlpips

            return stlpips.LPIPS(net="vgg", variant="shift_tolerant", verbose=False).eval()
    except ImportError as e:
        raise missing(e, "the st-lpips metric") from None


def _st_lpips(ref: Reference, dec: _Decoded) -> float:
    """The second half of ``LPIPS.forward``, against the reference's kept features."""
    import torch

    model = _lpips_model()
    with torch.no_grad():
        layers = zip(model.lins, ref.decoded.lpips_features, dec.lpips_features)
        return float(sum(lin((fa - fb) ** 2).mean(dim=(2, 3)) for lin, fa, fb in layers))


def _window_features(ref: Reference, dec: _Decoded, key: str) -> np.ndarray:
    return realism.window_features(dec.vgg_maps[-1], realism.WINDOWS[key])


_MEASURES: dict[str, Callable[[Reference, _Decoded], float | np.ndarray]] = {
    "psnr-rgb": lambda ref, dec: psnr(ref.rgb, dec.rgb),
    "ms-ssim-rgb": _ms_ssim,
    "st-lpips-vgg": _st_lpips,
    "ms-gmsd": _ms_gmsd,
    "haarpsi": _haarpsi,
    **{k: functools.partial(_window_features, key=k) for k in realism.WINDOWS},
}
