"""Training precision and device (chosen from the processor), and the training data's sampling:
area-proportional draws and the block-grid measure that decides which sources are cut at full size."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from codec.train import precision
from codec.train.data import CropSampler, blockiness, is_clean


def _cpu_flags() -> set[str]:
    text = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists() else ""
    return {flag for line in text.splitlines() if line.startswith("flags") for flag in line.split(":", 1)[1].split()}


@pytest.mark.skipif(not Path("/proc/cpuinfo").exists(), reason="needs /proc/cpuinfo to read the processor's flags")
def test_auto_is_bf16_exactly_where_the_processor_has_amx():
    """Read independently of torch: the kernel's CPU flags name the AMX bf16 tiles."""
    expected = "bf16" if {"amx_bf16", "amx_tile"} <= _cpu_flags() else "fp32"
    assert precision.resolve("auto", torch.device("cpu")) == expected
    assert precision.resolve("fp32", torch.device("cpu")) == "fp32"
    assert precision.resolve("bf16", torch.device("cpu")) == "bf16"
    with pytest.raises(ValueError, match="unknown precision 'fp16'"):
        precision.resolve("fp16", torch.device("cpu"))


def test_the_rate_path_stays_float32_under_bf16_autocast():
    """The likelihoods and the decoder's input are what fp32 gives, bit for bit, with the
    transforms in bfloat16 around them."""
    from codec import weights

    model = weights.load(weights.default_weights_dir()).eval()  # rounding, not noise: repeatable
    y = (torch.randn(1, model.config.latent_channels, 8, 8) * 3).bfloat16().float()  # the same values in both
    plain = model.latent(y, 4)
    with precision.autocast("bf16", torch.device("cpu")):
        mixed = model.latent(y.bfloat16(), 4)
        x_hat = model.g_s(mixed[0])
    assert all(t.dtype == torch.float32 for t in mixed)
    for a, b in zip(plain, mixed):
        torch.testing.assert_close(a, b, atol=0.0, rtol=0.0)
    assert x_hat.dtype == torch.bfloat16  # the transforms did run in bfloat16


def test_a_bf16_run_records_its_precision_and_exports_weights_that_code(cli, tmp_path, astronaut):
    train = tmp_path / "train"
    train.mkdir()
    Image.fromarray(astronaut).save(train / "a.png")
    Image.fromarray(astronaut[::-1].copy()).save(train / "b.png")
    run = tmp_path / "run"
    r = cli("train", train, "--val", train, "--out", run, "--steps", "3", "--channels", "8", "--latent-channels", "8",
            "--crop", "64", "--batch", "2", "--precision", "bf16", "--device", "cpu", "--quiet")
    assert r.returncode == 0, r.stderr.decode()[-2000:]
    log = [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]
    assert log[0]["precision"] == "bf16" and log[0]["device"] == "cpu"
    config = json.loads((run / "export" / "config.json").read_text())
    assert config["training"]["config"]["precision"] == "bf16"
    aec = tmp_path / "x.aec"
    assert cli("encode", train / "a.png", "-o", aec, "--weights", run / "export").returncode == 0
    assert cli("decode", aec, "-o", tmp_path / "x.png", "--weights", run / "export").returncode == 0


def test_each_validation_folder_is_logged_under_its_own_name(cli, tmp_path, astronaut):
    train, other = tmp_path / "train", tmp_path / "city"
    for folder in (train, other):
        folder.mkdir()
    Image.fromarray(astronaut).save(train / "a.png")
    Image.fromarray(astronaut[:, ::-1].copy()).save(other / "b.png")
    run = tmp_path / "run"
    r = cli("train", train, "--val", train, "--val", other, "--out", run, "--steps", "1", "--channels", "8",
            "--latent-channels", "8", "--crop", "64", "--batch", "1", "--precision", "fp32", "--quiet")
    assert r.returncode == 0, r.stderr.decode()[-2000:]
    (record,) = [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines() if "val_q1_psnr_db" in line]
    assert "val_city_q1_psnr_db" in record and record["val_city_q1_psnr_db"] != record["val_q1_psnr_db"]


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a CUDA GPU")
def test_a_missing_gpu_is_refused_in_one_line(cli, tmp_path, astronaut):
    Image.fromarray(astronaut).save(tmp_path / "a.png")
    for stage in ("rd", "gan"):
        extra = ("--init", "weights") if stage == "gan" else ()
        r = cli("train", tmp_path, "--stage", stage, *extra, "--out", tmp_path / "run", "--steps", "1",
                "--device", "cuda")
        assert r.returncode == 1 and b"--device cuda: no such CUDA GPU here" in r.stderr, r.stderr
        assert b"Traceback" not in r.stderr and not (tmp_path / "run").exists()


def _jpeg(pixels: np.ndarray, quality: int) -> Image.Image:
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, "JPEG", quality=quality)
    return Image.open(io.BytesIO(buf.getvalue()))


def test_blockiness_tells_a_blocky_jpeg_from_a_clean_source(astronaut):
    assert is_clean(Image.fromarray(astronaut)) and blockiness(Image.fromarray(astronaut)) < 1.05
    assert is_clean(_jpeg(astronaut, 95))
    assert not is_clean(_jpeg(astronaut, 20)) and blockiness(_jpeg(astronaut, 20)) > 1.3


def test_images_are_drawn_in_proportion_to_their_area(tmp_path, astronaut):
    """A 512x512 photo and a flat 128x128 one: 16 to 1 in area, so about 16 to 1 in crops."""
    Image.fromarray(astronaut).save(tmp_path / "large.png")
    Image.fromarray(np.full((128, 128, 3), 90, np.uint8)).save(tmp_path / "flat.png")
    sampler = CropSampler([tmp_path / "large.png", tmp_path / "flat.png"], 64, (0.5, 0.95), seed=1)
    flat = int((sampler.batch(1700).std(dim=(1, 2, 3)) < 1 / 255).sum())
    assert 1700 / 21 < flat < 1700 / 12


def test_a_run_resumes_at_another_precision_and_layout(cli, tmp_path, astronaut):
    """A bf16 run's checkpoint (channels-last tensors, SOAP state) continues in fp32, as a run
    moved to a machine without AMX (or from a GPU, whose checkpoint is read onto the CPU) would."""
    Image.fromarray(astronaut).save(tmp_path / "a.png")
    run = tmp_path / "run"
    common = ("train", tmp_path, "--out", run, "--channels", "8", "--latent-channels", "8", "--crop", "64",
              "--batch", "1", "--device", "cpu", "--quiet")
    assert cli(*common, "--steps", "4", "--minutes", "0.05", "--precision", "bf16").returncode == 0
    r = cli(*common, "--steps", "6", "--precision", "fp32", "--resume")
    assert r.returncode == 0, r.stderr.decode()[-2000:]
    log = [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]
    assert [r["precision"] for r in log if "precision" in r] == ["bf16", "fp32"]  # logged at each start
    assert log[-1]["step"] == 6
    assert json.loads((run / "export" / "config.json").read_text())["training"]["config"]["precision"] == "fp32"
