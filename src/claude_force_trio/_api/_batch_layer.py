"""``BatchLayer``: the bottom of the call stack in batch mode — calls answered through batches.

Why a layer: everything above stays as in live mode — a cache hit is answered
before a call gets here (never batched), budgets reserve and settle, the
recording layer sees one call — while here a call waits a short window
(:data:`WINDOW_S`) for the others reaching the bottom meanwhile; together they
go into one create (up to the API's limits), which a poller retrieves with
backoff until it has ended, and the results, streamed line by line, answer
each call by its ``custom_id``. Dependents call as their inputs arrive, so a
DAG runs as a sequence of batches along its critical path.

Retries follow the retry policy as live: retryable ``errored``, ``expired`` and
``canceled`` entries go into a later batch; ``invalid_request_error`` fails at
once. A step's clock starts when its first answer comes back (the observer
hears of the attempts then): waiting in a batch is not the step's work.
Streamed text arrives whole; a cancelled call stops waiting, its entry stays.

Durability: a ``custom_id`` hashes run, step and body, so the same call after
a crash has the same id; :attr:`BatchLayer.records` keeps each batch's entries
and, on a run's first call, hands back what it kept, so a resumed call waits for
the batch it is in instead of being paid twice (``docs/batches.md``).
"""

from __future__ import annotations

import math
import random
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import replace
from typing import TYPE_CHECKING

import anyio
import anyio.abc

from .._call import Call, CallObserver
from .._errors import CFTError, NotFoundError, status_error
from .._types import MessageResult
from ._batch_parts import (
    ENVELOPE_BYTES,
    MAX_BATCH_BYTES,
    MAX_BATCH_REQUESTS,
    POLL_INITIAL_S,
    POLL_MAX_S,
    WINDOW_S,
    BatchRecords,
    BatchStatistics,
    BatchSubmission,
    Entry,
    OpenBatch,
    call_digest,
    gather,
    refused,
)
from ._retry import RetryPolicy, is_retryable, retry_call
from ._wire import dumps

if TYPE_CHECKING:
    from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

    from ._batches import BatchEntryResult, BatchesClient, BatchInfo

__all__ = ["BatchLayer", "open_batch_layer"]


