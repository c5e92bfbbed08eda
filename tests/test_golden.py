"""Golden files: .aec files written by the shipped weights, and by every earlier release's
weights (``golden/previous/<hash>/``), still decode with the default install, on this machine, to
exactly the recorded symbols and to the recorded pixels within one level.

They are made only by ``tests/golden/make_golden.py`` (see its docstring for when and why).
Missing or stale golden files fail here rather than skip: a silently skipped compatibility test
is how a bitstream break ships."""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest
from golden.make_golden import HERE, MANIFEST, PREVIOUS, pixels_digest, symbols_digest
from PIL import Image

import codec
from codec import api, weights

SETS = [HERE, *sorted(p for p in PREVIOUS.iterdir() if p.is_dir())] if PREVIOUS.exists() else [HERE]

REGENERATE = "python tests/golden/make_golden.py, then commit tests/golden/"


@pytest.fixture(scope="module")
def manifest() -> dict:
    if not MANIFEST.exists():
        pytest.fail(f"no golden files in {HERE}: make them with {REGENERATE}")
    return json.loads(MANIFEST.read_text())


def test_golden_files_are_for_the_shipped_weights(manifest):
    _, digest = api.load_model(None)
    assert manifest["weights"] == digest.hex(), (
        f"golden files were made with weights {manifest['weights']}, the shipped weights are {digest.hex()}. "
        "If the weights were replaced on purpose, old files need the old weights: regenerate with "
        f"{REGENERATE}. If the format changed, bump its version and keep a reader for the old one."
    )
    assert manifest["files"], "the manifest lists no files"


def test_earlier_weights_are_shipped_for_their_golden_files():
    for folder in SETS[1:]:
        assert weights.previous_weights_dir(bytes.fromhex(folder.name)) is not None, (
            f"golden files of weights {folder.name} are kept, but weights/previous-releases/{folder.name}/ is missing: "
            "files written by that release would no longer decode")
        assert json.loads((folder / "manifest.json").read_text())["weights"] == folder.name


@pytest.mark.parametrize("folder", SETS, ids=lambda p: "current" if p == HERE else p.name)
def test_golden_files_decode_as_recorded(folder):
    if not (folder / "manifest.json").exists():
        pytest.fail(f"no golden files in {folder}: make them with {REGENERATE}")
    manifest = json.loads((folder / "manifest.json").read_text())
    previous = weights.previous_weights_dir(bytes.fromhex(manifest["weights"])) if folder != HERE else None
    tol = manifest["tolerance"]
    for name, rec in manifest["files"].items():
        data = (folder / name).read_bytes()
        assert hashlib.sha256(data).hexdigest() == rec["sha256"], f"{name} was changed after it was made"
        symbols = symbols_digest(data, str(previous) if previous else None)
        assert symbols == rec["symbols_sha256"], f"{name}: entropy-decoded symbols differ: a bitstream break"
        decoded = codec.decode(data, realism=0)  # default weights; the fidelity decoder: the GAN one may be retrained
        assert (decoded.mode, list(decoded.size)) == (rec["mode"], rec["size"]), name
        if pixels_digest(decoded) == rec["pixels_sha256"]:
            continue  # bit-exact, as on the machine that made them
        expected = Image.open(folder / rec["decoded_png"])
        assert pixels_digest(expected) == rec["pixels_sha256"], f"{rec['decoded_png']} was changed after it was made"
        diff = np.abs(np.asarray(decoded, dtype=np.int16) - np.asarray(expected, dtype=np.int16))
        assert diff.max() <= tol["max_abs_diff"], f"{name}: a pixel differs by {diff.max()} levels"
        assert (diff > 0).mean() <= tol["max_fraction_differing"], f"{name}: {(diff > 0).mean():.2%} of values differ"
