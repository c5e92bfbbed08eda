"""The one place that touches CompressAI's entropy models and their frozen CDF tables.

:mod:`codec.latent` composes them into the latent codec; this module builds them, rounds for
training, freezes and hashes their tables, and writes and reads their strings.

Tables are built once, by :func:`freeze_tables` at export time, and then travel inside the weights
file. Decoding never rebuilds them: a table rebuilt on another machine (another libm, another
torch) could differ by one count and turn every later symbol into garbage. :func:`table_bytes`
feeds the model's bitstream hash, which is written into every file and checked before decoding.

Strings are written and read here, not by CompressAI's ``compress`` / ``decompress``, because its
C++ decoder trusts its input (see :mod:`codec.rans`). The encoder clamps every symbol into its
table, so it never writes the escape code; the decoder then calls the C++ decoder with tables
whose escape slot does not trigger the escape loop, on a string padded so that no read can leave
it, and hands the rare string that does hold an escape (an older file, or a crafted one) to the
bounds-checked :func:`codec.rans.decode`.
"""

from __future__ import annotations

import contextlib
import math
import zlib
from collections.abc import Iterator, Sequence
from contextvars import ContextVar
from dataclasses import dataclass

import torch
from compressai.ans import RansDecoder, RansEncoder
from compressai.entropy_models import EntropyBottleneck, GaussianConditional
from compressai.entropy_models.entropy_models import EntropyModel
from compressai.ops import quantize_ste
from torch import Tensor, nn

from codec import rans
from codec.errors import FormatError

# 64 log-spaced scales from 0.11 to 256, as in CompressAI's hyperprior models.
SCALE_TABLE: tuple[float, ...] = tuple(
    math.exp(math.log(0.11) + i * (math.log(256) - math.log(0.11)) / 63) for i in range(64)
)
TABLE_BUFFERS = ("_quantized_cdf", "_offset", "_cdf_length")


# Per crop of the batch, the generator of its training noise (None: CompressAI's own draw from
# torch's global generator); set by :func:`training_noise`.
_crop_generators: ContextVar[list[torch.Generator] | None] = ContextVar("crop_generators", default=None)


@contextlib.contextmanager
def training_noise(seeds: Sequence[int]) -> Iterator[None]:
    """Draw the rate term's uniform noise crop by crop, crop i from a generator seeded with
    ``seeds[i]``, rather than for the whole batch from torch's generator: then a crop's noise
    does not depend on which other crops share its batch, and a batch split over processes
    (:mod:`codec.train.distributed`) gets the noise it would get in one."""
    token = _crop_generators.set([torch.Generator().manual_seed(s) for s in seeds])
    try:
        yield
    finally:
        _crop_generators.reset(token)


def _noise(inputs: Tensor, crop_dim: int) -> Tensor | None:
    """Uniform noise for ``inputs``, whose dimension ``crop_dim`` runs over the crops (folded
    with the pixels after it), from the crops' generators; None outside :func:`training_noise`."""
    generators = _crop_generators.get()
    if generators is None:
        return None
    shape = list(inputs.shape)
    if shape[crop_dim] % len(generators):
        raise ValueError(f"training noise for {len(generators)} crops, a batch of another size")
    shape[crop_dim] //= len(generators)
    noise = torch.cat([torch.empty(shape).uniform_(-0.5, 0.5, generator=g) for g in generators], dim=crop_dim)
    return noise.to(inputs.device, inputs.dtype)


class _Bottleneck(EntropyBottleneck):
    # CompressAI quantizes z laid out as (channels, 1, crops x pixels).
    def quantize(self, inputs: Tensor, mode: str, means: Tensor | None = None) -> Tensor:
        if mode == "noise" and (noise := _noise(inputs, 2)) is not None:
            return inputs + noise
        return super().quantize(inputs, mode, means)


class _Conditional(GaussianConditional):
    def quantize(self, inputs: Tensor, mode: str, means: Tensor | None = None) -> Tensor:
        if mode == "noise" and (noise := _noise(inputs, 0)) is not None:
            return inputs + noise
        return super().quantize(inputs, mode, means)


