"""Golden files: .aec files written by the shipped weights still decode, on this machine, to
exactly the recorded symbols and to the recorded pixels within one level.

They are made only by ``tests/golden/make_golden.py`` (see its docstring for when and why).
Missing or stale golden files fail here rather than skip: a silently skipped compatibility test
is how a bitstream break ships."""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest
from golden.make_golden import HERE, MANIFEST, pixels_digest, symbols_digest
from PIL import Image

import codec
from codec import api

REGENERATE = "python tests/golden/make_golden.py, then commit tests/golden/"


@pytest.fixture(scope="module")
def manifest() -> dict:
    if not MANIFEST.exists():
        pytest.fail(f"no golden files in {HERE}: make them with {REGENERATE}")
    return json.loads(MANIFEST.read_text())


def test_golden_files_are_for_the_shipped_weights(manifest):
    _, digest = api._model(None)
    assert manifest["weights"] == digest.hex(), (
        f"golden files were made with weights {manifest['weights']}, the shipped weights are {digest.hex()}. "
        "If the weights were replaced on purpose, old files need the old weights: regenerate with "
        f"{REGENERATE}. If the format changed, bump its version and keep a reader for the old one."
    )
    assert manifest["files"], "the manifest lists no files"


def test_golden_files_decode_as_recorded(manifest):
    tol = manifest["tolerance"]
    for name, rec in manifest["files"].items():
        data = (HERE / name).read_bytes()
        assert hashlib.sha256(data).hexdigest() == rec["sha256"], f"{name} was changed after it was made"
        assert symbols_digest(data) == rec["symbols_sha256"], f"{name}: entropy-decoded symbols differ: a bitstream break"
        decoded = codec.decode(data, realism=0)  # the fidelity decoder: the GAN one may be retrained
        assert (decoded.mode, list(decoded.size)) == (rec["mode"], rec["size"]), name
        if pixels_digest(decoded) == rec["pixels_sha256"]:
            continue  # bit-exact, as on the machine that made them
        expected = Image.open(HERE / rec["decoded_png"])
        assert pixels_digest(expected) == rec["pixels_sha256"], f"{rec['decoded_png']} was changed after it was made"
        diff = np.abs(np.asarray(decoded, dtype=np.int16) - np.asarray(expected, dtype=np.int16))
        assert diff.max() <= tol["max_abs_diff"], f"{name}: a pixel differs by {diff.max()} levels"
        assert (diff > 0).mean() <= tol["max_fraction_differing"], f"{name}: {(diff > 0).mean():.2%} of values differ"
