"""The run journal on a Redis server: the runs of workers on many machines, in one place.

Same contract as the SQLite :class:`._store.Journal` (:class:`._protocol.RunJournal`):
a restarted run keeps its first start and its steps, a step journalled again
replaces its earlier state, prefixes of 6+ characters find a run, ``prune``
drops runs by finish (else start) time. Each write is one Lua script, so it
lands whole or not at all, and every method returns only once the server has
acknowledged it: a worker killed after ``record_step`` returned has lost
nothing, and the worker that takes its run over resumes from that step.

Durability is the server's: with Redis's default persistence (RDB snapshots
every few minutes, no append-only file) an acknowledged write survives any
client's death but not a crash of the Redis server itself between two
snapshots. ``appendonly yes`` (with the default ``appendfsync everysec``)
loses at most about a second of writes to a server or machine crash;
``appendfsync always`` fsyncs each write before the server answers, which is
what the SQLite journal's ``synchronous=FULL`` promises (docs/scaling-out.md).

Keys, under ``prefix`` (``cft:runs:``): ``run:{id}`` (a hash of the run's
fields; an absent field is ``None``), ``steps:{id}`` (step id → its JSON),
``order:{id}`` (step ids in first-journalled order), ``approvals:{id}`` (step id
→ the decision's JSON), ``by-start`` (run ids scored by start time, in µs) and
``ids`` (run ids at score 0, for prefix lookups by ``ZRANGEBYLEX``). The
scripts touch several keys, so a Redis Cluster needs them in one slot (not
done here: one server or a replicated pair is the supported setup).

redis-py is blocking and optional (extra ``redis``): imported only in
:func:`connect`, and every command runs through ``anyio.to_thread``.
"""

from __future__ import annotations

import functools
import json
import math
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar, get_args

import anyio
import anyio.to_thread

from .._errors import ConfigError
from ._ledger_redis import public_url
from ._records import Decision, RunKind, RunRecord, decode_object, iso
from ._redis_rows import RunRows, micros

__all__ = ["PREFIX", "RedisJournal", "connect", "open_redis_journal"]

PREFIX = "cft:runs:"
T = TypeVar("T")
_INSTALL = "a Redis journal needs redis-py: pip install 'claude-force-trio[redis]'"

# KEYS: run, by-start, ids. ARGV: run_id, started_at, score, status, kind, then
# field/value pairs to set, a "--" mark, and fields to delete.
_START = """
if redis.call('EXISTS', KEYS[1]) == 0 then
  redis.call('HSET', KEYS[1], 'run_id', ARGV[1], 'started_at', ARGV[2])
  redis.call('ZADD', KEYS[2], ARGV[3], ARGV[1])
  redis.call('ZADD', KEYS[3], 0, ARGV[1])
end
redis.call('HSET', KEYS[1], 'status', ARGV[4], 'kind', ARGV[5])
local i = 6
while ARGV[i] ~= '--' do
  redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1])
  i = i + 2
end
for j = i + 1, #ARGV do redis.call('HDEL', KEYS[1], ARGV[j]) end
return 1
"""
# KEYS: steps, order. ARGV: step_id, data.
_STEP = """
if redis.call('HSET', KEYS[1], ARGV[1], ARGV[2]) == 1 then
  redis.call('RPUSH', KEYS[2], ARGV[1])
end
return 1
"""
# KEYS: run. ARGV: status, finished_at, document. A run never started is left alone.
_FINISH = """
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('HSET', KEYS[1], 'status', ARGV[1], 'finished_at', ARGV[2], 'document', ARGV[3])
return 1
"""

_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), check_circular=False)
_dumps = _ENCODER.encode


def _now() -> datetime:
    return datetime.now(UTC)


