"""Shared fixtures: real photographs (Kodak from ../shared, scikit-image's bundled ones) and a
runner for the ``aecodec`` command in a subprocess, exactly as a user types it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
KODAK = ROOT.parent / "shared" / "data" / "kodak"
TRAIN = ROOT.parent / "shared" / "data" / "train"


@pytest.fixture(scope="session")
def kodak_dir() -> Path:
    if not (KODAK / "kodim23.png").exists():
        pytest.skip(f"Kodak images not found at {KODAK} (they live in the project's shared/ folder)")
    return KODAK


@pytest.fixture(scope="session")
def astronaut() -> np.ndarray:
    from skimage import data

    return data.astronaut()  # 512x512 RGB photograph


@pytest.fixture(scope="session")
def camera() -> np.ndarray:
    from skimage import data

    return data.camera()  # 512x512 grayscale photograph


@pytest.fixture()
def photo_png(tmp_path: Path, astronaut: np.ndarray) -> Path:
    path = tmp_path / "astronaut.png"
    Image.fromarray(astronaut[:192, :256]).save(path)
    return path


class Cli:
    """Runs ``aecodec`` (the installed console script, else ``python -m codec``)."""

    def __init__(self) -> None:
        script = Path(sys.executable).parent / "aecodec"
        self.argv0 = [str(script)] if script.exists() else [sys.executable, "-m", "codec"]

    def __call__(self, *args: str, cwd: Path | None = None, stdin: bytes | None = None) -> subprocess.CompletedProcess:
        return subprocess.run([*self.argv0, *map(str, args)], cwd=cwd, input=stdin, capture_output=True,
                              timeout=600)


@pytest.fixture(scope="session")
def cli() -> Cli:
    return Cli()


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--runslow", action="store_true", help="also run tests marked slow (CI=true does too)")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if config.getoption("--runslow") or os.environ.get("CI") == "true":
        return
    skip = pytest.mark.skip(reason="slow: run with --runslow (CI runs them)")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)
