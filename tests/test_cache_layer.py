"""CacheLayer alone, over a fake next layer that counts its calls, on trio and asyncio.

The layer is the response cache as a stage of the call stack: bypass, served
(stored, pending or shared in flight) and live answers; and the write-behind
under it: a stored answer is a hit at once, on disk after close, kept through
cancellation, and many stores cost few thread hops.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import anyio.lowlevel
import pytest

from claude_force_trio._cache._disk import DiskCache
from claude_force_trio._cache._entry import cache_key
from claude_force_trio._cache._layer import CacheLayer
from claude_force_trio._cache._policy import CachePolicy, ResponseCache, open_response_cache
from claude_force_trio._cache._threaded import ThreadedStore
from claude_force_trio._call import Call, CallObserver, Layer
from claude_force_trio._errors import ConfigError
from claude_force_trio._pricing import cost_usd
from claude_force_trio._types import MessageResult, Usage

from .test_cache import body, config, message

pytestmark = pytest.mark.anyio


class FakeInner:
    """A next layer that counts its calls; it waits for ``gate`` (if set) before answering."""

    def __init__(self, result: MessageResult | Exception, *, gate: anyio.Event | None = None):
        self.result = result
        self.gate = gate
        self.calls = 0
        self.on_answer: Callable[[], object] | None = None

    async def send(self, call: Call, observer: CallObserver) -> MessageResult:
        """Answer ``call`` (or raise), after a checkpoint."""
        self.calls += 1
        observer.attempt_started(1)
        await anyio.lowlevel.checkpoint()
        if self.gate is not None:
            await self.gate.wait()
        if self.on_answer is not None:
            self.on_answer()
        if isinstance(self.result, Exception):
            raise self.result
        return self.result


class Recorder(CallObserver):
    """Remembers what the layer told it."""

    def __init__(self) -> None:
        self.served_usd: list[float] = []
        self.texts: list[str] = []
        self.attempts: list[int] = []

    def attempt_started(self, attempt: int) -> None:
        """Note an attempt."""
        self.attempts.append(attempt)

    def text(self, chunk: str) -> None:
        """Note text (the cache layer must never send any)."""
        self.texts.append(chunk)

    def served(self, saved_usd: float, similarity: float | None = None) -> None:
        """Note a served answer."""
        self.served_usd.append(saved_usd)


def call(agent: str | None = "reviewer", **changes: Any) -> Call:
    """A call of ``agent`` for :func:`~tests.test_cache.body` with ``changes``."""
    return Call(body(**changes), agent=agent)


@pytest.fixture
async def disk(tmp_path: Path) -> AsyncIterator[DiskCache]:
    """A DiskCache in a temporary directory."""
    cache = await DiskCache.open(tmp_path / "cache")
    yield cache
    await cache.aclose()


# -- the layer ------------------------------------------------------------------------


async def test_miss_then_hit_served_once_with_zero_usage(disk: DiskCache) -> None:
    """A miss goes down and is stored; the repeat is served once, at zero usage, no text."""
    inner = FakeInner(message())
    cache = ResponseCache(disk, CachePolicy())
    layer: Layer = CacheLayer(inner, cache)
    live, again = Recorder(), Recorder()
    first = await layer.send(call(), live)
    second = await layer.send(call(stream=True), again)
    saved = cost_usd(first.usage, first.model)
    assert inner.calls == 1
    assert (live.served_usd, live.attempts) == ([], [1])
    assert (again.served_usd, again.attempts, again.texts) == ([saved], [], [])
    assert second.text == first.text == "LGTM"
    assert second.usage == Usage()
    assert (cache.hits, cache.misses) == (1, 1)
    assert cache.saved_usd == pytest.approx(saved)
    stats = await disk.statistics()
    assert (stats.hits, stats.misses) == (1, 1)
    assert stats.saved_usd == pytest.approx(saved)


@pytest.mark.parametrize(
    ("policy", "agent"),
    [(CachePolicy(excluded=frozenset({"writer"})), "writer"), (CachePolicy(enabled=False), None)],
    ids=["agent-excluded", "policy-off"],
)
async def test_bypass_reads_and_writes_nothing(
    disk: DiskCache, policy: CachePolicy, agent: str | None
) -> None:
    """A call the policy leaves out goes down every time; nothing is stored or served."""
    inner = FakeInner(message())
    layer = CacheLayer(inner, ResponseCache(disk, policy))
    observer = Recorder()
    for _ in range(2):
        await layer.send(call(agent), observer)
    assert inner.calls == 2
    assert observer.served_usd == []
    assert await disk.get(cache_key(body())) is None
    assert (await disk.statistics()).misses == 0


async def test_no_backend_passes_straight_through() -> None:
    """A cache without a store is no cache: every call goes down."""
    inner = FakeInner(message())
    layer = CacheLayer(inner, ResponseCache(None))
    for _ in range(2):
        await layer.send(call(), Recorder())
    assert inner.calls == 2


async def test_truncated_answer_is_returned_not_stored(disk: DiskCache) -> None:
    """A max_tokens answer is the caller's, but the next identical call goes down again."""
    inner = FakeInner(message(stop_reason="max_tokens"))
    layer = CacheLayer(inner, ResponseCache(disk, CachePolicy()))
    for _ in range(2):
        answer = await layer.send(call(), Recorder())
        assert answer.stop_reason == "max_tokens"
    assert inner.calls == 2


