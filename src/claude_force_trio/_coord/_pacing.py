"""``SharedPacer``: one token bucket per (base URL, model) in Redis, shared by every process.

Why: each process's own limiter learns the quota from the answers it gets,
but it cannot see the requests of the others, so ten processes each believe
they own the whole ``requests-limit``. One bucket on the server they share is
the cure, kept honest by a Lua script (a script runs alone on the server, so
"refill, take, say how long to wait" is one step however many processes ask).

The bucket, a hash at ``{prefix}{base_url|model}:bucket``:

* ``rate`` (requests a second) and ``level`` refill by the server's ``TIME``
  (tests send a clock instead), up to ``burst_s`` seconds' worth (at least 1);
* **take** always takes a token and may leave the level in debt; the answer is
  how long the caller must wait before sending (the time the debt takes to
  refill). Waiting callers thereby queue in time order across processes, and
  each request costs one round trip, with no herd of retries;
* **AIMD on the rate**: a 429 halves it (never below ``ceiling / 16``) and
  empties the bucket, once per burst: only a 429 to a request taken *after*
  the last cut halves again, as the in-process limiter does (a request sent
  unpaced, before the rate was known, halves only a bucket never cut). Every success
  adds ``growth × ceiling`` back, up to the ceiling;
* the **ceiling** is ``coordination.requests_per_minute`` when set, and the
  API's ``anthropic-ratelimit-requests-limit`` (times :data:`PACE_FRACTION`,
  which leaves room for the time a request takes to reach the server) when an
  answer carries it; the lower wins. With neither known the bucket does not
  pace at all (the answer is "unpaced").

A new bucket starts empty, not full: the processes that created it may have
spent the server's burst already, before anyone knew the limit.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

import anyio

from ._link import DOWN, RedisLink

__all__ = ["PACE_FRACTION", "BucketState", "SharedPacer"]

#: Of the API's reported limit, the share the shared bucket hands out.
PACE_FRACTION = 0.98
_HEADER = "anthropic-ratelimit-requests-limit"

_NOW = """
local now = tonumber(ARGV[1])
if now == nil then
  local t = redis.call('TIME')
  now = tonumber(t[1]) + tonumber(t[2]) / 1000000
end
local function f(x) return string.format('%.17g', x) end
"""
# KEYS: bucket. ARGV: now, ttl_ms, burst_s, configured ceiling (per second, or "").
_TAKE = (
    _NOW
    + """
local rate = tonumber(redis.call('HGET', KEYS[1], 'rate'))
local configured = tonumber(ARGV[4])
if rate == nil then
  if configured == nil then return {'-1', f(now)} end
  rate = configured
  redis.call('HSET', KEYS[1], 'rate', f(rate), 'ceiling', f(rate), 'level', '0', 'stamp', f(now))
end
local cap = math.max(1, rate * tonumber(ARGV[3]))
local level = tonumber(redis.call('HGET', KEYS[1], 'level')) or 0
local stamp = tonumber(redis.call('HGET', KEYS[1], 'stamp')) or now
level = math.min(cap, level + rate * math.max(0, now - stamp)) - 1
redis.call('HSET', KEYS[1], 'level', f(level), 'stamp', f(now))
redis.call('PEXPIRE', KEYS[1], ARGV[2])
local wait = 0
if level < 0 then wait = -level / rate end
return {f(wait), f(now)}
"""
)
# KEYS: bucket. ARGV: now, ttl_ms, kind ("ok" | "429"), taken_at, learned ceiling or "",
# growth, burst_s.
_FEEDBACK = (
    _NOW
    + """
local rate = tonumber(redis.call('HGET', KEYS[1], 'rate'))
local ceiling = tonumber(redis.call('HGET', KEYS[1], 'ceiling'))
local learned = tonumber(ARGV[5])
if learned ~= nil and learned ~= ceiling then
  ceiling = learned
  redis.call('HSET', KEYS[1], 'ceiling', f(ceiling))
  if rate == nil then
    redis.call('HSET', KEYS[1], 'level', '0', 'stamp', f(now))
  end
  if rate == nil or rate > ceiling then rate = ceiling end
end
if rate == nil then return '-1' end
if ARGV[3] == '429' then
  local cut = tonumber(redis.call('HGET', KEYS[1], 'cut'))
  local taken = tonumber(ARGV[4])
  if cut == nil or (taken ~= nil and taken >= cut) then
    rate = math.max(ceiling / 16, rate / 2)
    redis.call('HSET', KEYS[1], 'cut', f(now), 'level', '0', 'stamp', f(now))
  end
else
  rate = math.min(ceiling, rate + ceiling * tonumber(ARGV[6]))
