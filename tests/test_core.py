"""The core on both event loops: every async test here runs under trio and under asyncio.

The engine, its call stack and its results are anyio code; these tests prove
an asyncio program can embed them as a trio one does (the ``anyio`` mark runs
each test once per backend).
"""

from __future__ import annotations

import math
from typing import Any

import anyio
import httpx
import pytest

from claude_force_trio import (
    Backend,
    CallFinished,
    ConfigError,
    Event,
    RateLimitError,
    StepError,
    StepResult,
    StepTimeoutError,
    open_engine,
)
from claude_force_trio._call import Call, CallObserver
from claude_force_trio._events import StepRetrying
from claude_force_trio._record import RecordingLayer
from claude_force_trio._types import MessageResult, Usage

from .engine_support import FakeAPI, make_config, message, step

pytestmark = pytest.mark.anyio

BACKEND = Backend.url("http://api.test", "test-key-core")


def engine_for(api: FakeAPI, **kw: Any) -> Any:
    """An engine whose transport is ``api`` (no latency unless asked)."""
    config = kw.pop("config", None) or make_config(
        [step("a"), step("b", "a"), step("c", "a"), step("d", "b", "c")]
    )
    return open_engine(config, backend=BACKEND, transport=api.transport, **kw)


async def test_a_workflow_runs_with_dependents_fed(anyio_backend: str) -> None:
    """A diamond runs on this loop; each dependent's prompt carries its inputs."""
    api = FakeAPI(default_latency=0.0)
    async with engine_for(api) as engine:
        result = await engine.run_workflow("wf")
    assert result.ok, [s.error for s in result.steps]
    assert result.execution_order[0] == "a"
    assert result.execution_order[-1] == "d"
    prompt = api.bodies["d"]["messages"][-1]["content"]
    assert "Output of step `b`" in prompt
    assert "Output of step `c`" in prompt


async def test_run_agent_and_run_many(anyio_backend: str) -> None:
    """One agent, and many at once, in input order."""
    api = FakeAPI(default_latency=0.0)
    async with engine_for(api) as engine:
        one = await engine.run_agent("worker", "do <<x>>")
        many = await engine.run_many([("worker", f"do <<m{i}>>") for i in range(5)])
    assert one.ok
    assert one.output == "output of <<x>>"
    assert [r.output for r in many] == [f"output of <<m{i}>>" for i in range(5)]


async def test_streaming_delivers_the_text(anyio_backend: str) -> None:
    """on_text gets the answer (as one chunk from a JSON-only transport)."""
    chunks: list[str] = []
    async with engine_for(FakeAPI(default_latency=0.0)) as engine:
        result = await engine.run_agent("worker", "do <<s>>", on_text=chunks.append)
    assert "".join(chunks) == result.output


async def test_an_api_error_keeps_its_facts(anyio_backend: str) -> None:
    """A 429 result carries its status, request id and exception; raise_for_status raises it."""

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            429,
            headers={"x-should-retry": "false", "request-id": "req_429"},
            json={
                "type": "error",
                "error": {"type": "rate_limit_error", "message": "slow down"},
                "request_id": "req_429",
            },
        )

    config = make_config([step("a")])
    async with open_engine(
        config, backend=BACKEND, transport=httpx.MockTransport(handler)
    ) as engine:
        result = await engine.run_agent("worker", "do <<a>>")
    assert result.status == "failed"
    assert (result.error_type, result.error_status, result.request_id) == (
        "RateLimitError",
        429,
        "req_429",
    )
    assert isinstance(result.exception, RateLimitError)
    assert result.to_dict()["error_status"] == 429
    assert "exception" not in result.to_dict()
    with pytest.raises(RateLimitError, match="slow down"):
        result.raise_for_status()


async def test_a_step_timeout_is_a_step_timeout_error(anyio_backend: str) -> None:
    """A step past its deadline is timed_out with a StepTimeoutError it can raise."""
    api = FakeAPI(default_latency=5.0)
    async with engine_for(api, config=make_config([step("a", timeout_s=0.05)])) as engine:
        result = await engine.run_workflow("wf")
    outcome = result.step("a")
    assert outcome.status == "timed_out"
    assert isinstance(outcome.exception, StepTimeoutError)
    assert outcome.exception.timeout_s == 0.05
    with pytest.raises(StepTimeoutError):
        outcome.raise_for_status()
    assert api.cancelled == ["a"]


async def test_skipped_steps_raise_step_error(anyio_backend: str) -> None:
    """A skipped step has no exception of its own: raise_for_status raises StepError."""
    api = FakeAPI(default_latency=0.0, fail={"a": 400})
    async with engine_for(api) as engine:
        result = await engine.run_workflow("wf")
    skipped = result.step("d")
    assert skipped.status == "skipped"
    with pytest.raises(StepError, match="'d' skipped"):
        skipped.raise_for_status()
    assert result.step("a").error_status == 400
    assert StepResult(id="x", agent="a", status="succeeded").raise_for_status().ok


