"""The metrics recorder: a hook writing one JSON line per finished call to ``$CFT_HOME/metrics``.

Why JSON lines in a plain file: any number of processes (a CLI run, a server,
a notebook) can append to it without a database or a daemon, ``jq``/``grep``
can read it, and :mod:`._aggregate` streams it in bounded memory. What a line
holds is :mod:`._record`'s job; how it reaches the file (whole lines, torn
tails, rotation) is :mod:`._files`'.

Why buffered and flushed synchronously: a hook runs in the engine's task and
must not block, but a flush is a single ``write`` of a few kilobytes to the
page cache — microseconds, cheaper than a hop to a worker thread. So lines
wait in memory and are written at :class:`WorkflowFinished`, every
``flush_every`` lines, and at :meth:`MetricsRecorder.close`. A breaker change
(a state line, :mod:`._record`) is flushed at once: it is rare, and ``cft
dashboard`` shows it as current. A concurrency change is not rare (the
adaptive limit moves on every 429 and grows back call by call), so only the
latest one is kept, and it is written with the next flush, or by the next
event at least :data:`LIMIT_EVERY_S` after the last write.
:meth:`MetricsRecorder.aflush` and :meth:`MetricsRecorder.aclose` do the same in
a worker thread, for callers who never touch the disk in-loop. A flush the
engine triggers while such a thread is writing does not wait for it: its lines
go with the next one.

**Nothing is dropped on a failed write.** Lines stay in the buffer until a
write succeeds (a full disk, ``EMFILE`` under a tight ``ulimit -n``); the next
flush retries them. The buffer is bounded (:data:`MAX_BUFFERED` lines): past it
the oldest are dropped, counted in :attr:`MetricsRecorder.dropped`, and one
warning is logged. The last flush (:meth:`~MetricsRecorder.close`,
:meth:`~MetricsRecorder.aclose`) tries :data:`CLOSE_ATTEMPTS` times and, if
lines are still unwritten, says how many in one warning line.
"""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path

import anyio

from .._events import BreakerStateChanged, ConcurrencyChanged, Event, WorkflowFinished
from .._quarantine import reason
from ._files import MetricsFile
from ._record import RecordBuilder

__all__ = ["CLOSE_ATTEMPTS", "CLOSE_PAUSES_S", "MAX_BUFFERED", "MetricsRecorder"]

log = logging.getLogger("claude_force_trio.metrics")

#: Unwritten lines kept in memory at most; beyond it the oldest are dropped.
MAX_BUFFERED = 10_000
#: :meth:`MetricsRecorder.aclose`'s pauses between the last flush's attempts (a
#: full disk or a descriptor shortage may pass); :meth:`MetricsRecorder.close`
#: cannot pause without blocking an event loop that calls it, so it retries at once.
CLOSE_PAUSES_S = (0.05, 0.25)
#: How stale the last concurrency line written may get while calls go on (seconds).
LIMIT_EVERY_S = 1.0
#: Writes the last flush tries before it reports lines it could not write.
CLOSE_ATTEMPTS = len(CLOSE_PAUSES_S) + 1


