"""Opening and walking paths inside a workspace, as the model names them.

Why these rules: the model's paths are untrusted input. A path is relative to
the workspace root (an absolute one is refused: the model does not know where
the root is, so ``/etc/passwd`` is never what it should read), ``..`` may not
climb above the root, and what is *opened* is confined, not a path checked
beforehand: each component is opened relative to its parent's descriptor with
``O_NOFOLLOW`` and symlinks are followed only while they stay inside (the walk
of ``_config._files``, which does the same for agent files). Walks never follow
symlinks at all, and skip the folders of version control, virtual
environments and caches, whose contents are noise (and, for ``.git``, may hold
credentials: a path into a VCS folder is refused outright).

Errors are :class:`ToolError` with the path as the model wrote it (normalized)
and a reason, never a host path: the messages go back to the model.
"""

from __future__ import annotations

import errno
import os
import posixpath
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from .._config._files import _CONFINED, Escapes, Refused, _kind, _open_confined
from ._base import ToolError

__all__ = ["SKIPPED", "Entry", "Walk", "Workspace"]

#: Folders walks do not enter: version control, virtual environments, caches.
SKIPPED = frozenset(
    {".git", ".hg", ".svn", ".venv", "node_modules", "__pycache__", ".mypy_cache", ".pytest_cache",
     ".ruff_cache", ".tox", ".nox"}
)  # fmt: skip
#: Folders a path may not name at all (``.git/config`` may carry a token in a remote URL).
_PRIVATE = frozenset({".git", ".hg", ".svn"})
_DIR_FLAGS = os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | getattr(os, "O_CLOEXEC", 0)
_FILE_FLAGS = os.O_RDONLY | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_NONBLOCK", 0)
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
#: Deeper than this, a walk does not descend (a path that deep is a generated tree).
_MAX_DEPTH = 64

_REASONS = {
    errno.ENOENT: "not found",
    errno.ENOTDIR: "not found (a part of the path is a file)",
    errno.EACCES: "permission denied",
    errno.EPERM: "permission denied",
    errno.ELOOP: "too many levels of symbolic links",
    errno.ENAMETOOLONG: "the name is too long",
}


def reason(exc: OSError) -> str:
    """Why an OS call failed, without the file names the exception carries."""
    if exc.errno in _REASONS:
        return _REASONS[exc.errno]
    return os.strerror(exc.errno) if exc.errno else "cannot be read"


@dataclass(frozen=True, slots=True)
class Entry:
    """One entry met by a walk.

    Attributes:
        path: relative to the workspace root, with ``/``.
        kind: ``file``, ``dir``, ``link`` (a symlink, not followed) or ``other``.
        dir_fd: the descriptor of its folder (valid until the walk moves on).
        name: its name in that folder.
    """

    path: str
    kind: str
    dir_fd: int
    name: str


