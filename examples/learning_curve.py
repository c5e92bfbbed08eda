"""Plot the learning curve of training runs from their ``log.jsonl``.

    python examples/learning_curve.py runs/rd1 weights/training_log_rd2.jsonl -o weights/learning_curve.png

Several runs are drawn one after the other (a run continued with ``--init`` from the one before).
A resumed run logs the steps since its checkpoint again; the later records win. Levels are named
as in the run with the most: a run with fewer levels (before ``--lower-levels`` added some below) has its
numbers moved up, since every run validates its best level.
One panel per validation folder: PSNR of the EMA weights on its held-out crops at three quality
levels (estimated bpp in the legend); the last: real coded bpp and PSNR on Kodak, logged every 30
minutes.
"""

from __future__ import annotations

import json
from pathlib import Path

import click
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def _prefixes(records: list[dict]) -> list[str]:
    """``val_`` (the first validation folder), then ``val_<folder>_`` of the others, then ``kodak_``."""
    extra = sorted({k[: k.index("_q") + 1] for r in records for k in r
                    if k.startswith("val_") and not k.startswith("val_q") and "_q" in k})
    return ["val_", *extra, "kodak_"]


def _level(key: str) -> int:
    """The level of a validation key (``val_q8_psnr_db``, ``kodak_q8_bpp``), else 0."""
    head, _, rest = key.partition("_q")
    number = rest.split("_")[0]
    return int(number) if head.startswith(("val", "kodak")) and number.isdigit() else 0


def _renumbered(key: str, shift: int) -> str:
    level = _level(key)
    return key.replace(f"_q{level}_", f"_q{level + shift}_", 1) if level and shift else key


@click.command()
@click.argument("runs", nargs=-1, required=True, type=click.Path(exists=True))
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False))
def main(runs: tuple[str, ...], output: str) -> None:
    """RUNS: run folders (their log.jsonl) or the log files themselves, in training order."""
    logs = [[json.loads(line) for line in (Path(run) / "log.jsonl" if Path(run).is_dir() else Path(run)).read_text().splitlines()]
            for run in runs]
    best = [max((_level(k) for r in log for k in r), default=0) for log in logs]
    records: list[dict] = []
    for log, levels in zip(logs, best):
        offset = records[-1]["elapsed_s"] if records else 0.0
        start = len(records)
        for r in log:
            r = {_renumbered(k, max(best) - levels): v for k, v in r.items()}
            r["elapsed_s"] += offset
            while len(records) > start and records[-1]["step"] >= r["step"] and records[-1]["elapsed_s"] > r["elapsed_s"]:
                records.pop()  # logged again after a resume from an earlier checkpoint
            records.append(r)
    prefixes = _prefixes(records)
    fig, axes = plt.subplots(1, len(prefixes), figsize=(5.5 * len(prefixes), 4))
    for prefix, ax in zip(prefixes, axes):
        keys = sorted({k for r in records for k in r if k.startswith(prefix) and k.endswith("psnr_db")
                       and k.removeprefix(prefix).startswith("q")}, key=_level)
        for key in keys:
            points = [(r["elapsed_s"] / 60, r[key]) for r in records if key in r]
            bpp_key = key.replace("psnr_db", "bpp_estimate" if prefix.startswith("val_") else "bpp")
            last_bpp = [r[bpp_key] for r in records if bpp_key in r][-1]
            label = f"{key.removeprefix(prefix).split('_')[0]} ({last_bpp:.2f} bpp at the end)"
            ax.plot(*zip(*points), marker="." if prefix == "kodak_" or len(points) < 30 else None, label=label)
        ax.set_xlabel("wall-clock minutes of training (see the model card for cores)")
        ax.set_ylabel("PSNR (dB)")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
        ax.set_title("Kodak, real coded bytes (EMA weights)" if prefix == "kodak_" else
                     "held-out crops, first --val (EMA weights)" if prefix == "val_" else
                     f"held-out crops, {prefix.removeprefix('val_').rstrip('_')} (EMA weights)")
    fig.tight_layout()
    fig.savefig(output, dpi=100)


if __name__ == "__main__":
    main()
