"""A Pillow plugin for ``.aec``, as pillow-heif and pillow-jxl-plugin are for HEIF and JPEG XL.

    >>> import codec.pillow                      # registers the format with Pillow
    >>> im = Image.open("photo.aec")             # the header and metadata: size, mode, EXIF, ICC
    >>> im.thumbnail((256, 256))                 # decodes here, on first use of the pixels
    >>> im.save("copy.aec", quality=6)           # any Pillow image; quality 1..8

``codec.pillow.register(realism=0)`` picks the decoder of later loads (the default: the GAN
decoder when the weights have one) and ``weights_dir`` the weights. Opening parses and checks
the whole container but decodes nothing; a file with aecodec's magic that fails to parse or to
decode raises ``OSError`` with the codec's message, as Pillow's own plugins do.
"""

from __future__ import annotations

from pathlib import Path
from typing import IO, Any

from PIL import Image, ImageFile

from codec import api, container
from codec.config import DEFAULT_QUALITY
from codec.errors import AecError

FORMAT = "AEC"
_options: dict[str, Any] = {"realism": None, "weights_dir": None}


def register(realism: float | None = None, weights_dir: str | Path | None = None) -> None:
    """Register ``.aec`` with Pillow (importing this module already does, with the defaults) and
    set the decoder (``realism``, as :func:`codec.decode` takes it) and the weights to use."""
    _options.update(realism=realism, weights_dir=weights_dir)
    Image.register_open(FORMAT, AecImageFile, _accept)
    Image.register_save(FORMAT, _save)
    Image.register_extension(FORMAT, ".aec")
    Image.register_mime(FORMAT, "image/x-aec")


def _accept(prefix: bytes) -> bool:
    return container.is_aec(prefix)


class AecImageFile(ImageFile.ImageFile):
    format = FORMAT
    format_description = "aecodec learned image"

    def _open(self) -> None:
        self._data = self.fp.read()
        try:
            f = container.unpack(self._data)
        except AecError as e:
            raise OSError(f"cannot open this .aec file: {e}") from None
        self._size = (f.header.width, f.header.height)
        self._mode = f.header.mode
        self.info.update({k: v for k, v in (("icc_profile", f.icc_profile), ("exif", f.exif)) if v})
        self.tile = []

    def load(self) -> Any:
        if self._im is None:
            try:
                decoded = api.decode(self._data, weights_dir=_options["weights_dir"], realism=_options["realism"])
            except AecError as e:
                raise OSError(f"cannot decode this .aec file: {e}") from None
            if decoded.mode != self.mode or decoded.size != self.size:
                raise OSError(f"decoded {decoded.mode} {decoded.size}, the header says {self.mode} {self.size}")
            self.im = decoded.im
            if self._exclusive_fp and self._close_exclusive_fp_after_loading and self.fp:
                self.fp.close()
            self.fp = None
        return Image.Image.load(self)


def _save(im: Image.Image, fp: IO[bytes], filename: str | bytes) -> None:
    quality = im.encoderinfo.get("quality", DEFAULT_QUALITY)
    try:
        data = api.encode(im, quality=quality, weights_dir=_options["weights_dir"],
                          metadata=im.encoderinfo.get("metadata", "all"))
    except AecError as e:
        raise OSError(f"cannot write this image as .aec: {e}") from None
    fp.write(data)


register()
