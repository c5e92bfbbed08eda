"""Speed and memory of aecodec against AVIF, JPEG XL and WebP, as a Markdown report.

    python examples/bench.py ../shared/data/kodak [--images 24] [--threads 2] [--quality 9] [--out bench.md]

On the Kodak images: median encode and decode wall time and peak memory of aecodec (each
decoder: ``realism`` 0 and 1 when ``codec.decode`` takes it, else the one decoder) and of AVIF
(Pillow, default speed 6), JPEG XL (effort 7) and WebP (method 4), each at about aecodec's bpp
(quality searched per image), with the ratio to AVIF. Then one 24-megapixel image (6000x4000,
Kodak images tiled) for time and peak memory, and what tiles of 256 pixels cost in bytes on Kodak.
``--profile`` adds where aecodec's time goes.

Every (codec, operation) runs in a fresh process, so the peak RSS it reports (VmHWM) is that
codec's alone: interpreter, libraries and model included, which the "idle" column shows
(RSS just before the first image). The first image is coded once untimed (warm-up). Run it
on a quiet machine: other load changes every number here.

The script uses only ``codec.encode`` / ``codec.decode`` for aecodec's rows and ``aecodec
eval``'s adapters for the classical codecs, so pointing ``PYTHONPATH`` at an older checkout
benchmarks that version (one from 0.10 on, whose adapters take threads; ``--profile`` needs this
one).
"""

from __future__ import annotations

import concurrent.futures
import inspect
import multiprocessing
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import click
import numpy as np
from PIL import Image

from codec.config import DEFAULT_QUALITY
from codec.evaluate import codecs
from codec.image import psnr

BIG_SIZE = (6000, 4000)  # width, height: 24 megapixels
MIB = 1 << 20
# --clock cpu: CPU time of the process (all threads), for comparisons on a busy machine, where
# wall time mostly measures the other load. Read by the workers, which inherit the environment.
CLOCKS = {"wall": time.perf_counter, "cpu": time.process_time}
CLOCK_ENV = "AEC_BENCH_CLOCK"


def clock() -> float:
    return CLOCKS[os.environ.get(CLOCK_ENV, "wall")]()


@dataclass(frozen=True)
class Classical:
    """A classical codec of ``aecodec eval`` (``codec/evaluate/codecs.py``) by its label here, with
    options of its own (WebP's default method, not eval's slowest); the adapter is built in each
    worker, with the threads asked for."""

    label: str
    name: str
    options: dict

    def adapter(self, threads: int) -> codecs.PillowCodec:
        c = codecs.CLASSICAL[self.name]
        adapter = replace(c, options={**c.options, **self.options}, threads=threads)
        adapter.check()
        return adapter


CLASSICAL = (
    Classical("AVIF (speed 6)", "avif", {}),
    Classical("JPEG XL (effort 7)", "jxl", {}),
    Classical("WebP (method 4)", "webp", {"method": 4}),
)


def _status_mib(field: str) -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024  # kB
    raise RuntimeError(f"no {field} in /proc/self/status")


def _peak_rss_mib() -> float:
    """Peak RSS of this process. VmHWM, not ru_maxrss: Linux carries ru_maxrss across exec, so a
    spawned worker would report its parent's size."""
    return _status_mib("VmHWM")


def _current_rss_mib() -> float:
    return _status_mib("VmRSS")


def _timed(fn: Callable, items: list) -> tuple[list, list[float]]:
    """Results and wall times of ``fn`` on every item (callers warm up on a tiny image first)."""
    results, times = [], []
    for item in items:
        t0 = clock()
        results.append(fn(item))
        times.append(clock() - t0)
    return results, times


def _load(paths: list[str]) -> list[np.ndarray]:
    return [np.asarray(Image.open(p).convert("RGB")) for p in paths]


# Workers: each runs in a fresh process and returns plain data.

def work_aec_encode(paths: list[str], out_dir: str, quality: int, threads: int, big: bool) -> dict:
    import torch

    import codec

    torch.set_num_threads(threads)
    images = [big_image(paths)] if big else _load(paths)
    codec.decode(codec.encode(images[0][:64, :64], quality=quality))  # loads the model
    idle = _current_rss_mib()
    data, times = _timed(lambda im: codec.encode(im, quality=quality), images)
    files = []
    for i, d in enumerate(data):
        files.append(str(Path(out_dir) / f"{i}.aec"))
        Path(files[-1]).write_bytes(d)
    bpp = [8 * len(d) / (im.shape[0] * im.shape[1]) for d, im in zip(data, images)]
    return {"times": times, "bpp": bpp, "files": files, "idle_mib": idle, "peak_mib": _peak_rss_mib()}


