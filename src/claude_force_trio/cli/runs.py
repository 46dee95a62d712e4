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
from ._redis_option import RedisOption, redis_url
from ._tables import STEP_COLUMNS as _STEP_COLUMNS
from ._tables import number as _number
from ._tables import print_rows
from ._tables import seconds as _seconds
from ._tables import step_row as _step_row
from ._timeline_cli import HtmlOption, TimelineOption, Timelines

if TYPE_CHECKING:
    from .._journal import RunRecord

__all__ = ["app", "document_of", "find_run", "parse_age", "run_reference", "short_id"]

app = command_group(
    "List, show and prune journalled runs (workflow run, run-many); approve or reject a step."
)

#: How many characters of a run id the CLI shows.
SHORT_ID = 12
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86_400, "w": 604_800}
_AGE = re.compile(r"(\d+(?:\.\d+)?)([smhdw])")
#: ``run-many`` in listings, where a workflow run shows its workflow.
_MANY = "run-many"
#: The table printer (in ``_tables``), under the name other command groups import.
_print_rows = print_rows


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


async def _get(run_id: str, redis: str | None = None) -> RunRecord | None:
    if redis is not None:  # runs of workers (cft submit), journalled in Redis
        from .._journal._redis_journal import open_redis_journal

        async with open_redis_journal(redis, option="--redis") as shared:
            return await shared.get_run(run_id)
    from .._journal import open_journal

    async with open_journal() as journal:
        return await journal.get_run(run_id)


def find_run(run_id: str, *, redis: str | None = None) -> RunRecord:
    """The journalled run ``run_id`` names (the full id or a unique prefix).

    Args:
        run_id: the full id or a unique prefix of 6+ characters.
        redis: read the Redis journal at this URL instead of the local file.

    Raises:
        ConfigError: no such run, a prefix shorter than 6 characters, or one
            that matches several runs.
    """
    wanted = run_id.strip()
    record = run_trio(_get, wanted, redis)
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


def _show_url(ctx: typer.Context, redis: str | None) -> str | None:
    """``--redis``, else the config's ``coordination.redis_url`` (``None``: the local file)."""
    from ._app import Globals

    return redis_url(Globals.of(ctx), redis)


@app.command("show")
@handles_errors
def show(
    ctx: typer.Context,
    run_id: Annotated[
        str, typer.Argument(metavar="RUN_ID", help="The run's id, or a unique prefix (6+).")
    ],
    timeline: TimelineOption = False,
    html: HtmlOption = None,
    redis: RedisOption = None,
    as_json: JsonOption = False,
) -> None:
    """Show one run: its facts and a table of its steps ([bold]--json[/]: its --json document).

    [bold]--timeline[/]: a Gantt chart instead of the table; [bold]--html FILE[/]: it as a page.
    [bold]--redis URL[/] (or [bold]coordination.redis_url[/]): a run of the workers
    ([bold]cft submit[/]), read from the Redis journal when the local one has no such run."""
    url = None if redis is None else _show_url(ctx, redis)
    try:
        record = find_run(run_id, redis=url)
    except ConfigError:
        url = _show_url(ctx, None) if redis is None else None
        if url is None:
            raise
        record = find_run(run_id, redis=url)
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
    elif url is None and record.kind == "workflow" and record.status != "succeeded":
        # A worker's run (in Redis) is resumed by the workers, not by workflow resume.
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
