"""The simulator's agentic replies over loopback HTTP: tools, thinking, structured output, outcomes.

Runs on both backends (trio and asyncio). Every 200 answer is checked against
the OpenAPI ``Message`` schema; every refusal names its field as the API does.
"""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from claude_force_trio._pricing import PRICES
from claude_force_trio.simulator import Simulator
from claude_force_trio.simulator._models import MODELS, find_model
from claude_force_trio.simulator._replies import reply_text
from claude_force_trio.simulator._turns import thinking_signature

from .openapi_schema import require_spec, validate
from .simulator_support import assert_error, post, sse_events
from .simulator_support import client as client  # the shared fixtures
from .simulator_support import sim as sim

pytestmark = pytest.mark.anyio

READ = {
    "name": "read_file",
    "description": "Read a file of the workspace.",
    "input_schema": {
        "type": "object",
        "properties": {"path": {"type": "string"}, "max_bytes": {"type": "integer", "minimum": 10}},
        "required": ["path"],
    },
}
SEARCH = {
    "name": "search_text",
    "description": "Search the workspace.",
    "input_schema": {
        "type": "object",
        "properties": {
            "query": {"type": "string"},
            "mode": {"enum": ["literal", "regex"]},
            "limit": {"type": "integer", "minimum": 1, "maximum": 50},
        },
        "required": ["query", "mode"],
    },
}
WEB = {"type": "web_search_20250305", "name": "web_search", "max_uses": 2}
TASK = "Use search_text for 'retry loop', then read_file src/app/client.py and report."


def body(task: str = TASK, **extra: Any) -> dict[str, Any]:
    """A request offering READ and SEARCH for ``task``."""
    return {
        "model": "claude-sonnet-4-5",
        "max_tokens": 4000,
        "system": "# code-reviewer\nYou review code.",
        "tools": [READ, SEARCH],
        "messages": [{"role": "user", "content": task}],
        **extra,
    }


def answered(request: dict[str, Any], reply: dict[str, Any], **results: Any) -> dict[str, Any]:
    """``request`` continued with ``reply`` and a tool_result for each of its tool_use blocks."""
    blocks = [
        {"type": "tool_result", "tool_use_id": b["id"], "content": results.get(b["name"], "ok")}
        for b in reply["content"]
        if b["type"] == "tool_use"
    ]
    messages = [
        *request["messages"],
        {"role": "assistant", "content": reply["content"]},
        {"role": "user", "content": blocks},
    ]
    return {**request, "messages": messages}


async def ok(client: httpx.AsyncClient, request: dict[str, Any]) -> dict[str, Any]:
    """POST ``request``, expect 200 and a valid Message, return it."""
    response = await post(client, request)
    assert response.status_code == 200, response.text
    message: dict[str, Any] = response.json()
    validate(message, "Message")
    return message


@pytest.fixture(autouse=True)
def _spec() -> None:
    """These tests validate against the OpenAPI description."""
    require_spec()


# -- tool use ----------------------------------------------------------------------------------


async def test_parallel_tool_calls_in_order_mentioned(client: httpx.AsyncClient) -> None:
    """Two mentioned tools → two tool_use blocks in mention order, inputs from the task."""
    message = await ok(client, body())
    assert message["stop_reason"] == "tool_use"
    calls = [b for b in message["content"] if b["type"] == "tool_use"]
    assert [c["name"] for c in calls] == ["search_text", "read_file"]
    assert all(c["id"].startswith("toolu_") for c in calls)
    assert len({c["id"] for c in calls}) == 2
    # Required arguments only: optional ones are left to the tool's defaults, as a model does.
    assert calls[0]["input"] == {"query": "retry loop", "mode": "literal"}
    assert calls[1]["input"] == {"path": "src/app/client.py"}
    assert message == {**await ok(client, body()), "id": message["id"]}  # deterministic


async def test_tool_results_are_quoted_in_the_final_text(client: httpx.AsyncClient) -> None:
    """After the tool results the reply is a final text quoting each, errors marked."""
    first = await ok(client, body())
    follow = answered(body(), first, search_text="client.py:12: retry loop", read_file="x = 1")
    follow["messages"][-1]["content"][1]["is_error"] = True
    final = await ok(client, follow)
    assert final["stop_reason"] == "end_turn"
    (text,) = [b["text"] for b in final["content"]]
    assert "- search_text: client.py:12: retry loop\n- read_file (is_error): x = 1" in text
    assert f"Task: {TASK}" in text
    changed = answered(body(), first, search_text="other", read_file="x = 1")
    assert (await ok(client, changed))["content"][0]["text"] != text


