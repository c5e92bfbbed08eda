"""Every image x codec x setting: encode, decode, measure. Cached, optionally in parallel.

A measurement is cached under a key made of the image's content hash, the codec's name and
fingerprint (library versions and options; for aecodec its sources and weights), the setting and
the version of the measuring code, so a rerun redoes only what changed or is missing, and an
interrupted sweep keeps what it finished.

Each measurement runs on one thread (torch included), so that encode and decode times compare
across codecs and with published single-thread times; ``jobs`` worker processes run side by side.
Times are wall-clock seconds of one call, after a warm-up call that loads models and plugins.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.metadata
import json
import os
import sys
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np

from codec.errors import AecError
from codec.evaluate import codecs, dataset, metrics


@dataclass(frozen=True)
class Measurement:
    image: str
    image_sha256: str
    width: int
    height: int
    codec: str
    setting: int
    bytes: int  # of the whole file
    encoding_time: float
    decoding_time: float
    metrics: dict[str, float]

    @property
    def bpp(self) -> float:
        return 8 * self.bytes / (self.width * self.height)


@dataclass(frozen=True)
class Task:
    image: dataset.ImageFile
    codec: str
    setting: int
    weights_dir: str | None
    key: str


class Cache:
    """One JSON file per measurement, named by its key, and beside it, for the set metrics, the
    decoding's window features (``KEY.features.npz``, float16); written atomically."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def features(self, key: str) -> dict[str, np.ndarray]:
        try:
            with np.load(self.folder / f"{key}.features.npz") as f:
                return {k: f[k].astype(np.float32) for k in f.files}
        except (OSError, ValueError):
            return {}

    def put_features(self, key: str, features: dict[str, np.ndarray]) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        tmp = self.folder / f".{key}.{os.getpid()}.part.npz"
        np.savez(tmp, **{k: v.astype(np.float16) for k, v in features.items()})
        os.replace(tmp, self.folder / f"{key}.features.npz")

    def get(self, key: str) -> Measurement | None:
        try:
            return Measurement(**json.loads((self.folder / f"{key}.json").read_text()))
        except (OSError, ValueError, TypeError):
            return None

    def put(self, key: str, m: Measurement) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        tmp = self.folder / f".{key}.{os.getpid()}.part"
        tmp.write_text(json.dumps(asdict(m)))
        os.replace(tmp, self.folder / f"{key}.json")


def plan(images: Sequence[dataset.ImageFile], adapters: Sequence[codecs.Codec],
         weights_dir: str | None) -> list[Task]:
    """Every measurement to make, image by image (so workers share an image's reference features)."""
    code = _measuring_code_version()
    fingerprints = {a.name: a.fingerprint() for a in adapters}
    return [Task(im, a.name, s, weights_dir, _key(im.sha256, a.name, fingerprints[a.name], s, code))
            for im in images for a in adapters for s in a.settings]


def _key(*parts: object) -> str:
    return hashlib.sha256(json.dumps(parts).encode()).hexdigest()[:32]


@functools.cache
def _measuring_code_version() -> str:
    """This module, the metrics, the adapters and the metric libraries: any change re-measures."""
    here = Path(__file__).parent
    h = hashlib.sha256()
    for name in ("sweep.py", "metrics.py", "codecs.py", "realism.py"):
        h.update((here / name).read_bytes())
    for package in ("numpy", "torch", "pytorch-msssim", "piq", "stlpips-pytorch"):
        h.update(_version(package).encode())
    return h.hexdigest()[:16]


def _version(package: str) -> str:
    try:
        return f"{package} {importlib.metadata.version(package)}"
    except importlib.metadata.PackageNotFoundError:
        return f"{package} absent"


