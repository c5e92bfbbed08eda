"""The README's layout table holds: each module imports only from its own layer or those below it
(function-level imports included), the format layer imports nothing outside the standard library,
and every module of the package has a place in the table."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest
from conftest import ROOT

PACKAGE = ROOT / "codec"

# Lowest first. A path ending in "/" is a folder of the package.
LAYERS: list[tuple[str, tuple[str, ...]]] = [
    ("format and basics", ("codec/errors.py", "codec/config.py", "codec/container.py", "codec/tiles.py",
                           "codec/rans.py", "codec/sources.py", "codec/extras.py", "codec/_compressai.py")),
    ("images", ("codec/image.py",)),
    ("entropy models", ("codec/entropy.py",)),
    ("transforms", ("codec/nn/",)),
    ("latent codec", ("codec/latent.py",)),
    ("model", ("codec/model.py", "codec/losses.py", "codec/perceptual.py")),
    ("coding images", ("codec/coding.py",)),
    ("weights", ("codec/weights.py",)),
    ("public API", ("codec/api.py", "codec/__init__.py", "codec/pillow.py")),
    ("evaluation", ("codec/evaluate/",)),
    ("training", ("codec/train/",)),
    ("command line", ("codec/cli.py", "codec/__main__.py")),
]
THIRD_PARTY = {"format and basics": set(), "images": {"numpy", "PIL"}}


def _layer_of(path: str) -> int:
    for i, (_, members) in enumerate(LAYERS):
        if any(path == m or (m.endswith("/") and path.startswith(m)) for m in members):
            return i
    raise LookupError(path)


def _module_path(name: str) -> str:
    """``codec.x.y`` to the file that defines it, relative to the repository."""
    parts = name.split(".")
    as_package = PACKAGE.parent.joinpath(*parts) / "__init__.py"
    path = as_package if as_package.exists() else PACKAGE.parent.joinpath(*parts).with_suffix(".py")
    return path.relative_to(ROOT).as_posix()


def _is_module(name: str) -> bool:
    path = PACKAGE.parent.joinpath(*name.split("."))
    return path.with_suffix(".py").exists() or (path / "__init__.py").exists()


def _imports(path: Path) -> set[str]:
    """Every module ``path`` imports, anywhere in it: ``from codec import x`` counts as codec.x
    where x is a module, as the package itself where x is a name it defines."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            if node.module.split(".")[0] != "codec":
                found.add(node.module)
                continue
            for a in node.names:
                found.add(f"{node.module}.{a.name}" if _is_module(f"{node.module}.{a.name}") else node.module)
    return found


MODULES = sorted(p.relative_to(ROOT).as_posix() for p in PACKAGE.rglob("*.py"))


def test_every_module_has_a_layer_and_a_row_in_the_readme():
    layout = (ROOT / "README.md").read_text().split("## Layout", 1)[1].split("\n## ", 1)[0]
    for path in MODULES:
        _layer_of(path)  # raises for a module no layer names
    for _, members in LAYERS:
        for m in members:
            assert f"`{m}`" in layout or m in ("codec/__init__.py", "codec/__main__.py", "codec/_compressai.py"), m


@pytest.mark.parametrize("path", MODULES)
def test_imports_point_down(path):
    mine = _layer_of(path)
    for name in _imports(ROOT / path):
        top = name.split(".")[0]
        if top == "codec":
            if name == "codec":
                target = _layer_of("codec/__init__.py")
            else:
                target = _layer_of(_module_path(name))
            assert target <= mine, f"{path} ({LAYERS[mine][0]}) imports {name} ({LAYERS[target][0]})"
        elif LAYERS[mine][0] in THIRD_PARTY and top not in sys.stdlib_module_names:
            assert top in THIRD_PARTY[LAYERS[mine][0]], f"{path} ({LAYERS[mine][0]}) imports {name}"
