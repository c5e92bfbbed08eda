"""Optional dependencies, each named with the extra that installs it.

A plain ``pip install aecodec`` encodes and decodes; evaluation and training need more. A missing
package must end as one line that says what to install, never as a ModuleNotFoundError from deep
inside a metric or a worker process.
"""

from __future__ import annotations

import importlib
from types import ModuleType

from codec.errors import AecError

# Top-level module -> the extra of pyproject.toml that installs it. stlpips-pytorch imports
# IPython and torchsummary without declaring them, so they are named too.
EXTRA_OF = {
    "piq": "eval", "pytorch_msssim": "eval", "stlpips_pytorch": "eval", "IPython": "eval", "torchsummary": "eval",
    "matplotlib": "eval", "pillow_heif": "eval", "pillow_jxl": "eval", "pytorch_optimizer": "train",
}


class MissingExtra(AecError):
    """An optional package is not installed."""


def require(module: str, purpose: str) -> ModuleType:
    """Import ``module`` (dotted names too) or say in one line which extra installs what is missing."""
    try:
        return importlib.import_module(module)
    except ImportError as e:
        raise missing(e, purpose) from None


def missing(e: ImportError, purpose: str) -> MissingExtra:
    """The one-line error for a failed import of an optional package (or of one it imports)."""
    name = (e.name or "").split(".")[0]
    extra = EXTRA_OF.get(name, "eval")
    return MissingExtra(f'{purpose} needs the {name or "missing"} package: pip install "aecodec[{extra}]"')
