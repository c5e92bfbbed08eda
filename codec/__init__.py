"""aecodec: a learned image codec.

    >>> import codec
    >>> data = codec.encode("photo.png", quality=4)   # bytes of an .aec file
    >>> codec.decode(data).save("photo.out.png")      # a PIL image
"""

from codec import _compressai
from codec.api import Info, decode, encode, info
from codec.errors import AecError

_compressai.install()  # CompressAI without its package __init__ (seconds of imports): see there

__all__ = ["encode", "decode", "info", "Info", "AecError"]
__version__ = "0.1.0"