async def test_tool_turns_marker_repeats_the_round(client: httpx.AsyncClient) -> None:
    """[sim:tool_turns=3] calls the mentioned tools after each of 3 rounds, then answers."""
    request = body(f"{TASK} [sim:tool_turns=3]")
    ids: set[str] = set()
    for _ in range(3):
        message = await ok(client, request)
        assert message["stop_reason"] == "tool_use"
        calls = [b for b in message["content"] if b["type"] == "tool_use"]
        assert [c["name"] for c in calls] == ["search_text", "read_file"]
        ids |= {c["id"] for c in calls}
        request = answered(request, message, search_text="hit", read_file="x = 1")
    final = await ok(client, request)
    assert final["stop_reason"] == "end_turn"
    assert final["content"][0]["text"].startswith("Tool results:\n- search_text: hit\n")
    assert len(ids) == 6  # fresh ids every round
    again = body(f"{TASK} [sim:tool_turns=1]")["messages"]
    closed = [*request["messages"], {"role": "assistant", "content": final["content"]}]
    anew = {**request, "messages": [*closed, *again]}
    assert (await ok(client, anew))["stop_reason"] == "tool_use"  # a new task, a new count
    assert (await ok(client, body(f"{TASK} [sim:tool_turns=0]")))["stop_reason"] == "end_turn"


@pytest.mark.parametrize(
    ("task", "choice", "names"),
    [
        ("Just review.", {"type": "any"}, ["read_file"]),
        ("Only search_text, please.", {"type": "any"}, ["search_text"]),
        ("Just review.", {"type": "tool", "name": "search_text"}, ["search_text"]),
        (TASK, {"type": "auto", "disable_parallel_tool_use": True}, ["search_text"]),
        (TASK, {"type": "none"}, []),
    ],
)
async def test_tool_choice(
    client: httpx.AsyncClient, task: str, choice: dict[str, Any], names: list[str]
) -> None:
    """any/tool force a call, disable_parallel_tool_use keeps one, none forbids tools."""
    message = await ok(client, body(task, tool_choice=choice))
    assert [b["name"] for b in message["content"] if b["type"] == "tool_use"] == names
    assert message["stop_reason"] == ("tool_use" if names else "end_turn")


async def test_no_mention_and_server_tools_give_plain_text(client: httpx.AsyncClient) -> None:
    """Nothing mentioned → text; a mentioned server tool is not executed (not a call)."""
    plain = await ok(client, body("Review the design."))
    assert plain["stop_reason"] == "end_turn"
    assert [b["type"] for b in plain["content"]] == ["text"]
    server = await ok(client, body("Use web_search for news.", tools=[WEB]))
    assert [b["type"] for b in server["content"]] == ["text"]
    forced = await ok(
        client, body("x", tools=[WEB], tool_choice={"type": "tool", "name": "web_search"})
    )
    assert "server tool web_search is not executed" in forced["content"][0]["text"]


async def test_streamed_tool_use(client: httpx.AsyncClient) -> None:
    """Streaming sends tool_use blocks as starts plus input_json_delta pieces; usage at the end."""
    plain = await ok(client, body())
    response = await post(client, body(stream=True))
    events = sse_events(response.text)
    starts = [d["content_block"] for e, d in events if e == "content_block_start"]
    assert [s["type"] for s in starts] == ["text", "tool_use", "tool_use"]
    assert starts[1]["input"] == {}
    for index, block in enumerate(plain["content"]):
        deltas = [
            d["delta"] for e, d in events if e == "content_block_delta" and d["index"] == index
        ]
        if block["type"] == "tool_use":
            assert len(deltas) > 1
            assert json.loads("".join(d["partial_json"] for d in deltas)) == block["input"]
    (end,) = [d for e, d in events if e == "message_delta"]
    assert end["delta"]["stop_reason"] == "tool_use"
    assert end["usage"]["output_tokens"] == plain["usage"]["output_tokens"]
    assert events[-1][0] == "message_stop"


# -- structured output -------------------------------------------------------------------------

