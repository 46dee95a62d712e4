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
