"""The metrics recorder: one JSON line per finished call in ``$CFT_HOME/metrics/executions.jsonl``.

Why JSON lines in a plain file: any number of processes (a CLI run, a server,
a notebook) can append to it without a database or a daemon, ``jq``/``grep``
can read it, and :mod:`._aggregate` streams it in bounded memory.

Append safety across processes: each flush is **one** ``os.write`` of complete
lines to a descriptor opened with ``O_APPEND``. For a regular file POSIX makes
the seek-to-end and the write one atomic step, and local filesystems do not
interleave the bytes of two such writes, so no line is ever torn — this holds
for any size, unlike the ``PIPE_BUF`` limit that applies to pipes. (NFS does not
honour ``O_APPEND``; keep ``CFT_HOME`` on a local disk.)

**A torn last line** (a process killed mid-write, a full disk) never swallows
the next record: holding an exclusive ``flock`` on the file itself (so no other
writer is half-way through a write), the writer reads the file's last byte and,
if it is not a newline, starts its write with one.

**Nothing is dropped on a failed write.** Lines stay in the buffer until a
write succeeds (a full disk, ``EMFILE`` under a tight ``ulimit -n``); the next
flush retries them, and so does :meth:`MetricsRecorder.close`. The buffer is
bounded (:data:`MAX_BUFFERED` lines): past it the oldest are dropped, counted in
:attr:`MetricsRecorder.dropped`, and one warning is logged.

Rotation: when the file passes ``max_bytes`` it is renamed to
``executions.1.jsonl`` (older ones shift up, ``keep`` are kept) under an
exclusive ``flock`` on ``executions.lock``, re-checking the size once the lock is
held so two processes never rotate twice. A process still writing to the old
descriptor lands its lines in ``executions.1.jsonl`` — complete, not lost.

What is never written: the task text (only ``task_hash``, a SHA-256) and the key.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import threading
from collections import OrderedDict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import trio

from .._events import (
    Event,
    StepCancelled,
    StepFailed,
    StepQueued,
    StepSucceeded,
    StepTimedOut,
    WorkflowFinished,
    WorkflowStarted,
)
from .._quarantine import foreign_kind, open_regular, quarantine

try:  # POSIX only; elsewhere rotation is best effort without the lock.
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

__all__ = [
    "FIELDS",
    "MAX_BUFFERED",
    "METRICS_FILE",
    "MetricsRecorder",
    "hash_task",
    "metrics_files",
]

log = logging.getLogger("claude_force_trio.metrics")

METRICS_FILE = "executions.jsonl"
_LOCK_FILE = "executions.lock"
#: Unwritten lines kept in memory at most; beyond it the oldest are dropped.
MAX_BUFFERED = 10_000
#: Read-write so the last byte can be checked for a torn line before appending.
_APPEND = os.O_RDWR | os.O_APPEND | os.O_CREAT

#: The keys of every line, in order (also the CSV columns of ``cft metrics export``).
FIELDS = (
    "ts",
    "run_id",
    "workflow",
    "step_id",
    "agent",
    "model",
    "success",
    "status",
    "error_type",
    "cached",
    "attempts",
    "latency_ms",
    "ttft_ms",
    "input_tokens",
    "output_tokens",
    "cache_read_input_tokens",
    "cache_creation_input_tokens",
    "cost_usd",
    "saved_usd",
    "task_hash",
)

_FINISHED = (StepSucceeded, StepFailed, StepTimedOut, StepCancelled)
_MAX_REMEMBERED = 4096  # bound on per-run and per-task state, so a long-lived engine stays small


def hash_task(text: str) -> str:
    """The SHA-256 hex digest of a task: how metrics and memory name a task without storing it."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


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


def _write_all(fd: int, data: bytes) -> None:
    """Append ``data``, after a newline if the file ends in a torn line.

    Raises:
        OSError: the write failed; its ``written`` attribute says how many bytes
            of ``data`` made it.
    """
    size = os.fstat(fd).st_size
    if size and os.pread(fd, 1, size - 1) != b"\n":
        data = b"\n" + data
        lead = 1
    else:
        lead = 0
    written = 0
    try:
        # A short write on a regular file means a full disk or a signal: go on
        # from where it stopped (the tail may then interleave, the only torn case).
        while written < len(data):
            written += os.write(fd, data[written:])
    except OSError as exc:
        exc.written = max(0, written - lead)  # type: ignore[attr-defined]
        raise