FINDINGS = {
    "type": "object",
    "properties": {
        "findings": {
            "type": "array",
            "minItems": 2,
            "items": {
                "type": "object",
                "properties": {
                    "file": {"type": "string"},
                    "line": {"type": "integer", "minimum": 1},
                    "severity": {"enum": ["low", "medium", "high"]},
                    "issue": {"type": "string", "minLength": 3},
                },
                "required": ["file", "line", "severity", "issue"],
                "additionalProperties": False,
            },
        }
    },
    "required": ["findings"],
    "additionalProperties": False,
}


async def test_structured_output_is_valid_json(client: httpx.AsyncClient) -> None:
    """output_config.format → the text is a JSON instance valid for the schema."""
    from jsonschema import Draft202012Validator

    output = {"format": {"type": "json_schema", "schema": FINDINGS}, "effort": "low"}
    message = await ok(client, body("Scan app/auth.py", tools=[], output_config=output))
    data = json.loads(message["content"][0]["text"])
    Draft202012Validator(FINDINGS).validate(data)
    assert data["findings"][0]["file"] == "app/auth.py"


# -- thinking ----------------------------------------------------------------------------------


async def test_thinking_block_signed_and_streamed(client: httpx.AsyncClient) -> None:
    """Thinking enabled → a signed thinking block first; streamed as thinking + signature deltas."""
    request = body("Review it.", thinking={"type": "enabled", "budget_tokens": 1024})
    message = await ok(client, request)
    thinking, _ = message["content"]
    assert thinking["type"] == "thinking"
    assert "Review it." in thinking["thinking"]
    assert thinking["signature"] == thinking_signature(thinking["thinking"])
    events = sse_events((await post(client, {**request, "stream": True})).text)
    deltas = [d["delta"] for e, d in events if e == "content_block_delta" and d["index"] == 0]
    assert "".join(d.get("thinking", "") for d in deltas) == thinking["thinking"]
    assert deltas[-1] == {"type": "signature_delta", "signature": thinking["signature"]}
    adaptive = await ok(client, body("Review it.", thinking={"type": "adaptive"}))
    assert adaptive["content"][0]["type"] == "thinking"


async def test_thinking_passed_back_is_checked(client: httpx.AsyncClient) -> None:
    """Unchanged thinking blocks are accepted; an edited or a dropped one is refused."""
    request = body(thinking={"type": "enabled", "budget_tokens": 2000})
    first = await ok(client, request)
    assert first["content"][0]["type"] == "thinking"
    assert (await ok(client, answered(request, first)))["stop_reason"] == "end_turn"
    forged = answered(request, first)
    forged["messages"][1]["content"][0] = {**first["content"][0], "thinking": "edited"}
    message = assert_error(await post(client, forged), 400, "invalid_request_error")
    assert message == "messages.1.content.0: Invalid `signature` in `thinking` block"
    dropped = answered(request, first)
    dropped["messages"][1]["content"] = first["content"][1:]
    message = assert_error(await post(client, dropped), 400, "invalid_request_error")
    assert message.startswith("messages.1.content.0.type: Expected `thinking`")


# -- forced outcomes ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("marker", "stop_reason"),
    [("[sim:max_tokens]", "max_tokens"), ("[sim:refusal]", "refusal"),
     ("[sim:pause_turn]", "pause_turn"), ("[sim:empty]", "end_turn")],
)  # fmt: skip
async def test_markers_force_outcomes(
    client: httpx.AsyncClient, marker: str, stop_reason: str
) -> None:
    """Each marker in the task forces its stop reason (even when tools are mentioned)."""
    message = await ok(client, body(f"Use read_file a.py {marker}"))
    assert message["stop_reason"] == stop_reason
    (block,) = message["content"]
    assert (block["text"] == "") == (marker == "[sim:empty]")


@pytest.mark.parametrize("marker", ["[sim:max_tokens]", "[sim:pause_turn]"])
async def test_continuation_completes_the_text(client: httpx.AsyncClient, marker: str) -> None:
    """Sending the partial reply back as the assistant turn gets the rest, then end_turn."""
    request = {k: v for k, v in body(f"Review {marker}").items() if k != "tools"}
    partial = await ok(client, request)
    prefix = partial["content"][0]["text"].rstrip()
    again = {
        **request,
        "messages": [*request["messages"], {"role": "assistant", "content": prefix}],
    }
    rest = await ok(client, again)
    assert rest["stop_reason"] == "end_turn"
    full = reply_text(request["model"], request["system"], request["messages"])
    assert prefix + rest["content"][0]["text"] == full
    assert len(prefix) < len(full)