def new_entropy_models(n: int) -> tuple[EntropyBottleneck, GaussianConditional]:
    """The factorized prior of z (``n`` channels) and the Gaussian conditional of y, untrained;
    the Gaussian's scale table is set when the tables are frozen (:func:`freeze_tables`).
    CompressAI's, except that training may draw their noise per crop (:func:`training_noise`)."""
    return _Bottleneck(n), _Conditional(None)


def round_ste(x: Tensor) -> Tensor:
    """Rounding with the identity as its gradient (straight-through): training feeds the decoders
    the rounded latents a file holds."""
    return quantize_ste(x)


def entropy_models(model: nn.Module) -> list[tuple[str, nn.Module]]:
    return [
        (name, m)
        for name, m in model.named_modules()
        if isinstance(m, (EntropyBottleneck, GaussianConditional))
    ]


def freeze_tables(model: nn.Module) -> None:
    """Build the integer CDF tables from the trained densities (export time only)."""
    for _, m in entropy_models(model):
        if isinstance(m, GaussianConditional):
            m.update_scale_table(list(SCALE_TABLE), force=True)
        else:
            m.update(force=True)


def tables_frozen(model: nn.Module) -> bool:
    return all(m._offset.numel() > 0 for _, m in entropy_models(model))


def resize_table_buffers(model: nn.Module, state: dict[str, Tensor]) -> None:
    """Give the (empty) table buffers the shapes found in ``state`` so load_state_dict fits."""
    for name, m in entropy_models(model):
        for buf in TABLE_BUFFERS + ("scale_table",):
            key = f"{name}.{buf}"
            if key in state and hasattr(m, buf):
                setattr(m, buf, torch.empty_like(state[key]))


def table_bytes(model: nn.Module) -> Iterator[bytes]:
    """The bytes of every table coding depends on (and of the medians of z), for hashing."""
    for name, m in entropy_models(model):
        yield name.encode()
        for buf in TABLE_BUFFERS:
            yield getattr(m, buf).to(torch.int32).contiguous().numpy().tobytes()
        if isinstance(m, GaussianConditional):
            yield m.scale_table.to(torch.float32).numpy().tobytes()
        else:
            yield m.quantiles.detach().to(torch.float32).contiguous().numpy().tobytes()


def scale_indexes(gc: GaussianConditional, scales: Tensor) -> Tensor:
    """Table index per element: how many table scales lie below the predicted scale."""
    table = gc.scale_table.to(torch.float64)
    bounded = scales.to(torch.float64).clamp_min(float(table[0]))
    return torch.bucketize(bounded, table[:-1], right=False).to(torch.int32)


def indexes_checksum(indexes: Tensor) -> int:
    """CRC32 of the table indexes: the decoder recomputes them and compares, so a prediction
    that rounds differently on another machine is reported instead of decoding to garbage."""
    return zlib.crc32(indexes.to(torch.uint8).contiguous().numpy().tobytes())


@dataclass(frozen=True)
class Tables:
    """The frozen CDFs of one entropy model as the coders take them."""

    cdfs: list[list[int]]  # table i trimmed to its length: 0 ... 65536, the last slot the escape
    offsets: Tensor  # int64, value of each table's first symbol
    lengths: Tensor  # int64, CDF length of each table (number of symbols + 2)

    @classmethod
    def of(cls, em: EntropyModel) -> Tables:
        lengths = em._cdf_length.to(torch.int64)
        rows = em._quantized_cdf.tolist()
        return cls([row[:n] for row, n in zip(rows, lengths.tolist())], em._offset.to(torch.int64), lengths)


def encode_symbols(tables: Tables, values: Tensor, indexes: Tensor) -> bytes:
    """rANS-code ``round(values)`` with table ``indexes`` per element, each clamped into its table
    (the encoder never writes an escape; values outside a table cost distortion, not an escape)."""
    low = tables.offsets[indexes.long()]
    high = low + tables.lengths[indexes.long()] - 3  # last regular symbol; length-2 is the escape
    symbols = torch.minimum(torch.maximum(torch.round(values).double(), low.double()), high.double()).long()
    return RansEncoder().encode_with_indexes(
        symbols.flatten().tolist(), indexes.flatten().tolist(), tables.cdfs, tables.lengths.tolist(), tables.offsets.tolist()
    )


