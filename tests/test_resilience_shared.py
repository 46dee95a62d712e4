"""The resilience layer's attempt when limits are shared (``_coord``): who is told what.

With Redis coordination on, an attempt is admitted by the shared breaker and
paced by the shared request bucket; its outcome goes back to both, and to the
local limiter. These fakes stand in for Redis so that every branch is seen.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import anyio
import pytest

from claude_force_trio._api._breaker import BreakerRegistry
from claude_force_trio._api._ratelimit import AdaptiveLimiter
from claude_force_trio._api._resilience import ResilienceLayer
from claude_force_trio._api._retry import RetryPolicy, set_testing
from claude_force_trio._call import Call, CallObserver
from claude_force_trio._config import CircuitBreakerConfig, RetryConfig
from claude_force_trio._errors import CFTError, LocalResourceError, status_error
from claude_force_trio._types import MessageResult

pytestmark = pytest.mark.anyio

ANSWER = MessageResult(id="msg_1", model="m", text="ok", stop_reason="end_turn")


@pytest.fixture(autouse=True)
def no_waiting() -> Iterator[None]:
    """Retries without backoff (and a 429 without its hold)."""
    set_testing(True)
    yield
    set_testing(False)


class Scripted:
    """The layer below: raises each error of ``failures`` in turn, then answers."""

    def __init__(self, failures: list[CFTError]) -> None:
        self.failures = failures

    async def send(self, call: Call, observer: CallObserver) -> MessageResult:
        await anyio.lowlevel.checkpoint()
        if self.failures:
            raise self.failures.pop(0)
        return ANSWER


class SharedBreakers:
    """Admits every attempt with a probe of its own; records each outcome it is told."""

    def __init__(self) -> None:
        self.settled: list[str | None] = []

    async def admit(self, breaker: Any) -> object:
        return "shared-probe"

    async def settle(self, breaker: Any, probe: object, exc: BaseException | None) -> None:
        assert probe == "shared-probe"
        self.settled.append(None if exc is None else type(exc).__name__)


class Pacer:
    """Gives every attempt its turn at once; records the feedback."""

    def __init__(self) -> None:
        self.feedback_given: list[tuple[bool, float | None]] = []

    async def wait_turn(self, key: Any) -> float:
        return 12.5

    async def feedback(
        self, key: Any, *, rate_limited: bool, taken_at: float | None, headers: Any
    ) -> None:
        self.feedback_given.append((rate_limited, taken_at))


@pytest.mark.parametrize(
    ("failure", "settled", "feedback", "limiter"),
    [
        (
            status_error(429, "rate_limit_error", "slow"),
            "RateLimitError",
            [(True, 12.5)],
            (1, 1, 0),
        ),
        (status_error(529, "overloaded_error", "busy"), "OverloadedError", [], (0, 0, 0)),
        (LocalResourceError("out of file descriptors"), "LocalResourceError", [], (1, 0, 1)),
    ],
)
async def test_a_failed_shared_attempt_is_told_to_everyone_then_retried(
    failure: CFTError,
    settled: str,
    feedback: list[tuple[bool, float]],
    limiter: tuple[int, int, int],
) -> None:
    """The shared breaker hears the failure, the pacer a 429; the retry succeeds and says so."""
    shared, pacer = SharedBreakers(), Pacer()
    limits = AdaptiveLimiter(8)
    layer = ResilienceLayer(
        Scripted([failure]),
        base_url="http://api.test",
        policy=RetryPolicy.from_config(RetryConfig()),
        breakers=BreakerRegistry(CircuitBreakerConfig()),
        limiter=limits,
        pacer=pacer,  # type: ignore[arg-type]
        shared_breakers=shared,  # type: ignore[arg-type]
    )
    result = await layer.send(Call({"model": "m"}), CallObserver())
    assert result is ANSWER
    assert shared.settled == [settled, None]
    assert pacer.feedback_given == [*feedback, (False, 12.5)]
    stats = limits.statistics()  # halved by a 429 or a local failure, never by a 529
    assert (stats.decreases, stats.rate_limited, stats.local_failures) == limiter
