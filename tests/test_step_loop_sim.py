"""End to end over real HTTP: a step's tool loop against the project's simulator.

The simulator calls the tools the task names, quotes their results in its
final text, signs its thinking blocks (and rejects a changed signature), and
answers with a schema instance under ``output_config.format``; so these tests
prove the loop sends back what the API requires, JSON and streamed.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from claude_force_trio._api._client import MessagesClient
from claude_force_trio._config import AgentConfig, Defaults, MemoryConfig
from claude_force_trio._step import Step, StepServices, StepSpec
from claude_force_trio._tools import ToolBox, ToolOutput, ToolSpec
from claude_force_trio.simulator import Simulator, open_simulator

from .step_loop_support import FINDINGS

pytestmark = pytest.mark.anyio

KEY = "fake-key-loop-test-key-0123456789"


class Reader:
    """A read_file tool over a dict of files."""

    spec = ToolSpec(
        "read_file",
        "Read a file of the workspace.",
        {"type": "object", "properties": {"path": {"type": "string"}}, "required": ["path"]},
    )

    def __init__(self) -> None:
        self.paths: list[str] = []

    async def call(self, arguments: Mapping[str, Any]) -> ToolOutput:
        """The file's text."""
        self.paths.append(str(arguments["path"]))
        return ToolOutput("def add(a, b):\n    return a + b\n")


@pytest.fixture
async def sim() -> AsyncIterator[Simulator]:
    """A zero-latency simulator on loopback."""
    async with open_simulator(ttft_ms=0, tokens_per_s=0, api_key=KEY) as simulator:
        yield simulator


async def run(
    sim: Simulator,
    task: str,
    *,
    tools: ToolBox,
    stream: bool = False,
    schema: Mapping[str, Any] | None = None,
    **settings: Any,
) -> Any:
    """Run one step of a scanner agent against ``sim``."""
    agent = AgentConfig("scanner", Path("scanner.md"), "# Scanner\n\nScans.\n", **settings)
    chunks: list[str] = []
    async with MessagesClient(base_url=sim.url + "/", api_key=KEY) as client:
        services = StepServices(client, Defaults(model="sonnet"), False, None, MemoryConfig())
        spec = StepSpec(
            "scan",
            agent,
            task,
            60.0,
            tools=tools,
            output_schema=schema,
            on_text=chunks.append if stream else None,
        )
        result = await Step(services, spec, run_id="r", emit=lambda _: None).run()
    return result, chunks


@pytest.mark.parametrize("stream", [False, True], ids=["json", "sse"])
async def test_a_tool_loop_against_the_simulator(sim: Simulator, stream: bool) -> None:
    """The model calls read_file, gets its result, and quotes it in its final answer."""
    reader = Reader()
    result, chunks = await run(
        sim,
        "Use read_file on calc.py and review it.",
        tools=ToolBox({"read_file": reader}),
        stream=stream,
    )
    assert result.status == "succeeded", result.error
    assert result.turns == 2
    assert [call.name for call in result.tool_calls] == ["read_file"]
    assert len(reader.paths) == 1
    assert "return a + b" in (result.output or "") or "def add" in (result.output or "")
    if stream:
        assert "".join(chunks).endswith(result.output)


@pytest.mark.parametrize("stream", [False, True], ids=["json", "sse"])
async def test_signed_thinking_survives_the_loop(sim: Simulator, stream: bool) -> None:
    """With thinking on, the signed blocks go back unchanged: the simulator accepts turn 2."""
    result, _ = await run(
        sim,
        "Use read_file on calc.py.",
        tools=ToolBox({"read_file": Reader()}),
        stream=stream,
        max_tokens=4096,
        thinking={"type": "enabled", "budget_tokens": 1024},
    )
    assert result.status == "succeeded", result.error
    assert result.turns == 2
    assert result.thinking


async def test_structured_output_against_the_simulator(sim: Simulator) -> None:
    """output_config.format gives a schema instance: it is the step's data."""
    result, _ = await run(sim, "Scan calc.py.", tools=ToolBox(), schema=FINDINGS)
    assert result.status == "succeeded", result.error
    assert isinstance(result.data, dict)
    assert isinstance(result.data["findings"], list)


@pytest.mark.parametrize(
    ("marker", "error_type"),
    [("[sim:max_tokens]", "truncated"), ("[sim:refusal]", "refused"), ("[sim:empty]", "empty")],
)
async def test_forced_outcomes_fail_honestly(sim: Simulator, marker: str, error_type: str) -> None:
    """Truncated, refused and empty replies from the simulator fail their step."""
    result, _ = await run(sim, f"Review calc.py {marker}", tools=ToolBox())
    assert (result.status, result.error_type) == ("failed", error_type)


async def test_pause_turn_and_continue_against_the_simulator(sim: Simulator) -> None:
    """pause_turn goes back and the model finishes; on_max_tokens continue joins the text."""
    paused, _ = await run(sim, "Review calc.py [sim:pause_turn]", tools=ToolBox())
    assert (paused.status, paused.turns) == ("succeeded", 2)
    continued, _ = await run(
        sim, "Review calc.py [sim:max_tokens]", tools=ToolBox(), on_max_tokens="continue"
    )
    assert continued.status == "succeeded", continued.error
    assert continued.turns == 2