class BatchLayer:
    """Answers calls through Message Batches (see the module docstring).

    Args:
        open_client: opens the batches client on the first call that needs it.
        group: where the collector and the pollers run (lives as long as the layer).
        policy: attempts and backoff for entries, and for a create or a results read.
        rng: the retry jitter's source.
        records: keeps submissions and reads a resumed run's back; ``None`` for none.
        window_s: the collection window.
        max_requests: entries a batch may hold at most.
        max_bytes: the largest create body.
        poll_initial_s: the first wait before a batch is retrieved.
        poll_max_s: the longest wait between two retrievals.
    """

    def __init__(
        self,
        open_client: Callable[[], Awaitable[BatchesClient]],
        group: anyio.abc.TaskGroup,
        *,
        policy: RetryPolicy,
        rng: random.Random | None = None,
        records: BatchRecords | None = None,
        window_s: float = WINDOW_S,
        max_requests: int = MAX_BATCH_REQUESTS,
        max_bytes: int = MAX_BATCH_BYTES,
        poll_initial_s: float = POLL_INITIAL_S,
        poll_max_s: float = POLL_MAX_S,
    ) -> None:
        self.policy = policy
        self.records = records
        self._looked_up: dict[str, anyio.Event] = {}
        self._open_client = open_client
        self._client: BatchesClient | None = None
        self._client_lock = anyio.Lock()
        self._group = group
        self._rng = rng or random.Random()
        self._window_s = window_s
        self._max_requests = max_requests
        self._max_bytes = max_bytes
        self._poll = (poll_initial_s, poll_max_s)
        send, receive = anyio.create_memory_object_stream[Entry](math.inf)
        self._queue: MemoryObjectSendStream[Entry] = send
        self._incoming: MemoryObjectReceiveStream[Entry] = receive
        self._collecting = False
        self._rank: dict[str, int] = {}
        self._open: dict[str, OpenBatch] = {}
        self._adopted: dict[str, str] = {}
        self._kept: dict[str, MessageResult | CFTError] = {}
        self._finished: set[str] = set()
        self._counts = {"created": 0, "submitted": 0, "resubmitted": 0, "adopted": 0}

    async def aclose(self) -> None:
        """Close the queue and the batches client (the pollers must have stopped)."""
        self._queue.close()
        self._incoming.close()
        client, self._client = self._client, None
        if client is not None:
            with anyio.CancelScope(shield=True):
                await client.aclose()

    def statistics(self) -> BatchStatistics:
        """What the layer has done so far."""
        c = self._counts
        return BatchStatistics(
            c["created"], c["submitted"], c["resubmitted"], c["adopted"], len(self._open)
        )

    def adopt(self, submitted: Mapping[str, str]) -> None:
        """Batches a resumed run had already created: ``custom_id → batch_id``.

        A call whose ``custom_id`` is here waits for that batch instead of
        going into a new one (see the module docstring).
        """
        self._adopted.update(submitted)

    async def send(self, call: Call, observer: CallObserver) -> MessageResult:
        """Answer ``call`` through a batch, resubmitting as the retry policy allows.

        Raises:
            CFTError: the entry's error (as the live path raises it), the last
                of its retries, or one from creating, polling or reading its batch.
        """
        params = dumps({k: v for k, v in call.body.items() if k != "stream"}).encode()
        custom_id = self._custom_id(call, params)
        line = b'{"custom_id":"' + custom_id.encode() + b'","params":' + params + b"}"
        if len(line) + ENVELOPE_BYTES > self._max_bytes:
            raise status_error(
                413,
                "request_too_large",
                f"the request is larger than a batch may be ({len(line):,} bytes)",
            )
        if self.records is not None and call.run_id is not None:
            await self._look_up(call.run_id)
        final = 0

        async def attempt(number: int) -> MessageResult:
            nonlocal final
            final = number
            outcome = await self._outcome(call, custom_id, line, number)
            if isinstance(outcome, CFTError):
                raise outcome
            return outcome

        try:
            result = await retry_call(
                attempt, self.policy, on_retry=observer.retrying, rng=self._rng
            )
        except CFTError:
            observer.attempt_started(final)
            raise
        observer.attempt_started(final)
        return result

    async def _look_up(self, run_id: str) -> None:
        """On a run's first call, adopt what :attr:`records` kept of it (once per run)."""
        looked = self._looked_up.get(run_id)
        if looked is not None:
            await looked.wait()
            return
        looked = self._looked_up[run_id] = anyio.Event()
        try:
            assert self.records is not None
            self.adopt(await self.records.recorded(run_id))
        finally:
            looked.set()

    # -- one attempt ------------------------------------------------------------------

    def _custom_id(self, call: Call, params: bytes) -> str:
        """``cft-<hash of run, step, body>-<rank among identical calls>``: stable across a crash."""
        base = call_digest(call, params)
        rank = self._rank.get(base, 0)
        self._rank[base] = rank + 1
        return f"cft-{base}-{rank}"

    async def _outcome(
        self, call: Call, custom_id: str, line: bytes, number: int
    ) -> MessageResult | CFTError:
        """Attempt ``number``: an adopted batch's answer on the first, else a new entry's."""
        entry = Entry(call, custom_id, line, anyio.current_time())
        if number == 1 and (self._adopted or self._kept):
            kept = self._kept.pop(custom_id, None)
            if kept is not None:
                self._counts["adopted"] += 1
                return kept
            if self._join_adopted(entry):
                return await self._wait(entry)
        if number > 1:
            self._counts["resubmitted"] += 1
        self._start_collecting()
        self._queue.send_nowait(entry)
        return await self._wait(entry)

    def _join_adopted(self, entry: Entry) -> bool:
        """Put ``entry`` in the batch a resumed run made for it, if that batch may still answer."""
        batch_id = self._adopted.pop(entry.custom_id, None)
        if batch_id is None or batch_id in self._finished:
            return False
        self._counts["adopted"] += 1
        batch = self._open.get(batch_id)
        if batch is None:
            batch = self._open[batch_id] = OpenBatch(batch_id, {})
            self._group.start_soon(self._follow, batch, None)
        batch.entries[entry.custom_id] = entry
        return True

    async def _wait(self, entry: Entry) -> MessageResult | CFTError:
        try:
            await entry.done.wait()
        except BaseException:
            entry.abandoned = True  # its place in a batch, if it has one, stays paid for
            raise
        outcome = entry.outcome
        assert outcome is not None
        if isinstance(outcome, MessageResult):
            return replace(outcome, elapsed_s=anyio.current_time() - entry.queued_at)
        return outcome

    def _start_collecting(self) -> None:
        if not self._collecting:
            self._collecting = True
            self._group.start_soon(self._collect)

    async def _collect(self) -> None:
        """Forever: wait for a call, gather more for the window (or the limits), submit."""
        carry: Entry | None = None
        while True:
            first = carry if carry is not None else await self._incoming.receive()
            if first.abandoned:
                carry = None
                continue
            picked, carry = await gather(
                self._incoming,
                first,
                window_s=self._window_s,
                max_requests=self._max_requests,
                max_bytes=self._max_bytes,
            )
            self._group.start_soon(self._submit, picked)

    # -- a batch's life ---------------------------------------------------------------

    async def _opened_client(self) -> BatchesClient:
        if self._client is None:
            async with self._client_lock:
                if self._client is None:
                    self._client = await self._open_client()
        return self._client

    async def _submit(self, picked: list[Entry]) -> None:
        """Create a batch of ``picked``, tell :attr:`records`, then follow it to its end."""
        entries = [e for e in picked if not e.abandoned]
        if not entries:
            return
        try:
            client = await self._opened_client()
            info = await retry_call(
                lambda _n: client.create_batch([e.line for e in entries]),
                self.policy,
                rng=self._rng,
            )
        except CFTError as exc:
            for again in refused(entries, exc):
                self._queue.send_nowait(again)
            return
        self._counts["created"] += 1
        self._counts["submitted"] += len(entries)
        batch = self._open[info.id] = OpenBatch(info.id, {e.custom_id: e for e in entries})
        if self.records is not None:
            try:
                await self.records.record(
                    [
                        BatchSubmission(
                            info.id, e.custom_id, e.call.run_id, e.call.step_id, e.call.agent
                        )
                        for e in entries
                    ]
                )
            except CFTError as exc:
                for e in entries:
                    e.settle(exc)
                self._open.pop(info.id, None)
                return
        await self._follow(batch, info)

    async def _follow(self, batch: OpenBatch, info: BatchInfo | None = None) -> None:
        """Poll ``batch`` until it ends, then answer its entries from its results."""
        try:
            client = await self._opened_client()
            first, ceiling = self._poll
            # A batch adopted from a resumed run has been processing for a while: ask at once.
            delay = first if info is not None else 0.0
            while info is None or not info.ended:
                await anyio.sleep(delay)
                delay = min(max(delay * 2, first), ceiling)
                if batch.entries and all(e.abandoned for e in batch.entries.values()):
                    return  # nobody waits for it any more
                try:
                    info = await client.retrieve(batch.id)
                except NotFoundError:
                    batch.fail_rest(None)
                    return
                except CFTError as exc:
                    if is_retryable(exc):
                        continue  # the batch goes on without us; ask again later
                    batch.fail_rest(exc)
                    return
            await self._read(client, batch, info)
        finally:
            self._open.pop(batch.id, None)
            self._finished.add(batch.id)

    async def _read(self, client: BatchesClient, batch: OpenBatch, info: BatchInfo) -> None:
        """Stream the results; a read that breaks is tried again, as the policy allows."""

        def deliver(line: BatchEntryResult) -> None:
            entry = batch.entries.pop(line.custom_id, None)
            if entry is not None:
                entry.settle(line.outcome)
            elif self._adopted.get(line.custom_id) == batch.id:
                # A resumed run's call that has not asked yet: keep its answer for it.
                del self._adopted[line.custom_id]
                self._kept[line.custom_id] = line.outcome

        try:
            await retry_call(
                lambda _n: client.read_results(info, deliver), self.policy, rng=self._rng
            )
        except CFTError as exc:
            batch.fail_rest(exc)
            return
        batch.fail_rest(None)


@asynccontextmanager
async def open_batch_layer(
    open_client: Callable[[], Awaitable[BatchesClient]],
    *,
    policy: RetryPolicy,
    rng: random.Random | None = None,
    records: BatchRecords | None = None,
    window_s: float = WINDOW_S,
    max_requests: int = MAX_BATCH_REQUESTS,
    max_bytes: int = MAX_BATCH_BYTES,
) -> AsyncIterator[BatchLayer]:
    """A :class:`BatchLayer` whose collector and pollers stop when this exits.

    Args:
        open_client: makes the batches client on first use; closed here, after the pollers.
        policy: as for :class:`BatchLayer`, like the rest.
        rng: the retry jitter's source.
        records: keeps submissions and reads a resumed run's back.
        window_s: the collection window.
        max_requests: entries per batch at most.
        max_bytes: the largest create body.
    """
    async with anyio.create_task_group() as group:
        layer = BatchLayer(
            open_client,
            group,
            policy=policy,
            rng=rng,
            records=records,
            window_s=window_s,
            max_requests=max_requests,
            max_bytes=max_bytes,
        )
        try:
            yield layer
        finally:
            group.cancel_scope.cancel()
    await layer.aclose()  # once no poller can use the client any more
