"""``cft runs list | show | prune | approve | reject``: the history of journalled runs.

Every ``workflow run`` and ``run-many`` is journalled in
``$CFT_HOME/runs/journal.db`` (unless ``--no-journal``): the run's id, workflow,
config fingerprint, task and status, and each step's last state. These commands
read it; ``cft workflow resume`` continues a run from it. ``show --json`` prints
exactly the ``--json`` document the run printed, so a script can fetch a result
later instead of keeping stdout, or draw it (``--timeline``, ``_timeline_cli``).
``approve`` / ``reject`` decide a step that waits for approval (``_approve``).

A run id is 32 hex digits; every command takes a unique prefix of 6 or more,
and the CLI shows the first 12 (``short_id``), which is plenty for any history.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any

import typer

from .._errors import ConfigError
from . import _console
from ._app import JsonOption, command_group, handles_errors, run_trio
from ._approve import decide, waiting_lines, waiting_steps
from ._timeline_cli import HtmlOption, TimelineOption, Timelines

if TYPE_CHECKING:
    from .._journal import RunRecord

__all__ = ["app", "find_run", "parse_age", "run_reference", "short_id"]

app = command_group(
    "List, show and prune journalled runs (workflow run, run-many); approve or reject a step."
)

#: How many characters of a run id the CLI shows.
SHORT_ID = 12
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86_400, "w": 604_800}
_AGE = re.compile(r"(\d+(?:\.\d+)?)([smhdw])")
#: ``run-many`` in listings, where a workflow run shows its workflow.
_MANY = "run-many"


def short_id(run_id: str) -> str:
    """The part of a run id the CLI shows (and that ``resume`` accepts)."""
    return run_id[:SHORT_ID]


def run_reference(run_id: str, *, resumable: bool) -> str:
    """The summary line's tail: `` · run 3f2a…`` and, if it can go on, how to resume it."""
    short = short_id(run_id)
    tail = f" · run {short}"
    return tail + f" · resume with: cft workflow resume {short}" if resumable else tail


def parse_age(text: str, option: str = "--older-than") -> float:
    """``12h``, ``30d``, ``2w`` (also ``90m``, ``45s``) in seconds.

    Raises:
        ConfigError: not a positive number followed by one of s, m, h, d, w.
    """
    match = _AGE.fullmatch(text.strip())
    seconds = float(match[1]) * _UNITS[match[2]] if match else 0.0
    if not seconds > 0:
        expected = "a duration such as 12h, 30d or 2w (units s, m, h, d, w)"
        raise ConfigError(option, f"expected {expected}, got {text!r}")
    return seconds


async def _get(run_id: str) -> RunRecord | None:
    from .._journal import open_journal

    async with open_journal() as journal:
        return await journal.get_run(run_id)


def find_run(run_id: str) -> RunRecord:
    """The journalled run ``run_id`` names (the full id or a unique prefix).

    Raises:
        ConfigError: no such run, a prefix shorter than 6 characters, or one
            that matches several runs.
    """
    wanted = run_id.strip()
    record = run_trio(_get, wanted)
    if record is None:
        short = " (a prefix needs 6 characters or more)" if len(wanted) < 6 else ""
        raise ConfigError(
            f"run {wanted}", f"not in the run journal{short}; cft runs list shows the runs"
        )
    return record


# ------------------------------------------------------------------ facts of a run


def _steps(record: RunRecord) -> list[Mapping[str, Any]]:
    """The run's step objects: the final document's once finished, else the journalled ones."""
    document = record.document or {}
    for key in ("steps", "results"):  # workflow run / run-many documents
        listed = document.get(key)
        if isinstance(listed, list):
            return [step for step in listed if isinstance(step, Mapping)]
    return list(record.steps.values())


def _number(value: object) -> float | None:
    """A JSON number as a float (``None`` for anything else, a bool included)."""
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _total_cost(steps: Sequence[Mapping[str, Any]]) -> float | None:
    """Cost summed over the steps; ``None`` if any step's cost is unknown."""
    costs = [_number(step.get("cost_usd")) for step in steps]
    return None if any(cost is None for cost in costs) else sum(c for c in costs if c is not None)


def _elapsed(record: RunRecord) -> float | None:
    """The run's makespan from its document; else wall time start to finish; None if running."""
    makespan = _number((record.document or {}).get("elapsed_s"))
    if makespan is not None:
        return makespan
    if record.finished_at is None:
        return None
    try:
        span = datetime.fromisoformat(record.finished_at) - datetime.fromisoformat(
            record.started_at
        )
    except ValueError:
        return None
    return max(span.total_seconds(), 0.0)


