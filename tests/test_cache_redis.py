"""RedisCache against a real redis-server at ``$REDIS_URL`` (skipped when none answers).

``.ci/run`` starts one on loopback; locally: ``redis-server --port 6390 --save ""``
and ``REDIS_URL=redis://127.0.0.1:6390/15``. Each test writes under its own key
prefix and removes it afterwards, so a shared database is left as it was.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
import trio

from claude_force_trio._cache._entry import CachedResponse
from claude_force_trio._cache._policy import CachePolicy, ResponseCache, open_backend
from claude_force_trio._cache._redis import RedisCache
from claude_force_trio._config import CacheConfig
from claude_force_trio._errors import ConfigError

from .test_cache import (
    HOUR,
    Counter,
    FakeClock,
    body,
    check_hit_and_miss,
    check_stats,
    check_ttl,
    entry,
    message,
)

redis = pytest.importorskip("redis")

REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/15")


def _server_answers() -> str | None:
    try:
        client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=0.5)
        client.ping()
        client.close()
    except redis.RedisError as exc:
        return f"no redis-server answers at REDIS_URL={REDIS_URL} ({exc}); .ci/run starts one"
    return None


_SKIP = _server_answers()
pytestmark = [pytest.mark.redis, pytest.mark.skipif(_SKIP is not None, reason=_SKIP or "")]


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


async def test_redis_facade_end_to_end(cache: RedisCache) -> None:
    """The facade over Redis: one call, then a hit; 20 concurrent identical requests share it."""
    facade = ResponseCache(cache, CachePolicy())
    call = Counter(message())
    results: list[bool] = []

    async def one() -> None:
        _, cached = await facade.fetch_or_call(body(), "reviewer", call)
        results.append(cached)

    async with trio.open_nursery() as nursery:
        for _ in range(20):
            nursery.start_soon(one)
    _, cached = await facade.fetch_or_call(body(), "reviewer", call)
    assert call.calls == 1
    assert results.count(False) == 1
    assert cached


async def test_open_backend_redis_errors() -> None:
    """A redis backend without a URL, or with no server there, is a one-line ConfigError."""
    with pytest.raises(ConfigError, match="redis_url"):
        await open_backend(CacheConfig(backend="redis"))
    with pytest.raises(ConfigError, match="no Redis server"):
        await open_backend(CacheConfig(backend="redis", redis_url="redis://127.0.0.1:1/0"))
