"""Adaptive concurrency under a shared rate limit, on ``anyio.current_time()``.

Every attempt of every step of an engine takes a slot here first, so the
engine as a whole reacts to the organisation's quota:

* **Concurrency** starts at ``max_concurrent_agents``, halves on a 429 (never
  below 1) and grows back by one per success. Only a 429 to a request sent
  *after* the last decrease halves it again: the 429s of one burst all report
  the same overload, and halving once per burst avoids collapsing to 1.
* **Local failures** (:class:`~claude_force_trio._errors.LocalResourceError`:
  out of file descriptors, a stalled loop) halve it the same way, once per
  burst, but hold nothing: too much is in flight for this machine, not for
  the quota.
* **Holds**: a 429 makes every new attempt wait the server's ``retry-after``.
  When ``anthropic-ratelimit-{tokens,input-tokens,output-tokens}-remaining``
  reaches 0, new attempts wait until the matching ``-reset`` time (RFC 3339,
  converted to trio time through the wall-clock difference).
* **Request pacing**: the API refills its request bucket continuously
  (``-limit`` per minute), and its ``-reset`` is only second-precise. So when
  ``requests-limit`` is known, ``requests-remaining`` feeds a local mirror of
  the server's bucket: the level an answer reported, plus the refill since its
  request was sent (the API counts a request when it arrives, so the header
  describes that moment, not the end of a reply that took seconds), minus every
  request sent after it. New attempts wait until that estimate has one request
  in it, rather than until the bucket is full again. ``remaining`` is rounded
  down, and requests refused or lost on the way are still subtracted, so the
  estimate errs low: a paced client stays just under the limit instead of
  bouncing off it. Without a ``-limit`` header, ``requests-remaining: 0`` holds
  until ``-reset`` like the rest.

Slots come from a ``trio.CapacityLimiter`` whose ``total_tokens`` is adjusted;
lowering it below the number borrowed lets holders finish and admits no one
until enough have left. Waiters pass the quota check one at a time (FIFO), so
the end of a hold releases one sender at a time instead of a herd.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

import anyio
import anyio.lowlevel

from .._public import publish

__all__ = ["AdaptiveLimiter", "LimiterStats", "Permit"]

_PREFIX = "anthropic-ratelimit-"
_HELD_DIMENSIONS = ("tokens", "input-tokens", "output-tokens")
_EPSILON = 1e-9
#: Refill we keep in reserve: a request reaches the server a little after we let it
#: go, and the refill credited for that gap must not be spent twice. A level, not a
#: rate, so it costs nothing once the client is pacing at the limit.
_RESERVE_S = 0.05


@dataclass(frozen=True, slots=True)
class LimiterStats:
    """A snapshot of the limiter.

    Attributes:
        limit: requests allowed in flight now.
        max_limit: the configured maximum.
        in_flight: slots held now.
        waiting: attempts waiting for a slot.
        held_until: ``anyio.current_time()`` until which new requests wait, or ``None``.
        sent: requests let through in total.
        rate_limited: 429 answers seen.
        decreases: how often the limit was halved.
        local_failures: attempts this machine could not send (no file descriptors…).
    """

    limit: int
    max_limit: int
    in_flight: int
    waiting: int
    held_until: float | None
    sent: int
    rate_limited: int
    decreases: int
    local_failures: int = 0


class _Slot:
    """``async with limiter.slot() as permit``: one attempt's hold on the limiter.

    A small class rather than ``@asynccontextmanager``: it is entered once per
    request, and a generator-based context manager costs several times more.
    """

    __slots__ = ("_limiter", "_permit")

    def __init__(self, limiter: AdaptiveLimiter) -> None:
        self._limiter = limiter
        self._permit: Permit | None = None

    async def __aenter__(self) -> Permit:
        self._permit = await self._limiter.acquire()
        return self._permit

    async def __aexit__(self, *exc_info: object) -> None:
        assert self._permit is not None
        self._limiter.release(self._permit)


class Permit:
    """One attempt's slot: its place among sends (``seq``), send time, and limit (``epoch``)."""

    __slots__ = ("epoch", "sent_at", "seq")

    def __init__(self) -> None:
        self.seq = -1
        self.epoch = -1
        self.sent_at = 0.0


