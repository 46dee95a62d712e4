"""The adaptive limiter in virtual time: halving, recovery, holds and request pacing."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import trio
import trio.testing

from claude_force_trio._api import _ratelimit as _ratelimit
from claude_force_trio._api._ratelimit import AdaptiveLimiter, Permit

WALL = 1_800_000_000.0


def stamp(offset_s: float) -> str:
    """An RFC 3339 reset time ``offset_s`` after the fixed wall clock (trio time 0)."""
    return datetime.fromtimestamp(WALL + offset_s, UTC).isoformat().replace("+00:00", "Z")


def limiter(size: int, changes: list[tuple[int, str]] | None = None) -> AdaptiveLimiter:
    """A limiter whose wall clock reads WALL at trio time 0 and moves with it."""
    return AdaptiveLimiter(
        size,
        on_change=None if changes is None else lambda n, why: changes.append((n, why)),
        wall_clock=lambda: WALL + trio.current_time(),
    )


async def take(lim: AdaptiveLimiter) -> Permit:
    """Take a slot and release it at once; return its permit."""
    async with lim.slot() as permit:
        return permit


async def test_429_halves_once_per_burst_and_successes_add_back(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """Halve on a 429 (once per burst, never below 1); +1 per success up to the max."""
    changes: list[tuple[int, str]] = []
    lim = limiter(8, changes)
    burst = [await take(lim) for _ in range(3)]
    for permit in burst:  # three 429s from requests sent under the same limit
        lim.rate_limited(permit, None, {})
    assert lim.limit == 4
    for _ in range(4):
        lim.rate_limited(await take(lim), None, {})
    assert lim.limit == 1
    for _ in range(9):
        lim.succeeded(await take(lim), {})
    assert lim.limit == 8
    assert changes == [
        (4, "rate limited (429)"),
        (2, "rate limited (429)"),
        (1, "rate limited (429)"),
        *[(n, "success") for n in range(2, 9)],
    ]
    stats = lim.statistics()
    assert (stats.rate_limited, stats.decreases, stats.sent) == (7, 3, 16)


async def test_retry_after_holds_every_new_attempt(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """After a 429 with retry-after 2 s, no slot is handed out before t=2."""
    lim = limiter(4)
    lim.rate_limited(await take(lim), 2.0, {})
    assert lim.statistics().held_until == 2.0
    times: list[float] = []

    async def attempt() -> None:
        async with lim.slot():
            times.append(trio.current_time())

    async with trio.open_nursery() as nursery:
        for _ in range(3):
            nursery.start_soon(attempt)
    assert times == [2.0, 2.0, 2.0]
    assert lim.statistics().held_until is None


async def test_lowering_the_limit_lets_holders_finish(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """With 4 holders and the limit halved to 2, a newcomer waits until only 1 holds a slot."""
    lim = limiter(4)
    got: list[float] = []

    async def hold(seconds: float) -> None:
        async with lim.slot() as permit:
            await trio.sleep(0.25)  # every holder is in before the 429 arrives
            if seconds == 1.0:
                lim.rate_limited(permit, None, {})
            await trio.sleep(seconds - 0.25)

    async def newcomer() -> None:
        await trio.sleep(0.5)
        async with lim.slot():
            got.append(trio.current_time())

    async with trio.open_nursery() as nursery:
        for seconds in (1.0, 2.0, 3.0, 4.0):
            nursery.start_soon(hold, seconds)
        nursery.start_soon(newcomer)
        await trio.sleep(0.75)
        stats = lim.statistics()
        assert (stats.limit, stats.in_flight, stats.waiting) == (2, 4, 1)
    assert got == [3.0]


@pytest.mark.parametrize("dimension", ["tokens", "input-tokens", "output-tokens", "requests"])
async def test_remaining_zero_holds_until_reset(
    autojump_clock: trio.testing.MockClock, dimension: str
) -> None:
    """`*-remaining: 0` holds new requests until the matching `*-reset` (no -limit: literal)."""
    lim = limiter(4)
    headers = {
        f"anthropic-ratelimit-{dimension}-remaining": "0",
        f"anthropic-ratelimit-{dimension}-reset": stamp(3.0),
    }
    lim.succeeded(await take(lim), headers)
    assert await take(lim) is not None
    assert trio.current_time() == 3.0


async def test_reset_in_the_past_or_unreadable_does_not_hold(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """A stale or malformed reset time never blocks the engine."""
    lim = limiter(2)
    lim.succeeded(
        await take(lim),
        {
            "anthropic-ratelimit-tokens-remaining": "0",
            "anthropic-ratelimit-tokens-reset": stamp(-5.0),
            "anthropic-ratelimit-output-tokens-remaining": "0",
            "anthropic-ratelimit-output-tokens-reset": "tomorrow",
            "anthropic-ratelimit-input-tokens-remaining": "many",
        },
    )
    await take(lim)
    assert trio.current_time() == 0.0


@pytest.fixture
def no_reserve(monkeypatch: pytest.MonkeyPatch) -> None:
    """Pace without the admission-delay reserve, so the arithmetic is plain."""
    monkeypatch.setattr(_ratelimit, "_RESERVE_S", 0.0)


async def test_requests_are_paced_by_the_reported_bucket(
    autojump_clock: trio.testing.MockClock, no_reserve: None
) -> None:
    """With requests-limit 60/min and 2 left, two go now, then one per second."""
    lim = limiter(8)
    first = await take(lim)
    lim.succeeded(
        first,
        {
            "anthropic-ratelimit-requests-limit": "60",
            "anthropic-ratelimit-requests-remaining": "2",
            "anthropic-ratelimit-requests-reset": stamp(60.0),
        },
    )
    times = []
    for _ in range(5):
        await take(lim)
        times.append(trio.current_time())
    assert times == [0.0, 0.0, 1.0, 2.0, 3.0]


async def test_pacing_counts_requests_sent_after_the_reporting_one(
    autojump_clock: trio.testing.MockClock, no_reserve: None
) -> None:
    """remaining=3 reported by an old request, with 2 sent since: one more now, then 1/s."""
    lim = limiter(8)
    old = await take(lim)
    await take(lim)
    await take(lim)
    lim.succeeded(
        old,
        {
            "anthropic-ratelimit-requests-limit": "60",
            "anthropic-ratelimit-requests-remaining": "3",
        },
    )
    times = []
    for _ in range(3):
        await take(lim)
        times.append(trio.current_time())
    assert times == [0.0, 1.0, 2.0]


async def test_pacing_keeps_a_reserve_for_admission_delay(
    autojump_clock: trio.testing.MockClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A reserve of 0.25 s of refill: requests go when 1.25 are estimated, not 1."""
    monkeypatch.setattr(_ratelimit, "_RESERVE_S", 0.25)
    lim = limiter(8)
    lim.succeeded(
        await take(lim),
        {"anthropic-ratelimit-requests-limit": "60", "anthropic-ratelimit-requests-remaining": "2"},
    )
    times = []
    for _ in range(4):
        await take(lim)
        times.append(trio.current_time())
    assert times == [0.0, 0.25, 1.25, 2.25]