class Walk:
    """A bounded walk: it stops (``truncated``) after ``limit`` entries."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.visited = 0
        self.truncated = False

    def entries(self, dir_fd: int, prefix: str, *, recursive: bool) -> Iterator[Entry]:
        """The entries under ``dir_fd`` in name order, depth first (a folder, then its contents)."""
        yield from self._walk(dir_fd, prefix, recursive, 0)

    def _walk(self, dir_fd: int, prefix: str, recursive: bool, depth: int) -> Iterator[Entry]:
        try:
            with os.scandir(dir_fd) as found:
                listed = sorted(found, key=lambda entry: entry.name)
        except OSError:
            return  # unreadable folder: nothing to list
        for item in listed:
            if self.visited >= self.limit:
                self.truncated = True
                return
            self.visited += 1
            kind = _kind_of(item)
            if kind == "dir" and item.name in SKIPPED:
                continue
            path = f"{prefix}/{item.name}" if prefix not in ("", ".") else item.name
            yield Entry(path, kind, dir_fd, item.name)
            if recursive and kind == "dir" and depth < _MAX_DEPTH:
                try:
                    sub = os.open(item.name, _DIR_FLAGS | _NOFOLLOW, dir_fd=dir_fd)
                except OSError:
                    continue
                try:
                    yield from self._walk(sub, path, recursive, depth + 1)
                finally:
                    os.close(sub)
                if self.truncated:
                    return


def _kind_of(item: os.DirEntry[str]) -> str:
    try:
        if item.is_symlink():
            return "link"
        if item.is_dir(follow_symlinks=False):
            return "dir"
        return "file" if item.is_file(follow_symlinks=False) else "other"
    except OSError:
        return "other"


class Workspace:
    """A folder the model may read, and nothing outside it.

    Raises:
        ValueError: ``root`` is not a directory.
        RuntimeError: the OS cannot open files relative to a folder (no ``openat``).
    """

    def __init__(self, root: Path) -> None:
        if not _CONFINED:
            raise RuntimeError("workspace tools need a POSIX system (openat with O_NOFOLLOW)")
        if not Path(root).is_dir():
            raise ValueError(f"workspace {root}: not a directory")
        self.root = Path(root)
        self.real_root = os.path.realpath(root)

    def normalize(self, written: str) -> str:
        """The path as shown: relative, ``/``-separated, without ``.`` or ``..`` parts.

        Raises:
            ToolError: absolute, leaves the root, holds a NUL, or names a VCS folder.
        """
        if not isinstance(written, str) or "\x00" in written:
            raise ToolError("a path must be text without NUL characters")
        if posixpath.isabs(written) or Path(written).is_absolute():
            raise ToolError(
                f"{written!r}: absolute paths are not allowed; give a path relative to the"
                " workspace root (e.g. 'src/app.py')"
            )
        shown = posixpath.normpath(written or ".")
        if shown == ".." or shown.startswith("../"):
            raise ToolError(f"{written!r} leads outside the workspace")
        if _PRIVATE.intersection(shown.split("/")):
            raise ToolError(f"{shown}: version-control folders are not readable")
        return shown

    def open(self, written: str) -> tuple[int, str, int]:
        """Open ``written`` inside the workspace: its descriptor, shown path and ``st_mode``.

        Raises:
            ToolError: see :meth:`normalize`; not found, a symlink out, unreadable.
        """
        shown = self.normalize(written)
        try:
            if shown == ".":
                fd = os.open(self.real_root, _DIR_FLAGS)
            else:
                fd = _open_confined(self.root, self.real_root, shown)
        except Escapes:
            raise ToolError(f"{shown}: leads outside the workspace (a symbolic link)") from None
        except Refused as exc:
            raise ToolError(f"{shown} {exc}") from None
        except OSError as exc:
            raise ToolError(f"{shown}: {reason(exc)}") from None
        try:
            mode = os.fstat(fd).st_mode
        except OSError as exc:
            os.close(fd)
            raise ToolError(f"{shown}: {reason(exc)}") from None
        return fd, shown, mode


def open_file(entry: Entry) -> int | None:
    """A walked file's descriptor if it is still a regular file (not a link), else ``None``."""
    try:
        fd = os.open(entry.name, _FILE_FLAGS | _NOFOLLOW, dir_fd=entry.dir_fd)
    except OSError:
        return None
    if stat.S_ISREG(os.fstat(fd).st_mode):
        return fd
    os.close(fd)
    return None


def refuse_kind(shown: str, mode: int, wanted: str) -> None:
    """:class:`ToolError` unless ``mode`` is a ``wanted`` (``file`` or ``dir``)."""
    if wanted == "dir" and stat.S_ISREG(mode):
        raise ToolError(f"{shown} is a file, not a directory; use read_file")
    if wanted == "dir" and not stat.S_ISDIR(mode):
        raise ToolError(f"{shown} is {_kind(mode)}, not a directory")
    if wanted == "file" and stat.S_ISDIR(mode):
        raise ToolError(f"{shown} is a directory; use list_files")
    if wanted == "file" and not stat.S_ISREG(mode):
        raise ToolError(f"{shown} is {_kind(mode)}, not a regular file")
