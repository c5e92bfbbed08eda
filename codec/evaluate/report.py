"""Results as files: a CompressAI-style JSON per codec, a CSV of every measurement, BD-rate tables.

A codec's JSON has CompressAI's schema, so it overlays with the published result files::

    {"name": "webp", "description": "...",
     "results": {"bpp": [...], "psnr-rgb": [...], "ms-ssim-rgb": [...], ..., "encoding_time": [...],
                 "decoding_time": [...]},
     "settings": [...], "images": [...], "per_image": {"kodim01.png": {"bpp": [...], ...}, ...}}

Lists run over the settings; ``results`` holds the means over the images (CompressAI's
convention: mean bpp and mean PSNR, not the PSNR of the mean error). NaN is written as null.
"""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from codec.errors import AecError
from codec.evaluate import bdrate, metrics
from codec.evaluate.sweep import Measurement

TIMES = ("encoding_time", "decoding_time")
BD_RATE_INTRO = ("Bjontegaard delta rate of the row codec against the column codec, from the mean curves "
                 "(cubic fit of log-rate against quality over the overlapping quality range; "
                 "`codec/evaluate/bdrate.py`). Negative: the row codec needs fewer bits for the same quality. "
                 "n/a: fewer than four points or no overlap.\n")


@dataclass(frozen=True)
class Curve:
    """One codec's rate-distortion curve: per-setting means over images, and the per-image values."""

    name: str
    description: str
    results: dict[str, list[float]]
    settings: tuple[int, ...] = ()
    per_image: dict[str, dict[str, list[float]]] | None = None

    def to_json(self) -> dict:
        out = {"name": self.name, "description": self.description, "results": _nan_to_null(self.results),
               "settings": list(self.settings)}
        if self.per_image is not None:
            out["images"] = list(self.per_image)
            out["per_image"] = {im: _nan_to_null(d) for im, d in self.per_image.items()}
        return out


def _nan_to_null(values: dict[str, list[float]]) -> dict[str, list[float | None]]:
    return {k: [None if math.isnan(v) else v for v in vs] for k, vs in values.items()}


def _values(m: Measurement, keys: Sequence[str]) -> dict[str, float]:
    return {"bpp": m.bpp, **{k: m.metrics[k] for k in keys}, "encoding_time": m.encoding_time,
            "decoding_time": m.decoding_time}


def curve(name: str, description: str, measurements: Sequence[Measurement], metric_keys: Sequence[str],
          set_results: dict[str, dict[int, float]] | None = None) -> Curve:
    """The curve of one codec's measurements (every image at every setting); ``set_results``,
    by key and setting, holds the values of the set metrics, which have no per-image values."""
    settings = tuple(dict.fromkeys(m.setting for m in measurements))
    images = tuple(dict.fromkeys(m.image for m in measurements))
    table = {(m.image, m.setting): _values(m, metric_keys) for m in measurements}
    keys = ("bpp", *metric_keys, *TIMES)
    per_image = {im: {k: [table[im, s][k] for s in settings] for k in keys} for im in images}
    means = {k: [float(np.mean([table[im, s][k] for im in images])) for s in settings] for k in keys}
    means.update({k: [by_setting[s] for s in settings] for k, by_setting in (set_results or {}).items()})
    return Curve(name, description, means, settings, per_image)


def write_json(c: Curve, path: Path) -> None:
    path.write_text(json.dumps(c.to_json(), indent=1) + "\n")


def write_csv(measurements: Sequence[Measurement], metric_keys: Sequence[str], path: Path) -> None:
    """One row per measurement; MS-SSIM also in dB when measured."""
    columns = [k for key in metric_keys for k in ((key, "ms-ssim-rgb-db") if key == "ms-ssim-rgb" else (key,))]
    fields = ["image", "image_sha256", "width", "height", "codec", "setting", "bytes", "bpp", *columns, *TIMES]
    with path.open("w", newline="") as f:
        w = csv.DictWriter(f, fields)
        w.writeheader()
        for m in measurements:
            row = {"image": m.image, "image_sha256": m.image_sha256, "width": m.width, "height": m.height,
                   "codec": m.codec, "setting": m.setting, "bytes": m.bytes, **_values(m, metric_keys)}
            if "ms-ssim-rgb-db" in columns:
                row["ms-ssim-rgb-db"] = metrics.ms_ssim_db(m.metrics["ms-ssim-rgb"])
            w.writerow(row)


def load_anchor(path: Path) -> Curve:
    """A published result file in CompressAI's schema (``name``, ``results.bpp`` and metrics)."""
    try:
        data = json.loads(path.read_text())
        results = {k: [float("nan") if v is None else float(v) for v in vs] for k, vs in data["results"].items()}
        if len(results["bpp"]) < 2:
            raise ValueError("fewer than two points")
        return Curve(str(data.get("name", path.stem)), str(data.get("description", "")), results)
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as e:
        raise AecError(f"{path}: not a result file in CompressAI's schema ({type(e).__name__}: {e})") from None


def _quality(c: Curve, key: str) -> list[float]:
    values = c.results[key]
    if key == "ms-ssim-rgb":
        return [metrics.ms_ssim_db(v) for v in values]
    if key in metrics.SET_METRICS:  # a distance over orders of magnitude, made to grow with quality
        return [-10 * math.log10(max(v, 1e-12)) for v in values]
    return values


def bd_rate_markdown(curves: Sequence[Curve]) -> str:
    """BD-rate of every codec (rows) against every other (columns), for PSNR, MS-SSIM in dB and,
    when measured, the Fréchet distance of 256 px windows in dB."""
    parts = ["# BD-rate\n", BD_RATE_INTRO]
    for key, title in (("psnr-rgb", "PSNR (RGB)"), ("ms-ssim-rgb", "MS-SSIM (RGB, in dB)"),
                       ("fd-vgg-256", "Fréchet distance of VGG features of 256 px windows (in dB, -10 log10 FD)")):
        have = [c for c in curves if key in c.results]
        if len(have) < 2:
            continue
        parts += [f"\n## {title}\n", "| vs | " + " | ".join(c.name for c in have) + " |",
                  "|---" * (len(have) + 1) + "|"]
        for row in have:
            cells = [_bd_cell(col, row, key) if col is not row else "—" for col in have]
            parts.append(f"| **{row.name}** | " + " | ".join(cells) + " |")
    return "\n".join(parts) + "\n"


def _bd_cell(anchor: Curve, test: Curve, key: str) -> str:
    try:
        return f"{bdrate.bd_rate(anchor.results['bpp'], _quality(anchor, key), test.results['bpp'], _quality(test, key)):+.1f}%"
    except ValueError:
        return "n/a"
