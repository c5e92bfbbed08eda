"""What both training stages share around their step: seeds and threads, the processes and the
device, the precision, and a session of the run folder (its log, the progress bar, the
checkpoint timer and the budget). Each stage keeps only its own state, step and validation."""

from __future__ import annotations

import json
import math
import random
import time
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from types import TracebackType
from typing import Any, Protocol, TextIO

import torch
from tqdm import tqdm

from codec.config import RunConfig
from codec.train import distributed, precision


class Progressing(Protocol):
    step: int
    elapsed_s: float


class Run:
    """A stage's run in this process: seeded (the same on every process, so that all draw the
    same levels and crops), its threads set, its process group joined, its device and precision
    resolved."""

    def __init__(self, cfg: RunConfig) -> None:
        torch.manual_seed(cfg.seed)
        random.seed(cfg.seed)
        torch.set_num_threads(cfg.threads)
        self.world = distributed.World.from_environment()
        self.device = self.world.device(precision.device(cfg.device))
        self.share = self.world.share(cfg.batch)
        self.world.join(self.device)
        self.dtype = precision.resolve(cfg.precision, self.device)
        self.memory_format = precision.memory_format(self.dtype)

    def batch(self, x: torch.Tensor) -> torch.Tensor:
        """A batch on the run's device, in its memory format."""
        return x.to(self.device, memory_format=self.memory_format)

    def describe(self, cfg: RunConfig) -> dict[str, Any]:
        """The log's record of how this start runs (written at every start and resume)."""
        return {"precision": self.dtype, "device": str(self.device), "threads": cfg.threads,
                "processes": self.world.size}


class Session:
    """One start or resume of a run: appends to ``out_dir/log.jsonl``, shows a progress bar,
    keeps ``state.elapsed_s`` (resumed where the checkpoint left it), calls ``save`` every
    ``ckpt_every_s`` and once more when the budget is spent (not when interrupted). Of several
    processes, rank 0 alone writes (the others' log, bar and saves do nothing), and its clock
    is everyone's :attr:`progress`."""

    def __init__(self, cfg: RunConfig, state: Progressing, save: Callable[[], None],
                 world: distributed.World = distributed.ALONE) -> None:
        self.cfg, self.state, self.save, self.world = cfg, state, save, world
        self._log: TextIO | None = None
        self.progress = 0.0

    def __enter__(self) -> Session:
        if self.world.is_main:
            Path(self.cfg.out_dir).mkdir(parents=True, exist_ok=True)
            self._log = (Path(self.cfg.out_dir) / "log.jsonl").open("a")
        self._bar = tqdm(total=self.cfg.max_steps, initial=self.state.step, mininterval=5, disable=not self.world.is_main)
        self._t0 = time.monotonic() - self.state.elapsed_s
        self._last_save = time.monotonic()
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None) -> None:
        try:
            if kind is None and self.world.is_main:
                self.save()
        finally:
            self._bar.close()
            if self._log:
                self._log.close()

    def running(self) -> bool:
        """Whether the budget has time left; sets :attr:`progress`, the fraction spent."""
        self.progress = self.world.agree(self.cfg.progress(self.state.step, self.state.elapsed_s))
        return self.progress < 1.0

    def stepped(self, **postfix: Any) -> None:
        """After each step: the clock, the bar and, when due, a checkpoint."""
        self.state.elapsed_s = time.monotonic() - self._t0
        self._bar.update(1)
        self._bar.set_postfix(**postfix, refresh=False)
        if self.world.is_main and time.monotonic() - self._last_save > self.cfg.ckpt_every_s:
            self.save()
            self._last_save = time.monotonic()

    def write(self, record: dict[str, Any]) -> None:
        """One line of the log, stamped with the step and the elapsed seconds."""
        if self._log:
            self._log.write(json.dumps({**record, "step": self.state.step, "elapsed_s": round(self.state.elapsed_s, 1)}) + "\n")
            self._log.flush()


def summary(state: Progressing, cfg: RunConfig, world: distributed.World = distributed.ALONE) -> dict[str, Any]:
    """What an export records of its run: steps, CPU-hours (of all its processes) and the whole
    configuration."""
    return {"steps": state.step, "cpu_hours": round(state.elapsed_s * cfg.threads * world.size / 3600, 2),
            "processes": world.size, "config": asdict(cfg)}


def check_levels(num_levels: int, from_top: tuple[int, ...] = (7, 4, 1)) -> list[int]:
    """The levels a run validates: the lowest, and those ``from_top`` counted down from the best
    (1 is the best), so that the same trade-offs are logged when levels are added below."""
    return sorted({1} | {max(1, num_levels + 1 - k) for k in from_top})


def level_drawer(level_weights: tuple[float, ...], num_levels: int) -> Callable[[], int]:
    """Draws each step's quality level (1 is the lowest): uniformly, or as often as ``level_weights``
    say, so that a run can spend its steps where the codec is weakest."""
    levels = list(range(1, num_levels + 1))
    if not level_weights:
        return lambda: random.choice(levels)
    if not (len(level_weights) == num_levels and sum(level_weights) > 0
            and all(math.isfinite(w) and w >= 0 for w in level_weights)):
        raise ValueError(f"--level-weights needs {num_levels} weights, none negative, not all zero")
    return lambda: random.choices(levels, level_weights)[0]
