"""``SharedBreakers``: the circuit breaker's state per (base URL, model), kept in Redis.

Why: when a model is down, every process should stop sending to it as soon as
one of them has seen enough failures, and one probe for all of them should
decide when it is back. So the state machine of :mod:`.._api._breaker`
(closed → open after ``failure_threshold`` consecutive health failures →
half-open after ``reset_timeout_s`` → closed on a good probe) runs in two Lua
scripts on the shared hash ``{prefix}{base_url|model}:breaker``:

* ``state``, ``failures`` (consecutive, across processes), ``open_until``
  (server ``TIME``), ``probes`` and ``probe_at``;
* **admit** refuses while open, turns an expired open into half-open, and
  hands out at most ``half_open_max_calls`` probes; a probe whose process died
  is forgotten after ``probe_ttl_s``, so a crash cannot wedge the breaker;
* **settle** applies an outcome (success, health failure, or neutral).

Each process keeps its own :class:`~.._api._breaker.CircuitBreaker` as a
mirror (:meth:`CircuitBreaker.adopt`): it fails fast before queueing for a
slot, emits the state-change events and keeps the counters, and it takes over
alone while Redis does not answer. Times go back as "seconds from now", so no
two clocks are ever compared.
"""

from __future__ import annotations

from collections.abc import Callable

import anyio

from .._api._breaker import CircuitBreaker, is_health_failure
from .._config import CircuitBreakerConfig
from ._link import DOWN, RedisLink

__all__ = ["SharedBreakers"]

_NOW = """
local now = tonumber(ARGV[1])
if now == nil then
  local t = redis.call('TIME')
  now = tonumber(t[1]) + tonumber(t[2]) / 1000000
end
local function f(x) return string.format('%.17g', x) end
local state = redis.call('HGET', KEYS[1], 'state') or 'closed'
local failures = tonumber(redis.call('HGET', KEYS[1], 'failures')) or 0
local open_until = tonumber(redis.call('HGET', KEYS[1], 'open_until')) or now
"""
# KEYS: breaker. ARGV: now, ttl_ms, max_probes, probe_ttl_s.
# Returns {verdict ("admit" | "probe" | "reject"), state, seconds until half-open, failures}.
_ADMIT = (
    _NOW
    + """
redis.call('PEXPIRE', KEYS[1], ARGV[2])
if state == 'open' then
  if now < open_until then return {'reject', state, f(open_until - now), failures} end
  state = 'half_open'
  redis.call('HSET', KEYS[1], 'state', state, 'probes', '0')
end
if state == 'half_open' then
  local probes = tonumber(redis.call('HGET', KEYS[1], 'probes')) or 0
  local probe_at = tonumber(redis.call('HGET', KEYS[1], 'probe_at')) or now
  if probes > 0 and now - probe_at > tonumber(ARGV[4]) then probes = 0 end
  if probes >= tonumber(ARGV[3]) then return {'reject', state, '0', failures} end
  redis.call('HSET', KEYS[1], 'probes', tostring(probes + 1), 'probe_at', f(now))
  return {'probe', state, '0', failures}
end
return {'admit', state, '0', failures}
"""
)
# KEYS: breaker. ARGV: now, ttl_ms, probe ("1" | "0"), outcome ("ok" | "fail" | "neutral"),
# threshold, reset_s. Returns {state, seconds until half-open, failures}.
_SETTLE = (
    _NOW
    + """
local probe = ARGV[3] == '1'
if probe and state == 'half_open' then
  local probes = tonumber(redis.call('HGET', KEYS[1], 'probes')) or 0
  redis.call('HSET', KEYS[1], 'probes', tostring(math.max(0, probes - 1)))
end
local function open()
  state = 'open'
  open_until = now + tonumber(ARGV[6])
  redis.call('HSET', KEYS[1], 'state', state, 'open_until', f(open_until), 'probes', '0')
end
if ARGV[4] == 'ok' then
  if state == 'closed' or (probe and state == 'half_open') then
    state = 'closed'
    failures = 0
    redis.call('HSET', KEYS[1], 'state', state)
  end
elseif ARGV[4] == 'fail' then
  if state == 'closed' then
    failures = failures + 1
    if failures >= tonumber(ARGV[5]) then open() end
  elseif probe and state == 'half_open' then
    failures = failures + 1
    open()
  end
end
redis.call('HSET', KEYS[1], 'failures', tostring(failures))
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return {state, f(math.max(0, open_until - now)), failures}
"""
)


