"""The resilience pipeline inside the engine: retries, slots, holds, deadlines, fault storms."""

from __future__ import annotations

import dataclasses
import json
import random
import re
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import trio
import trio.testing

from claude_force_trio._api._retry import set_testing
from claude_force_trio._backend import Backend
from claude_force_trio._config import CircuitBreakerConfig, Config, RetryConfig
from claude_force_trio._engine import open_engine
from claude_force_trio._events import (
    CallFinished,
    ConcurrencyChanged,
    Event,
    StepQueued,
    StepRetrying,
    StepStarted,
    StepSucceeded,
)
from claude_force_trio.simulator import Fault, open_simulator

from .engine_support import make_config, message, step

BACKEND = Backend.url("http://api.test", "sk-test-key")
MARKER = re.compile(r"<<(?P<id>[\w.-]+)>>")


def own_step(body: dict[str, Any]) -> str:
    """The step id in the request's own task (not in its dependencies' outputs)."""
    text = body["messages"][-1]["content"]
    own = text.split("# Your task", 1)[-1].split("\n## ", 1)[0]
    found = MARKER.search(own)
    return found["id"] if found else "?"


class HalfJitter(random.Random):
    """A 'random' source whose jitter is always half the ceiling, for exact virtual times."""

    def uniform(self, a: float, b: float) -> float:
        """Return the midpoint."""
        return (a + b) / 2


