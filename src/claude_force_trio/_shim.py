"""The ``claude_force`` import alias: Claude Force code, unchanged, on this engine.

Why an import hook rather than a package named ``claude_force``: a package
would silently shadow a real Claude Force installation. The hook is off until
:func:`activate` is called (by the ``.pth`` file ``cft compat install-shim``
writes, or by a test harness). It maps Claude Force's orchestrator modules to
:mod:`claude_force_trio.compat`'s modules of the same names; with a real
``claude_force`` installed it replaces only those modules (*overlay*) and
keeps the rest of the real package.

This module imports only the standard library, so a ``.pth`` line that
imports it costs nothing at interpreter start.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import importlib.util
import sys
from collections.abc import Sequence
from types import ModuleType

__all__ = ["MODULES", "activate", "deactivate", "is_active"]

#: Claude Force module → the module of this package that serves it.
MODULES: dict[str, str] = {
    "claude_force.orchestrator": "claude_force_trio.compat.orchestrator",
    "claude_force.async_orchestrator": "claude_force_trio.compat.async_orchestrator",
    "claude_force.hybrid_orchestrator": "claude_force_trio.compat.hybrid_orchestrator",
}
_PACKAGE = ("claude_force", "claude_force_trio.compat")


class _AliasLoader(importlib.abc.Loader):
    """Loads an alias as the already-importable module it names."""

    def __init__(self, target: str) -> None:
        self._target = target

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType:
        module = importlib.import_module(self._target)
        self._spec = module.__spec__
        return module

    def exec_module(self, module: ModuleType) -> None:
        # The import system has just stamped the alias's spec on the module;
        # give it back its own, so reload() and tracebacks still name it.
        module.__spec__ = self._spec


class _AliasFinder(importlib.abc.MetaPathFinder):
    """Answers for the aliased names only; every other import goes on as usual."""

    def __init__(self, mapping: dict[str, str]) -> None:
        self.mapping = mapping

    def find_spec(
        self,
        fullname: str,
        path: Sequence[str] | None = None,
        target: ModuleType | None = None,
    ) -> importlib.machinery.ModuleSpec | None:
        where = self.mapping.get(fullname)
        if where is None:
            return None
        is_package = fullname == _PACKAGE[0]
        return importlib.util.spec_from_loader(fullname, _AliasLoader(where), is_package=is_package)


def _finder() -> _AliasFinder | None:
    return next((f for f in sys.meta_path if isinstance(f, _AliasFinder)), None)


def is_active() -> bool:
    """Whether the alias is installed in this interpreter."""
    return _finder() is not None


def activate(*, overlay: bool | None = None) -> bool:
    """Install the alias; return whether a real ``claude_force`` is overlaid.

    Args:
        overlay: ``True`` keeps a real ``claude_force`` package and replaces only
            its orchestrator modules; ``False`` serves ``claude_force`` itself from
            :mod:`claude_force_trio.compat`; ``None`` overlays when a real package
            is installed.
    """
    if overlay is None:
        overlay = _real_package_installed()
    if _finder() is None:
        mapping = dict(MODULES)
        if not overlay:
            mapping[_PACKAGE[0]] = _PACKAGE[1]
        sys.meta_path.insert(0, _AliasFinder(mapping))
    return overlay


def deactivate() -> None:
    """Remove the alias (modules already imported stay imported)."""
    finder = _finder()
    if finder is not None:
        sys.meta_path.remove(finder)


def _real_package_installed() -> bool:
    finder = _finder()
    if finder is not None:
        sys.meta_path.remove(finder)
    try:
        return importlib.util.find_spec(_PACKAGE[0]) is not None
    finally:
        if finder is not None:
            sys.meta_path.insert(0, finder)
