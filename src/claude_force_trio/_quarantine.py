"""Damaged state files: telling damage from a busy disk, and moving a damaged file aside.

The response cache, its counters and the agents' memory are SQLite files under
``$CFT_HOME``. A file garbled by another program or a bad sector, or something
planted that is not a regular file (a FIFO would hang SQLite's first read),
must not stop every command. So a store that cannot be opened is renamed to
``<name>.damaged-<UTC time>`` together with its ``-wal``, ``-shm`` and
``-journal`` companions (``sqlite3`` can still open the renamed file to recover
what is left), an empty store takes its place, and the caller logs one warning
naming both paths.

Plain state files (the metrics JSONL) are opened with :func:`open_regular`,
which neither follows a planted symlink nor blocks on a planted FIFO.

Only SQLite's own verdicts count as damage (:func:`is_damage`): a locked,
full, read-only or unreachable database is an environment problem that
renaming would not fix, so those errors pass through.

Renaming a database that a connection still has open is safe: SQLite sees
the move and neither checkpoints into nor deletes companions under the old
name (``tests/test_hostile_state.py`` checks this against the installed SQLite).
"""

from __future__ import annotations

import contextlib
import errno
import os
import sqlite3
import stat
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

__all__ = [
    "COMPANIONS",
    "Damaged",
    "Identity",
    "foreign_kind",
    "identity",
    "is_damage",
    "lenient_text",
    "open_regular",
    "quarantine",
    "reason",
    "unfit",
    "while_locked",
]

#: Files SQLite keeps next to a database; they belong to it and move with it.
COMPANIONS = ("-wal", "-shm", "-journal")

#: SQLite's primary result codes meaning "this file is not the database we wrote".
_CORRUPT, _NOTADB = 11, 26
#: SQLITE_ERROR: also a schema that lacks our tables or columns — damage when
#: opening, and later only when SQLite says a table or column is missing.
_ERROR = 1

_SCHEMA_GONE = ("no such table", "no such column", "malformed database schema")
#: What a library raises when it decodes garbage it read from the file.
_DECODING = (ValueError, TypeError, KeyError, IndexError, AttributeError)

Identity = tuple[int, int]

_MAGIC = b"SQLite format 3\x00"
#: Never block on a FIFO, never follow a symlink planted in a state folder.
_SAFE_OPEN = getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)


class Damaged(Exception):
    """A store is damaged in a way SQLite did not report itself (our own checks found it)."""


def is_damage(exc: BaseException, *, opening: bool = False) -> bool:
    """True when ``exc`` says the file is not (or no longer) a sound database of ours.

    Args:
        exc: what a store operation raised.
        opening: the store is being opened and probed. Then a schema that does
            not match (``SQLITE_ERROR``) and Python errors raised while a library
            decodes garbage it read from the file count too.
    """
    if isinstance(exc, Damaged):
        return True
    if isinstance(exc, sqlite3.DatabaseError):
        code = getattr(exc, "sqlite_errorcode", None)
        if code is None:
            return False
        primary = code & 0xFF
        if primary == _ERROR:
            # Our statements are fixed: mid-run, a missing table or column means a
            # garbled schema (a trigger's body, say), not a mistake of ours.
            return opening or str(exc).startswith(_SCHEMA_GONE)
        return primary in (_CORRUPT, _NOTADB)
    if isinstance(exc, UnicodeDecodeError):
        # With lenient_text, sqlite3 raises this only for an error message it cannot
        # decode: SQLite quoting a garbled name from the schema.
        return True
    return opening and isinstance(exc, _DECODING)


def identity(path: Path) -> Identity | None:
    """``(device, inode)`` of ``path`` itself (a symlink is not followed), or ``None``."""
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        return None
    return info.st_dev, info.st_ino


def foreign_kind(path: Path) -> str | None:
    """What ``path`` is when it exists but is not a regular file; ``None`` otherwise."""
    try:
        mode = os.lstat(path).st_mode
    except FileNotFoundError:
        return None
    if stat.S_ISREG(mode):
        return None
    if stat.S_ISLNK(mode):
        return "a symlink"
    if stat.S_ISDIR(mode):
        return "a directory"
    return "a FIFO" if stat.S_ISFIFO(mode) else "not a regular file"


