"""OpenTelemetry: the spans and metrics ``TraceHook`` makes of real runs, exported to memory.

The workflow: A ∥ B → C, where A calls the ``lookup`` tool once, and F → D,
where F is refused (HTTP 400) and D is skipped (``on_failure: continue``).
"""

from __future__ import annotations

import json
import logging
import re
import subprocess
import sys
import textwrap
import time
import types
from collections.abc import Iterator
from dataclasses import replace
from typing import Any, ClassVar

import anyio
import httpx
import pytest
import trio
import trio.testing
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import HistogramDataPoint, InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from claude_force_trio._backend import Backend
from claude_force_trio._config import Config, StepConfig
from claude_force_trio._engine import open_engine
from claude_force_trio._events import StepQueued
from claude_force_trio._metrics import TraceHook, _otel, telemetry_hooks
from claude_force_trio._metrics import _otel_setup as setup

from .engine_support import make_config

BACKEND = Backend.url("http://api.test", "sk-test-key")
MODEL = "claude-sonnet-4-5"
ANSWERED_BY = f"{MODEL}-20250929"
CHAT = f"chat {MODEL}"
MARK = re.compile(r"\[\[(\w+)\]\]")
#: Seconds each step's request takes on the fake API (each of A's two calls, too).
LATENCY = {"A": 0.25, "B": 1.0, "C": 0.5, "F": 0.25, "T": 5.0}
TOOL_S = 0.125
USAGE = {
    "input_tokens": 10,
    "output_tokens": 5,
    "cache_read_input_tokens": 3,
    "cache_creation_input_tokens": 2,
}


class Telemetry:
    """An SDK tracer provider exporting to memory, and a meter provider read in memory."""

    def __init__(self) -> None:
        self.exporter = InMemorySpanExporter()
        self.tracer_provider = TracerProvider()
        self.tracer_provider.add_span_processor(SimpleSpanProcessor(self.exporter))
        self.reader = InMemoryMetricReader()
        self.meter_provider = MeterProvider(metric_readers=[self.reader])

    def hook(self) -> TraceHook:
        """A hook sending to these providers."""
        return TraceHook(self.tracer_provider, self.meter_provider)

    def spans(self, name: str | None = None) -> list[ReadableSpan]:
        """Ended spans (those called ``name``), in the order they ended."""
        found = self.exporter.get_finished_spans()
        return [span for span in found if name is None or span.name == name]

    def one(self, name: str) -> ReadableSpan:
        """The one ended span called ``name``."""
        (span,) = self.spans(name)
        return span

    def points(self, metric: str) -> dict[frozenset[tuple[str, Any]], tuple[int, float]]:
        """``metric``'s data points: their attributes → (count, sum)."""
        data = self.reader.get_metrics_data()
        assert data is not None
        found: dict[frozenset[tuple[str, Any]], tuple[int, float]] = {}
        for resource in data.resource_metrics:
            for scope in resource.scope_metrics:
                for instrument in scope.metrics:
                    if instrument.name != metric:
                        continue
                    for point in instrument.data.data_points:
                        assert isinstance(point, HistogramDataPoint)
                        found[frozenset((point.attributes or {}).items())] = (
                            point.count,
                            point.sum,
                        )
        return found


@pytest.fixture
def telemetry() -> Iterator[Telemetry]:
    """Fresh in-memory providers, shut down after the test."""
    made = Telemetry()
    yield made
    made.tracer_provider.shutdown()
    made.meter_provider.shutdown()


def _reply(content: dict[str, Any], stop: str, n: int) -> dict[str, Any]:
    return {
        "id": f"msg_{n}",
        "type": "message",
        "role": "assistant",
        "model": ANSWERED_BY,
        "content": [content],
        "stop_reason": stop,
        "stop_sequence": None,
        "usage": USAGE,
    }


