"""The live table and plain lines show a running step's turn and tool."""

from __future__ import annotations

import io

from rich.console import Console

from claude_force_trio._events import (
    StepStarted,
    StepSucceeded,
    ToolCalled,
    ToolFinished,
    WorkflowStarted,
)
from claude_force_trio._results import StepResult, ToolCall
from claude_force_trio.cli._progress import WorkflowProgress


def status_cell(progress: WorkflowProgress) -> str:
    """The status text of the one row (after the spinner), as a 120-column terminal shows it."""
    out = io.StringIO()
    Console(file=out, width=120, height=10, force_terminal=False, color_system=None).print(progress)
    row = out.getvalue().splitlines()[1]
    return row.split("⠋", 1)[1].split("  ")[0].strip()


def test_a_running_row_shows_turn_and_tool() -> None:
    """turn 1 · read_file while it runs, +1 for a second tool, then turn 2 when the round ends."""
    progress = WorkflowProgress(plain=None, clock=lambda: 1.0)
    progress(WorkflowStarted("r", "wf", ("scan",), 0.0))
    progress(StepStarted("r", "scan", "scanner", "m", 1.0))
    assert status_cell(progress) == "running"
    progress(ToolCalled("r", "scan", "list_files", 1, "t1", 1.0))
    progress(ToolCalled("r", "scan", "read_file", 1, "t2", 1.0))
    assert status_cell(progress) == "turn 1 · read_file +1"
    progress(ToolFinished("r", "scan", "list_files", 1, "t1", False, 0.0, None, 1.0))
    assert status_cell(progress) == "turn 1 · read_file"
    progress(ToolFinished("r", "scan", "read_file", 1, "t2", False, 0.0, None, 1.0))
    assert status_cell(progress) == "turn 2"


def test_plain_lines_for_tool_calls_and_loop_totals() -> None:
    """Each tool call is a line, a failed one says why; a finished loop gives its turns."""
    lines: list[str] = []
    progress = WorkflowProgress(plain=lines.append, clock=lambda: 0.0)
    progress(WorkflowStarted("r", "wf", ("scan",), 0.0))
    progress(ToolCalled("r", "scan", "read_file", 1, "t1", 0.5))
    progress(ToolFinished("r", "scan", "read_file", 1, "t1", True, 0.1, "not found", 0.6))
    calls = (ToolCall("read_file", 1, True, 0.1, "{}", "not found"),)
    done = StepResult("scan", "scanner", "succeeded", output="ok", turns=2, tool_calls=calls)

    progress(StepSucceeded("r", "scan", done, 1.0))
    assert lines[1:] == [
        "[   0.50s] scan  tool      read_file (turn 1)",
        "[   0.60s] scan  tool      read_file failed: not found",
        "[   1.00s] scan  succeeded 0.00s 0 tokens $0.0000 (2 turns, 1 tool call)",
    ]
