"""Weights folders: the shipped one loads; tampered or incomplete ones are refused."""

from __future__ import annotations

import json
import shutil

import pytest
from safetensors.torch import load_file, save_file

from codec import weights
from codec.errors import WeightsError


@pytest.fixture()
def copy_of_shipped(tmp_path):
    dst = tmp_path / "w"
    shutil.copytree(weights.default_weights_dir(), dst)
    return dst


def test_shipped_weights_load_with_frozen_tables():
    model = weights.load(weights.default_weights_dir())
    config = weights.read_config(weights.default_weights_dir())
    assert model.bitstream_hash().hex() == config["bitstream_sha256_8"]


def test_edited_table_is_refused(copy_of_shipped):
    path = copy_of_shipped / weights.WEIGHTS_FILE
    state = load_file(str(path))
    state["gaussian_conditional._quantized_cdf"][0, 1] += 1
    save_file(state, str(path))
    with pytest.raises(WeightsError, match="do not match"):
        weights.load(copy_of_shipped)


def test_missing_tables_are_refused(copy_of_shipped):
    path = copy_of_shipped / weights.WEIGHTS_FILE
    state = {k: v for k, v in load_file(str(path)).items() if "_quantized_cdf" not in k}
    save_file(state, str(path))
    with pytest.raises(WeightsError):
        weights.load(copy_of_shipped)


def test_broken_config_is_refused(copy_of_shipped):
    (copy_of_shipped / weights.CONFIG_FILE).write_text("{not json")
    with pytest.raises(WeightsError, match="config"):
        weights.load(copy_of_shipped)
    (copy_of_shipped / weights.CONFIG_FILE).write_text(json.dumps({"model": {"channels": "many"}}))
    with pytest.raises(WeightsError):
        weights.load(copy_of_shipped)


def test_weights_are_never_pickles():
    for f in weights.default_weights_dir().iterdir():
        assert f.suffix in {".safetensors", ".json", ".jsonl", ".md", ".png"}, f
