"""Standard library modules that the CLI loads when first used, not when imported.

:mod:`dataclasses` imports :mod:`inspect` (and with it ``ast``, ``dis`` and
``tokenize``: about 12 ms, a tenth of a remote ``shipmate record``) for one call,
the signature it writes as the docstring of a class that has none.  Every record
class a remote ``record`` or ``version next`` creates has a docstring, so those
commands never need :mod:`inspect`; :func:`load_on_first_use` lets them skip it.

The module stands in :data:`sys.modules` with its name, spec and file set, so
``import inspect`` finds it as it is; asking it for anything else (``inspect.signature``,
``from inspect import signature``) runs the module's code first, once, and from then
on it is the ordinary module.  Unlike :class:`importlib.util.LazyLoader`, whose module
loads at the next ``import`` statement (the import system reads ``__spec__``), only a
use loads it.  A module already imported is left as it is, so in a process that has
loaded it (the test suite, ``shipmate serve`` once FastAPI has) this does nothing.
"""

from __future__ import annotations

import sys
import types
from typing import Any

__all__ = ["load_on_first_use"]


class _LoadedOnFirstUse(types.ModuleType):
    """A module whose code runs when a name it defines is first asked for."""

    def __getattr__(self, name: str) -> Any:
        # Only names the module does not hold yet get here: its spec, name and file are
        # set, so the import system's own look-ups do not load it.
        spec = self.__spec__
        assert spec is not None and spec.loader is not None
        # From here on an ordinary module: names asked for while it runs are plain look-ups.
        self.__class__ = types.ModuleType  # type: ignore[assignment]
        spec.loader.exec_module(self)
        return getattr(self, name)


def load_on_first_use(name: str) -> None:
    """Put the top-level module ``name`` in :data:`sys.modules`, to be loaded on first use."""
    if name in sys.modules:
        return
    import importlib.util

    spec = importlib.util.find_spec(name)
    if spec is None or spec.loader is None:
        return
    module = importlib.util.module_from_spec(spec)
    module.__class__ = _LoadedOnFirstUse
    sys.modules[name] = module
