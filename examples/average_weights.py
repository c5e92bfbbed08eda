"""Average the weights of stage-1 runs that continued the same weights (a "model soup",
Wortsman et al. 2022), rebuild the entropy tables, and validate the average beside each run.

    python examples/average_weights.py runs/rd16a/export runs/rd16u/export -o runs/soup16 \\
        --val ../shared/data/train/bsds500/val --val ../shared/data/val/city100
    python examples/compare_runs.py weights/training_log_rd15.jsonl runs/soup16 runs/rd16a runs/rd16u

Side-by-side runs from one starting point each end in a different spot of the same basin; their
mean is often better than either, for no training. The output folder is a weights folder (its
tables frozen anew from the averaged densities, so a new bitstream hash) with a ``log.jsonl``
holding one validation record in the training log's keys, which ``compare_runs.py`` reads; the
runs' own logs must hold their validations at the end (every stage-1 run writes one).
"""

from __future__ import annotations

import json
from pathlib import Path

import click
import torch

from codec import weights
from codec.errors import AecError
from codec.train import harness
from codec.train.data import validation_sets
from codec.train.loop import validate_all


def average(folders: list[Path]) -> torch.nn.Module:
    """The first folder's model holding the mean of every floating-point tensor of all of them."""
    try:
        models = [weights.load(f) for f in folders]
    except AecError as e:
        raise click.ClickException(str(e)) from None
    configs = {json.dumps(m.config.to_json(), sort_keys=True) for m in models}
    if len(configs) > 1:
        raise click.ClickException("the weights differ in architecture: only runs of one model can be averaged")
    states = [m.state_dict() for m in models]
    mean = {k: (torch.stack([s[k] for s in states]).mean(0) if v.is_floating_point() else v)
            for k, v in states[0].items()}
    models[0].load_state_dict(mean)
    return models[0]


@click.command()
@click.argument("folders", nargs=-1, required=True,
                type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("-o", "--out", required=True, type=click.Path(file_okay=False, path_type=Path))
@click.option("--val", "val_dirs", multiple=True, required=True, type=click.Path(exists=True, file_okay=False),
              help="Validation folders, in the order the runs were given them.")
@click.option("--crop", default=256, show_default=True)
def main(folders: tuple[Path, ...], out: Path, val_dirs: tuple[str, ...], crop: int) -> None:
    """FOLDERS: exports of stage-1 runs (two or more)."""
    if len(folders) < 2:
        raise click.ClickException("give two or more weights folders to average")
    model = average(list(folders))
    records = [weights.training_records(f) for f in folders]
    digest = weights.export(model, out, {"averaged": [str(f) for f in folders], "training": records[0].get("training")})
    sets = validation_sets(val_dirs, 24, crop, torch.device("cpu"))
    record = {"step": 0, **validate_all(model, sets, harness.check_levels(model.config.num_levels))}
    (out / "log.jsonl").write_text(json.dumps(record) + "\n")
    click.echo(f"{out}: the mean of {len(folders)} runs, bitstream {digest.hex()}")


if __name__ == "__main__":
    main()
