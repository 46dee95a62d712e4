"""What a step's final reply means: honest outcomes, and the typed answer of a schema.

Why a step does not simply succeed when the API answers: a reply cut at
``max_tokens``, a refusal or an empty text is not the answer a dependent
needs, and passing it on as ``succeeded`` hides the failure two steps later.
So :func:`verdict` reads the ``stop_reason`` (the agent may accept or
continue a truncated reply: ``on_max_tokens``), and :func:`parse_data` turns
the final text into ``StepResult.data`` when the step has an
``output_schema``, naming the first schema error (a JSON path and a message)
when it does not fit.

Failures are :class:`Failure` values, not exceptions: the step records them
(``error_type`` is ``truncated``, ``refused``, ``empty``, ``max_turns`` or
``invalid_output``) and the statuses stay the five a step has.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from ._json_check import first_error

__all__ = [
    "Failure",
    "Verdict",
    "parse_data",
    "thinking_of",
    "tool_uses",
    "verdict",
]

#: Stop reasons that end a reply cut short: the answer is incomplete.
TRUNCATED = frozenset({"max_tokens", "model_context_window_exceeded"})

#: What to do with a reply: ``tools`` (run them, ask again), ``resume`` (send
#: it back as it is: ``pause_turn``), ``truncated`` (the agent's
#: ``on_max_tokens`` decides), ``refused``, or ``final``.
Verdict = Literal["tools", "resume", "truncated", "refused", "final"]


@dataclass(frozen=True, slots=True)
class Failure:
    """Why a step's loop ended without an answer.

    Attributes:
        error_type: ``truncated``, ``refused``, ``empty``, ``max_turns`` or ``invalid_output``.
        message: one line saying what happened, for ``StepResult.error``.
    """

    error_type: str
    message: str


def verdict(stop_reason: str | None) -> Verdict:
    """What ``stop_reason`` asks of the loop.

    A reason the API adds later (or none, from a lax server) is read as the
    end of the turn: the text, checked like any other, is the answer.
    """
    if stop_reason == "tool_use":
        return "tools"
    if stop_reason == "pause_turn":
        return "resume"
    if stop_reason in TRUNCATED:
        return "truncated"
    if stop_reason == "refusal":
        return "refused"
    return "final"


def tool_uses(content: Iterable[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """The reply's client ``tool_use`` blocks, in order (server tools ran at the API)."""
    return [block for block in content if block.get("type") == "tool_use"]


def thinking_of(content: Iterable[Mapping[str, Any]]) -> list[str]:
    """The text of the reply's ``thinking`` blocks (``redacted_thinking`` has none)."""
    return [
        block["thinking"]
        for block in content
        if block.get("type") == "thinking" and isinstance(block.get("thinking"), str)
    ]


def parse_data(text: str, schema: Mapping[str, Any]) -> tuple[Any, str | None]:
    """The answer ``text`` as JSON checked against ``schema``: ``(data, None)``, or ``(None, why)``.

    A reply wrapped in a Markdown code fence is read inside it: models asked
    for JSON without the API's structured outputs often fence it.
    """
    body = _unfenced(text.strip())
    try:
        data = json.loads(body)
    except json.JSONDecodeError as exc:
        return None, f"$: not JSON ({exc.msg} at line {exc.lineno}, column {exc.colno})"
    except (RecursionError, ValueError) as exc:
        return None, f"$: not JSON ({exc})"
    problem = first_error(schema, data)
    return (data, None) if problem is None else (None, problem)


def _unfenced(text: str) -> str:
    """``text`` without a surrounding ```` ``` ```` fence (and its language tag), if it has one."""
    if not (text.startswith("```") and text.endswith("```") and len(text) >= 6):
        return text
    inner = text[3:-3]
    first, _, rest = inner.partition("\n")
    return rest if first.strip().isalnum() or not first.strip() else inner
