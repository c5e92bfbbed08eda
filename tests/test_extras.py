"""A missing optional package ends as one line naming the extra that installs it, never as a
ModuleNotFoundError (issue 18). The package is made unimportable in a real subprocess of the
command (``sys.modules[name] = None`` is how Python marks a module that cannot be imported)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image


def _aecodec_without(module: str, *args: str) -> subprocess.CompletedProcess:
    code = (f"import sys; sys.modules[{module!r}] = None; sys.argv = ['aecodec', *{list(map(str, args))!r}]; "
            "from codec.cli import main; main()")
    return subprocess.run([sys.executable, "-c", code], capture_output=True, timeout=300)


@pytest.fixture()
def one_image(tmp_path: Path, astronaut) -> Path:
    folder = tmp_path / "images"
    folder.mkdir()
    Image.fromarray(astronaut[:256, :256]).save(folder / "a.png")
    return folder


@pytest.mark.parametrize(("module", "metrics", "purpose"), [
    ("piq", "psnr,ms-gmsd", "the ms-gmsd metric"),
    ("pytorch_msssim", "psnr,ms-ssim", "the ms-ssim metric"),
    ("matplotlib", "psnr", "plotting"),
])
def test_eval_names_the_extra(tmp_path, one_image, module, metrics, purpose):
    r = _aecodec_without(module, "eval", one_image, "--out", tmp_path / "out", "--codecs", "jpeg",
                         "--settings", "jpeg=50", "--metrics", metrics)
    line = f'aecodec: error: {purpose} needs the {module} package: pip install "aecodec[eval]"'.encode()
    assert r.returncode == 1 and line in r.stderr and b"Traceback" not in r.stderr, r.stderr[-1500:]


def test_train_with_soap_names_the_train_extra(tmp_path, one_image):
    r = _aecodec_without("pytorch_optimizer", "train", one_image, "--out", tmp_path / "run", "--steps", "1",
                         "--channels", "8", "--latent-channels", "8", "--crop", "64", "--batch", "1")
    assert r.returncode == 1 and b'needs the pytorch_optimizer package: pip install "aecodec[train]"' in r.stderr
    assert b"Traceback" not in r.stderr
    r = _aecodec_without("pytorch_optimizer", "train", one_image, "--out", tmp_path / "adam", "--steps", "1",
                         "--channels", "8", "--latent-channels", "8", "--crop", "64", "--batch", "1",
                         "--optimizer", "adam", "--quiet")
    assert r.returncode == 0, r.stderr[-1500:]