def open_regular(path: Path, flags: int, mode: int = 0o600) -> int:
    """``os.open`` that refuses anything but a regular file (no symlink, FIFO or device).

    Args:
        path: the file.
        flags: ``os.O_*`` flags; no-follow and non-blocking are added.
        mode: permissions of a file created now.

    Raises:
        OSError: the file cannot be opened, or is not a regular file (``ELOOP``
            for a symlink, ``EINVAL`` for the rest).
    """
    fd = os.open(path, flags | _SAFE_OPEN, mode)
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise OSError(errno.EINVAL, "not a regular file", str(path))
    return fd


def unfit(path: Path) -> str | None:
    """Why SQLite must not open ``path`` at all, or ``None`` (missing, empty or plausible).

    Two things SQLite would not report as damage: something that is not a regular
    file (a FIFO hangs the first read; a symlink leads out of the folder), and a
    header whose format-version bytes (offsets 18 and 19, 1 or 2 in every
    SQLite 3 file) were garbled, which makes SQLite open the file read-only.
    """
    kind = foreign_kind(path)
    if kind is not None:
        return f"it is {kind}"
    try:
        fd = open_regular(path, os.O_RDONLY)
    except FileNotFoundError:
        return None
    except OSError as exc:  # swapped for a FIFO or symlink since the check above
        return f"it cannot be read safely ({exc.strerror})"
    with os.fdopen(fd, "rb") as handle:
        header = handle.read(100)
    if header.startswith(_MAGIC) and len(header) == 100 and not {header[18], header[19]} <= {1, 2}:
        return "its header names an unknown file format version"
    return None


def quarantine(path: Path, *, expect: Identity | None, now: datetime | None = None) -> Path | None:
    """Rename ``path`` and its companions to ``<path>.damaged-<UTC time>``.

    Args:
        path: the damaged file (a symlink or FIFO is renamed itself, never followed).
        expect: the identity the caller found damaged; when ``path`` is now another
            file (another process already moved the damaged one aside and started
            afresh), nothing is renamed. ``None`` renames whatever is there.
        now: the time stamped into the new name (tests pin it).

    Returns:
        The new path, or ``None`` when there was nothing (or nothing of ours) to move.

    Raises:
        OSError: the file or a companion could not be renamed.
    """
    current = identity(path)
    if current is None or (expect is not None and current != expect):
        return None
    stamp = (now or datetime.now(UTC)).strftime("%Y%m%dT%H%M%SZ")
    target = path.with_name(f"{path.name}.damaged-{stamp}")
    n = 1
    while any(os.path.lexists(f"{target}{s}") for s in ("", *COMPANIONS)):
        n += 1
        target = path.with_name(f"{path.name}.damaged-{stamp}-{n}")
    os.rename(path, target)
    # A companion left behind would be replayed into the fresh database: move it too.
    for suffix in COMPANIONS:
        with contextlib.suppress(FileNotFoundError):
            os.rename(f"{path}{suffix}", f"{target}{suffix}")
    return target


def lenient_text(raw: bytes) -> str:
    """SQLite TEXT as ``str`` (a connection's ``text_factory``): non-UTF-8 bytes become U+FFFD.

    A garbled byte in one row then reads as a wrong value (a miss, a foreign
    row) instead of failing every statement that touches the row.
    """
    return raw.decode("utf-8", "replace")


def reason(exc: BaseException, limit: int = 160) -> str:
    """A short, single-line description of ``exc`` for a warning."""
    text = " ".join(f"{type(exc).__name__}: {exc}".split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


#: How long a set-up statement is retried while another process sets the same file up.
OPEN_PATIENCE_S = 10.0


def while_locked(statement: Callable[[], object]) -> None:
    """Run a set-up statement, again and again while another process holds the file.

    Two processes opening a new file at once both switch it to WAL and create
    its tables; SQLite answers one of them "database is locked" at once,
    without waiting out the busy timeout, when waiting could deadlock. So the
    set-up is retried, with growing pauses, up to :data:`OPEN_PATIENCE_S`.
    Blocking: call it from a worker thread.
    """
    deadline = time.monotonic() + OPEN_PATIENCE_S
    pause = 0.005
    while True:
        try:
            statement()
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() + pause > deadline:
                raise
        time.sleep(pause)  # a worker thread: the event loop is not held
        pause = min(pause * 2, 0.2)
