"""Following the metrics files as other processes append: only new bytes, whole lines.

Why a reader of its own rather than :func:`~.._metrics.read_records`: the
dashboard refreshes every second over a history that may be a gigabyte, so a
refresh must never rescan it. :class:`MetricsTail` keeps the open descriptor of
``executions.jsonl``, its inode and the offset read so far, and each
:meth:`~MetricsTail.lines` call reads only the bytes appended since.

* **The first read starts from the tail**: the last ``tail_bytes`` of the
  history (the current file, then rotated ones backwards while the budget
  lasts), from the first whole line. The dashboard shows recent activity; what
  was skipped is counted in :attr:`TailStats.skipped_bytes`.
* **A torn last line** (a writer half-way, a process killed mid-write) is kept
  back and completed by the next read; it is never parsed half.
* **Rotation** (``executions.jsonl`` renamed to ``executions.1.jsonl``, a new
  file in its place) is noticed by the inode: the old descriptor is read to its
  end, then the new file from its start.
* **Truncation** (the same inode, now shorter than the offset) restarts at 0.

Only regular files are opened (a planted FIFO would block the reader).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from .._metrics import METRICS_FILE, metrics_files
from .._quarantine import open_regular

__all__ = ["CHUNK_BYTES", "MetricsTail", "TailStats"]

#: Bytes read per ``read`` call: bounds memory however much was appended.
CHUNK_BYTES = 1 << 20


@dataclass(slots=True)
class TailStats:
    """What the reader has done so far."""

    files: list[str] = field(default_factory=list)
    bytes_read: int = 0
    skipped_bytes: int = 0
    lines: int = 0
    rotations: int = 0
    truncations: int = 0


class MetricsTail:
    """The metrics files of one folder, read incrementally.

    Args:
        directory: the metrics folder (``$CFT_HOME/metrics``); it may not exist yet.
        tail_bytes: how much history the first read takes at most (from the end).
    """

    __slots__ = ("_fd", "_inode", "_offset", "_pending", "_started", "directory", "stats", "tail")

    def __init__(self, directory: Path, *, tail_bytes: int) -> None:
        if tail_bytes < 0:
            raise ValueError("tail_bytes must be at least 0")
        self.directory = Path(directory)
        self.tail = tail_bytes
        self.stats = TailStats()
        self._fd: int | None = None
        self._inode: tuple[int, int] | None = None
        self._offset = 0
        self._pending = b""
        self._started = False

    @property
    def path(self) -> Path:
        """The file being followed."""
        return self.directory / METRICS_FILE

    @property
    def offset(self) -> int:
        """Bytes of the followed file consumed (a torn last line included)."""
        return self._offset

    def close(self) -> None:
        """Close the followed file's descriptor."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> MetricsTail:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def lines(self) -> Iterator[bytes]:
        """Yield the whole lines appended since the last call (the history's tail on the first).

        Lines come oldest first, without their newline; blank lines are skipped.
        """
        if not self._started:
            self._started = True
            yield from self._history()
            return
        yield from self._follow()

    def _history(self) -> Iterator[bytes]:
        """The first read: up to ``tail`` bytes from the end, across rotated files."""
        budget = self.tail
        plan: list[tuple[Path, int]] = []  # (file, start offset), newest first
        for path in reversed(metrics_files(self.directory)):
            try:
                size = path.stat().st_size
            except OSError:
                continue
            start = max(0, size - budget)
            self.stats.skipped_bytes += start
            if start == size and path.name != METRICS_FILE:
                continue  # nothing of it within the budget
            budget -= size - start
            plan.append((path, start))
        for path, start in reversed(plan):
            if path.name == METRICS_FILE:
                if self._open(path):
                    yield from self._read(start, whole_first=start == 0)
                continue
            try:  # a rotated file: read once, then forgotten
                fd = open_regular(path, os.O_RDONLY)
            except OSError:
                continue
            self.stats.files.append(str(path))
            try:
                yield from self._chunks(fd, start, whole_first=start == 0, follow=False)
            finally:
                os.close(fd)
            yield from self._flush_pending()
        if self._fd is None:
            self._open(self.path)  # not there yet: tried again on every refresh

    def _follow(self) -> Iterator[bytes]:
        if self._fd is None:
            if self._open(self.path):
                yield from self._read(0, whole_first=True)
            return
        try:
            now = os.stat(self.path)
            current: tuple[int, int] | None = (now.st_dev, now.st_ino)
        except OSError:
            current = None  # rotated, and no new file yet
        if current is not None and current != self._inode:
            yield from self._read(self._offset, whole_first=True)  # the old file's last lines
            yield from self._flush_pending()
            self.stats.rotations += 1
            self.close()
            if self._open(self.path):
                yield from self._read(0, whole_first=True)
            return
        if os.fstat(self._fd).st_size < self._offset:
            self.stats.truncations += 1
            self._pending = b""
            self._offset = 0
        yield from self._read(self._offset, whole_first=True)

    def _open(self, path: Path) -> bool:
        try:
            fd = open_regular(path, os.O_RDONLY)
        except OSError:
            return False
        stat = os.fstat(fd)
        self._fd, self._inode, self._offset, self._pending = fd, (stat.st_dev, stat.st_ino), 0, b""
        if str(path) not in self.stats.files:
            self.stats.files.append(str(path))
        return True

    def _read(self, start: int, *, whole_first: bool) -> Iterator[bytes]:
        assert self._fd is not None
        yield from self._chunks(self._fd, start, whole_first=whole_first, follow=True)

    def _chunks(self, fd: int, start: int, *, whole_first: bool, follow: bool) -> Iterator[bytes]:
        """Whole lines from ``start`` to the end of ``fd``; a torn end waits in ``_pending``."""
        offset = start
        if not whole_first and start > 0 and os.pread(fd, 1, start - 1) != b"\n":
            # Starting mid-line: that line's head was skipped; drop its tail too.
            skip = b""
            while True:
                chunk = os.pread(fd, CHUNK_BYTES, offset)
                if not chunk:
                    break
                cut = chunk.find(b"\n")
                if cut >= 0:
                    skip += chunk[: cut + 1]
                    break
                skip += chunk
                offset += len(chunk)
            offset = start + len(skip)
            self.stats.skipped_bytes += len(skip)
        if follow:
            self._offset = offset
        while True:
            chunk = os.pread(fd, CHUNK_BYTES, offset)
            if not chunk:
                break
            offset += len(chunk)
            self.stats.bytes_read += len(chunk)
            if follow:
                self._offset = offset
            cut = chunk.rfind(b"\n")
            if cut < 0:
                self._pending += chunk
                continue
            data = self._pending + chunk[: cut + 1]
            self._pending = chunk[cut + 1 :]
            yield from self._split(data)

    def _flush_pending(self) -> Iterator[bytes]:
        """A file's last line that never got its newline (the file will not grow)."""
        data, self._pending = self._pending, b""
        if data and not data.isspace():
            self.stats.lines += 1
            yield data

    def _split(self, data: bytes) -> Iterator[bytes]:
        """The lines of ``data`` (which ends in a newline), blank ones left out."""
        lines = data.split(b"\n")
        lines.pop()
        for line in lines:
            if line and not line.isspace():
                self.stats.lines += 1
                yield line
