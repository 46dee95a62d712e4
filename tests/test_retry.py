"""Retry classification, delays and the retry loop, in virtual time with exact assertions."""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import UTC, datetime
from email.utils import format_datetime

import pytest
import trio
import trio.testing

from claude_force_trio._api._retry import (
    MAX_LOCAL_RETRIES,
    RetryDetails,
    RetryPolicy,
    is_retryable,
    is_testing,
    retry_call,
    server_delay,
    set_testing,
)
from claude_force_trio._errors import (
    APIConnectionError,
    APIResponseError,
    APITimeoutError,
    CFTError,
    CircuitOpenError,
    LocalResourceError,
    StreamError,
    status_error,
)


def status(code: int, **headers: str) -> CFTError:
    """A status error as the client raises it, with lower-cased headers."""
    return status_error(code, "x_error", "scripted", headers=headers)


@pytest.fixture
def testing_off() -> Iterator[None]:
    """Restore normal (waiting) mode after a test that switches test mode on."""
    yield
    set_testing(False)


@pytest.mark.parametrize(
    ("error", "retryable"),
    [
        (status(408), True),
        (status(409), True),
        (status(429), True),
        (status(500), True),
        (status(502), True),
        (status(503), True),
        (status(529), True),
        (status(400), False),
        (status(401), False),
        (status(403), False),
        (status(404), False),
        (status(413), False),
        (status(422), False),
        (status(418), False),
        (status(400, **{"x-should-retry": "true"}), True),
        (status(529, **{"x-should-retry": "false"}), False),
        (status(429, **{"x-should-retry": "False"}), False),
        (status(500, **{"x-should-retry": "maybe"}), True),
        (APIConnectionError("reset"), True),
        (APITimeoutError("read timeout"), True),
        (StreamError("overloaded_error", "Overloaded"), True),
        (APIResponseError("garbage 200"), False),
        (CircuitOpenError(("http://x", "m"), 1.0), False),
    ],
)
def test_classification(error: CFTError, retryable: bool) -> None:
    """x-should-retry decides when present; else 408/409/429/5xx/connection/stream retry."""
    assert is_retryable(error) is retryable


WALL = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC).timestamp()


@pytest.mark.parametrize(
    ("headers", "delay"),
    [
        ({"retry-after-ms": "1500"}, 1.5),
        ({"retry-after-ms": "250", "retry-after": "7"}, 0.25),
        ({"retry-after": "2"}, 2.0),
        ({"retry-after": "0.75"}, 0.75),
        ({"retry-after": "60"}, 60.0),
        ({"retry-after": "61"}, None),
        ({"retry-after": "0"}, None),
        ({"retry-after": "-3"}, None),
        ({"retry-after-ms": "60001"}, None),
        ({"retry-after-ms": "0", "retry-after": "3"}, None),
        ({"retry-after-ms": "soon", "retry-after": "3"}, 3.0),
        ({"retry-after": "nan"}, None),
        ({"retry-after": format_datetime(datetime.fromtimestamp(WALL + 5, UTC), True)}, 5.0),
        ({"retry-after": "Fri, 02 Jan 2026 03:04:35 -0000"}, 30.0),
        ({"retry-after": format_datetime(datetime.fromtimestamp(WALL - 5, UTC), True)}, None),
        ({"retry-after": format_datetime(datetime.fromtimestamp(WALL + 90, UTC), True)}, None),
        ({"retry-after": "not a date"}, None),
        ({}, None),
    ],
)
def test_server_delay(headers: dict[str, str], delay: float | None) -> None:
    """retry-after-ms beats retry-after; seconds or HTTP date; only 0 < v ≤ 60 counts."""
    assert server_delay(headers, wall_now=WALL) == delay


def test_backoff_is_full_jitter_capped() -> None:
    """Backoff draws uniform(0, min(initial·2^(n-1), max)) from the given rng."""
    policy = RetryPolicy(max_attempts=10, initial_delay_s=0.5, max_delay_s=3.0)
    rng, expected = random.Random(42), random.Random(42)
    got = [policy.backoff(n, rng) for n in range(1, 7)]
    assert got == [expected.uniform(0, c) for c in (0.5, 1.0, 2.0, 3.0, 3.0, 3.0)]


def test_delay_prefers_the_server_and_falls_back_to_backoff() -> None:
    """A usable retry-after wins; an out-of-range one falls back to jittered backoff."""
    policy = RetryPolicy()
    rng = random.Random(1)
    assert policy.delay(status(429, **{"retry-after-ms": "1234"}), 1, rng) == 1.234
    assert policy.delay(status(529, **{"retry-after": "120"}), 2, rng) == random.Random(1).uniform(
        0, 1.0
    )


def test_policy_validates_and_reads_config() -> None:
    """Policies come from the config section and reject impossible values."""
    from claude_force_trio._config import RetryConfig

    assert RetryPolicy.from_config(RetryConfig(3, 0.25, 4.0)) == RetryPolicy(3, 0.25, 4.0)
    with pytest.raises(ValueError, match="max_attempts"):
        RetryPolicy(max_attempts=0)
    with pytest.raises(ValueError, match="delays"):
        RetryPolicy(initial_delay_s=2.0, max_delay_s=1.0)


