"""Limits shared through Redis: the scripts' exact math, shared breakers, leases, fallback,
and the issue's bars across real processes (a real redis-server; skipped without one)."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import trio

from claude_force_trio._api._breaker import CircuitBreaker
from claude_force_trio._config import CircuitBreakerConfig
from claude_force_trio._coord._breaker import SharedBreakers
from claude_force_trio._coord._flight import SharedFlight
from claude_force_trio._coord._link import DOWN, RedisLink, connect
from claude_force_trio._coord._pacing import PACE_FRACTION, SharedPacer
from claude_force_trio._errors import APIStatusError, CircuitOpenError
from claude_force_trio.simulator import run_simulator_in_thread

WORKER = Path(__file__).with_name("coord_worker.py")
KEY = ("http://api.test", "claude-sonnet-4-5")


class FakeClock:
    """Wall-clock seconds the scripts are sent instead of the server's ``TIME``."""

    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
async def link(redis_url: str) -> AsyncIterator[RedisLink]:
    """A link to the test Redis."""
    opened = await connect(redis_url)
    try:
        yield opened
    finally:
        await opened.aclose()


@pytest.fixture
def prefix() -> str:
    """A key prefix no other test uses."""
    return f"cft:test:{uuid.uuid4().hex}:"


# -- the bucket ----------------------------------------------------------------------


async def test_take_refills_by_the_clock_and_queues_in_debt(link: RedisLink, prefix: str) -> None:
    """A new bucket starts empty; takes queue in time order; refill is rate × elapsed."""
    clock = FakeClock()
    pacer = SharedPacer(link, prefix=prefix, requests_per_minute=600, burst_s=0.5, clock=clock)
    assert await pacer.take(KEY) == pytest.approx((0.1, 1000.0))  # 10/s, empty: wait 1/10 s
    assert await pacer.take(KEY) == pytest.approx((0.2, 1000.0))  # the next in line
    clock.now = 1001.0  # -2 + 10 refilled, capped at 5 (half a second's worth), minus this take
    assert await pacer.take(KEY) == (0.0, 1001.0)
    state = await pacer.state(KEY)
    assert state is not None
    assert state.level == pytest.approx(4.0)
    assert state.rate == 10.0


async def test_429_halves_once_per_burst_and_success_grows_back(
    link: RedisLink, prefix: str
) -> None:
    """AIMD: a 429 halves the shared rate once per burst; each success adds 2 % of the ceiling."""
    clock = FakeClock()
    pacer = SharedPacer(link, prefix=prefix, requests_per_minute=600, clock=clock)
    _, taken = await pacer.take(KEY) or (0.0, 0.0)
    clock.now = 1000.5
    assert await pacer.feedback(KEY, rate_limited=True, taken_at=taken, headers={}) == 5.0
    # Another 429 to a request taken before that cut is the same overload: no second halving.
    assert await pacer.feedback(KEY, rate_limited=True, taken_at=taken, headers={}) == 5.0
    assert await pacer.feedback(KEY, rate_limited=False, taken_at=taken, headers={}) == 5.2
    clock.now = 1001.0
    _, later = await pacer.take(KEY) or (0.0, 0.0)
    assert await pacer.feedback(KEY, rate_limited=True, taken_at=later, headers={}) == 2.6
    for _ in range(100):
        rate = await pacer.feedback(KEY, rate_limited=False, taken_at=later, headers={})
    assert rate == 10.0  # never above the ceiling


async def test_the_rate_is_learnt_from_the_requests_limit_header(
    link: RedisLink, prefix: str
) -> None:
    """Unpaced until an answer says ``requests-limit``; then paced at a share of it."""
    pacer = SharedPacer(link, prefix=prefix, clock=FakeClock())
    assert await pacer.take(KEY) is None
    headers = {"anthropic-ratelimit-requests-limit": "600"}
    rate = await pacer.feedback(KEY, rate_limited=False, taken_at=None, headers=headers)
    assert rate == pytest.approx(10.0 * PACE_FRACTION)
    turn = await pacer.take(KEY)
    assert turn is not None
    assert turn[0] == pytest.approx(1 / (10.0 * PACE_FRACTION))


async def test_a_configured_rate_caps_the_learnt_one(link: RedisLink, prefix: str) -> None:
    """``requests_per_minute`` below the API's limit wins."""
    pacer = SharedPacer(link, prefix=prefix, requests_per_minute=60, clock=FakeClock())
    await pacer.take(KEY)
    headers = {"anthropic-ratelimit-requests-limit": "6000"}
    assert await pacer.feedback(KEY, rate_limited=False, taken_at=None, headers=headers) == 1.0


