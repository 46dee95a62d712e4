"""What the first hour showed (issue 15, item 8): text replies, whole numbers, quiet pipes."""

from __future__ import annotations

import io
import os
import re
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console
from typer.testing import CliRunner

from claude_force_trio._results import StepResult
from claude_force_trio._types import Usage
from claude_force_trio.cli import _console, app
from claude_force_trio.cli._progress import WorkflowProgress

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
CONFIG = str(EXAMPLES / ".claude" / "claude.json")


@pytest.fixture(autouse=True)
def instant_simulator(monkeypatch: pytest.MonkeyPatch) -> None:
    """Zero simulator latency, the examples' config, no key."""
    monkeypatch.setenv("CFT_SIM_LATENCY_SCALE", "0")
    monkeypatch.setenv("CFT_CONFIG", CONFIG)
    for name in ("ANTHROPIC_API_KEY", "ANTHROPIC_BASE_URL", "ANTHROPIC_AUTH_TOKEN"):
        monkeypatch.delenv(name, raising=False)


def cft(*args: str, tty: bool = True, columns: int = 100) -> str:
    """Run ``cft ARGS`` in-process as on a terminal ``columns`` wide; its stdout."""
    os.environ["COLUMNS"] = str(columns)
    try:
        original = _console.interactive
        _console.interactive = lambda: tty
        result = CliRunner().invoke(app, list(args))
    finally:
        _console.interactive = original
        del os.environ["COLUMNS"]
    assert result.exit_code in (0, 1), result.output
    return result.output


# ---------------------------------------------------------------- replies as text


def test_a_workflows_answer_is_printed_as_text_by_default() -> None:
    """On a terminal the leaf outputs are their text, not a re-flowed Markdown panel."""
    out = cft("--simulate", "workflow", "run", "bug-fix", "-t", "fix **it**", "--no-journal")
    assert "── qc-automation-expert (qc-automation-expert) ──" in out
    assert "╭" not in out


def test_markdown_is_opt_in() -> None:
    """``--markdown`` renders the answer in a panel."""
    out = cft("--simulate", "workflow", "run", "bug-fix", "-t", "x", "--no-journal", "--markdown")
    assert "╭" in out
    assert "── qc-automation-expert" not in out


def test_agents_show_prints_the_definition_as_written() -> None:
    """The definition is the file's text on a terminal too; ``--markdown`` renders it."""
    text = (EXAMPLES / ".claude" / "agents" / "code-reviewer.md").read_text(encoding="utf-8")
    first = next(line for line in text.splitlines() if line.startswith("#"))
    plain = cft("agents", "show", "code-reviewer")
    assert first in plain
    assert "╭" not in plain
    rendered = cft("agents", "show", "code-reviewer", "--markdown")
    assert "╭" in rendered
    assert first not in rendered  # the heading's "#" is rendered away


# ---------------------------------------------------------------- narrow terminals

FIGURES = ("1,234,567/89,012", "$12.3456", "123.45s")


def progress_with_big_numbers() -> WorkflowProgress:
    """A finished three-step table whose figures are long."""
    progress = WorkflowProgress(plain=None, clock=lambda: 0.0)
    now = datetime.now(UTC)
    for step_id in ("investigate-the-bug", "review-the-code", "qc"):
        row = progress.rows.row(step_id)
        row.agent = "a-rather-long-agent-name"
        row.result = StepResult(
            id=step_id,
            agent=row.agent,
            status="succeeded",
            output="ok",
            attempts=3,
            model="claude-sonnet-4-5",
            started_at=now,
            finished_at=now,
            elapsed_s=123.45,
            usage=Usage(1_000_000, 89_012, 200_000, 34_567),
            cost_usd=12.3456,
        )
        progress.rows.set_status(row, "succeeded")
    return progress