end
redis.call('HSET', KEYS[1], 'rate', f(rate))
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return f(rate)
"""
)


@dataclass(frozen=True, slots=True)
class BucketState:
    """A snapshot of one shared bucket (for statistics and tests).

    Attributes:
        rate: requests a second handed out now.
        ceiling: the most it grows back to.
        level: tokens in the bucket (negative: callers are queued).
    """

    rate: float
    ceiling: float
    level: float


def _learned_ceiling(headers: Mapping[str, str]) -> float | None:
    text = headers.get(_HEADER)
    if text is None:
        return None
    try:
        per_minute = int(text.strip())
    except ValueError:
        return None
    return per_minute / 60.0 * PACE_FRACTION if per_minute > 0 else None


class SharedPacer:
    """Request pacing per ``(base_url, model)`` through one bucket in Redis.

    Args:
        link: the connection (its outages make pacing per process).
        prefix: the start of every key.
        requests_per_minute: the configured initial and highest rate, or ``None``.
        burst_s: how many seconds' worth of requests the bucket holds (at least 1).
        growth: the share of the ceiling each success adds back after a cut.
        retain_s: how long an idle bucket lives.
        clock: wall-clock seconds sent with each call; ``None`` uses the server's ``TIME``.
    """

    def __init__(
        self,
        link: RedisLink,
        *,
        prefix: str = "cft:coord:",
        requests_per_minute: int | None = None,
        burst_s: float = 0.5,
        growth: float = 0.02,
        retain_s: float = 3600.0,
        clock: Callable[[], float] | None = None,
    ) -> None:
        self._link = link
        self._prefix = prefix
        self._configured = requests_per_minute / 60.0 if requests_per_minute else None
        self._burst = repr(float(burst_s))
        self._growth = repr(float(growth))
        self._ttl = str(max(1, round(retain_s * 1000)))
        self._clock = clock
        self._take = link.register(_TAKE)
        self._feedback = link.register(_FEEDBACK)

    def bucket_key(self, key: tuple[str, str]) -> str:
        """The Redis key of the bucket for ``(base_url, model)``."""
        return f"{self._prefix}{{{key[0]}|{key[1]}}}:bucket"

    def _now(self) -> str:
        return "" if self._clock is None else repr(float(self._clock()))

    async def take(self, key: tuple[str, str]) -> tuple[float, float] | None:
        """Take a token: ``(seconds to wait, server time taken)``, or ``None`` if unpaced/down.

        Args:
            key: ``(base_url, model)``.
        """
        configured = "" if self._configured is None else repr(self._configured)
        args = [self._now(), self._ttl, self._burst, configured]
        reply = await self._link.run(self._take, keys=[self.bucket_key(key)], args=args)
        if reply is DOWN:
            return None
        wait, taken = (float(x) for x in reply)
        return None if wait < 0 else (wait, taken)

    async def wait_turn(self, key: tuple[str, str]) -> float | None:
        """Take a token and wait until it may be spent; the server time it was taken, or ``None``.

        Args:
            key: ``(base_url, model)``.
        """
        turn = await self.take(key)
        if turn is None:
            return None
        wait, taken = turn
        if wait > 0:
            await anyio.sleep(wait)
        return taken

    async def feedback(
        self,
        key: tuple[str, str],
        *,
        rate_limited: bool,
        taken_at: float | None,
        headers: Mapping[str, str],
    ) -> float | None:
        """Tell the bucket how a paced request ended; the rate now, or ``None`` if unpaced/down.

        Args:
            key: ``(base_url, model)``.
            rate_limited: the answer was a 429 (halve), else a success (grow back).
            taken_at: what :meth:`wait_turn` returned for the request.
            headers: the answer's headers (``requests-limit`` sets the ceiling).
        """
        learned = _learned_ceiling(headers)
        if learned is not None and self._configured is not None:
            learned = min(learned, self._configured)
        args = [
            self._now(),
            self._ttl,
            "429" if rate_limited else "ok",
            "" if taken_at is None else repr(taken_at),
            "" if learned is None else repr(learned),
            self._growth,
            self._burst,
        ]
        reply = await self._link.run(self._feedback, keys=[self.bucket_key(key)], args=args)
        if reply is DOWN:
            return None
        rate = float(reply)
        return None if rate < 0 else rate

    async def state(self, key: tuple[str, str]) -> BucketState | None:
        """The bucket's stored state (not refilled to now), or ``None`` if none/down.

        Args:
            key: ``(base_url, model)``.
        """
        raw = await self._link.run(self._link.client.hgetall, self.bucket_key(key))
        if raw is DOWN or not raw or b"rate" not in raw:
            return None
        return BucketState(
            float(raw[b"rate"]), float(raw.get(b"ceiling", b"nan")), float(raw[b"level"])
        )
