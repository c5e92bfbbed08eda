"""One process of a data-parallel stage-1 run, for ``tests/test_distributed.py``. Started by
torchrun, it trains the shipped weights on its share of the batches in ``CROPS.pt`` with the
real :func:`codec.train.loop.train_step` and, after every step, gathers all processes'
parameters; rank 0 saves how far apart they were and its final parameters to ``OUT.pt``.

    python -m torch.distributed.run --standalone --nproc_per_node 2 tests/replica.py CROPS.pt OUT.pt OPTIMIZER
"""

from __future__ import annotations

import sys

import torch

from codec import weights
from codec.config import TrainConfig
from codec.train.distributed import World
from codec.train.loop import State, train_step


def flat_parameters(s: State) -> torch.Tensor:
    return torch.cat([p.detach().reshape(-1) for p in s.model.parameters()])


def shipped_state(batch: int, optimizer: str) -> tuple[State, TrainConfig]:
    """The shipped weights, ready to train with ``batch`` crops a step."""
    torch.manual_seed(0)
    cfg = TrainConfig(batch=batch, seed=5, optimizer=optimizer, model=weights.load(weights.default_weights_dir()).config)
    return State.create(cfg, weights.default_weights_dir()), cfg


def main(crops_path: str, out_path: str, optimizer: str) -> None:
    torch.set_num_threads(1)
    world = World.from_environment()
    world.join(torch.device("cpu"))
    crops = torch.load(crops_path, weights_only=True)
    batches, levels = crops["batches"], crops["levels"].tolist()
    s, cfg = shipped_state(batches.shape[1], optimizer)
    apart = []
    for x, q in zip(batches, levels):
        train_step(s, x[world.share(cfg.batch)], q, cfg.lr, cfg, "fp32", world)
        replicas = world.gather(flat_parameters(s))
        apart.append(max(float((r - replicas[0]).abs().max()) for r in replicas))
    if world.is_main:
        torch.save({"apart": torch.tensor(apart), "parameters": flat_parameters(s), "processes": world.size}, out_path)
    world.leave()


if __name__ == "__main__":
    main(*sys.argv[1:])
