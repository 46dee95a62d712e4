"""Workers on a Redis Stream: ``cft submit`` queues workflow runs, ``cft worker`` runs them.

Modules: ``_stream`` (the stream and its consumer group: add, read, take
over, heartbeat, acknowledge), ``_worker`` (the loop that runs entries on an
engine journalling to Redis, resuming what a dead worker left) and ``_submit``
(queue a run, follow it to its end). The runs themselves live in the Redis
journal (:mod:`.._journal._redis_journal`), so ``cft runs show --redis`` reads
them from any machine. See docs/scaling-out.md.
"""

from ._stream import GROUP as GROUP
from ._stream import STREAM as STREAM
from ._stream import WorkItem as WorkItem
from ._stream import WorkStream as WorkStream
from ._stream import stream_key as stream_key
from ._submit import submit_run as submit_run
from ._submit import wait_for_run as wait_for_run
from ._worker import ENDED as ENDED
from ._worker import Worker as Worker
from ._worker import WorkerEvent as WorkerEvent
from ._worker import WorkerOptions as WorkerOptions
from ._worker import consumer_name as consumer_name
