"""The one place that touches CompressAI's entropy models and their frozen CDF tables.

Tables are built once, by :func:`freeze_tables` at export time, and then travel inside the weights
file. Decoding never rebuilds them: a table rebuilt on another machine (another libm, another
torch) could differ by one count and turn every later symbol into garbage. :func:`table_bytes`
feeds the model's bitstream hash, which is written into every file and checked before decoding.
"""

from __future__ import annotations

import math
import zlib
from typing import Iterator

import torch
from compressai.entropy_models import EntropyBottleneck, GaussianConditional
from torch import Tensor, nn

# 64 log-spaced scales from 0.11 to 256, as in CompressAI's hyperprior models.
SCALE_TABLE: tuple[float, ...] = tuple(
    math.exp(math.log(0.11) + i * (math.log(256) - math.log(0.11)) / 63) for i in range(64)
)
TABLE_BUFFERS = ("_quantized_cdf", "_offset", "_cdf_length")


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
