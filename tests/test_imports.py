"""What each entry point imports, checked in a fresh interpreter."""

from __future__ import annotations

import subprocess
import sys

from conftest import ROOT

HEAVY = ("torchvision", "torch_geometric", "torch._dynamo")


def run(code: str) -> str:
    r = subprocess.run([sys.executable, "-c", code], check=False, capture_output=True, text=True, cwd=ROOT, timeout=600)
    assert r.returncode == 0, r.stderr
    return r.stdout


def test_coding_imports_compressai_without_its_heavy_package_init():
    out = run("import sys, numpy as np, codec\n"
              "codec.decode(codec.encode(np.zeros((64, 64, 3), np.uint8)))\n"
              f"print(sorted(m for m in {HEAVY!r} if m in sys.modules))")
    assert out.strip() == "[]"


def test_compressai_stays_whole_for_other_code_in_the_process():
    out = run("import codec.model, compressai\n"
              "from compressai.zoo import bmshj2018_factorized\n"
              "compressai.set_entropy_coder('ans')\n"
              "print(compressai.__version__, compressai.get_entropy_coder(), compressai.models.__name__)")
    assert out.split()[1:] == ["ans", "compressai.models"]
