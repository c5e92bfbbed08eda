"""Every codec under test behind one interface: a name, a sweep of settings, encode and decode.

An adapter takes and returns 8-bit RGB arrays and produces the complete file a user would store
(the whole ``.aec`` with its header, the whole ``.jpg``, ``.avif``, ...), so that
``bpp = 8 * len(file) / pixels`` means the same for every codec. Classical encoders run on one
thread, so encode times compare with aecodec's on one thread. The default sweeps cover about 0.1
to 2 bpp on Kodak (JPEG cannot go much below 0.2).

``fingerprint`` names everything that changes a codec's output (library versions, options,
aecodec's sources and weights): it is part of the key under which measurements are cached.
"""

from __future__ import annotations

import copy
import hashlib
import importlib.metadata
import io
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Protocol

import numpy as np
from PIL import Image, features

import codec
from codec.config import NUM_LEVELS
from codec.errors import AecError
from codec.extras import require

AEC_LEVELS = tuple(range(1, NUM_LEVELS + 1))
EVAL_EXTRA = "pip install 'aecodec[eval]'"


class Unavailable(AecError):
    """A codec that this installation cannot run (missing plugin, no GAN decoder)."""


class Codec(Protocol):
    """What the sweep needs of a codec: 8-bit RGB in, the complete file out, and back."""

    name: str
    settings: tuple[int, ...]
    valid: range

    def description(self) -> str: ...
    def fingerprint(self) -> str: ...
    def check(self) -> None: ...
    def encode(self, rgb: np.ndarray, setting: int) -> bytes: ...
    def decode(self, data: bytes) -> np.ndarray: ...


@dataclass(frozen=True)
class PillowCodec:
    """A still-image codec reached through Pillow or a Pillow plugin; the setting is ``quality``.
    ``threads`` is what its encoder and decoder may use: 1 for evaluation, so that times compare
    across codecs (``examples/bench.py`` gives them more)."""

    name: str
    format: str
    label: str
    settings: tuple[int, ...]
    valid: range = range(101)
    options: dict[str, Any] = field(default_factory=dict)
    version: Callable[[], str] = lambda: ""
    thread_options: Callable[[int], dict[str, Any]] = lambda threads: {}  # the encoder's
    setup: Callable[[int], None] = lambda threads: None  # registers the plugin, sets its decoder's threads
    threads: int = 1

    def check(self) -> None:
        try:
            self.setup(self.threads)
        except ImportError as e:
            raise Unavailable(f"{self.name} needs the {e.name} package ({EVAL_EXTRA})") from None
        Image.init()  # Pillow registers its own formats lazily
        if self.format not in Image.SAVE:
            raise Unavailable(f"{self.name}: this Pillow cannot write {self.format}")

    def _options(self) -> dict[str, Any]:
        return {**self.options, **self.thread_options(self.threads)}

    def description(self) -> str:
        opts = ", ".join(f"{k}={v}" for k, v in self._options().items())
        return f"{self.label} ({self.version()}, Pillow {Image.__version__}; {opts or 'defaults'}; setting = quality)"

    def fingerprint(self) -> str:
        return self.description()

    def encode(self, rgb: np.ndarray, setting: int) -> bytes:
        buf = io.BytesIO()
        # a deep copy: pillow-heif writes into the options it is given
        Image.fromarray(rgb).save(buf, format=self.format, quality=setting, **copy.deepcopy(self._options()))
        return buf.getvalue()

    def decode(self, data: bytes) -> np.ndarray:
        with Image.open(io.BytesIO(data)) as im:
            return np.asarray(im.convert("RGB"))


def _package_version(name: str) -> Callable[[], str]:
    return lambda: f"{name} {importlib.metadata.version(name)}"


def _x265_version() -> str:
    pillow_heif = require("pillow_heif", "the hevc codec")

    return f"pillow-heif {pillow_heif.__version__}, {pillow_heif.libheif_info()['encoders'].get('x265', 'no x265')}"


def _avif_setup(threads: int) -> None:
    from PIL import AvifImagePlugin

    AvifImagePlugin.DEFAULT_MAX_THREADS = threads  # decoding; encoding is given max_threads


def _jxl_setup(threads: int) -> None:
    JpegXLImagePlugin = require("pillow_jxl.JpegXLImagePlugin", "the jxl codec")  # noqa: N806

    JpegXLImagePlugin.DECODE_THREADS = 0 if threads == 1 else threads  # 0: no thread pool


def _heif_setup(threads: int) -> None:
    pillow_heif = require("pillow_heif", "the hevc codec")

    pillow_heif.register_heif_opener(decode_threads=threads)


def _x265_threads(threads: int) -> dict[str, Any]:
    # Threading changes x265's output too, so one thread is asked for explicitly.
    pools = "none" if threads == 1 else str(threads)
    return {"enc_params": {"x265:pools": pools, "x265:frame-threads": "1"}}