# -- refusals ----------------------------------------------------------------------------------


def _with(**changes: Any) -> dict[str, Any]:
    return {**body(), **changes}


CALL = {"type": "tool_use", "id": "toolu_1", "name": "read_file", "input": {}}
RESULT = {"type": "tool_result", "tool_use_id": "toolu_1", "content": "r"}
REFUSED = [
    (_with(model="claude-nope-1"), 404, "not_found_error", "model: claude-nope-1"),
    (_with(max_tokens=64_001), 400, "invalid_request_error",
     "max_tokens: 64001 > 64000, which is the maximum allowed number of output tokens for "
     "claude-sonnet-4-5-20250929"),
    (_with(tool_choice={"type": "sometimes"}), 400, "invalid_request_error",
     "tool_choice.type: Input should be one of 'auto', 'any', 'tool', 'none'"),
    (_with(tool_choice={"type": "tool"}), 400, "invalid_request_error",
     "tool_choice.tool.name: Field required"),
    (_with(tool_choice={"type": "tool", "name": "nope"}), 400, "invalid_request_error",
     "tool_choice.tool.name: Tool 'nope' not found in tools"),
    (_with(tool_choice={"type": "none", "disable_parallel_tool_use": True}), 400,
     "invalid_request_error",
     "tool_choice.none.disable_parallel_tool_use: Extra inputs are not permitted"),
    (_with(tools=[{**READ, "name": "read file"}]), 400, "invalid_request_error",
     "tools.0.name: String should match pattern '^[a-zA-Z0-9_-]{1,128}$'"),
    (_with(tools=[READ, READ]), 400, "invalid_request_error", "tools: Tool names must be unique."),
    (_with(tools=[{"name": "x"}]), 400, "invalid_request_error",
     "tools.0.input_schema: Field required"),
    (_with(messages=[{"role": "user", "content": ""}]), 400, "invalid_request_error",
     "messages.0: all messages must have non-empty content except for the optional final "
     "assistant message"),
    (_with(messages=[{"role": "user", "content": []}]), 400, "invalid_request_error",
     "messages.0: all messages must have non-empty content except for the optional final "
     "assistant message"),
    (_with(messages=[{"role": "user", "content": [{"type": "text", "text": ""}]}]), 400,
     "invalid_request_error", "messages.0.content.0.text: text content blocks must be non-empty"),
    (_with(thinking={"type": "enabled", "budget_tokens": 1023}), 400, "invalid_request_error",
     "thinking.enabled.budget_tokens: Input should be greater than or equal to 1024"),
    (_with(thinking={"type": "enabled", "budget_tokens": 4000}), 400, "invalid_request_error",
     "max_tokens: must be greater than thinking.budget_tokens"),
    (_with(output_config={"format": {"type": "json"}}), 400, "invalid_request_error",
     "output_config.format.type: Input should be 'json_schema'"),
    (_with(messages=[{"role": "user", "content": "a"}, {"role": "assistant", "content": "b "}]),
     400, "invalid_request_error",
     "messages: final assistant content cannot end with trailing whitespace"),
    (_with(messages=[
        {"role": "user", "content": "a"},
        {"role": "assistant", "content": "b"},
        {"role": "user", "content": [RESULT]},
     ]), 400, "invalid_request_error",
     "messages.2.content.0: unexpected `tool_use_id` found in `tool_result` blocks: toolu_1. "
     "Each `tool_result` block must have a corresponding `tool_use` block in the previous "
     "message."),
    (_with(messages=[
        {"role": "user", "content": "a"},
        {"role": "assistant", "content": [CALL]},
        {"role": "user", "content": "go on"},
     ]), 400, "invalid_request_error",
     "messages.2: `tool_use` ids were found without `tool_result` blocks immediately after: "
     "toolu_1. Each `tool_use` block must have a corresponding `tool_result` block in the next "
     "message."),
    ({**_with(messages=[{"role": "user", "content": "a"}, {"role": "assistant", "content": [CALL]},
                        {"role": "user", "content": [RESULT]}]), "tools": []},
     400, "invalid_request_error",
     "tools: Requests which include `tool_use` or `tool_result` blocks must define tools."),
    (_with(thread={"type": "continue", "previous_message_id": "msg_gone"}), 400,
     "invalid_request_error", "thread.previous_message_id: no thread ends at 'msg_gone'"),
]  # fmt: skip