def run(tasks: Sequence[Task], metric_keys: tuple[str, ...], cache: Cache, jobs: int = 1,
        progress: bool = False) -> tuple[list[Measurement], int]:
    """Measure every task whose cached measurement is missing or lacks a metric asked for.

    Returns all measurements, in task order, and how many came from the cache as they were. A
    re-measured entry keeps the cached metrics that were not asked for this time.
    """
    from tqdm import tqdm

    scalar_keys = {k for k in metric_keys if k not in metrics.SET_METRICS}
    set_keys = set(metric_keys) & metrics.SET_METRICS
    cached = {t.key: m for t in tasks if (m := cache.get(t.key)) is not None}
    done = {k: m for k, m in cached.items()
            if scalar_keys <= m.metrics.keys() and (not set_keys or set_keys <= cache.features(k).keys())}
    todo = [t for t in tasks if t.key not in done]
    with tqdm(total=len(tasks), initial=len(done), disable=not progress, unit="measurement", file=sys.stderr,
              leave=False) as bar:
        for t, (m, features) in _measure_all(todo, metric_keys, jobs):
            if (old := cached.get(t.key)) is not None:
                m = replace(m, metrics={**old.metrics, **m.metrics})
            if features:
                cache.put_features(t.key, {**cache.features(t.key), **features})
            cache.put(t.key, m)
            done[t.key] = m
            bar.update()
    return [done[t.key] for t in tasks], len(tasks) - len(todo)


def originals(images: Sequence[dataset.ImageFile], set_keys: Sequence[str], cache: Cache) -> dict[str, dict[str, np.ndarray]]:
    """Per image, the original's own window features for each set metric (cached like a
    measurement, under the image's hash and the measuring code's version)."""
    out = {}
    for im in images:
        key = _key(im.sha256, "original", _measuring_code_version())
        have = cache.features(key)
        if missing := [k for k in set_keys if k not in have]:
            ref = _reference(im)
            cache.put_features(key, {**have, **{k: ref.window_features(k) for k in missing}})
            have = cache.features(key)  # as stored (float16), as a rerun will read them
        out[im.name] = {k: have[k] for k in set_keys}
    return out


def _measure_all(tasks: list[Task], metric_keys: tuple[str, ...], jobs: int,
                 ) -> Iterator[tuple[Task, tuple[Measurement, dict[str, np.ndarray]]]]:
    """(task, measurement) as each finishes, so that an interrupted sweep has cached all it finished."""
    if not tasks:
        return
    if jobs == 1 or len(tasks) == 1:
        threads = _one_thread()
        try:
            for t in tasks:
                yield t, measure(t, metric_keys)
        finally:
            _set_threads(threads)
        return
    import multiprocessing

    # spawn, not fork: the parent may hold torch's thread pools, which do not survive a fork
    pool = ProcessPoolExecutor(jobs, mp_context=multiprocessing.get_context("spawn"), initializer=_one_thread)
    try:
        futures = {pool.submit(measure, t, metric_keys): t for t in tasks}
        for f in as_completed(futures):
            yield futures[f], f.result()
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def _one_thread() -> int:
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    return threads


def _set_threads(n: int) -> None:
    import torch

    torch.set_num_threads(n)


def measure(task: Task, metric_keys: tuple[str, ...]) -> tuple[Measurement, dict[str, np.ndarray]]:
    """Encode, decode and measure one image at one setting of one codec: the measurement, and
    the decoding's window features for the set metrics among ``metric_keys``."""
    ref = _reference(task.image)
    adapter = _ready_adapter(task.codec, task.weights_dir)
    try:
        t0 = time.perf_counter()
        data = adapter.encode(ref.rgb, task.setting)
        t1 = time.perf_counter()
        decoded = adapter.decode(data)
        t2 = time.perf_counter()
    except (OSError, ValueError, RuntimeError, AecError) as e:
        raise AecError(f"{task.image.path}: {task.codec} at setting {task.setting}: {e}") from None
    h, w = ref.rgb.shape[:2]
    values = ref.measure(decoded, metric_keys)
    features = {k: v for k, v in values.items() if k in metrics.SET_METRICS}
    scalars = {k: v for k, v in values.items() if k not in metrics.SET_METRICS}
    return Measurement(task.image.name, task.image.sha256, w, h, task.codec, task.setting, len(data),
                       t1 - t0, t2 - t1, scalars), features


@functools.lru_cache(maxsize=1)
def _reference(image: dataset.ImageFile) -> metrics.Reference:
    return metrics.Reference(dataset.load_rgb(image.path))


@functools.cache
def _ready_adapter(name: str, weights_dir: str | None) -> codecs.Codec:
    """The adapter, checked and after one untimed call that loads its model or plugin."""
    adapter = codecs.get(name, weights_dir)
    adapter.check()
    adapter.decode(adapter.encode(np.full((16, 16, 3), 128, np.uint8), adapter.settings[0]))
    return adapter
