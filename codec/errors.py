"""One exception family: the CLI turns any AecError into a one-line message and exit status 1."""


class AecError(Exception):
    """Base of every error aecodec reports to its users."""


class FormatError(AecError):
    """The bytes are not a valid .aec file (bad magic, truncated, corrupt, limits exceeded)."""


class UnsupportedError(AecError):
    """A valid input that this version does not handle (newer format version, 16-bit image)."""


class WeightsError(AecError):
    """Weights cannot be loaded, or a file was written with other weights."""


class ImageError(AecError):
    """The input image cannot be read."""


class AecWarning(UserWarning):
    """The input was changed to be coded (16 bits to 8, the first frame of an animation), as
    cwebp, cjxl and avifenc do; the CLI prints it as a note."""
