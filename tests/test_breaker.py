"""The circuit breaker's exact timeline in virtual time, alone and inside the engine."""

from __future__ import annotations

import dataclasses

import httpx
import pytest
import trio
import trio.testing

from claude_force_trio._api._breaker import BreakerRegistry, CircuitBreaker, is_health_failure
from claude_force_trio._backend import Backend
from claude_force_trio._config import CircuitBreakerConfig, RetryConfig
from claude_force_trio._engine import open_engine
from claude_force_trio._errors import (
    APIConnectionError,
    APIResponseError,
    APITimeoutError,
    CFTError,
    CircuitOpenError,
    LocalResourceError,
    LocalTimeoutError,
    StreamError,
    status_error,
)
from claude_force_trio._events import BreakerStateChanged, Event, StepRetrying

from .engine_support import make_config, message
from .test_resilience import HalfJitter

KEY = ("http://api.test", "claude-sonnet-4-5")


def status(code: int) -> CFTError:
    """A status error as the client raises it."""
    return status_error(code, "x_error", "scripted")


class Recorder:
    """Collects state changes with the virtual time they happened at."""

    def __init__(self) -> None:
        self.changes: list[tuple[str, str, float]] = []

    def __call__(self, key: tuple[str, str], old: str, new: str) -> None:
        assert key == KEY
        self.changes.append((old, new, trio.current_time()))


def outcome(breaker: CircuitBreaker, error: CFTError | None = None) -> None:
    """Run one admitted request through the breaker that ends with ``error`` (or succeeds)."""
    try:
        with breaker.guard():
            if error is not None:
                raise error
    except CFTError as exc:
        if exc is not error:
            raise


@pytest.mark.parametrize(
    ("error", "health"),
    [
        (status(500), True),
        (status(503), True),
        (status(529), True),
        (APIConnectionError("reset"), True),
        (APITimeoutError("read"), True),
        (StreamError("overloaded_error", "Overloaded"), True),
        (status(429), False),
        (status(400), False),
        (status(404), False),
        (APIResponseError("garbage"), False),
        (LocalResourceError("EMFILE", errno=24), False),
        (LocalTimeoutError("connect timed out on loopback"), False),
    ],
)
def test_health_failures(error: CFTError, health: bool) -> None:
    """5xx, connection, timeout, stream errors are health failures; 4xx, 429, local ones not."""
    assert is_health_failure(error) is health