class MetricsRecorder:
    """A hook that records every finished call (not skips) as one JSON line.

    Args:
        directory: where the files live (``$CFT_HOME/metrics``); created on first flush.
        project: the project key every line carries (``Config.project_key``);
            ``None`` writes lines of no project (shown only with ``--all-projects``).
        flush_every: buffered lines that trigger a flush.
        max_bytes: rotate once the current file is larger than this.
        keep: rotated files to keep (``executions.1.jsonl`` … ``executions.{keep}.jsonl``).
    """

    def __init__(
        self,
        directory: Path,
        *,
        project: str | None = None,
        flush_every: int = 100,
        max_bytes: int = 50 * 1024 * 1024,
        keep: int = 3,
    ) -> None:
        if flush_every < 1 or max_bytes < 1 or keep < 1:
            raise ValueError("flush_every, max_bytes and keep must be at least 1")
        self.flush_every = flush_every
        self._file = MetricsFile(directory, max_bytes=max_bytes, keep=keep)
        self._records = RecordBuilder(project)
        self._buffer: list[str] = []
        self._lock = threading.Lock()  # guards _buffer: a worker thread may be writing it out
        self._writing = threading.Lock()  # one write at a time, so lines land in order
        #: Lines dropped because the buffer was full while writes kept failing.
        self.dropped = 0
        self._failing = False
        # Buffered lines at which a finished call triggers a flush; pushed back after a
        # failed write, so a full disk is not retried on every single call.
        self._next_try = flush_every
        #: The latest concurrency line not yet written (only the latest is kept).
        self._limit_line: str | None = None
        self._limit_written = time.monotonic()

    @property
    def directory(self) -> Path:
        """The metrics folder."""
        return self._file.directory

    @property
    def project(self) -> str | None:
        """The project key every line carries."""
        return self._records.project

    @property
    def path(self) -> Path:
        """The file lines are appended to."""
        return self._file.path

    @property
    def pending(self) -> int:
        """Lines buffered and not yet written."""
        return len(self._buffer)

    def __call__(self, event: Event) -> None:
        """Receive one engine event (the :class:`Hook` protocol)."""
        line = self._records.line(event)
        if isinstance(event, ConcurrencyChanged):
            self._limit_line = line
        elif line is not None:
            self._add(line)
            if len(self._buffer) >= self._next_try or isinstance(event, BreakerStateChanged):
                self._flush(wait=False)
                return
        elif isinstance(event, WorkflowFinished):
            self.flush()
            return
        if self._limit_line is not None and time.monotonic() - self._limit_written >= LIMIT_EVERY_S:
            self._flush(wait=False)

    def _add(self, line: str) -> None:
        with self._lock:
            self._buffer.append(line)
            self._bound()

    def _bound(self) -> None:
        """Drop the oldest lines beyond :data:`MAX_BUFFERED` (the lock is held)."""
        excess = len(self._buffer) - MAX_BUFFERED
        if excess <= 0:
            return
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
        self._flush(wait=True)

    async def aflush(self) -> None:
        """:meth:`flush` in a worker thread."""
        await anyio.to_thread.run_sync(self.flush)

    def _flush(self, *, wait: bool) -> None:
        error = self._write(wait=wait)
        if error is None:
            return
        self._next_try = min(len(self._buffer) + self.flush_every, MAX_BUFFERED)
        if not self._failing:
            log.warning(
                "metrics: could not write to %s (%s); keeping %d records for the next flush",
                self.path,
                error,
                len(self._buffer),
            )
        self._failing = True

    def _write(self, *, wait: bool = True) -> OSError | None:
        """One try at writing the buffer; the error when lines are left unwritten.

        Args:
            wait: wait for a write running in another thread; otherwise leave
                the lines for the next flush.
        """
        if not self._writing.acquire(blocking=wait):
            return None
        try:
            with self._lock:
                lines, self._buffer = self._buffer, []
                if self._limit_line is not None:
                    lines.append(self._limit_line)
                    self._limit_line = None
                    self._limit_written = time.monotonic()
            if not lines:
                return None
            data = "".join(lines).encode("utf-8")
            try:
                self._file.append(data)
            except OSError as exc:
                # Lines are newline-terminated and hold no other newline, so the
                # newlines among the bytes written count the lines that made it.
                done = data.count(b"\n", 0, getattr(exc, "written", 0))
                with self._lock:
                    self._buffer[:0] = lines[done:]  # older than any added meanwhile
                    self._bound()
                return exc
            self._failing = False
            self._next_try = self.flush_every
            return None
        finally:
            self._writing.release()

    def close(self) -> None:
        """The last flush: up to :data:`CLOSE_ATTEMPTS` writes, one right after another.

        Lines still unwritten after them are reported in one warning and stay
        buffered (the recorder may still be used, and flushed, afterwards).
        """
        self._closing()
        for _ in CLOSE_PAUSES_S:
            if self._write() is None:
                return
        self._give_up(self._write())

    async def aclose(self) -> None:
        """:meth:`close` in a worker thread, pausing :data:`CLOSE_PAUSES_S` between attempts.

        Shielded from cancellation (0.3 s of pauses at most), so a run that was
        cancelled or interrupted still lands the calls it finished.
        """
        self._closing()
        with anyio.CancelScope(shield=True):
            for pause in CLOSE_PAUSES_S:
                if await anyio.to_thread.run_sync(self._write) is None:
                    return
                await anyio.sleep(pause)
            self._give_up(await anyio.to_thread.run_sync(self._write))

    def _closing(self) -> None:
        """Buffer the ``closed`` state line when this engine wrote breaker or limit changes.

        The latest limit line, if it was never written, goes first: ``closed`` is last.
        """
        limit, self._limit_line = self._limit_line, None
        if limit is not None:
            self._add(limit)
        line = self._records.closed_line()
        if line is not None:
            self._add(line)

    def _give_up(self, error: OSError | None) -> None:
        """Say in one line how many records the last try left unwritten, and why."""
        if error is None:
            return
        dropped = f" (and {self.dropped} dropped earlier)" if self.dropped else ""
        log.warning(
            "metrics: %d records%s could not be written to %s after %d attempts (%s)",
            len(self._buffer),
            dropped,
            self.path,
            CLOSE_ATTEMPTS,
            reason(error),
        )

    def __enter__(self) -> MetricsRecorder:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    async def __aenter__(self) -> MetricsRecorder:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()
