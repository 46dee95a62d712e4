"""Deterministic, readable reply text and where generation stops.

The text is a pure function of (model, system, messages) so tests can compare
runs, and it reads like a report so a demo is legible: it names the agent
(from the system prompt), echoes the task (the last user message's first
line) and adds a few "findings" picked by a hash of the prompt, ending with a
short reference derived from the same hash so different prompts never
collide. Output tokens are characters divided by four, like input tokens.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

__all__ = ["Reply", "agent_name", "generate_reply", "task_line", "text_chunks"]

_TASK_CHARS = 120
_FINDINGS = (
    "The main path is sound; the risk sits in the error handling around external calls.",
    "Two independent pieces of work can run in parallel, which shortens the critical path.",
    "Inputs are trusted too early; validate them at the boundary and fail with a clear message.",
    "The hot loop allocates on every iteration; hoisting the setup removes most of the cost.",
    "Naming is consistent, but two helpers do the same job and should be merged.",
    "Timeouts are missing on one network call, so a slow dependency can stall everything.",
    "Tests cover the happy path well; the failure branches need one case each.",
    "The configuration has a default that surprises users; make it explicit in the docs.",
    "Retries are safe here because the operation is idempotent; keep the backoff capped.",
    "A cache in front of the slow lookup would pay off: the same keys repeat within minutes.",
    "Logging leaks more detail than needed; redact identifiers before they leave the process.",
    "The data flows one way, which keeps the design easy to reason about; keep it that way.",
    "Concurrency is bounded by a limiter, so bursts degrade gracefully instead of failing.",
    "One public function has grown three responsibilities; splitting it will ease review.",
    "Type hints are complete, so a strict type-checker run should catch regressions early.",
    "The change is small and well isolated; the rollout risk is low.",
)
_CLOSINGS = (
    "Recommendation: address the first finding before merging; the rest can follow.",
    "Recommendation: ship it, with a follow-up ticket for the remaining items.",
    "Recommendation: add the missing tests first, then fix, then re-run this review.",
    "Recommendation: fix the blocking item now and schedule the others this week.",
)


def _text_of(content: object) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(
            str(b.get("text", "")) for b in content if isinstance(b, Mapping) and "text" in b
        )
    return ""


def _only_tool_results(content: object) -> bool:
    return (
        isinstance(content, list)
        and bool(content)
        and all(isinstance(b, Mapping) and b.get("type") == "tool_result" for b in content)
    )


def agent_name(system: object) -> str:
    """The agent's name: the first ``# Heading``, else the first "You are ..." line."""
    lines = [line.strip() for line in _text_of(system).splitlines()]
    for line in lines:
        if match := re.match(r"#\s+(.+)", line):
            return match.group(1).strip()
    for line in lines:
        if line.startswith("You are"):
            name = line.removeprefix("You are").strip().rstrip(".!:,;")
            return name[:60] or "assistant"
    return "assistant"


def task_line(messages: Sequence[Mapping[str, Any]]) -> str:
    """The last user message's first line of prose, cut to ~120 characters.

    Markdown headings (``# Your task``) are structure, not the task, so they are
    skipped unless the message has nothing else. A user message that only
    returns tool results is not a task: the one before it is.
    """
    for message in reversed(messages):
        if message.get("role") == "user" and not _only_tool_results(message.get("content")):
            lines = [ln.strip() for ln in _text_of(message.get("content")).splitlines()]
            lines = [ln for ln in lines if ln]
            prose = [ln for ln in lines if not ln.startswith("#")] or lines
            if not prose:
                return "(empty task)"
            line = prose[0]
            return line if len(line) <= _TASK_CHARS else line[: _TASK_CHARS - 1] + "…"
    return "(no task)"


def reply_text(model: str, system: object, messages: Sequence[Mapping[str, Any]]) -> str:
    """The full text the simulated model "wants" to say, before any stop condition."""
    prompt = json.dumps([model, system, messages], sort_keys=True, ensure_ascii=False)
    digest = hashlib.sha256(prompt.encode()).digest()
    count = 2 + digest[0] % 3
    picked: list[str] = []
    for byte in digest[1:]:
        finding = _FINDINGS[byte % len(_FINDINGS)]
        if finding not in picked:
            picked.append(finding)
        if len(picked) == count:
            break
    findings = "\n".join(f"{i}. {text}" for i, text in enumerate(picked, 1))
    closing = _CLOSINGS[digest[-1] % len(_CLOSINGS)]
    return (
        f"Agent: {agent_name(system)}\nTask: {task_line(messages)}\n\n"
        f"Findings:\n{findings}\n\n{closing}\nReference: sim-{digest[-4:].hex()}"
    )


@dataclass(frozen=True, slots=True)
class Reply:
    """The generated text and why it stopped (the API's ``stop_reason`` values).

    ``blocks`` is the whole ``content`` when it is more than one text block (tool
    calls, thinking: see ``_turns``); ``None`` means ``[text]``, the plain path.
    """

    text: str
    stop_reason: str
    stop_sequence: str | None
    output_tokens: int
    blocks: tuple[dict[str, Any], ...] | None = None


def generate_reply(body: Mapping[str, Any]) -> Reply:
    """Reply to a validated body, honouring ``stop_sequences`` and then ``max_tokens``."""
    text = reply_text(str(body["model"]), body.get("system"), body["messages"])
    stop_reason, stop_sequence = "end_turn", None
    hits = [(text.find(s), s) for s in body.get("stop_sequences") or () if s in text]
    if hits:
        index, stop_sequence = min(hits)
        text, stop_reason = text[:index], "stop_sequence"
    max_tokens = int(body["max_tokens"])
    if math.ceil(len(text) / 4) > max_tokens:
        text, stop_reason, stop_sequence = text[: max_tokens * 4], "max_tokens", None
    return Reply(text, stop_reason, stop_sequence, max(1, math.ceil(len(text) / 4)))


def text_chunks(text: str, size: int = 24) -> list[str]:
    """Split text into streaming deltas of about ``size`` characters at word boundaries."""
    chunks: list[str] = []
    current = ""
    for word in re.findall(r"\S+\s*|\s+", text):
        current += word
        if len(current) >= size:
            chunks.append(current)
            current = ""
    if current or not chunks:
        chunks.append(current)
    return chunks