async def test_exact_open_half_open_close_timeline(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """3 failures open it; 10 s later one probe; failed probe reopens; good probe closes."""
    record = Recorder()
    breaker = CircuitBreaker(KEY, CircuitBreakerConfig(3, 10.0, 1), on_state_change=record)
    for _ in range(3):
        breaker.check()
        outcome(breaker, status(529))
        await trio.sleep(1.0)
    # Failures at t=0, 1, 2: open at t=2 until t=12.
    assert record.changes == [("closed", "open", 2.0)]
    with pytest.raises(CircuitOpenError) as info:
        breaker.check()
    assert info.value.retry_at == 12.0
    assert info.value.key == KEY
    await trio.sleep_until(11.5)
    with pytest.raises(CircuitOpenError):
        outcome(breaker)
    await trio.sleep_until(12.0)
    assert breaker.state == "half_open"
    with breaker.guard():  # the one probe, succeeding at t=13
        with pytest.raises(CircuitOpenError):
            breaker.check()
        with pytest.raises(CircuitOpenError), breaker.guard():
            pass
        await trio.sleep(1.0)
    assert record.changes == [
        ("closed", "open", 2.0),
        ("open", "half_open", 12.0),
        ("half_open", "closed", 13.0),
    ]
    stats = breaker.statistics()
    assert (stats.state, stats.consecutive_failures, stats.opened_at) == ("closed", 0, None)
    assert (stats.failures, stats.successes, stats.rejected, stats.times_opened) == (3, 1, 4, 1)


async def test_probe_failure_reopens_with_a_new_timer(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """A failed probe reopens the breaker for a full reset period from the failure."""
    record = Recorder()
    breaker = CircuitBreaker(KEY, CircuitBreakerConfig(2, 5.0, 1), on_state_change=record)
    outcome(breaker, status(500))
    outcome(breaker, status(500))
    await trio.sleep(5.0)
    breaker.check()  # half-open now
    await trio.sleep(0.5)
    outcome(breaker, status(503))  # probe fails at t=5.5
    with pytest.raises(CircuitOpenError) as info:
        breaker.check()
    assert info.value.retry_at == 10.5
    await trio.sleep_until(10.5)
    outcome(breaker)  # probe succeeds at t=10.5
    assert record.changes == [
        ("closed", "open", 0.0),
        ("open", "half_open", 5.0),
        ("half_open", "open", 5.5),
        ("open", "half_open", 10.5),
        ("half_open", "closed", 10.5),
    ]
    stats = breaker.statistics()
    assert (stats.state, stats.consecutive_failures, stats.opened_at) == ("closed", 0, None)
    assert (stats.successes, stats.failures, stats.times_opened) == (1, 3, 2)
    assert stats.rejected == 1


async def test_probes_are_limited(autojump_clock: trio.testing.MockClock) -> None:
    """Half-open admits at most half_open_max_calls probes at once; others fail fast."""
    breaker = CircuitBreaker(KEY, CircuitBreakerConfig(1, 1.0, 2))
    outcome(breaker, status(500))
    await trio.sleep(1.0)
    admitted: list[float] = []
    refused: list[float] = []
    release = trio.Event()

    async def probe() -> None:
        try:
            with breaker.guard():
                admitted.append(trio.current_time())
                await release.wait()
        except CircuitOpenError:
            refused.append(trio.current_time())

    async with trio.open_nursery() as nursery:
        for _ in range(5):
            nursery.start_soon(probe)
        await trio.sleep(1.0)
        assert breaker.statistics().probes_in_flight == 2
        release.set()
    assert admitted == [1.0, 1.0]
    assert refused == [1.0, 1.0, 1.0]
    assert breaker.state == "closed"


async def test_success_resets_the_count_and_429_never_opens(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """Only consecutive health failures count; 429s and 4xx are neutral."""
    breaker = CircuitBreaker(KEY, CircuitBreakerConfig(3, 30.0, 1))
    for _ in range(2):
        outcome(breaker, status(529))
    outcome(breaker)
    for _ in range(2):
        outcome(breaker, status(500))
    assert breaker.statistics().consecutive_failures == 2
    for _ in range(50):
        outcome(breaker, status(429))
        outcome(breaker, status(400))
    stats = breaker.statistics()
    assert (stats.state, stats.consecutive_failures, stats.failures) == ("closed", 2, 4)


async def test_cancellation_is_neutral_and_frees_the_probe(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """A probe cancelled mid-flight leaves the breaker half-open with its slot free."""
    breaker = CircuitBreaker(KEY, CircuitBreakerConfig(1, 1.0, 1))
    outcome(breaker, status(500))
    await trio.sleep(1.0)
    with trio.move_on_after(2.0), breaker.guard():
        await trio.sleep_forever()
    stats = breaker.statistics()
    assert (stats.state, stats.probes_in_flight) == ("half_open", 0)


async def test_registry_keys_breakers_by_url_and_model(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """One breaker per (base URL, model); opening one leaves the others closed."""
    registry = BreakerRegistry(CircuitBreakerConfig(1, 5.0, 1))
    other = ("http://api.test", "claude-haiku-4-5")
    assert registry.get(KEY) is registry.get(KEY)
    outcome(registry.get(KEY), status(500))
    registry.get(other).check()
    stats = registry.statistics()
    assert {k: s.state for k, s in stats.items()} == {KEY: "open", other: "closed"}


async def test_open_engine_breaker_fails_fast_without_sending(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """Through the engine: after the threshold, a step fails with CircuitOpenError, 0 requests."""
    sent: list[float] = []

    async def handler(request: httpx.Request) -> httpx.Response:
        sent.append(trio.current_time())
        await trio.sleep(0.5)
        return httpx.Response(
            503,
            headers={"retry-after": "1"},
            json={"type": "error", "error": {"type": "api_error", "message": "down"}},
        )

    config = dataclasses.replace(
        make_config(),
        retry=RetryConfig(max_attempts=2, initial_delay_s=1.0, max_delay_s=1.0),
        circuit_breaker=CircuitBreakerConfig(failure_threshold=3, reset_timeout_s=60.0),
    )
    events: list[Event] = []
    async with open_engine(
        config,
        backend=Backend.url("http://api.test", "sk-test"),
        transport=httpx.MockTransport(handler),
        hooks=[events.append],
    ) as engine:
        first = await engine.run_agent("worker", "one")
        second = await engine.run_agent("worker", "two")
        third = await engine.run_agent("worker", "three")
    assert (first.status, first.attempts, first.error_type) == ("failed", 2, "InternalServerError")
    # The second step's first failure is the third in a row: its retry is refused unsent.
    assert (second.status, second.attempts, second.error_type) == ("failed", 1, "CircuitOpenError")
    assert (third.status, third.attempts, third.error_type) == ("failed", 0, "CircuitOpenError")
    assert "no request sent" in (third.error or "")
    assert len(sent) == 3
    changes = [e for e in events if isinstance(e, BreakerStateChanged)]
    assert [(e.key, e.old, e.new, e.at) for e in changes] == [
        (("http://api.test", "claude-sonnet-4-5"), "closed", "open", 2.5)
    ]
    assert sent == [0.0, 1.5, 2.0]


def emfile() -> LocalResourceError:
    """What the client raises when a connect fails for want of file descriptors."""
    return LocalResourceError("this machine is short of resources (EMFILE)", errno=24)


async def test_local_failures_are_neutral(autojump_clock: trio.testing.MockClock) -> None:
    """Local failures neither count nor reset: 4 × 503, 6 local, 1 × 503 opens at t=11."""
    record = Recorder()
    breaker = CircuitBreaker(KEY, CircuitBreakerConfig(5, 30.0, 1), on_state_change=record)
    errors = [status(503)] * 4 + [emfile()] * 3 + [LocalTimeoutError("pool")] * 3
    for error in errors:
        outcome(breaker, error)
        await trio.sleep(1.0)
    stats = breaker.statistics()
    assert (stats.state, stats.consecutive_failures, stats.failures) == ("closed", 4, 4)
    outcome(breaker, status(503))
    assert record.changes == [("closed", "open", 10.0)]


async def test_engine_run_short_of_fds_never_opens_the_breaker(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """Seven EMFILE connects in a row, then a reply: one success, breaker closed, exact times."""
    sent: list[float] = []

    async def handler(request: httpx.Request) -> httpx.Response:
        sent.append(trio.current_time())
        if len(sent) <= 7:
            cause = OSError(24, "Too many open files")
            raise httpx.ConnectError("all attempts to connect failed") from cause
        return httpx.Response(200, json=message("done", "claude-sonnet-4-5"))

    events: list[Event] = []
    async with open_engine(
        make_config(max_concurrency=8),
        backend=Backend.url("http://api.test", "sk-test"),
        transport=httpx.MockTransport(handler),
        hooks=[events.append],
        rng=HalfJitter(),
    ) as engine:
        result = await engine.run_agent("worker", "one")
        breakers = engine.resilience.breakers.statistics()
        limiter = engine.resilience.limiter.statistics()
    assert (result.status, result.attempts) == ("succeeded", 8)  # past max_attempts=4
    # Local backoff ceilings 0.5, 1, 2, 4, 8, 8, 8; the jitter source takes half of each.
    assert sent == [0.0, 0.25, 0.75, 1.75, 3.75, 7.75, 11.75, 15.75]
    assert not [e for e in events if isinstance(e, BreakerStateChanged)]
    (stats,) = breakers.values()
    assert (stats.state, stats.failures, stats.consecutive_failures) == ("closed", 0, 0)
    assert (limiter.local_failures, limiter.decreases, limiter.limit) == (7, 3, 2)
    retries = [e for e in events if isinstance(e, StepRetrying)]
    assert [e.error_type for e in retries] == ["LocalResourceError"] * 7
