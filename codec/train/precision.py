"""Training precision, chosen from the processor the run is on.

On CPUs with AMX tiles (Intel Sapphire Rapids and later) bfloat16 convolutions run 3-4x faster
than float32 and a whole training step about 2x (``shared/TRAINING.md``); on CPUs without them
(the AMD EPYC machines) oneDNN emulates bfloat16 and a step is about 10x *slower*. So ``auto``
asks the processor, never assumes. Only the transforms run in bfloat16: the model keeps what
decides rates and tables in float32 (:meth:`codec.latent.LatentCodec.forward`), and the training
loops compute the rate term and the contractive finite difference in float32.
"""

from __future__ import annotations

import contextlib

import torch

PRECISIONS = ("auto", "fp32", "bf16")


def resolve(requested: str, device: torch.device) -> str:
    """``fp32`` or ``bf16`` for ``requested`` (one of :data:`PRECISIONS`) on ``device``."""
    if requested not in PRECISIONS:
        raise ValueError(f"unknown precision {requested!r} (known: {', '.join(PRECISIONS)})")
    if requested != "auto":
        return requested
    return "bf16" if has_fast_bf16(device) else "fp32"


def has_fast_bf16(device: torch.device) -> bool:
    """Whether bfloat16 matrix units serve this device (AMX on a CPU, bf16 tensor cores on a GPU)."""
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    return device.type == "cpu" and torch.backends.mkldnn.is_available() and torch.cpu._is_amx_tile_supported()


def autocast(precision: str, device: torch.device) -> contextlib.AbstractContextManager:
    """The context that runs the transforms at ``precision`` (a resolved one)."""
    if precision == "bf16":
        return torch.autocast(device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()


def memory_format(precision: str) -> torch.memory_format:
    """oneDNN's bfloat16 convolutions want channels-last tensors (NCHW would be reordered at
    every layer); float32 gains little from it, so it keeps today's layout."""
    return torch.channels_last if precision == "bf16" else torch.contiguous_format


def device(name: str) -> torch.device:
    """The training device, refused in one line where it is absent (rather than at the first
    tensor moved to it)."""
    try:
        dev = torch.device(name)
    except RuntimeError:
        raise ValueError(f"unknown device {name!r} (cpu, cuda, cuda:N)") from None
    if dev.type == "cuda" and not (torch.cuda.is_available() and (dev.index or 0) < torch.cuda.device_count()):
        raise ValueError(f"--device {name}: no such CUDA GPU here")
    if dev.type not in ("cpu", "cuda"):
        raise ValueError(f"--device {name}: training runs on cpu or cuda")
    return dev
