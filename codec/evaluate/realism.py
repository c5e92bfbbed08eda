"""How natural a codec's decodings are as a set: the Fréchet distance between the statistics of
VGG-16 features of original and decoded image windows.

ST-LPIPS compares each decoding with its own original, place by place, so it rewards a decoder
that hedges between plausible textures with a blur. A distribution measure asks instead whether
the decodings, taken together, look like photographs: the features of 256 px (and 128 px)
windows, across all images of a set, are summarised by their mean and covariance, and the
Fréchet distance between two Gaussians,
``|mu_a - mu_b|^2 + tr(S_a + S_b - 2 (S_a S_b)^(1/2))``, compares originals and decodings. It is
the measure that FID/256 is in MS-ILLM and HiFiC (Inception features of 256 px patches), here
with the VGG-16 trunk that stlpips-pytorch ships, so nothing is downloaded; the values are not
comparable with published FID figures, only with each other on the same images.

Each window's feature is the mean of the deepest VGG map (relu5_3, 512 channels, stride 16) over
the window, on two grids, the second shifted by half a window (MS-ILLM's two passes). The map is
computed once for the whole image, the pass ST-LPIPS already makes, so a window's feature also
sees a little context past its border (the receptive field), unlike a patch run on its own. With
a few hundred windows against 512 dimensions the covariance is estimated coarsely and the
distance carries a bias that shrinks with more images: compare codecs on the same images only.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import torch

# result key -> window side in pixels
WINDOWS: dict[str, int] = {"fd-vgg-256": 256, "fd-vgg-128": 128}
STRIDE = 16  # pixels per cell of relu5_3


def window_features(deepest: torch.Tensor, window: int) -> np.ndarray:
    """(windows, channels) float32: the mean of the (1, C, h, w) map ``deepest`` over every
    ``window`` px window of two grids, at 0 and at half a window; none if the image is smaller."""
    cells = window // STRIDE
    f = deepest[0].float().numpy()
    rows = []
    for offset in (0, cells // 2):
        for top in range(offset, f.shape[1] - cells + 1, cells):
            for left in range(offset, f.shape[2] - cells + 1, cells):
                rows.append(f[:, top : top + cells, left : left + cells].mean(axis=(1, 2)))
    return np.stack(rows) if rows else np.zeros((0, f.shape[0]), np.float32)


def frechet_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Between Gaussians fitted to the rows of ``a`` and of ``b``; NaN with fewer than 2 rows.

    The trace of (S_a S_b)^(1/2) is the sum of the square roots of the eigenvalues of
    S_a^(1/2) S_b S_a^(1/2), which is symmetric: no complex square roots to discard."""
    if len(a) < 2 or len(b) < 2:
        return float("nan")
    a, b = a.astype(np.float64), b.astype(np.float64)
    mu_a, mu_b = a.mean(axis=0), b.mean(axis=0)
    s_a, s_b = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    w, v = np.linalg.eigh(s_a)
    root_a = (v * np.sqrt(np.clip(w, 0, None))) @ v.T
    cross = np.sqrt(np.clip(np.linalg.eigvalsh(root_a @ s_b @ root_a), 0, None)).sum()
    return float(((mu_a - mu_b) ** 2).sum() + np.trace(s_a) + np.trace(s_b) - 2 * cross)
