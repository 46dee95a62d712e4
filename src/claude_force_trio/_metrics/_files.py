"""The metrics files: whole lines appended by many processes, rotated past a size.

Append safety across processes: each append is **one** ``os.write`` of complete
lines to a descriptor opened with ``O_APPEND``. For a regular file POSIX makes
the seek-to-end and the write one atomic step, and local filesystems do not
interleave the bytes of two such writes, so no line is ever torn — this holds
for any size, unlike the ``PIPE_BUF`` limit that applies to pipes. (NFS does not
honour ``O_APPEND``; keep ``CFT_HOME`` on a local disk.)

**A torn last line** (a process killed mid-write, a full disk) never swallows
the next record: holding an exclusive ``flock`` on the file itself (so no other
writer is half-way through a write), the writer reads the file's last byte and,
if it is not a newline, starts its write with one.

**A planted file** (a symlink, FIFO or folder where ``executions.jsonl`` should
be) is never followed or read: it is moved aside (:mod:`.._quarantine`) with one
warning, and a fresh file takes its place.

Rotation: when the file passes ``max_bytes`` it is renamed to
``executions.1.jsonl`` (older ones shift up, ``keep`` are kept) under an
exclusive ``flock`` on ``executions.lock``, re-checking the size once the lock is
held so two processes never rotate twice. A process still writing to the old
descriptor lands its lines in ``executions.1.jsonl`` — complete, not lost.
"""

from __future__ import annotations

import contextlib
import logging
import os
from pathlib import Path

from .._quarantine import foreign_kind, open_regular, quarantine

try:  # POSIX only; elsewhere rotation is best effort without the lock.
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

__all__ = ["METRICS_FILE", "MetricsFile", "metrics_files"]

log = logging.getLogger("claude_force_trio.metrics")

METRICS_FILE = "executions.jsonl"
_LOCK_FILE = "executions.lock"
#: Read-write so the last byte can be checked for a torn line before appending.
_APPEND = os.O_RDWR | os.O_APPEND | os.O_CREAT


def metrics_files(directory: Path) -> list[Path]:
    """The metrics files in ``directory``, oldest first (``executions.jsonl`` is last)."""
    rotated = []
    for path in directory.glob("executions.*.jsonl"):
        middle = path.name[len("executions.") : -len(".jsonl")]
        if middle.isdigit():
            rotated.append((int(middle), path))
    files = [path for _, path in sorted(rotated, reverse=True)]
    current = directory / METRICS_FILE
    return [*files, current] if current.exists() else files


class MetricsFile:
    """``executions.jsonl`` in one folder, and its rotated predecessors.

    Args:
        directory: the folder; created on the first append.
        max_bytes: rotate once the file is larger than this.
        keep: rotated files kept (``executions.1.jsonl`` … ``executions.{keep}.jsonl``).
    """

    __slots__ = ("directory", "keep", "max_bytes")

    def __init__(self, directory: Path, *, max_bytes: int, keep: int) -> None:
        self.directory = Path(directory)
        self.max_bytes = max_bytes
        self.keep = keep

    @property
    def path(self) -> Path:
        """The file lines are appended to."""
        return self.directory / METRICS_FILE

    def append(self, data: bytes) -> None:
        """Append ``data`` (whole lines) in one write, then rotate if the file is too big.

        Raises:
            OSError: nothing or only part was written; its ``written`` attribute
                (when present) says how many bytes of ``data`` made it.
        """
        self.directory.mkdir(parents=True, exist_ok=True)
        fd = self._open()
        try:
            if fcntl is not None:
                # Another writer's append may be half-way: its last byte would look torn.
                fcntl.flock(fd, fcntl.LOCK_EX)
            _write_all(fd, data)
            size = os.fstat(fd).st_size
        finally:
            os.close(fd)  # closing the descriptor releases the flock
        if size > self.max_bytes:
            try:
                self.rotate()
            except OSError as exc:  # the lines are written; the next append rotates
                log.warning("metrics: could not rotate %s: %s", self.path, exc)

    def _open(self) -> int:
        try:
            return open_regular(self.path, _APPEND)
        except OSError:
            kind = foreign_kind(self.path)
            if kind is None:
                raise
        target = quarantine(self.path, expect=None)
        log.warning("metrics: %s was %s; moved it to %s", self.path, kind, target)
        return open_regular(self.path, _APPEND)

    def rotate(self) -> None:
        """Move the file to ``executions.1.jsonl`` (older ones shift up), under a lock."""
        self.directory.mkdir(parents=True, exist_ok=True)
        lock = os.open(self.directory / _LOCK_FILE, os.O_WRONLY | os.O_CREAT, 0o600)
        try:
            if fcntl is not None:
                fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                if self.path.stat().st_size <= self.max_bytes:
                    return  # another process rotated while we waited for the lock
            except FileNotFoundError:
                return
            with contextlib.suppress(FileNotFoundError):
                (self.directory / f"executions.{self.keep}.jsonl").unlink()
            for n in range(self.keep - 1, 0, -1):
                with contextlib.suppress(FileNotFoundError):
                    older = self.directory / f"executions.{n}.jsonl"
                    older.rename(self.directory / f"executions.{n + 1}.jsonl")
            self.path.rename(self.directory / "executions.1.jsonl")
        finally:
            os.close(lock)  # closing the descriptor releases the flock


def _write_all(fd: int, data: bytes) -> None:
    """Append ``data``, after a newline if the file ends in a torn line.

    Raises:
        OSError: the write failed; its ``written`` attribute says how many bytes
            of ``data`` made it.
    """
    size = os.fstat(fd).st_size
    lead = 1 if size and os.pread(fd, 1, size - 1) != b"\n" else 0
    if lead:
        data = b"\n" + data
    written = 0
    try:
        # A short write on a regular file means a full disk or a signal: go on
        # from where it stopped (the tail may then interleave, the only torn case).
        while written < len(data):
            written += os.write(fd, data[written:])
    except OSError as exc:
        exc.written = max(0, written - lead)  # type: ignore[attr-defined]
        raise