def summary(record: RunRecord) -> dict[str, Any]:
    """One run as ``runs list --json`` shows it."""
    steps = _steps(record)
    return {
        "run_id": record.run_id,
        "kind": record.kind,
        "workflow": record.workflow,
        "status": record.status,
        "task": record.task,
        "started_at": record.started_at,
        "finished_at": record.finished_at,
        "elapsed_s": _elapsed(record),
        "steps_succeeded": sum(step.get("status") == "succeeded" for step in steps),
        "steps": len(steps),
        "cost_usd": _total_cost(steps),
    }


def _when(iso: str) -> str:
    try:
        return datetime.fromisoformat(iso).strftime("%Y-%m-%dT%H:%M:%SZ")
    except ValueError:
        return iso


def _seconds(value: float | None) -> str:
    return "—" if value is None else f"{value:.2f} s"


def _row(facts: Mapping[str, Any]) -> list[str]:
    from ._progress import format_cost

    return [
        short_id(facts["run_id"]),
        facts["workflow"] or _MANY,
        facts["status"],
        _when(facts["started_at"]),
        _seconds(facts["elapsed_s"]),
        f"{facts['steps_succeeded']}/{facts['steps']}",
        format_cost(facts["cost_usd"]),
    ]


_LIST_COLUMNS = ("run", "workflow", "status", "started (UTC)", "elapsed", "steps ok", "cost")


