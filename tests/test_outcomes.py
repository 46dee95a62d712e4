"""Honest outcomes: truncated, refused and empty replies fail; schemas give typed data.

Each test drives a real Step over a scripted call stack (tests/step_loop_support.py).
"""

from __future__ import annotations

from typing import Any

import pytest

from claude_force_trio._prompts import DependencyOutput, user_message
from claude_force_trio._results import StepResult

from .step_loop_support import FINDINGS, ScriptedLayer, SleepTool, box, make_step, reply, text, use


@pytest.mark.parametrize(
    ("stop", "reply_text", "settings", "status", "error_type"),
    [
        ("end_turn", "fine", {}, "succeeded", None),
        ("stop_sequence", "fine", {}, "succeeded", None),
        ("max_tokens", "cut he", {}, "failed", "truncated"),
        ("model_context_window_exceeded", "cut", {}, "failed", "truncated"),
        ("refusal", "", {}, "failed", "refused"),
        ("end_turn", "  \n", {}, "failed", "empty"),
        ("max_tokens", "cut he", {"on_max_tokens": "accept"}, "succeeded", None),
    ],
)
async def test_each_stop_reason_gets_its_outcome(
    stop: str, reply_text: str, settings: dict[str, Any], status: str, error_type: str | None
) -> None:
    """end_turn/stop_sequence succeed; truncated, refused and empty fail unless accepted."""
    layer = ScriptedLayer(reply(text(reply_text), stop=stop))
    result = await make_step(layer, **settings).run()
    assert (result.status, result.error_type) == (status, error_type)
    assert result.stop_reason == stop
    assert result.turns == 1
    assert result.usage.input_tokens == 100  # a failed step still says what it spent


async def test_truncated_and_refused_say_why() -> None:
    """The error line of a truncated and of a refused step."""
    cut = await make_step(ScriptedLayer(reply(text("half"), stop="max_tokens"))).run()
    assert cut.error == "the reply was cut at max_tokens (4096)"
    refused = await make_step(ScriptedLayer(reply(text("I can't help."), stop="refusal"))).run()
    assert refused.error == "the model refused: I can't help."
    with pytest.raises(Exception, match="cut at max_tokens"):
        cut.raise_for_status()


async def test_continue_prefills_the_partial_reply_and_joins_the_texts() -> None:
    """on_max_tokens continue: the cut text goes back as a trailing assistant message."""
    layer = ScriptedLayer(
        reply(text("The answer is "), stop="max_tokens"),
        reply(text(" forty"), stop="max_tokens"),
        reply(text("-two.")),
    )
    result = await make_step(layer, on_max_tokens="continue").run()
    assert result.status == "succeeded"
    assert result.output == "The answer is forty-two."
    user = layer.bodies[0]["messages"][0]
    assert layer.bodies[1]["messages"] == [user, {"role": "assistant", "content": "The answer is"}]
    assert layer.bodies[2]["messages"] == [
        user,
        {"role": "assistant", "content": "The answer is forty"},
    ]
    assert result.turns == 3
    assert result.stop_reason == "end_turn"


async def test_continue_stops_after_three_continuations() -> None:
    """A reply still cut after three continuations fails as truncated (four calls in all)."""
    layer = ScriptedLayer(*(reply(text(f"part {i} "), stop="max_tokens") for i in range(4)))
    result = await make_step(layer, on_max_tokens="continue").run()
    assert (result.status, result.error_type) == ("failed", "truncated")
    assert result.error == "the reply was cut at max_tokens (4096), still after 3 continuations"
    assert len(layer.calls) == 4


async def test_continue_with_thinking_on_fails_clearly() -> None:
    """The API refuses a prefill with thinking on: the step fails saying so, with no second call."""
    layer = ScriptedLayer(reply(text("half"), stop="max_tokens"))
    result = await make_step(
        layer, on_max_tokens="continue", thinking={"type": "enabled", "budget_tokens": 1024}
    ).run()
    assert (result.status, result.error_type) == ("failed", "truncated")
    assert "cannot work with thinking on" in (result.error or "")
    assert len(layer.calls) == 1


