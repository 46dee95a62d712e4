"""``cft workflow list | show | run | resume``: look at workflows, run one as a DAG, continue one.

``run`` is the main job of the product, so its display gets care: a live table
on a terminal, plain timestamped lines on a pipe, one JSON document with
``--json``. Ctrl-C does not kill it: the first SIGINT sets the engine's ``stop``
event, the run cancels its steps cleanly and returns a ``cancelled`` result,
which is printed like any other; the exit code is then 130 (128 + SIGINT, the
shell's convention), so scripts can tell "stopped" from "failed" (1). A run
paused by a step with ``"approval": true`` exits 3, naming the step and the
commands that go on (``cft runs approve``, then ``resume``).
``resume`` continues a journalled run with the same display (``_workflow_run``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer

from .._errors import ConfigError
from . import _console
from ._app import (
    BudgetOption,
    Globals,
    JsonOption,
    NoJournalOption,
    WorkspaceOption,
    command_group,
    handles_errors,
    run_trio,
    unknown_name,
    workspace_of,
)
from ._timeline_cli import TimelineOption
from ._workflow_run import RunOptions, drive, report
from .batches import BatchOption

if TYPE_CHECKING:
    from .._config import Config, StepConfig, WorkflowConfig
    from .._dag import Graph
    from .._engine import Engine
    from .._results import WorkflowResult

__all__ = ["app"]

app = command_group("List, inspect and run workflows.")


def _workflow(config: Config, name: str) -> WorkflowConfig:
    try:
        return config.workflows[name]
    except KeyError:
        raise unknown_name("workflow", name, config.workflows) from None


# ------------------------------------------------------------------ list / show


@app.command("list")
@handles_errors
def list_(ctx: typer.Context, as_json: JsonOption = False) -> None:
    """List the workflows defined in claude.json."""
    config = Globals.of(ctx).load()
    rows: list[dict[str, Any]] = [
        {
            "name": wf.name,
            "description": wf.description,
            "steps": [step.id for step in wf.steps],
            "kind": "chain" if wf.legacy else "dag",
            "on_failure": wf.on_failure,
            "timeout_s": wf.timeout_s,
        }
        for wf in config.workflows.values()
    ]
    if as_json:
        _console.print_json(rows)
        return
    from rich.table import Table

    table = Table(title=f"workflows in {config.path}", title_justify="left", box=None)
    for column in ("name", "kind", "steps", "description"):
        table.add_column(column, no_wrap=column != "description")
    for row in rows:
        table.add_row(row["name"], row["kind"], str(len(row["steps"])), row["description"] or "")
    _console.stdout().print(table)


def _show_document(workflow: WorkflowConfig, graph: Graph[StepConfig]) -> dict[str, Any]:
    levels = graph.levels()
    level_of = {sid: n for n, level in enumerate(levels) for sid in level}
    # "Critical path by step count": every step weighs 1, so the longest chain of
    # dependencies is what no amount of parallelism can shorten.
    length, path = graph.critical_path(dict.fromkeys(graph.steps, 1.0))
    return {
        "name": workflow.name,
        "description": workflow.description,
        "task": workflow.task,
        "kind": "chain" if workflow.legacy else "dag",
        "on_failure": workflow.on_failure,
        "timeout_s": workflow.timeout_s,
        "steps": [
            {
                "id": step.id,
                "agent": step.agent,
                "task": step.task,
                "dependencies": list(graph.dependencies[step.id]),
                "timeout_s": step.timeout_s,
                "level": level_of[step.id],
            }
            for step in workflow.steps
        ],
        "levels": [list(level) for level in levels],
        "order": list(graph.order),
        "critical_path": {"steps": list(path), "length": int(length)},
    }


@app.command("show")
@handles_errors
def show(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(metavar="NAME", help="The workflow's name.")],
    as_json: JsonOption = False,
) -> None:
    """Show a workflow's steps by topological level, their dependencies and the critical path."""
    from .._dag import build_graph

    config = Globals.of(ctx).load()
    workflow = _workflow(config, name)
    doc = _show_document(workflow, build_graph(workflow))
    if as_json:
        _console.print_json(doc)
        return
    from rich.table import Table
    from rich.text import Text

    out = _console.stdout()
    head = Text(doc["name"], style="bold")
    if doc["description"]:
        head.append(f" — {doc['description']}")
    out.print(head)
    facts = [f"{doc['kind']}", f"on failure: {doc['on_failure']}"]
    if doc["timeout_s"] is not None:
        facts.append(f"timeout {doc['timeout_s']:g} s")
    out.print(" · ".join(facts), style="dim", markup=False)
    if doc["task"]:
        out.print(Text("task: ", style="dim") + Text(doc["task"]))
    table = Table(box=None, header_style="bold", pad_edge=False)
    for column in ("level", "step", "agent", "depends on", "timeout", "task"):
        table.add_column(column, no_wrap=column not in ("task", "depends on"))
    steps = {step["id"]: step for step in doc["steps"]}
    for number, level in enumerate(doc["levels"]):
        for sid in level:
            step = steps[sid]
            table.add_row(
                str(number),
                sid,
                step["agent"],
                ", ".join(step["dependencies"]) or "—",
                f"{step['timeout_s']:g} s" if step["timeout_s"] is not None else "",
                step["task"] or "",
            )
    out.print(table)
    critical = doc["critical_path"]
    out.print(
        f"critical path ({critical['length']} steps): " + " → ".join(critical["steps"]),
        markup=False,
        soft_wrap=True,
    )


# ------------------------------------------------------------------ run


def _positive(value: float | None, option: str) -> float | None:
    if value is not None and not value > 0:
        raise ConfigError(option, f"expected a positive number of seconds, got {value:g}")
    return value