class FakeAPI:
    """``A`` asks for ``lookup`` once; ``F`` is refused (400); all wait LATENCY × scale."""

    def __init__(self, scale: float) -> None:
        self.scale = scale
        self.n = 0

    async def handler(self, request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        first = body["messages"][0]["content"]
        text = first if isinstance(first, str) else json.dumps(first)
        step = MARK.findall(text)[-1]
        await anyio.sleep(LATENCY[step] * self.scale)
        self.n += 1
        headers = {"request-id": f"req_{self.n}"}
        if step == "F":
            error = {"type": "invalid_request_error", "message": "scripted refusal"}
            return httpx.Response(400, json={"type": "error", "error": error}, headers=headers)
        if step == "A" and len(body["messages"]) == 1:
            use = {"type": "tool_use", "id": "toolu_1", "name": "lookup", "input": {"key": "x"}}
            return httpx.Response(200, json=_reply(use, "tool_use", self.n), headers=headers)
        answer = {"type": "text", "text": f"done {step.lower()}"}
        return httpx.Response(200, json=_reply(answer, "end_turn", self.n), headers=headers)


def lookup_tool(delay_s: float) -> Any:
    """The ``lookup`` library tool, taking ``delay_s``."""

    async def lookup(key: str) -> str:
        """Look a key up.

        Args:
            key: what to look up.
        """
        await anyio.sleep(delay_s)
        return f"value of {key}"

    return lookup


def workflow_config(*, cache: bool = False) -> Config:
    """Workflow ``wf`` (the module docstring); the worker agent may call ``lookup``."""

    def make(step_id: str, *deps: str) -> StepConfig:
        return StepConfig(step_id, "worker", f"do [[{step_id}]]", tuple(deps), path=step_id)

    config = make_config(
        [make("A"), make("B"), make("C", "A", "B"), make("F"), make("D", "F")],
        on_failure="continue",
        cache=cache,
    )
    worker = replace(config.agents["worker"], tools=("lookup",))
    return replace(config, agents={**config.agents, "worker": worker})


def engine(hook: TraceHook, *, scale: float = 1.0, cache: bool = False) -> Any:
    """An engine on the fake API with ``hook`` among its hooks."""
    return open_engine(
        workflow_config(cache=cache),
        backend=BACKEND,
        transport=httpx.MockTransport(FakeAPI(scale).handler),
        hooks=[hook],
        tools=[lookup_tool(TOOL_S * scale)],
        memory=False,
    )


def span_id(span: ReadableSpan) -> int:
    """A span's own id."""
    assert span.context is not None
    return int(span.context.span_id)


def parent_id(span: ReadableSpan) -> int | None:
    """The id of a span's parent, ``None`` for a root."""
    return span.parent.span_id if span.parent is not None else None


@pytest.mark.anyio
async def test_a_workflow_makes_the_span_tree(telemetry: Telemetry) -> None:
    """workflow → five steps → five chat spans and one execute_tool span: names, kinds, parents."""
    hook = telemetry.hook()
    async with engine(hook, scale=0.0) as opened:
        result = await opened.run_workflow("wf")
    assert result.status == "failed"
    assert sorted(span.name for span in telemetry.spans()) == sorted(
        [CHAT] * 5 + ["execute_tool lookup", "workflow wf"] + [f"step {s}" for s in "ABCDF"]
    )
    workflow = telemetry.one("workflow wf")
    assert (workflow.parent, workflow.kind) == (None, SpanKind.INTERNAL)
    steps = {s: telemetry.one(f"step {s}") for s in "ABCDF"}
    assert {parent_id(step) for step in steps.values()} == {span_id(workflow)}
    assert {step.kind for step in steps.values()} == {SpanKind.INTERNAL}
    owner = {span_id(step): name for name, step in steps.items()}
    chats = telemetry.spans(CHAT)
    assert sorted(owner[parent_id(chat) or 0] for chat in chats) == ["A", "A", "B", "C", "F"]
    assert {chat.kind for chat in chats} == {SpanKind.CLIENT}
    tool = telemetry.one("execute_tool lookup")
    assert (parent_id(tool), tool.kind) == (span_id(steps["A"]), SpanKind.INTERNAL)
    assert {span.context.trace_id for span in telemetry.spans() if span.context} == {
        workflow.context.trace_id if workflow.context else 0
    }
    assert hook.open_runs == 0


async def test_span_times_are_the_engine_clock(
    telemetry: Telemetry, autojump_clock: trio.testing.MockClock
) -> None:
    """Start and end of every span, from the workflow's start, are the virtual times exactly."""
    async with engine(telemetry.hook()) as opened:
        await opened.run_workflow("wf")
    zero = telemetry.one("workflow wf").start_time or 0

    def at(span: ReadableSpan) -> tuple[float, float]:
        return ((span.start_time or 0) - zero) / 1e9, ((span.end_time or 0) - zero) / 1e9

    assert {span.name: at(span) for span in telemetry.spans() if span.name != CHAT} == {
        "workflow wf": (0.0, 1.5),
        "step A": (0.0, 0.625),
        "execute_tool lookup": (0.25, 0.375),
        "step B": (0.0, 1.0),
        "step C": (1.0, 1.5),
        "step F": (0.0, 0.25),
        "step D": (1.5, 1.5),  # skipped when the run ends
    }
    chats = {
        (span.attributes or {}).get("gen_ai.response.id", "F"): at(span)
        for span in telemetry.spans(CHAT)
    }
    assert sorted(chats.values()) == [
        (0.0, 0.25),
        (0.0, 0.25),
        (0.0, 1.0),
        (0.375, 0.625),
        (1.0, 1.5),
    ]


async def test_chat_spans_carry_the_genai_attributes(
    telemetry: Telemetry, autojump_clock: trio.testing.MockClock
) -> None:
    """An answered call, and a refused one: every attribute, and the status."""
    async with engine(telemetry.hook()) as opened:
        result = await opened.run_workflow("wf")
    by_step: dict[str, list[ReadableSpan]] = {}
    for span in telemetry.spans(CHAT):
        by_step.setdefault(str((span.attributes or {})["cft.step_id"]), []).append(span)
    (b,) = by_step["B"]
    common = {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "anthropic",
        "gen_ai.request.model": MODEL,
        "cft.cache_hit": False,
        "cft.attempts": 1,
        "cft.run_id": result.run_id,
    }
    assert dict(b.attributes or {}) == {
        **common,
        "cft.step_id": "B",
        "cft.request_id": (b.attributes or {})["cft.request_id"],
        "gen_ai.response.id": (b.attributes or {})["gen_ai.response.id"],
        "gen_ai.response.model": ANSWERED_BY,
        "gen_ai.response.finish_reasons": ("end_turn",),
        "gen_ai.usage.input_tokens": 15,  # 10 uncached + 3 read + 2 written
        "gen_ai.usage.output_tokens": 5,
        "gen_ai.usage.cache_read.input_tokens": 3,
        "gen_ai.usage.cache_creation.input_tokens": 2,
    }
    assert str((b.attributes or {})["gen_ai.response.id"]).startswith("msg_")
    assert b.status.status_code is StatusCode.UNSET
    assert [
        span.attributes["gen_ai.response.finish_reasons"]
        for span in by_step["A"]
        if span.attributes
    ] == [
        ("tool_use",),
        ("end_turn",),
    ]
    (f,) = by_step["F"]
    assert dict(f.attributes or {}) == {
        **common,
        "cft.step_id": "F",
        "cft.request_id": (f.attributes or {})["cft.request_id"],
        "error.type": "BadRequestError",
    }
    assert (f.status.status_code, f.status.description) == (StatusCode.ERROR, "BadRequestError")


async def test_steps_workflow_and_tool_say_how_they_ended(
    telemetry: Telemetry, autojump_clock: trio.testing.MockClock
) -> None:
    """Failed steps and runs are ERROR with why; successes UNSET; the tool span names its call."""
    async with engine(telemetry.hook()) as opened:
        result = await opened.run_workflow("wf")
    f, a, d = (telemetry.one(f"step {s}") for s in "FAD")
    why = result.steps[3].error
    assert why is not None
    assert "scripted refusal" in why
    assert (f.status.status_code, f.status.description) == (StatusCode.ERROR, why)
    assert (f.attributes or {})["error.type"] == "BadRequestError"
    assert (f.attributes or {})["cft.status"] == "failed"
    assert a.status.status_code is StatusCode.UNSET
    assert {k: v for k, v in (a.attributes or {}).items() if not k.startswith("cft.")} == {
        "gen_ai.operation.name": "invoke_agent",
        "gen_ai.provider.name": "anthropic",
        "gen_ai.agent.name": "worker",
        "gen_ai.request.model": MODEL,
        "gen_ai.usage.input_tokens": 30,
        "gen_ai.usage.output_tokens": 10,
    }
    assert [(a.attributes or {})[k] for k in ("cft.status", "cft.attempts", "cft.turns")] == [
        "succeeded",
        2,
        2,
    ]
    assert (d.attributes or {})["cft.status"] == "skipped"
    assert "gen_ai.usage.input_tokens" not in (d.attributes or {})
    assert d.status.status_code is StatusCode.UNSET
    workflow = telemetry.one("workflow wf")
    assert (workflow.status.status_code, workflow.status.description) == (
        StatusCode.ERROR,
        f"step F: {why}",
    )
    assert {
        k: (workflow.attributes or {})[k]
        for k in (
            "gen_ai.operation.name",
            "gen_ai.workflow.name",
            "cft.status",
            "error.type",
            "gen_ai.usage.input_tokens",
        )
    } == {
        "gen_ai.operation.name": "invoke_workflow",
        "gen_ai.workflow.name": "wf",
        "cft.status": "failed",
        "error.type": "BadRequestError",
        "gen_ai.usage.input_tokens": 60,
    }
    tool = telemetry.one("execute_tool lookup")
    assert dict(tool.attributes or {}) == {
        "gen_ai.operation.name": "execute_tool",
        "gen_ai.tool.name": "lookup",
        "gen_ai.tool.call.id": "toolu_1",
        "cft.turn": 1,
        "cft.run_id": result.run_id,
        "cft.step_id": "A",
    }


async def test_metrics_count_tokens_and_durations(
    telemetry: Telemetry, autojump_clock: trio.testing.MockClock
) -> None:
    """Token usage by type for the four answered calls; durations split by error type."""
    async with engine(telemetry.hook()) as opened:
        await opened.run_workflow("wf")
    base = {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "anthropic",
        "gen_ai.request.model": MODEL,
    }
    answered = {**base, "gen_ai.response.model": ANSWERED_BY}
    assert telemetry.points("gen_ai.client.token.usage") == {
        frozenset({**answered, "gen_ai.token.type": "input"}.items()): (4, 60),
        frozenset({**answered, "gen_ai.token.type": "output"}.items()): (4, 20),
    }
    assert telemetry.points("gen_ai.client.operation.duration") == {
        frozenset(answered.items()): (4, 2.0),
        frozenset({**base, "error.type": "BadRequestError"}.items()): (1, 0.25),
    }


async def test_a_cached_call_is_marked_and_uses_no_tokens(
    telemetry: Telemetry, autojump_clock: trio.testing.MockClock
) -> None:
    """The second identical run_agent is served: cft.cache_hit, no usage, no metric points."""
    async with engine(telemetry.hook(), cache=True) as opened:
        first = await opened.run_agent("other", "do [[B]]")
        second = await opened.run_agent("other", "do [[B]]")
    assert (first.cached, second.cached) == (False, True)
    answered, served = telemetry.spans(CHAT)
    assert (answered.attributes or {})["cft.cache_hit"] is False
    assert (served.attributes or {})["cft.cache_hit"] is True
    assert (served.attributes or {})["cft.attempts"] == 0
    assert not any(k.startswith("gen_ai.usage.") for k in (served.attributes or {}))
    tokens = telemetry.points("gen_ai.client.token.usage")
    assert sorted(count for count, _ in tokens.values()) == [1, 1]
    durations = telemetry.points("gen_ai.client.operation.duration")
    assert [count for count, _ in durations.values()] == [1]


async def test_run_agent_is_a_root_step_or_a_child_of_the_callers_span(
    telemetry: Telemetry, autojump_clock: trio.testing.MockClock
) -> None:
    """No workflow span: the step is a root, or the child of the span current at the call."""
    hook = telemetry.hook()
    tracer = telemetry.tracer_provider.get_tracer("app")
    async with engine(hook) as opened:
        await opened.run_agent("other", "do [[B]]")
        assert hook.open_runs == 0
        with tracer.start_as_current_span("app request"):
            await opened.run_agent("other", "do [[C]]")
    first, second = telemetry.spans("step other")
    assert first.parent is None
    assert parent_id(second) == span_id(telemetry.one("app request"))
    assert [parent_id(chat) for chat in telemetry.spans(CHAT)] == [span_id(first), span_id(second)]
    assert not telemetry.spans("workflow wf")


async def test_a_timed_out_step_is_an_error(
    telemetry: Telemetry, autojump_clock: trio.testing.MockClock
) -> None:
    """A step past its deadline: ERROR, error.type StepTimeoutError, ended at the deadline."""
    async with engine(telemetry.hook()) as opened:
        result = await opened.run_agent("other", "do [[T]]", timeout_s=1.0)
    assert result.status == "timed_out"
    step = telemetry.one("step other")
    assert (step.status.status_code, step.status.description) == (StatusCode.ERROR, result.error)
    assert (step.attributes or {})["error.type"] == "StepTimeoutError"
    assert ((step.end_time or 0) - (step.start_time or 0)) / 1e9 == 1.0


async def test_memory_is_released_after_every_run(
    telemetry: Telemetry, autojump_clock: trio.testing.MockClock
) -> None:
    """200 runs leave nothing open: every span ended, every run forgotten."""
    hook = telemetry.hook()
    async with engine(hook, scale=0.0) as opened:
        for _ in range(100):
            await opened.run_agent("other", "do [[B]]")
            await opened.run_workflow("wf")
    assert hook.open_runs == 0
    assert len(telemetry.spans()) == 100 * (2 + 12)


def test_open_runs_are_bounded(telemetry: Telemetry, monkeypatch: pytest.MonkeyPatch) -> None:
    """Runs that never end are ended and dropped, oldest first, past MAX_OPEN_RUNS."""
    monkeypatch.setattr(_otel, "MAX_OPEN_RUNS", 3)

    async def main() -> TraceHook:
        hook = telemetry.hook()
        for n in range(5):
            hook(StepQueued(f"run-{n}", "s", "agent", anyio.current_time()))
        return hook

    hook = trio.run(main)
    assert (hook.open_runs, hook.abandoned) == (3, 2)
    ended = telemetry.spans("step s")
    assert [(s.attributes or {})["cft.run_id"] for s in ended] == ["run-0", "run-1"]
    assert all((s.attributes or {})["cft.abandoned"] is True for s in ended)


def test_a_hook_made_outside_a_loop_maps_times_to_now(telemetry: Telemetry) -> None:
    """Made outside an event loop, the hook reads the clock offset at its first event."""
    hook = telemetry.hook()

    async def main() -> None:
        hook(StepQueued("r", "s", "agent", anyio.current_time()))

    before = time.time_ns()
    trio.run(main)
    hook._runs["r"].steps["s"].span.end()
    (span,) = telemetry.spans()
    assert before - 10**9 < (span.start_time or 0) < time.time_ns() + 10**9


def test_the_hook_never_raises(caplog: pytest.LogCaptureFixture) -> None:
    """A tracer that raises is logged once and counted; the events keep coming."""

    class Broken(TracerProvider):
        def get_tracer(self, *args: Any, **kwargs: Any) -> Any:
            return types.SimpleNamespace(start_span=lambda *a, **k: 1 / 0)

    hook = TraceHook(Broken(), MeterProvider())

    async def main() -> None:
        for n in range(3):
            hook(StepQueued(f"r{n}", "s", "agent", anyio.current_time()))

    with caplog.at_level(logging.ERROR, "claude_force_trio.otel"):
        trio.run(main)
    assert hook.errors == 3
    assert len(caplog.records) == 1


def _python(code: str, **env: str) -> subprocess.CompletedProcess[str]:
    """Run ``code`` in a fresh interpreter with only ``env``'s OTEL settings."""
    import os

    clean = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        env={**clean, **env},
        check=False,
        timeout=60,
    )


