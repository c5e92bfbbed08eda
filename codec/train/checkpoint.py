"""Training checkpoints, shared by both stages: the state dicts of a run's named parts (modules,
optimizers), its step, elapsed time and configuration, written atomically and read back with
torch's tensors-and-plain-containers loader."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol


class Stateful(Protocol):
    def state_dict(self) -> dict[str, Any]: ...

    def load_state_dict(self, state: dict[str, Any]) -> Any: ...


def save(path: Path, parts: dict[str, Stateful], step: int, elapsed_s: float, config: dict[str, Any]) -> None:
    import torch

    tmp = path.with_suffix(".tmp")
    torch.save({**{k: v.state_dict() for k, v in parts.items()}, "step": step, "elapsed": elapsed_s,
                "config": config}, tmp)
    tmp.replace(path)


def load(path: Path, parts: dict[str, Stateful], check: Callable[[dict[str, Any]], None] = lambda config: None,
         ) -> tuple[int, float]:
    """Fill ``parts`` from the checkpoint once ``check`` has accepted the configuration it was
    saved with (it raises ValueError if not); returns its step and elapsed seconds."""
    import torch

    # On the CPU first: a run saved on a GPU resumes on a machine without one, and the reverse;
    # modules copy into their parameters' device, optimizers move their state to it.
    ckpt = torch.load(path, weights_only=True, map_location="cpu")
    check(ckpt["config"])
    try:
        for name, part in parts.items():
            part.load_state_dict(ckpt[name])
    except RuntimeError:  # tensors of other shapes: a run of another architecture
        raise ValueError(f"{path} holds a model of another architecture: resume with the options the run "
                         "was started with") from None
    return ckpt["step"], ckpt["elapsed"]
