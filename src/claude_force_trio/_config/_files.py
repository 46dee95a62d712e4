"""Read the files a config names: inside its folder, regular files only, size-capped.

Why open-then-verify instead of check-then-read: resolving a path (is it inside
the folder?) and reading it are two lookups, and a symlink swapped between them
gets an outside file read and sent as the system prompt. Here the path is
walked one component at a time from the folder's descriptor (``dir_fd``), each
opened with ``O_NOFOLLOW``; a symlink is read (``readlink``) and its target
walked the same way, confined to the folder. So what is opened is exactly what
was checked, however the links change meanwhile.

Why ``O_NONBLOCK`` and ``fstat``: opening a FIFO for reading blocks until a
writer comes, which hung every command; non-blocking, the open returns at once
and ``fstat`` then refuses anything that is not a regular file. Files are read
to a cap, so a huge (or endless) file costs an error line, not the memory.

Windows has no ``dir_fd``: there the path is opened and its ``realpath``
checked, which keeps the folder rule but not the race-freedom.
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path, PurePath
from typing import Any

from .._errors import ConfigError, ConfigNotFoundError
from ._checks import _string

__all__ = [
    "MAX_AGENT_FILE_BYTES",
    "Escapes",
    "Refused",
    "open_regular",
    "read_inside",
    "read_named",
    "read_regular",
]

_RDONLY = os.O_RDONLY | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_BINARY", 0)
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_NONBLOCK = getattr(os, "O_NONBLOCK", 0)
_DIRECTORY = getattr(os, "O_DIRECTORY", 0)
#: Walk the path ourselves where the OS lets us open relative to a directory descriptor.
_CONFINED = bool(_NOFOLLOW and _DIRECTORY) and {os.open, os.readlink} <= os.supports_dir_fd
#: As the kernel does: a chain of more links than this is a loop.
_MAX_LINKS = 40
#: What ``open`` with ``O_NOFOLLOW`` says about a symlink (Linux: ELOOP, or ENOTDIR
#: with ``O_DIRECTORY``; FreeBSD: EMLINK).
_LINK_ERRNOS = frozenset(
    getattr(errno, name) for name in ("ELOOP", "EMLINK", "ENOTDIR") if hasattr(errno, name)
)


class Refused(Exception):
    """Raised for a file we will not read; ``str()`` says why, after the file's name."""


class Escapes(Refused):
    """Raised when a path (or a symlink on it) leads outside the folder."""

    def __init__(self) -> None:
        super().__init__("path escapes the config folder")