class _RequestBudget:
    """The local estimate of the server's request bucket (see the module docstring)."""

    __slots__ = ("cap", "level", "rate", "seq", "stamp")

    def __init__(self) -> None:
        self.level: float | None = None  # unknown until an answer reports it
        self.seq = -1  # the newest request whose answer set ``level``
        self.stamp = 0.0
        self.rate = 0.0
        self.cap = 1.0

    def _at(self, now: float) -> float:
        assert self.level is not None
        return min(self.cap, self.level + self.rate * (now - self.stamp))

    def ready_at(self, now: float) -> float:
        if self.level is None:
            return now
        need = min(self.cap, 1.0 + self.rate * _RESERVE_S)
        level = self._at(now)
        return now if level >= need - _EPSILON else now + (need - level) / self.rate

    def spend(self, now: float) -> None:
        if self.level is not None:
            self.level, self.stamp = self._at(now) - 1.0, now

    def observe(
        self, remaining: int, per_minute: int, permit: Permit, sent: int, now: float
    ) -> None:
        self.rate = per_minute / 60.0
        self.cap = max(self.cap, float(remaining))
        refilled = min(self.cap, remaining + self.rate * (now - permit.sent_at))
        level = refilled - (sent - permit.seq - 1)
        if self.level is not None and permit.seq < self.seq:
            # An older request's answer, overtaken by a newer one's: it may only
            # lower the estimate (it may have waited long to reach the server).
            level = min(level, self._at(now))
        else:
            self.seq = permit.seq
        self.level, self.stamp = level, now


def _int(text: str | None) -> int | None:
    if text is None:
        return None
    try:
        return int(text.strip())
    except ValueError:
        return None


