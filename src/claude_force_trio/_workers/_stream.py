"""The work queue: a Redis Stream of submitted runs, read by a consumer group of workers.

Why a stream and a consumer group: Redis already keeps, for each entry handed
to a worker, who holds it and since when (the pending entries list). A worker
that dies leaves its entries pending; after ``min_idle`` without a sign of
life another worker takes them with ``XAUTOCLAIM``. A live worker gives that
sign by claiming its own entries again (``XCLAIM … JUSTID``, which resets their
idle time), in a script that first checks they are still its own, so a worker
that was too slow to refresh never takes an entry back from the one that took
it over. An entry is acknowledged and deleted when its run has ended.

An entry holds the run's id, workflow and task; the run itself (its status,
steps and document) lives in the Redis journal, written first by ``cft submit``.

redis-py is blocking: every command runs through ``anyio.to_thread``.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import anyio
import anyio.to_thread

__all__ = ["GROUP", "STREAM", "WorkItem", "WorkStream", "stream_key"]

log = logging.getLogger("claude_force_trio.workers")

STREAM = "cft:work"
GROUP = "cft-workers"
T = TypeVar("T")


def stream_key(queue: str | None) -> str:
    """The stream of queue ``queue``: ``cft:work``, or ``cft:work:NAME`` for a named one.

    Named queues let several fleets (staging and production, a test and another)
    share one Redis; their runs share the journal, whose ids never collide.
    """
    return STREAM if not queue else f"{STREAM}:{queue}"


# KEYS: stream. ARGV: group, consumer, entry ids. Returns the ids still held by consumer.
_TOUCH = """
local held = {}
for i = 3, #ARGV do
  local mine = redis.call('XPENDING', KEYS[1], ARGV[1], ARGV[i], ARGV[i], 1, ARGV[2])
  if #mine == 1 then
    redis.call('XCLAIM', KEYS[1], ARGV[1], ARGV[2], 0, ARGV[i], 'JUSTID')
    held[#held + 1] = ARGV[i]
  end
end
return held
"""


@dataclass(frozen=True, slots=True)
class WorkItem:
    """One stream entry: a run to do.

    Attributes:
        entry_id: the stream entry's id (what ``XACK`` takes).
        run_id: the run's id in the journal.
        workflow: the workflow's name, as submitted.
        task: the run's task, if it has one.
    """

    entry_id: str
    run_id: str
    workflow: str
    task: str | None


def _item(entry_id: str, fields: dict[str, str] | None) -> WorkItem | None:
    fields = fields or {}
    run_id, workflow = fields.get("run_id"), fields.get("workflow")
    if not run_id or not workflow:
        return None
    return WorkItem(entry_id, run_id, workflow, fields.get("task"))


class WorkStream:
    """The stream of submitted runs and its consumer group.

    Args:
        client: a ``redis.Redis`` client with ``decode_responses=True``.
        stream: the stream's key.
        group: the consumer group every worker joins.
        max_threads: how many commands may run in worker threads at once.
    """

    def __init__(
        self, client: Any, *, stream: str = STREAM, group: str = GROUP, max_threads: int = 8
    ) -> None:
        self.client = client
        self.stream = stream
        self.group = group
        self._limiter = anyio.CapacityLimiter(max_threads)
        self._touch = client.register_script(_TOUCH)

    async def _in_thread(self, fn: Callable[..., T], *args: Any) -> T:
        return await anyio.to_thread.run_sync(fn, *args, limiter=self._limiter)

    async def add(self, run_id: str, workflow: str, task: str | None) -> str:
        """Append a run to the stream (``XADD``); returns the entry's id."""
        fields = {"run_id": run_id, "workflow": workflow}
        if task is not None:
            fields["task"] = task
        return str(await self._in_thread(self.client.xadd, self.stream, fields))

    async def join(self) -> None:
        """Create the group and stream unless they exist (``XGROUP CREATE … MKSTREAM``).

        The group starts at the stream's beginning, so runs submitted before
        any worker ever started are done too.
        """
        import redis

        create = functools.partial(
            self.client.xgroup_create, self.stream, self.group, id="0", mkstream=True
        )
        try:
            await self._in_thread(create)
        except redis.ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    async def read(self, consumer: str, count: int, *, block_s: float) -> list[WorkItem]:
        """Up to ``count`` entries never delivered before (``XREADGROUP … >``), waiting ``block_s``.

        Entries that carry no run id are acknowledged and dropped, with a warning.
        """
        call = functools.partial(
            self.client.xreadgroup,
            self.group,
            consumer,
            {self.stream: ">"},
            count=count,
            block=max(1, round(block_s * 1000)),
        )
        replies = await self._in_thread(call)
        entries = [entry for _, listed in replies or () for entry in listed]
        return await self._items(entries)

    async def reclaim(self, consumer: str, count: int, *, min_idle_s: float) -> list[WorkItem]:
        """Up to ``count`` entries idle ``min_idle_s`` in others' hands, made ours (XAUTOCLAIM)."""
        idle_ms = max(1, round(min_idle_s * 1000))

        def claim() -> list[tuple[str, dict[str, str] | None]]:
            taken: list[tuple[str, dict[str, str] | None]] = []
            cursor = "0-0"
            while len(taken) < count:
                reply = self.client.xautoclaim(
                    self.stream, self.group, consumer, idle_ms, cursor, count=count - len(taken)
                )
                cursor, entries = reply[0], reply[1]
                taken.extend(entries)
                if cursor in ("0-0", b"0-0"):
                    break
            return taken

        return await self._items(await self._in_thread(claim))

    async def _items(self, entries: Sequence[tuple[str, dict[str, str] | None]]) -> list[WorkItem]:
        items: list[WorkItem] = []
        for entry_id, fields in entries:
            item = _item(entry_id, fields)
            if item is None:
                log.warning("workers: dropping stream entry %s without a run id", entry_id)
                await self.ack(entry_id)
            else:
                items.append(item)
        return items

    async def touch(self, consumer: str, entry_ids: Sequence[str]) -> set[str]:
        """Reset the idle time of the entries ``consumer`` still holds; returns those ids.

        An entry missing from the answer was taken over by another worker.
        """
        if not entry_ids:
            return set()
        call = functools.partial(
            self._touch, keys=[self.stream], args=[self.group, consumer, *entry_ids]
        )
        return {str(entry_id) for entry_id in await self._in_thread(call)}

    async def ack(self, entry_id: str) -> None:
        """The entry's run has ended: acknowledge it and delete it from the stream."""

        def ack() -> None:
            pipe = self.client.pipeline(transaction=True)
            pipe.xack(self.stream, self.group, entry_id)
            pipe.xdel(self.stream, entry_id)
            pipe.execute()

        await self._in_thread(ack)

    async def pending(self, consumer: str | None = None) -> list[str]:
        """The ids of the entries delivered and not acknowledged (of one consumer, if named)."""
        call = functools.partial(
            self.client.xpending_range,
            self.stream,
            self.group,
            min="-",
            max="+",
            count=10_000,
            consumername=consumer,
        )
        return [str(entry["message_id"]) for entry in await self._in_thread(call)]

    async def leave(self, consumer: str) -> None:
        """Remove ``consumer`` from the group (only one that holds nothing: its entries go)."""
        await self._in_thread(self.client.xgroup_delconsumer, self.stream, self.group, consumer)