def decode_symbols(tables: Tables, string: bytes, indexes: Tensor) -> Tensor:
    """Symbols (int64, shaped like ``indexes``) of ``string``, or FormatError. Reads nothing
    outside its buffer and does work bounded by the number of symbols, whatever the string."""
    if len(string) % 4 or len(string) < 8:
        raise FormatError(f"rANS string of {len(string)} bytes: must be a multiple of 4, at least 8")
    flat = indexes.flatten().tolist()
    padded = string + bytes(max(0, 4 * (len(flat) + 2) - len(string)))
    symbols = torch.tensor(decode_without_escape(tables, padded, flat), dtype=torch.int64).reshape(indexes.shape)
    escape = tables.offsets[indexes.long()] + tables.lengths[indexes.long()] - 2
    if bool((symbols == escape).any()):
        symbols = torch.tensor(rans.decode(string, flat, tables.cdfs, tables.offsets.tolist()), dtype=torch.int64)
        symbols = symbols.reshape(indexes.shape)
    return symbols


def decode_without_escape(tables: Tables, string: bytes, indexes: list[int]) -> list[int]:
    """CompressAI's C++ decoder, told that every table has one more slot than it has: the escape
    slot is then an ordinary symbol (decoded as ``offset + length - 2``) and the escape loop never
    runs. Each symbol then reads at most one 32-bit word after the two of the initial state, so
    it never reads past ``4 * (len(indexes) + 2)`` bytes. Relies on compressai.ans being built
    without assertions (it is: NDEBUG), which would reject the longer table."""
    no_escape = [cdf + [cdf[-1]] for cdf in tables.cdfs]  # the extra slot is never reached
    return RansDecoder().decode_with_indexes(string, indexes, no_escape, (tables.lengths + 1).tolist(), tables.offsets.tolist())


def z_indexes(eb: EntropyBottleneck, shape: tuple[int, int]) -> Tensor:
    """Table of every element of z: one table per channel."""
    c = eb._quantized_cdf.shape[0]
    return torch.arange(c, dtype=torch.int32)[None, :, None, None].expand(1, c, *shape)


def z_medians(eb: EntropyBottleneck) -> Tensor:
    return eb._get_medians().detach().reshape(1, -1, 1, 1)


def compress_z(eb: EntropyBottleneck, z: Tensor) -> bytes:
    return encode_symbols(Tables.of(eb), z - z_medians(eb), z_indexes(eb, tuple(z.shape[-2:])))


def decompress_z(eb: EntropyBottleneck, string: bytes, shape: tuple[int, int]) -> Tensor:
    symbols = decode_symbols(Tables.of(eb), string, z_indexes(eb, shape))
    return symbols.float() + z_medians(eb)


def compress_y(gc: GaussianConditional, y: Tensor, indexes: Tensor, means: Tensor) -> bytes:
    return encode_symbols(Tables.of(gc), y - means, indexes)


def decompress_y(gc: GaussianConditional, string: bytes, indexes: Tensor, means: Tensor) -> Tensor:
    return decode_symbols(Tables.of(gc), string, indexes).float() + means


# Scales closer than this (relative) to a table boundary could pick another table on a machine
# whose float64 arithmetic differs in the last bits; see LatentCodec.hyper_for_coding.
INDEX_MARGIN = 1e-9


def index_margin(gc: GaussianConditional, scales: Tensor) -> Tensor:
    """Relative distance of every scale from the nearest boundary between two tables."""
    bounds = gc.scale_table.to(torch.float64)[:-1]
    s = scales.to(torch.float64)
    i = torch.bucketize(s, bounds).clamp(1, len(bounds) - 1)
    below, above = bounds[i - 1], bounds[i]
    return torch.minimum((s - below).abs() / below, (s - above).abs() / above)