class AdaptiveLimiter:
    """Shared slots and quota holds for every request of one engine.

    Args:
        max_concurrency: the starting and maximum number of requests in flight.
        on_change: called as ``(limit, reason)`` whenever the limit changes.
        wall_clock: the Unix time (``time.time``); converts ``-reset`` stamps.
    """

    def __init__(
        self,
        max_concurrency: int,
        *,
        on_change: Callable[[int, str], object] | None = None,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        if max_concurrency < 1:
            raise ValueError(f"max_concurrency must be at least 1, got {max_concurrency}")
        self.max_limit = max_concurrency
        self._on_change = on_change
        self._wall_clock = wall_clock
        self._slots = anyio.CapacityLimiter(max_concurrency)
        self._gate = anyio.Lock()
        self._budget = _RequestBudget()
        self._hold_until = -math.inf
        self._epoch = 0
        self._sent = 0
        self._rate_limited = 0
        self._decreases = 0
        self._local_failures = 0

    @property
    def limit(self) -> int:
        """Requests allowed in flight now."""
        return int(self._slots.total_tokens)

    def statistics(self) -> LimiterStats:
        """A frozen snapshot of the limit, holds and counters."""
        slots = self._slots.statistics()
        held = self._hold_until if self._hold_until > anyio.current_time() else None
        return LimiterStats(
            self.limit,
            self.max_limit,
            slots.borrowed_tokens,
            slots.tasks_waiting,
            held,
            self._sent,
            self._rate_limited,
            self._decreases,
            self._local_failures,
        )

    def slot(self) -> _Slot:
        """Hold a slot for one attempt (``async with``); waits for a free slot, then any hold."""
        return _Slot(self)

    async def acquire(self) -> Permit:
        """:meth:`slot` without the context manager; give it back with :meth:`release`.

        For the call path, where every object an attempt holds while it waits
        is one more for the garbage collector to walk.
        """
        permit = Permit()
        await self._take(permit)
        return permit

    def release(self, permit: Permit) -> None:
        """Give back a slot :meth:`acquire` took."""
        self._give_back(permit)

    async def _take(self, permit: Permit) -> None:
        # The common case takes a free slot without a trip through the scheduler (a
        # cancellation is still noticed); only a full limiter waits its turn. It
        # waits outside the ``except``: a wait inside it would keep the WouldBlock,
        # the trio error chained to it and their tracebacks alive all along
        # (~1 KB for every attempt waiting; 10,000 ready steps all wait here).
        try:
            self._slots.acquire_on_behalf_of_nowait(permit)
            free = True
        except anyio.WouldBlock:
            free = False
        if free:
            await anyio.lowlevel.checkpoint_if_cancelled()
        else:
            await self._slots.acquire_on_behalf_of(permit)
        try:
            now = anyio.current_time()
            if self._gate.locked() or self._ready_at(now) > now:
                async with self._gate:
                    # Re-check after waking: a 429 meanwhile may have moved the time.
                    while (at := self._ready_at(now := anyio.current_time())) > now:  # noqa: ASYNC110
                        await anyio.sleep_until(at)
        except BaseException:
            self._slots.release_on_behalf_of(permit)
            raise
        permit.seq, permit.epoch, permit.sent_at = self._sent, self._epoch, now
        self._sent += 1
        self._budget.spend(now)

    def _give_back(self, permit: Permit) -> None:
        self._slots.release_on_behalf_of(permit)

    def _ready_at(self, now: float) -> float:
        return max(self._hold_until, self._budget.ready_at(now))

    # -- outcomes -----------------------------------------------------------------

    def succeeded(self, permit: Permit, headers: Mapping[str, str]) -> None:
        """Record a success: learn the quota from its headers and add one slot back."""
        self.observe(permit, headers)
        if self.limit < self.max_limit:
            self._set_limit(self.limit + 1, "success")

    def rate_limited(
        self, permit: Permit, retry_after_s: float | None, headers: Mapping[str, str]
    ) -> None:
        """Record a 429: hold new attempts ``retry_after_s``; halve the limit once per burst."""
        self._rate_limited += 1
        self.observe(permit, headers)
        if retry_after_s is not None:
            self._hold_until = max(self._hold_until, anyio.current_time() + retry_after_s)
        self._halve(permit, "rate limited (429)")

    def local_failure(self, permit: Permit) -> None:
        """Record an attempt this machine could not send (no file descriptors, a stalled loop).

        Halve the limit once per burst, as for a 429, so fewer connections and
        less work are in flight at once; hold nothing, since the quota is not
        what ran out.
        """
        self._local_failures += 1
        self._halve(permit, "local resources exhausted")

    def _halve(self, permit: Permit, reason: str) -> None:
        # Only an attempt sent after the last decrease halves again: one burst, one halving.
        if permit.epoch == self._epoch:
            self._epoch += 1
            if self.limit > 1:
                self._decreases += 1
                self._set_limit(self.limit // 2, reason)

    def observe(self, permit: Permit, headers: Mapping[str, str]) -> None:
        """Learn the quota from any answer's ``anthropic-ratelimit-*`` headers."""
        now = anyio.current_time()
        remaining = _int(headers.get(_PREFIX + "requests-remaining"))
        if remaining is not None:
            per_minute = _int(headers.get(_PREFIX + "requests-limit"))
            if per_minute is not None and per_minute > 0:
                self._budget.observe(remaining, per_minute, permit, self._sent, now)
            elif remaining <= 0:
                self._hold_until_reset(headers.get(_PREFIX + "requests-reset"), now)
        for dimension in _HELD_DIMENSIONS:
            left = _int(headers.get(f"{_PREFIX}{dimension}-remaining"))
            if left is not None and left <= 0:
                self._hold_until_reset(headers.get(f"{_PREFIX}{dimension}-reset"), now)

    def _hold_until_reset(self, stamp: str | None, now: float) -> None:
        if stamp is None:
            return
        try:
            when = datetime.fromisoformat(stamp.strip())
        except ValueError:
            return
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        self._hold_until = max(self._hold_until, now + (when.timestamp() - self._wall_clock()))

    def _set_limit(self, limit: int, reason: str) -> None:
        if limit != self.limit:
            self._slots.total_tokens = limit
            if self._on_change is not None:
                self._on_change(limit, reason)


publish(globals())