class RedisJournal:
    """Runs and the last state of each of their steps, on a Redis server.

    Open it with :func:`open_redis_journal` (which closes it).

    Args:
        client: a ``redis.Redis`` client with ``decode_responses=True``.
        where: the server's URL without password, for messages.
        prefix: the start of every key the journal writes.
        clock: the current time, for ``started_at`` and friends (tests pin it).
        max_threads: how many commands may run in worker threads at once.
    """

    def __init__(
        self,
        client: Any,
        *,
        where: str,
        prefix: str = PREFIX,
        clock: Callable[[], datetime] = _now,
        max_threads: int = 16,
    ) -> None:
        self.client = client
        self.where = where
        self.prefix = prefix
        self._clock = clock
        self._rows = RunRows(client, prefix)
        self._key = self._rows.key
        self._max_threads = max_threads
        self._limiter: anyio.CapacityLimiter | None = None
        self._start = client.register_script(_START)
        self._step = client.register_script(_STEP)
        self._finish = client.register_script(_FINISH)

    def __repr__(self) -> str:
        return f"RedisJournal({self.where!r}, prefix={self.prefix!r})"

    async def _in_thread(self, fn: Callable[..., T], *args: Any) -> T:
        if self._limiter is None:
            self._limiter = anyio.CapacityLimiter(self._max_threads)
        return await anyio.to_thread.run_sync(fn, *args, limiter=self._limiter)

    async def _script(self, script: Any, keys: Sequence[str], args: Sequence[Any]) -> Any:
        return await self._in_thread(functools.partial(script, keys=list(keys), args=list(args)))

    # -- writes -----------------------------------------------------------------------

    async def start_run(
        self,
        run_id: str,
        *,
        kind: str,
        workflow: str | None,
        fingerprint: str | None,
        task: str | None,
    ) -> None:
        """Journal that a run starts (or, for a known id, starts again: a resume).

        A restarted run is ``running`` again, keeps its first ``started_at`` and
        its steps, and takes the new fingerprint, workflow and task.

        Args:
            run_id: the run's id.
            kind: ``workflow`` or ``many``.
            workflow: the workflow's name, for ``workflow`` runs.
            fingerprint: the config's fingerprint for this run.
            task: the run's task, if any.

        Raises:
            ValueError: ``kind`` is not one of the two.
            redis.RedisError: the server does not answer.
        """
        await self._begin(run_id, "running", kind, workflow, fingerprint, task)

    async def queue_run(self, run_id: str, *, workflow: str, task: str | None) -> None:
        """Journal a submitted run as ``queued``: known to ``runs show``, not yet started.

        Its fingerprint is unset until a worker starts it with its own config.

        Raises:
            redis.RedisError: the server does not answer.
        """
        await self._begin(run_id, "queued", "workflow", workflow, None, task)

    async def _begin(
        self,
        run_id: str,
        status: str,
        kind: str,
        workflow: str | None,
        fingerprint: str | None,
        task: str | None,
    ) -> None:
        if kind not in get_args(RunKind):
            raise ValueError(f"run kind must be 'workflow' or 'many', not {kind!r}")
        now = self._clock()
        fields = {"workflow": workflow, "fingerprint": fingerprint, "task": task}
        pairs = [
            part for name, value in fields.items() if value is not None for part in (name, value)
        ]
        gone = [name for name, value in fields.items() if value is None]
        args = [run_id, iso(now), micros(now), status, kind, *pairs, "--", *gone]
        args += ["finished_at", "document"]
        keys = (self._key("run", run_id), self._key("by-start"), self._key("ids"))
        await self._script(self._start, keys, args)

    async def record_step(self, run_id: str, step: Mapping[str, Any]) -> None:
        """Journal a step's state; acknowledged by the server when this returns.

        A step journalled again replaces its earlier state.

        Args:
            run_id: the run the step belongs to.
            step: the step's ``StepResult.to_dict()`` (with a string ``id`` and ``status``).

        Raises:
            ValueError: ``step`` has no string ``id`` or ``status``.
            redis.RedisError: the server does not answer.
        """
        step_id, status = step.get("id"), step.get("status")
        if not isinstance(step_id, str) or not isinstance(status, str):
            raise ValueError("a journalled step needs a string 'id' and 'status'")
        keys = (self._key("steps", run_id), self._key("order", run_id))
        await self._script(self._step, keys, (step_id, _dumps(step)))

    async def finish_run(self, run_id: str, document: Mapping[str, Any]) -> None:
        """Journal that a run finished, with its ``--json`` document; its status is the document's.

        Raises:
            redis.RedisError: the server does not answer.
        """
        status = document.get("status")
        args = (status if isinstance(status, str) else "finished", iso(self._clock()))
        await self._script(self._finish, (self._key("run", run_id),), (*args, _dumps(document)))

    async def decide(
        self, run_id: str, step_id: str, *, approved: bool, note: str | None = None
    ) -> Decision:
        """Journal the decision on gated step ``step_id`` of run ``run_id``; acknowledged on return.

        Returns:
            The decision as journalled, with its ``decided_at``.
        """
        decision = Decision(run_id, step_id, bool(approved), note, iso(self._clock()))
        data = _dumps(decision.approval())
        await self._in_thread(self.client.hset, self._key("approvals", run_id), step_id, data)
        return decision

    async def decision(self, run_id: str, step_id: str) -> Decision | None:
        """The journalled decision on step ``step_id`` of run ``run_id`` (its full id), if any."""
        data = await self._in_thread(self.client.hget, self._key("approvals", run_id), step_id)
        value = decode_object(data, where=f"run {run_id} decision on {step_id}")
        if value is None:
            return None
        note = value.get("note")
        return Decision(
            run_id,
            step_id,
            bool(value.get("approved")),
            note if isinstance(note, str) else None,
            str(value.get("decided_at", "")),
        )

    # -- reads ------------------------------------------------------------------------

    async def get_run(self, run_id: str, *, with_document: bool = True) -> RunRecord | None:
        """The run with id ``run_id``, or the one run whose id starts with it; else ``None``.

        Args:
            run_id: a full run id, or a prefix of at least 6 characters.
            with_document: also read the run's final document (``False``: ``None``).

        Raises:
            ConfigError: the prefix matches more than one run.
            redis.RedisError: the server does not answer.
        """
        return await self._in_thread(self._rows.find, run_id, with_document)

    async def list_runs(
        self,
        *,
        workflow: str | None = None,
        status: str | None = None,
        limit: int = 50,
        with_steps: bool = True,
    ) -> list[RunRecord]:
        """The most recently started runs first, optionally of one workflow or status.

        Args:
            workflow: only runs of this workflow.
            status: only runs with this status (``queued``, ``running``, ``succeeded``…).
            limit: at most this many runs.
            with_steps: also read every run's steps (``False`` leaves ``steps`` empty).
        """
        if limit < 1:
            return []
        return await self._in_thread(self._rows.newest, workflow, status, limit, with_steps)

    async def prune(self, older_than_s: float) -> int:
        """Remove runs that finished (or, never finished, started) over ``older_than_s`` ago.

        Returns:
            How many runs were removed (their steps and decisions go with them).

        Raises:
            ValueError: ``older_than_s`` is negative or not a number.
        """
        if not math.isfinite(older_than_s) or older_than_s < 0:
            raise ValueError(f"older_than_s must be a number ≥ 0, not {older_than_s!r}")
        cutoff = self._clock() - timedelta(seconds=older_than_s)
        return await self._in_thread(self._rows.prune, cutoff)

    async def integrity_check(self) -> str:
        """``ok`` when the server answers and the indexes are sorted sets; else what is wrong."""

        def check() -> str:
            self.client.ping()
            wrong = [
                name
                for name in (self._key("by-start"), self._key("ids"))
                if self.client.type(name) not in ("zset", "none")
            ]
            return "ok" if not wrong else "; ".join(f"{name} is not a sorted set" for name in wrong)

        return await self._in_thread(check)

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self._in_thread(self.client.close)


