"""What the API takes as a file: a path, a bytes-like object or a binary file object.

Kept apart from :mod:`codec.image` so that reading an ``.aec`` header imports neither numpy nor
Pillow.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import BinaryIO, Union

from codec.errors import AecError

FileLike = Union[str, os.PathLike, bytes, bytearray, memoryview, BinaryIO]
# What a folder of images means, to the command line, evaluation and training: files with these suffixes.
IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".webp", ".tif", ".tiff", ".bmp", ".ppm", ".pgm", ".pnm"})


def as_bytes(source: FileLike, error: type[AecError] = AecError) -> tuple[bytes, str]:
    """The bytes of ``source`` and the prefix its error messages take (the path, or nothing);
    an unreadable source raises ``error``."""
    if isinstance(source, (bytes, bytearray, memoryview)):
        return bytes(source), ""
    if hasattr(source, "read"):
        data = source.read()
        if not isinstance(data, (bytes, bytearray)):
            raise error(f"a file object must be opened in binary mode ('rb'), got {type(data).__name__} from read()")
        return bytes(data), ""
    if not isinstance(source, (str, os.PathLike)):
        raise error(f"expected a path, bytes or a binary file object, got {type(source).__name__}")
    try:
        return Path(source).read_bytes(), f"{source}: "
    except IsADirectoryError:
        raise error(f"{source}: is a directory") from None
    except OSError as e:
        raise error(f"{source}: {e.strerror or e}") from None
