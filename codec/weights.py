"""Weights folders: ``model.safetensors`` + ``config.json`` (never pickles).

The config records the model architecture and the bitstream hash (frozen entropy tables,
hyper-synthesis, inverse gains), checked on load: a folder whose tables were edited or rebuilt
is refused.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from codec.config import ModelConfig
from codec.entropy import freeze_tables, tables_frozen
from codec.errors import WeightsError
from codec.model import AecModel

WEIGHTS_FILE = "model.safetensors"
CONFIG_FILE = "config.json"
PICKLE_SUFFIXES = (".pt", ".pth", ".ckpt", ".pkl", ".pickle", ".bin")
PREVIOUS_DIR = "previous-releases"  # earlier releases' weights, one folder per bitstream hash


def default_weights_dir() -> Path:
    """The shipped weights: ``codec/weights`` once installed, ``weights/`` in a source tree."""
    here = Path(__file__).resolve().parent
    installed = here / "weights"
    return installed if (installed / CONFIG_FILE).exists() else here.parent / "weights"


def previous_weights_dir(digest: bytes) -> Path | None:
    """The shipped copy of an earlier release's weights with this bitstream hash, if any: new
    weights change the tables, and files written with the old ones must keep decoding."""
    folder = default_weights_dir() / PREVIOUS_DIR / digest.hex()
    return folder if (folder / CONFIG_FILE).exists() else None


def export(model: AecModel, out_dir: Path, extra: dict[str, Any] | None = None) -> bytes:
    """Freeze the entropy tables of ``model`` and write the folder; returns the table hash."""
    out_dir.mkdir(parents=True, exist_ok=True)
    model = model.eval()
    freeze_tables(model)
    digest = model.bitstream_hash()
    state = {k: v.detach().contiguous() for k, v in model.state_dict().items()}
    save_file(state, str(out_dir / WEIGHTS_FILE))
    mask = os.umask(0)
    os.umask(mask)
    os.chmod(out_dir / WEIGHTS_FILE, 0o666 & ~mask)  # safetensors writes 0600; weights are shared files
    config = {"model": model.config.to_json(), "bitstream_sha256_8": digest.hex(), **(extra or {})}
    (out_dir / CONFIG_FILE).write_text(json.dumps(config, indent=2) + "\n")
    return digest


def read_config(weights_dir: Path) -> dict[str, Any]:
    path = Path(weights_dir) / CONFIG_FILE
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as e:
        raise WeightsError(f"cannot read weights config {path}: {e}") from None


def training_records(weights_dir: Path) -> dict[str, Any]:
    """What a folder's config says of how it was trained (everything but the architecture and
    the hash), for a later stage to carry into its own export."""
    return {k: v for k, v in read_config(weights_dir).items() if k not in ("model", "bitstream_sha256_8")}


def _refuse_pickles(weights_dir: Path) -> None:
    """Loading a pickle can run any code. aecodec never loads one, and refuses a folder holding
    one rather than let its owner believe a ``model.pt`` beside the safetensors is in use."""
    found = sorted(p.name for p in weights_dir.iterdir() if p.suffix.lower() in PICKLE_SUFFIXES)
    if found:
        raise WeightsError(f"{weights_dir} holds {', '.join(found)}: aecodec loads weights only from {WEIGHTS_FILE} "
                           "and never from pickles, which can run code; remove them")


def load(weights_dir: Path) -> AecModel:
    """Rebuild the model from a weights folder, with its frozen tables, ready to code."""
    return load_with_hash(weights_dir)[0]


def load_with_hash(weights_dir: Path) -> tuple[AecModel, bytes]:
    """:func:`load`, and the bitstream hash it checked (it hashes megabytes: compute it once)."""
    config = read_config(weights_dir)
    _refuse_pickles(Path(weights_dir))
    try:
        model = AecModel(ModelConfig.from_json(config["model"]))
        state = load_file(str(Path(weights_dir) / WEIGHTS_FILE))  # safetensors: data only, never code
        model.load_state_dict(state)
    except (OSError, KeyError, TypeError, ValueError, RuntimeError, SafetensorError) as e:
        raise WeightsError(f"cannot load weights from {weights_dir}: {e}") from None
    if not tables_frozen(model):
        raise WeightsError(f"weights in {weights_dir} have no frozen entropy tables")
    digest = model.bitstream_hash()
    if digest.hex() != config.get("bitstream_sha256_8"):
        raise WeightsError(f"entropy tables or hyperprior in {weights_dir} do not match their recorded hash")
    return model.eval(), digest
