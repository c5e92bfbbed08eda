"""Where a stage-1 training step spends its time, at each precision.

    python examples/profile_step.py ../shared/data/train/bsds500/train --threads 1 [--precision fp32 --precision bf16]

Times ``train_step`` from the shipped weights on real crops (batch 4 of 256x256, the defaults),
after a few warm-up steps, and groups torch.profiler's self CPU time by the part of the step it
belongs to: the analysis and synthesis transforms (convolutions, GDN), the hyperprior and entropy
models, the contractive term's extra float32 pass, the optimizer (SOAP or Adam) and the EMA.
Data loading is timed apart (cutting and resizing crops in Pillow).
"""

from __future__ import annotations

import time
from dataclasses import replace

import click
import torch

from codec import weights
from codec.config import TrainConfig
from codec.train import precision
from codec.train.data import CropSampler, list_images
from codec.train.loop import State, train_step

PARTS = ("g_a", "quantize", "g_s", "rate-distortion", "contractive", "backward", "optimizer", "aux", "ema")


def _timed_step(s: State, x: torch.Tensor, cfg: TrainConfig, dtype: str) -> dict[str, float]:
    """One step with ``record_function`` ranges, from which the profiler's totals are read."""
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as prof:
        train_step(s, x, 4, cfg.lr, cfg, dtype)
    totals = {e.key: e.cpu_time_total / 1e6 for e in prof.key_averages() if e.key in PARTS}
    return totals


@click.command()
@click.argument("train_dirs", nargs=-1, required=True, type=click.Path(exists=True, file_okay=False))
@click.option("--threads", type=click.IntRange(1), default=1, show_default=True)
@click.option("--precision", "precisions", multiple=True, type=click.Choice(["fp32", "bf16"]),
              default=("fp32", "bf16"), show_default=True)
@click.option("--steps", type=click.IntRange(1), default=10, show_default=True, help="Timed steps (after 3 warm-up).")
def main(train_dirs: tuple[str, ...], threads: int, precisions: tuple[str, ...], steps: int) -> None:
    torch.set_num_threads(threads)
    cfg = replace(TrainConfig(), threads=threads)
    sampler = CropSampler(list_images(train_dirs), cfg.crop, cfg.downscale, seed=0)
    t0 = time.perf_counter()
    batches = [sampler.batch(cfg.batch) for _ in range(steps + 3)]
    load_s = (time.perf_counter() - t0) / len(batches)
    click.echo(f"data: {load_s * 1000:.0f} ms a batch of {cfg.batch} crops of {cfg.crop} px")
    for dtype in precisions:
        torch.manual_seed(0)
        s = State.create(replace(cfg, model=weights.load(weights.default_weights_dir()).config), weights.default_weights_dir())
        s.to(torch.device("cpu"), precision.memory_format(dtype))
        fmt = precision.memory_format(dtype)
        for x in batches[:3]:
            train_step(s, x.contiguous(memory_format=fmt), 4, cfg.lr, cfg, dtype)
        t0 = time.perf_counter()
        for x in batches[3:]:
            train_step(s, x.contiguous(memory_format=fmt), 4, cfg.lr, cfg, dtype)
        step_s = (time.perf_counter() - t0) / steps
        parts = _timed_step(s, batches[-1].contiguous(memory_format=fmt), cfg, dtype)
        whole = sum(parts.values())
        click.echo(f"{dtype}, {threads} thread(s): {step_s:.3f} s a step ({3600 / step_s:,.0f} steps an hour)")
        for name in PARTS:
            if name in parts:
                click.echo(f"  {name:16} {parts[name]:.3f} s  {100 * parts[name] / whole:4.0f} %")


if __name__ == "__main__":
    main()