def connect(url: str, *, option: str = "coordination.redis_url") -> tuple[Any, str]:
    """A ``redis.Redis`` client for ``url`` (text replies) and the URL without its password.

    Nothing is sent yet; the caller pings. ``option`` names the setting in errors.

    Raises:
        ConfigError: redis-py is not installed, or ``url`` is not a Redis URL.
    """
    try:
        import redis
    except ImportError:
        raise ConfigError(option, _INSTALL) from None
    where = public_url(url)
    try:
        client = redis.Redis.from_url(
            url, socket_connect_timeout=2.0, socket_timeout=10.0, decode_responses=True
        )
    except ValueError as exc:
        raise ConfigError(option, f"not a Redis URL: {where}") from exc
    return client, where


async def ping(client: Any, where: str, option: str) -> None:
    """Check the server at ``where`` answers; close ``client`` and raise if not.

    Raises:
        ConfigError: no server answers (the message never holds the password).
    """
    import redis

    try:
        await anyio.to_thread.run_sync(client.ping)
    except redis.RedisError as exc:
        client.close()
        raise ConfigError(option, f"no Redis server answers at {where}: {exc}") from exc


@asynccontextmanager
async def open_redis_journal(
    url: str,
    *,
    prefix: str = PREFIX,
    clock: Callable[[], datetime] = _now,
    option: str = "coordination.redis_url",
) -> AsyncIterator[RedisJournal]:
    """Connect to the Redis server at ``url`` for the duration of an ``async with`` block.

    Args:
        url: ``redis://[:password@]host:port/db`` (``rediss://`` for TLS).
        prefix: the start of every key the journal writes.
        clock: the current time (tests pin it).
        option: the setting the URL came from, for errors (``--redis``).

    Raises:
        ConfigError: redis-py is not installed, the URL is not a Redis URL, or no
            server answers there.
    """
    client, where = connect(url, option=option)
    await ping(client, where, option)
    journal = RedisJournal(client, where=where, prefix=prefix, clock=clock)
    try:
        yield journal
    finally:
        with anyio.CancelScope(shield=True):
            await journal.aclose()
