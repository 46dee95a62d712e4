"""Single-flight: identical concurrent calls share one execution, its value or its failure.

Unit tests run in virtual time (``MockClock(autojump_threshold=0)``); the
end-to-end tests use the real simulator over loopback and a real
``MessagesClient``, with the response cache layer in front.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import trio
import trio.testing

from claude_force_trio._api._client import MessagesClient
from claude_force_trio._cache._disk import DiskCache
from claude_force_trio._cache._entry import cache_key
from claude_force_trio._cache._layer import CacheLayer
from claude_force_trio._cache._policy import CachePolicy, ResponseCache
from claude_force_trio._cache._singleflight import SHARED_NOTE, SingleFlight, copy_exception
from claude_force_trio._call import Call
from claude_force_trio._errors import ConfigError, InternalServerError
from claude_force_trio._types import MessageResult
from claude_force_trio.simulator import Fault, Simulator, open_simulator

from .test_cache import body
from .test_cache_layer import Recorder


@pytest.fixture
def autojump_clock() -> trio.testing.MockClock:
    """Virtual time that jumps whenever every task is blocked."""
    return trio.testing.MockClock(autojump_threshold=0)


async def test_concurrent_calls_share_one_execution(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """Ten callers of one key: one execution, one leader, nine shared results."""
    flights: SingleFlight[str, int] = SingleFlight()
    calls = 0
    outcomes: list[tuple[int, bool]] = []

    async def work() -> int:
        nonlocal calls
        calls += 1
        await trio.sleep(1)
        return 42

    async def caller() -> None:
        outcomes.append(await flights.do("k", work))

    async with trio.open_nursery() as nursery:
        for _ in range(10):
            nursery.start_soon(caller)
    assert calls == 1
    assert sorted(outcomes) == [(42, False)] + [(42, True)] * 9
    assert trio.current_time() == 1
    assert flights.in_flight() == 0


async def test_distinct_keys_run_separately(autojump_clock: trio.testing.MockClock) -> None:
    """Different keys never share."""
    flights: SingleFlight[str, str] = SingleFlight()

    async def work(key: str) -> str:
        await trio.sleep(1)
        return key

    results: list[str] = []

    async def caller(key: str) -> None:
        value, shared = await flights.do(key, lambda: work(key))
        assert not shared
        results.append(value)

    async with trio.open_nursery() as nursery:
        for key in "abc":
            nursery.start_soon(caller, key)
    assert sorted(results) == ["a", "b", "c"]


async def test_failure_is_shared_as_fresh_copies(autojump_clock: trio.testing.MockClock) -> None:
    """A failing leader fails every follower with an equal but distinct exception."""
    flights: SingleFlight[str, int] = SingleFlight()
    calls = 0
    errors: list[BaseException] = []

    async def work() -> int:
        nonlocal calls
        calls += 1
        await trio.sleep(1)
        raise ConfigError("agents.x", "boom")

    async def caller() -> None:
        try:
            await flights.do("k", work)
        except ConfigError as exc:
            errors.append(exc)

    async with trio.open_nursery() as nursery:
        for _ in range(5):
            nursery.start_soon(caller)
    assert calls == 1
    assert len(errors) == 5
    assert len({id(e) for e in errors}) == 5
    assert {str(e) for e in errors} == {"agents.x: boom"}
    assert {e.path for e in errors if isinstance(e, ConfigError)} == {"agents.x"}
    assert sum(SHARED_NOTE in getattr(e, "__notes__", []) for e in errors) == 4
    # Nothing is remembered: the next call runs again.
    with pytest.raises(ConfigError):
        await flights.do("k", work)
    assert calls == 2


async def test_leader_cancelled_followers_retry(autojump_clock: trio.testing.MockClock) -> None:
    """Cancelling the leader does not strand followers: one of them leads a new call."""
    flights: SingleFlight[str, int] = SingleFlight()
    calls = 0
    values: list[tuple[int, bool]] = []

    async def work() -> int:
        nonlocal calls
        calls += 1
        await trio.sleep(1)
        return calls

    async def follower() -> None:
        values.append(await flights.do("k", work))

    leader_scope = trio.CancelScope()

    async def leader() -> None:
        with leader_scope:
            await flights.do("k", work)

    async with trio.open_nursery() as nursery:
        nursery.start_soon(leader)
        await trio.sleep(0)  # the leader has started its call
        nursery.start_soon(follower)
        nursery.start_soon(follower)
        await trio.sleep(0.5)
        leader_scope.cancel()
    assert calls == 2
    assert sorted(values) == [(2, False), (2, True)]
    assert trio.current_time() == 1.5


async def test_follower_cancellation_only_affects_itself(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """A follower that gives up (its own deadline) leaves the leader and others untouched."""
    flights: SingleFlight[str, str] = SingleFlight()
    got: list[tuple[str, bool]] = []

    async def work() -> str:
        await trio.sleep(1)
        return "done"

    async def caller(deadline: float | None) -> None:
        with trio.move_on_after(deadline if deadline is not None else float("inf")):
            got.append(await flights.do("k", work))

    async with trio.open_nursery() as nursery:
        nursery.start_soon(caller, None)
        await trio.sleep(0)
        nursery.start_soon(caller, 0.5)
        nursery.start_soon(caller, None)
    assert sorted(got) == [("done", False), ("done", True)]


def test_copy_exception_keeps_class_attributes_and_cause() -> None:
    """copy_exception: same class, args, attributes and cause; a new object."""
    try:
        try:
            raise OSError("reset")
        except OSError as low:
            raise InternalServerError(
                500, "api_error", "Internal server error", request_id="req_1"
            ) from low
    except InternalServerError as exc:
        original = exc
    copied = copy_exception(original)
    assert copied is not original
    assert type(copied) is InternalServerError
    assert str(copied) == str(original)
    assert copied.request_id == "req_1"
    assert copied.status_code == original.status_code
    assert copied.__cause__ is original.__cause__
    assert SHARED_NOTE not in getattr(original, "__notes__", [])


# -- end to end: the layer around a real client and the simulator -------------------------


@pytest.fixture
async def sim() -> AsyncIterator[Simulator]:
    """A simulator on loopback whose every reply takes 50 ms."""
    async with open_simulator(ttft_ms=0, tokens_per_s=0, latency_fn=lambda b: 0.05) as server:
        yield server


@pytest.fixture
async def client(sim: Simulator) -> AsyncIterator[MessagesClient]:
    """A real client of that simulator."""
    async with MessagesClient(base_url=sim.url, api_key="sk-test", max_connections=64) as c:
        yield c


async def _fifty(layer: CacheLayer) -> list[tuple[MessageResult, bool] | BaseException]:
    """Fifty identical calls at once: each answer, and whether it was served, or the error."""
    out: list[tuple[MessageResult, bool] | BaseException] = []

    async def one() -> None:
        observer = Recorder()
        try:
            message = await layer.send(Call(body(), agent="reviewer"), observer)
        except Exception as exc:
            out.append(exc)
        else:
            out.append((message, bool(observer.served_usd)))

    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            for _ in range(50):
                nursery.start_soon(one)
    return out


async def test_fifty_identical_requests_make_one(
    tmp_path: Path, sim: Simulator, client: MessagesClient
) -> None:
    """50 identical concurrent requests → exactly one in the simulator's request log."""
    disk = await DiskCache.open(tmp_path)
    results = await _fifty(CacheLayer(client, ResponseCache(disk, CachePolicy())))
    await disk.aclose()
    assert len(sim.requests) == 1
    pairs = [r for r in results if isinstance(r, tuple)]
    assert len(pairs) == 50
    assert len({m.text for m, _ in pairs}) == 1
    assert [served for _, served in pairs].count(False) == 1


async def test_leader_failure_fails_all_caches_nothing(
    tmp_path: Path, sim: Simulator, client: MessagesClient
) -> None:
    """A failing call fails all 50 waiters, stores nothing, and a later call succeeds."""
    disk = await DiskCache.open(tmp_path)
    layer = CacheLayer(client, ResponseCache(disk, CachePolicy()))
    sim.script(Fault("500"))
    results = await _fifty(layer)
    assert len(sim.requests) == 1
    assert all(isinstance(r, InternalServerError) for r in results)
    assert len({id(r) for r in results}) == 50
    assert await disk.get(cache_key(body())) is None
    observer = Recorder()
    message = await layer.send(Call(body(), agent="reviewer"), observer)
    await disk.aclose()
    assert observer.served_usd == []
    assert message.stop_reason == "end_turn"
    assert len(sim.requests) == 2