def _print_rows(columns: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
    """A rich table on a terminal; aligned plain lines (one per row) in a pipe."""
    if _console.interactive():
        from rich.table import Table

        table = Table(box=None, header_style="bold", pad_edge=False)
        for column in columns:
            table.add_column(column, no_wrap=column not in ("note", "output / error"))
        for row in rows:
            table.add_row(*row)
        _console.stdout().print(table)
        return
    widths = [max(len(str(cell)) for cell in column) for column in zip(columns, *rows, strict=True)]
    for row in (columns, *rows):
        line = "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True))
        _console.write(line.rstrip() + "\n")


# ------------------------------------------------------------------ list


async def _list(workflow: str | None, status: str | None, limit: int) -> list[RunRecord]:
    from .._journal import open_journal

    async with open_journal() as journal:
        # Steps are read only for runs without a final document (still running, or
        # killed): a long history of big runs stays cheap to list.
        runs = await journal.list_runs(
            workflow=workflow, status=status, limit=limit, with_steps=False
        )
        complete: list[RunRecord] = []
        for record in runs:
            if record.document is None:
                record = await journal.get_run(record.run_id) or record
            complete.append(record)
        return complete


@app.command("list")
@handles_errors
def list_(
    workflow: Annotated[
        str | None, typer.Option("--workflow", "-w", help="Only runs of this workflow.")
    ] = None,
    status: Annotated[
        str | None,
        typer.Option("--status", "-s", help="Only runs with this status (running, failed…)."),
    ] = None,
    limit: Annotated[int, typer.Option("--limit", "-n", min=1, help="At most N runs.")] = 50,
    as_json: JsonOption = False,
) -> None:
    """List journalled runs, newest first: id, workflow, status, start, time, steps, cost.

    A run still [bold]running[/] that no process runs any more was killed; resume it.
    """
    records = run_trio(_list, workflow, status, limit)
    facts = [summary(record) for record in records]
    if as_json:
        _console.print_json(facts)
    elif not facts:
        _console.detail("no journalled runs")
    else:
        _print_rows(_LIST_COLUMNS, [_row(one) for one in facts])


# ------------------------------------------------------------------ show


def document_of(record: RunRecord) -> dict[str, Any]:
    """The run's ``--json`` document; for a run that never finished, one built from its steps."""
    if record.document is not None:
        return dict(record.document)
    steps = [dict(step) for step in record.steps.values()]
    if record.kind == "many":
        return {"run_id": record.run_id, "status": record.status, "results": steps}
    return {
        "workflow": record.workflow,
        "run_id": record.run_id,
        "status": record.status,
        "steps": steps,
    }


def _note(step: Mapping[str, Any]) -> str:
    """A step's error, else the first line of its output, kept short."""
    text = step.get("error") or step.get("output") or ""
    line = str(text).strip().split("\n", 1)[0]
    return line if len(line) <= 60 else line[:59] + "…"


def _step_row(step: Mapping[str, Any]) -> list[str]:
    from ._progress import format_cost

    usage = step.get("usage")
    usage = usage if isinstance(usage, Mapping) else {}
    tokens_in, tokens_out = (_number(usage.get(k)) or 0 for k in ("input_tokens", "output_tokens"))
    status = str(step.get("status", "?"))
    return [
        str(step.get("id", "?")),
        str(step.get("agent", "?")),
        "cached" if step.get("cached") and status == "succeeded" else status,
        str(step.get("attempts", 0)),
        _seconds(_number(step.get("elapsed_s"))),
        f"{tokens_in:,.0f}/{tokens_out:,.0f}",
        format_cost(_number(step.get("cost_usd"))),
        _note(step),
    ]


_STEP_COLUMNS = ("step", "agent", "status", "attempts", "elapsed", "tokens in/out", "cost", "note")


@app.command("show")
@handles_errors
def show(
    ctx: typer.Context,
    run_id: Annotated[
        str, typer.Argument(metavar="RUN_ID", help="The run's id, or a unique prefix (6+).")
    ],
    timeline: TimelineOption = False,
    html: HtmlOption = None,
    as_json: JsonOption = False,
) -> None:
    """Show one run: its facts and a table of its steps ([bold]--json[/]: its --json document).

    [bold]--timeline[/]: a Gantt chart instead of the table; [bold]--html FILE[/]: it as a page."""
    record = find_run(run_id)
    charts = Timelines.of(ctx, document_of(record), draw=timeline, html=html)
    if as_json:
        _console.print_json(charts.document)
        charts.print(err=True)
        return
    facts = summary(record)
    head = _row(facts)
    _console.stdout().print(
        f"run {record.run_id} · {head[1]} · {head[2]} · started {head[3]}"
        f" · {head[4]} · {head[5]} steps ok · {head[6]}",
        markup=False,
        soft_wrap=True,
    )
    if record.task:
        _console.stdout().print(f"task: {record.task}", markup=False, soft_wrap=True)
    if not charts.print():
        _print_rows(_STEP_COLUMNS, [_step_row(step) for step in _steps(record)])
    waiting = waiting_steps(_steps(record)) if record.kind == "workflow" else []
    if waiting:
        for line in waiting_lines(short_id(record.run_id), waiting):
            _console.detail(line)
    elif record.kind == "workflow" and record.status != "succeeded":
        _console.detail(f"resume with: cft workflow resume {short_id(record.run_id)}")


# ------------------------------------------------------------------ prune


async def _prune(seconds: float) -> int:
    from .._journal import open_journal

    async with open_journal() as journal:
        return await journal.prune(seconds)


@app.command("prune")
@handles_errors
def prune(
    older_than: Annotated[
        str,
        typer.Option(
            "--older-than",
            metavar="AGE",
            help="Remove runs finished (or started, if never finished) longer ago: 12h, 30d, 2w.",
        ),
    ],
) -> None:
    """Remove old runs from the journal, with their steps; prints how many went."""
    removed = run_trio(_prune, parse_age(older_than))
    plural = "" if removed == 1 else "s"
    _console.success(f"removed {removed} run{plural} older than {older_than.strip()}")


# ------------------------------------------------------------------ approve / reject

RunIdArgument = Annotated[
    str, typer.Argument(metavar="RUN_ID", help="The run's id, or a unique prefix (6+).")
]
StepArgument = Annotated[str, typer.Argument(metavar="STEP", help="The step waiting for approval.")]
NoteOption = Annotated[
    str | None, typer.Option("--note", metavar="TEXT", help="Why: kept with the decision.")
]


@app.command("approve")
@handles_errors
def approve(
    run_id: RunIdArgument, step: StepArgument, note: NoteOption = None, as_json: JsonOption = False
) -> None:
    """Approve a step waiting for approval; [bold]cft workflow resume RUN_ID[/] then runs it.

    The step must be journalled [bold]waiting_approval[/] (or rejected, to take that back);
    otherwise one error line, exit 2. [bold]--json[/]: the decision document.
    """
    record = find_run(run_id)
    decide(record, short_id(record.run_id), step, approved=True, note=note, as_json=as_json)


@app.command("reject")
@handles_errors
def reject(
    run_id: RunIdArgument, step: StepArgument, note: NoteOption = None, as_json: JsonOption = False
) -> None:
    """Reject a step waiting for approval: on [bold]resume[/] it fails and its dependents skip.

    The step must be journalled [bold]waiting_approval[/]; otherwise one error line, exit 2.
    [bold]--json[/]: the decision document.
    """
    record = find_run(run_id)
    decide(record, short_id(record.run_id), step, approved=False, note=note, as_json=as_json)