async def test_a_stale_answer_only_lowers_the_estimate(
    autojump_clock: trio.testing.MockClock, no_reserve: None
) -> None:
    """An older request's answer arriving after a newer one's cannot raise the estimate."""
    lim = limiter(8)
    old, new = await take(lim), await take(lim)
    limit = {"anthropic-ratelimit-requests-limit": "60"}
    lim.succeeded(new, {**limit, "anthropic-ratelimit-requests-remaining": "1"})
    lim.succeeded(old, {**limit, "anthropic-ratelimit-requests-remaining": "5"})
    times = []
    for _ in range(2):
        await take(lim)
        times.append(trio.current_time())
    assert times == [0.0, 1.0]


def test_limit_must_be_positive() -> None:
    """A limiter needs at least one slot."""
    with pytest.raises(ValueError, match="at least 1"):
        AdaptiveLimiter(0)


async def test_local_failure_halves_once_per_burst_and_holds_nothing(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """A local failure halves the limit like a 429 (once per burst) but sets no hold."""
    changes: list[tuple[int, str]] = []
    lim = limiter(16, changes)
    burst = [await take(lim) for _ in range(4)]
    for permit in burst:
        lim.local_failure(permit)
    lim.local_failure(await take(lim))
    assert lim.limit == 4
    start = trio.current_time()
    await take(lim)  # no hold: admitted at once
    assert trio.current_time() == start
    stats = lim.statistics()
    assert (stats.local_failures, stats.decreases, stats.rate_limited, stats.held_until) == (
        5,
        2,
        0,
        None,
    )
    assert changes == [(8, "local resources exhausted"), (4, "local resources exhausted")]
