"""Weights folders: the shipped one loads; tampered or incomplete ones are refused."""

from __future__ import annotations

import json
import shutil

import pytest
from safetensors.torch import load_file, save_file

from codec import weights
from codec.errors import WeightsError


@pytest.fixture()
def copy_of_shipped(tmp_path):
    dst = tmp_path / "w"
    shutil.copytree(weights.default_weights_dir(), dst)
    return dst


def test_shipped_weights_load_with_frozen_tables():
    model = weights.load(weights.default_weights_dir())
    config = weights.read_config(weights.default_weights_dir())
    assert model.bitstream_hash().hex() == config["bitstream_sha256_8"]


def test_weights_of_every_release_reexport_under_the_latent_codecs_names_with_their_hash(tmp_path):
    """Releases up to 0.8 name the latent codec's parameters at the top level (h_s.0.weight);
    loading maps them into ``latent.``, and a re-export keeps the bitstream hash."""
    folders = [weights.default_weights_dir(), *sorted((weights.default_weights_dir() / weights.PREVIOUS_DIR).iterdir())]
    for folder in folders:
        model = weights.load(folder)
        out = tmp_path / folder.name
        out.mkdir()
        save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(out / weights.WEIGHTS_FILE))
        shutil.copy(folder / weights.CONFIG_FILE, out)  # the tables as frozen, not rebuilt here
        keys = load_file(str(out / weights.WEIGHTS_FILE)).keys()
        assert "latent.h_s.0.weight" in keys and not any(k.startswith(("h_s.", "gaussian_conditional.")) for k in keys)
        assert weights.load(out).bitstream_hash() == model.bitstream_hash()  # load checks the recorded hash too


def test_edited_table_is_refused(copy_of_shipped):
    path = copy_of_shipped / weights.WEIGHTS_FILE
    state = load_file(str(path))
    (key,) = (k for k in state if k.endswith("gaussian_conditional._quantized_cdf"))
    state[key][0, 1] += 1
    save_file(state, str(path))
    with pytest.raises(WeightsError, match="do not match"):
        weights.load(copy_of_shipped)


def test_missing_tables_are_refused(copy_of_shipped):
    path = copy_of_shipped / weights.WEIGHTS_FILE
    state = {k: v for k, v in load_file(str(path)).items() if "_quantized_cdf" not in k}
    save_file(state, str(path))
    with pytest.raises(WeightsError):
        weights.load(copy_of_shipped)


def test_broken_config_is_refused(copy_of_shipped):
    (copy_of_shipped / weights.CONFIG_FILE).write_text("{not json")
    with pytest.raises(WeightsError, match="config"):
        weights.load(copy_of_shipped)
    (copy_of_shipped / weights.CONFIG_FILE).write_text(json.dumps({"model": {"channels": "many"}}))
    with pytest.raises(WeightsError):
        weights.load(copy_of_shipped)


def test_weights_are_never_pickles():
    shipped = [f for f in weights.default_weights_dir().rglob("*") if f.is_file()]  # earlier releases' too
    assert any(f.parent.parent.name == weights.PREVIOUS_DIR for f in shipped)
    for f in shipped:
        assert f.suffix in {".safetensors", ".json", ".jsonl", ".md", ".png"}, f


class RunsCodeWhenUnpickled:
    """A pickle payload whose loading creates a file: proof that something unpickled it."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return open, (str(self.marker), "w")


@pytest.mark.parametrize("layout", ["pickle-named-safetensors", "pickle-only", "pickle-beside-safetensors"])
def test_a_pickle_in_a_weights_folder_is_refused_and_never_loaded(copy_of_shipped, tmp_path, layout, cli, photo_png):
    import pickle

    marker = tmp_path / "unpickled"
    payload = pickle.dumps({"g_a.0.conv.weight": RunsCodeWhenUnpickled(marker)})
    if layout == "pickle-named-safetensors":
        (copy_of_shipped / weights.WEIGHTS_FILE).write_bytes(payload)
    else:
        (copy_of_shipped / "model.pt").write_bytes(payload)
        if layout == "pickle-only":
            (copy_of_shipped / weights.WEIGHTS_FILE).unlink()
    with pytest.raises(WeightsError, match="pickle|cannot load"):
        weights.load(copy_of_shipped)
    if layout == "pickle-named-safetensors":  # the one the safetensors reader itself must refuse
        r = cli("encode", photo_png, "-o", tmp_path / "x.aec", "--weights", copy_of_shipped)
        err = r.stderr.decode()
        assert r.returncode == 1 and err.startswith("aecodec: error:") and err.count("\n") == 1, err
    assert not marker.exists()


def test_coding_never_unpickles_or_spawns(photo_png):
    """An audit hook sees every unpickled class and every process started, while a fresh
    interpreter loads the shipped weights, encodes and decodes: there are none."""
    import subprocess
    import sys

    code = ("import sys\n"
            "from codec import api\n"
            # Imported before the hook: scipy, under compressai.entropy_models, makes numpy.testing
            # run lscpu once at import time; that is not coding.
            "import torch, compressai.entropy_models\n"
            "seen = []\n"
            "watched = ('pickle.find_class', 'os.system', 'os.exec', 'os.posix_spawn', 'os.fork', 'subprocess.Popen')\n"
            "sys.addaudithook(lambda event, args: seen.append(event) if event in watched else None)\n"
            "api.decode(api.encode(sys.argv[1]))\n"
            "print(sorted(set(seen)))\n")
    r = subprocess.run([sys.executable, "-c", code, str(photo_png)], capture_output=True, check=False, timeout=600)
    assert r.returncode == 0, r.stderr.decode()[-2000:]
    assert r.stdout.decode().strip() == "[]"
