"""The day-budget ledger on a Redis server, shared by every machine that uses it.

Same contract as the SQLite ledger (:class:`._ledger.DayLedger`); atomicity
comes from Lua scripts instead of a transaction: a script runs alone on the
server, so "drop expired holds, check, add the hold" is one step however many
machines call it.

Keys per budget key ``K`` (the hash tag ``{K}`` keeps them in one cluster slot):

* ``cft:budget:{K}:totals`` — a hash: ``spent`` and ``reserved`` (the sum of
  the amounts of holds not yet dropped);
* ``cft:budget:{K}:holds`` — a sorted set: hold id scored by expiry time;
* ``cft:budget:{K}:amounts`` — a hash: hold id to amount;
* ``cft:budget:{K}:settled`` — a set of settled hold ids (settle is idempotent).

Every write pushes their expiry ``retain_s`` (3 days) ahead: a day's totals
outlive the day, then Redis forgets them.

Time: by default the scripts read the server's ``TIME``, so machines whose
clocks disagree still agree on when a hold expires (a fast clock on one
machine would otherwise drop another machine's live holds early and let it
overspend). Tests pass a ``clock`` instead, which is sent with each call.

redis-py is blocking and optional (extra ``redis``): it is imported only in
:func:`open_redis_ledger`, and every command runs through ``anyio.to_thread``.
A server that stops answering after the open raises redis-py's own errors
(``redis.ConnectionError``, ``redis.TimeoutError``, both ``redis.RedisError``)
from :meth:`RedisLedger.reserve` and friends; the caller decides what a budget
it cannot check means.
"""

from __future__ import annotations

import functools
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any, TypeVar
from urllib.parse import urlsplit, urlunsplit

import anyio
import anyio.to_thread

from .._errors import ConfigError
from ._ledger import Clock, Hold, LedgerStatus, check_amount, check_reservation

__all__ = ["PREFIX", "RedisLedger", "open_redis_ledger", "public_url"]

PREFIX = "cft:budget:"
RETAIN_S = 3 * 24 * 3600.0
_INSTALL = "a Redis budget ledger needs redis-py: pip install 'claude-force-trio[redis]'"
T = TypeVar("T")

# ARGV[1] is the time in seconds, or "" for the server's TIME.
_NOW = """
local now = tonumber(ARGV[1])
if now == nil then
  local t = redis.call('TIME')
  now = tonumber(t[1]) + tonumber(t[2]) / 1000000
end
"""
_TOUCH = """
for i = 1, #KEYS do redis.call('PEXPIRE', KEYS[i], ARGV[2]) end
"""
# KEYS: totals, holds, amounts. ARGV: now, retain_ms, hold_id, amount, limit, ttl_s.
_RESERVE = (
    _NOW
    + """
local gone = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', string.format('%.17g', now))
if #gone > 0 then
  local freed = 0
  for _, id in ipairs(gone) do
    local amount = redis.call('HGET', KEYS[3], id)
    if amount then freed = freed + tonumber(amount) end
    redis.call('HDEL', KEYS[3], id)
  end
  redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', string.format('%.17g', now))
  redis.call('HINCRBY', KEYS[1], 'reserved', -freed)
end
local spent = tonumber(redis.call('HGET', KEYS[1], 'spent') or '0')
local reserved = tonumber(redis.call('HGET', KEYS[1], 'reserved') or '0')
local amount = tonumber(ARGV[4])
if spent + reserved + amount > tonumber(ARGV[5]) then return 0 end
redis.call('ZADD', KEYS[2], string.format('%.17g', now + tonumber(ARGV[6])), ARGV[3])
redis.call('HSET', KEYS[3], ARGV[3], ARGV[4])
redis.call('HINCRBY', KEYS[1], 'reserved', ARGV[4])
"""
    + _TOUCH
    + "return 1\n"
)
# KEYS: totals, holds, amounts, settled. ARGV: now (unused), retain_ms, hold_id, spent.
_SETTLE = (
    """
if redis.call('SADD', KEYS[4], ARGV[3]) == 0 then return 0 end
local amount = redis.call('HGET', KEYS[3], ARGV[3])
if amount then
  redis.call('HDEL', KEYS[3], ARGV[3])
  redis.call('ZREM', KEYS[2], ARGV[3])
  redis.call('HINCRBY', KEYS[1], 'reserved', -tonumber(amount))
end
redis.call('HINCRBY', KEYS[1], 'spent', ARGV[4])
"""
    + _TOUCH
    + "return 1\n"
)
# KEYS: totals, holds, amounts. ARGV: now. Read-only: live holds are those not yet expired.
_STATUS = (
    _NOW
    + """
local spent = tonumber(redis.call('HGET', KEYS[1], 'spent') or '0')
local live = redis.call('ZRANGEBYSCORE', KEYS[2], string.format('(%.17g', now), '+inf')
local reserved = 0
for _, id in ipairs(live) do
  local amount = redis.call('HGET', KEYS[3], id)
  if amount then reserved = reserved + tonumber(amount) end
end
return {spent, reserved, #live}
"""
)


