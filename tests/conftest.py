"""Shared fixtures, and which event loop each async test runs on.

Every test gets its own CFT_HOME, so nothing touches the real one.

Event loops: a test module that sets ``pytestmark = pytest.mark.anyio`` runs
each of its async tests on both of anyio's backends, trio and asyncio (the
``anyio_backend`` fixture below): that is how the library proves it embeds in
either. Every other async test runs on trio, through pytest-trio, which is
what gives tests ``MockClock(autojump_threshold=0)`` and exact virtual times.
"""

from __future__ import annotations

import inspect
import os
from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def isolated_state(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> Path:
    """Point CFT_HOME (cache, metrics, memory) at a fresh folder for this test."""
    home = tmp_path_factory.mktemp("cft-home")
    monkeypatch.setenv("CFT_HOME", str(home))
    return home


#: Where the Redis tests' server is (``.ci/run`` starts one and sets it).
REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/15")


def redis_missing() -> str | None:
    """Why the Redis tests cannot run (no redis-py, no server at ``REDIS_URL``), or ``None``."""
    try:
        import redis
    except ImportError:
        return "redis-py is not installed"
    try:
        client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=0.5)
        client.ping()
        client.close()
    except redis.RedisError as exc:
        return f"no redis-server answers at REDIS_URL={REDIS_URL} ({exc}); .ci/run starts one"
    return None


@pytest.fixture
def redis_url() -> str:
    """``REDIS_URL`` if a redis-server answers there (the test is skipped otherwise)."""
    if (why := redis_missing()) is not None:
        pytest.skip(why)
    return REDIS_URL


@pytest.fixture(params=["trio", "asyncio"])
def anyio_backend(request: pytest.FixtureRequest) -> str:
    """The backends an ``anyio``-marked test runs on: each test runs once on each."""
    return str(request.param)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Run async tests that are not marked ``anyio`` on trio (pytest-trio)."""
    for item in items:
        if not isinstance(item, pytest.Function) or item.get_closest_marker("anyio"):
            continue
        test = getattr(item.obj, "hypothesis", None)
        func = test.inner_test if test is not None else item.obj
        if inspect.iscoroutinefunction(func):
            item.add_marker(pytest.mark.trio)