def _kind(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "a directory"
    if stat.S_ISFIFO(mode):
        return "a FIFO"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "not a regular file"


def read_regular(fd: int, limit: int) -> bytes:
    """Read the whole of ``fd`` (and close it) if it is a regular file of at most ``limit`` bytes.

    Args:
        fd: an open descriptor; closed on return, whatever happens.
        limit: the most bytes accepted.

    Raises:
        Refused: not a regular file, or larger than ``limit``.
        OSError: the read failed.
    """
    try:
        mode = os.fstat(fd).st_mode
        if stat.S_ISDIR(mode):
            raise Refused("is a directory, not a file")
        if not stat.S_ISREG(mode):
            raise Refused(f"is {_kind(mode)}, not a regular file")
        chunks: list[bytes] = []
        size = 0
        while size <= limit:  # read to the cap, not to st_size: the file may still grow
            chunk = os.read(fd, min(1 << 16, limit + 1 - size))
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
    finally:
        os.close(fd)
    if size > limit:
        raise Refused(f"is larger than {_size(limit)}")
    return b"".join(chunks)


def _size(limit: int) -> str:
    return f"{limit >> 20} MiB" if limit >= 1 << 20 and not limit % (1 << 20) else f"{limit} bytes"


def open_regular(path: Path) -> int:
    """Open ``path`` for reading, without blocking on a FIFO (then :func:`read_regular`)."""
    return os.open(path, _RDONLY | _NONBLOCK)


def read_inside(root: Path, written: str, *, limit: int) -> bytes:
    """The bytes of ``root / written``, which must be a regular file inside ``root``.

    Symlinks are followed while they stay inside ``root``; an absolute path is
    accepted when it names a place inside ``root``.

    Args:
        root: the folder the file must be in (the config's folder).
        written: the path as the config spells it.
        limit: the most bytes accepted.

    Raises:
        Escapes: the path, or a symlink on it, leads outside ``root``.
        Refused: not a regular file, or larger than ``limit``.
        OSError: not found, not readable, a symlink loop…
        ValueError: the path holds a NUL character.
    """
    real_root = os.path.realpath(root)
    fd = _open_confined(root, real_root, written) if _CONFINED else _open_checked(root, written)
    return read_regular(fd, limit)


def _open_checked(root: Path, written: str) -> int:
    """Where there is no ``dir_fd``: open, then check where the path resolves (not race-free)."""
    candidate = root / written
    fd = open_regular(candidate)
    try:
        if not Path(os.path.realpath(candidate)).is_relative_to(os.path.realpath(root)):
            raise Escapes
    except BaseException:
        os.close(fd)
        raise
    return fd


def _parts_inside(target: str, root: Path, real_root: str) -> list[str]:
    """The components of absolute ``target`` below ``root``; :class:`Escapes` if it is not below."""
    path = PurePath(target)
    for base in (str(root), real_root):
        if path.is_relative_to(base):
            return list(path.relative_to(base).parts)
    # A spelling through an outside link (/tmp → /private/tmp): resolve it only to
    # find the place inside; the walk that follows is confined all the same.
    real = PurePath(os.path.realpath(target))
    if real.is_relative_to(real_root):
        return list(real.relative_to(real_root).parts)
    raise Escapes


def _open_confined(root: Path, real_root: str, written: str) -> int:
    """Walk ``written`` from the folder's descriptor, one ``O_NOFOLLOW`` component at a time."""
    if PurePath(written).is_absolute():
        names = _parts_inside(written, root, real_root)
    else:
        names = list(PurePath(written).parts)
    pending = names[::-1]  # a stack: the next component is last
    dirs = [os.open(real_root, _RDONLY | _DIRECTORY)]
    links = 0
    try:
        while pending:
            name = pending.pop()
            if name in ("", "."):
                continue
            if name == "..":
                if len(dirs) == 1:
                    raise Escapes
                os.close(dirs.pop())
                continue
            final = not pending
            flags = _RDONLY | _NOFOLLOW | _NONBLOCK | (0 if final else _DIRECTORY)
            try:
                fd = os.open(name, flags, dir_fd=dirs[-1])
            except OSError as exc:
                if exc.errno not in _LINK_ERRNOS:
                    raise
                target = _link_target(name, dirs[-1], exc)
                links += 1
                if links > _MAX_LINKS:
                    raise OSError(errno.ELOOP, os.strerror(errno.ELOOP)) from None
                if PurePath(target).is_absolute():
                    pending.extend(reversed(_parts_inside(target, root, real_root)))
                    while len(dirs) > 1:
                        os.close(dirs.pop())
                else:
                    pending.extend(reversed(PurePath(target).parts))
                continue
            if final:
                return fd
            dirs.append(fd)
        # The path ended on a directory ("agents/..", "."): what was named is a folder.
        raise Refused("is a directory, not a file")
    finally:
        for fd in dirs:
            os.close(fd)


def _link_target(name: str, dir_fd: int, error: OSError) -> str:
    """What the symlink ``name`` points to; ``error`` again if ``name`` is not a symlink."""
    try:
        return os.readlink(name, dir_fd=dir_fd)
    except OSError:
        raise error from None


#: The most an agent definition or contract may weigh: it is sent with every call.
MAX_AGENT_FILE_BYTES = 1 << 20


def read_named(root: Path, value: Any, path: str) -> tuple[Path, str]:
    """Read a file the config names: a regular UTF-8 file inside ``root``, of at most 1 MiB.

    The folder rule is enforced on what is *opened*, not on a path checked
    beforehand, so a symlink swapped in between cannot get an outside file read
    (see above); a FIFO or a device is refused instead of blocking.
    """
    written = _string(value, path)
    file = root / written
    shown = os.path.relpath(file, root)
    try:
        data = read_inside(root, written, limit=MAX_AGENT_FILE_BYTES)
    except Escapes as exc:
        raise ConfigError(path, str(exc)) from None
    except Refused as exc:
        raise ConfigError(path, f"{shown} {exc}") from None
    except FileNotFoundError as exc:
        raise ConfigNotFoundError(path, f"file not found: {shown}") from exc
    except ValueError as exc:  # a NUL in the path
        raise ConfigError(path, f"invalid path {written!r}") from exc
    except OSError as exc:  # permissions, a name too long, a symlink loop…
        raise ConfigError(path, f"cannot read {shown}: {exc.strerror or exc}") from exc
    try:
        return file, data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(path, f"{shown} is not valid UTF-8 (byte {exc.start})") from exc
