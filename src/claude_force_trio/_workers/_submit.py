"""Submitting a run to the workers, and following it until it ends.

The run is journalled ``queued`` before its entry is added to the stream, so
``cft runs show`` knows it from the start and a worker that takes the entry
always finds its record. Following it is polling the journal: a run's status
is its only state, and reading it costs one round trip.
"""

from __future__ import annotations

import math
import uuid
from typing import TYPE_CHECKING

import anyio

from ._worker import ENDED

if TYPE_CHECKING:
    from .._journal import RunRecord
    from .._journal._redis_journal import RedisJournal
    from ._stream import WorkStream

__all__ = ["submit_run", "wait_for_run"]


async def submit_run(
    journal: RedisJournal, stream: WorkStream, workflow: str, task: str | None
) -> str:
    """Journal a new run of ``workflow`` as ``queued`` and add it to the stream; returns its id.

    Raises:
        redis.RedisError: the server does not answer.
    """
    run_id = uuid.uuid4().hex
    await journal.queue_run(run_id, workflow=workflow, task=task)
    await stream.add(run_id, workflow, task)
    return run_id


async def wait_for_run(
    journal: RedisJournal, run_id: str, *, timeout_s: float = math.inf, poll_s: float = 0.25
) -> RunRecord | None:
    """The run's record once it has ended (:data:`ENDED`); ``None`` if ``timeout_s`` passed first.

    A run stopped by a worker that was itself stopping (``cancelled``) is not
    over: another worker takes it over, so the wait goes on.

    Raises:
        redis.RedisError: the server does not answer.
    """
    with anyio.move_on_after(timeout_s):
        while True:
            record = await journal.get_run(run_id)
            if record is not None and record.status in ENDED:
                return record
            await anyio.sleep(poll_s)
    return None
