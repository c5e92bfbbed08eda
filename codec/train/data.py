"""Random training crops from folders of photographs.

Most sources here are JPEGs, so their 8x8 blocks are in the pixels. Each crop is cut from a window
``crop / s`` pixels wide and downscaled by ``s`` (drawn from ``downscale``) with an antialiasing
filter, which blurs the blocks away and shows the model more scales of the same scenes. A clean
source, whose block grid does not show (:func:`blockiness`), may also be cut at full size, ``s``
up to 1, so the model also sees the sharp detail of the originals rather than only soft,
downscaled texture.

Images are drawn in proportion to their area: a 1280x1920 photograph holds 16 BSDS images'
worth of crops, and drawing it as often as one of them would leave the large, detail-rich sources
nearly unused.
"""

from __future__ import annotations

import itertools
import random
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch import Tensor

from codec.sources import IMAGE_SUFFIXES



def list_images(folders: list[str] | tuple[str, ...]) -> list[Path]:
    files = sorted(
        p for f in folders for p in Path(f).rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES
    )
    if not files:
        raise ValueError(f"no images found in {', '.join(map(str, folders))}")
    return files


class CropSampler:
    """Keeps the decoded images in memory (1,500 photos fit in about 1 GB) and cuts crops."""

    def __init__(self, files: list[Path], crop: int, downscale: tuple[float, float], seed: int) -> None:
        self.crop = crop
        self.downscale = downscale
        self.rng = random.Random(seed)
        loaded = [self._load(f) for f in files]
        kept = [(im, clean) for im, clean in loaded if min(im.size) >= crop]
        if not kept:
            raise ValueError(f"no training image has a short side of at least {crop} pixels (--crop)")
        self.images = [im for im, _ in kept]
        self.clean = [clean for _, clean in kept]
        self.cum_areas = list(itertools.accumulate(im.width * im.height for im in self.images))

    @staticmethod
    def _load(path: Path) -> tuple[Image.Image, bool]:
        with Image.open(path) as im:
            return im.convert("RGB"), is_clean(im)

    def _draw(self) -> tuple[int, int, int, int, bool]:
        """Where the next crop comes from: image, window side, left, top, flipped."""
        i = self.rng.choices(range(len(self.images)), cum_weights=self.cum_areas)[0]
        im = self.images[i]
        lo, hi = self.downscale[0], 1.0 if self.clean[i] else self.downscale[1]
        s_min = max(lo, self.crop / min(im.size))
        s = self.rng.uniform(s_min, hi) if s_min < hi else 1.0
        window = min(round(self.crop / s), *im.size)
        left = self.rng.randint(0, im.width - window)
        top = self.rng.randint(0, im.height - window)
        return i, window, left, top, self.rng.random() < 0.5

    def _cut(self, i: int, window: int, left: int, top: int, flip: bool) -> np.ndarray:
        patch = self.images[i].crop((left, top, left + window, top + window))
        if window != self.crop:
            patch = patch.resize((self.crop, self.crop), Image.Resampling.LANCZOS)
        if flip:
            patch = patch.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
        return np.asarray(patch)

    def batch(self, size: int, share: range | None = None) -> Tensor:
        """The next ``size`` crops, or only those at the positions in ``share``: each of the
        processes that split a batch (:mod:`codec.train.distributed`) draws the whole batch from
        the same stream and cuts its own crops."""
        draws = [self._draw() for _ in range(size)]
        arr = np.stack([self._cut(*draws[k]) for k in (share if share is not None else range(size))])
        return torch.from_numpy(arr).permute(0, 3, 1, 2).float().div_(255)

    def __len__(self) -> int:
        return len(self.images)


# Blockiness (below) of a source whose 8x8 grid is not visible: the Kodak images measure 0.96 to
# 1.01, city100 and unsplash (JPEG q95 of lossless or downscaled originals) a median of 1.04 to
# 1.05 and at most 1.1 for 90 % of them; the blockiest ImageNet photos reach 1.85.
CLEAN_BLOCKINESS = 1.10


def blockiness(im: Image.Image) -> float:
    """Mean luminance step across 8x8 block borders over the mean step inside the blocks,
    horizontally and vertically: 1 for a clean image, above 1 where JPEG's grid shows. A source
    resized after it was compressed hides its grid from this measure, and its blocks with it."""
    lum = np.asarray(im.convert("L"), dtype=np.float32)
    ratios = []
    for a in (lum, lum.T):
        steps = np.abs(np.diff(a, axis=1))
        width = steps.shape[1] // 8 * 8
        by_phase = steps[:, :width].reshape(steps.shape[0], -1, 8).mean(axis=(0, 1))
        ratios.append(by_phase[7] / max(float(by_phase[:7].mean()), 1e-6))
    return float(np.mean(ratios))


def is_clean(im: Image.Image) -> bool:
    """Whether the source may be cut at full size: its compression leaves no visible grid."""
    return blockiness(im) <= CLEAN_BLOCKINESS


def center_crops(files: list[Path], crop: int) -> Tensor:
    """Fixed validation batch: the central crop of every image large enough."""
    crops = []
    for f in files:
        with Image.open(f) as im:
            im = im.convert("RGB")
            if min(im.size) < crop:
                continue
            left, top = (im.width - crop) // 2, (im.height - crop) // 2
            crops.append(np.asarray(im.crop((left, top, left + crop, top + crop))))
    if not crops:
        raise ValueError(f"no validation image has a short side of at least {crop} pixels")
    return torch.from_numpy(np.stack(crops)).permute(0, 3, 1, 2).float().div_(255)


def validation_sets(folders: tuple[str, ...], count: int, crop: int, device: torch.device) -> dict[str, torch.Tensor]:
    """Fixed centre crops of each validation folder, by log prefix: ``val_`` for the first (the
    key every earlier log uses), ``val_<folder name>_`` for the others."""
    sets = {}
    for i, folder in enumerate(folders):
        prefix = "val_" if i == 0 else f"val_{Path(folder).name}_"
        if prefix in sets:
            raise ValueError(f"two validation folders are named {Path(folder).name}: give one of each name")
        sets[prefix] = center_crops(list_images([folder])[:count], crop).to(device)
    return sets
