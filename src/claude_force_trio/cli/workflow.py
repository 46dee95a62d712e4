"""``cft workflow list | show | run``: look at workflows, and run one as a DAG.

``run`` is the main job of the product, so its display gets care: a live table
on a terminal, plain timestamped lines on a pipe, one JSON document with
``--json``. Ctrl-C does not kill it: the first SIGINT sets the engine's ``stop``
event, the run cancels its steps cleanly and returns a ``cancelled`` result,
which is printed like any other; the exit code is then 130 (128 + SIGINT, the
shell's convention), so scripts can tell "stopped" from "failed" (1).
"""

from __future__ import annotations

import functools
import signal
from typing import TYPE_CHECKING, Annotated, Any

import typer

from .._errors import ConfigError
from . import _console
from ._app import (
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    Globals,
    JsonOption,
    WorkspaceOption,
    command_group,
    handles_errors,
    open_cli_engine,
    run_trio,
    unknown_name,
    workspace_of,
)

if TYPE_CHECKING:
    import trio

    from .._config import Config, StepConfig, WorkflowConfig
    from .._dag import Graph
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


async def _stop_on_sigint(stop: trio.Event, *, task_status: trio.TaskStatus[None]) -> None:
    """Turn the first Ctrl-C into ``stop.set()``: the run then cancels cleanly.

    Reports readiness once the receiver is installed, so no step starts before a
    Ctrl-C can be caught. A second Ctrl-C, once this receiver is closed,
    interrupts as usual.
    """
    import trio

    with trio.open_signal_receiver(signal.SIGINT) as signals:
        task_status.started()
        async for _ in signals:
            stop.set()
            return


def _leaf_outputs(config: Config, result: WorkflowResult) -> list[tuple[str, str, str]]:
    """(step, agent, output) of the steps nothing depends on: the run's answer."""
    workflow = config.workflows[result.workflow]
    needed = {dep for step in workflow.steps for dep in step.dependencies}
    return [
        (step.id, step.agent, step.output)
        for step in result.steps
        if step.id not in needed and step.output is not None
    ]


def _print_outcome(config: Config, result: WorkflowResult, *, rich_output: bool) -> None:
    from ._progress import summary_line

    out = _console.stdout()
    style = "bold green" if result.ok else "bold red" if result.status != "cancelled" else "yellow"
    out.print(summary_line(result), style=style, markup=False, soft_wrap=True)
    for step_id, agent, output in _leaf_outputs(config, result):
        if rich_output:
            from rich.markdown import Markdown
            from rich.panel import Panel

            out.print(Panel(Markdown(output), title=f"{step_id} ({agent})", title_align="left"))
        else:
            out.print(f"\n── {step_id} ({agent}) ──", markup=False, soft_wrap=True)
            _console.write(output if output.endswith("\n") else output + "\n")


@app.command("run")
@handles_errors
def run(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(metavar="NAME", help="The workflow's name.")],
    task: Annotated[
        str | None,
        typer.Option("--task", "-t", help="A task for the whole run, given to every step."),
    ] = None,
    sequential: Annotated[
        bool, typer.Option("--sequential", help="Run one step at a time, in topological order.")
    ] = False,
    timeout: Annotated[
        float | None, typer.Option("--timeout", metavar="S", help="Deadline for the whole run.")
    ] = None,
    step_timeout: Annotated[
        float | None,
        typer.Option("--step-timeout", metavar="S", help="Deadline for steps without their own."),
    ] = None,
    max_concurrency: Annotated[
        int | None, typer.Option("--max-concurrency", min=1, help="Steps in flight at once.")
    ] = None,
    keep_going: Annotated[
        bool,
        typer.Option("--keep-going", help="Let independent branches finish after a failure."),
    ] = False,
    no_cache: Annotated[bool, typer.Option("--no-cache", help="Skip the response cache.")] = False,
    workspace: WorkspaceOption = None,
    as_json: JsonOption = False,
) -> None:
    """Run a workflow as a DAG: each step starts as soon as its own dependencies are done.

    Exit code: 0 succeeded, 1 failed or timed out, 130 stopped with Ctrl-C.
    """
    settings = Globals.of(ctx)
    _positive(timeout, "--timeout")
    _positive(step_timeout, "--step-timeout")
    folder = workspace_of(workspace)
    config = settings.load()
    _workflow(config, name)
    backend = settings.backend(config)
    live_table = not as_json and _console.interactive()

    async def main() -> WorkflowResult:
        import trio

        from ._progress import WorkflowProgress

        stop = trio.Event()
        progress = WorkflowProgress(
            plain=None if as_json or live_table else _plain_line, clock=trio.current_time
        )
        async with (
            open_cli_engine(
                config,
                backend,
                no_cache=no_cache,
                max_concurrency=max_concurrency,
                workspace=folder,
            ) as engine,
            trio.open_nursery() as nursery,
        ):
            await nursery.start(_stop_on_sigint, stop)
            run = functools.partial(
                engine.run_workflow,
                name,
                task,
                sequential=True if sequential else None,
                keep_going=True if keep_going else None,
                timeout_s=timeout,
                step_timeout_s=step_timeout,
                stop=stop,
                hooks=[] if as_json else [progress],
            )
            if live_table:
                from rich.live import Live

                with Live(
                    progress,
                    console=_console.stdout(),
                    auto_refresh=False,
                    redirect_stdout=False,
                    redirect_stderr=False,
                ) as live:
                    nursery.start_soon(progress.refresh, live)
                    result = await run()
                    live.refresh()
            else:
                result = await run()
            nursery.cancel_scope.cancel()
        return result

    result = run_trio(main)
    if as_json:
        _console.print_json(result.to_dict())
    else:
        _print_outcome(config, result, rich_output=live_table)
    if result.status == "cancelled":
        _console.error(f"workflow {name!r} stopped by Ctrl-C")
        raise typer.Exit(EXIT_INTERRUPTED)
    if not result.ok:
        bad = [s for s in result.steps if s.status not in ("succeeded", "skipped")]
        status = result.status.replace("_", " ")
        detail = ""
        if bad:
            first = bad[0]
            more = f" (and {len(bad) - 1} more)" if len(bad) > 1 else ""
            detail = f": step {first.id!r} {first.status.replace('_', ' ')}"
            detail += f": {first.error}{more}" if first.error else more
        _console.error(f"workflow {name!r} {status}{detail}")
        raise typer.Exit(EXIT_FAILED)


def _plain_line(line: str) -> None:
    _console.write(line + "\n")
