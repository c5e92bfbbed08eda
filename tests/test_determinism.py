"""Every file decodes to the same symbols whatever the thread count, batch or convolution
algorithm, with pixels within one level; and the table choice cannot flip between machines."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import KODAK

import codec
from codec import api, coding, container, entropy
from codec.model import AecModel

WORKER = Path(__file__).with_name("worker.py")


@pytest.fixture(scope="module")
def model() -> AecModel:
    return api.load_model(None)[0]


@pytest.fixture(scope="module")
def coded(astronaut, camera) -> dict[str, bytes]:
    """Real photos of one size (so they can form a batch): colour, gray, colour with alpha."""
    ramp = np.tile(np.arange(160, dtype=np.uint8), (96, 1))
    return {"rgb": codec.encode(astronaut[:96, 200:360], quality=3),
            "gray": codec.encode(camera[100:196, 100:260], quality=7),
            "rgba": codec.encode(np.dstack([astronaut[300:396, :160], ramp]), quality=5)}


def compressed(data: bytes) -> tuple[container.Latent, int]:
    f = container.unpack(data)
    return f.latent, f.header.quality


def permuted_hyper(model: AecModel, z_hat: torch.Tensor, seed: int) -> torch.Tensor:
    """The float64 scales of h_s computed with every layer's input channels in another order:
    the same function, summed in another order, as another machine's convolutions would."""
    g = torch.Generator().manual_seed(seed)
    w = {k: v.double() for k, v in model.latent.h_s.state_dict().items()}
    p0, p1, p2 = (torch.randperm(n, generator=g) for n in (w["0.weight"].shape[0], w["0.bias"].numel(), w["2.bias"].numel()))
    w["0.weight"], w["0.bias"] = w["0.weight"][p0][:, p1], w["0.bias"][p1]
    w["2.weight"], w["2.bias"] = w["2.weight"][p1][:, p2], w["2.bias"][p2]
    w["4.weight"] = w["4.weight"][:, p2]
    out = torch.func.functional_call(model.latent.h_s, w, (z_hat.double()[:, p0],))
    return out.chunk(2, dim=1)[0]


@torch.inference_mode()
def test_table_choice_survives_another_summation_order(model, coded):
    gc, eb = model.latent.gaussian_conditional, model.latent.entropy_bottleneck
    for data in coded.values():
        c, _ = compressed(data)
        z_hat = entropy.decompress_z(eb, c.z_string, c.z_shape)
        scales, _ = model.latent.hyper_for_coding(z_hat)
        for seed in range(3):
            other = permuted_hyper(model, z_hat, seed)
            gap = ((other - scales).abs() / scales.abs().clamp_min(gc.scale_table[0])).max().item()
            assert 0 <= gap < entropy.INDEX_MARGIN / 1000, gap
            assert torch.equal(entropy.scale_indexes(gc, other), entropy.scale_indexes(gc, scales))


def test_index_margin_measures_the_distance_to_the_nearest_boundary(model):
    table = model.latent.gaussian_conditional.scale_table.double()
    scales = torch.stack([table[5], table[5] * (1 + 1e-6), table[5] * (1 - 1e-3), table[0] / 10, table[-1] * 10])
    margin = entropy.index_margin(model.latent.gaussian_conditional, scales)
    expected = torch.tensor([0, 1e-6, 1e-3, 0.9, 10 * table[-1] / table[-2] - 1], dtype=torch.float64)
    torch.testing.assert_close(margin, expected, rtol=1e-6, atol=1e-12)


def to_pixels(model: AecModel, y_hat: torch.Tensor) -> torch.Tensor:
    return model.g_s(y_hat).clamp_(0, 1).mul_(255).round_()


@torch.inference_mode()
def test_a_batch_decodes_like_each_file_alone(model, coded):
    eb, gc = model.latent.entropy_bottleneck, model.latent.gaussian_conditional
    files = [compressed(d) for d in coded.values()]
    z_hats = [entropy.decompress_z(eb, c.z_string, c.z_shape) for c, _ in files]
    batch_indexes = entropy.scale_indexes(gc, model.latent.hyper_for_coding(torch.cat(z_hats))[0])
    y_hat = []
    for i, ((c, q), z_hat) in enumerate(zip(files, z_hats)):
        alone_indexes = entropy.scale_indexes(gc, model.latent.hyper_for_coding(z_hat)[0])
        assert torch.equal(batch_indexes[i : i + 1], alone_indexes)
        y_hat.append(coding.decompress_latent(model.latent, c, q))
    alone = torch.cat([to_pixels(model, y) for y in y_hat])
    assert (to_pixels(model, torch.cat(y_hat)) - alone).abs().max().item() <= 1


def test_threads_and_processes_agree(tmp_path, coded, kodak_or_none):
    """decompress_latent is bit-identical with 1 and 2 threads, pixels within one level, and a
    second process encodes the same image to the same bytes."""
    files = []
    for name, data in coded.items():
        files.append(tmp_path / f"{name}.aec")
        files[-1].write_bytes(data)
    if kodak_or_none is not None:
        files.append(tmp_path / "kodim23.aec")
        files[-1].write_bytes(codec.encode(kodak_or_none / "kodim23.png", quality=4))
    runs = {}
    for run, threads in (("a", 1), ("b", 2), ("c", 2)):
        out = tmp_path / run
        out.mkdir()
        r = subprocess.run([sys.executable, str(WORKER), "latents", str(out), str(threads), *map(str, files)],
                           capture_output=True, timeout=600, check=False)
        assert r.returncode == 0, r.stderr.decode()[-2000:]
        runs[run] = out
    for f in files:
        load = {run: {kind: np.load(out / f"{f.stem}.{kind}.npy") for kind in ("latent", "pixels")} for run, out in runs.items()}
        np.testing.assert_array_equal(load["a"]["latent"], load["b"]["latent"])
        np.testing.assert_array_equal(load["b"]["latent"], load["c"]["latent"])
        gap = np.abs(load["a"]["pixels"].astype(int) - load["b"]["pixels"].astype(int)).max()
        assert gap <= 1, (f.name, gap)
        np.testing.assert_array_equal(load["b"]["pixels"], load["c"]["pixels"])
        reencoded = {run: (out / f"{f.stem}.reencoded.aec").read_bytes() for run, out in runs.items()}
        assert reencoded["b"] == reencoded["c"], f.name


@pytest.fixture()
def kodak_or_none() -> Path | None:
    return KODAK if (KODAK / "kodim23.png").exists() else None
