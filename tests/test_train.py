"""``aecodec train`` and ``aecodec export`` end to end on real photographs, with a tiny model."""

from __future__ import annotations

import json

import numpy as np
from PIL import Image


def test_train_export_and_code_with_the_result(cli, tmp_path):
    from skimage import data

    photos = tmp_path / "photos"
    photos.mkdir()
    for name in ("astronaut", "coffee", "chelsea", "rocket"):
        Image.fromarray(getattr(data, name)()).save(photos / f"{name}.jpg", quality=95)
    held_out = tmp_path / "val"
    held_out.mkdir()
    Image.fromarray(data.immunohistochemistry()).save(held_out / "ihc.png")

    run = tmp_path / "run"
    r = cli("train", photos, "--val", held_out, "--out", run, "--steps", "12", "--channels", "8",
            "--latent-channels", "8", "--crop", "64", "--batch", "2", "-q")
    assert r.returncode == 0, r.stderr.decode()[-2000:]
    log = [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]
    assert log[-1]["step"] == 12
    config = json.loads((run / "export" / "config.json").read_text())
    assert config["model"]["channels"] == 8 and config["training"]["steps"] == 12

    r = cli("export", run, "-o", tmp_path / "again")
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "again" / "model.safetensors").exists()

    for weights in (run / "export", tmp_path / "again"):
        aec, png = tmp_path / "x.aec", tmp_path / "x.png"
        assert cli("encode", photos / "coffee.jpg", "-o", aec, "--weights", weights, "-f").returncode == 0
        assert cli("decode", aec, "-o", png, "--weights", weights, "-f").returncode == 0
        assert np.asarray(Image.open(png)).shape == data.coffee().shape


def test_train_refuses_an_empty_folder(cli, tmp_path):
    r = cli("train", tmp_path, "--out", tmp_path / "run", "--steps", "1")
    assert r.returncode == 1
    assert b"no images found" in r.stderr and b"Traceback" not in r.stderr