async def _resumable(config: Config, run_id: str, force: bool) -> str:
    """The full id of the run ``run_id`` names, if it can resume under ``config``.

    The engine checks this again; asking first, before the backend's notice or
    the engine's start, makes a refusal (an unknown or ambiguous id, a run-many
    batch, a changed config without ``--force``) the command's only line.
    """
    from .._journal import open_journal
    from .._resume import load_resumable

    async with open_journal() as journal:
        plan = await load_resumable(journal, config, run_id, force=force)
    return plan.run_id


SequentialOption = Annotated[
    bool, typer.Option("--sequential", help="Run one step at a time, in topological order.")
]
TimeoutOption = Annotated[
    float | None, typer.Option("--timeout", metavar="S", help="Deadline for the whole run.")
]
StepTimeoutOption = Annotated[
    float | None,
    typer.Option("--step-timeout", metavar="S", help="Deadline for steps without their own."),
]
MaxConcurrencyOption = Annotated[
    int | None, typer.Option("--max-concurrency", min=1, help="Steps in flight at once.")
]
KeepGoingOption = Annotated[
    bool, typer.Option("--keep-going", help="Let independent branches finish after a failure.")
]
NoCacheOption = Annotated[bool, typer.Option("--no-cache", help="Skip the response cache.")]


@app.command("run")
@handles_errors
def run(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(metavar="NAME", help="The workflow's name.")],
    task: Annotated[
        str | None,
        typer.Option("--task", "-t", help="A task for the whole run, given to every step."),
    ] = None,
    sequential: SequentialOption = False,
    timeout: TimeoutOption = None,
    step_timeout: StepTimeoutOption = None,
    max_concurrency: MaxConcurrencyOption = None,
    keep_going: KeepGoingOption = False,
    no_cache: NoCacheOption = False,
    no_journal: NoJournalOption = False,
    workspace: WorkspaceOption = None,
    budget: BudgetOption = None,
    timeline: TimelineOption = False,
    batch: BatchOption = False,
    markdown: _console.MarkdownOption = False,
    as_json: JsonOption = False,
) -> None:
    """Run a workflow as a DAG: each step starts as soon as its own dependencies are done.

    The run is journalled (see [bold]cft runs[/]) unless [bold]--no-journal[/]; one that
    did not succeed can be continued with [bold]cft workflow resume RUN_ID[/].
    A step with [bold]"approval": true[/] pauses the run before it starts: approve it with
    [bold]cft runs approve RUN_ID STEP[/] (or reject it), then resume.
    Exit code: 0 succeeded, 1 failed or timed out, 3 waiting for approval,
    130 stopped with Ctrl-C.
    """
    settings = Globals.of(ctx)
    options = RunOptions(
        sequential=sequential,
        keep_going=keep_going,
        timeout_s=_positive(timeout, "--timeout"),
        step_timeout_s=_positive(step_timeout, "--step-timeout"),
        max_concurrency=max_concurrency,
        no_cache=no_cache,
        workspace=workspace_of(workspace),
        journal=not no_journal,
        as_json=as_json,
        budget_usd=budget,
        timeline=timeline,
        batch=batch,
        markdown=markdown,
    )
    config = settings.load()
    _workflow(config, name)

    async def start(engine: Engine, kwargs: dict[str, Any]) -> WorkflowResult:
        return await engine.run_workflow(name, task, **kwargs)

    report(config, drive(config, settings.backend(config), options, start), options)


@app.command("resume")
@handles_errors
def resume(
    ctx: typer.Context,
    run_id: Annotated[
        str,
        typer.Argument(metavar="RUN_ID", help="The run's id, or a unique prefix of 6+ characters."),
    ],
    force: Annotated[
        bool,
        typer.Option("--force", help="Resume even if the config or agent files changed since."),
    ] = False,
    sequential: SequentialOption = False,
    timeout: TimeoutOption = None,
    step_timeout: StepTimeoutOption = None,
    max_concurrency: MaxConcurrencyOption = None,
    keep_going: KeepGoingOption = False,
    no_cache: NoCacheOption = False,
    workspace: WorkspaceOption = None,
    budget: BudgetOption = None,
    timeline: TimelineOption = False,
    batch: BatchOption = False,
    markdown: _console.MarkdownOption = False,
    as_json: JsonOption = False,
) -> None:
    """Continue a journalled workflow run: only the steps that did not finish run again.

    Finished steps are not sent again, whatever the cache settings: their journalled
    outputs feed their dependents. A run whose config or agent files changed since is
    refused unless [bold]--force[/]. A step approved (or rejected) since with
    [bold]cft runs approve[/] / [bold]reject[/] runs (or fails) now.
    Exit codes as for [bold]workflow run[/]: 0 succeeded, 1 failed or timed out,
    3 still waiting for approval, 130 stopped with Ctrl-C.
    """
    settings = Globals.of(ctx)
    options = RunOptions(
        sequential=sequential,
        keep_going=keep_going,
        timeout_s=_positive(timeout, "--timeout"),
        step_timeout_s=_positive(step_timeout, "--step-timeout"),
        max_concurrency=max_concurrency,
        no_cache=no_cache,
        workspace=workspace_of(workspace),
        as_json=as_json,
        budget_usd=budget,
        timeline=timeline,
        batch=batch,
        markdown=markdown,
    )
    config = settings.load()
    full_id = run_trio(_resumable, config, run_id.strip(), force)

    async def start(engine: Engine, kwargs: dict[str, Any]) -> WorkflowResult:
        return await engine.resume_workflow(full_id, force=force, **kwargs)

    report(config, drive(config, settings.backend(config), options, start), options)
