"""The retry policy: which failures deserve another attempt, and how long to wait first.

These are the only retry rules in the library (:class:`Attempts`, which
:func:`retry_call` and the resilience layer's loop both follow):
``MessagesClient.create`` makes one attempt, and everything above it (the
engine, the CLI) relies on this module.
The rules are the official SDK's, so a request behaves the same here as there:

* ``x-should-retry: true|false`` decides when the server sends it;
* otherwise retry 408, 409, 429 and every status ≥ 500 (529 included),
  connection errors and per-attempt timeouts (:class:`APIConnectionError`,
  :class:`APITimeoutError`), and a mid-stream ``error`` event (:class:`StreamError`);
* never retry other 4xx (400/401/403/404/413/422…): the same request will fail
  the same way. Nor :class:`APIResponseError` (a 2xx we cannot parse): that is a
  broken proxy or a protocol change, not a transient condition, and a retry would
  only repeat a paid request.

The delay is what the server asked for (``retry-after-ms``, else ``retry-after``
in seconds or as an HTTP date) when that is in (0, 60] seconds, else
``min(initial · 2^(attempt-1), max)`` with full jitter (``uniform(0, d)``), so
many clients that failed together do not come back together.

A failure of this machine's own (:class:`LocalResourceError`: out of file
descriptors, a stalled event loop) says nothing about the request, so it does
not use up the policy's attempts: it backs off the same way, counted on its own,
for up to :data:`MAX_LOCAL_RETRIES` more attempts (issue 9: a run short of file
descriptors must finish, not lose its calls).

:func:`set_testing` switches waiting off for users' own test suites, as stamina does.
"""

from __future__ import annotations

import email.utils
import random
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC
from typing import TypeVar

import anyio

from .._config import RetryConfig
from .._errors import APIConnectionError, APIStatusError, CFTError, LocalResourceError, StreamError
from .._public import publish

__all__ = [
    "MAX_LOCAL_RETRIES",
    "Attempts",
    "RetryDetails",
    "RetryPolicy",
    "is_retryable",
    "is_testing",
    "retry_call",
    "server_delay",
    "set_testing",
]

T = TypeVar("T")

_RETRY_STATUSES = frozenset({408, 409, 429})
#: Attempts a request may make, beyond the policy's, after local failures
#: (:class:`LocalResourceError`). With the backoff and the halved concurrency that
#: each one brings, a machine that frees resources gets there well before; one
#: that stays short still ends the call.
MAX_LOCAL_RETRIES = 8
#: A server-requested delay longer than this is ignored in favour of backoff, as the SDK does.
_MAX_SERVER_DELAY_S = 60.0


def is_retryable(error: BaseException) -> bool:
    """Whether another attempt at the same request may succeed (see the module docstring)."""
    if isinstance(error, APIStatusError):
        should = error.headers.get("x-should-retry", "").strip().lower()
        if should in ("true", "false"):
            return should == "true"
        return error.status_code in _RETRY_STATUSES or error.status_code >= 500
    return isinstance(error, APIConnectionError | StreamError)


def server_delay(headers: Mapping[str, str], *, wall_now: float | None = None) -> float | None:
    """The delay the server asked for, in seconds, or ``None`` to use backoff.

    The first header that parses wins, as in the SDK: ``retry-after-ms``, then
    ``retry-after`` as (possibly fractional) seconds, then as an HTTP date
    measured against the wall clock. A value outside (0, 60] means "no advice".

    Args:
        headers: response headers with lower-cased names.
        wall_now: the current Unix time (default ``time.time()``); tests pin it.
    """
    value: float | None = None
    if (raw_ms := headers.get("retry-after-ms")) is not None:
        value = _float(raw_ms)
        value = None if value is None else value / 1000.0
    if value is None and (raw := headers.get("retry-after")) is not None:
        value = _float(raw)
        if value is None:
            value = _seconds_until_http_date(raw, time.time() if wall_now is None else wall_now)
    if value is not None and 0.0 < value <= _MAX_SERVER_DELAY_S:
        return value
    return None


def _float(text: str) -> float | None:
    try:
        return float(text.strip())
    except ValueError:
        return None


def _seconds_until_http_date(text: str, wall_now: float) -> float | None:
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:  # "-0000" means UTC without saying so
        when = when.replace(tzinfo=UTC)
    return when.timestamp() - wall_now


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How often and how patiently to retry; build it from the ``retry`` config section.

    Args:
        max_attempts: attempts in total, the first included (1 means never retry).
            Failures of this machine's own do not count (see :data:`MAX_LOCAL_RETRIES`).
        initial_delay_s: backoff before the second attempt, before jitter.
        max_delay_s: the backoff never grows past this.
    """

    max_attempts: int = 4
    initial_delay_s: float = 0.5
    max_delay_s: float = 8.0

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError(f"max_attempts must be at least 1, got {self.max_attempts}")
        if not (0 <= self.initial_delay_s <= self.max_delay_s):
            raise ValueError("delays must satisfy 0 <= initial_delay_s <= max_delay_s")

    @classmethod
    def from_config(cls, config: RetryConfig) -> RetryPolicy:
        """The policy a ``claude.json`` ``retry`` section describes."""
        return cls(config.max_attempts, config.initial_delay_s, config.max_delay_s)

    def backoff(self, attempt: int, rng: random.Random) -> float:
        """Full-jitter exponential backoff after the failed attempt number ``attempt`` (1-based)."""
        ceiling = min(self.initial_delay_s * 2.0 ** (attempt - 1), self.max_delay_s)
        return rng.uniform(0.0, ceiling)

    def delay(self, error: BaseException, attempt: int, rng: random.Random) -> float:
        """Seconds to wait after ``error`` ended attempt ``attempt``: the server's, else backoff."""
        if (
            isinstance(error, APIStatusError)
            and (advice := server_delay(error.headers)) is not None
        ):
            return advice
        return self.backoff(attempt, rng)