@pytest.mark.parametrize("bad", [0, -1.0, math.nan])
async def test_bad_timeouts_are_value_errors(anyio_backend: str, bad: float) -> None:
    """A zero, negative or NaN timeout is a ValueError, not "the default"."""
    async with engine_for(FakeAPI(default_latency=0.0)) as engine:
        with pytest.raises(ValueError, match="timeout_s"):
            await engine.run_workflow("wf", timeout_s=bad)
        with pytest.raises(ValueError, match="step_timeout_s"):
            await engine.run_workflow("wf", step_timeout_s=bad)
        with pytest.raises(ValueError, match="timeout_s"):
            await engine.run_agent("worker", "x", timeout_s=bad)


async def test_no_backend_is_refused_not_faked(
    anyio_backend: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With no key, no base URL and no backend, the library raises instead of simulating."""
    for name in ("ANTHROPIC_API_KEY", "ANTHROPIC_AUTH_TOKEN", "ANTHROPIC_BASE_URL"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(ConfigError, match='backend="simulator"'):
        async with open_engine(make_config()):
            pass  # pragma: no cover - never reached


async def test_every_call_is_recorded_once(anyio_backend: str) -> None:
    """The top layer emits one CallFinished per call: answered, cached or failed."""
    events: list[Event] = []
    api = FakeAPI(default_latency=0.0, fail={"c": 400})
    async with engine_for(api, hooks=[events.append]) as engine:
        await engine.run_workflow("wf", keep_going=True)
    calls = [e for e in events if isinstance(e, CallFinished)]
    assert sorted((c.step_id, c.error_type) for c in calls) == [
        ("a", None),
        ("b", None),
        ("c", "BadRequestError"),
    ]
    assert all(c.attempts == 1 and not c.cached for c in calls)


class _Served:
    """A layer that answers from 'the cache': it tells the observer, sends nothing."""

    async def send(self, call: Call, observer: CallObserver) -> MessageResult:
        observer.served(0.25)
        return MessageResult(id="m", model=call.model, text="cached", stop_reason="end_turn")


class _Retries:
    """A layer that reports one retried attempt and then answers."""

    async def send(self, call: Call, observer: CallObserver) -> MessageResult:
        observer.attempt_started(1)
        observer.attempt_started(2)
        return MessageResult(
            id="m", model=call.model, text="ok", stop_reason="end_turn", usage=Usage(3, 4)
        )


async def test_recording_layer_alone(anyio_backend: str) -> None:
    """The recording layer notes a served answer and the attempts below it."""
    seen: list[Event] = []
    observer = CallObserver()
    call = Call({"model": "claude-haiku-4-5"}, "agent", run_id="r", step_id="s")
    await RecordingLayer(_Served(), seen.append).send(call, observer)
    await RecordingLayer(_Retries(), seen.append).send(call, observer)
    assert [(e.cached, e.attempts, e.usage) for e in seen if isinstance(e, CallFinished)] == [
        (True, 0, Usage()),
        (False, 2, Usage(3, 4)),
    ]


async def test_retries_are_seen_by_hooks(anyio_backend: str) -> None:
    """A 529 then a 200 on this loop: one StepRetrying, two requests, one success."""
    from claude_force_trio import set_testing

    calls = 0

    def handler(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        if calls == 1:
            overloaded = {"type": "error", "error": {"type": "overloaded_error"}}
            return httpx.Response(529, json=overloaded)
        return httpx.Response(200, json=message("fine"))

    events: list[Event] = []
    set_testing(True)
    try:
        async with open_engine(
            make_config([step("a")]),
            backend=BACKEND,
            transport=httpx.MockTransport(handler),
            hooks=[events.append],
        ) as engine:
            result = await engine.run_agent("worker", "go")
    finally:
        set_testing(False)
    assert (result.ok, result.attempts, calls) == (True, 2, 2)
    assert [type(e) for e in events if isinstance(e, StepRetrying)] == [StepRetrying]


async def test_stop_with_an_anyio_event(anyio_backend: str) -> None:
    """An anyio.Event stops a run on either loop; the result says cancelled."""
    stop = anyio.Event()
    api = FakeAPI(default_latency=10.0)
    async with engine_for(api) as engine, anyio.create_task_group() as group:

        async def press() -> None:
            await anyio.sleep(0.05)
            stop.set()

        group.start_soon(press)
        result = await engine.run_workflow("wf", stop=stop)
    assert result.status == "cancelled"
    assert result.step("a").status == "cancelled"
