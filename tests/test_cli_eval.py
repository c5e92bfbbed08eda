"""``aecodec eval`` driven as a user drives it: a subprocess, real images, exit codes."""

from __future__ import annotations

import csv
import json
import subprocess
import sys

import pytest
from PIL import Image

from test_cli import one_error_line


@pytest.fixture()
def photos(tmp_path, astronaut):
    folder = tmp_path / "photos"
    folder.mkdir()
    Image.fromarray(astronaut[:192, :256]).save(folder / "face.png")
    Image.fromarray(astronaut[300:492, 200:456]).save(folder / "suit.png")
    return folder


def test_eval_two_images_two_codecs_two_settings(cli, tmp_path, photos):
    out = tmp_path / "results"
    args = ("eval", photos, "--codecs", "jpeg,webp", "--settings", "jpeg=30,85", "--settings", "webp=20,90",
            "--metrics", "psnr,ms-ssim", "--out", out)
    r = cli(*args)
    assert r.returncode == 0, r.stderr
    assert "8 measured, 0 reused" in r.stderr.decode()
    rows = list(csv.DictReader((out / "measurements.csv").open()))
    assert sorted((row["image"], row["codec"], row["setting"]) for row in rows) == sorted(
        (im, c, s) for im in ("face.png", "suit.png") for c, ss in (("jpeg", ("30", "85")), ("webp", ("20", "90")))
        for s in ss)
    for name in ("jpeg", "webp"):
        results = json.loads((out / f"{name}.json").read_text())["results"]
        assert results["bpp"][0] < results["bpp"][1] and results["psnr-rgb"][0] < results["psnr-rgb"][1]
    assert {p.name for p in out.glob("*.png")} == {"rd-psnr.png", "rd-ms-ssim.png", "rd-ms-ssim-db.png"}
    assert (out / "bd-rate.md").exists()

    again = cli(*args)
    assert again.returncode == 0 and "0 measured, 8 reused" in again.stderr.decode()


@pytest.mark.slow
def test_eval_aecodec_against_jpeg_with_every_metric(cli, tmp_path, photos):
    out = tmp_path / "results"
    r = cli("eval", photos / "face.png", "--codecs", "aec,jpeg", "--settings", "aec=2,7", "--settings", "jpeg=30,85",
            "--out", out, "--jobs", "2")
    assert r.returncode == 0, r.stderr
    aec = json.loads((out / "aec.json").read_text())["results"]
    assert list(aec) == ["bpp", "psnr-rgb", "ms-ssim-rgb", "st-lpips-vgg", "ms-gmsd", "encoding_time", "decoding_time"]
    assert aec["bpp"][0] < aec["bpp"][1] and aec["st-lpips-vgg"][0] > aec["st-lpips-vgg"][1]
    assert (out / "rd-st-lpips.png").exists() and (out / "rd-ms-gmsd.png").exists()


@pytest.mark.parametrize("args, message", [
    (("missing_folder",), "missing_folder: no such file or folder"),
    (("{photos}", "--codecs", "jpeg,bpg"), "unknown codec 'bpg'"),
    (("{photos}", "--metrics", "psnr,vmaf"), "unknown metric vmaf"),
    (("{photos}", "--settings", "jpeg=high"), "expected CODEC=Q1,Q2"),
    (("{photos}", "--codecs", "jpeg", "--settings", "jpeg=101"), "jpeg: settings must be integers in 0..100"),
    (("{photos}", "--codecs", "jpeg", "--anchors", "nowhere"), "--anchors nowhere: no such file or folder"),
    (("{tmp}/empty",), "no images"),
    (("{tmp}/broken",), "broken.png"),
])
def test_eval_bad_input_is_one_line(cli, tmp_path, photos, args, message):
    (tmp_path / "empty").mkdir()
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n truncated")
    args = [a.format(photos=photos, tmp=tmp_path) for a in args]
    line = one_error_line(cli("eval", *args, "--out", tmp_path / "out", cwd=tmp_path))
    assert line.startswith("aecodec: error:") and message in line, line


def test_eval_help_loads_neither_torch_nor_matplotlib():
    code = ("import sys; from codec.cli import main; sys.argv = ['aecodec', 'eval', '--help']\n"
            "try: main()\nexcept SystemExit: pass\n"
            "assert 'torch' not in sys.modules and 'matplotlib' not in sys.modules, 'heavy import'")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, check=False)
    assert r.returncode == 0, r.stderr
    assert b"--jobs" in r.stdout
    from codec.evaluate import codecs

    assert ", ".join(codecs.names()).encode() in b" ".join(r.stdout.split())  # the help names every codec
