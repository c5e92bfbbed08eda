"""Random training crops from folders of photographs.

Every source here is a JPEG, so its 8x8 blocks are in the pixels. Each crop is cut from a window
``crop / s`` pixels wide and downscaled by ``s`` (drawn from ``downscale``) with an antialiasing
filter, which blurs the blocks away and shows the model more scales of the same scenes.
"""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch import Tensor

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff", ".ppm"}


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
        self.images = [im for im in (self._load(f) for f in files) if min(im.size) >= crop]
        if not self.images:
            raise ValueError(f"no training image has a short side of at least {crop} pixels (--crop)")

    @staticmethod
    def _load(path: Path) -> Image.Image:
        with Image.open(path) as im:
            return im.convert("RGB")

    def sample(self) -> np.ndarray:
        im = self.rng.choice(self.images)
        lo, hi = self.downscale
        s_min = max(lo, self.crop / min(im.size))
        s = self.rng.uniform(s_min, hi) if s_min < hi else 1.0
        window = min(round(self.crop / s), *im.size)
        left = self.rng.randint(0, im.width - window)
        top = self.rng.randint(0, im.height - window)
        patch = im.crop((left, top, left + window, top + window))
        if window != self.crop:
            patch = patch.resize((self.crop, self.crop), Image.Resampling.LANCZOS)
        if self.rng.random() < 0.5:
            patch = patch.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
        return np.asarray(patch)

    def batch(self, size: int) -> Tensor:
        arr = np.stack([self.sample() for _ in range(size)])
        return torch.from_numpy(arr).permute(0, 3, 1, 2).float().div_(255)

    def __len__(self) -> int:
        return len(self.images)


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
