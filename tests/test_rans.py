"""Entropy strings with the shipped tables: honest ones decode exactly like CompressAI's own
decoder, and no string, however crafted (with its checksums recomputed, as an attacker would),
makes the decoder read outside its buffer, loop without bound, crash or raise anything but
FormatError."""

from __future__ import annotations

import json
import random
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import codec
from codec import api, container, entropy, rans
from codec.errors import FormatError

WORKER = Path(__file__).with_name("worker.py")


@pytest.fixture(scope="module")
def model():
    return api.load_model(None)[0]


@pytest.fixture(scope="module")
def latent(model, astronaut):
    """y (scaled by the quality-8 gain), its tables, means and z_hat, of a real photo crop."""
    x = torch.from_numpy(astronaut[:128, 128:320].copy()).permute(2, 0, 1)[None].float() / 255
    with torch.inference_mode():
        y = model.g_a(x) * model.latent.gains(8)[0]
        z = model.latent.h_a(y)
        z_hat = entropy.decompress_z(model.latent.entropy_bottleneck, entropy.compress_z(model.latent.entropy_bottleneck, z), (2, 3))
        scales, means = model.latent.hyper_for_coding(z_hat)
    return y, entropy.scale_indexes(model.latent.gaussian_conditional, scales), means, z


def with_outliers(v: torch.Tensor) -> torch.Tensor:
    """``v`` with values far outside every table, which only the escape code can carry."""
    v = v.clone()
    flat = v.view(-1)
    step = flat.numel() // 7
    for i, value in enumerate((25.0, -300.0, 70_000.0, -1e6, 4096.0, -17.5)):
        flat[3 + i * step] = value
    return v


def test_honest_strings_read_like_compressai(model, latent):
    y, indexes, means, _ = latent
    gc = model.latent.gaussian_conditional
    tables = entropy.Tables.of(gc)
    ours = entropy.compress_y(gc, y, indexes, means)
    theirs = gc.compress(y, indexes, means)[0]
    expected = gc.decompress([theirs], indexes, means=means)
    symbols = entropy.decode_symbols(tables, theirs, indexes)
    assert torch.equal(symbols.float() + means, expected)
    assert rans.decode(theirs, indexes.flatten().tolist(), tables.cdfs, tables.offsets.tolist()) == symbols.flatten().tolist()
    assert ours == theirs  # this crop has no value outside its table, so clamping changed nothing


@pytest.mark.parametrize("which", ["y", "z"])
def test_escapes_written_by_compressai_are_read_exactly(model, latent, which):
    """Strings holding escapes (CompressAI's own encoder writes them; ours does not) decode
    exactly like CompressAI decodes them, through the bounds-checked reader."""
    y, indexes, means, z = latent
    if which == "y":
        em = model.latent.gaussian_conditional
        string = em.compress(with_outliers(y), indexes, means)[0]
        expected, offset = em.decompress([string], indexes, means=means), means
    else:
        em = model.latent.entropy_bottleneck
        string = em.compress(with_outliers(z))[0]
        expected, offset = em.decompress([string], z.shape[-2:]), entropy.z_medians(em)
        indexes = entropy.z_indexes(em, tuple(z.shape[-2:]))
    symbols = entropy.decode_symbols(entropy.Tables.of(em), string, indexes)
    assert torch.equal(symbols.float() + offset, expected)
    assert symbols.abs().max().item() > 900_000  # the outlier of -1e6 came through


def test_the_encoder_clamps_instead_of_writing_escapes(model, latent):
    y, indexes, means, _ = latent
    gc = model.latent.gaussian_conditional
    tables = entropy.Tables.of(gc)
    string = entropy.compress_y(gc, with_outliers(y), indexes, means)
    padded = string + bytes(4 * (indexes.numel() + 2))
    fast = entropy.decode_without_escape(tables, padded, indexes.flatten().tolist())
    assert fast == rans.decode(string, indexes.flatten().tolist(), tables.cdfs, tables.offsets.tolist())
    low = tables.offsets[indexes.long()].flatten()
    high = low + tables.lengths[indexes.long()].flatten() - 3
    fast = torch.tensor(fast)
    assert bool(((fast >= low) & (fast <= high)).all())
    assert (fast == high).any() and (fast == low).any()  # the outliers, clamped


@pytest.mark.parametrize("fill", ["zeros", "ones", "random"])
def test_the_cpp_decoder_never_reads_past_its_bound(model, latent, fill):
    """What follows the first 4 * (symbols + 2) bytes never changes the result: nothing past
    them is read. All zeros is the worst case: the state stays small and refills every symbol."""
    _, indexes, _, _ = latent
    tables = entropy.Tables.of(model.latent.gaussian_conditional)
    flat = indexes.flatten().tolist()
    n = 4 * (len(flat) + 2)
    rng = random.Random(fill)
    prefix = {"zeros": bytes(n), "ones": b"\xff" * n, "random": rng.randbytes(n)}[fill]
    results = {tuple(entropy.decode_without_escape(tables, prefix + tail, flat))
               for tail in (bytes(64), b"\xff" * 64, rng.randbytes(64))}
    assert len(results) == 1


