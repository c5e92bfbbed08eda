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
  ``perceptual``.

A :class:`Reference` keeps what the metrics need of the original (its tensor, its ST-LPIPS
features), so a sweep computes them once per image: the VGG pass is the most expensive step of an
evaluation. Torch and the metric packages are imported on first use.
"""

from __future__ import annotations

import functools
import warnings
from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np

from codec.errors import AecError
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
}
LOWER_IS_BETTER = frozenset({"st-lpips-vgg", "ms-gmsd"})
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

    @property
    def num_pixels(self) -> int:
        return self.rgb.shape[0] * self.rgb.shape[1]

    @functools.cached_property
    def tensor(self) -> torch.Tensor:
        return _tensor(self.rgb)

    @functools.cached_property
    def lpips_features(self) -> list[torch.Tensor]:
        return _lpips_features(self.tensor)

    def measure(self, rgb: np.ndarray, keys: tuple[str, ...]) -> dict[str, float]:
        """Every metric in ``keys`` of the decoded ``rgb`` against this reference."""
        if rgb.shape != self.rgb.shape:
            raise AecError(f"decoded image is {rgb.shape}, the original {self.rgb.shape}")
        return {k: _MEASURES[k](self, rgb) for k in keys}


def _tensor(rgb: np.ndarray) -> torch.Tensor:
    import torch

    return torch.from_numpy(np.array(rgb)).permute(2, 0, 1)[None].float().div_(255)


def _ms_ssim(ref: Reference, rgb: np.ndarray) -> float:
    if min(rgb.shape[:2]) < MS_SSIM_MIN_SIDE:
        return float("nan")
    import torch

    ms_ssim = require("pytorch_msssim", "the ms-ssim metric").ms_ssim
    with torch.no_grad():
        return float(ms_ssim(ref.tensor * 255, _tensor(rgb) * 255, data_range=255))


def _ms_gmsd(ref: Reference, rgb: np.ndarray) -> float:
    import torch

    piq = require("piq", "the ms-gmsd metric")

    with torch.no_grad():
        return float(piq.multi_scale_gmsd(ref.tensor, _tensor(rgb), data_range=1.0))


def _haarpsi(ref: Reference, rgb: np.ndarray) -> float:
    if min(rgb.shape[:2]) < HAARPSI_MIN_SIDE:
        return float("nan")
    import torch

    piq = require("piq", "the haarpsi metric")

    with torch.no_grad():
        return float(piq.haarpsi(_tensor(rgb), ref.tensor, data_range=1.0))


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


def _lpips_features(x: torch.Tensor) -> list[torch.Tensor]:
    """The normalised trunk features of ``x`` in [0, 1]: the first half of ``LPIPS.forward``."""
    import torch

    normalize_tensor = require("stlpips_pytorch.utils", "the st-lpips metric").normalize_tensor

    model = _lpips_model()
    with torch.no_grad():
        return [normalize_tensor(f) for f in model.net.forward(model.scaling_layer(2 * x - 1))]


def _st_lpips(ref: Reference, rgb: np.ndarray) -> float:
    """The second half of ``LPIPS.forward``, against the reference's kept features."""
    import torch

    model = _lpips_model()
    with torch.no_grad():
        layers = zip(model.lins, ref.lpips_features, _lpips_features(_tensor(rgb)))
        return float(sum(lin((fa - fb) ** 2).mean(dim=(2, 3)) for lin, fa, fb in layers))


_MEASURES: dict[str, Callable[[Reference, np.ndarray], float]] = {
    "psnr-rgb": lambda ref, rgb: psnr(ref.rgb, rgb),
    "ms-ssim-rgb": _ms_ssim,
    "st-lpips-vgg": _st_lpips,
    "ms-gmsd": _ms_gmsd,
    "haarpsi": _haarpsi,
}
