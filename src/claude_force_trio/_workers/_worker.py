"""A worker: takes submitted runs from the work stream and runs them, resuming what others left.

The loop, with ``concurrency`` slots: take over entries idle longer than the
visibility timeout (their worker died, ``XAUTOCLAIM``), else read new ones
(``XREADGROUP``), as many as there are free slots; run each with the engine,
whose journal is the Redis one, as a *resume* of its journalled run, so the
steps another worker journalled before it died are replayed, not paid again.
While runs go, a heartbeat refreshes their entries every third of the
visibility timeout; an entry found taken over by another worker stops its run
here (the other worker goes on from the journal).

An entry is acknowledged once its run ended (succeeded, failed, timed out or
waiting for approval) or was refused: a workflow this worker's config does not
define, a config changed since the run started, a task missing. A refused run
is journalled ``failed`` with the reason as its document's ``error``. A run whose
journal cannot be written stops and stays pending for a later try.

Stopping (:meth:`Worker.serve`'s ``stop``): no new entry is taken; running runs
may finish for ``grace_s``; then they are stopped (their steps done so far are
journalled) and their entries left pending, for another worker to take over.
"""

from __future__ import annotations

import logging
import math
import os
import socket
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import anyio
import anyio.abc

from .._errors import CFTError
from ._stream import WorkItem, WorkStream

if TYPE_CHECKING:
    from .._engine import Engine
    from .._journal._redis_journal import RedisJournal

__all__ = ["ENDED", "Worker", "WorkerEvent", "WorkerOptions", "consumer_name"]

log = logging.getLogger("claude_force_trio.workers")

#: A run with one of these statuses is over: its entry is acknowledged. ``queued``,
#: ``running`` and ``cancelled`` (a worker stopped it) are still to do.
ENDED = frozenset({"succeeded", "failed", "timed_out", "waiting_approval"})

EventKind = Literal["started", "ended", "refused", "left", "lost"]


def consumer_name() -> str:
    """A consumer name unique to this process: ``host-pid-random``."""
    return f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"


@dataclass(frozen=True, slots=True)
class WorkerOptions:
    """How a worker takes and keeps its work.

    Attributes:
        consumer: this worker's name in the consumer group.
        concurrency: how many runs it runs at once.
        visibility_timeout_s: how long an entry may go without a heartbeat
            before another worker takes it over.
        grace_s: how long running runs may go on once the worker is told to stop.
        block_s: how long one read waits for new entries.
    """

    consumer: str = field(default_factory=consumer_name)
    concurrency: int = 4
    visibility_timeout_s: float = 60.0
    grace_s: float = 30.0
    block_s: float = 1.0

    def __post_init__(self) -> None:
        if self.concurrency < 1:
            raise ValueError(f"concurrency must be at least 1, not {self.concurrency}")
        for name in ("visibility_timeout_s", "grace_s", "block_s"):
            value = getattr(self, name)
            if not math.isfinite(value) or value <= 0:
                raise ValueError(f"{name} must be a positive number of seconds, not {value!r}")

    @property
    def heartbeat_s(self) -> float:
        """How often running entries are refreshed: a third of the visibility timeout."""
        return self.visibility_timeout_s / 3


@dataclass(frozen=True, slots=True)
class WorkerEvent:
    """What a worker did with one entry, for its log lines.

    Attributes:
        kind: ``started``, ``ended`` (acknowledged), ``refused`` (journalled failed,
            acknowledged), ``left`` (stopped and left pending) or ``lost`` (taken
            over by another worker).
        run_id: the run.
        workflow: its workflow.
        status: the run's status, once it has one.
        detail: why, for ``refused`` and ``left``.
    """

    kind: EventKind
    run_id: str
    workflow: str
    status: str | None = None
    detail: str | None = None


@dataclass(slots=True)
class _Running:
    item: WorkItem
    stop: anyio.Event = field(default_factory=anyio.Event)
    lost: bool = False