class ScriptedAPI:
    """A Messages API answering each step's requests from its own script, in virtual time.

    ``script[step]`` lists answers in order: an HTTP status (with ``headers``), or
    ``None`` for a normal 200 message. Unscripted requests succeed. ``hang`` never
    answers. Every request is logged as ``(step, time)``.
    """

    def __init__(
        self,
        script: dict[str, list[tuple[int, dict[str, str]] | None]] | None = None,
        *,
        latency: float = 0.5,
        hang: bool = False,
    ) -> None:
        self.script = {k: list(v) for k, v in (script or {}).items()}
        self.latency = latency
        self.hang = hang
        self.log: list[tuple[str, float]] = []
        self.in_flight = 0

    async def handler(self, request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        step_id = own_step(body)
        self.log.append((step_id, trio.current_time()))
        self.in_flight += 1
        try:
            await (trio.sleep_forever() if self.hang else trio.sleep(self.latency))
        finally:
            self.in_flight -= 1
        answers = self.script.get(step_id)
        answer = answers.pop(0) if answers else None
        if answer is None:
            return httpx.Response(200, json=message(f"output of <<{step_id}>>", body["model"]))
        status, headers = answer
        error = {"type": "error", "error": {"type": "overloaded_error", "message": "scripted"}}
        return httpx.Response(status, headers=headers, json=error)

    def times(self, step_id: str) -> list[float]:
        """When each of the step's requests arrived."""
        return [t for s, t in self.log if s == step_id]


def engine_for(api: ScriptedAPI, config: Config | None = None, **kw: Any) -> Any:
    """An engine on the scripted API with a deterministic jitter source."""
    return open_engine(
        config or make_config(),
        backend=BACKEND,
        transport=httpx.MockTransport(api.handler),
        rng=HalfJitter(),
        **kw,
    )


@pytest.fixture
def testing_off() -> Iterator[None]:
    """Restore normal (waiting) mode after a test that switches test mode on."""
    yield
    set_testing(False)


async def test_529_529_200_succeeds_on_the_third_attempt(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """Two 529s then a 200: attempts == 3, StepRetrying with the exact backoff delays."""
    api = ScriptedAPI({"a": [(529, {}), (529, {})]})
    events: list[Event] = []
    async with engine_for(api, hooks=[events.append]) as engine:
        result = await engine.run_agent("worker", "do <<a>>")
    assert result.ok
    assert result.attempts == 3
    # latency 0.5; backoff ceilings 0.5 then 1.0, jitter at half: 0.25 and 0.5.
    assert api.times("a") == [0.0, 0.75, 1.75]
    assert result.elapsed_s == 2.25
    retries = [e for e in events if isinstance(e, StepRetrying)]
    assert [(e.attempt, e.delay_s, e.error_type, e.at) for e in retries] == [
        (1, 0.25, "OverloadedError", 0.5),
        (2, 0.5, "OverloadedError", 1.25),
    ]
    assert "HTTP 529" in retries[0].error
    kinds = [type(e) for e in events]
    assert kinds == [
        StepQueued,
        StepStarted,
        StepRetrying,
        StepRetrying,
        CallFinished,
        StepSucceeded,
    ]


async def test_retry_after_sets_the_delay(autojump_clock: trio.testing.MockClock) -> None:
    """A 503 with retry-after-ms waits exactly that, not the backoff."""
    api = ScriptedAPI({"a": [(503, {"retry-after-ms": "1250", "retry-after": "9"})]})
    async with engine_for(api) as engine:
        result = await engine.run_agent("worker", "do <<a>>")
    assert (result.ok, result.attempts) == (True, 2)
    assert api.times("a") == [0.0, 1.75]


async def test_400_fails_at_once(autojump_clock: trio.testing.MockClock) -> None:
    """A 400 is not retried: one request, attempts == 1, a clear error."""
    api = ScriptedAPI({"a": [(400, {})]})
    events: list[Event] = []
    async with engine_for(api, hooks=[events.append]) as engine:
        result = await engine.run_agent("worker", "do <<a>>")
    assert (result.status, result.attempts, result.error_type) == ("failed", 1, "BadRequestError")
    assert api.times("a") == [0.0]
    assert not [e for e in events if isinstance(e, StepRetrying)]


async def test_exhausted_retries_report_every_attempt(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """Four 500s with retry-after 1: the step fails after exactly four requests."""
    api = ScriptedAPI({"a": [(500, {"retry-after": "1"})] * 4})
    async with engine_for(api) as engine:
        result = await engine.run_agent("worker", "do <<a>>")
    assert (result.status, result.attempts, result.error_type) == (
        "failed",
        4,
        "InternalServerError",
    )
    assert api.times("a") == [0.0, 1.5, 3.0, 4.5]


async def test_waiting_to_retry_holds_no_slot(autojump_clock: trio.testing.MockClock) -> None:
    """With one slot, another step runs while the first waits out its retry-after."""
    api = ScriptedAPI({"a": [(529, {"retry-after": "2"})]})
    async with engine_for(api, max_concurrency=1) as engine, trio.open_nursery() as nursery:
        nursery.start_soon(engine.run_agent, "worker", "do <<a>>")
        await trio.sleep(0.25)
        nursery.start_soon(engine.run_agent, "worker", "do <<b>>")
    assert api.times("b") == [0.5]
    assert api.times("a") == [0.0, 2.5]


async def test_429_holds_every_step_and_halves_the_limit(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """A 429 with retry-after 2 delays other steps' new requests too; the limit halves."""
    api = ScriptedAPI({"a": [(429, {"retry-after": "2"})]})
    events: list[Event] = []
    async with (
        engine_for(api, max_concurrency=4, hooks=[events.append]) as engine,
        trio.open_nursery() as nursery,
    ):
        nursery.start_soon(engine.run_agent, "worker", "do <<a>>")
        await trio.sleep(1.0)
        nursery.start_soon(engine.run_agent, "worker", "do <<b>>")
    assert api.times("a") == [0.0, 2.5]
    assert api.times("b") == [2.5]
    changes = [(e.limit, e.reason, e.at) for e in events if isinstance(e, ConcurrencyChanged)]
    assert changes == [(2, "rate limited (429)", 0.5), (3, "success", 3.0), (4, "success", 3.0)]
    assert engine.max_concurrency == 4


async def test_step_deadline_bounds_the_retries(autojump_clock: trio.testing.MockClock) -> None:
    """The step's own timeout covers retries and waits: timed out at exactly 2.0 s."""
    api = ScriptedAPI({"a": [(529, {"retry-after": "1"})] * 10})
    config = dataclasses.replace(make_config(), retry=RetryConfig(max_attempts=10))
    async with engine_for(api, config) as engine:
        result = await engine.run_agent("worker", "do <<a>>", timeout_s=2.0)
    assert (result.status, result.attempts, result.elapsed_s) == ("timed_out", 2, 2.0)
    assert api.times("a") == [0.0, 1.5]
    assert trio.current_time() == 2.0


async def test_set_testing_retries_without_waiting(
    autojump_clock: trio.testing.MockClock, testing_off: None
) -> None:
    """In test mode a 429 with retry-after 30 is retried at once."""
    set_testing(True)
    api = ScriptedAPI({"a": [(429, {"retry-after": "30"})]})
    async with engine_for(api) as engine:
        result = await engine.run_agent("worker", "do <<a>>")
    assert (result.ok, result.attempts, result.elapsed_s) == (True, 2, 1.0)


async def test_hung_server_times_out_and_leaves_nothing_running(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """A server that never answers: the step times out at its deadline, the request is gone."""
    api = ScriptedAPI(hang=True)
    async with engine_for(api) as engine:
        result = await engine.run_agent("worker", "do <<a>>", timeout_s=3.0)
        assert api.in_flight == 0
    assert (result.status, result.attempts, result.elapsed_s) == ("timed_out", 1, 3.0)
    assert result.error == "timed out after 3 s"
    assert trio.current_time() == 3.0


# -- against the real simulator, over loopback, in real time ------------------------------

STORM_KINDS = ("429", "529", "500", "reset", "stream_error")


def storm_config() -> Config:
    """200 steps: 20 roots, each the head of a chain of 10; fast retries; a tolerant breaker."""
    steps = []
    for root in range(20):
        steps.append(step(f"r{root}-0"))
        steps.extend(step(f"r{root}-{i}", f"r{root}-{i - 1}") for i in range(1, 10))
    config = make_config(steps, max_concurrency=16, step_timeout_s=30.0)
    # At ~24% health failures, five in a row somewhere in ~300 requests is likely;
    # this test is about retries, so the breaker only trips on a real outage.
    return dataclasses.replace(
        config,
        retry=RetryConfig(max_attempts=12, initial_delay_s=0.001, max_delay_s=0.01),
        circuit_breaker=CircuitBreakerConfig(failure_threshold=1000),
    )


def storm_script(seed: int, length: int) -> list[Fault | None]:
    """About 30% faults, drawn from a seeded rng: 429 (5 ms retry-after), 529, 500, resets."""
    rng = random.Random(seed)
    script: list[Fault | None] = []
    for _ in range(length):
        if rng.random() < 0.3:
            kind = rng.choice(STORM_KINDS)
            script.append(Fault(kind, retry_after_ms=5) if kind == "429" else Fault(kind))
        else:
            script.append(None)
    return script


@pytest.mark.slow
async def test_fault_storm_workflow_succeeds_with_one_success_per_step() -> None:
    """200 steps under ~30% injected faults all succeed; exactly one 200 per step in the log."""
    config = storm_config()
    with trio.fail_after(30):
        async with open_simulator(ttft_ms=0, tokens_per_s=0) as sim:
            sim.script(*storm_script(seed=4, length=2000))
            async with open_engine(config, backend=Backend.url(sim.url, "sk-sim")) as engine:
                result = await engine.run_workflow("wf")
            records = [r for r in sim.requests if r.path == "/v1/messages"]
    assert result.status == "succeeded", [s.error for s in result.steps if not s.ok][:3]
    assert len(result.steps) == 200
    faults = [r for r in records if r.fault]
    assert {r.fault for r in faults} == set(STORM_KINDS)
    assert 0.2 < len(faults) / len(records) < 0.4
    ok = [r for r in records if r.status == 200]
    assert len(ok) == 200
    assert sorted(own_step(dict(r.body or {})) for r in ok) == sorted(s.id for s in result.steps)
    assert sum(s.attempts for s in result.steps) == len(records)


@pytest.mark.slow
async def test_hung_simulator_times_out_and_closes_the_connection() -> None:
    """A simulator that accepts and never answers: timed out at the deadline, request abandoned."""
    with trio.fail_after(10):
        async with open_simulator(ttft_ms=0, tokens_per_s=0) as sim:
            sim.script(*["stall"] * 5)
            config = make_config()
            async with open_engine(config, backend=Backend.url(sim.url, "sk-sim")) as engine:
                start = trio.current_time()
                result = await engine.run_agent("worker", "do <<a>>", timeout_s=0.3)
                took = trio.current_time() - start
            # The server sees the client go away: the stalled request is logged as unanswered.
            while not sim.requests:
                await trio.sleep(0.01)
            records = sim.requests
    assert (result.status, result.attempts) == ("timed_out", 1)
    assert 0.3 <= took < 1.0
    assert [(r.fault, r.status) for r in records] == [("stall", None)]
