"""The ``claude_force`` import alias: Claude Force code, unchanged, on this engine.

Why an import hook rather than a package named ``claude_force``: a package
would silently shadow a real Claude Force installation. The hook is off until
:func:`activate` is called (by a test harness), or until the ``.pth`` file that
``cft compat install-shim`` writes sees the first ``import claude_force``. It
maps Claude Force's orchestrator modules to :mod:`claude_force_trio.compat`'s
modules of the same names; with a real ``claude_force`` installed it replaces
only those modules (*overlay*) and keeps the rest of the real package.

Why the ``.pth`` line installs a trigger instead of importing this module: a
``.pth`` line runs at every interpreter start, and importing this package costs
milliseconds each time (its ``__init__``). The trigger is a few lines of code
that stay out of the way until an import names ``claude_force``, then import
this module and hand over. It also fails soft: with this package uninstalled
it steps aside, so a stale ``.pth`` never breaks an interpreter.

A ``.pth`` written without ``--overlay`` (no real Claude Force at install
time) steps aside if a real ``claude_force`` appears later: the real package
is never shadowed without being asked.

This module imports only the standard library.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import importlib.util
import sys
from collections.abc import Sequence
from types import ModuleType
from typing import Literal

__all__ = [
    "MODULES",
    "PTH_NAME",
    "activate",
    "deactivate",
    "find_real",
    "is_active",
    "pth_line",
    "pth_mode",
]

#: Claude Force module → the module of this package that serves it.
MODULES: dict[str, str] = {
    "claude_force.orchestrator": "claude_force_trio.compat.orchestrator",
    "claude_force.async_orchestrator": "claude_force_trio.compat.async_orchestrator",
    "claude_force.hybrid_orchestrator": "claude_force_trio.compat.hybrid_orchestrator",
}
_PACKAGE = ("claude_force", "claude_force_trio.compat")

#: The file ``cft compat install-shim`` writes. It sorts after ``_*.pth`` files,
#: such as the one an editable install of this package uses to join ``sys.path``.
PTH_NAME = "claude_force_trio_shim.pth"

Mode = Literal["overlay", "full"]

# The trigger, as the .pth line runs it: it removes itself at the first import of a
# claude_force name, then asks _start for the finder and lets it answer.
_TRIGGER = (
    "class ClaudeForceTrioShimTrigger:\\n"
    " mode = {mode!r}\\n"
    " def find_spec(self, name, path=None, target=None):\\n"
    "  import sys\\n"
    "  if name != 'claude_force' and not name.startswith('claude_force.'): return None\\n"
    "  if self in sys.meta_path: sys.meta_path.remove(self)\\n"
    "  try: from claude_force_trio._shim import _start\\n"
    "  except ImportError: return None\\n"
    "  return _start(self.mode).find_spec(name, path, target)\\n"
    "import sys as _m\\n"
    "_m.meta_path.insert(0, ClaudeForceTrioShimTrigger())"
)


class _AliasLoader(importlib.abc.Loader):
    """Loads an alias as the already-importable module it names."""

    def __init__(self, target: str) -> None:
        self._target = target
        self._spec: importlib.machinery.ModuleSpec | None = None

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType:
        """Import the served module; the alias becomes another name for it."""
        module = importlib.import_module(self._target)
        self._spec = module.__spec__
        return module

    def exec_module(self, module: ModuleType) -> None:
        """Give the module back its own spec, so reload() and tracebacks still name it."""
        module.__spec__ = self._spec


class _AliasFinder(importlib.abc.MetaPathFinder):
    """Answers for the aliased names only; every other import goes on as usual.

    Args:
        mapping: alias → served module.
        defer_to_real: step aside entirely if a real ``claude_force`` can be
            imported (decided once, at the first aliased import, when
            ``sys.path`` is complete).
    """

    def __init__(self, mapping: dict[str, str], *, defer_to_real: bool = False) -> None:
        self.mapping = mapping
        self.defer_to_real = defer_to_real
        self._stepped_aside: bool | None = None if defer_to_real else False

    @property
    def overlay(self) -> bool:
        """Whether the real package is kept and only its orchestrator modules are served."""
        return _PACKAGE[0] not in self.mapping

    def stepped_aside(self) -> bool:
        """Whether a real ``claude_force`` made this finder give way (decided once)."""
        if self._stepped_aside is None:
            self._stepped_aside = find_real() is not None
        return self._stepped_aside

    def find_spec(
        self,
        fullname: str,
        path: Sequence[str] | None = None,
        target: ModuleType | None = None,
    ) -> importlib.machinery.ModuleSpec | None:
        """A spec for an aliased name, else None (the next finder answers)."""
        where = self.mapping.get(fullname)
        if where is None or self.stepped_aside():
            return None
        is_package = fullname == _PACKAGE[0]
        return importlib.util.spec_from_loader(fullname, _AliasLoader(where), is_package=is_package)


def _finder() -> _AliasFinder | None:
    return next((f for f in sys.meta_path if isinstance(f, _AliasFinder)), None)


def is_active() -> bool:
    """Whether the alias serves ``claude_force`` names in this interpreter."""
    finder = _finder()
    return finder is not None and not finder.stepped_aside()


def activate(*, overlay: bool | None = None) -> bool:
    """Install the alias; return whether a real ``claude_force`` is overlaid.

    Args:
        overlay: ``True`` keeps a real ``claude_force`` package and replaces only
            its orchestrator modules; ``False`` serves ``claude_force`` itself from
            :mod:`claude_force_trio.compat`, even over a real one (the caller asked);
            ``None`` overlays when a real package is installed.
    """
    finder = _finder()
    if finder is not None:
        return finder.overlay
    if overlay is None:
        overlay = find_real() is not None
    _install(overlay=overlay, defer_to_real=False)
    return overlay


def deactivate() -> None:
    """Remove the alias and any pending ``.pth`` trigger (imported modules stay imported)."""
    sys.meta_path[:] = [
        f
        for f in sys.meta_path
        if not isinstance(f, _AliasFinder) and type(f).__name__ != "ClaudeForceTrioShimTrigger"
    ]


def find_real(paths: Sequence[str] | None = None) -> importlib.machinery.ModuleSpec | None:
    """Where a real ``claude_force`` package would be imported from, ignoring the alias.

    Args:
        paths: directories to search instead of the interpreter's finders
            (``sys.path`` order), e.g. a ``--target`` directory first.
    """
    if paths is not None:
        return importlib.machinery.PathFinder.find_spec(_PACKAGE[0], list(paths))
    ours = (_AliasFinder, importlib.machinery.BuiltinImporter, importlib.machinery.FrozenImporter)
    for finder in list(sys.meta_path):
        if isinstance(finder, ours) or type(finder).__name__ == "ClaudeForceTrioShimTrigger":
            continue
        find_spec = getattr(finder, "find_spec", None)
        spec = find_spec(_PACKAGE[0], None) if find_spec is not None else None
        if spec is not None:
            return spec  # type: ignore[no-any-return]
    return None


def pth_line(mode: Mode) -> str:
    """The one line of the ``.pth`` file for ``mode``: it installs the trigger."""
    return f'import sys; exec("{_TRIGGER.format(mode=mode)}")\n'


def pth_mode(text: str) -> Mode | None:
    """Which mode a ``.pth`` file's text installs, or None if this version did not write it."""
    modes: tuple[Mode, ...] = ("overlay", "full")
    for mode in modes:
        if text == pth_line(mode):
            return mode
    return None


def _install(*, overlay: bool, defer_to_real: bool) -> _AliasFinder:
    mapping = dict(MODULES)
    if not overlay:
        mapping[_PACKAGE[0]] = _PACKAGE[1]
    finder = _AliasFinder(mapping, defer_to_real=defer_to_real)
    sys.meta_path.insert(0, finder)
    return finder


def _start(mode: str) -> _AliasFinder:
    """What the ``.pth`` trigger calls at the first ``claude_force`` import.

    ``overlay`` replaces the orchestrator modules of the real package; ``full``
    serves the whole ``claude_force`` package unless a real one is importable.
    """
    finder = _finder()
    if finder is None:
        overlay = mode == "overlay"
        finder = _install(overlay=overlay, defer_to_real=not overlay)
    return finder
