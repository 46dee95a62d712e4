"""The day-budget ledgers (SQLite and Redis): holds, settling, expiry, damage, and racing processes.

Each behaviour test runs on both backends through the ``ledger`` fixture, and on
trio and asyncio. Redis tests need a redis-server at ``$REDIS_URL`` (locally:
``redis-server --port 6390 --save ""`` and ``REDIS_URL=redis://127.0.0.1:6390/15``)
and are skipped when none answers; each writes under its own key prefix and
removes it afterwards. The race test is the issue's bar: eight processes
reserving and settling on one budget never overspend it.
"""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import AbstractAsyncContextManager
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from claude_force_trio._errors import ConfigError
from claude_force_trio._journal._ledger import (
    MICROS_PER_USD,
    DayLedger,
    Hold,
    LedgerStatus,
    day_key,
    ledger_path,
    open_sqlite_ledger,
)
from claude_force_trio._journal._ledger_redis import open_redis_ledger, public_url

from .conftest import REDIS_URL, redis_missing

pytestmark = pytest.mark.anyio

RACER = Path(__file__).with_name("ledger_racer.py")
KEY = "day:2026-12-02"
LIMIT = 10 * MICROS_PER_USD


_NO_REDIS = redis_missing()
_REDIS = [pytest.mark.redis, pytest.mark.skipif(_NO_REDIS is not None, reason=_NO_REDIS or "")]
BACKENDS = ["sqlite", pytest.param("redis", marks=_REDIS)]


