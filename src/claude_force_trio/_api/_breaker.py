"""A circuit breaker per (base URL, model), timed by ``anyio.current_time()``.

Why: when a model is down, retrying every step against it only piles load on
it and makes each step wait its full backoff. After ``failure_threshold``
consecutive *health* failures the breaker opens and steps fail at once with
:class:`CircuitOpenError`, sending nothing. After ``reset_timeout_s`` it lets
at most ``half_open_max_calls`` probes through at a time: a probe that succeeds
closes it, one that fails opens it again with a fresh timer.

Health failures are 5xx (529 included), connection errors, per-attempt
timeouts and mid-stream errors. A 429 is quota, not health (the rate limiter
handles it); other 4xx, an unparseable 2xx and cancellation are neutral: they
neither count as failures nor reset the count. So are failures of this
machine's own (:class:`LocalResourceError`: no file descriptors, a wait for our
own pool, a connect timeout to loopback or while our loop was busy): a client
short of sockets or CPU must not declare a healthy server down (issue 9).

Once the breaker is open only probes decide; late outcomes of requests
admitted before it opened are ignored, so one slow failure cannot restart the
timer.

Everything is synchronous bookkeeping (no awaits), so trio's single thread
makes each transition atomic. Processes that coordinate through Redis share
the state instead (``_coord._breaker``); this breaker then mirrors it
(:meth:`CircuitBreaker.adopt`) and decides alone only while Redis is away.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Literal

import anyio

from .._config import CircuitBreakerConfig
from .._errors import (
    APIConnectionError,
    APIStatusError,
    CircuitOpenError,
    LocalResourceError,
    StreamError,
)
from .._public import publish

__all__ = [
    "BreakerRegistry",
    "BreakerState",
    "BreakerStats",
    "CircuitBreaker",
    "is_health_failure",
]

BreakerState = Literal["closed", "open", "half_open"]
BreakerKey = tuple[str, str]
StateChange = Callable[[BreakerKey, BreakerState, BreakerState], object]


def is_health_failure(error: BaseException) -> bool:
    """Whether ``error`` says the server is unhealthy (counts toward opening the breaker)."""
    if isinstance(error, APIStatusError):
        return error.status_code >= 500
    if isinstance(error, LocalResourceError):
        return False  # this machine ran short; the server was never asked
    return isinstance(error, APIConnectionError | StreamError)


@dataclass(frozen=True, slots=True)
class BreakerStats:
    """A snapshot of one breaker.

    Attributes:
        key: ``(base_url, model)``.
        state: ``"closed"``, ``"open"`` or ``"half_open"``.
        consecutive_failures: health failures since the last success.
        opened_at: when it last opened (``anyio.current_time()``), or ``None``.
        probes_in_flight: half-open probes currently running.
        successes: requests that succeeded, in total.
        failures: health failures, in total.
        rejected: requests refused with :class:`CircuitOpenError`.
        times_opened: how often it went from closed or half-open to open.
    """

    key: BreakerKey
    state: BreakerState
    consecutive_failures: int
    opened_at: float | None
    probes_in_flight: int
    successes: int
    failures: int
    rejected: int
    times_opened: int


class CircuitBreaker:
    """One breaker. Use :meth:`check` before queueing and :meth:`guard` around each request.

    Args:
        key: ``(base_url, model)``, named in errors and events.
        config: threshold, reset timeout and half-open probe limit.
        on_state_change: called as ``(key, old, new)`` on every transition.
    """

    def __init__(
        self,
        key: BreakerKey,
        config: CircuitBreakerConfig,
        *,
        on_state_change: StateChange | None = None,
    ) -> None:
        self.key = key
        self._config = config
        self._on_state_change = on_state_change
        self._state: BreakerState = "closed"
        self._consecutive = 0
        self._opened_at: float | None = None
        self._probes = 0
        self._successes = 0
        self._failures = 0
        self._rejected = 0
        self._times_opened = 0

    @property
    def state(self) -> BreakerState:
        """The state now (an open breaker whose timer ran out reads as half-open)."""
        self._refresh()
        return self._state

    def statistics(self) -> BreakerStats:
        """A frozen snapshot of the state and counters."""
        self._refresh()
        return BreakerStats(
            self.key,
            self._state,
            self._consecutive,
            self._opened_at,
            self._probes,
            self._successes,
            self._failures,
            self._rejected,
            self._times_opened,
        )

    def check(self) -> None:
        """Fail fast if a request would be refused now; takes no permit.

        Raises:
            CircuitOpenError: open, or half-open with every probe slot taken.
        """
        self._refresh()
        if self._state == "open" or (
            self._state == "half_open" and self._probes >= self._config.half_open_max_calls
        ):
            self._reject()

    @contextmanager
    def guard(self) -> Iterator[None]:
        """Admit one request and record how it ended (:meth:`admit` and :meth:`settle`).

        Raises:
            CircuitOpenError: on entry, when the request may not be sent.
        """
        probe = self.admit()
        try:
            yield
        except BaseException as exc:
            self.settle(probe, exc)
            raise
        self.settle(probe, None)

    def admit(self) -> bool:
        """Admit one request; return whether it is a half-open probe.

        The caller must :meth:`settle` it, whatever happens. The hot path uses
        this pair instead of :meth:`guard`, which costs a generator per request.

        Raises:
            CircuitOpenError: the request may not be sent.
        """
        self._refresh()
        if self._state == "open":
            self._reject()
        elif self._state == "half_open":
            if self._probes >= self._config.half_open_max_calls:
                self._reject()
            self._probes += 1
            return True
        return False

    def settle(self, probe: bool, error: BaseException | None) -> None:
        """Record how an admitted request ended: ``error`` is ``None`` for a success."""
        if probe:
            self._probes -= 1
        if error is None:
            self._record_success(probe)
        elif isinstance(error, Exception) and is_health_failure(error):
            self._record_failure(probe)

    # -- shared state (``_coord._breaker``) ---------------------------------------

    def adopt(self, state: BreakerState, consecutive: int, retry_at: float) -> None:
        """Take the state a breaker shared by several processes reports.

        Args:
            state: the shared state.
            consecutive: the shared count of consecutive health failures.
            retry_at: ``anyio.current_time()`` at which an open breaker lets a probe through.
        """
        self._consecutive = consecutive
        if state == "closed":
            self._opened_at = None
        else:
            if state == "open" and self._state != "open":
                self._times_opened += 1
            if state == "open" or self._opened_at is None:
                self._opened_at = retry_at - self._config.reset_timeout_s
        self._move(state)

    def reject(self) -> None:
        """Refuse a request the shared breaker refused (counted like a local refusal).

        Raises:
            CircuitOpenError: always.
        """
        if self._opened_at is None:
            self._opened_at = anyio.current_time() - self._config.reset_timeout_s
        self._reject()

    def tally(self, error: BaseException | None) -> None:
        """Count an outcome the shared breaker decides on: a success, or a health failure."""
        if error is None:
            self._successes += 1
        elif isinstance(error, Exception) and is_health_failure(error):
            self._failures += 1

    # -- transitions ------------------------------------------------------------

    def _reject(self) -> None:
        self._rejected += 1
        assert self._opened_at is not None
        retry_at = self._opened_at + self._config.reset_timeout_s
        raise CircuitOpenError(self.key, max(retry_at, anyio.current_time()))

    def _refresh(self) -> None:
        if (
            self._state == "open"
            and self._opened_at is not None
            and anyio.current_time() >= self._opened_at + self._config.reset_timeout_s
        ):
            self._move("half_open")

    def _record_success(self, probe: bool) -> None:
        self._successes += 1
        if self._state == "closed":
            self._consecutive = 0
        elif probe and self._state == "half_open":
            self._consecutive = 0
            self._opened_at = None
            self._move("closed")

    def _record_failure(self, probe: bool) -> None:
        self._failures += 1
        if self._state == "closed":
            self._consecutive += 1
            if self._consecutive >= self._config.failure_threshold:
                self._open()
        elif probe and self._state == "half_open":
            self._consecutive += 1
            self._open()

    def _open(self) -> None:
        self._opened_at = anyio.current_time()
        self._times_opened += 1
        self._move("open")

    def _move(self, new: BreakerState) -> None:
        old, self._state = self._state, new
        if old != new and self._on_state_change is not None:
            self._on_state_change(self.key, old, new)


class BreakerRegistry:
    """The breakers of one engine, created on first use per ``(base_url, model)``.

    Args:
        config: shared by every breaker.
        on_state_change: called as ``(key, old, new)`` on any breaker's transition.
    """

    def __init__(
        self, config: CircuitBreakerConfig, *, on_state_change: StateChange | None = None
    ) -> None:
        self._config = config
        self._on_state_change = on_state_change
        self._breakers: dict[BreakerKey, CircuitBreaker] = {}

    def get(self, key: BreakerKey) -> CircuitBreaker:
        """The breaker for ``key`` (a new, closed one the first time)."""
        breaker = self._breakers.get(key)
        if breaker is None:
            breaker = self._breakers[key] = CircuitBreaker(
                key, self._config, on_state_change=self._on_state_change
            )
        return breaker

    def statistics(self) -> dict[BreakerKey, BreakerStats]:
        """A snapshot of every breaker used so far."""
        return {key: breaker.statistics() for key, breaker in self._breakers.items()}


publish(globals())