#: Makes ``import opentelemetry`` fail, as where the extra is not installed.
BLOCK = """
import sys
class Block:
    def find_spec(self, name, path=None, target=None):
        if name == "opentelemetry" or name.startswith("opentelemetry."):
            raise ImportError(f"No module named {name!r}", name=name)
sys.meta_path.insert(0, Block())
"""


def test_the_core_never_imports_opentelemetry() -> None:
    """Importing the package and asking for hooks (nothing configured) imports no opentelemetry."""
    done = _python(
        """
        import sys
        import claude_force_trio, claude_force_trio._metrics as m
        from claude_force_trio.cli import _app
        assert m.telemetry_hooks() == [], m.telemetry_hooks()
        assert m.configure_from_env() is False
        print(sorted(k for k in sys.modules if k.startswith("opentelemetry")))
        """
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_without_the_extra_telemetry_is_off_with_one_warning() -> None:
    """No opentelemetry at all: no hooks, TraceHook says why, OTEL_* gets one warning line."""
    done = _python(
        BLOCK
        + """
import logging
logging.basicConfig(format="%(levelname)s %(message)s")
from claude_force_trio._metrics import TraceHook, configure_from_env, telemetry_hooks
assert telemetry_hooks() == []
assert configure_from_env() is False
try:
    TraceHook()
except ImportError:
    print("ImportError")
""",
        OTEL_TRACES_EXPORTER="otlp",
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ImportError"
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("WARNING otel: OTEL_* asks for export")


def test_configure_from_env_turns_telemetry_hooks_on() -> None:
    """OTEL_TRACES_EXPORTER=console: providers are set, so telemetry_hooks gives a TraceHook."""
    done = _python(
        """
        from claude_force_trio._metrics import TraceHook, configure_from_env, telemetry_hooks
        assert telemetry_hooks() == []
        assert configure_from_env() is True
        assert configure_from_env() is True  # configured already: left alone
        hooks = telemetry_hooks()
        assert [type(h) for h in hooks] == [TraceHook], hooks
        from opentelemetry import trace
        print(type(trace.get_tracer_provider()).__name__)
        """,
        OTEL_TRACES_EXPORTER="console",
        OTEL_METRICS_EXPORTER="none",
        OTEL_SERVICE_NAME="svc-test",
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "TracerProvider"


@pytest.fixture
def otel_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """No OTEL_* variable set, whatever the environment had."""
    import os

    for name in list(os.environ):
        if name.startswith("OTEL_"):
            monkeypatch.delenv(name)
    return monkeypatch


def _shutdown(providers: tuple[Any, Any]) -> None:
    for provider in providers:
        if provider is not None:
            provider.shutdown()


def test_nothing_asked_nothing_built(otel_env: pytest.MonkeyPatch) -> None:
    """No variable, ``none``, or OTEL_SDK_DISABLED: nothing is configured."""
    assert setup.configure_from_env() is False
    otel_env.setenv("OTEL_TRACES_EXPORTER", "none")
    assert setup.providers_from_env() == (None, None)
    otel_env.setenv("OTEL_TRACES_EXPORTER", "console")
    otel_env.setenv("OTEL_SDK_DISABLED", "true")
    assert setup.configure_from_env() is False


def test_console_exporters_and_the_service_name(otel_env: pytest.MonkeyPatch) -> None:
    """console for both signals: two providers, service.name defaulted or taken from OTEL_*."""
    otel_env.setenv("OTEL_TRACES_EXPORTER", "console")
    otel_env.setenv("OTEL_METRICS_EXPORTER", "console")
    built = setup.providers_from_env()
    tracer_provider, meter_provider = built
    _shutdown(built)
    assert isinstance(tracer_provider, TracerProvider)
    assert isinstance(meter_provider, MeterProvider)
    assert tracer_provider.resource.attributes["service.name"] == setup.SERVICE_NAME
    otel_env.setenv("OTEL_SERVICE_NAME", "mine")
    otel_env.setenv("OTEL_METRICS_EXPORTER", "none")
    built = setup.providers_from_env()
    _shutdown(built)
    assert built[1] is None
    assert built[0] is not None
    assert built[0].resource.attributes["service.name"] == "mine"


class FakeExporter:
    """Stands in for an OTLP exporter package: counts what was made."""

    made: ClassVar[list[str]] = []

    def __init__(self) -> None:
        FakeExporter.made.append(type(self).__name__)

    def export(self, *args: Any) -> Any:
        """Nothing leaves the process."""
        return None

    def shutdown(self, *args: Any, **kwargs: Any) -> None:
        """Nothing to close."""


@pytest.mark.parametrize(
    ("protocol", "package"),
    [("http/protobuf", "http"), ("grpc", "grpc")],
)
def test_an_otlp_endpoint_picks_the_otlp_exporter(
    otel_env: pytest.MonkeyPatch, protocol: str, package: str
) -> None:
    """OTEL_EXPORTER_OTLP_ENDPOINT alone means OTLP for traces, over the protocol asked for."""
    module = types.ModuleType("fake")
    module.OTLPSpanExporter = type("OTLPSpanExporter", (FakeExporter,), {})  # type: ignore[attr-defined]
    where = f"opentelemetry.exporter.otlp.proto.{package}.trace_exporter"
    otel_env.setitem(sys.modules, where, module)
    otel_env.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4318")
    otel_env.setenv("OTEL_EXPORTER_OTLP_PROTOCOL", protocol)
    otel_env.setenv("OTEL_METRICS_EXPORTER", "none")
    FakeExporter.made.clear()
    built = setup.providers_from_env()
    _shutdown(built)
    assert built[0] is not None
    assert built[1] is None
    assert FakeExporter.made == ["OTLPSpanExporter"]


def test_a_missing_otlp_exporter_is_one_warning(
    otel_env: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """OTLP asked for, its package absent: one warning naming it, and no provider."""
    for part in ("trace_exporter", "metric_exporter"):
        otel_env.setitem(sys.modules, f"opentelemetry.exporter.otlp.proto.http.{part}", None)
    otel_env.setenv("OTEL_TRACES_EXPORTER", "otlp")
    otel_env.setenv("OTEL_METRICS_EXPORTER", "otlp,bogus")
    with caplog.at_level(logging.WARNING, "claude_force_trio.otel"):
        assert setup.providers_from_env() == (None, None)
    messages = [record.getMessage() for record in caplog.records]
    assert len(messages) == 2
    assert "unknown metrics exporter 'bogus'" in messages[0]
    assert "opentelemetry-exporter-otlp-proto-http is not installed" in messages[1]


def test_no_hooks_while_nothing_is_configured() -> None:
    """In this process no global provider is set: telemetry_hooks costs nothing and gives []."""
    assert telemetry_hooks() == []