def work_aec_decode(files: list[str], realism: float | None, threads: int) -> dict:
    import torch

    import codec

    torch.set_num_threads(threads)
    blobs = [Path(f).read_bytes() for f in files]
    kwargs = {} if realism is None else {"realism": realism}
    codec.decode(codec.encode(np.zeros((64, 64, 3), np.uint8)), **kwargs)  # loads the model
    idle = _current_rss_mib()
    images, times = _timed(lambda b: np.asarray(codec.decode(b, **kwargs)), blobs)
    return {"times": times, "idle_mib": idle, "peak_mib": _peak_rss_mib(), "images": images}


def search_quality(c: codecs.PillowCodec, rgb: np.ndarray, target_bpp: float) -> int:
    """The quality (1..100) whose bpp is nearest ``target_bpp``, by bisection."""
    lo, hi, best = 1, 100, (float("inf"), 50)
    while lo <= hi:
        q = (lo + hi) // 2
        bpp = 8 * len(c.encode(rgb, q)) / (rgb.shape[0] * rgb.shape[1])
        best = min(best, (abs(bpp - target_bpp), q))
        lo, hi = (q + 1, hi) if bpp < target_bpp else (lo, q - 1)
    return best[1]


def work_classical_encode(c: Classical, paths: list[str], qualities: list[int], threads: int, big: bool) -> dict:
    adapter = c.adapter(threads)
    images = [big_image(paths)] if big else _load(paths)
    adapter.encode(images[0][:64, :64], 50)
    idle = _current_rss_mib()
    data, times = _timed(lambda iq: adapter.encode(iq[0], iq[1]), list(zip(images, qualities)))
    bpp = [8 * len(d) / (im.shape[0] * im.shape[1]) for d, im in zip(data, images)]
    return {"times": times, "bpp": bpp, "data": data, "idle_mib": idle, "peak_mib": _peak_rss_mib()}


def work_classical_decode(c: Classical, data: list[bytes], threads: int) -> dict:
    adapter = c.adapter(threads)
    adapter.decode(adapter.encode(np.zeros((64, 64, 3), np.uint8), 50))
    idle = _current_rss_mib()
    images, times = _timed(adapter.decode, data)
    return {"times": times, "idle_mib": idle, "peak_mib": _peak_rss_mib(), "images": images}


def work_search(c: Classical, paths: list[str], targets: list[float], threads: int) -> list[int]:
    adapter = c.adapter(threads)
    return [search_quality(adapter, im, t) for im, t in zip(_load(paths), targets)]