@pytest.mark.parametrize("width", [60, 80])
def test_the_live_table_keeps_every_figure_whole(width: int) -> None:
    """At 60 and 80 columns names shrink with "…", but no token count, cost or time is cut."""
    buffer = io.StringIO()
    console = Console(file=buffer, force_terminal=True, width=width, height=20, color_system=None)
    console.print(progress_with_big_numbers())
    lines = buffer.getvalue().splitlines()
    rows = [line for line in lines if "succeeded" in line or "✓" in line]
    assert len(rows) == 3
    for line in rows:
        assert len(line) <= width
        for figure in FIGURES:
            assert figure in line, (width, line)
    assert any("…" in line for line in rows)  # the words gave way


def test_row_tokens_add_up_to_the_summary() -> None:
    """A row's "in" counts cache reads and writes, so in + out is the step's total."""
    progress = progress_with_big_numbers()
    row = progress.rows.row("qc")
    cells = WorkflowProgress._cells(row, None)
    tokens_in, tokens_out = (int(n.replace(",", "")) for n in cells[5][0].split("/"))
    assert row.result is not None
    assert tokens_in + tokens_out == row.result.usage.total_tokens


def journalled_run() -> None:
    """One journalled ``bug-fix`` run in this test's ``CFT_HOME``."""
    out = cft("--simulate", "workflow", "run", "bug-fix", "-t", "fix it", tty=False)
    assert "succeeded" in out


COST = re.compile(r"\$\d+\.\d{4}")
SECONDS = re.compile(r"\d+\.\d\d s")


@pytest.mark.parametrize("width", [60, 80])
def test_runs_list_and_show_keep_figures_whole(width: int) -> None:
    """``runs list`` and ``runs show`` fit the screen with whole costs, times and tokens."""
    journalled_run()
    listing = cft("runs", "list", columns=width).splitlines()
    assert len(listing) == 2
    for line in listing:
        assert len(line.rstrip()) <= width
    assert COST.search(listing[1])
    assert SECONDS.search(listing[1])
    if width >= 80:
        assert re.search(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", listing[1])
    run_id = listing[1].split()[0].rstrip("…")
    show = cft("runs", "show", run_id, columns=width).splitlines()
    steps = [line for line in show[1:] if "$" in line]
    assert len(steps) == 3
    for line in steps:
        assert len(line.rstrip()) <= width
        assert COST.search(line)
        assert SECONDS.search(line)
        assert re.search(r"\b\d[\d,]*/\d[\d,]*\b", line)


# ---------------------------------------------------------------- a reader that leaves


def closed_pipe(*args: str, home: Path) -> tuple[int, str]:
    """Run ``python -m claude_force_trio ARGS`` with its stdout's reader gone at once."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ANTHROPIC_", "COLUMNS"))}
    env |= {"CFT_HOME": str(home), "CFT_SIM_LATENCY_SCALE": "0", "CFT_CONFIG": CONFIG}
    process = subprocess.Popen(
        [sys.executable, "-m", "claude_force_trio", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
        cwd=EXAMPLES,
    )
    assert process.stdout is not None
    assert process.stderr is not None
    process.stdout.close()  # what `| head -0` does: the next write meets EPIPE
    err = process.stderr.read().decode()
    process.stderr.close()
    return process.wait(timeout=30), err


@pytest.mark.parametrize(
    "args",
    [
        ("--simulate", "workflow", "run", "bug-fix", "-t", "fix it"),
        ("agents", "show", "code-reviewer"),
        ("runs", "list"),
    ],
    ids=["workflow-run", "agents-show", "runs-list"],
)
def test_piping_into_head_exits_quietly(args: tuple[str, ...], tmp_path: Path) -> None:
    """A closed stdout is no traceback, no "error:" line, and no failure exit."""
    code, err = closed_pipe(*args, home=tmp_path)
    assert "Traceback" not in err
    assert "BrokenPipeError" not in err
    assert "error:" not in err
    assert code == 0


def test_the_guard_drops_writes_after_the_reader_left() -> None:
    """The stdout guard swallows a broken pipe and every write after it."""

    class Broken(io.StringIO):
        def write(self, text: str) -> int:
            raise BrokenPipeError

    guard: Any = _console._PipeGuard(Broken())
    assert guard.write("x") == 1
    assert guard.closed_pipe
    guard.flush()
    assert guard.write("more") == 4