class Worker:
    """Runs submitted workflow runs on ``engine`` (whose journal must be ``journal``).

    Args:
        engine: an open engine whose journal is ``journal``.
        journal: the Redis journal the runs are journalled in.
        stream: the work stream.
        options: the worker's settings.
        on_event: called with each :class:`WorkerEvent` (a log line, a test).
    """

    def __init__(
        self,
        engine: Engine,
        journal: RedisJournal,
        stream: WorkStream,
        options: WorkerOptions,
        *,
        on_event: Callable[[WorkerEvent], None] | None = None,
    ) -> None:
        self.engine = engine
        self.journal = journal
        self.stream = stream
        self.options = options
        self._on_event = on_event
        self._running: dict[str, _Running] = {}
        self._freed = anyio.Event()

    def _emit(self, event: WorkerEvent) -> None:
        if self._on_event is not None:
            self._on_event(event)

    async def serve(
        self,
        stop: anyio.Event,
        *,
        abandon: anyio.Event | None = None,
        task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED,
    ) -> None:
        """Take and run entries until ``stop`` is set, then wind down (see the module doc).

        Args:
            stop: set it to stop taking work.
            abandon: set it to end the grace period at once.
            task_status: reports readiness once the worker has joined the group.
        """
        await self.stream.join()
        task_status.started()
        async with anyio.create_task_group() as runs, anyio.create_task_group() as beat:
            beat.start_soon(self._heartbeat)
            await self._take_work(stop, runs)
            with anyio.move_on_after(self.options.grace_s):
                await self._wind_down(abandon)
            for running in self._running.values():
                running.stop.set()
            while self._running:  # stopped runs journal what they did, then return
                await self._wait_freed(self.options.block_s)
            beat.cancel_scope.cancel()
        if not await self._pending_mine():  # nothing left behind: leave the group tidy
            await self._leave()

    async def _pending_mine(self) -> list[str]:
        try:
            return await self.stream.pending(self.options.consumer)
        except Exception as exc:
            log.warning("workers: could not list pending entries: %s", exc)
            return ["?"]

    async def _leave(self) -> None:
        try:
            await self.stream.leave(self.options.consumer)
        except Exception as exc:
            log.warning("workers: could not leave the group: %s", exc)

    async def _wind_down(self, abandon: anyio.Event | None) -> None:
        while self._running and not (abandon is not None and abandon.is_set()):
            await self._wait_freed(0.2 if abandon is not None else self.options.block_s)

    async def _wait_freed(self, at_most_s: float) -> None:
        with anyio.move_on_after(at_most_s):
            await self._freed.wait()

    def _free(self, entry_id: str) -> None:
        self._running.pop(entry_id, None)
        self._freed.set()
        self._freed = anyio.Event()

    async def _take_work(self, stop: anyio.Event, runs: anyio.abc.TaskGroup) -> None:
        options = self.options
        while not stop.is_set():
            free = options.concurrency - len(self._running)
            if free <= 0:
                await self._wait_freed(options.block_s)
                continue
            try:
                items = await self.stream.reclaim(
                    options.consumer, free, min_idle_s=options.visibility_timeout_s
                )
                if not items and not stop.is_set():
                    items = await self.stream.read(options.consumer, free, block_s=options.block_s)
            except Exception as exc:  # Redis away for a while: say so, try again
                log.warning("workers: could not read the work stream: %s", exc)
                await anyio.sleep(options.block_s)
                continue
            for item in items:
                if item.entry_id in self._running:
                    continue
                running = _Running(item)
                self._running[item.entry_id] = running
                runs.start_soon(self._run_entry, running)

    async def _heartbeat(self) -> None:
        while True:
            await anyio.sleep(self.options.heartbeat_s)
            ids = list(self._running)
            if not ids:
                continue
            try:
                held = await self.stream.touch(self.options.consumer, ids)
            except Exception as exc:
                log.warning("workers: heartbeat failed: %s", exc)
                continue
            for entry_id in ids:
                running = self._running.get(entry_id)
                if running is not None and entry_id not in held:
                    running.lost = True
                    running.stop.set()

    async def _run_entry(self, running: _Running) -> None:
        item = running.item
        try:
            await self._run_item(running)
        except Exception as exc:  # a bug, or Redis gone mid-run: never a poisoned queue
            log.exception("workers: run %s failed in the worker", item.run_id)
            await self._refuse(item, f"the worker failed: {type(exc).__name__}: {exc}")
        finally:
            self._free(item.entry_id)

    async def _run_item(self, running: _Running) -> None:
        from .._journalling import JournalWriteError

        item = running.item
        record = await self.journal.get_run(item.run_id, with_document=False)
        if record is not None and record.status in ENDED:
            # Ended, but its worker died before acknowledging: nothing to run.
            await self._ack(item, WorkerEvent("ended", item.run_id, item.workflow, record.status))
            return
        if item.workflow not in self.engine.config.workflows:
            names = ", ".join(sorted(self.engine.config.workflows)) or "none"
            path = self.engine.config.path
            await self._refuse(
                item, f"unknown workflow {item.workflow!r} in {path} (known: {names})"
            )
            return
        if record is None:  # submitted to a stream whose journal lost it: queue it again
            await self.journal.queue_run(item.run_id, workflow=item.workflow, task=item.task)
        # A run never started has no fingerprint to hold it to; a started one keeps its own.
        force = record is None or record.fingerprint is None
        self._emit(WorkerEvent("started", item.run_id, item.workflow))
        try:
            result = await self.engine.resume_workflow(item.run_id, force=force, stop=running.stop)
        except JournalWriteError as exc:
            log.warning("workers: run %s stopped: %s", item.run_id, exc)
            self._emit(WorkerEvent("left", item.run_id, item.workflow, detail=str(exc)))
            return
        except CFTError as exc:
            await self._refuse(item, str(exc))
            return
        if running.lost:
            self._emit(WorkerEvent("lost", item.run_id, item.workflow, result.status))
        elif result.status == "cancelled" and running.stop.is_set():
            self._emit(WorkerEvent("left", item.run_id, item.workflow, result.status, "stopping"))
        else:
            await self._ack(item, WorkerEvent("ended", item.run_id, item.workflow, result.status))

    async def _refuse(self, item: WorkItem, reason: str) -> None:
        """Journal the run ``failed`` with ``reason``, and acknowledge its entry."""
        document: dict[str, Any] = {
            "workflow": item.workflow,
            "run_id": item.run_id,
            "status": "failed",
            "error": reason,
            "steps": [],
        }
        try:
            record = await self.journal.get_run(item.run_id, with_document=False)
            if record is None or record.status == "queued":
                await self.journal.start_run(
                    item.run_id,
                    kind="workflow",
                    workflow=item.workflow,
                    fingerprint=None,
                    task=item.task,
                )
            if record is not None:
                document["steps"] = list(record.steps.values())
            await self.journal.finish_run(item.run_id, document)
        except Exception as exc:
            log.warning("workers: could not journal run %s as refused: %s", item.run_id, exc)
            return
        await self._ack(item, WorkerEvent("refused", item.run_id, item.workflow, "failed", reason))

    async def _ack(self, item: WorkItem, event: WorkerEvent) -> None:
        try:
            await self.stream.ack(item.entry_id)
        except Exception as exc:  # left pending: the next taker finds the run ended
            log.warning("workers: could not acknowledge run %s: %s", item.run_id, exc)
        self._emit(event)
