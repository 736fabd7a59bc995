"""pydicom without its example-data downloader's HTTP stack: about 70 ms off every start.

``import pydicom`` runs ``pydicom.data.download`` (through ``pydicom.pixels.processing``'s
palette lookup), which imports ``requests`` and ``tqdm`` when they are installed, only to
download pydicom's example files, which dicomlens never does. That is a tenth of a
``dicomlens`` command's start (``python -X importtime``: ``requests`` 73 ms and ``tqdm`` 8 ms
of ``pydicom.data.download``'s 108) and part of every Lambda cold start.

:func:`install` (called by ``dicomlens/__init__.py``) adds an import hook that runs that one
module with ``requests`` and ``tqdm`` hidden: pydicom then takes its own fallback, the
standard library's ``urllib`` without a progress bar, for any download. Nothing else is
affected: both stay importable (the hook only hides them while that module runs, and not
at all when they were imported before), and the hook removes itself after its one use.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from importlib.machinery import ModuleSpec, PathFinder
from types import ModuleType
from typing import Any

DOWNLOADER = "pydicom.data.download"
HIDDEN = ("requests", "tqdm")


# The import protocol is duck-typed; importlib.abc's base classes would cost 12 ms to import.
class _HidingLoader:
    """Runs the downloader's module with :data:`HIDDEN` unimportable, then restores them."""

    def __init__(self, loader: Any) -> None:
        self._loader = loader

    def create_module(self, spec: ModuleSpec) -> ModuleType | None:
        module: ModuleType | None = self._loader.create_module(spec)
        return module

    def exec_module(self, module: ModuleType) -> None:
        hidden = [name for name in HIDDEN if name not in sys.modules]
        for name in hidden:
            sys.modules[name] = None  # type: ignore[assignment]  # makes `import name` fail
        try:
            self._loader.exec_module(module)
        finally:
            for name in hidden:
                if name in sys.modules and sys.modules[name] is None:
                    del sys.modules[name]


class _DownloaderFinder:
    """Finds :data:`DOWNLOADER` as the path finder would, with a :class:`_HidingLoader`."""

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> ModuleSpec | None:
        if fullname != DOWNLOADER:
            return None
        uninstall()
        spec = PathFinder.find_spec(fullname, path, target)
        if spec is not None and spec.loader is not None:
            spec.loader = _HidingLoader(spec.loader)  # type: ignore[assignment]  # duck-typed
        return spec


_FINDER = _DownloaderFinder()


def install() -> None:
    """Hide ``requests`` and ``tqdm`` from pydicom's downloader when it is first imported
    (no effect if it already was)."""
    if DOWNLOADER not in sys.modules and _FINDER not in sys.meta_path:
        sys.meta_path.insert(0, _FINDER)


def uninstall() -> None:
    """Remove the hook (after its one use, or for a test)."""
    if _FINDER in sys.meta_path:
        sys.meta_path.remove(_FINDER)