def test_python_reader_refuses_what_no_encoder_writes(model):
    """Escapes announcing more than 8 nibbles, or a value past 31 bits, cannot come from an
    encoder; a string that runs out cannot either. Initial states that land in the escape slot
    of a wide table produce all three."""
    tables = entropy.Tables.of(model.latent.gaussian_conditional)
    table = 40
    start = tables.cdfs[table][-2]
    rng = random.Random(0)
    messages = set()
    for _ in range(500):
        x0 = rng.getrandbits(48) << 16 | rng.randrange(start, 1 << 16)
        with pytest.raises(FormatError) as e:
            rans.decode(x0.to_bytes(8, "little") + rng.randbytes(8), [table] * 100, tables.cdfs, tables.offsets.tolist())
        messages.add(str(e.value).split(" ")[-1])
    assert {"possible", "bits", "remain"} <= messages, messages
    for string in (b"", b"\0" * 7, b"\0" * 10):
        with pytest.raises(FormatError, match="multiple of 4"):
            rans.decode(string, [0], tables.cdfs, tables.offsets.tolist())


def crafted_files(data: bytes, every: int) -> dict[str, bytes]:
    """A real file with its y (or z) string replaced by hostile bytes, checksums recomputed;
    the y string cut at every ``every``-th length and at each of the first 64."""
    f = container.unpack(data)
    y = f.latent.y_string
    rng = random.Random(5)

    def craft(y_string: bytes | None = None, z_string: bytes | None = None) -> bytes:
        lat = f.latent
        latent = container.Latent(lat.z_shape, lat.indexes_crc, z_string if z_string is not None else lat.z_string,
                                  y_string if y_string is not None else y)
        return container.pack(container.AecFile(f.header, latent, f.alpha, f.icc_profile, f.exif))

    cases = {f"y-truncated-{n}": craft(y[:n]) for n in range(len(y)) if n < 64 or n % every == 0}
    for size in (8, 64, 4096, 1 << 20):
        cases[f"y-ff-{size}"] = craft(b"\xff" * size)
        cases[f"y-zeros-{size}"] = craft(bytes(size))
        cases[f"y-random-{size}"] = craft(rng.randbytes(size))
        cases[f"z-ff-{size}"] = craft(z_string=b"\xff" * size)
        cases[f"z-random-{size}"] = craft(z_string=rng.randbytes(size))
    cases["y-honest-then-garbage"] = craft(y + rng.randbytes(400))
    cases["y-escape-then-ff"] = craft(y[:8] + b"\xff" * 4000)
    cases["z-empty"] = craft(z_string=b"")
    cases["y-and-z-swapped"] = craft(f.latent.z_string, y)
    return cases


def run_crafted(tmp_path: Path, data: bytes, every: int) -> dict[str, str]:
    """Decode each crafted file in a child process (a crash there fails the test instead of
    killing pytest); every outcome must be an image or a FormatError, in bounded time."""
    files = []
    for name, blob in crafted_files(data, every).items():
        files.append(tmp_path / f"{name}.aec")
        files[-1].write_bytes(blob)
    r = subprocess.run([sys.executable, str(WORKER), "decode", *map(str, files)], capture_output=True, timeout=1800,
                       check=False)
    assert r.returncode == 0, f"worker died (signal {-r.returncode}?): {r.stderr.decode()[-2000:]}"
    results = [json.loads(line) for line in r.stdout.decode().splitlines()]
    assert len(results) == len(files)
    for res in results:
        assert res["outcome"] in ("decoded", "FormatError"), res
        assert res["seconds"] < 10, res
    return {res["file"]: res["outcome"] for res in results}


@pytest.fixture(scope="module")
def small_file(astronaut) -> bytes:
    return codec.encode(astronaut[200:264, 200:296], quality=8)


def test_crafted_strings_in_a_child_process(tmp_path, small_file):
    outcomes = run_crafted(tmp_path, small_file, every=37)
    assert outcomes["y-ff-64.aec"] == "FormatError"  # its escape says "15 or more nibbles follow"
    assert outcomes["z-empty.aec"] == "FormatError"
    assert outcomes["y-truncated-0.aec"] == "FormatError"


@pytest.mark.slow
def test_every_truncation_of_the_y_string_in_a_child_process(tmp_path, small_file):
    run_crafted(tmp_path, small_file, every=1)


def test_the_reader_needs_only_the_standard_library():
    # ``import codec`` registers a deferred ``compressai`` package (codec._compressai); nothing of
    # it may load.
    code = "import sys, codec.rans; assert 'torch' not in sys.modules and not any(m.startswith('compressai.') for m in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0