@pytest.mark.parametrize(("request_body", "status", "error_type", "expected"), REFUSED)
async def test_refusals_name_the_field(
    sim: Simulator, client: httpx.AsyncClient, request_body: dict[str, Any], status: int,
    error_type: str, expected: str,
) -> None:  # fmt: skip
    """What the API refuses, the simulator refuses with the same status, type and field."""
    assert assert_error(await post(client, request_body), status, error_type) == expected
    assert sim.requests[-1].status == status


async def test_every_priced_model_is_served(client: httpx.AsyncClient) -> None:
    """Every model the engine prices is accepted (by its id, or a dated id), up to its limit."""
    served = [name for spec in MODELS for name in (spec.id, *spec.aliases)]
    for priced in PRICES:
        # An older model is known to the API only by its dated ids (``claude-3-haiku-20240307``).
        model = (
            priced
            if find_model(priced)
            else next(n for n in served if n[: len(priced) + 2] == f"{priced}-2")
        )
        spec = find_model(model)
        assert spec is not None, model
        request = {**body("hi"), "model": model, "max_tokens": spec.max_tokens}
        del request["tools"]
        assert (await ok(client, request))["model"] == model


# -- /v1/models --------------------------------------------------------------------------------


async def test_models_endpoint(client: httpx.AsyncClient) -> None:
    """GET /v1/models pages like the API; /v1/models/{id} answers ModelInfo or 404."""
    first = (await client.get("/v1/models", params={"limit": 3})).json()
    validate(first, "ListResponse_ModelInfo_")
    assert [m["id"] for m in first["data"]] == [m.id for m in MODELS[:3]]
    assert first["has_more"] is True
    assert first["last_id"] == MODELS[2].id
    after = (
        await client.get("/v1/models", params={"after_id": first["last_id"], "limit": 1000})
    ).json()
    assert [m["id"] for m in after["data"]] == [m.id for m in MODELS[3:]]
    assert after["has_more"] is False
    before = (await client.get("/v1/models", params={"before_id": MODELS[3].id, "limit": 2})).json()
    assert [m["id"] for m in before["data"]] == [MODELS[1].id, MODELS[2].id]
    assert before["has_more"] is True
    one = (await client.get("/v1/models/claude-haiku-4-5")).json()
    validate(one, "ModelInfo")
    assert (one["id"], one["max_tokens"]) == ("claude-haiku-4-5-20251001", 64_000)
    assert_error(await client.get("/v1/models/claude-nope"), 404, "not_found_error")
    bad = await client.get("/v1/models", params={"limit": 0})
    assert "limit" in assert_error(bad, 400, "invalid_request_error")
    anonymous = await client.get("/v1/models", headers={"x-api-key": ""})
    assert_error(anonymous, 401, "authentication_error")


async def test_streamed_events_match_openapi(client: httpx.AsyncClient) -> None:
    """Every event of a thinking + tool_use stream validates as a MessageStreamEvent."""
    request = body(thinking={"type": "enabled", "budget_tokens": 1024}, stream=True)
    events = sse_events((await post(client, request)).text)
    kinds = {data["type"] for _, data in events}
    assert {"message_start", "content_block_start", "content_block_delta"} <= kinds
    for event, data in events:
        assert event == data["type"]
        if event != "ping":
            validate(data, "MessageStreamEvent")
    deltas = {d["delta"]["type"] for e, d in events if e == "content_block_delta"}
    assert deltas == {"thinking_delta", "signature_delta", "text_delta", "input_json_delta"}


async def test_thread_holds_history_and_fields(client: httpx.AsyncClient) -> None:
    """thread create/continue: the continuation sends only its turn; tools and history are held."""
    first = await ok(client, body(thread={"type": "create"}))
    results = answered(body(), first)["messages"][-1]
    follow = {
        "model": "claude-sonnet-4-5",
        "max_tokens": 4000,
        "messages": [results],
        "thread": {"type": "continue", "previous_message_id": first["id"]},
    }
    final = await ok(client, follow)
    assert final["content"][0]["text"].startswith("Tool results:\n- search_text: ok\n")
    assert f"Task: {TASK}" in final["content"][0]["text"]
    unthreaded = {k: v for k, v in follow.items() if k != "thread"}
    message = assert_error(await post(client, unthreaded), 400, "invalid_request_error")
    assert message.startswith("tools: Requests which include `tool_use` or `tool_result`")