def _remember(table: OrderedDict[Any, Any], key: Any, value: Any) -> None:
    table[key] = value
    table.move_to_end(key)
    if len(table) > _MAX_REMEMBERED:
        table.popitem(last=False)


class MetricsRecorder:
    """A hook that records every finished call (not skips) as one JSON line.

    Why buffered and flushed synchronously: a hook runs in the engine's task
    and must not block, but a flush is a single ``write`` of a few kilobytes to
    the page cache — microseconds, cheaper than a hop to a worker thread. So
    lines wait in memory and are written at :class:`WorkflowFinished`, every
    ``flush_every`` lines, and at :meth:`close`. :meth:`aflush` runs the same
    flush in a thread for callers who prefer never to touch the disk in-loop.

    Args:
        directory: where the files live (``$CFT_HOME/metrics``); created on first flush.
        flush_every: buffered lines that trigger a flush.
        max_bytes: rotate once the current file is larger than this.
        keep: rotated files to keep (``executions.1.jsonl`` … ``executions.{keep}.jsonl``).
    """

    def __init__(
        self,
        directory: Path,
        *,
        flush_every: int = 100,
        max_bytes: int = 50 * 1024 * 1024,
        keep: int = 3,
    ) -> None:
        if flush_every < 1 or max_bytes < 1 or keep < 1:
            raise ValueError("flush_every, max_bytes and keep must be at least 1")
        self.directory = Path(directory)
        self.flush_every = flush_every
        self.max_bytes = max_bytes
        self.keep = keep
        self._buffer: list[str] = []
        self._lock = threading.Lock()  # the buffer is shared with aflush's worker thread
        #: Lines dropped because the buffer was full while writes kept failing.
        self.dropped = 0
        self._failing = False
        # Buffered lines at which a finished call triggers a flush; pushed back after a
        # failed write, so a full disk is not retried on every single call.
        self._next_try = flush_every
        self._workflows: OrderedDict[str, str] = OrderedDict()
        self._task_hashes: OrderedDict[tuple[str, str], str | None] = OrderedDict()
        # Last cost of an uncached success per (agent, model, task): what a later
        # cache hit on the same task saved, when the result does not say.
        self._last_cost: OrderedDict[tuple[str, str | None, str], float] = OrderedDict()

    @property
    def path(self) -> Path:
        """The file lines are appended to."""
        return self.directory / METRICS_FILE

    def __call__(self, event: Event) -> None:
        """Receive one engine event (the :class:`Hook` protocol)."""
        if isinstance(event, WorkflowStarted):
            _remember(self._workflows, event.run_id, event.workflow)
        elif isinstance(event, StepQueued):
            key = (event.run_id, event.step_id)
            _remember(self._task_hashes, key, getattr(event, "task_hash", None))
        elif isinstance(event, _FINISHED):
            self._add(json.dumps(self.record(event), separators=(",", ":")) + "\n")
            if len(self._buffer) >= self._next_try:
                self.flush()
        elif isinstance(event, WorkflowFinished):
            self._workflows.pop(event.run_id, None)
            self.flush()

    def record(
        self, event: StepSucceeded | StepFailed | StepTimedOut | StepCancelled
    ) -> dict[str, Any]:
        """The line written for a finished step, as a dict with :data:`FIELDS` as keys."""
        result = event.result
        usage = result.usage
        task_hash = self._task_hashes.pop((event.run_id, event.step_id), None)
        saved = getattr(result, "saved_usd", None)
        memo = (result.agent, result.model, task_hash) if task_hash else None
        if memo is not None and result.ok and not result.cached and result.cost_usd is not None:
            _remember(self._last_cost, memo, result.cost_usd)
        if saved is None and result.cached and memo is not None:
            saved = self._last_cost.get(memo)
        moment = result.finished_at or datetime.now(UTC)
        return {
            "ts": moment.astimezone(UTC).isoformat(timespec="milliseconds"),
            "run_id": event.run_id,
            "workflow": self._workflows.get(event.run_id),
            "step_id": event.step_id,
            "agent": result.agent,
            "model": result.model,
            "success": result.ok,
            "status": result.status,
            "error_type": result.error_type,
            "cached": result.cached,
            "attempts": result.attempts,
            "latency_ms": round(result.elapsed_s * 1000, 3),
            "ttft_ms": None if result.ttft_s is None else round(result.ttft_s * 1000, 3),
            "input_tokens": usage.input_tokens,
            "output_tokens": usage.output_tokens,
            "cache_read_input_tokens": usage.cache_read_input_tokens,
            "cache_creation_input_tokens": usage.cache_creation_input_tokens,
            "cost_usd": result.cost_usd,
            "saved_usd": saved,
            "task_hash": task_hash,
        }

    @property
    def pending(self) -> int:
        """Lines buffered and not yet written."""
        return len(self._buffer)

    def _add(self, line: str) -> None:
        with self._lock:
            self._buffer.append(line)
            excess = len(self._buffer) - MAX_BUFFERED
            if excess > 0:
                del self._buffer[:excess]
                if not self.dropped:
                    log.warning(
                        "metrics: %d records could not be written to %s; dropping the oldest "
                        "(counted in MetricsRecorder.dropped)",
                        MAX_BUFFERED,
                        self.path,
                    )
                self.dropped += excess

    def flush(self) -> None:
        """Write the buffered lines now (one ``os.write``), rotating if the file grew too big.

        A failed write (full disk, no free descriptor…) keeps every unwritten line
        for the next flush and logs one warning until a write succeeds again.
        """
        with self._lock:
            if not self._buffer:
                return
            data = "".join(self._buffer).encode("utf-8")
            try:
                self.directory.mkdir(parents=True, exist_ok=True)
                size = self._append(data)
            except OSError as exc:
                self._keep_unwritten(data, getattr(exc, "written", 0), exc)
                return
            self._buffer.clear()
            self._failing = False
            self._next_try = self.flush_every
        if size > self.max_bytes:
            try:
                self.rotate()
            except OSError as exc:  # the lines are written; the next flush rotates
                log.warning("metrics: could not rotate %s: %s", self.path, exc)

    def _append(self, data: bytes) -> int:
        """Append ``data`` in one write; the file's size after it."""
        try:
            fd = open_regular(self.path, _APPEND)
        except OSError:
            if not self._move_aside_foreign():
                raise
            fd = open_regular(self.path, _APPEND)
        try:
            if fcntl is not None:
                # Another writer's append may be half-way: its last byte would look torn.
                fcntl.flock(fd, fcntl.LOCK_EX)
            _write_all(fd, data)
            return os.fstat(fd).st_size
        finally:
            os.close(fd)  # closing the descriptor releases the flock

    def _move_aside_foreign(self) -> bool:
        """Rename a planted symlink, FIFO or folder at :attr:`path`; True if one was moved."""
        kind = foreign_kind(self.path)
        if kind is None:
            return False
        target = quarantine(self.path, expect=None)
        log.warning("metrics: %s was %s; moved it to %s", self.path, kind, target)
        return True

    def _keep_unwritten(self, data: bytes, written: int, exc: OSError) -> None:
        """Drop the lines a failed write did finish; keep the rest for the next flush."""
        whole = data.rfind(b"\n", 0, written) + 1  # bytes of complete lines written
        done = data[:whole].count(b"\n")
        del self._buffer[:done]
        self._next_try = min(len(self._buffer) + self.flush_every, MAX_BUFFERED)
        if not self._failing:
            log.warning(
                "metrics: could not write to %s (%s); keeping %d records for the next flush",
                self.path,
                exc,
                len(self._buffer),
            )
        self._failing = True

    async def aflush(self) -> None:
        """:meth:`flush` in a worker thread."""
        await trio.to_thread.run_sync(self.flush)

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
            for n in range(self.keep, 0, -1):
                older = self.directory / f"executions.{n}.jsonl"
                if n == self.keep:
                    with contextlib.suppress(FileNotFoundError):
                        older.unlink()
                else:
                    with contextlib.suppress(FileNotFoundError):
                        older.rename(self.directory / f"executions.{n + 1}.jsonl")
            self.path.rename(self.directory / "executions.1.jsonl")
        finally:
            os.close(lock)  # closing the descriptor releases the flock

    def close(self) -> None:
        """Flush what is buffered (a last try for lines earlier writes could not land).

        The recorder may still be used afterwards; lines still unwritten stay buffered.
        """
        self.flush()

    def __enter__(self) -> MetricsRecorder:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
