"""A step is a loop: tool rounds run concurrently under their own timeouts, in virtual time.

Each test drives a real Step over a scripted call stack (tests/step_loop_support.py)
with small fake tools, on trio's MockClock, so every time is exact.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest
import trio
import trio.testing

from claude_force_trio._api._redact import Redactor
from claude_force_trio._events import Event, ToolCalled, ToolFinished
from claude_force_trio._pricing import cost_usd
from claude_force_trio._tools import ToolBox, ToolError, ToolOutput, ToolSpec
from claude_force_trio._types import Usage

from .step_loop_support import (
    MODEL,
    ScriptedLayer,
    SleepTool,
    box,
    make_step,
    reply,
    text,
    use,
)


@pytest.fixture
def autojump_clock() -> trio.testing.MockClock:
    """Virtual time that jumps ahead whenever every task is waiting."""
    return trio.testing.MockClock(autojump_threshold=0)


def tool_results(body: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The tool_result blocks of a request's last (user) message."""
    content = body["messages"][-1]["content"]
    assert body["messages"][-1]["role"] == "user"
    return [block for block in content if block["type"] == "tool_result"]


async def test_three_tools_of_one_turn_run_at_once(autojump_clock: trio.testing.MockClock) -> None:
    """Tools of 1 s, 2 s and 3 s in one turn: the round ends at exactly 3.0, results in order."""
    tools = [SleepTool("slow", 3.0), SleepTool("quick", 1.0), SleepTool("middle", 2.0)]
    layer = ScriptedLayer(
        reply(
            text("Looking."),
            use("slow", "t1"),
            use("quick", "t2"),
            use("middle", "t3"),
            stop="tool_use",
        ),
        reply(text("All done.")),
    )
    start = trio.current_time()
    result = await make_step(layer, tools=box(*tools)).run()
    assert result.status == "succeeded", result.error
    assert result.output == "All done."
    assert [t - start for t in layer.times] == [0.0, 3.0]
    assert [tool.started for tool in tools] == [[start], [start], [start]]
    results = tool_results(layer.bodies[1])
    assert [(r["tool_use_id"], r["content"]) for r in results] == [
        ("t1", "slow done"),
        ("t2", "quick done"),
        ("t3", "middle done"),
    ]
    assert not any("is_error" in r for r in results)
    assert result.turns == 2
    assert [(c.name, c.turn, c.elapsed_s, c.is_error) for c in result.tool_calls] == [
        ("slow", 1, 3.0, False),
        ("quick", 1, 1.0, False),
        ("middle", 1, 2.0, False),
    ]
    assert result.elapsed_s == 3.0


async def test_hanging_tool_times_out_alone(autojump_clock: trio.testing.MockClock) -> None:
    """A tool past its timeout_s is an is_error result at exactly that time; the loop goes on."""
    tools = box(SleepTool("hang", 1e9, timeout_s=5.0), SleepTool("fine", 1.0))
    layer = ScriptedLayer(
        reply(use("hang", "t1"), use("fine", "t2"), stop="tool_use"), reply(text("ok"))
    )
    start = trio.current_time()
    result = await make_step(layer, tools=tools).run()
    assert result.status == "succeeded"
    assert layer.times[1] - start == 5.0
    hang, fine = tool_results(layer.bodies[1])
    assert hang == {
        "type": "tool_result",
        "tool_use_id": "t1",
        "content": "hang timed out after 5 s",
        "is_error": True,
    }
    assert fine["content"] == "fine done"
    assert [(c.name, c.is_error, c.elapsed_s) for c in result.tool_calls] == [
        ("hang", True, 5.0),
        ("fine", False, 1.0),
    ]


async def test_default_tool_timeout_is_60_s(autojump_clock: trio.testing.MockClock) -> None:
    """A tool that names no timeout gets 60 s."""
    layer = ScriptedLayer(reply(use("hang", "t1"), stop="tool_use"), reply(text("ok")))
    start = trio.current_time()
    await make_step(layer, tools=box(SleepTool("hang", 1e9))).run()
    assert layer.times[1] - start == 60.0
    assert tool_results(layer.bodies[1])[0]["content"] == "hang timed out after 60 s"


