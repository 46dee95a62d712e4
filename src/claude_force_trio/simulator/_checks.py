"""The API's refusals beyond shape: models and limits, tools, thinking, turn structure.

Why here and worded like the API: a client that pairs its ``tool_result``
blocks wrongly, drops a thinking block between tool turns, edits a thinking
``signature``, names a tool the API refuses or asks a model for more output
than it can give must fail against the simulator as it would against the API
(400 ``invalid_request_error``, the message starting with the field's dotted
path), not first in production. An unknown model is 404 ``not_found_error``
(``model: NAME``), which is what the API answers.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence, Set
from typing import Any, Final

from ._models import find_model
from ._turns import client_tools, thinking_signature
from ._validate import InvalidRequest, UnknownModel

__all__ = ["UnknownModel", "check_semantics"]

_TOOL_NAME: Final = re.compile(r"^[a-zA-Z0-9_-]{1,128}$")
_TOOL_ID: Final = re.compile(r"^[a-zA-Z0-9_-]+$")
_TOOL_KEYS: Final = frozenset(
    {"type", "description", "name", "input_schema", "cache_control", "strict",
     "eager_input_streaming", "allowed_callers", "defer_loading", "input_examples"}
)  # fmt: skip
_CHOICE_KEYS: Final = {
    "auto": {"type", "disable_parallel_tool_use"},
    "any": {"type", "disable_parallel_tool_use"},
    "tool": {"type", "name", "disable_parallel_tool_use"},
    "none": {"type"},
}
_THINKING_KEYS: Final = {
    "enabled": {"type", "budget_tokens", "display"},
    "adaptive": {"type", "display"},
    "disabled": {"type"},
}
_EFFORTS: Final = ("low", "medium", "high", "xhigh", "max")


def _check_model(body: Mapping[str, Any], count_tokens: bool) -> None:
    model = find_model(str(body["model"]))
    if model is None:
        raise UnknownModel(f"model: {body['model']}")
    if not count_tokens and body["max_tokens"] > model.max_tokens:
        raise InvalidRequest(
            f"max_tokens: {body['max_tokens']} > {model.max_tokens}, which is the maximum "
            f"allowed number of output tokens for {model.id}"
        )


def _check_tool(tool: Mapping[str, Any], path: str, client: bool) -> None:
    name = tool.get("name")
    if not isinstance(name, str):
        raise InvalidRequest(f"{path}.name: Field required")
    if not _TOOL_NAME.match(name):
        raise InvalidRequest(f"{path}.name: String should match pattern '^[a-zA-Z0-9_-]{{1,128}}$'")
    if not client:
        return  # server tools: each type has its own fields; the API checks them, we pass them
    _no_extra(tool, _TOOL_KEYS, path)
    schema = tool.get("input_schema")
    if not isinstance(schema, Mapping):
        raise InvalidRequest(f"{path}.input_schema: Field required")
    if schema.get("type") != "object":
        raise InvalidRequest(f"{path}.input_schema.type: Input should be 'object'")


def _check_tools(tools: Sequence[Mapping[str, Any]]) -> None:
    client = {id(t) for t in client_tools(list(tools))}
    seen: set[str] = set()
    for i, tool in enumerate(tools):
        _check_tool(tool, f"tools.{i}", id(tool) in client)
        if tool["name"] in seen:
            raise InvalidRequest("tools: Tool names must be unique.")
        seen.add(tool["name"])


def _no_extra(value: Mapping[str, Any], allowed: Set[str], path: str) -> None:
    for key in value:
        if key not in allowed:
            raise InvalidRequest(f"{path}.{key}: Extra inputs are not permitted")


def _tagged(value: Mapping[str, Any], path: str, keys: Mapping[str, Set[str]]) -> str:
    """The ``type`` of a tagged union (``tool_choice``, ``thinking``), its fields checked."""
    kind = value.get("type")
    if not isinstance(kind, str) or kind not in keys:
        options = ", ".join(f"'{k}'" for k in keys)
        raise InvalidRequest(f"{path}.type: Input should be one of {options}")
    _no_extra(value, keys[kind], f"{path}.{kind}")
    return kind


def _check_tool_choice(choice: Mapping[str, Any], tools: object) -> None:
    kind = _tagged(choice, "tool_choice", _CHOICE_KEYS)
    parallel = choice.get("disable_parallel_tool_use")
    if parallel is not None and not isinstance(parallel, bool):
        raise InvalidRequest(
            f"tool_choice.{kind}.disable_parallel_tool_use: Input should be a valid boolean"
        )
    names = [t.get("name") for t in tools] if isinstance(tools, list) else []
    if kind in ("any", "tool") and not names:
        raise InvalidRequest(
            f"tool_choice: tool_choice.type '{kind}' requires tools to be provided"
        )
    if kind == "tool":
        if not isinstance(choice.get("name"), str):
            raise InvalidRequest("tool_choice.tool.name: Field required")
        if choice["name"] not in names:
            raise InvalidRequest(
                f"tool_choice.tool.name: Tool '{choice['name']}' not found in tools"
            )


def _check_thinking(body: Mapping[str, Any]) -> None:
    thinking = body["thinking"]
    kind = _tagged(thinking, "thinking", _THINKING_KEYS)
    if thinking.get("display") not in (None, "summarized", "omitted"):
        raise InvalidRequest(f"thinking.{kind}.display: Input should be 'summarized' or 'omitted'")
    if kind == "enabled":
        budget = thinking.get("budget_tokens")
        if not isinstance(budget, int) or isinstance(budget, bool):
            raise InvalidRequest("thinking.enabled.budget_tokens: Field required")
        if budget < 1024:
            raise InvalidRequest(
                "thinking.enabled.budget_tokens: Input should be greater than or equal to 1024"
            )
        if "max_tokens" in body and budget >= body["max_tokens"]:
            raise InvalidRequest("max_tokens: must be greater than thinking.budget_tokens")
    if kind != "disabled" and body.get("temperature", 1) != 1:
        raise InvalidRequest("temperature: may only be set to 1 when thinking is enabled")


def _check_output_config(config: Mapping[str, Any]) -> None:
    _no_extra(config, {"effort", "format"}, "output_config")
    if config.get("effort") is not None and config["effort"] not in _EFFORTS:
        raise InvalidRequest(
            f"output_config.effort: Input should be {', '.join(map(repr, _EFFORTS))}"
        )
    fmt = config.get("format")
    if fmt is None:
        return
    if not isinstance(fmt, Mapping) or fmt.get("type") != "json_schema":
        raise InvalidRequest("output_config.format.type: Input should be 'json_schema'")
    if not isinstance(fmt.get("schema"), Mapping):
        raise InvalidRequest("output_config.format.schema: Field required")


def _check_tool_block(block: Mapping[str, Any], path: str, role: str) -> None:
    kind = block["type"]
    wanted = "user" if kind == "tool_result" else "assistant"
    if role != wanted:
        raise InvalidRequest(f"{path}.type: `{kind}` blocks are only allowed in {wanted} messages")
    if kind == "tool_use":
        if not (isinstance(block.get("id"), str) and _TOOL_ID.match(block["id"])):
            raise InvalidRequest(f"{path}.id: String should match pattern '^[a-zA-Z0-9_-]+$'")
        if not isinstance(block.get("name"), str) or not block["name"]:
            raise InvalidRequest(f"{path}.name: Field required")
        if not isinstance(block.get("input"), Mapping):
            raise InvalidRequest(f"{path}.input: Input should be a valid dictionary")
    elif kind == "tool_result":
        if not isinstance(block.get("tool_use_id"), str):
            raise InvalidRequest(f"{path}.tool_use_id: Field required")
        if "is_error" in block and not isinstance(block["is_error"], bool):
            raise InvalidRequest(f"{path}.is_error: Input should be a valid boolean")
    elif kind == "thinking":
        for key in ("thinking", "signature"):
            if not isinstance(block.get(key), str):
                raise InvalidRequest(f"{path}.{key}: Field required")
        if thinking_signature(block["thinking"]) != block["signature"]:
            raise InvalidRequest(f"{path}: Invalid `signature` in `thinking` block")


_TURN_BLOCKS: Final = frozenset({"tool_use", "tool_result", "thinking"})


def _blocks(message: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    content = message["content"]
    return content if isinstance(content, list) else []


def _check_contents(messages: Sequence[Mapping[str, Any]]) -> None:
    """Non-empty content and text; tool, thinking blocks well formed and in the right role."""
    last = len(messages) - 1
    for i, message in enumerate(messages):
        content, role = message["content"], message["role"]
        final_assistant = i == last and role == "assistant"
        if not content and not final_assistant:
            raise InvalidRequest(
                f"messages.{i}: all messages must have non-empty content except for the "
                "optional final assistant message"
            )
        for j, block in enumerate(_blocks(message)):
            path = f"messages.{i}.content.{j}"
            if block["type"] == "text" and not block["text"]:
                raise InvalidRequest(f"{path}.text: text content blocks must be non-empty")
            if block["type"] in _TURN_BLOCKS:
                _check_tool_block(block, path, role)
        if final_assistant and _ends_in_space(content):
            raise InvalidRequest(
                "messages: final assistant content cannot end with trailing whitespace"
            )


def _ends_in_space(content: object) -> bool:
    """Whether an assistant prefix ends in whitespace, which the API refuses to continue."""
    if isinstance(content, list) and content and content[-1].get("type") == "text":
        content = content[-1]["text"]
    return isinstance(content, str) and content != content.rstrip()


def _ids(message: Mapping[str, Any], kind: str, key: str) -> list[str]:
    return [str(b.get(key)) for b in _blocks(message) if b.get("type") == kind]


def _check_pairs(messages: Sequence[Mapping[str, Any]], thinking: bool, tools: bool) -> None:
    """Each tool_result answers a tool_use of the turn before, and each tool_use is answered."""
    if not tools and any(
        b.get("type") in ("tool_use", "tool_result") for m in messages for b in _blocks(m)
    ):
        raise InvalidRequest(
            "tools: Requests which include `tool_use` or `tool_result` blocks must define tools."
        )
    for i, message in enumerate(messages):
        if message["role"] == "user":
            asked = set(_ids(messages[i - 1], "tool_use", "id")) if i else set()
            for j, block in enumerate(_blocks(message)):
                if block.get("type") == "tool_result" and block["tool_use_id"] not in asked:
                    raise InvalidRequest(
                        f"messages.{i}.content.{j}: unexpected `tool_use_id` found in "
                        f"`tool_result` blocks: {block['tool_use_id']}. Each `tool_result` block "
                        "must have a corresponding `tool_use` block in the previous message."
                    )
            continue
        calls = _ids(message, "tool_use", "id")
        if calls and i + 1 < len(messages):
            answered = set(_ids(messages[i + 1], "tool_result", "tool_use_id"))
            if missing := [c for c in calls if c not in answered]:
                raise InvalidRequest(
                    f"messages.{i + 1}: `tool_use` ids were found without `tool_result` blocks "
                    f"immediately after: {', '.join(missing)}. Each `tool_use` block must have "
                    "a corresponding `tool_result` block in the next message."
                )
    _check_thinking_first(messages, thinking)


def _check_thinking_first(messages: Sequence[Mapping[str, Any]], thinking: bool) -> None:
    """With thinking on, the assistant turn whose tool calls are answered starts with thinking."""
    if not thinking or len(messages) < 2 or not _ids(messages[-1], "tool_result", "tool_use_id"):
        return
    blocks = _blocks(messages[-2])
    first = blocks[0].get("type") if blocks else None
    if first not in ("thinking", "redacted_thinking"):
        raise InvalidRequest(
            f"messages.{len(messages) - 2}.content.0.type: Expected `thinking` or "
            f"`redacted_thinking`, but found `{first}`. When `thinking` is enabled, a final "
            "`assistant` message must start with a thinking block (preceding the lastmost set "
            "of `tool_use` and `tool_result` blocks)."
        )


def check_semantics(body: Mapping[str, Any], *, count_tokens: bool) -> None:
    """Check what the shape checks leave: model, limits, tools, thinking, turns.

    Raises:
        UnknownModel: the model is not one the API serves.
        InvalidRequest: any other refusal, naming the field first.
    """
    _check_model(body, count_tokens)
    messages = body["messages"]
    _check_contents(messages)
    if body.get("tools") is not None:
        _check_tools(body["tools"])
    if body.get("tool_choice") is not None:
        _check_tool_choice(body["tool_choice"], body.get("tools"))
    if body.get("thinking") is not None:
        _check_thinking(body)
    if body.get("output_config") is not None:
        _check_output_config(body["output_config"])
    thinking = (body.get("thinking") or {}).get("type") in ("enabled", "adaptive")
    _check_pairs(messages, thinking, bool(body.get("tools")))
