"""The learning-rate schedule shared by both training stages."""

from __future__ import annotations

import math


def cosine_lr(step: int, progress: float, peak: float, floor: float, warmup_steps: int) -> float:
    """Linear warm-up over ``warmup_steps``, then cosine decay from ``peak`` to ``floor`` as
    ``progress`` (the fraction of the run's budget spent) goes from 0 to 1."""
    if step < warmup_steps:
        return peak * (step + 1) / warmup_steps
    return floor + 0.5 * (peak - floor) * (1 + math.cos(math.pi * min(progress, 1.0)))
