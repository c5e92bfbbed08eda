"""What both training stages share around their step: seeds and threads, the device and the
precision, and a session of the run folder (its log, the progress bar, the checkpoint timer and
the budget). Each stage keeps only its own state, step and validation."""

from __future__ import annotations

import json
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
from codec.train import precision


class Progressing(Protocol):
    step: int
    elapsed_s: float


class Run:
    """A stage's run on this machine: seeded, its threads set, its precision resolved."""

    def __init__(self, cfg: RunConfig) -> None:
        torch.manual_seed(cfg.seed)
        random.seed(cfg.seed)
        torch.set_num_threads(cfg.threads)
        self.device = precision.device(cfg.device)
        self.dtype = precision.resolve(cfg.precision, self.device)
        self.memory_format = precision.memory_format(self.dtype)

    def batch(self, x: torch.Tensor) -> torch.Tensor:
        """A batch on the run's device, in its memory format."""
        return x.to(self.device, memory_format=self.memory_format)

    def describe(self, cfg: RunConfig) -> dict[str, Any]:
        """The log's record of how this start runs (written at every start and resume)."""
        return {"precision": self.dtype, "device": str(self.device), "threads": cfg.threads}


class Session:
    """One start or resume of a run: appends to ``out_dir/log.jsonl``, shows a progress bar,
    keeps ``state.elapsed_s`` (resumed where the checkpoint left it), calls ``save`` every
    ``ckpt_every_s`` and once more when the budget is spent (not when interrupted)."""

    def __init__(self, cfg: RunConfig, state: Progressing, save: Callable[[], None]) -> None:
        self.cfg, self.state, self.save = cfg, state, save
        self._log: TextIO | None = None

    def __enter__(self) -> Session:
        Path(self.cfg.out_dir).mkdir(parents=True, exist_ok=True)
        self._log = (Path(self.cfg.out_dir) / "log.jsonl").open("a")
        self._bar = tqdm(total=self.cfg.max_steps, initial=self.state.step, mininterval=5)
        self._t0 = time.monotonic() - self.state.elapsed_s
        self._last_save = time.monotonic()
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None) -> None:
        try:
            if kind is None:
                self.save()
        finally:
            self._bar.close()
            self._log.close()

    @property
    def progress(self) -> float:
        return self.cfg.progress(self.state.step, self.state.elapsed_s)

    def running(self) -> bool:
        return self.progress < 1.0

    def stepped(self, **postfix: Any) -> None:
        """After each step: the clock, the bar and, when due, a checkpoint."""
        self.state.elapsed_s = time.monotonic() - self._t0
        self._bar.update(1)
        self._bar.set_postfix(**postfix, refresh=False)
        if time.monotonic() - self._last_save > self.cfg.ckpt_every_s:
            self.save()
            self._last_save = time.monotonic()

    def write(self, record: dict[str, Any]) -> None:
        """One line of the log, stamped with the step and the elapsed seconds."""
        self._log.write(json.dumps({**record, "step": self.state.step, "elapsed_s": round(self.state.elapsed_s, 1)}) + "\n")
        self._log.flush()


def summary(state: Progressing, cfg: RunConfig) -> dict[str, Any]:
    """What an export records of its run: steps, CPU-hours and the whole configuration."""
    return {"steps": state.step, "cpu_hours": round(state.elapsed_s * cfg.threads / 3600, 2), "config": asdict(cfg)}
