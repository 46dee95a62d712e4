"""RedisCache against a real redis-server at ``$REDIS_URL`` (skipped when none answers).

``.ci/run`` starts one on loopback; locally: ``redis-server --port 6390 --save ""``
and ``REDIS_URL=redis://127.0.0.1:6390/15``. Each test writes under its own key
prefix and removes it afterwards, so a shared database is left as it was.
Every test runs on trio and on asyncio.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import anyio
import pytest

from claude_force_trio._cache._entry import CachedResponse
from claude_force_trio._cache._layer import CacheLayer
from claude_force_trio._cache._policy import CachePolicy, ResponseCache, open_backend
from claude_force_trio._cache._redis import RedisCache
from claude_force_trio._cache._writer import open_write_behind
from claude_force_trio._config import CacheConfig
from claude_force_trio._errors import ConfigError

from .conftest import REDIS_URL, redis_missing
from .test_cache import (
    HOUR,
    FakeClock,
    check_hit_and_miss,
    check_stats,
    check_ttl,
    entry,
    message,
)
from .test_cache_layer import FakeInner, HopCounter, Recorder, call

redis = pytest.importorskip("redis")

_SKIP = redis_missing()
pytestmark = [
    pytest.mark.anyio,
    pytest.mark.redis,
    pytest.mark.skipif(_SKIP is not None, reason=_SKIP or ""),
]


@pytest.fixture
def clock() -> FakeClock:
    """A fake wall clock."""
    return FakeClock()


@pytest.fixture
async def cache(clock: FakeClock) -> AsyncIterator[RedisCache]:
    """A RedisCache under a fresh prefix, emptied afterwards."""
    backend = await RedisCache.open(
        REDIS_URL, ttl_s=24 * HOUR, clock=clock, prefix=f"cft-test:{uuid.uuid4().hex}"
    )
    yield backend
    await backend.clear()
    await backend.aclose()


def _raw(cache: RedisCache) -> Any:
    return cache._redis


async def test_redis_hit_and_miss(cache: RedisCache) -> None:
    """Redis: a stored entry is read back identical; others miss."""
    await check_hit_and_miss(cache)


async def test_redis_ttl_virtual(cache: RedisCache, clock: FakeClock) -> None:
    """Redis: TTL expiry on the injected clock."""
    await check_ttl(cache, clock)


async def test_redis_ttl_is_redis_expiry(cache: RedisCache) -> None:
    """Redis: entries are written with a server-side expiry equal to the TTL."""
    await cache.set("a" * 64, entry())
    ttl = _raw(cache).ttl(cache._key("a" * 64))
    assert 24 * HOUR - 5 <= ttl <= 24 * HOUR


async def test_redis_stats(cache: RedisCache) -> None:
    """Redis: counters persist in a hash and clear() resets everything."""
    await check_stats(cache)


@pytest.mark.parametrize(
    "garbage",
    [b"", b"\x80\x04garbage", b'{"v":1}', entry("other").to_json("f" * 64)],
    ids=["empty", "binary", "partial", "wrong-key"],
)
async def test_redis_corrupt_value_is_miss_and_deleted(cache: RedisCache, garbage: bytes) -> None:
    """Redis: a garbled value is a miss, is deleted, and raises nothing."""
    key = "e" * 64
    await cache.set(key, entry())
    _raw(cache).set(cache._key(key), garbage)
    assert await cache.get(key) is None
    assert _raw(cache).exists(cache._key(key)) == 0
    await cache.set(key, entry("fresh"))
    got = await cache.get(key)
    assert isinstance(got, CachedResponse)
    assert got.text == "fresh"


async def test_redis_layer_end_to_end(cache: RedisCache) -> None:
    """The layer over Redis: one call, then a hit; 20 concurrent identical calls share it."""
    inner = FakeInner(message())
    layer = CacheLayer(inner, ResponseCache(cache, CachePolicy()))
    observers = [Recorder() for _ in range(20)]
    async with anyio.create_task_group() as group:
        for observer in observers:
            group.start_soon(layer.send, call(), observer)
    again = Recorder()
    await layer.send(call(), again)
    assert inner.calls == 1
    assert sorted(len(o.served_usd) for o in observers) == [0] + [1] * 19
    assert len(again.served_usd) == 1


async def test_redis_batch_is_one_pipeline(cache: RedisCache) -> None:
    """Fifty answers handed to the write-behind reach Redis in one hop, with their TTL."""
    counter = HopCounter(cache)
    async with open_write_behind(cache) as writer:
        for n in range(50):
            await writer.put(f"{n:064x}", entry(f"answer {n}"))
    got = [await cache.get(f"{n:064x}") for n in range(50)]
    assert [g.text if g else None for g in got] == [f"answer {n}" for n in range(50)]
    assert (writer.batches, counter.hops) == (1, 1 + 50)  # one write, then the 50 reads
    assert 24 * HOUR - 5 <= _raw(cache).ttl(cache._key(f"{49:064x}")) <= 24 * HOUR


async def test_open_backend_redis_errors() -> None:
    """A redis backend without a URL, or with no server there, is a one-line ConfigError."""
    with pytest.raises(ConfigError, match="redis_url"):
        await open_backend(CacheConfig(backend="redis"))
    with pytest.raises(ConfigError, match="no Redis server"):
        await open_backend(CacheConfig(backend="redis", redis_url="redis://127.0.0.1:1/0"))
