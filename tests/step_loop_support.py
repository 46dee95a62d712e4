"""Shared pieces of the step-loop tests: a scripted call stack, replies, and small tools."""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio

from claude_force_trio._call import Call, CallObserver, Layer
from claude_force_trio._config import AgentConfig, Defaults, MemoryConfig
from claude_force_trio._events import Event
from claude_force_trio._step import Step, StepServices, StepSpec
from claude_force_trio._tools import Tool, ToolBox, ToolOutput, ToolSpec
from claude_force_trio._types import MessageResult, Usage

MODEL = "claude-sonnet-4-5-20250929"
Reply = MessageResult | Callable[[Call], MessageResult]

#: The security scan's typed answer: a list of findings.
FINDINGS = {
    "type": "object",
    "properties": {
        "findings": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {"file": {"type": "string"}, "line": {"type": "integer"}},
                "required": ["file", "line"],
                "additionalProperties": False,
            },
        }
    },
    "required": ["findings"],
    "additionalProperties": False,
}


class ScriptedLayer:
    """Answers each call with the next reply of its script; keeps every call and when it came.

    Each answer takes ``latency`` seconds after its one attempt is sent.
    """

    def __init__(self, *replies: Reply, latency: float = 0.0) -> None:
        self.replies = list(replies)
        self.latency = latency
        self.calls: list[Call] = []
        self.bodies: list[dict[str, Any]] = []
        self.times: list[float] = []

    async def send(self, call: Call, observer: CallObserver) -> MessageResult:
        """The next scripted reply (a deep copy of the body is kept, as it was sent)."""
        self.calls.append(call)
        self.bodies.append(copy.deepcopy(dict(call.body)))
        self.times.append(anyio.current_time())
        observer.attempt_started(1)
        await anyio.sleep(self.latency)
        reply = self.replies.pop(0)
        return reply(call) if callable(reply) else reply


def text(value: str) -> dict[str, Any]:
    """A ``text`` content block."""
    return {"type": "text", "text": value}


def use(name: str, use_id: str, **arguments: Any) -> dict[str, Any]:
    """A ``tool_use`` content block."""
    return {"type": "tool_use", "id": use_id, "name": name, "input": arguments}


def reply(
    *content: Mapping[str, Any], stop: str | None = "end_turn", usage: Usage | None = None
) -> MessageResult:
    """A reply made of ``content`` blocks, stopping for ``stop``."""
    joined = "".join(str(b["text"]) for b in content if b["type"] == "text")
    return MessageResult(
        id="msg_1",
        model=MODEL,
        text=joined,
        stop_reason=stop,
        usage=usage or Usage(100, 20),
        content=tuple(content),
    )


@dataclass
class SleepTool:
    """A tool that sleeps ``seconds`` and says so; it records when each call started."""

    name: str
    seconds: float = 0.0
    timeout_s: float | None = None
    side_effects: bool = False
    answer: str | None = None
    started: list[float] = field(default_factory=list)

    @property
    def spec(self) -> ToolSpec:
        """An object schema with an optional integer ``n``."""
        schema = {"type": "object", "properties": {"n": {"type": "integer"}}}
        return ToolSpec(self.name, "sleeps", schema, self.side_effects, self.timeout_s)

    async def call(self, arguments: Mapping[str, Any]) -> ToolOutput:
        """Sleep, then answer."""
        self.started.append(anyio.current_time())
        await anyio.sleep(self.seconds)
        return ToolOutput(self.answer if self.answer is not None else f"{self.name} done")


def box(*tools: Tool) -> ToolBox:
    """A ToolBox of ``tools`` by name."""
    return ToolBox({tool.spec.name: tool for tool in tools})


def agent(**settings: Any) -> AgentConfig:
    """An agent with ``settings`` (``max_turns``, ``on_max_tokens``, ``thinking``…)."""
    return AgentConfig("worker", Path("worker.md"), "# Worker\n\nWorks.\n", **settings)


def make_step(
    layer: Layer,
    *,
    tools: ToolBox | None = None,
    schema: Mapping[str, Any] | None = None,
    timeout_s: float = 600.0,
    events: list[Event] | None = None,
    redact: Callable[[str, int], str] | None = None,
    **settings: Any,
) -> Step:
    """A step of :func:`agent` over ``layer``, its events appended to ``events``."""
    services = StepServices(layer, Defaults(model=MODEL), False, None, MemoryConfig())
    if redact is not None:
        services = StepServices(
            layer, Defaults(model=MODEL), False, None, MemoryConfig(), redact=redact
        )
    spec = StepSpec(
        "work",
        agent(**settings),
        "do the work",
        timeout_s,
        tools=tools or ToolBox(),
        output_schema=schema,
    )
    sink = events if events is not None else []
    return Step(services, spec, run_id="run-1", emit=sink.append)