def _outcome(error: BaseException | None) -> str:
    if error is None:
        return "ok"
    return "fail" if isinstance(error, Exception) and is_health_failure(error) else "neutral"


class SharedBreakers:
    """Breaker state per ``(base_url, model)`` shared through Redis, mirrored by local breakers.

    Args:
        link: the connection (while it is down, each local breaker decides alone).
        config: threshold, reset timeout and half-open probe limit (every process's own).
        prefix: the start of every key.
        probe_ttl_s: how long a half-open probe may be out before it is presumed lost.
        retain_s: how long an idle breaker's state lives.
        clock: wall-clock seconds sent with each call; ``None`` uses the server's ``TIME``.
    """

    def __init__(
        self,
        link: RedisLink,
        config: CircuitBreakerConfig,
        *,
        prefix: str = "cft:coord:",
        probe_ttl_s: float = 300.0,
        retain_s: float = 24 * 3600.0,
        clock: Callable[[], float] | None = None,
    ) -> None:
        self._link = link
        self._config = config
        self._prefix = prefix
        self._probe_ttl = repr(float(probe_ttl_s))
        self._ttl = str(max(1, round(retain_s * 1000)))
        self._clock = clock
        self._admit = link.register(_ADMIT)
        self._settle = link.register(_SETTLE)

    def breaker_key(self, key: tuple[str, str]) -> str:
        """The Redis key of the breaker for ``(base_url, model)``."""
        return f"{self._prefix}{{{key[0]}|{key[1]}}}:breaker"

    def _now(self) -> str:
        return "" if self._clock is None else repr(float(self._clock()))

    async def admit(self, breaker: CircuitBreaker) -> bool | None:
        """Admit one request through the shared state; whether it is a probe, ``None`` if down.

        The local ``breaker`` adopts the shared state first, so its events and
        fast-fail follow what every process sees.

        Args:
            breaker: this process's breaker for the key.

        Raises:
            CircuitOpenError: the shared breaker refuses the request.
        """
        args = [self._now(), self._ttl, str(self._config.half_open_max_calls), self._probe_ttl]
        reply = await self._link.run(self._admit, keys=[self.breaker_key(breaker.key)], args=args)
        if reply is DOWN:
            return None
        verdict, state, retry_in, failures = (_text(x) for x in reply)
        self._adopt(breaker, state, float(retry_in), int(failures))
        if verdict == "reject":
            breaker.reject()
        return verdict == "probe"

    async def settle(
        self, breaker: CircuitBreaker, probe: bool, error: BaseException | None
    ) -> bool:
        """Record how a shared-admitted request ended; ``False`` if Redis did not answer.

        Args:
            breaker: this process's breaker for the key (it counts the outcome).
            probe: what :meth:`admit` returned.
            error: the request's exception, or ``None`` for a success.
        """
        breaker.tally(error)
        args = [
            self._now(),
            self._ttl,
            "1" if probe else "0",
            _outcome(error),
            str(self._config.failure_threshold),
            repr(float(self._config.reset_timeout_s)),
        ]
        with anyio.CancelScope(shield=True):  # the outcome happened; a cancel must not lose it
            reply = await self._link.run(
                self._settle, keys=[self.breaker_key(breaker.key)], args=args
            )
        if reply is DOWN:
            return False
        state, retry_in, failures = (_text(x) for x in reply)
        self._adopt(breaker, state, float(retry_in), int(failures))
        return True

    @staticmethod
    def _adopt(breaker: CircuitBreaker, state: str, retry_in: float, failures: int) -> None:
        if state in ("closed", "open", "half_open"):
            breaker.adopt(state, failures, anyio.current_time() + retry_in)  # type: ignore[arg-type]


def _text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