async def test_identical_calls_in_flight_share_one(disk: DiskCache) -> None:
    """Twenty identical calls at once: one goes down, nineteen are served, each told once."""
    gate = anyio.Event()
    inner = FakeInner(message(), gate=gate)
    layer = CacheLayer(inner, ResponseCache(disk, CachePolicy()))
    observers = [Recorder() for _ in range(20)]
    async with anyio.create_task_group() as group:
        for observer in observers:
            group.start_soon(layer.send, call(), observer)
        await anyio.wait_all_tasks_blocked()
        gate.set()
    assert inner.calls == 1
    assert sorted(len(o.served_usd) for o in observers) == [0] + [1] * 19
    assert all(o.texts == [] for o in observers)


async def test_failure_is_shared_and_nothing_stored(disk: DiskCache) -> None:
    """A failing call fails every identical call in flight with its own copy; none is stored."""
    gate = anyio.Event()
    inner = FakeInner(ConfigError("api", "down"), gate=gate)
    layer = CacheLayer(inner, ResponseCache(disk, CachePolicy()))
    errors: list[Exception] = []

    async def one() -> None:
        try:
            await layer.send(call(), Recorder())
        except ConfigError as exc:
            errors.append(exc)

    async with anyio.create_task_group() as group:
        for _ in range(5):
            group.start_soon(one)
        await anyio.wait_all_tasks_blocked()
        gate.set()
    assert inner.calls == 1
    assert len({id(e) for e in errors}) == 5
    assert await disk.get(cache_key(body())) is None


# -- write-behind ---------------------------------------------------------------------


class HopCounter:
    """Counts a store's worker-thread hops (every blocking call goes through ``_in_thread``)."""

    def __init__(self, store: ThreadedStore) -> None:
        self.hops = 0
        real = store._in_thread

        async def counted(fn: Callable[..., Any], *args: Any) -> Any:
            self.hops += 1
            return await real(fn, *args)

        store._in_thread = counted  # type: ignore[method-assign]


@asynccontextmanager
async def held_writes(directory: Path) -> AsyncIterator[tuple[ResponseCache, anyio.Event]]:
    """``open_response_cache`` whose batch writes wait for the gate it yields (a slow store)."""
    gate = anyio.Event()
    async with open_response_cache(config(directory=directory)) as cache:
        assert cache.backend is not None
        assert cache.writer is not None
        real = cache.backend.set_many

        async def held(entries: Any) -> None:
            await gate.wait()
            await real(entries)

        cache.backend.set_many = held  # type: ignore[method-assign]
        yield cache, gate


async def test_stored_answer_is_a_hit_before_it_is_written(tmp_path: Path) -> None:
    """While the writer is still on it, the answer is served from the pending entries."""
    inner = FakeInner(message())
    async with held_writes(tmp_path / "c") as (cache, gate):
        assert cache.backend is not None
        layer = CacheLayer(inner, cache)
        await layer.send(call(), Recorder())
        assert await cache.backend.get(cache_key(body())) is None  # not written yet
        observer = Recorder()
        await layer.send(call(), observer)
        gate.set()
    assert inner.calls == 1
    assert len(observer.served_usd) == 1


async def test_pending_answers_are_on_disk_after_close(tmp_path: Path) -> None:
    """Answers still waiting for the writer when the cache closes are written by the close."""
    inner = FakeInner(message())
    async with held_writes(tmp_path / "c") as (cache, gate):
        layer = CacheLayer(inner, cache)
        for n in range(30):
            await layer.send(call(max_tokens=100 + n), Recorder())
        assert cache.writer is not None
        assert cache.writer.backlog >= 29  # the writer holds at most the first in its batch
        gate.set()
    reopened = await DiskCache.open(tmp_path / "c")
    found = [await reopened.get(cache_key(body(max_tokens=100 + n))) for n in range(30)]
    stats = await reopened.statistics()
    await reopened.aclose()
    assert all(e is not None for e in found)
    assert (stats.entries, stats.misses) == (30, 30)