# -- the breaker ---------------------------------------------------------------------


def _failure() -> APIStatusError:
    return APIStatusError(529, "overloaded_error", "overloaded")


async def test_one_breaker_for_two_engines(link: RedisLink, prefix: str) -> None:
    """Failures of two processes add up; the open seen by one is seen by the other."""
    config = CircuitBreakerConfig(failure_threshold=2, reset_timeout_s=30.0, half_open_max_calls=1)
    clock = FakeClock()
    shared = [SharedBreakers(link, config, prefix=prefix, clock=clock) for _ in range(2)]
    local = [CircuitBreaker(KEY, config) for _ in range(2)]
    for side in (0, 1):
        probe = await shared[side].admit(local[side])
        assert probe is False
        await shared[side].settle(local[side], probe, _failure())
    assert local[1].state == "open"
    with pytest.raises(CircuitOpenError) as refused:
        await shared[0].admit(local[0])
    assert refused.value.retry_at == pytest.approx(trio.current_time() + 30.0, abs=0.5)
    assert local[0].state == "open"  # adopted: it now fails fast without asking Redis
    with pytest.raises(CircuitOpenError):
        local[0].check()
    clock.now += 30.0
    assert await shared[0].admit(local[0]) is True  # the one half-open probe, for both
    with pytest.raises(CircuitOpenError):
        await shared[1].admit(local[1])
    await shared[0].settle(local[0], True, None)
    assert await shared[1].admit(local[1]) is False
    assert local[1].statistics().state == "closed"


async def test_a_lost_probe_is_forgotten(link: RedisLink, prefix: str) -> None:
    """A half-open probe whose process died stops blocking others after ``probe_ttl_s``."""
    config = CircuitBreakerConfig(failure_threshold=1, reset_timeout_s=10.0, half_open_max_calls=1)
    clock = FakeClock()
    shared = SharedBreakers(link, config, prefix=prefix, probe_ttl_s=60.0, clock=clock)
    breaker = CircuitBreaker(KEY, config)
    await shared.settle(breaker, await shared.admit(breaker) or False, _failure())
    clock.now += 10.0
    assert await shared.admit(breaker) is True  # …and this process dies holding it
    with pytest.raises(CircuitOpenError):
        await shared.admit(breaker)
    clock.now += 61.0
    assert await shared.admit(breaker) is True


# -- the lease -----------------------------------------------------------------------


async def test_a_dead_leaders_lease_expires_and_a_follower_takes_over(
    link: RedisLink, prefix: str
) -> None:
    """A lock nobody renews runs out; the waiting follower becomes the leader and calls."""
    flights = SharedFlight(link, prefix=prefix, lease_s=5.0)
    link.client.set(flights.lock_key("k"), "dead-leader", px=300)  # a leader that died
    calls: list[str] = []

    async def poll() -> str | None:
        return None

    async def lead() -> str:
        calls.append("lead")
        return "mine"

    with trio.fail_after(5):
        assert await flights.do("k", poll, lead) == ("mine", False)
    assert calls == ["lead"]
    assert flights.took_over == 1
    assert link.client.get(flights.lock_key("k")) is None  # let go after the call


async def test_a_follower_reads_the_leaders_answer(link: RedisLink, prefix: str) -> None:
    """While another process holds the lock, the follower gets what it stored, and never calls."""
    flights = SharedFlight(link, prefix=prefix)
    link.client.set(flights.lock_key("k"), "other", px=5000)
    polls = 0

    async def poll() -> str | None:
        nonlocal polls
        polls += 1
        return "theirs" if polls >= 3 else None

    async def lead() -> str:
        raise AssertionError("a follower must not call")

    with trio.fail_after(5):
        assert await flights.do("k", poll, lead) == ("theirs", True)
    assert flights.followed == 1
    assert flights.led == 0


async def test_the_leader_renews_its_lease_while_it_calls(link: RedisLink, prefix: str) -> None:
    """A call longer than the lease keeps the lock: the renewal pushes its expiry on."""
    flights = SharedFlight(link, prefix=prefix, lease_s=0.3)
    seen: list[int] = []

    async def poll() -> str | None:
        return None

    async def lead() -> str:
        for _ in range(4):
            await trio.sleep(0.15)
            seen.append(int(link.client.pttl(flights.lock_key("k"))))
        return "done"

    assert await flights.do("k", poll, lead) == ("done", False)
    assert all(ttl > 0 for ttl in seen)  # never expired, though the call took twice the lease


# -- falling back --------------------------------------------------------------------


