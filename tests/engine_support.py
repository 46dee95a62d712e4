"""Helpers for engine tests: in-memory configs and a fake Messages API with per-step latency.

The fake API is an ``httpx.MockTransport`` whose handler sleeps on the event
loop's clock (anyio), so with trio's ``MockClock(autojump_threshold=0)`` a whole
workflow runs in virtual time and makespans can be asserted exactly, and the
same fake serves tests that run on asyncio too.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
import httpx

from claude_force_trio._config import (
    AgentConfig,
    CacheConfig,
    Config,
    Defaults,
    PerformanceConfig,
    StepConfig,
    WorkflowConfig,
)

TASK_RE = re.compile(r"<<(?P<id>[\w.-]+)>>")


def step(
    step_id: str, *deps: str, agent: str = "worker", timeout_s: float | None = None
) -> StepConfig:
    """A step whose task carries a ``<<id>>`` marker the fake API recognises."""
    return StepConfig(
        id=step_id,
        agent=agent,
        task=f"do <<{step_id}>>",
        dependencies=tuple(deps),
        timeout_s=timeout_s,
        path=f"workflows.wf.steps[{step_id}]",
    )


def make_config(
    steps: Iterable[StepConfig] = (),
    *,
    on_failure: str = "fail_fast",
    max_concurrency: int = 64,
    step_timeout_s: float = 300.0,
    workflow_timeout_s: float = 3600.0,
    agents: Iterable[str] = ("worker", "other"),
    cache: bool = False,
) -> Config:
    """A config with simple agents and one workflow ``wf`` made of ``steps``.

    The response cache is off unless asked for: scheduling tests repeat requests.
    """
    agent_configs = {
        name: AgentConfig(
            name=name,
            file=Path(f"/virtual/{name}.md"),
            definition=f"# {name.title()}\n\nYou are the {name} agent.",
            model="claude-sonnet-4-5",
            max_tokens=256,
        )
        for name in agents
    }
    steps = tuple(steps)
    workflows = (
        {"wf": WorkflowConfig(name="wf", steps=steps, on_failure=on_failure, path="workflows.wf")}  # type: ignore[arg-type]
        if steps
        else {}
    )
    return Config(
        path=Path("/virtual/claude.json"),
        root=Path("/virtual"),
        defaults=Defaults(),
        agents=agent_configs,
        workflows=workflows,
        cache=CacheConfig(enabled=cache),
        performance=PerformanceConfig(
            max_concurrent_agents=max_concurrency,
            step_timeout_s=step_timeout_s,
            workflow_timeout_s=workflow_timeout_s,
        ),
    )


def message(
    text: str, model: str = "claude-sonnet-4-5", *, tokens: tuple[int, int] = (10, 5)
) -> dict[str, Any]:
    """A minimal valid Messages API response body."""
    return {
        "id": "msg_test",
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": [{"type": "text", "text": text}],
        "stop_reason": "end_turn",
        "stop_sequence": None,
        "usage": {"input_tokens": tokens[0], "output_tokens": tokens[1]},
    }


@dataclass
class FakeAPI:
    """A scripted Messages API: latency and failure per step id, and a log.

    Attributes:
        latency: seconds each step's request takes (default 1.0).
        fail: step ids answered with this HTTP status instead of a message.
        calls: step ids in the order their requests arrived.
        finished: step ids whose handler ran to completion.
        cancelled: step ids whose request was cancelled mid-flight.
        bodies: the request body seen for each step id.
        max_in_flight: the most requests in flight at once.
    """

    latency: Mapping[str, float] = field(default_factory=dict)
    fail: Mapping[str, int] = field(default_factory=dict)
    default_latency: float = 1.0
    calls: list[str] = field(default_factory=list)
    finished: list[str] = field(default_factory=list)
    cancelled: list[str] = field(default_factory=list)
    bodies: dict[str, dict[str, Any]] = field(default_factory=dict)
    starts: dict[str, float] = field(default_factory=dict)
    ends: dict[str, float] = field(default_factory=dict)
    in_flight: int = 0
    max_in_flight: int = 0

    async def handler(self, request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        text = body["messages"][-1]["content"]
        markers = TASK_RE.findall(text)
        # The step's own task is the last marker; earlier ones come from dependency outputs.
        step_id = markers[-1] if markers else "agent"
        if "# Your task" in text:
            own = text.split("# Your task", 1)[1]
            own_markers = TASK_RE.findall(own.split("##", 1)[0])
            step_id = own_markers[0] if own_markers else step_id
        self.calls.append(step_id)
        self.bodies[step_id] = body
        self.starts[step_id] = anyio.current_time()
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            await anyio.sleep(self.latency.get(step_id, self.default_latency))
        except anyio.get_cancelled_exc_class():
            self.cancelled.append(step_id)
            raise
        finally:
            self.in_flight -= 1
        self.ends[step_id] = anyio.current_time()
        self.finished.append(step_id)
        status = self.fail.get(step_id)
        if status is not None:
            return httpx.Response(
                status,
                json={
                    "type": "error",
                    "error": {"type": "invalid_request_error", "message": f"scripted {status}"},
                    "request_id": "req_test",
                },
            )
        return httpx.Response(200, json=message(f"output of <<{step_id}>>", body["model"]))

    @property
    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self.handler)
