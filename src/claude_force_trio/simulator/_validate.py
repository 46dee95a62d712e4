"""Body checks for ``/v1/messages`` and ``/v1/messages/count_tokens``, worded like the API's.

The point is that a client bug (a misspelt field, a zero ``max_tokens``, a
system block without text) fails against the simulator exactly as it would
against the API: 400 ``invalid_request_error`` with a message that starts with
the dotted path of the offending field (``frobnicate: Extra inputs are not
permitted``). Only the shape is checked, not model names or limits.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

__all__ = [
    "BETA_FIELDS",
    "COUNT_TOKENS_FIELDS",
    "MESSAGES_FIELDS",
    "SUPPORTED_VERSIONS",
    "InvalidRequest",
    "UnknownModel",
    "validate_body",
]

#: The ``anthropic-version`` header values the simulator accepts, as the API does.
SUPPORTED_VERSIONS: Final = ("2023-06-01", "2026-10-21")

MESSAGES_FIELDS: Final = frozenset(
    {
        "model", "max_tokens", "messages", "system", "temperature", "top_p", "top_k",
        "stop_sequences", "stream", "metadata", "tools", "tool_choice", "thinking",
        "service_tier", "cache_control", "output_config", "container", "inference_geo",
    }
)  # fmt: skip
#: Fields the SDK's beta methods send to the same ``/v1/messages`` route on top of these;
#: the simulator accepts them and, apart from ``thread`` (``_threads``), does not act on them.
BETA_FIELDS: Final = frozenset(
    {
        "billing_policy", "compaction", "context_management", "diagnostics",
        "fallback_credit_token", "fallbacks", "mcp_servers", "output_format", "speed", "thread",
    }
)  # fmt: skip
COUNT_TOKENS_FIELDS: Final = frozenset(
    {"model", "messages", "system", "tools", "tool_choice", "thinking", "cache_control",
     "output_config"}
)  # fmt: skip
_OBJECT_FIELDS: Final = ("metadata", "tool_choice", "thinking", "output_config")


class InvalidRequest(Exception):
    """A body the API would refuse with 400 ``invalid_request_error``; ``str()`` is the message."""

    status = 400
    error_type = "invalid_request_error"


class UnknownModel(InvalidRequest):
    """A model the API does not serve: 404 ``not_found_error``, ``model: NAME``."""

    status = 404
    error_type = "not_found_error"


def _fail(path: str, problem: str) -> InvalidRequest:
    return InvalidRequest(f"{path}: {problem}" if path else problem)


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _check_cache_control(value: object, path: str) -> None:
    if not isinstance(value, Mapping):
        raise _fail(path, "Input should be an object")
    if value.get("type") != "ephemeral":
        raise _fail(f"{path}.type", "Input should be 'ephemeral'")
    for key in value:
        if key not in ("type", "ttl"):
            raise _fail(f"{path}.{key}", "Extra inputs are not permitted")
    if "ttl" in value and value["ttl"] not in ("5m", "1h"):
        raise _fail(f"{path}.ttl", "Input should be '5m' or '1h'")


def _check_block(block: object, path: str) -> None:
    if not isinstance(block, Mapping):
        raise _fail(path, "Input should be an object")
    kind = block.get("type")
    if not isinstance(kind, str):
        raise _fail(f"{path}.type", "Field required")
    if kind == "text" and not isinstance(block.get("text"), str):
        raise _fail(f"{path}.text", "Field required")
    if "cache_control" in block and block["cache_control"] is not None:
        _check_cache_control(block["cache_control"], f"{path}.cache_control")


def _check_system(system: object) -> None:
    if isinstance(system, str):
        return
    if not isinstance(system, list):
        raise _fail("system", "Input should be a valid string or a list of text blocks")
    for i, block in enumerate(system):
        _check_block(block, f"system.{i}")
        if block.get("type") != "text":
            raise _fail(f"system.{i}.type", "Input should be 'text'")


def _check_messages(messages: object) -> None:
    if not isinstance(messages, list):
        raise _fail("messages", "Input should be a valid list")
    if not messages:
        raise _fail("messages", "List should have at least 1 item")
    for i, message in enumerate(messages):
        path = f"messages.{i}"
        if not isinstance(message, Mapping):
            raise _fail(path, "Input should be an object")
        for key in message:
            if key not in ("role", "content"):
                raise _fail(f"{path}.{key}", "Extra inputs are not permitted")
        if message.get("role") not in ("user", "assistant"):
            raise _fail(f"{path}.role", "Input should be 'user' or 'assistant'")
        content = message.get("content")
        if isinstance(content, str):
            continue
        if not isinstance(content, list):
            raise _fail(f"{path}.content", "Input should be a valid string or a list of blocks")
        for j, block in enumerate(content):
            _check_block(block, f"{path}.content.{j}")


def _check_sampling(body: Mapping[str, Any]) -> None:
    for name in ("temperature", "top_p"):
        if name in body and not (_is_number(body[name]) and 0.0 <= body[name] <= 1.0):
            raise _fail(name, "Input should be a number between 0 and 1")
    if "top_k" in body and not (_is_int(body["top_k"]) and body["top_k"] >= 0):
        raise _fail("top_k", "Input should be a non-negative integer")
    stops = body.get("stop_sequences")
    if stops is not None and not (
        isinstance(stops, list) and all(isinstance(s, str) and s for s in stops)
    ):
        raise _fail("stop_sequences", "Input should be a list of non-empty strings")


def validate_body(body: object, *, count_tokens: bool = False) -> dict[str, Any]:
    """Check a decoded JSON body and return it typed as a dict.

    Args:
        body: the decoded request JSON.
        count_tokens: check against ``count_tokens`` (no ``max_tokens``, fewer fields).

    Raises:
        InvalidRequest: with the API's wording, naming the first offending field.
    """
    if not isinstance(body, dict):
        raise _fail("", "Request body must be a JSON object")
    allowed = COUNT_TOKENS_FIELDS if count_tokens else MESSAGES_FIELDS | BETA_FIELDS
    for key in body:
        if key not in allowed:
            raise _fail(str(key), "Extra inputs are not permitted")
    required = ("model", "messages") if count_tokens else ("model", "max_tokens", "messages")
    for key in required:
        if key not in body:
            raise _fail(key, "Field required")
    if not isinstance(body["model"], str) or not body["model"]:
        raise _fail("model", "Input should be a valid string")
    if not count_tokens and not (_is_int(body["max_tokens"]) and body["max_tokens"] >= 1):
        raise _fail("max_tokens", "Input should be an integer greater than or equal to 1")
    _check_messages(body["messages"])
    if "system" in body:
        _check_system(body["system"])
    _check_sampling(body)
    if "stream" in body and not isinstance(body["stream"], bool):
        raise _fail("stream", "Input should be a valid boolean")
    if "tools" in body and not (
        isinstance(body["tools"], list) and all(isinstance(t, Mapping) for t in body["tools"])
    ):
        raise _fail("tools", "Input should be a list of objects")
    for name in _OBJECT_FIELDS:
        if body.get(name) is not None and not isinstance(body[name], Mapping):
            raise _fail(name, "Input should be an object")
    if body.get("cache_control") is not None:
        _check_cache_control(body["cache_control"], "cache_control")
    if "service_tier" in body and body["service_tier"] not in ("auto", "standard_only"):
        raise _fail("service_tier", "Input should be 'auto' or 'standard_only'")
    return body
