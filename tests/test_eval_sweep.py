"""The evaluation pipeline on real photographs: bpp accounting, cache reuse, the CSV and JSON files,
the Kodak check."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import codec
from codec.errors import AecError
from codec.evaluate import codecs, dataset, report, sweep
from codec.evaluate.pipeline import Request, evaluate


@pytest.fixture()
def photos(tmp_path: Path, astronaut: np.ndarray) -> Path:
    """Two 256x192 crops of a real photograph (MS-SSIM needs sides above 160 pixels)."""
    folder = tmp_path / "photos"
    folder.mkdir()
    Image.fromarray(astronaut[:192, :256]).save(folder / "face.png")
    Image.fromarray(astronaut[300:492, 200:456]).save(folder / "suit.png")
    return folder


def request(photos: Path, out: Path, **kw) -> Request:
    kw.setdefault("codecs", ("jpeg", "webp"))
    kw.setdefault("metrics", ("psnr",))
    kw.setdefault("settings", {"jpeg": (20, 80), "webp": (20, 80)})
    return Request((photos,), out, **kw)


@pytest.mark.parametrize("name, setting", [("aec", 3), ("jpeg", 50), ("avif", 40)])
def test_bpp_is_eight_times_the_whole_file_over_the_pixels(photos, name, setting):
    [image] = dataset.collect([photos / "face.png"])
    adapter = codecs.get(name, settings=(setting,))
    [task] = sweep.plan([image], [adapter], None)
    m, features = sweep.measure(task, ("psnr-rgb",))
    assert features == {}
    data = adapter.encode(dataset.load_rgb(image.path), setting)  # every codec here is deterministic
    assert m.bytes == len(data)
    assert (m.width, m.height) == (256, 192)
    assert m.bpp == 8 * len(data) / (256 * 192)
    if name == "aec":  # the whole .aec file, header included
        assert codec.info(data).bpp == pytest.approx(m.bpp)
        assert codec.info(data).latent_bytes < len(data)


def test_a_rerun_reuses_every_finished_measurement(photos, tmp_path, monkeypatch):
    out = tmp_path / "out"
    first = evaluate(request(photos, out), print)
    assert (first.measured, first.reused) == (8, 0)
    csv_before = (out / "measurements.csv").read_text()

    made = []
    real_measure = sweep.measure
    monkeypatch.setattr(sweep, "measure", lambda task, keys: made.append(task) or real_measure(task, keys))
    second = evaluate(request(photos, out), print)
    assert (second.measured, second.reused, made) == (0, 8, [])
    assert (out / "measurements.csv").read_text() == csv_before  # times included: nothing was re-measured

    # a new setting, a changed image and a metric not measured before are measured; nothing else
    assert evaluate(request(photos, out, settings={"jpeg": (20, 50, 80), "webp": (20, 80)}), print).measured == 2
    Image.fromarray(np.asarray(Image.open(photos / "suit.png"))[::-1].copy()).save(photos / "suit.png")
    made.clear()
    assert evaluate(request(photos, out), print).measured == 4
    assert {t.image.name for t in made} == {"suit.png"}
    assert evaluate(request(photos, out, metrics=("ms-ssim",)), print).measured == 8
    assert evaluate(request(photos, out, metrics=("psnr", "ms-ssim")), print).measured == 0  # kept psnr too


def test_csv_and_json_follow_their_schemas(photos, tmp_path):
    out = tmp_path / "out"
    anchor = tmp_path / "published.json"
    anchor.write_text(json.dumps({"name": "Published", "description": "x",
                                  "results": {"bpp": [0.2, 0.5, 1.0], "psnr-rgb": [28, 32, 36]}}))
    evaluate(request(photos, out, metrics=("psnr", "ms-ssim"), anchors=(anchor,)), print)

    rows = list(csv.DictReader((out / "measurements.csv").open()))
    assert list(rows[0]) == ["image", "image_sha256", "width", "height", "codec", "setting", "bytes", "bpp",
                             "psnr-rgb", "ms-ssim-rgb", "ms-ssim-rgb-db", "encoding_time", "decoding_time"]
    assert len(rows) == 2 * 2 * 2
    for r in rows:
        assert float(r["bpp"]) == pytest.approx(8 * int(r["bytes"]) / (int(r["width"]) * int(r["height"])))
        assert 0 < float(r["ms-ssim-rgb"]) < 1 and float(r["encoding_time"]) > 0

    for name in ("jpeg", "webp"):
        data = json.loads((out / f"{name}.json").read_text())
        assert data["name"] == name and name.upper()[:3] in data["description"].upper()
        assert list(data["results"]) == ["bpp", "psnr-rgb", "ms-ssim-rgb", "encoding_time", "decoding_time"]
        assert data["settings"] == [20, 80] and data["images"] == ["face.png", "suit.png"]
        for key, means in data["results"].items():
            per_image = [data["per_image"][im][key] for im in data["images"]]
            assert means == pytest.approx(np.mean(per_image, axis=0).tolist())
        assert report.load_anchor(out / f"{name}.json").results["bpp"] == data["results"]["bpp"]

    assert "| **jpeg** | — | n/a |" in (out / "bd-rate.md").read_text()  # two points are too few
    for figure in ("rd-psnr.png", "rd-ms-ssim.png", "rd-ms-ssim-db.png"):
        assert Image.open(out / figure).size[0] > 500


def test_bd_rate_table_of_real_sweeps(photos, tmp_path):
    out = tmp_path / "out"
    q = (10, 30, 50, 70, 90)
    evaluate(request(photos, out, metrics=("psnr", "ms-ssim"), settings={"jpeg": q, "webp": q}), print)
    text = (out / "bd-rate.md").read_text()
    webp_vs_jpeg = float(text.split("| **webp** | ")[1].split("%")[0])
    assert -60 < webp_vs_jpeg < -5, text  # WebP needs fewer bits than JPEG on photographs


def test_the_published_anchors_load(kodak_dir):
    folder = kodak_dir.parent.parent / "anchors" / "compressai-kodak"
    if not folder.is_dir():
        pytest.skip(f"no published anchors at {folder}")
    curves = [report.load_anchor(p) for p in sorted(folder.glob("*.json"))]
    assert {"JPEG", "VTM"} <= {c.name for c in curves}
    assert all(len(c.results["bpp"]) == len(c.results["psnr-rgb"]) for c in curves)


def test_kodak_files_are_checked_against_the_published_checksums(kodak_dir, tmp_path):
    assert dataset.check_kodak(dataset.collect([kodak_dir])) == "Kodak: all 24 images match the published checksums"
    folder = tmp_path / "kodak"
    folder.mkdir()
    shutil.copy(kodak_dir / "kodim23.png", folder)
    assert "1 of 24 images" in dataset.check_kodak(dataset.collect([folder]))
    Image.open(kodak_dir / "kodim05.png").save(folder / "kodim05.png", compress_level=1)  # same pixels, other bytes
    with pytest.raises(AecError, match="kodim05.png is not the published Kodak image"):
        dataset.check_kodak(dataset.collect([folder]))
    assert dataset.check_kodak(dataset.collect([folder / "kodim23.png"])) is not None


def test_the_shipped_checksums_are_the_shared_list(kodak_dir):
    assert dataset.KODAK_SHA256.read_text() == (kodak_dir.parent / "kodak.sha256").read_text()


def test_inputs_that_cannot_be_evaluated(tmp_path, photos):
    with pytest.raises(AecError, match="no such file"):
        dataset.collect([tmp_path / "missing"])
    (tmp_path / "empty").mkdir()
    with pytest.raises(AecError, match="no images"):
        dataset.collect([tmp_path / "empty"])
    with pytest.raises(AecError, match="two inputs are named face.png"):
        dataset.collect([photos, photos / "face.png"])
