"""The live progress table and plain lines, fed by real engine events in virtual time."""

from __future__ import annotations

import io
from typing import Any

import trio
import trio.testing
from rich.console import Console

from claude_force_trio._backend import Backend
from claude_force_trio._engine import open_engine
from claude_force_trio._events import Event, StepRetrying
from claude_force_trio.cli._progress import WorkflowProgress, format_cost, summary_line

from .engine_support import FakeAPI, make_config, step


def render(progress: WorkflowProgress) -> str:
    """The table as a 120-column terminal would show it."""
    out = io.StringIO()
    Console(file=out, width=120, force_terminal=False, color_system=None).print(progress)
    return out.getvalue()


async def run_with(progress: WorkflowProgress, api: FakeAPI, steps: list[Any], **kw: Any) -> Any:
    """Run workflow ``wf`` with ``progress`` as a hook."""
    async with open_engine(
        make_config(steps), backend=Backend.url("http://api.test", "k"), transport=api.transport
    ) as engine:
        return await engine.run_workflow("wf", hooks=[progress], **kw)


async def test_table_shows_each_status(autojump_clock: trio.testing.MockClock) -> None:
    """Succeeded, failed and skipped rows, with attempts, elapsed, tokens and cost."""
    progress = WorkflowProgress(plain=None, clock=trio.current_time)
    api = FakeAPI(latency={"ok": 0.5, "bad": 1.0}, fail={"bad": 400})
    result = await run_with(
        progress, api, [step("ok"), step("bad"), step("after", "bad")], keep_going=True
    )
    table = render(progress)
    assert "✓ succeeded" in table
    assert "✗ failed" in table
    assert "skipped" in table
    assert "0.50s" in table
    assert "10/5" in table  # tokens in/out of the fake API's reply
    assert summary_line(result).startswith("failed · makespan 1.00 s")


async def test_running_rows_tick_and_count_attempts(autojump_clock: trio.testing.MockClock) -> None:
    """While a step runs its elapsed time ticks; a retry bumps its attempt count."""
    progress = WorkflowProgress(plain=None, clock=trio.current_time)
    api = FakeAPI(latency={"slow": 4.0})

    async def look() -> str:
        await trio.sleep(1.5)
        return render(progress)

    async with trio.open_nursery() as nursery:
        seen: list[str] = []

        async def snapshot() -> None:
            seen.append(await look())

        nursery.start_soon(snapshot)
        await run_with(progress, api, [step("slow")])
    assert "running" in seen[0]
    assert "1.5s" in seen[0]
    progress(StepRetrying("r", "slow", 1, 0.5, "OverloadedError", "529", 2.0))
    assert progress.rows["slow"].attempts == 2


async def test_plain_lines_for_pipes(autojump_clock: trio.testing.MockClock) -> None:
    """On a pipe every event that matters is one timestamped line, retries included."""
    lines: list[str] = []
    progress = WorkflowProgress(plain=lines.append, clock=trio.current_time)
    await run_with(progress, FakeAPI(latency={"a": 0.25}), [step("a"), step("b", "a")])
    progress(StepRetrying("r", "b", 1, 0.5, "OverloadedError", "overloaded", 1.0))
    text = "\n".join(lines)
    assert "wf" in lines[0]
    assert "started (2 steps)" in lines[0]
    assert "a" in text
    assert "succeeded 0.25s 15 tokens" in text
    assert "retrying  in 0.50s after OverloadedError" in lines[-1]


def test_format_cost_unknown_price() -> None:
    """A step with no known price shows ``$?``, never a guess."""
    assert format_cost(None) == "$?"
    assert format_cost(0.01234) == "$0.0123"


def test_cached_rows_say_so() -> None:
    """A cache hit shows as ``cached`` in the table and in the plain line."""
    from claude_force_trio._events import StepSucceeded, WorkflowStarted
    from claude_force_trio._results import StepResult

    events: list[Event] = [
        WorkflowStarted("r", "wf", ("a",), 0.0),
        StepSucceeded(
            "r", "a", StepResult(id="a", agent="x", status="succeeded", cached=True), 0.0
        ),
    ]
    lines: list[str] = []
    progress = WorkflowProgress(plain=lines.append, clock=lambda: 0.0)
    for event in events:
        progress(event)
    assert "✓ cached" in render(progress)
    assert "(cached)" in lines[-1]


def test_summary_of_a_cached_run() -> None:
    """A run served from the cache says what it saved and claims no speed-up."""
    from claude_force_trio._results import StepResult, WorkflowResult

    step_result = StepResult(id="a", agent="x", status="succeeded", cached=True, saved_usd=0.0125)
    result = WorkflowResult("wf", "r", "succeeded", 0.002, 0.0, ("a",), (step_result,))
    line = summary_line(result)
    assert "speed-up –" in line
    assert line.endswith("1 cached, saved $0.0125")