def big_image(paths: list[str]) -> np.ndarray:
    """6000x4000 pixels of Kodak images side by side (each landscape, 768x512), row by row."""
    w, h = BIG_SIZE
    tiles = _load(paths[:24])
    tiles = [t if t.shape[0] == 512 else t.transpose(1, 0, 2) for t in tiles]
    rows = []
    for r in range(-(-h // 512)):
        row = np.concatenate([tiles[(r * 8 + c) % len(tiles)] for c in range(-(-w // 768))], axis=1)
        rows.append(row[:, :w])
    return np.ascontiguousarray(np.concatenate(rows, axis=0)[:h])


def work_tile_cost(paths: list[str], quality: int, threads: int, tile: int) -> list[tuple[int, int]]:
    """File sizes of every image coded whole and in tiles of ``tile`` pixels."""
    import torch

    import codec

    torch.set_num_threads(threads)
    return [(len(codec.encode(im, quality=quality)), len(codec.encode(im, quality=quality, tile_size=tile)))
            for im in _load(paths)]


def tile_cost_report(paths: list[str], quality: int, threads: int, tile: int) -> str:
    sizes = in_fresh_process(work_tile_cost, paths, quality, threads, tile)
    extra = [tiled / whole - 1 for whole, tiled in sizes]
    return (f"Coded in tiles of {tile} pixels instead of whole, at quality {quality}: "
            f"{100 * statistics.mean(extra):+.2f} % bytes on average, {100 * max(extra):+.2f} % at most "
            f"({len(sizes)} images). Large images use tiles of 1024 pixels.")


def in_fresh_process(fn: Callable, *args) -> object:
    ctx = multiprocessing.get_context("spawn")
    with concurrent.futures.ProcessPoolExecutor(max_workers=1, mp_context=ctx) as pool:
        return pool.submit(fn, *args).result()


def decoders() -> list[tuple[str, float | None]]:
    """(label, realism) of every decoder this version of codec.decode offers."""
    import codec

    if "realism" in inspect.signature(codec.decode).parameters:
        return [("aecodec, realism 0 (fidelity)", 0.0), ("aecodec, realism 1 (GAN)", 1.0)]
    return [("aecodec (fidelity; no realism argument in this version)", None)]


@dataclass
class Row:
    label: str
    bpp: float
    psnr_db: float
    encode_s: list[float]
    decode_s: list[float]
    encode_mib: tuple[float, float]  # (idle, peak)
    decode_mib: tuple[float, float]


def bench_aecodec(paths: list[str], quality: int, threads: int, big: bool,
                  ref: list[np.ndarray]) -> tuple[list[Row], list[float]]:
    """A row per decoder, and the bpp of every image."""
    with tempfile.TemporaryDirectory() as tmp:
        enc = in_fresh_process(work_aec_encode, paths, tmp, quality, threads, big)
        rows = []
        for label, realism in decoders():
            dec = in_fresh_process(work_aec_decode, enc["files"], realism, threads)
            rows.append(Row(label, statistics.mean(enc["bpp"]), _mean_psnr(dec["images"], ref), enc["times"],
                            dec["times"], (enc["idle_mib"], enc["peak_mib"]), (dec["idle_mib"], dec["peak_mib"])))
        return rows, enc["bpp"]


def bench_classical(c: Classical, paths: list[str], qualities: list[int], threads: int, big: bool,
                    ref: list[np.ndarray]) -> Row:
    enc = in_fresh_process(work_classical_encode, c, paths, qualities, threads, big)
    dec = in_fresh_process(work_classical_decode, c, enc["data"], threads)
    label = f"{c.label}, quality {statistics.median(qualities):.0f}" if big else c.label
    return Row(label, statistics.mean(enc["bpp"]), _mean_psnr(dec["images"], ref), enc["times"], dec["times"],
               (enc["idle_mib"], enc["peak_mib"]), (dec["idle_mib"], dec["peak_mib"]))


def _mean_psnr(images: list[np.ndarray], ref: list[np.ndarray]) -> float:
    return statistics.mean(psnr(a, b) for a, b in zip(images, ref))


def table(rows: list[Row], anchor: Row | None) -> str:
    header = ("| codec | bpp | PSNR (dB) | encode (s) | decode (s) | encode RSS idle / peak (MiB) "
              "| decode RSS idle / peak (MiB) | encode / AVIF | decode / AVIF |")
    lines = [header, "|---" * 9 + "|"]
    for r in rows:
        enc, dec = statistics.median(r.encode_s), statistics.median(r.decode_s)
        ratio = (f"{enc / statistics.median(anchor.encode_s):.2f} | {dec / statistics.median(anchor.decode_s):.2f}"
                 if anchor else "- | -")
        lines.append(f"| {r.label} | {r.bpp:.3f} | {r.psnr_db:.2f} | {enc:.3f} | {dec:.3f} "
                     f"| {r.encode_mib[0]:.0f} / {r.encode_mib[1]:.0f} | {r.decode_mib[0]:.0f} / {r.decode_mib[1]:.0f} "
                     f"| {ratio} |")
    return "\n".join(lines)


def environment(threads: int) -> str:
    import PIL
    import torch

    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor())
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    return (f"{cpu}, {os.cpu_count()} CPUs, load average {load:.2f} at start; torch {torch.__version__}, "
            f"Pillow {PIL.__version__}, Python {platform.python_version()}; {threads} threads per codec")


def _median_ms(fn: Callable, runs: int = 5) -> float:
    fn()
    times = []
    for _ in range(runs):
        t0 = clock()
        fn()
        times.append(clock() - t0)
    return 1000 * statistics.median(times)


def profile_report(path: str, quality: int, threads: int) -> str:
    """Where aecodec's time goes on one image: its stages, then torch's busiest operators."""
    import torch
    from torch.profiler import ProfilerActivity, profile

    import codec
    from codec import coding, weights

    torch.set_num_threads(threads)
    model = weights.load(weights.default_weights_dir())
    lc, g_s = model.latent, coding.decoder(model, 0)
    rgb = _load([path])[0]
    with torch.inference_mode():
        y_s = coding.analyze(model.g_a, rgb) * lc.gains(quality)[0]
        z = lc.h_a(y_s)
        z_string, z_hat = lc.code_z(z)
        params = lc.hyper_for_coding(z_hat)
        y_string, crc = lc.code_y(y_s, *params)
        y_hat = lc.decode_y(y_string, crc, *params) * lc.gains(quality)[1]
        encode = {"analysis g_a": lambda: coding.analyze(model.g_a, rgb), "hyper-analysis h_a": lambda: lc.h_a(y_s),
                  "z coding (and decoding back)": lambda: lc.code_z(z), "hyper-synthesis h_s (float64)": lambda: lc.hyper_for_coding(z_hat),
                  "y entropy coding, with the context": lambda: lc.code_y(y_s, *params)}
        decode = {"z entropy decoding": lambda: lc.decode_z(z_string, tuple(z_hat.shape[-2:])),
                  "hyper-synthesis h_s (float64)": lambda: lc.hyper_for_coding(z_hat),
                  "y entropy decoding, with the context": lambda: lc.decode_y(y_string, crc, *params),
                  "synthesis g_s": lambda: coding.synthesize(g_s, y_hat, rgb.shape[:2])}
        data = codec.encode(rgb, quality=quality)
        totals = {"encode": _median_ms(lambda: codec.encode(rgb, quality=quality)),
                  "decode": _median_ms(lambda: codec.decode(data))}
        lines = ["| stage | ms | share |", "|---|---|---|"]
        for name, stages in (("encode", encode), ("decode", decode)):
            parts = {k: _median_ms(fn) for k, fn in stages.items()}
            parts["other (container, image conversion, Python)"] = totals[name] - sum(parts.values())
            lines += [f"| {name}: {k} | {v:.1f} | {100 * v / totals[name]:.0f}% |" for k, v in parts.items()]
            lines.append(f"| **{name} total** | {totals[name]:.1f} | 100% |")
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        for _ in range(3):
            codec.decode(codec.encode(rgb, quality=quality))
    ops = prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=15)
    return "\n".join([*lines, "", "torch operators, 3 encodes and decodes (self CPU time):", "", "```", ops, "```"])


@click.command()
@click.argument("kodak", type=click.Path(exists=True, file_okay=False))
@click.option("--images", "num_images", type=click.IntRange(1, 24), default=24, show_default=True)
@click.option("--threads", type=int, default=2, show_default=True, help="Threads for every codec.")
@click.option("--quality", type=click.IntRange(1), default=DEFAULT_QUALITY, show_default=True,
              help="aecodec quality level (of the weights' own levels).")
@click.option("--big/--no-big", default=True, show_default=True, help="Also the 24-megapixel image.")
@click.option("--profile", is_flag=True, help="Also profile aecodec on the first image.")
@click.option("--clock", "clock_name", type=click.Choice(sorted(CLOCKS)), default="wall", show_default=True,
              help="cpu: process CPU time instead of wall time, to compare versions on a busy machine.")
@click.option("--out", type=click.Path(dir_okay=False), help="Write the Markdown report here too.")
def main(kodak: str, num_images: int, threads: int, quality: int, big: bool, profile: bool, clock_name: str,
         out: str | None) -> None:
    os.environ[CLOCK_ENV] = clock_name
    paths = [str(p) for p in sorted(Path(kodak).glob("*.png"))][:num_images]
    all_paths = [str(p) for p in sorted(Path(kodak).glob("*.png"))]
    command = "python " + " ".join([Path(sys.argv[0]).as_posix(), *sys.argv[1:]])
    report = [f"`{command}`", "", environment(threads) + f"; {clock_name} time", ""]
    ref = _load(paths)

    aec, targets = bench_aecodec(paths, quality, threads, False, ref)
    qualities = {c.name: in_fresh_process(work_search, c, paths, targets, threads) for c in CLASSICAL}
    classical = [bench_classical(c, paths, qualities[c.name], threads, False, ref) for c in CLASSICAL]
    report += [f"## Kodak: {len(paths)} images of 768x512, aecodec quality {quality}; medians over the images", "",
               table(aec + classical, classical[0]), ""]
    click.echo("\n".join(report))

    if big:
        big_ref = [big_image(all_paths)]
        rows = bench_aecodec(all_paths, quality, threads, True, big_ref)[0]
        rows += [bench_classical(c, all_paths, [round(statistics.median(qualities[c.name]))], threads, True, big_ref)
                 for c in CLASSICAL]
        part = [f"## One image of {BIG_SIZE[0]}x{BIG_SIZE[1]} (24 megapixels, Kodak images tiled), one run", "",
                table(rows, rows[-3]), ""]
        click.echo("\n".join(part))
        report += part
    part = ["## The cost of tiles in bytes", "", tile_cost_report(paths, quality, threads, 256), ""]
    click.echo("\n".join(part))
    report += part
    if profile:
        part = ["## Where aecodec's time goes (first image)", "", profile_report(paths[0], quality, threads)]
        click.echo("\n".join(part))
        report += part
    if out:
        Path(out).write_text("\n".join(report) + "\n")


if __name__ == "__main__":
    main()
