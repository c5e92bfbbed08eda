"""Plot the learning curve of training runs from their ``log.jsonl``.

    python examples/learning_curve.py runs/rd1 runs/rd2 -o weights/learning_curve.png

Several runs are drawn one after the other (a run continued with ``--init`` from the one before).
A resumed run logs the steps since its checkpoint again; the later records win.
Left: validation PSNR of the EMA weights on the held-out crops at three quality levels (estimated
bpp in the legend); right: real coded bpp and PSNR on Kodak, logged every 30 minutes.
"""

from __future__ import annotations

import json
from pathlib import Path

import click
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


@click.command()
@click.argument("run_dirs", nargs=-1, required=True, type=click.Path(exists=True, file_okay=False))
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False))
def main(run_dirs: tuple[str, ...], output: str) -> None:
    records: list[dict] = []
    for run_dir in run_dirs:
        offset = records[-1]["elapsed_s"] if records else 0.0
        start = len(records)
        for line in (Path(run_dir) / "log.jsonl").read_text().splitlines():
            r = json.loads(line)
            r["elapsed_s"] += offset
            while len(records) > start and records[-1]["step"] >= r["step"] and records[-1]["elapsed_s"] > r["elapsed_s"]:
                records.pop()  # logged again after a resume from an earlier checkpoint
            records.append(r)
    fig, (ax_val, ax_kodak) = plt.subplots(1, 2, figsize=(11, 4))
    for prefix, ax in (("val_", ax_val), ("kodak_", ax_kodak)):
        keys = sorted({k for r in records for k in r if k.startswith(prefix) and k.endswith("psnr_db")})
        for key in keys:
            points = [(r["elapsed_s"] / 60, r[key]) for r in records if key in r]
            bpp_key = key.replace("psnr_db", "bpp_estimate" if prefix == "val_" else "bpp")
            last_bpp = [r[bpp_key] for r in records if bpp_key in r][-1]
            label = f"{key.removeprefix(prefix).split('_')[0]} ({last_bpp:.2f} bpp at the end)"
            ax.plot(*zip(*points), marker="." if prefix == "kodak_" else None, label=label)
        ax.set_xlabel("wall-clock minutes of training (see the model card for cores)")
        ax.set_ylabel("PSNR (dB)")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    ax_val.set_title("held-out crops (EMA weights)")
    ax_kodak.set_title("Kodak, real coded bytes (EMA weights)")
    fig.tight_layout()
    fig.savefig(output, dpi=100)


if __name__ == "__main__":
    main()