@pytest.mark.parametrize("cancelled", ["the step", "the whole run"])
async def test_answer_survives_cancellation(tmp_path: Path, cancelled: str) -> None:
    """Cancelling the step as its answer arrives (or the run around the cache) keeps the answer."""
    inner = FakeInner(message())
    with anyio.CancelScope() as run:
        async with open_response_cache(config(directory=tmp_path / "c")) as cache:
            with anyio.CancelScope() as step:
                inner.on_answer = (step if cancelled == "the step" else run).cancel
                await CacheLayer(inner, cache).send(call(), Recorder())
                await anyio.sleep(0)  # the step's next checkpoint: cancelled here
                pytest.fail("the step was not cancelled")
    reopened = await DiskCache.open(tmp_path / "c")
    got = await reopened.get(cache_key(body()))
    await reopened.aclose()
    assert got is not None
    assert got.text == "LGTM"


async def test_many_stores_cost_few_thread_hops(tmp_path: Path) -> None:
    """200 answers stored at once are written in a few batches, not 200 thread hops."""
    inner = FakeInner(message())
    async with open_response_cache(config(directory=tmp_path / "c")) as cache:
        assert isinstance(cache.backend, DiskCache)
        counter = HopCounter(cache.backend)
        layer = CacheLayer(inner, cache)
        async with anyio.create_task_group() as group:
            for n in range(200):
                group.start_soon(layer.send, call(max_tokens=100 + n), Recorder())
        writer = cache.writer
    reopened = await DiskCache.open(tmp_path / "c")
    entries = (await reopened.statistics()).entries
    await reopened.aclose()
    assert (inner.calls, entries) == (200, 200)
    assert writer is not None
    assert 1 <= writer.batches <= 4
    assert counter.hops <= writer.batches + 2  # + the close: the counters' flush, the connections


async def test_store_waits_when_the_writer_is_far_behind(tmp_path: Path) -> None:
    """Past the high-water mark a store waits for the writer, and goes on once it catches up."""
    inner = FakeInner(message())
    async with held_writes(tmp_path / "c") as (cache, gate):
        assert cache.writer is not None
        cache.writer._high_water = 2
        layer = CacheLayer(inner, cache)
        done: list[int] = []

        async def one(n: int) -> None:
            await layer.send(call(max_tokens=100 + n), Recorder())
            done.append(n)

        async with anyio.create_task_group() as group:
            for n in range(4):
                group.start_soon(one, n)
            await anyio.wait_all_tasks_blocked()
            assert len(done) == 2  # the third and fourth wait for room
            gate.set()
    assert sorted(done) == [0, 1, 2, 3]


# -- open_response_cache --------------------------------------------------------------


async def test_open_response_cache_uses_config_directory(tmp_path: Path) -> None:
    """open_response_cache opens the configured disk cache and flushes counters on exit."""
    inner = FakeInner(message())
    async with open_response_cache(config(directory=tmp_path / "c")) as cache:
        layer = CacheLayer(inner, cache)
        for _ in range(2):
            await layer.send(call(), Recorder())
    reopened = await DiskCache.open(tmp_path / "c")
    stats = await reopened.statistics()
    await reopened.aclose()
    assert inner.calls == 1
    assert (stats.entries, stats.hits, stats.misses) == (1, 1, 1)


async def test_open_response_cache_disabled_opens_nothing(tmp_path: Path) -> None:
    """With --no-cache no store is opened and calls go straight through."""
    inner = FakeInner(message())
    async with open_response_cache(config(directory=tmp_path / "c"), no_cache=True) as cache:
        assert (cache.backend, cache.writer) == (None, None)
        await CacheLayer(inner, cache).send(call(), Recorder())
    assert inner.calls == 1
    assert not (tmp_path / "c").exists()


async def test_open_response_cache_lets_the_body_error_out_as_itself(tmp_path: Path) -> None:
    """An error inside the context is that error, not an exception group from the writer's."""
    with pytest.raises(ConfigError, match="boom"):
        async with open_response_cache(config(directory=tmp_path / "c")):
            raise ConfigError("here", "boom")
