"""The whole evaluation as ``aecodec eval`` runs it: images, codecs, sweep, then the files.

Writes into the output folder: ``measurements.csv``, ``<codec>.json`` for every codec,
``bd-rate.md``, ``rd-*.png`` and ``cache/`` (the measurements a rerun reuses).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from codec.errors import AecError
from codec.evaluate import codecs, dataset, metrics, plots, realism, report, sweep

DEFAULT_METRICS = ("psnr", "ms-ssim", "perceptual")


@dataclass(frozen=True)
class Request:
    inputs: tuple[Path, ...]
    out_dir: Path
    codecs: tuple[str, ...] | None = None  # None: every codec this installation can run
    metrics: tuple[str, ...] = DEFAULT_METRICS
    settings: dict[str, tuple[int, ...]] = field(default_factory=dict)  # per codec, instead of its sweep
    anchors: tuple[Path, ...] = ()  # published result files, or folders of them, to overlay
    jobs: int = 1
    weights_dir: str | None = None
    progress: bool = False


@dataclass(frozen=True)
class Outcome:
    measured: int
    reused: int
    files: list[Path]


def evaluate(req: Request, say: Callable[[str], None]) -> Outcome:
    """Run the sweep (reusing cached measurements) and write every result file; ``say`` gets notes."""
    metric_keys = metrics.result_keys(list(req.metrics))
    images = dataset.collect(req.inputs)
    for im in images:  # an unreadable image fails now, not after hours of measuring
        dataset.load_rgb(im.path)
    if note := dataset.check_kodak(images):
        say(note)
    adapters = select(req.codecs, req.settings, req.weights_dir, say)
    anchors = [report.load_anchor(p) for p in anchor_files(req.anchors)]
    tasks = sweep.plan(images, adapters, req.weights_dir)
    cache = sweep.Cache(req.out_dir / "cache")
    measurements, reused = sweep.run(tasks, metric_keys, cache, req.jobs, req.progress)
    per_image = tuple(k for k in metric_keys if k not in metrics.SET_METRICS)
    set_keys = [k for k in metric_keys if k in metrics.SET_METRICS]
    originals = sweep.originals(images, set_keys, cache) if set_keys else {}
    curves = [report.curve(a.name, a.description(), [m for m in measurements if m.codec == a.name], per_image,
                           _set_results([t for t in tasks if t.codec == a.name], set_keys, originals, cache))
              for a in adapters]
    files = _write(req.out_dir, measurements, per_image, curves, anchors, _title(req.inputs, len(images)))
    return Outcome(len(measurements) - reused, reused, files)


def _set_results(tasks: list[sweep.Task], set_keys: list[str], originals: dict[str, dict[str, np.ndarray]],
                 cache: sweep.Cache) -> dict[str, dict[int, float]]:
    """Per set metric and setting: the Fréchet distance between the windows of all originals and
    those of all decodings at that setting."""
    out: dict[str, dict[int, float]] = {k: {} for k in set_keys}
    for setting in dict.fromkeys(t.setting for t in tasks):
        decoded = [cache.features(t.key) for t in tasks if t.setting == setting]
        for k in set_keys:
            out[k][setting] = realism.frechet_distance(np.concatenate([o[k] for o in originals.values()]),
                                                       np.concatenate([d[k] for d in decoded]))
    return out


def select(names: Sequence[str] | None, settings: dict[str, tuple[int, ...]], weights_dir: str | None,
           warn: Callable[[str], None]) -> list[codecs.Codec]:
    """The adapters to run. A codec named explicitly must work; one from the default list that
    cannot run here (no GAN decoder, missing plugin) is skipped with a warning."""
    chosen = list(dict.fromkeys(names)) if names else list(codecs.names())
    if stray := sorted(set(settings) - set(chosen)):
        raise AecError(f"--settings for {', '.join(stray)}, which is not among the codecs evaluated")
    adapters = []
    for name in chosen:
        adapter = codecs.get(name, weights_dir, settings.get(name) or _levels_of(name, weights_dir))
        try:
            adapter.check()
        except codecs.Unavailable as e:
            if names:
                raise
            warn(f"skipping {e}")
            continue
        adapters.append(adapter)
    return adapters


def _levels_of(name: str, weights_dir: str | None) -> tuple[int, ...] | None:
    """aecodec's default sweep: every level of the weights evaluated, which need not have as many
    as the shipped ones (0.10's had 8, 0.11's 13)."""
    if not name.startswith("aec"):
        return None
    from codec import api

    return tuple(range(1, api.load_model(weights_dir).num_levels + 1))


def parse_settings(specs: Sequence[str]) -> dict[str, tuple[int, ...]]:
    """``["jpeg=20,80", "aec=1,8"]`` -> ``{"jpeg": (20, 80), "aec": (1, 8)}``."""
    out = {}
    for spec in specs:
        name, sep, values = spec.partition("=")
        try:
            if not sep:
                raise ValueError
            out[name.strip()] = tuple(int(v) for v in values.split(","))
        except ValueError:
            raise AecError(f"--settings {spec!r}: expected CODEC=Q1,Q2,... with integer settings") from None
    return out


def anchor_files(paths: Sequence[Path]) -> list[Path]:
    files: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            files += sorted(p.glob("*.json"))
        elif p.is_file():
            files.append(p)
        else:
            raise AecError(f"--anchors {p}: no such file or folder")
    return files


def _title(inputs: Sequence[Path], num_images: int) -> str:
    """The folder's or the file's name for one input, else how many images."""
    return Path(inputs[0]).resolve().name if len(inputs) == 1 else f"{num_images} images"


def _write(out: Path, measurements: list[sweep.Measurement], metric_keys: tuple[str, ...],
           curves: list[report.Curve], anchors: list[report.Curve], title: str) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    files = [out / "measurements.csv", out / "bd-rate.md"]
    report.write_csv(measurements, metric_keys, files[0])
    files[1].write_text(report.bd_rate_markdown(curves))
    for c in curves:
        files.append(out / f"{c.name}.json")
        report.write_json(c, files[-1])
    return files + plots.plot_all(curves, anchors, out, title)
