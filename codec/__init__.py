"""aecodec: a learned image codec.

    >>> import codec
    >>> data = codec.encode("photo.png", quality=4)   # bytes of an .aec file
    >>> codec.decode(data).save("photo.out.png")      # a PIL image
"""

from codec import _compressai
from codec.errors import AecError, AecWarning, FormatError, ImageError, UnsupportedError, WeightsError

_compressai.install()  # CompressAI without its package __init__ (seconds of imports): see there

__all__ = ["AecError", "AecWarning", "FormatError", "ImageError", "Info", "LoadedModel", "Target", "UnsupportedError",
           "WeightsError", "decode", "encode", "encode_to_target", "info", "load_model"]
__version__ = "0.14.0"

_API = ("Info", "LoadedModel", "Target", "decode", "encode", "encode_to_target", "info", "load_model")


def __getattr__(name: str) -> object:
    """The API on first use: ``aecodec --help`` needs the version, not numpy and Pillow."""
    if name in _API:
        from codec import api

        return getattr(api, name)
    raise AttributeError(f"module 'codec' has no attribute {name!r}")
