"""The images an evaluation runs on, their content hashes, and the Kodak check.

Published Kodak numbers compare only when the pixels are the real set's, so every file named
``kodim01`` .. ``kodim24`` is checked against the set's sha256 list (``kodak.sha256`` beside this
module, a copy of ``shared/data/kodak.sha256``) and a mismatch refuses the run.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from codec.errors import AecError, ImageError
from codec.sources import IMAGE_SUFFIXES as SUFFIXES, as_bytes
KODAK_SHA256 = Path(__file__).with_name("kodak.sha256")
KODAK_SIZE = 24
_KODAK_NAME = re.compile(r"kodim(0[1-9]|1\d|2[0-4])$", re.IGNORECASE)


@dataclass(frozen=True)
class ImageFile:
    path: Path
    sha256: str  # of the file's bytes: the cache key of everything measured on it

    @property
    def name(self) -> str:
        return self.path.name


def collect(inputs: Sequence[Path]) -> list[ImageFile]:
    """The image files named, and those directly inside the folders named, in a stable order."""
    paths: list[Path] = []
    for p in map(Path, inputs):
        if p.is_dir():
            paths += sorted(f for f in p.iterdir() if f.suffix.lower() in SUFFIXES and f.is_file())
        elif p.is_file():
            paths.append(p)
        else:
            raise ImageError(f"{p}: no such file or folder")
    if not paths:
        raise ImageError(f"no images ({', '.join(sorted(SUFFIXES))}) in {', '.join(map(str, inputs))}")
    names = [p.name for p in paths]
    if dup := next((n for n in names if names.count(n) > 1), None):
        raise ImageError(f"two inputs are named {dup}: results are reported by file name")
    return [ImageFile(p, hashlib.sha256(_read(p)).hexdigest()) for p in paths]


def _read(path: Path) -> bytes:
    return as_bytes(path, ImageError)[0]


def load_rgb(path: Path) -> np.ndarray:
    """8-bit RGB pixels as every codec gets them: EXIF orientation applied, alpha dropped.

    Uses aecodec's own reader, so images it refuses (16-bit, CMYK) are refused here alike.
    """
    from codec import image

    return image.read(path).rgb


def check_kodak(images: Sequence[ImageFile]) -> str | None:
    """None when no input is named like a Kodak image; else a note on how much of the set is here.

    Raises ``AecError`` when a Kodak-named file is not the published image.
    """
    kodak = [im for im in images if _KODAK_NAME.fullmatch(im.path.stem)]
    if not kodak:
        return None
    expected = dict(line.split()[::-1] for line in KODAK_SHA256.read_text().splitlines() if line.strip())
    bad = [im for im in kodak if expected.get(im.path.stem.lower() + ".png") != im.sha256]
    if bad:
        raise AecError(f"{bad[0].path} is not the published Kodak image (sha256 differs from the list in "
                       f"{KODAK_SHA256.name}; {len(bad)} of {len(kodak)} Kodak files differ)")
    if len(kodak) == KODAK_SIZE == len(images):
        return f"Kodak: all {KODAK_SIZE} images match the published checksums"
    return (f"Kodak: {len(kodak)} of {KODAK_SIZE} images (checksums match), so the means are not comparable "
            f"with published Kodak results")
