"""``aecodec train`` (both stages) and ``aecodec export`` end to end on real photographs, with a
tiny model."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from codec.config import NUM_LEVELS


@pytest.fixture(scope="module")
def photos(tmp_path_factory) -> tuple[Path, Path]:
    """Four training photographs (as JPEG, like most of the real set) and a held-out one."""
    from skimage import data

    root = tmp_path_factory.mktemp("photos")
    (root / "train").mkdir()
    for name in ("astronaut", "coffee", "chelsea", "rocket"):
        Image.fromarray(getattr(data, name)()).save(root / "train" / f"{name}.jpg", quality=95)
    (root / "val").mkdir()
    Image.fromarray(data.immunohistochemistry()).save(root / "val" / "ihc.png")
    return root / "train", root / "val"


@pytest.fixture(scope="module")
def rd_run(cli, photos, tmp_path_factory) -> Path:
    run = tmp_path_factory.mktemp("rd") / "run"
    r = cli("train", photos[0], "--val", photos[1], "--out", run, "--steps", "12", "--channels", "8",
            "--latent-channels", "8", "--crop", "64", "--batch", "2", "--quiet")
    assert r.returncode == 0, r.stderr.decode()[-2000:]
    return run


def test_train_export_and_code_with_the_result(cli, photos, rd_run, tmp_path):
    log = [json.loads(line) for line in (rd_run / "log.jsonl").read_text().splitlines()]
    assert log[-1]["step"] == 12
    config = json.loads((rd_run / "export" / "config.json").read_text())
    assert config["model"]["channels"] == 8 and config["training"]["steps"] == 12

    r = cli("export", rd_run, "-o", tmp_path / "again")
    assert r.returncode == 0, r.stderr
    r = cli("export", photos[0], "-o", tmp_path / "nothing")
    assert r.returncode == 1 and b"holds no checkpoint.pt: export takes a stage-1 run folder" in r.stderr
    assert not (tmp_path / "nothing").exists()
    assert (tmp_path / "again" / "model.safetensors").exists()

    for weights in (rd_run / "export", tmp_path / "again"):
        aec, png = tmp_path / "x.aec", tmp_path / "x.png"
        assert cli("encode", photos[0] / "coffee.jpg", "-o", aec, "--weights", weights, "-f").returncode == 0
        assert cli("decode", aec, "-o", png, "--weights", weights, "-f").returncode == 0
        assert np.asarray(Image.open(png)).shape == Image.open(photos[0] / "coffee.jpg").size[::-1] + (3,)


def test_a_continued_run_exports_from_its_checkpoint(cli, photos, rd_run, tmp_path):
    """A run started from exported weights carries their frozen tables in its checkpoint."""
    run = tmp_path / "continued"
    r = cli("train", photos[0], "--init", rd_run / "export", "--out", run, "--steps", "2", "--crop", "64",
            "--batch", "2", "--quiet")
    assert r.returncode == 0, r.stderr.decode()[-2000:]
    r = cli("export", run, "-o", tmp_path / "w")
    assert r.returncode == 0, r.stderr.decode()[-2000:]
    assert (tmp_path / "w" / "model.safetensors").exists()


def test_a_run_with_soap_trains_and_exports(cli, photos, rd_run, tmp_path):
    import torch
    from safetensors.torch import load_file

    run = tmp_path / "soap"
    r = cli("train", photos[0], "--init", rd_run / "export", "--out", run, "--steps", "3", "--crop", "64",
            "--batch", "2", "--optimizer", "soap", "--quiet")
    assert r.returncode == 0, r.stderr.decode()[-2000:]
    config = json.loads((run / "export" / "config.json").read_text())
    assert config["training"]["config"]["optimizer"] == "soap" and config["training"]["steps"] == 3
    before = load_file(str(rd_run / "export" / "model.safetensors"))
    after = load_file(str(run / "export" / "model.safetensors"))
    assert any(not torch.equal(before[k], after[k]) for k in before if k.startswith("g_s."))


def test_resuming_with_another_optimizer_is_refused(cli, photos, rd_run):
    before = (rd_run / "checkpoint.pt").read_bytes()
    r = cli("train", photos[0], "--out", rd_run, "--resume", "--optimizer", "adam", "--steps", "13",
            "--channels", "8", "--latent-channels", "8", "--crop", "64", "--batch", "2")
    assert r.returncode == 1 and b"was trained with soap: resume with --optimizer soap" in r.stderr
    r = cli("train", photos[0], "--out", rd_run, "--resume", "--checkerboard", "--steps", "13",
            "--channels", "8", "--latent-channels", "8", "--crop", "64", "--batch", "2")
    assert r.returncode == 1 and b"resume without --checkerboard" in r.stderr
    assert (rd_run / "checkpoint.pt").read_bytes() == before


def test_checkerboard_context_is_added_to_initial_weights_and_codes(cli, photos, rd_run, tmp_path):
    """A continued run and its export-from-checkpoint both carry the new context; files round-trip."""
    run = tmp_path / "ckbd"
    r = cli("train", photos[0], "--init", rd_run / "export", "--out", run, "--steps", "3", "--crop", "64",
            "--batch", "2", "--checkerboard", "--quiet")
    assert r.returncode == 0, r.stderr.decode()[-2000:]
    assert cli("export", run, "-o", tmp_path / "again").returncode == 0
    for weights in (run / "export", tmp_path / "again"):
        config = json.loads((weights / "config.json").read_text())
        assert config["model"]["checkerboard"] and config["model"]["name"] == "aec-mshc-v1"
        aec, png = tmp_path / "x.aec", tmp_path / "x.png"
        assert cli("encode", photos[0] / "coffee.jpg", "-o", aec, "--weights", weights, "-f").returncode == 0
        assert cli("decode", aec, "-o", png, "--weights", weights, "-f").returncode == 0
        assert np.asarray(Image.open(png)).shape == Image.open(photos[0] / "coffee.jpg").size[::-1] + (3,)


def test_widened_model_trains_exports_and_must_be_resumed_as_wide(cli, photos, rd_run, tmp_path):
    run = tmp_path / "wide"
    r = cli("train", photos[0], "--init", rd_run / "export", "--out", run, "--steps", "2", "--crop", "64",
            "--batch", "2", "--latent-channels", "11", "--analysis-channels", "10", "--synthesis-channels", "12", "--quiet")
    assert r.returncode == 0, r.stderr.decode()[-2000:]
    config = json.loads((run / "export" / "config.json").read_text())["model"]
    assert (config["latent_channels"], config["analysis_channels"], config["synthesis_channels"]) == (11, 10, 12)
    aec, png = tmp_path / "x.aec", tmp_path / "x.png"
    assert cli("encode", photos[0] / "coffee.jpg", "-o", aec, "--weights", run / "export").returncode == 0
    assert cli("decode", aec, "-o", png, "--weights", run / "export").returncode == 0
    r = cli("train", photos[0], "--init", rd_run / "export", "--out", run, "--resume", "--steps", "3",
            "--crop", "64", "--batch", "2", "--analysis-channels", "10")
    assert r.returncode == 1 and b"resume with --latent-channels 11" in r.stderr
    r = cli("train", photos[0], "--init", rd_run / "export", "--out", run, "--resume", "--steps", "3",
            "--crop", "64", "--batch", "2", "--latent-channels", "11", "--analysis-channels", "10")
    assert r.returncode == 1 and b"resume with --synthesis-channels 12" in r.stderr


def test_lower_levels_train_export_and_must_be_resumed_with_them(cli, photos, rd_run, tmp_path):
    run = tmp_path / "low"
    r = cli("train", photos[0], "--init", rd_run / "export", "--out", run, "--steps", "2", "--crop", "64",
            "--batch", "2", "--lower-levels", "2", "--quiet")
    assert r.returncode == 0, r.stderr.decode()[-2000:]
    before, after = (json.loads((w / "config.json").read_text())["model"]["lambdas"] for w in (rd_run / "export", run / "export"))
    assert len(after) == len(before) + 2 and after[2:] == before and after[0] < after[1] < before[0]
    aec, png = tmp_path / "x.aec", tmp_path / "x.png"
    assert cli("encode", photos[0] / "coffee.jpg", "-o", aec, "-q", "1", "--weights", run / "export").returncode == 0
    assert cli("decode", aec, "-o", png, "--weights", run / "export").returncode == 0
    r = cli("train", photos[0], "--init", rd_run / "export", "--out", run, "--resume", "--steps", "3",
            "--crop", "64", "--batch", "2")
    assert r.returncode == 1 and b"resume with the --lower-levels the run started with" in r.stderr


def test_gan_stage_adds_a_decoder_that_reads_the_same_files(cli, photos, rd_run, tmp_path):
    rd_weights, gan_run = rd_run / "export", tmp_path / "gan"
    r = cli("train", photos[0], "--stage", "gan", "--init", rd_weights, "--val", photos[1], "--out", gan_run,
            "--steps", "8", "--crop", "64", "--batch", "2", "--adversarial-weight", "0.1,0.02", "--quiet")
    assert r.returncode == 0, r.stderr.decode()[-2000:]
    gan_weights = gan_run / "export"
    before, after = (json.loads((w / "config.json").read_text()) for w in (rd_weights, gan_weights))
    assert after["model"]["gan_decoder"] and after["bitstream_sha256_8"] == before["bitstream_sha256_8"]
    assert after["training"] == before["training"] and after["gan_training"]["steps"] == 8
    assert after["gan_training"]["config"]["adversarial_weight"] == 0.1
    assert after["gan_training"]["config"]["adversarial_weight_best"] == 0.02
    log = [json.loads(line) for line in (gan_run / "log.jsonl").read_text().splitlines()]
    assert "val_fidelity_q1_st_lpips" in log[0] and "val_gan_q1_psnr_db" in log[-1] and "perceptual" in log[-1]

    aec = tmp_path / "x.aec"  # written with the stage-1 weights, read by the stage-2 ones
    assert cli("encode", photos[1] / "ihc.png", "-o", aec, "--weights", rd_weights).returncode == 0

    def decoded(weights: Path, *realism: str) -> np.ndarray:
        png = tmp_path / "x.png"
        r = cli("decode", aec, "-o", png, "--weights", weights, "-f", *realism)
        assert r.returncode == 0, r.stderr
        return np.asarray(Image.open(png)).astype(np.float64)

    fidelity, gan = decoded(gan_weights, "--realism", "0"), decoded(gan_weights, "--realism", "1")
    half = decoded(gan_weights, "--realism", "0.5")
    np.testing.assert_array_equal(fidelity, decoded(rd_weights))
    np.testing.assert_array_equal(gan, decoded(gan_weights))  # the GAN decoder is the default
    apart = np.abs(gan - fidelity).mean()
    assert apart > 0
    assert np.abs(half - fidelity).mean() < apart and np.abs(half - gan).mean() < apart

    # A run whose discriminator starts from this one's: its parameters one Adam step (lr 4e-4)
    # away (the spectral norms' power-iteration vectors are not parameters).
    import torch

    def discriminator(run: Path, *options: str) -> dict[str, torch.Tensor]:
        r = cli("train", photos[0], "--stage", "gan", "--init", rd_weights, "--out", run, "--steps", "1",
                "--crop", "64", "--batch", "2", "--quiet", *options)
        assert r.returncode == 0, r.stderr.decode()[-2000:]
        return parameters(run)

    def parameters(run: Path) -> dict[str, torch.Tensor]:
        state = torch.load(run / "gan_checkpoint.pt", weights_only=True)["disc"]
        return {k: v for k, v in state.items() if not k.endswith(("._u", "._v"))}

    old = parameters(gan_run)
    warm = discriminator(tmp_path / "warm", "--discriminator", gan_run, "--seed", "1")
    fresh = discriminator(tmp_path / "fresh", "--seed", "1")
    assert max(float((warm[k] - old[k]).abs().max()) for k in old) < 1e-3
    assert max(float((fresh[k] - old[k]).abs().max()) for k in old) > 1e-2
    r = cli("train", photos[0], "--stage", "gan", "--init", rd_weights, "--out", tmp_path / "nodisc", "--steps", "1",
            "--discriminator", rd_run)
    assert r.returncode == 1 and b"holds no gan_checkpoint.pt: --discriminator takes a gan run folder" in r.stderr
    assert not (tmp_path / "nodisc").exists()

    # Resuming on top of other weights: one line, and the checkpoint left as it was.
    from codec import weights

    wide = weights.load(rd_weights)
    wide.widen_transforms(wide.config.encoder_channels, 2 * wide.config.decoder_channels)
    weights.export(wide, tmp_path / "wide")
    before = (gan_run / "gan_checkpoint.pt").read_bytes()
    r = cli("train", photos[0], "--stage", "gan", "--init", tmp_path / "wide", "--out", gan_run, "--resume",
            "--steps", "9", "--crop", "64", "--batch", "2")
    assert r.returncode == 1 and b"holds a model of another architecture" in r.stderr and b"Traceback" not in r.stderr
    assert (gan_run / "gan_checkpoint.pt").read_bytes() == before


def test_gan_decoder_absent_or_realism_out_of_range(cli, rd_run, photo_png, tmp_path):
    aec = tmp_path / "x.aec"
    assert cli("encode", photo_png, "-o", aec, "--weights", rd_run / "export").returncode == 0
    r = cli("decode", aec, "-o", tmp_path / "x.png", "--weights", rd_run / "export", "--realism", "1")
    assert r.returncode == 1 and b"no GAN decoder" in r.stderr and b"Traceback" not in r.stderr
    r = cli("decode", aec, "-o", tmp_path / "x.png", "--realism", "1.5")
    assert r.returncode == 2 and not (tmp_path / "x.png").exists()


def test_an_option_of_the_other_stage_is_refused(cli, photos, tmp_path):
    r = cli("train", photos[0], "--out", tmp_path / "run", "--steps", "1", "--adversarial-weight", "0.1")
    assert r.returncode == 1 and b"--adversarial-weight does not apply to --stage rd" in r.stderr
    r = cli("train", photos[0], "--stage", "gan", "--init", tmp_path, "--steps", "1", "--optimizer", "soap")
    assert r.returncode == 1 and b"--optimizer does not apply to --stage gan" in r.stderr
    r = cli("train", photos[0], "--stage", "gan", "--init", tmp_path, "--steps", "1", "--checkerboard")
    assert r.returncode == 1 and b"--checkerboard does not apply to --stage gan" in r.stderr
    r = cli("train", photos[0], "--stage", "gan", "--init", tmp_path, "--steps", "1", "--channels", "32")
    assert r.returncode == 1 and b"--channels does not apply to --stage gan" in r.stderr
    r = cli("train", photos[0], "--init", tmp_path, "--out", tmp_path / "run", "--steps", "1", "--channels", "32")
    assert r.returncode == 1 and b"--channels does not apply with --init: the weights set it" in r.stderr
    r = cli("train", photos[0], "--out", tmp_path / "run", "--steps", "1", "--discriminator", tmp_path)
    assert r.returncode == 1 and b"--discriminator does not apply to --stage rd" in r.stderr
    for option in ("--synthesis-channels", "--crop", "--batch", "--steps", "--threads"):  # --crop 0 meant the default
        r = cli("train", photos[0], "--out", tmp_path / "run", "--steps", "1", option, "0")
        assert r.returncode == 2 and b"Traceback" not in r.stderr and b"x>=1" in r.stderr, (option, r.stderr)
    for value in ("0.1,0", "1,2,3", "-0.1", "a,b"):
        r = cli("train", photos[0], "--stage", "gan", "--init", tmp_path, "--steps", "1", "--adversarial-weight", value)
        assert r.returncode == 2 and b"Traceback" not in r.stderr and b"--adversarial-weight" in r.stderr, (value, r.stderr)
    for option, value in (("--minutes", "0"), ("--minutes", "-1"), ("--lr", "0"), ("--contractive-weight", "-1")):
        r = cli("train", photos[0], "--out", tmp_path / "run", "--steps", "1", option, value)  # 0 divided, -1 never ended
        assert r.returncode == 2 and b"Traceback" not in r.stderr and b"is not in the range" in r.stderr, (option, r.stderr)
    assert not (tmp_path / "run").exists()


def test_level_weights_choose_the_levels_trained(cli, photos, rd_run, tmp_path):
    run = tmp_path / "q8"
    r = cli("train", photos[0], "--init", rd_run / "export", "--out", run, "--steps", "50", "--crop", "64",
            "--batch", "2", "--level-weights", ",".join(["0"] * (NUM_LEVELS - 1) + ["1"]), "--quiet")
    assert r.returncode == 0, r.stderr.decode()[-2000:]
    assert [json.loads(line)["q"] for line in (run / "log.jsonl").read_text().splitlines() if '"q"' in line] == [NUM_LEVELS]
    refused = f"--level-weights needs {NUM_LEVELS} weights, none negative, not all zero".encode()
    ones = ["1"] * (NUM_LEVELS - 1)
    for weights, status, message in (("1,2", 1, refused), (",".join(["0"] * NUM_LEVELS), 1, refused),
                                     (",".join(ones + ["-1"]), 1, refused), (",".join(ones + ["nan"]), 1, refused),
                                     ("a,b", 2, b"comma-separated")):
        r = cli("train", photos[0], "--out", tmp_path / "bad", "--steps", "1", "--level-weights", weights)
        assert r.returncode == status and message in r.stderr and b"Traceback" not in r.stderr, r.stderr
    assert not (tmp_path / "bad").exists()


def test_level_weights_choose_the_levels_the_gan_decoder_trains(cli, photos, rd_run, tmp_path):
    run, top = tmp_path / "gan", ",".join(["0"] * (NUM_LEVELS - 1) + ["1"])
    r = cli("train", photos[0], "--stage", "gan", "--init", rd_run / "export", "--out", run, "--steps", "25",
            "--crop", "64", "--batch", "2", "--level-weights", top, "--quiet")
    assert r.returncode == 0, r.stderr.decode()[-2000:]
    assert [json.loads(line)["q"] for line in (run / "log.jsonl").read_text().splitlines() if '"q"' in line] == [NUM_LEVELS]
    config = json.loads((run / "export" / "config.json").read_text())
    assert config["gan_training"]["config"]["level_weights"] == [0] * (NUM_LEVELS - 1) + [1]
    r = cli("train", photos[0], "--stage", "gan", "--init", rd_run / "export", "--out", tmp_path / "bad", "--steps", "1",
            "--level-weights", "1,2")
    assert r.returncode == 1 and f"--level-weights needs {NUM_LEVELS} weights".encode() in r.stderr, r.stderr
    assert not (tmp_path / "bad").exists()


def test_crops_larger_than_the_images_are_refused_before_the_run_starts(cli, photos, tmp_path):
    """The photos' short sides are 300 to 512 pixels; a small validation photo refuses a crop
    that every training photo serves."""
    r = cli("train", photos[0], "--out", tmp_path / "run", "--steps", "1", "--crop", "520")
    assert r.returncode == 1 and b"no training image has a short side of at least 520 pixels" in r.stderr
    small_val = tmp_path / "val"
    small_val.mkdir()
    with Image.open(photos[1] / "ihc.png") as im:
        im.crop((0, 0, 200, 150)).save(small_val / "small.png")
    r = cli("train", photos[0], "--val", small_val, "--out", tmp_path / "run", "--steps", "1", "--crop", "256")
    assert r.returncode == 1 and b"no validation image has a short side of at least 256 pixels" in r.stderr
    assert b"Traceback" not in r.stderr and not (tmp_path / "run").exists()


def test_gan_stage_needs_initial_weights(cli, photos, tmp_path):
    r = cli("train", photos[0], "--stage", "gan", "--out", tmp_path / "run", "--steps", "1")
    assert r.returncode == 1 and b"needs --init" in r.stderr


def test_train_refuses_an_empty_folder(cli, tmp_path):
    r = cli("train", tmp_path, "--out", tmp_path / "run", "--steps", "1")
    assert r.returncode == 1
    assert b"no images found" in r.stderr and b"Traceback" not in r.stderr


def test_joint_stage_trains_every_part_and_exports_a_new_bitstream(cli, photos, rd_run, tmp_path):
    """From weights with a GAN decoder: the encoder, the hyperprior and both decoders move, the
    tables are frozen anew, and files of the old weights are refused by the new in one line."""
    gan_run, joint_run = tmp_path / "gan", tmp_path / "joint"
    r = cli("train", photos[0], "--stage", "gan", "--init", rd_run / "export", "--out", gan_run, "--steps", "2",
            "--crop", "64", "--batch", "2", "--quiet")
    assert r.returncode == 0, r.stderr.decode()[-2000:]
    r = cli("train", photos[0], "--stage", "joint", "--init", rd_run / "export", "--out", tmp_path / "x", "--steps", "1")
    assert r.returncode == 1 and b"has no GAN decoder: --stage joint starts from the weights of a gan stage" in r.stderr
    r = cli("train", photos[0], "--stage", "joint", "--init", gan_run / "export", "--steps", "1", "--restart-decoder")
    assert r.returncode == 1 and b"--restart-decoder does not apply to --stage joint" in r.stderr
    r = cli("train", photos[0], "--stage", "joint", "--init", gan_run / "export", "--val", photos[1], "--out", joint_run,
            "--steps", "8", "--crop", "64", "--batch", "2", "--contractive-weight", "0.01", "--quiet")
    assert r.returncode == 0, r.stderr.decode()[-2000:]

    before, after = (json.loads((w / "export" / "config.json").read_text()) for w in (gan_run, joint_run))
    assert after["bitstream_sha256_8"] != before["bitstream_sha256_8"]
    assert after["gan_training"] == before["gan_training"] and after["joint_training"]["steps"] == 8
    assert after["joint_training"]["config"]["contractive_weight"] == 0.01
    log = [json.loads(line) for line in (joint_run / "log.jsonl").read_text().splitlines()]
    assert "val_q1_psnr_db" in log[0] and "val_gan_q1_st_lpips" in log[-1] and "perceptual" in log[-1]

    import torch
    from safetensors.torch import load_file

    old, new = (load_file(w / "export" / "model.safetensors") for w in (gan_run, joint_run))
    for part in ("g_a.", "latent.h_s.", "g_s.", "g_s_gan."):
        assert any(not torch.equal(old[k], new[k]) for k in old if k.startswith(part)), part

    aec = tmp_path / "x.aec"
    assert cli("encode", photos[1] / "ihc.png", "-o", aec, "--weights", joint_run / "export").returncode == 0
    for realism in ("0", "1"):
        r = cli("decode", aec, "-o", tmp_path / f"r{realism}.png", "--weights", joint_run / "export", "--realism", realism)
        assert r.returncode == 0, r.stderr
    r = cli("decode", aec, "-o", tmp_path / "old.png", "--weights", gan_run / "export")
    assert r.returncode == 1 and b"Traceback" not in r.stderr and not (tmp_path / "old.png").exists()



def test_the_adversarial_weight_falls_geometrically_from_the_lowest_level_to_the_best():
    from codec.config import GanConfig

    cfg = GanConfig(adversarial_weight=0.2, adversarial_weight_best=0.05)
    weights = [cfg.adversarial_at(q, 5) for q in range(1, 6)]
    assert weights[0] == pytest.approx(0.2) and weights[-1] == pytest.approx(0.05)
    assert weights[2] == pytest.approx(0.1)  # the geometric mean, halfway
    assert all(a > b for a, b in zip(weights, weights[1:]))
    assert [GanConfig(adversarial_weight=0.2).adversarial_at(q, 5) for q in (1, 5)] == [0.2, 0.2]
