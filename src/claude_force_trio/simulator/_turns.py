"""Replies with more than one text block: tool calls, thinking, structured output, forced outcomes.

A body asks for this path only when it offers tools, enables thinking, sets
``output_config.format``, continues an assistant turn, or carries a ``[sim:…]``
marker; anything else keeps the plain-text reply of ``_replies`` (no cost per
request). Every decision is a pure function of the body:

* **Tool results in the last user message** → a final text that quotes each
  result briefly (and says which were errors), ``end_turn``.
* **Forced tool** (``tool_choice`` ``any`` or ``tool``) or **client tools whose
  names the latest user text mentions** → ``tool_use`` blocks in the order
  mentioned (parallel calls; one with ``disable_parallel_tool_use``), ids
  ``toolu_…``, inputs generated from each ``input_schema``, ``tool_use``.
  Server tools (``web_search``, ``code_execution``…) are never executed: they
  count as not mentioned, and forcing one gets a text saying so.
* **Thinking** (``enabled`` or ``adaptive``) → a thinking block first, signed
  with an HMAC of its text (``thinking_signature``), which later requests must
  send back unchanged.
* **``output_config.format``** (``json_schema``) → the text is a JSON instance
  of the schema.
* **Markers** in the last user message's text: ``[sim:max_tokens]`` (half the
  text, ``max_tokens``), ``[sim:refusal]`` (``refusal``), ``[sim:pause_turn]``
  (half the text, ``pause_turn``), ``[sim:empty]`` (an empty text). A request
  whose last message is the assistant's (a continuation after ``max_tokens`` or
  ``pause_turn``) gets the rest of the text and stops normally.
* ``[sim:tool_turns=N]`` in the task: the mentioned tools are called again
  after each round of results until N rounds have been answered (a multi-turn
  loop for tests and benchmarks); then the final text.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import math
import re
from collections.abc import Mapping, Sequence
from typing import Any, Final

from ._instances import instance_for
from ._replies import Reply, generate_reply, reply_text, task_line

__all__ = [
    "MARKERS",
    "client_tools",
    "generate_turn",
    "is_plain",
    "reply_for",
    "thinking_signature",
]

#: The markers a task can carry to force an outcome.
MARKERS: Final = ("[sim:max_tokens]", "[sim:refusal]", "[sim:pause_turn]", "[sim:empty]")
_SIGNING_KEY: Final = b"claude-force-trio simulator: thinking signature v1"
_REFUSAL_TEXT: Final = "I can't help with that request."
_QUOTE_CHARS: Final = 80
_TOOL_TURNS: Final = re.compile(r"\[sim:tool_turns=(\d+)\]")


def thinking_signature(thinking: str) -> str:
    """The ``signature`` of a thinking block: base64 of an HMAC-SHA256 of its text."""
    digest = hmac.new(_SIGNING_KEY, thinking.encode(), hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def _blocks(content: object) -> list[Mapping[str, Any]]:
    if isinstance(content, str):
        return [{"type": "text", "text": content}]
    return [b for b in content if isinstance(b, Mapping)] if isinstance(content, list) else []


def _text(content: object) -> str:
    return "\n".join(str(b.get("text", "")) for b in _blocks(content) if b.get("type") == "text")


def is_plain(body: Mapping[str, Any]) -> bool:
    """Whether the plain-text reply serves this body (nothing here would change it)."""
    if body.get("tools") or body.get("output_config") or body.get("thinking"):
        return False
    last = body["messages"][-1]
    return last.get("role") == "user" and "[sim:" not in _text(last.get("content"))


def client_tools(tools: object) -> list[Mapping[str, Any]]:
    """The tools the client runs (no ``type``, or ``custom``), as opposed to server tools."""
    if not isinstance(tools, list):
        return []
    return [t for t in tools if isinstance(t, Mapping) and t.get("type") in (None, "custom")]


def _mentions(text: str, names: Sequence[str]) -> list[str]:
    """The names ``text`` mentions as whole words, in the order of their first mention."""
    found = []
    for name in names:
        match = re.search(rf"(?<![\w-]){re.escape(name)}(?![\w-])", text)
        if match:
            found.append((match.start(), name))
    return [name for _, name in sorted(found)]


def _tool_id(body: Mapping[str, Any], index: int) -> str:
    seed = json.dumps([body["messages"], index], sort_keys=True, ensure_ascii=False)
    return "toolu_sim" + hashlib.sha256(seed.encode()).hexdigest()[:24]


def _chosen_tools(body: Mapping[str, Any], task: str) -> tuple[list[Mapping[str, Any]], str]:
    """The client tools to call now, and a note when a forced server tool was asked for."""
    choice = body.get("tool_choice") or {"type": "auto"}
    kind = choice.get("type")
    if kind == "none":
        return [], ""
    tools = client_tools(body.get("tools"))
    by_name = {str(t["name"]): t for t in tools}
    picked = [by_name[n] for n in _mentions(task, list(by_name))]
    if kind == "tool":
        forced = by_name.get(str(choice.get("name")))
        if forced is None:
            return [], f"(simulator: server tool {choice.get('name')} is not executed)"
        picked = [forced]
    elif kind == "any" and not picked:
        if not tools:
            return [], "(simulator: server tools are not executed)"
        picked = tools[:1]
    if choice.get("disable_parallel_tool_use"):
        picked = picked[:1]
    return picked, ""


def _tool_results(messages: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    last = messages[-1]
    if last.get("role") != "user":
        return []
    return [b for b in _blocks(last.get("content")) if b.get("type") == "tool_result"]


def _quote(result: Mapping[str, Any], names: Mapping[str, str]) -> str:
    content = result.get("content", "")
    text = content if isinstance(content, str) else _text(content)
    text = " ".join(text.split())
    if len(text) > _QUOTE_CHARS:
        text = text[: _QUOTE_CHARS - 1] + "…"
    name = names.get(str(result.get("tool_use_id")), "tool")
    status = " (is_error)" if result.get("is_error") else ""
    return f"- {name}{status}: {text or '(empty)'}"


def _results_text(
    messages: Sequence[Mapping[str, Any]], results: Sequence[Mapping[str, Any]]
) -> str:
    names = {}
    if len(messages) >= 2:
        for block in _blocks(messages[-2].get("content")):
            if block.get("type") == "tool_use":
                names[str(block.get("id"))] = str(block.get("name"))
    return "Tool results:\n" + "\n".join(_quote(r, names) for r in results)


def _wants_tools(messages: Sequence[Mapping[str, Any]], task: str) -> bool:
    """Whether this turn may call tools: fewer rounds answered than ``tool_turns`` (default 1).

    Rounds are counted back to the task (the latest user text without tool
    results), so a new task starts its own count.
    """
    wanted = _TOOL_TURNS.search(task)
    if wanted is None:
        return not _tool_results(messages)
    rounds = 0
    for message in reversed(messages):
        if message.get("role") != "user":
            continue
        if any(b.get("type") == "tool_result" for b in _blocks(message.get("content"))):
            rounds += 1
        elif _text(message.get("content")).strip():
            break
    return rounds < int(wanted.group(1))


def _latest_task(messages: Sequence[Mapping[str, Any]]) -> str:
    """The text of the latest user message that has any: where tools are mentioned."""
    for message in reversed(messages):
        if message.get("role") == "user" and (text := _text(message.get("content")).strip()):
            return text
    return ""


def _thinking_block(body: Mapping[str, Any], task: str, plan: str) -> dict[str, Any] | None:
    config = body.get("thinking") or {}
    if config.get("type") not in ("enabled", "adaptive"):
        return None
    thought = (
        f"The user asks: {task_line(body['messages'])} "
        f"{plan} I will keep the answer short and concrete."
    )
    if config.get("type") == "enabled":
        thought = thought[: int(config["budget_tokens"]) * 4]
    if config.get("display") == "omitted":
        thought = ""
    return {"type": "thinking", "thinking": thought, "signature": thinking_signature(thought)}


def _final_text(body: Mapping[str, Any], task: str, prefix: str) -> str:
    """What the model says in its last turn: prose (with quoted tool results) or JSON."""
    messages = body["messages"]
    history = messages[:-1] if prefix else messages
    fmt = (body.get("output_config") or {}).get("format")
    if isinstance(fmt, Mapping) and fmt.get("type") == "json_schema":
        text = json.dumps(instance_for(fmt.get("schema") or {}, task), ensure_ascii=False)
    else:
        text = reply_text(str(body["model"]), body.get("system"), history)
        if results := _tool_results(history):
            text = _results_text(history, results) + "\n\n" + text
    if prefix and text.startswith(prefix):
        return text[len(prefix) :]
    return text


def _stop(text: str, body: Mapping[str, Any]) -> tuple[str, str, str | None]:
    """Apply ``stop_sequences`` and ``max_tokens`` to the final text, as the plain path does."""
    hits = [(text.find(s), s) for s in body.get("stop_sequences") or () if s in text]
    if hits:
        index, sequence = min(hits)
        return text[:index], "stop_sequence", sequence
    if math.ceil(len(text) / 4) > int(body["max_tokens"]):
        return text[: int(body["max_tokens"]) * 4], "max_tokens", None
    return text, "end_turn", None


def _tokens(blocks: Sequence[Mapping[str, Any]]) -> int:
    chars = 0
    for block in blocks:
        chars += len(str(block.get("text", ""))) + len(str(block.get("thinking", "")))
        if block.get("type") == "tool_use":
            chars += len(block["name"]) + len(json.dumps(block["input"]))
    return max(1, math.ceil(chars / 4))


def _forced(marker: str, text: str) -> tuple[str, str]:
    if marker == "[sim:refusal]":
        return _REFUSAL_TEXT, "refusal"
    if marker == "[sim:empty]":
        return "", "end_turn"
    return text[: max(1, len(text) // 2)], marker[5:-1]


def _text_block(text: str) -> dict[str, Any]:
    return {"type": "text", "text": text, "citations": None}


def generate_turn(body: Mapping[str, Any]) -> Reply:
    """The reply to a validated body that :func:`is_plain` rejected."""
    messages = body["messages"]
    last = messages[-1]
    prefix = _text(last.get("content")) if last.get("role") == "assistant" else ""
    task = _latest_task(messages)
    marker = "" if prefix else next((m for m in MARKERS if m in _text(last.get("content"))), "")
    calls: list[Mapping[str, Any]] = []
    note = ""
    if not marker and not prefix and _wants_tools(messages, task):
        calls, note = _chosen_tools(body, task)
    plan = f"I will call {', '.join(str(t['name']) for t in calls)}." if calls else ""
    blocks: list[dict[str, Any]] = []
    if (thinking := _thinking_block(body, task, plan)) is not None:
        blocks.append(thinking)
    if calls:
        blocks.append(_text_block(f"I'll use {', '.join(str(t['name']) for t in calls)}."))
        for i, tool in enumerate(calls):
            tool_input = instance_for(_required_only(tool.get("input_schema")), task)
            blocks.append({"type": "tool_use", "id": _tool_id(body, i), "name": tool["name"],
                           "input": tool_input, "caller": {"type": "direct"}})  # fmt: skip
        return Reply("", "tool_use", None, _tokens(blocks), tuple(blocks))
    text = note or _final_text(body, task, prefix)
    if marker:
        text, stop_reason, sequence = (*_forced(marker, text), None)
    else:
        text, stop_reason, sequence = _stop(text, body)
    blocks.append(_text_block(text))
    return Reply(text, stop_reason, sequence, _tokens(blocks), tuple(blocks))


def _required_only(schema: object) -> Mapping[str, Any]:
    """A tool's input schema without its optional top-level properties.

    A model calling a tool passes what it must and leaves the rest to the
    tool's defaults (``read_file`` without ``max_lines`` reads the file, not
    its first line); structured output, by contrast, fills optional fields.
    """
    if not isinstance(schema, Mapping):
        return {"type": "object"}
    props = schema.get("properties")
    if not isinstance(props, Mapping):
        return schema
    required = schema.get("required") or ()
    return {**schema, "properties": {k: v for k, v in props.items() if k in required}}


def reply_for(body: Mapping[str, Any]) -> Reply:
    """The reply to a validated body: the plain text when nothing asks for more."""
    return generate_reply(body) if is_plain(body) else generate_turn(body)
