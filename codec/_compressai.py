"""Import CompressAI's entropy models, layers and ops without running its package ``__init__``.

``compressai/__init__.py`` imports every subpackage: its datasets registry pulls in
torch_geometric and with it torch._dynamo, its models torchvision. That costs seconds at every
start of ``aecodec encode`` / ``decode`` and a few hundred MB of memory, for code aecodec never
runs. :func:`install` registers the ``compressai`` package without executing its ``__init__``,
so importing a submodule (``compressai.entropy_models``) runs just that submodule.

Nothing is lost for other users of CompressAI in the same process: asking the package for a
submodule imports it, and asking for any other name it defines (``set_entropy_coder``,
``__version__``) runs the real ``__init__`` first, in place.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
import types

NAME = "compressai"


class _Package(types.ModuleType):
    """The ``compressai`` package module, its ``__init__`` deferred to the first name it lacks."""

    def __getattr__(self, name: str) -> object:
        if self.__dict__.get("_init_done"):
            raise AttributeError(f"module {NAME!r} has no attribute {name!r}")
        if not name.startswith("__") and importlib.util.find_spec(f"{NAME}.{name}") is not None:
            return importlib.import_module(f"{NAME}.{name}")
        self._init_done = True
        self.__spec__.loader.exec_module(self)  # the real __init__, run in this module
        return getattr(self, name)


def install() -> None:
    """Register the deferred package, unless ``compressai`` is already imported (or absent)."""
    if NAME in sys.modules:
        return
    spec = importlib.util.find_spec(NAME)
    if spec is None or spec.origin is None:
        return
    pkg = _Package(NAME)
    pkg.__spec__, pkg.__loader__, pkg.__file__ = spec, spec.loader, spec.origin
    pkg.__path__, pkg.__package__ = list(spec.submodule_search_locations or []), NAME
    # What compressai.entropy_models asks of its package when an entropy model is built; the
    # real __init__ defines the same (with "ans" the default coder) and replaces these if it runs.
    pkg._entropy_coder = "ans"
    pkg.get_entropy_coder = lambda: pkg._entropy_coder
    pkg.available_entropy_coders = lambda: ["ans"]
    sys.modules[NAME] = pkg