@dataclass(frozen=True, slots=True)
class RetryDetails:
    """What a retry hook is told: attempt ``attempt`` failed with ``error``; next in ``delay_s``.

    ``attempt`` counts every attempt; ``local`` is true when this one failed on
    this machine (:class:`LocalResourceError`), which does not count toward
    ``max_attempts``.
    """

    attempt: int
    max_attempts: int
    delay_s: float
    error: CFTError
    local: bool = False


@dataclass(slots=True)
class _Testing:
    on: bool = False
    attempts: int | None = None


_testing = _Testing()
_rng = random.Random()


def set_testing(testing: bool, *, attempts: int | None = None) -> None:
    """Switch test mode on or off for the whole process, as ``stamina.set_testing`` does.

    In test mode retries happen without waiting (no backoff, no ``retry-after``
    pause), so a user's test suite with injected 529s stays fast.

    Args:
        testing: ``True`` to stop waiting, ``False`` to restore normal behaviour.
        attempts: in test mode, cap every policy at this many attempts (``1``
            turns retries off); ``None`` keeps each policy's own number.
    """
    if attempts is not None and attempts < 1:
        raise ValueError(f"attempts must be at least 1, got {attempts}")
    _testing.on = testing
    _testing.attempts = attempts if testing else None


def is_testing() -> bool:
    """Whether :func:`set_testing` switched waiting off."""
    return _testing.on


class Attempts:
    """Where one call's retries stand: which attempt is next, and whether a failure ends them.

    :func:`retry_call` runs it in a loop; so does ``ResilienceLayer``, whose
    loop is its own frame rather than a ``retry_call`` around a partial (at a
    thousand calls in flight, every object a waiting call holds is walked by
    the garbage collector again and again).

    Args:
        policy: attempts and backoff.
        rng: jitter source; ``None`` for the module's own.

    Attributes:
        number: the attempt to make next (1-based).
    """

    __slots__ = ("_cap", "_counted", "_limit", "_local", "_policy", "_rng", "number")

    def __init__(self, policy: RetryPolicy, rng: random.Random | None = None) -> None:
        self._policy = policy
        self._rng = rng or _rng
        cap = self._cap = _testing.attempts if _testing.on else None  # test mode: all count
        self._limit = policy.max_attempts if cap is None else min(policy.max_attempts, cap)
        self._counted = self._local = 0
        self.number = 1

    def failed(self, exc: CFTError) -> RetryDetails | None:
        """Attempt :attr:`number` failed with ``exc``: the next one's details, or ``None`` (final).

        A ``LocalResourceError`` backs off on its own count (up to
        :data:`MAX_LOCAL_RETRIES`); any other error uses up one of the policy's
        attempts, and only a retryable one is tried again.
        """
        attempt, cap, policy = self.number, self._cap, self._policy
        if cap is not None and attempt >= cap:
            return None
        if isinstance(exc, LocalResourceError):
            self._local += 1
            if self._local > MAX_LOCAL_RETRIES:
                return None
            delay = 0.0 if _testing.on else policy.backoff(self._local, self._rng)
            details = RetryDetails(attempt, self._limit, delay, exc, local=True)
        else:
            self._counted += 1
            if self._counted >= self._limit or not is_retryable(exc):
                return None
            delay = 0.0 if _testing.on else policy.delay(exc, self._counted, self._rng)
            details = RetryDetails(attempt, self._limit, delay, exc)
        self.number = attempt + 1
        return details


async def retry_call(
    fn: Callable[[int], Awaitable[T]],
    policy: RetryPolicy,
    *,
    on_retry: Callable[[RetryDetails], object] | None = None,
    rng: random.Random | None = None,
) -> T:
    """Call ``fn(attempt)`` until it succeeds, fails for good, or runs out of attempts.

    Each attempt is a fresh call, so ``fn`` re-acquires whatever it needs (a
    concurrency slot, a breaker permit) and nothing is held while sleeping.
    Cancellation (the caller's deadline) interrupts a sleep like any checkpoint.

    Args:
        fn: one attempt; receives its 1-based number.
        policy: attempts and backoff.
        on_retry: called before each sleep with what failed and how long the wait is.
        rng: jitter source; pass a seeded ``random.Random`` for reproducible delays.

    Returns:
        What the first successful attempt returned.

    Raises:
        CFTError: the last attempt's error, or the first one that is not retryable.
    """
    attempts = Attempts(policy, rng)
    while True:
        try:
            return await fn(attempts.number)
        except CFTError as exc:
            details = attempts.failed(exc)
            if details is None:
                raise
        if on_retry is not None:
            on_retry(details)
        await anyio.sleep(details.delay_s)


publish(globals())