class Flaky:
    """An attempt function that raises the scripted errors, then returns ``"ok"``."""

    def __init__(self, *errors: CFTError) -> None:
        self.errors = list(errors)
        self.attempts: list[tuple[int, float]] = []

    async def __call__(self, attempt: int) -> str:
        self.attempts.append((attempt, trio.current_time()))
        if self.errors:
            raise self.errors.pop(0)
        return "ok"


async def test_retry_call_waits_exact_jittered_delays(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """529, 529, ok: two jittered waits from the seeded rng, three attempts, one hook call each."""
    fn = Flaky(status(529), status(529))
    seen: list[RetryDetails] = []
    result = await retry_call(fn, RetryPolicy(), on_retry=seen.append, rng=random.Random(7))
    expected = random.Random(7)
    d1, d2 = expected.uniform(0, 0.5), expected.uniform(0, 1.0)
    assert result == "ok"
    assert fn.attempts == [(1, 0.0), (2, d1), (3, d1 + d2)]
    assert [(d.attempt, d.max_attempts, d.delay_s) for d in seen] == [(1, 4, d1), (2, 4, d2)]
    assert trio.current_time() == d1 + d2


async def test_retry_call_honours_retry_after(autojump_clock: trio.testing.MockClock) -> None:
    """A 429 with retry-after-ms waits exactly that long."""
    fn = Flaky(status(429, **{"retry-after-ms": "1250", "retry-after": "2"}))
    assert await retry_call(fn, RetryPolicy()) == "ok"
    assert fn.attempts == [(1, 0.0), (2, 1.25)]


async def test_non_retryable_fails_at_once(autojump_clock: trio.testing.MockClock) -> None:
    """A 400 is raised from the first attempt, without waiting."""
    fn = Flaky(status(400))
    with pytest.raises(CFTError, match="HTTP 400"):
        await retry_call(fn, RetryPolicy())
    assert fn.attempts == [(1, 0.0)]


async def test_last_error_propagates_after_max_attempts(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """After max_attempts retryable failures the last error is raised."""
    fn = Flaky(*(status(500, **{"retry-after": "1"}) for _ in range(2)), status(503))
    with pytest.raises(CFTError, match="HTTP 503"):
        await retry_call(fn, RetryPolicy(max_attempts=3))
    assert fn.attempts == [(1, 0.0), (2, 1.0), (3, 2.0)]


async def test_set_testing_stops_waiting_and_caps(
    autojump_clock: trio.testing.MockClock, testing_off: None
) -> None:
    """Test mode retries without waiting, and ``attempts`` caps every policy."""
    set_testing(True)
    assert is_testing()
    seen: list[RetryDetails] = []
    fn = Flaky(status(429, **{"retry-after": "30"}), status(529))
    assert await retry_call(fn, RetryPolicy(), on_retry=seen.append) == "ok"
    assert fn.attempts == [(1, 0.0), (2, 0.0), (3, 0.0)]
    assert [d.delay_s for d in seen] == [0.0, 0.0]
    set_testing(True, attempts=1)
    with pytest.raises(CFTError, match="HTTP 529"):
        await retry_call(Flaky(status(529)), RetryPolicy())
    set_testing(False)
    assert not is_testing()
    with pytest.raises(ValueError, match="attempts"):
        set_testing(True, attempts=0)


def local(code: int = 24) -> CFTError:
    """A failure of this machine's own (24 is EMFILE), as the client raises it."""
    return LocalResourceError("this machine is short of resources (EMFILE)", errno=code)


async def test_local_failures_do_not_use_up_attempts(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """max_attempts=2: local, local, 503, local, ok succeeds; local waits back off on their own."""
    fn = Flaky(local(), local(), status(503), local())
    seen: list[RetryDetails] = []
    policy = RetryPolicy(max_attempts=2, initial_delay_s=1.0, max_delay_s=8.0)
    result = await retry_call(fn, policy, on_retry=seen.append, rng=random.Random(3))
    expected = random.Random(3)
    d1, d2 = expected.uniform(0, 1.0), expected.uniform(0, 2.0)  # local 1 and 2
    d3 = expected.uniform(0, 1.0)  # the first counted failure
    d4 = expected.uniform(0, 4.0)  # local 3
    assert result == "ok"
    assert [t for _, t in fn.attempts] == [0.0, d1, d1 + d2, d1 + d2 + d3, d1 + d2 + d3 + d4]
    assert [(d.attempt, d.local) for d in seen] == [(1, True), (2, True), (3, False), (4, True)]


async def test_local_retries_have_a_cap(autojump_clock: trio.testing.MockClock) -> None:
    """A machine that stays short ends the call after MAX_LOCAL_RETRIES extra attempts."""
    fn = Flaky(*(local() for _ in range(MAX_LOCAL_RETRIES + 1)))
    with pytest.raises(LocalResourceError):
        await retry_call(fn, RetryPolicy(max_attempts=1, initial_delay_s=0.0, max_delay_s=0.0))
    assert len(fn.attempts) == MAX_LOCAL_RETRIES + 1


async def test_test_mode_cap_counts_local_attempts(
    autojump_clock: trio.testing.MockClock, testing_off: None
) -> None:
    """set_testing(attempts=2) caps local retries too, without waiting."""
    set_testing(True, attempts=2)
    fn = Flaky(local(), local(), local())
    with pytest.raises(LocalResourceError):
        await retry_call(fn, RetryPolicy())
    assert fn.attempts == [(1, 0.0), (2, 0.0)]