def public_url(url: str) -> str:
    """``url`` without user, password or query (which may carry a password), for messages."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = parts.port
    except ValueError:
        return "<unparsable Redis URL>"
    netloc = f"{host}:{port}" if port is not None else host
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


class RedisLedger:
    """The day ledger on a Redis server. Open it with :func:`open_redis_ledger`.

    Args:
        client: a ``redis.Redis`` client.
        where: the server's URL without password, for messages.
        prefix: the start of every key this ledger writes.
        clock: wall-clock seconds sent with each call; ``None`` uses the server's ``TIME``.
        retain_s: how long a key's totals live after its last write.
        max_threads: how many commands may run in worker threads at once.
    """

    def __init__(
        self,
        client: Any,
        *,
        where: str,
        prefix: str = PREFIX,
        clock: Clock | None = None,
        retain_s: float = RETAIN_S,
        max_threads: int = 8,
    ) -> None:
        self._redis = client
        self.where = where
        self.prefix = prefix
        self._clock = clock
        self._retain_ms = str(max(1, round(retain_s * 1000)))
        self._max_threads = max_threads
        self._limiter: anyio.CapacityLimiter | None = None
        self._reserve = client.register_script(_RESERVE)
        self._settle = client.register_script(_SETTLE)
        self._status = client.register_script(_STATUS)

    def __repr__(self) -> str:
        return f"RedisLedger({self.where!r}, prefix={self.prefix!r})"

    def _keys(self, key: str, *, settled: bool = False) -> list[str]:
        base = f"{self.prefix}{{{key}}}"
        names = [f"{base}:totals", f"{base}:holds", f"{base}:amounts"]
        return [*names, f"{base}:settled"] if settled else names

    def _now(self) -> str:
        return "" if self._clock is None else repr(float(self._clock()))

    async def _in_thread(self, fn: Callable[..., T], *args: Any) -> T:
        if self._limiter is None:
            self._limiter = anyio.CapacityLimiter(self._max_threads)
        return await anyio.to_thread.run_sync(fn, *args, limiter=self._limiter)

    async def reserve(self, key: str, amount: int, limit: int, *, ttl_s: float) -> Hold | None:
        """Hold ``amount`` under ``key`` if it fits under ``limit`` with what is spent and held.

        Args:
            key: the budget, e.g. :func:`._ledger.day_key`.
            amount: micro-dollars to hold.
            limit: the budget's cap in micro-dollars.
            ttl_s: seconds until the hold expires unless settled.

        Returns:
            The hold, or ``None`` when it does not fit.

        Raises:
            ValueError: a negative or non-int amount or limit, or a bad TTL.
            redis.RedisError: the server does not answer (``redis.ConnectionError``,
                ``redis.TimeoutError``) or refuses the script.
        """
        check_reservation(amount, limit, ttl_s)
        hold = Hold(key=key, hold_id=uuid.uuid4().hex, amount=amount)
        args = [self._now(), self._retain_ms, hold.hold_id, amount, limit, repr(float(ttl_s))]
        fits = await self._in_thread(
            functools.partial(self._reserve, keys=self._keys(key), args=args)
        )
        return hold if int(fits) else None

    async def settle(self, hold: Hold, spent: int) -> None:
        """Release ``hold`` and add ``spent`` to its key's total, once per hold.

        Args:
            hold: what :meth:`reserve` returned (expired or not: the money was spent).
            spent: the real cost in micro-dollars; it may exceed ``hold.amount``.

        Raises:
            ValueError: ``spent`` is negative or not an int.
            redis.RedisError: the server does not answer or refuses the script.
        """
        check_amount("spent", spent)
        args = [self._now(), self._retain_ms, hold.hold_id, spent]
        keys = self._keys(hold.key, settled=True)
        await self._in_thread(functools.partial(self._settle, keys=keys, args=args))

    async def status(self, key: str) -> LedgerStatus:
        """The spent total and live holds of ``key``.

        Raises:
            redis.RedisError: the server does not answer.
        """
        call = functools.partial(self._status, keys=self._keys(key), args=[self._now()])
        spent, reserved, holds = await self._in_thread(call)
        return LedgerStatus(key=key, spent=int(spent), reserved=int(reserved), holds=int(holds))

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self._in_thread(self._redis.close)


@asynccontextmanager
async def open_redis_ledger(
    url: str,
    *,
    prefix: str = PREFIX,
    clock: Clock | None = None,
    retain_s: float = RETAIN_S,
) -> AsyncIterator[RedisLedger]:
    """Connect to the Redis server at ``url`` for the duration of an ``async with`` block.

    Args:
        url: ``redis://[:password@]host:port/db`` (``rediss://`` for TLS).
        prefix: the start of every key the ledger writes.
        clock: wall-clock seconds for hold expiry; ``None`` (the default) uses the
            server's ``TIME``, which every machine shares.
        retain_s: how long a key's totals live after its last write.

    Raises:
        ConfigError: redis-py is not installed, the URL is not a Redis URL, or no
            server answers there (the message never holds the password).
    """
    try:
        import redis
    except ImportError:
        raise ConfigError("coordination.redis_url", _INSTALL) from None
    where = public_url(url)
    try:
        client = redis.Redis.from_url(url, socket_connect_timeout=2.0, socket_timeout=5.0)
    except ValueError as exc:
        raise ConfigError("coordination.redis_url", f"not a Redis URL: {where}") from exc
    try:
        await anyio.to_thread.run_sync(client.ping)
    except redis.RedisError as exc:
        client.close()
        raise ConfigError(
            "coordination.redis_url", f"no Redis server answers at {where}: {exc}"
        ) from exc
    ledger = RedisLedger(client, where=where, prefix=prefix, clock=clock, retain_s=retain_s)
    try:
        yield ledger
    finally:
        with anyio.CancelScope(shield=True):
            await ledger.aclose()
