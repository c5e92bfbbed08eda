"""Compare stage-1 runs by their last validation: the dB each run lies above a reference run's
rate-distortion curve at the same estimated rate, per validation set and level.

    python examples/compare_runs.py weights/training_log_rd13.jsonl runs/rd15-lr1e-4 runs/rd15-lr2e-4

The reference's curve is its last validation's (log-bpp, PSNR) points, interpolated linearly in
log-bpp and extended beyond its ends with the slope of the last two points. Runs are compared at
their own rates, so a run that moved along the curve (cheaper and worse) scores zero, not a loss.
The last line names the run with the highest mean: how sessions choose what to ship.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import click
import numpy as np

_KEY = re.compile(r"^(val_(?:.+_)?)q(\d+)_bpp_estimate$")


def last_validation(run: str) -> dict:
    """The last log record that holds validation figures (a run folder or its log file)."""
    path = Path(run) / "log.jsonl" if Path(run).is_dir() else Path(run)
    records = [json.loads(line) for line in path.read_text().splitlines()]
    found = [r for r in records if any(_KEY.match(k) for k in r)]
    if not found:
        raise click.ClickException(f"{run}: no validation record in its log")
    return found[-1]


def curves(record: dict) -> dict[str, dict[int, tuple[float, float]]]:
    """Per validation prefix: level -> (bpp, PSNR)."""
    out: dict[str, dict[int, tuple[float, float]]] = {}
    for key, bpp in record.items():
        if m := _KEY.match(key):
            prefix, q = m.group(1), int(m.group(2))
            out.setdefault(prefix, {})[q] = (bpp, record[f"{prefix}q{q}_psnr_db"])
    return out


def above(reference: dict[int, tuple[float, float]], bpp: float, psnr: float) -> float:
    """dB of (bpp, psnr) above the reference curve at that rate."""
    points = sorted(reference.values())
    x, y = np.log([p[0] for p in points]), np.array([p[1] for p in points])
    r = float(np.log(bpp))
    if r < x[0]:
        return psnr - float(y[0] + (r - x[0]) * (y[1] - y[0]) / (x[1] - x[0]))
    if r > x[-1]:
        return psnr - float(y[-1] + (r - x[-1]) * (y[-1] - y[-2]) / (x[-1] - x[-2]))
    return psnr - float(np.interp(r, x, y))


@click.command()
@click.argument("reference", type=click.Path(exists=True))
@click.argument("runs", nargs=-1, required=True, type=click.Path(exists=True))
def main(reference: str, runs: tuple[str, ...]) -> None:
    """REFERENCE and RUNS: run folders or log files of stage 1, validated on the same sets."""
    base = curves(last_validation(reference))
    means: dict[str, float] = {}
    for run in runs:
        record = last_validation(run)
        gains = {f"{prefix}q{q}": above(base[prefix], bpp, psnr)
                 for prefix, levels in curves(record).items() if prefix in base and len(base[prefix]) > 1
                 for q, (bpp, psnr) in sorted(levels.items())}
        if not gains:
            raise click.ClickException(f"{run}: no validation set in common with {reference}")
        means[run] = float(np.mean(list(gains.values())))
        cells = "  ".join(f"{k.removeprefix('val_')} {v:+.3f}" for k, v in gains.items())
        click.echo(f"{run} (step {record['step']}): {cells}  mean {means[run]:+.3f} dB")
    click.echo(f"best: {max(means, key=means.get)}")


if __name__ == "__main__":
    main()