CLASSICAL: dict[str, PillowCodec] = {c.name: c for c in (
    PillowCodec("jpeg", "JPEG", "JPEG 4:2:0", (5, 10, 20, 30, 40, 50, 65, 80, 90),
                version=lambda: f"libjpeg {features.version('jpg')}"),
    PillowCodec("webp", "WEBP", "WebP", (0, 5, 15, 30, 50, 65, 75, 85, 92),
                options={"method": 6}, version=lambda: f"libwebp {features.version('webp')}"),
    PillowCodec("avif", "AVIF", "AVIF 4:2:0 (AV1 intra)", (0, 10, 20, 30, 40, 50, 60, 70, 80),
                options={"speed": 6}, version=lambda: f"libavif {features.version('avif')}",
                thread_options=lambda n: {"max_threads": n}, setup=_avif_setup),
    PillowCodec("avif-444", "AVIF", "AVIF 4:4:4 (AV1 intra)", (0, 10, 20, 30, 40, 50, 60, 70, 80),
                options={"subsampling": "4:4:4", "speed": 6},
                version=lambda: f"libavif {features.version('avif')}",
                thread_options=lambda n: {"max_threads": n}, setup=_avif_setup),
    PillowCodec("jxl", "JXL", "JPEG XL", (1, 10, 25, 40, 55, 70, 80, 88, 93),
                options={"effort": 7}, version=_package_version("pillow-jxl-plugin"),
                thread_options=lambda n: {"num_threads": 0 if n == 1 else n}, setup=_jxl_setup),
    PillowCodec("hevc", "HEIF", "HEVC intra 4:4:4 (x265 in HEIF, the codec inside BPG)",
                (10, 15, 20, 25, 30, 36, 42, 50, 58),
                options={"chroma": 444}, version=_x265_version, thread_options=_x265_threads, setup=_heif_setup),
)}


@dataclass(frozen=True)
class AecCodec:
    """aecodec through its public API; ``realism`` 0 is the fidelity decoder, 1 the GAN decoder.

    Encoding does not depend on the decoder, so ``aec`` and ``aec-gan`` store the same file at
    every quality and their bpp are equal.
    """

    name: str
    realism: float
    weights_dir: str | None = None
    settings: tuple[int, ...] = AEC_LEVELS
    valid: range = range(1, NUM_LEVELS + 1)

    def check(self) -> None:
        if self.realism and not codec.load_model(self.weights_dir).has_gan_decoder:
            raise Unavailable(f"{self.name}: the weights have no GAN decoder; use realism 0")

    def description(self) -> str:
        decoder = "GAN decoder" if self.realism else "fidelity decoder"
        return f"aecodec {codec.__version__}, {decoder} (realism {self.realism:g}); setting = quality level"

    def fingerprint(self) -> str:
        return f"{self.description()}; sources {_sources_hash()}; weights {_weights_hash(self.weights_dir)}"

    def encode(self, rgb: np.ndarray, setting: int) -> bytes:
        return codec.encode(rgb, quality=setting, weights_dir=self.weights_dir)

    def decode(self, data: bytes) -> np.ndarray:
        return np.asarray(codec.decode(data, weights_dir=self.weights_dir, realism=self.realism).convert("RGB"))


def _sources_hash() -> str:
    """Hash of the sources behind ``codec.encode`` and ``decode`` (all but the command line, training
    and this package): a change to them invalidates aecodec's cached measurements."""
    root = Path(codec.__file__).parent
    files = sorted(p for p in root.rglob("*.py")
                   if not {"evaluate", "train", "cli.py", "__main__.py"} & set(p.relative_to(root).parts))
    return _hash_files(files, root)


def _weights_hash(weights_dir: str | None) -> str:
    """Hash of every file of the weights folder: the GAN decoder can change without the bitstream hash."""
    if weights_dir is None:  # codec.weights is the one place that knows where the shipped weights are
        from codec.weights import default_weights_dir

        weights_dir = str(default_weights_dir())
    root = Path(weights_dir)
    return _hash_files(sorted(p for p in root.iterdir() if p.suffix in (".json", ".safetensors")), root)


def _hash_files(files: list[Path], root: Path) -> str:
    h = hashlib.sha256()
    for p in files:
        h.update(str(p.relative_to(root)).encode() + b"\0" + hashlib.sha256(p.read_bytes()).digest())
    return h.hexdigest()[:16]


def _realism(name: str) -> float:
    """``aec`` is the fidelity decoder, ``aec-gan`` the GAN decoder, ``aec-r0.5`` a blend."""
    fixed = {"aec": 0.0, "aec-gan": 1.0}
    if name in fixed:
        return fixed[name]
    try:
        value = float(name.removeprefix("aec-r"))
    except ValueError:
        value = -1.0
    if not name.startswith("aec-r") or not 0 <= value <= 1:
        raise AecError(f"unknown codec {name!r} (known: {', '.join(names())}, or aec-rX for realism X in 0..1)")
    return value


def names() -> tuple[str, ...]:
    return ("aec", "aec-gan", *CLASSICAL)


def get(name: str, weights_dir: str | None = None, settings: tuple[int, ...] | None = None) -> Codec:
    """The adapter called ``name``, optionally with its own settings (checked against the valid range)."""
    if name.startswith("aec"):
        adapter: Codec = AecCodec(name, _realism(name), weights_dir)
    elif name in CLASSICAL:
        adapter = CLASSICAL[name]
    else:
        raise AecError(f"unknown codec {name!r} (known: {', '.join(names())})")
    if settings is not None:
        bad = [s for s in settings if s not in adapter.valid]
        if bad or not settings:
            raise AecError(f"{name}: settings must be integers in {adapter.valid.start}..{adapter.valid.stop - 1}, "
                           f"got {', '.join(map(str, settings)) or 'none'}")
        adapter = replace(adapter, settings=tuple(sorted(set(settings))))
    return adapter
