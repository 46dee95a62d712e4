"""One tool round of a step's loop: every ``tool_use`` of a reply, run at once.

Why concurrently, in one task group: the model asks for several tools in one
reply when it wants them all before it goes on, so the round takes as long as
its slowest call, not the sum. Each call runs under its own cancel scope (the
tool's ``timeout_s``, else :data:`DEFAULT_TIMEOUT_S`), so one hanging tool
times out alone and the others' results still go back.

Why a failed call is an answer, not an exception: the model decides what to
do about a tool that failed (try other input, another tool, or say so), so
an unknown name, input that breaks the tool's ``input_schema``, a
:class:`~claude_force_trio._tools.ToolError`, any other exception and a
timeout all become a ``tool_result`` with ``is_error: true`` and one short
line — the exception's type and message, scrubbed by the engine's redactor,
never a traceback. Cancellation from outside (the step's deadline, Ctrl-C)
passes through untouched. An output over :data:`OUTPUT_LIMIT` characters is
cut, with a note saying so, so a 10 MB file cannot blow up the next request.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import anyio

from ._json_check import first_error
from ._results import ToolCall
from ._tools import Tool, ToolBox, ToolError, ToolOutput

__all__ = [
    "DEFAULT_TIMEOUT_S",
    "OUTPUT_LIMIT",
    "Redact",
    "RoundReport",
    "ToolRound",
    "run_tools",
]

#: The most one tool call may take when its spec gives no ``timeout_s``.
DEFAULT_TIMEOUT_S = 60.0
#: Characters of a tool's output sent back to the model; the rest is cut.
OUTPUT_LIMIT = 100_000
#: Characters of a failure message the model is told.
ERROR_LIMIT = 300
#: Characters of a call's input kept in its record.
SUMMARY_LIMIT = 120

#: Scrubs a text of secrets and caps it: ``redact(text, limit)``.
Redact = Callable[[str, int], str]


class RoundReport:
    """Hears about each call of a round as it starts and ends. Both do nothing here."""

    __slots__ = ()

    def called(self, tool_use_id: str, name: str, turn: int) -> None:
        """A call starts."""

    def finished(self, tool_use_id: str, record: ToolCall) -> None:
        """A call ended (``record.is_error``: the model is told it failed)."""


@dataclass(frozen=True, slots=True)
class ToolRound:
    """What one round produced.

    Attributes:
        results: the ``tool_result`` blocks, in the order of the ``tool_use`` blocks.
        calls: a record of each call, in the same order.
    """

    results: list[dict[str, Any]]
    calls: tuple[ToolCall, ...]


async def run_tools(
    box: ToolBox,
    uses: Sequence[Mapping[str, Any]],
    *,
    turn: int,
    redact: Redact,
    report: RoundReport | None = None,
) -> ToolRound:
    """Run every ``tool_use`` block of one reply concurrently; return their results in order.

    Args:
        box: the tools the step may use.
        uses: the reply's ``tool_use`` blocks.
        turn: the loop's call whose reply asked for them (1-based), for records.
        redact: scrubs failure messages and input summaries.
        report: told as each call starts and ends (the step's events).
    """
    done: list[tuple[dict[str, Any], ToolCall] | None] = [None] * len(uses)
    report = report or RoundReport()

    async def one(index: int, use: Mapping[str, Any]) -> None:
        done[index] = await _call(box, use, turn, redact, report)

    async with anyio.create_task_group() as group:
        for index, use in enumerate(uses):
            # Told here, not in the task: hooks hear the calls in the model's order.
            report.called(str(use.get("id", "")), str(use.get("name", "")), turn)
            group.start_soon(one, index, use)
    finished = [item for item in done if item is not None]
    return ToolRound([block for block, _ in finished], tuple(call for _, call in finished))


async def _call(
    box: ToolBox, use: Mapping[str, Any], turn: int, redact: Redact, report: RoundReport
) -> tuple[dict[str, Any], ToolCall]:
    """One call: look the tool up, check its input, run it under its timeout."""
    use_id, name, arguments = str(use.get("id", "")), str(use.get("name", "")), use.get("input")
    start = anyio.current_time()
    output, error = await _outcome(box.tools.get(name), name, arguments)
    if error is not None:
        error = redact(error, ERROR_LIMIT)
        block = {"type": "tool_result", "tool_use_id": use_id, "content": error, "is_error": True}
    else:
        assert output is not None
        block = {"type": "tool_result", "tool_use_id": use_id, "content": _capped(output.content)}
        if output.is_error:
            block["is_error"] = True
    record = ToolCall(
        name=name,
        turn=turn,
        is_error=error is not None or bool(output and output.is_error),
        elapsed_s=anyio.current_time() - start,
        input_summary=redact(_summary(arguments), SUMMARY_LIMIT),
        error=error,
    )
    report.finished(use_id, record)
    return block, record


async def _outcome(
    tool: Tool | None, name: str, arguments: object
) -> tuple[ToolOutput | None, str | None]:
    """``(output, None)`` from a call that answered, else ``(None, what went wrong)``."""
    if tool is None:
        return None, f"unknown tool {name!r}"
    if not isinstance(arguments, dict):
        return None, f"invalid input for {name}: expected a JSON object"
    # A tool that checks its own input (library tools do) is not checked twice.
    checked = getattr(tool, "checks_input", False)
    if not checked and (problem := first_error(tool.spec.input_schema, arguments)) is not None:
        return None, f"invalid input for {name}: {problem}"
    timeout = tool.spec.timeout_s if tool.spec.timeout_s is not None else DEFAULT_TIMEOUT_S
    output: object = None
    with anyio.move_on_after(timeout) as scope:
        try:
            output = await tool.call(arguments)
        except ToolError as exc:
            return None, str(exc) or type(exc).__name__
        except Exception as exc:  # any failure of the tool is the model's to hear about
            return None, f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    if scope.cancelled_caught:
        return None, f"{name} timed out after {timeout:g} s"
    if not isinstance(output, ToolOutput):
        return None, f"{name} returned {type(output).__name__}, not a ToolOutput"
    return output, None


def _capped(content: str | Sequence[Mapping[str, Any]]) -> str | list[dict[str, Any]]:
    """``content`` cut to :data:`OUTPUT_LIMIT` characters of text, with a note when cut."""
    if isinstance(content, str):
        if len(content) <= OUTPUT_LIMIT:
            return content
        return content[:OUTPUT_LIMIT] + _cut_note(len(content))
    kept: list[dict[str, Any]] = []
    room = OUTPUT_LIMIT
    total = 0
    for block in content:
        size = _size(block)
        total += size
        if size <= room:
            kept.append(dict(block))
            room -= size
        elif block.get("type") == "text" and room > 0:
            kept.append({**block, "text": str(block.get("text", ""))[:room]})
            room = 0
        else:
            room = 0
    if total > OUTPUT_LIMIT:
        kept.append({"type": "text", "text": _cut_note(total)})
    return kept


def _size(block: Mapping[str, Any]) -> int:
    """A block's size in characters: its text, or its JSON for other kinds (an image)."""
    if block.get("type") == "text":
        return len(str(block.get("text", "")))
    return len(json.dumps(block, default=str))


def _cut_note(total: int) -> str:
    return f"\n[output cut: {total:,} characters, the first {OUTPUT_LIMIT:,} kept]"


def _summary(arguments: object) -> str:
    """The input as one short line of JSON, for records (the redactor caps it)."""
    try:
        text = json.dumps(arguments, ensure_ascii=False, sort_keys=True, default=str)
    except (TypeError, ValueError, RecursionError):
        text = repr(arguments)
    return text if len(text) <= SUMMARY_LIMIT * 2 else text[: SUMMARY_LIMIT * 2]