class FakeClock:
    """A wall clock the test moves by hand."""

    def __init__(self, now: float = 1_800_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> FakeClock:
    """A fake wall clock for hold expiry."""
    return FakeClock()


def _forget_prefix(prefix: str) -> None:
    import redis

    client = redis.Redis.from_url(REDIS_URL)
    names = list(client.scan_iter(match=f"{prefix}*", count=1000))
    if names:
        client.delete(*names)
    client.close()


@pytest.fixture
def prefix() -> Iterator[str]:
    """A fresh Redis key prefix, whose keys are deleted afterwards."""
    name = f"cft-test:budget:{uuid.uuid4().hex}:"
    yield name
    if _NO_REDIS is None:
        _forget_prefix(name)


def _open(
    backend: str, tmp_path: Path, prefix: str, clock: FakeClock | None
) -> AbstractAsyncContextManager[DayLedger]:
    if backend == "sqlite":
        return open_sqlite_ledger(tmp_path / "budget.db", clock=clock or time.time)
    return open_redis_ledger(REDIS_URL, prefix=prefix, clock=clock)


@pytest.fixture(params=BACKENDS)
async def ledger(
    request: pytest.FixtureRequest, tmp_path: Path, prefix: str, clock: FakeClock
) -> AsyncIterator[DayLedger]:
    """A fresh ledger of each backend, on the fake clock."""
    async with _open(request.param, tmp_path / "runs", prefix, clock) as opened:
        yield opened


# ------------------------------------------------------------ behaviour


async def test_a_reservation_that_fits_is_held(ledger: DayLedger) -> None:
    """Within the limit: a hold of that amount, counted as reserved; an exact fit fits."""
    first = await ledger.reserve(KEY, 4 * MICROS_PER_USD, LIMIT, ttl_s=60)
    assert first is not None
    assert (first.key, first.amount, len(first.hold_id)) == (KEY, 4 * MICROS_PER_USD, 32)
    second = await ledger.reserve(KEY, 6 * MICROS_PER_USD, LIMIT, ttl_s=60)
    assert second is not None
    assert second.hold_id != first.hold_id
    assert await ledger.status(KEY) == LedgerStatus(KEY, spent=0, reserved=LIMIT, holds=2)


async def test_a_reservation_over_the_limit_is_refused(ledger: DayLedger) -> None:
    """One micro-dollar too many: refused, and nothing is held for it."""
    assert await ledger.reserve(KEY, 7 * MICROS_PER_USD, LIMIT, ttl_s=60) is not None
    assert await ledger.reserve(KEY, 3 * MICROS_PER_USD + 1, LIMIT, ttl_s=60) is None
    assert await ledger.reserve(KEY, LIMIT + 1, LIMIT + 7 * MICROS_PER_USD, ttl_s=60) is None
    assert await ledger.status(KEY) == LedgerStatus(KEY, 0, 7 * MICROS_PER_USD, 1)


async def test_settle_adds_spent_and_frees_the_hold(ledger: DayLedger) -> None:
    """Settling a 5 USD hold at 2 USD: 2 spent, nothing held, 8 USD left to reserve."""
    hold = await ledger.reserve(KEY, 5 * MICROS_PER_USD, LIMIT, ttl_s=60)
    assert hold is not None
    await ledger.settle(hold, 2 * MICROS_PER_USD)
    assert await ledger.status(KEY) == LedgerStatus(KEY, 2 * MICROS_PER_USD, 0, 0)
    assert await ledger.reserve(KEY, 8 * MICROS_PER_USD + 1, LIMIT, ttl_s=60) is None
    assert await ledger.reserve(KEY, 8 * MICROS_PER_USD, LIMIT, ttl_s=60) is not None


async def test_settle_may_exceed_the_hold(ledger: DayLedger) -> None:
    """A call that cost more than reserved is counted in full, and later reservations see it."""
    hold = await ledger.reserve(KEY, MICROS_PER_USD, LIMIT, ttl_s=60)
    assert hold is not None
    await ledger.settle(hold, LIMIT + 5)
    assert (await ledger.status(KEY)).spent == LIMIT + 5
    assert await ledger.reserve(KEY, 0, LIMIT, ttl_s=60) is None


async def test_settle_is_idempotent(ledger: DayLedger) -> None:
    """A second settle of the same hold adds nothing, even with another amount."""
    hold = await ledger.reserve(KEY, 3 * MICROS_PER_USD, LIMIT, ttl_s=60)
    assert hold is not None
    await ledger.settle(hold, MICROS_PER_USD)
    await ledger.settle(hold, MICROS_PER_USD)
    await ledger.settle(hold, 2 * MICROS_PER_USD)
    assert await ledger.status(KEY) == LedgerStatus(KEY, MICROS_PER_USD, 0, 0)


async def test_expired_holds_are_dropped(ledger: DayLedger, clock: FakeClock) -> None:
    """A hold counts until its TTL ends, then frees its amount; at the instant itself it is gone."""
    assert await ledger.reserve(KEY, LIMIT, LIMIT, ttl_s=30) is not None
    clock.now += 29.5
    assert await ledger.status(KEY) == LedgerStatus(KEY, 0, LIMIT, 1)
    assert await ledger.reserve(KEY, 1, LIMIT, ttl_s=30) is None
    clock.now += 0.5
    assert await ledger.status(KEY) == LedgerStatus(KEY, 0, 0, 0)
    fresh = await ledger.reserve(KEY, LIMIT, LIMIT, ttl_s=30)
    assert fresh is not None
    assert await ledger.status(KEY) == LedgerStatus(KEY, 0, LIMIT, 1)


async def test_an_expired_hold_still_settles_once(ledger: DayLedger, clock: FakeClock) -> None:
    """The money of a hold that expired (and was dropped) was spent: settle counts it, once."""
    late = await ledger.reserve(KEY, 4 * MICROS_PER_USD, LIMIT, ttl_s=10)
    assert late is not None
    clock.now += 11
    other = await ledger.reserve(KEY, 9 * MICROS_PER_USD, LIMIT, ttl_s=10)  # drops `late`
    assert other is not None
    await ledger.settle(late, 3 * MICROS_PER_USD)
    await ledger.settle(late, 3 * MICROS_PER_USD)
    assert await ledger.status(KEY) == LedgerStatus(KEY, 3 * MICROS_PER_USD, 9 * MICROS_PER_USD, 1)


async def test_keys_are_separate_budgets(ledger: DayLedger) -> None:
    """Spending on one day leaves the next day's budget whole."""
    hold = await ledger.reserve(KEY, LIMIT, LIMIT, ttl_s=60)
    assert hold is not None
    await ledger.settle(hold, LIMIT)
    assert await ledger.reserve("day:2026-12-03", LIMIT, LIMIT, ttl_s=60) is not None
    assert await ledger.status("day:2026-12-04") == LedgerStatus("day:2026-12-04", 0, 0, 0)


@pytest.mark.parametrize(
    ("amount", "limit", "ttl_s"),
    [(-1, LIMIT, 60.0), (1.5, LIMIT, 60.0), (True, LIMIT, 60.0), (1, -1, 60.0), (1, LIMIT, 0.0)],
)
async def test_bad_reservations_are_value_errors(
    ledger: DayLedger, amount: Any, limit: Any, ttl_s: float
) -> None:
    """Negative, fractional or boolean micro-dollars, or a TTL of zero, are refused."""
    with pytest.raises(ValueError, match="must be"):
        await ledger.reserve(KEY, amount, limit, ttl_s=ttl_s)


async def test_a_negative_settle_is_a_value_error(ledger: DayLedger) -> None:
    """Settling a negative cost would give money back: refused, and the hold stays."""
    hold = await ledger.reserve(KEY, 5, LIMIT, ttl_s=60)
    assert hold is not None
    with pytest.raises(ValueError, match="spent must be"):
        await ledger.settle(hold, -1)
    assert await ledger.status(KEY) == LedgerStatus(KEY, 0, 5, 1)


# ------------------------------------------------------------ keys and paths


@pytest.mark.parametrize(
    ("at", "key"),
    [
        (datetime(2026, 12, 2, 23, 59, 59, 999999, tzinfo=UTC), "day:2026-12-02"),
        (datetime(2026, 12, 3, 0, 0, tzinfo=UTC), "day:2026-12-03"),
        (datetime(2026, 12, 3, 0, 30, tzinfo=timezone(timedelta(hours=1))), "day:2026-12-02"),
        (datetime(2026, 12, 2, 19, 0, tzinfo=timezone(timedelta(hours=-5))), "day:2026-12-03"),
        (datetime(2026, 12, 31, 23, 59, 59, tzinfo=UTC), "day:2026-12-31"),
    ],
)
def test_day_key_is_the_utc_date(at: datetime, key: str) -> None:
    """Midnight UTC, not local midnight, starts a new day."""
    assert day_key(at) == key


def test_day_key_defaults_to_now_and_refuses_naive_times() -> None:
    """No argument: today's UTC date; a naive datetime is refused rather than guessed."""
    before = datetime.now(UTC)
    key = day_key()
    assert key in {day_key(before), day_key(datetime.now(UTC))}
    with pytest.raises(ValueError, match="timezone-aware"):
        day_key(datetime(2026, 12, 2, 12, 0))  # naive on purpose


async def test_the_default_file_is_budget_db_beside_the_journal(isolated_state: Path) -> None:
    """``$CFT_HOME/runs/budget.db``, created on first use; the journal's file is not touched."""
    assert ledger_path() == isolated_state / "runs" / "budget.db"
    async with open_sqlite_ledger() as ledger:
        assert ledger.where == str(isolated_state / "runs" / "budget.db")
        assert await ledger.reserve(KEY, 1, LIMIT, ttl_s=60) is not None
    assert (isolated_state / "runs" / "budget.db").is_file()
    assert not (isolated_state / "runs" / "journal.db").exists()


async def test_the_sqlite_ledger_outlives_its_process(tmp_path: Path, clock: FakeClock) -> None:
    """Holds and totals are in the file: a ledger opened later sees them."""
    path = tmp_path / "budget.db"
    async with open_sqlite_ledger(path, clock=clock) as ledger:
        hold = await ledger.reserve(KEY, 5, LIMIT, ttl_s=60)
        assert hold is not None
        assert await ledger.reserve(KEY, 7, LIMIT, ttl_s=60) is not None
        await ledger.settle(hold, 4)
    async with open_sqlite_ledger(path, clock=clock) as ledger:
        assert await ledger.status(KEY) == LedgerStatus(KEY, 4, 7, 1)


async def test_a_damaged_budget_file_is_moved_aside_with_one_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Garbage in budget.db: moved aside, one warning naming both files, an empty ledger works."""
    path = tmp_path / "runs" / "budget.db"
    path.parent.mkdir()
    path.write_bytes(b"this is not sqlite" * 300)
    with caplog.at_level(logging.WARNING, logger="claude_force_trio"):
        async with open_sqlite_ledger(path) as ledger:
            hold = await ledger.reserve(KEY, 5, LIMIT, ttl_s=60)
            assert hold is not None
            await ledger.settle(hold, 3)
            assert await ledger.status(KEY) == LedgerStatus(KEY, 3, 0, 0)
    warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == 1
    assert warnings[0].startswith(f"budget: {path} was damaged")
    moved = list(path.parent.glob("budget.db.damaged-*"))
    assert len(moved) == 1
    assert moved[0].read_bytes() == b"this is not sqlite" * 300
    assert str(moved[0]) in warnings[0]


# ------------------------------------------------------------ redis specifics


def test_public_url_hides_the_password() -> None:
    """User, password and query leave the URL; host, port and database stay."""
    assert public_url("redis://user:s3cret@cache.local:6390/15") == "redis://cache.local:6390/15"
    assert public_url("rediss://:s3cret@h/0?password=s3cret") == "rediss://h/0"
    assert public_url("redis://h:port/0") == "<unparsable Redis URL>"


async def test_no_redis_server_is_a_config_error_without_the_password() -> None:
    """Nothing listening on a loopback port: one ConfigError line, no password in it."""
    pytest.importorskip("redis")
    url = "redis://:s3cret@127.0.0.1:1/0"
    with pytest.raises(ConfigError) as caught:
        async with open_redis_ledger(url):
            pass  # pragma: no cover - never reached
    assert caught.value.path == "coordination.redis_url"
    assert "no Redis server answers at redis://127.0.0.1:1/0" in str(caught.value)
    assert "s3cret" not in str(caught.value)
    assert "\n" not in str(caught.value)


async def test_a_url_that_is_not_redis_is_a_config_error() -> None:
    """An http:// URL is refused before any connection."""
    pytest.importorskip("redis")
    with pytest.raises(ConfigError, match="not a Redis URL"):
        async with open_redis_ledger("http://127.0.0.1:1/"):
            pass  # pragma: no cover - never reached


@pytest.mark.redis
@pytest.mark.skipif(_NO_REDIS is not None, reason=_NO_REDIS or "")
async def test_redis_uses_the_server_clock_by_default(prefix: str) -> None:
    """With no clock, holds expire by the server's TIME: a fresh hold is live, its keys expire."""
    import redis

    async with open_redis_ledger(REDIS_URL, prefix=prefix, retain_s=3600) as ledger:
        assert ledger.where == public_url(REDIS_URL)
        hold = await ledger.reserve(KEY, 5, LIMIT, ttl_s=600)
        assert isinstance(hold, Hold)
        assert await ledger.status(KEY) == LedgerStatus(KEY, 0, 5, 1)
        await ledger.settle(hold, 2)
        assert await ledger.status(KEY) == LedgerStatus(KEY, 2, 0, 0)
    client = redis.Redis.from_url(REDIS_URL)
    names = sorted(n.decode() for n in client.scan_iter(match=f"{prefix}*"))
    ttls = [client.pttl(n) for n in names]
    client.close()
    assert names == [f"{prefix}{{{KEY}}}:{part}" for part in ("settled", "totals")]
    assert all(0 < ttl <= 3_600_000 for ttl in ttls)


# ------------------------------------------------------------ the race

RACERS = 8
RACE_LIMIT = 2 * MICROS_PER_USD
REFUSALS = 5


@pytest.mark.parametrize("backend", BACKENDS)
def test_racing_processes_never_overspend(backend: str, tmp_path: Path, prefix: str) -> None:
    """Eight processes reserve and settle on one day budget: never overspent, every cent counted."""
    target = str(tmp_path / "budget.db") if backend == "sqlite" else REDIS_URL
    racer = [sys.executable, str(RACER), backend, target, prefix, KEY, str(RACE_LIMIT)]
    procs = [
        subprocess.Popen(
            [*racer, str(seed), str(REFUSALS)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        for seed in range(RACERS)
    ]
    try:
        for proc in procs:
            assert proc.stdout is not None
            assert proc.stdout.readline() == "ready\n"
        for proc in procs:  # all are connected: start them together
            assert proc.stdin is not None
            proc.stdin.write("go\n")
            proc.stdin.flush()
        reports = []
        for proc in procs:
            out, _ = proc.communicate(timeout=60)
            assert proc.returncode == 0
            reports.append(json.loads(out))
    finally:
        for proc in procs:
            if proc.poll() is None:  # pragma: no cover - only when a racer hangs
                proc.kill()
                proc.wait()
    reported = sum(r["spent"] for r in reports)
    status = _final_status(backend, target, prefix)
    assert status == LedgerStatus(KEY, spent=reported, reserved=0, holds=0)
    assert reported <= RACE_LIMIT
    # A refusal means spent + reserved + amount > limit, with at most 7 others' holds and
    # this amount each <= limit / 16: the racers stop only once most of the budget is spent.
    assert reported > RACE_LIMIT // 2
    assert all(r["refused"] == REFUSALS for r in reports)


def _final_status(backend: str, target: str, prefix: str) -> LedgerStatus:
    import anyio

    async def read() -> LedgerStatus:
        opened = _open(backend, Path(target).parent, prefix, None)
        async with opened as ledger:
            return await ledger.status(KEY)

    return anyio.run(read)