async def test_valid_structured_output_becomes_data() -> None:
    """A reply valid for the schema is StepResult.data, and "data" in --json."""
    answer = '{"findings": [{"file": "a.py", "line": 3}]}'
    result = await make_step(ScriptedLayer(reply(text(answer))), schema=FINDINGS).run()
    assert result.status == "succeeded"
    assert result.data == {"findings": [{"file": "a.py", "line": 3}]}
    assert result.to_dict()["data"] == result.data
    assert result.output == answer


async def test_invalid_output_is_retried_once_with_the_error() -> None:
    """An invalid reply goes back with its first schema error; the valid retry is the data."""
    bad = '{"findings": [{"file": "a.py", "line": "three"}]}'
    layer = ScriptedLayer(reply(text(bad)), reply(text('{"findings": []}')))
    result = await make_step(layer, schema=FINDINGS).run()
    assert result.status == "succeeded"
    assert result.data == {"findings": []}
    second = layer.bodies[1]["messages"]
    assert second[1] == {"role": "assistant", "content": [text(bad)]}
    assert second[2]["role"] == "user"
    assert "$.findings[0].line: 'three' is not of type 'integer'" in second[2]["content"]
    assert result.turns == 2


async def test_invalid_output_twice_fails_naming_the_first_error() -> None:
    """Still invalid after the retry: failed, invalid_output, the JSON path and the message."""
    layer = ScriptedLayer(reply(text("not json")), reply(text('{"findings": [{"file": 1}]}')))
    result = await make_step(layer, schema=FINDINGS).run()
    assert (result.status, result.error_type) == ("failed", "invalid_output")
    assert result.error == (
        "output does not match output_schema: $.findings[0]: 'line' is a required property"
    )
    assert "not JSON" in layer.bodies[1]["messages"][2]["content"]


async def test_a_fenced_json_answer_is_read_inside_the_fence() -> None:
    """A model that wraps its JSON in a Markdown fence still gives the data."""
    layer = ScriptedLayer(reply(text('```json\n{"findings": []}\n```')))
    result = await make_step(layer, schema=FINDINGS).run()
    assert result.data == {"findings": []}


async def test_schema_retry_counts_against_max_turns() -> None:
    """With max_turns 1 there is no room for the retry: the step fails at once."""
    layer = ScriptedLayer(reply(text("{}")))
    result = await make_step(layer, schema=FINDINGS, max_turns=1).run()
    assert result.error_type == "invalid_output"
    assert len(layer.calls) == 1


async def test_tools_then_structured_output() -> None:
    """A tool round, then a typed answer: both in one step."""
    layer = ScriptedLayer(
        reply(use("scan", "t1"), stop="tool_use"), reply(text('{"findings": []}'))
    )
    result = await make_step(layer, tools=box(SleepTool("scan")), schema=FINDINGS).run()
    assert result.data == {"findings": []}
    assert [call.name for call in result.tool_calls] == ["scan"]


def test_dependents_receive_data_as_json() -> None:
    """A dependency with data is shown to its dependents as JSON, not as its raw text."""
    done = StepResult(
        "scan", "scanner", "succeeded", output="```json\n{...}\n```", data={"b": 1, "a": [2]}
    )
    message = user_message("review", dependencies=[DependencyOutput.of("scan", done)])
    assert '## Output of step `scan` (agent `scanner`)\n\n{"a": [2], "b": 1}\n' in message
    plain = StepResult("lint", "linter", "succeeded", output="2 warnings\n")
    assert "2 warnings" in user_message("t", dependencies=[DependencyOutput.of("lint", plain)])


async def test_tool_use_without_tool_blocks_is_read_as_the_answer() -> None:
    """stop_reason tool_use with no tool_use block (a lax server): its text is the answer."""
    layer = ScriptedLayer(reply(text("nothing to run"), stop="tool_use"))
    result = await make_step(layer).run()
    assert (result.status, result.output, len(layer.calls)) == ("succeeded", "nothing to run", 1)