async def test_step_timeout_cancels_the_loop_mid_tool(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """The step's deadline covers its tool rounds: it fires inside a 30 s tool, at exactly 10 s."""
    layer = ScriptedLayer(
        reply(use("slow", "t1"), stop="tool_use"), reply(text("never")), latency=2.0
    )
    start = trio.current_time()
    result = await make_step(layer, tools=box(SleepTool("slow", 30.0)), timeout_s=10.0).run()
    assert result.status == "timed_out"
    assert result.error_type == "StepTimeoutError"
    assert trio.current_time() - start == 10.0
    assert result.elapsed_s == 10.0
    assert len(layer.calls) == 1
    assert result.turns == 1


async def test_max_turns_fails_without_running_more_tools(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """A model that keeps asking for tools fails at max_turns; the last round never runs."""
    tool = SleepTool("again", 1.0)
    layer = ScriptedLayer(*(reply(use("again", f"t{i}"), stop="tool_use") for i in range(3)))
    result = await make_step(layer, tools=box(tool), max_turns=3).run()
    assert result.status == "failed"
    assert result.error_type == "max_turns"
    assert result.error == "max_turns (3) reached: the model still asked for tools"
    assert len(layer.calls) == 3
    assert len(tool.started) == 2
    assert result.turns == 3
    assert len(result.tool_calls) == 2


async def test_pause_turn_sends_the_reply_back_and_goes_on() -> None:
    """pause_turn: the paused content goes back unchanged as the assistant turn, no user turn."""
    paused = (
        text("Searching."),
        {"type": "server_tool_use", "id": "srv_1", "name": "web_search", "input": {"q": "x"}},
    )
    server_tools = ({"type": "web_search_20250305", "name": "web_search"},)
    layer = ScriptedLayer(reply(*paused, stop="pause_turn"), reply(text("Found it.")))
    result = await make_step(layer, tools=ToolBox(server_tools=server_tools)).run()
    assert result.status == "succeeded"
    assert result.output == "Found it."
    first, second = layer.bodies
    assert first["tools"] == [dict(server_tools[0])]
    assert second["messages"] == [
        first["messages"][0],
        {"role": "assistant", "content": [dict(block) for block in paused]},
    ]
    assert result.turns == 2


async def test_thinking_blocks_go_back_unchanged() -> None:
    """The second request carries the first reply's thinking blocks exactly as they came."""
    thinking = {"type": "thinking", "thinking": "I should read it.", "signature": "c2lnbmVk"}
    redacted = {"type": "redacted_thinking", "data": "ZW5jcnlwdGVk"}
    first = (thinking, redacted, text("Reading."), use("read", "t1", n=1))
    layer = ScriptedLayer(
        reply(*first, stop="tool_use"),
        reply({"type": "thinking", "thinking": "Now answer.", "signature": "AAAA"}, text("Done.")),
    )
    result = await make_step(
        layer,
        tools=box(SleepTool("read")),
        thinking={"type": "enabled", "budget_tokens": 2048},
    ).run()
    assert result.status == "succeeded"
    body = layer.bodies[1]
    assert body["thinking"] == {"type": "enabled", "budget_tokens": 2048}
    assert body["messages"][1] == {"role": "assistant", "content": [dict(b) for b in first]}
    assert tool_results(body) == [
        {"type": "tool_result", "tool_use_id": "t1", "content": "read done"}
    ]
    assert result.thinking == "I should read it.\n\nNow answer."
    assert "thinking" not in result.to_dict()


class Failing:
    """A tool that raises ``error``."""

    def __init__(self, name: str, error: Exception) -> None:
        self.error = error
        self._spec = ToolSpec(name, "fails", {"type": "object"})

    @property
    def spec(self) -> ToolSpec:
        """Its spec."""
        return self._spec

    async def call(self, arguments: Mapping[str, Any]) -> ToolOutput:
        """Raise."""
        raise self.error


class Huge:
    """A tool that returns 10 MB of text."""

    spec = ToolSpec("huge", "returns a lot", {"type": "object"})

    async def call(self, arguments: Mapping[str, Any]) -> ToolOutput:
        """Return 10 MB."""
        return ToolOutput("x" * 10_000_000)


async def test_every_tool_failure_is_one_scrubbed_line_to_the_model() -> None:
    """Unknown name, bad input, ToolError, another exception: is_error, one line, no secret."""
    secret = "fake-key-api03-" + "S" * 40
    tools = box(
        SleepTool("typed"),
        Failing("refuses", ToolError("no such file: a.py")),
        Failing("crashes", ValueError(f"bad\nkey {secret}")),
    )
    layer = ScriptedLayer(
        reply(
            use("nope", "t1"),
            use("typed", "t2", n="three"),
            use("refuses", "t3"),
            use("crashes", "t4"),
            stop="tool_use",
        ),
        reply(text("ok")),
    )
    result = await make_step(layer, tools=tools, redact=Redactor(secret)).run()
    assert result.status == "succeeded"
    contents = [(r["content"], r["is_error"]) for r in tool_results(layer.bodies[1])]
    assert contents == [
        ("unknown tool 'nope'", True),
        ("invalid input for typed: $.n: 'three' is not of type 'integer'", True),
        ("no such file: a.py", True),
        ("ValueError: bad\\nkey [redacted]", True),
    ]
    assert all(call.is_error for call in result.tool_calls)
    assert secret not in repr(result.tool_calls)


async def test_huge_output_is_cut_with_a_note() -> None:
    """A 10 MB output reaches the model as its first 100,000 characters and a note."""
    layer = ScriptedLayer(reply(use("huge", "t1"), stop="tool_use"), reply(text("ok")))
    await make_step(layer, tools=box(Huge())).run()
    content = tool_results(layer.bodies[1])[0]["content"]
    assert content.startswith("x" * 100_000)
    assert content[100_000:] == "\n[output cut: 10,000,000 characters, the first 100,000 kept]"


async def test_tool_events_for_hooks(autojump_clock: trio.testing.MockClock) -> None:
    """ToolCalled and ToolFinished reach the hooks with the turn, the id and exact times."""
    events: list[Event] = []
    layer = ScriptedLayer(
        reply(use("a", "t1"), use("b", "t2"), stop="tool_use"),
        reply(use("a", "t3"), stop="tool_use"),
        reply(text("ok")),
    )
    start = trio.current_time()
    await make_step(layer, tools=box(SleepTool("a", 1.0), SleepTool("b", 2.0)), events=events).run()
    tool_events = [e for e in events if isinstance(e, ToolCalled | ToolFinished)]
    seen = [(type(e).__name__, e.tool, e.turn, e.tool_use_id, e.at - start) for e in tool_events]
    assert seen == [
        ("ToolCalled", "a", 1, "t1", 0.0),
        ("ToolCalled", "b", 1, "t2", 0.0),
        ("ToolFinished", "a", 1, "t1", 1.0),
        ("ToolFinished", "b", 1, "t2", 2.0),
        ("ToolCalled", "a", 2, "t3", 2.0),
        ("ToolFinished", "a", 2, "t3", 3.0),
    ]
    assert all(e.run_id == "run-1" and e.step_id == "work" for e in tool_events)


async def test_usage_cost_and_attempts_sum_over_the_calls(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """Usage and cost are the sums over the loop's calls; attempts count every request sent."""
    layer = ScriptedLayer(
        reply(use("a", "t1"), stop="tool_use", usage=Usage(1000, 50)),
        reply(text("ok"), usage=Usage(1200, 80, cache_read_input_tokens=900)),
    )
    result = await make_step(layer, tools=box(SleepTool("a"))).run()
    assert result.usage == Usage(2200, 130, 0, 900)
    expected = (cost_usd(Usage(1000, 50), MODEL) or 0) + (
        cost_usd(Usage(1200, 80, cache_read_input_tokens=900), MODEL) or 0
    )
    assert result.cost_usd == pytest.approx(expected)
    assert result.attempts == 2
    document = result.to_dict()
    assert document["turns"] == 2
    assert document["data"] is None
    assert document["tool_calls"] == [
        {"name": "a", "turn": 1, "is_error": False, "elapsed_s": 0.0, "input": "{}", "error": None}
    ]


async def test_side_effect_tools_mark_every_call_uncacheable() -> None:
    """A ToolBox with a side-effect tool sends each of the step's calls with cache=False."""
    layer = ScriptedLayer(reply(use("write", "t1"), stop="tool_use"), reply(text("ok")))
    await make_step(layer, tools=box(SleepTool("write", side_effects=True))).run()
    assert [call.cache for call in layer.calls] == [False, False]
    plain = ScriptedLayer(reply(text("ok")))
    await make_step(plain, tools=box(SleepTool("read"))).run()
    assert [call.cache for call in plain.calls] == [True]


async def test_request_carries_tools_schema_thinking_and_effort() -> None:
    """The first body: tools, output_config.format and effort, thinking: each only when set."""
    schema = {"type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"]}
    layer = ScriptedLayer(reply(text('{"n": 1}')))
    await make_step(
        layer,
        tools=box(SleepTool("b"), SleepTool("a")),
        schema=schema,
        effort="high",
        thinking={"type": "adaptive"},
    ).run()
    body = layer.bodies[0]
    assert [tool["name"] for tool in body["tools"]] == ["a", "b"]
    assert body["output_config"] == {
        "format": {"type": "json_schema", "schema": schema},
        "effort": "high",
    }
    assert body["thinking"] == {"type": "adaptive"}
    bare = ScriptedLayer(reply(text("hi")))
    await make_step(bare).run()
    assert not {"tools", "output_config", "thinking"} & set(bare.bodies[0])


async def test_a_step_whose_tools_are_unavailable_fails_without_a_call() -> None:
    """An MCP server its agent uses did not start: the step fails with the reason, sends nothing."""
    layer = ScriptedLayer(reply(text("never sent")))
    reason = "mcp_servers.docs: MCP server 'docs' did not start: command not found: docs-server"
    result = await make_step(layer, tools=ToolBox(unavailable=(reason,))).run()
    assert result.status == "failed"
    assert result.error_type == "ToolError"
    assert result.error == reason
    assert layer.bodies == []


async def test_a_library_tool_checks_its_own_input_once() -> None:
    """A library tool given bad input: the model hears its own error; the function never runs."""
    from claude_force_trio import library_tool

    called: list[int] = []

    def double(n: int) -> int:
        """Double a number."""
        called.append(n)
        return 2 * n

    layer = ScriptedLayer(
        reply(use("double", "t1", n="two"), stop="tool_use"), reply(text("Could not."))
    )
    result = await make_step(layer, tools=box(library_tool(double))).run()
    assert result.status == "succeeded", result.error
    (sent,) = tool_results(layer.bodies[1])
    assert sent["is_error"] is True
    assert sent["content"] == "invalid input for double: input.n: 'two' is not of type 'integer'"
    assert called == []