def _is_up(link: RedisLink) -> bool:
    return link.up


async def test_unreachable_redis_falls_back_with_one_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """No server: one warning naming the URL without its password; everything per process."""
    caplog.set_level(logging.WARNING, "claude_force_trio.coordination")
    link = await connect("redis://:hunter2@127.0.0.1:1/0", retry_s=60.0)
    config = CircuitBreakerConfig()
    try:
        pacer = SharedPacer(link, requests_per_minute=60)
        breakers = SharedBreakers(link, config)
        assert await pacer.take(KEY) is None
        assert await breakers.admit(CircuitBreaker(KEY, config)) is None
        assert await SharedFlight(link).acquire("k") is None
    finally:
        await link.aclose()
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 1
    assert "redis://127.0.0.1:1/0" in lines[0]
    assert "hunter2" not in lines[0]
    assert not link.up
    assert link.outages == 1


async def test_the_link_recovers_when_redis_answers_again(
    link: RedisLink, caplog: pytest.LogCaptureFixture
) -> None:
    """After an outage, the first command past ``retry_s`` that gets an answer brings it back."""
    caplog.set_level(logging.WARNING, "claude_force_trio.coordination")
    link.retry_s = 0.0
    link.mark_down(ConnectionError("gone"))
    assert not _is_up(link)
    assert await link.run(link.client.ping) is True
    assert _is_up(link)
    assert [r.getMessage().split(";")[0] for r in caplog.records][-1].endswith("answers again")
    link.retry_s = 60.0
    link.mark_down(ConnectionError("gone"))
    assert await link.run(link.client.ping) is DOWN  # within retry_s: not even tried


# -- the bars, across processes ----------------------------------------------


def _run_workers(
    sim_url: str, redis_url: str | None, requests: int, mode: str, *, processes: int = 4
) -> list[dict[str, float]]:
    start_at = time.time() + 2.5  # every process imported and connected by then
    tag = uuid.uuid4().hex
    env = dict(os.environ)
    procs = [
        subprocess.Popen(
            [
                *(sys.executable, str(WORKER), sim_url, redis_url or "-", str(requests), "16"),
                *(str(start_at), mode, str(worker), tag),
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        for worker in range(processes)
    ]
    summaries = []
    for proc in procs:
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err[-2000:]
        summaries.append(json.loads(out.strip().splitlines()[-1]))
    return summaries


@pytest.fixture
def cft_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Worker processes keep their state under ``tmp_path``."""
    monkeypatch.setenv("CFT_HOME", str(tmp_path))
    return tmp_path


def _pace(redis_url: str | None, rpm: int) -> dict[str, float]:
    with run_simulator_in_thread(ttft_ms=20, tokens_per_s=0, rpm=rpm, seed=1) as sim:
        runs = _run_workers(sim.url, redis_url, 300, "distinct")
        time.sleep(0.3)  # the server logs a request just after answering it
        records = [r for r in sim.requests if r.path == "/v1/messages"]
    # The rate the API saw: from the first request's arrival to the last answer.
    elapsed = max(r.finished_at for r in records) - min(r.started_at for r in records)
    succeeded = sum(r.status == 200 for r in records)
    return {
        "rate_over_limit": succeeded / elapsed / (rpm / 60),
        "share_429": sum(r.status == 429 for r in records) / len(records),
        "failed": sum(r["failed"] for r in runs),
        "elapsed_s": elapsed,
    }


@pytest.mark.slow
def test_four_processes_share_one_rate_limit(redis_url: str, cft_home: Path) -> None:
    """4 × 300 requests at N rpm: ≥ 0.9 × N achieved, ≤ 2 % 429s; uncoordinated does worse."""
    rpm = 12_000
    shared = _pace(redis_url, rpm)
    alone = _pace(None, rpm)
    print(f"\nshared through Redis: {shared}\nuncoordinated:        {alone}")
    assert shared["failed"] == 0
    assert shared["rate_over_limit"] >= 0.9
    assert shared["share_429"] <= 0.02
    assert alone["share_429"] > shared["share_429"]


def test_four_processes_ask_once(redis_url: str, cft_home: Path) -> None:
    """4 processes ask the same uncached request at once: exactly 1 API call at the simulator."""
    with run_simulator_in_thread(ttft_ms=500, tokens_per_s=0, seed=1) as sim:
        runs = _run_workers(sim.url, redis_url, 1, "same")
        records = [r for r in sim.requests if r.path == "/v1/messages"]
    assert [r["ok"] for r in runs] == [1, 1, 1, 1]
    assert len(records) == 1
