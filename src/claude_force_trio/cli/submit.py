"""``cft submit WORKFLOW --task T [--wait]``: queue a workflow run for the workers.

The run is journalled ``queued`` in the Redis journal and added to the work
stream; its id is printed at once (``--json``: a small document). The worker
that takes it runs it with *its* config, which must define the workflow.
``--wait`` follows the run until it ends and prints it as ``cft runs show``
does (``--json``: the run's ``workflow run --json`` document), with the exit
codes of ``workflow run``: 0 succeeded, 1 failed or timed out, 3 waiting for
approval; 124 if ``--timeout`` passed first (the run goes on).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Annotated

import typer

from . import _console
from ._app import EXIT_FAILED, Globals, JsonOption, handles_errors, run_trio
from ._redis_option import QueueOption, RedisOption, require_redis_url

if TYPE_CHECKING:
    from .._journal import RunRecord

__all__ = ["EXIT_TIMED_OUT", "submit"]

#: ``--wait --timeout`` passed before the run ended (the convention of ``timeout(1)``).
EXIT_TIMED_OUT = 124


async def _submit(
    url: str, queue: str | None, workflow: str, task: str | None, wait: bool, timeout_s: float
) -> tuple[str, RunRecord | None]:
    from .._journal._redis_journal import open_redis_journal
    from .._workers import WorkStream, stream_key, submit_run, wait_for_run

    async with open_redis_journal(url, option="--redis") as journal:
        stream = WorkStream(journal.client, stream=stream_key(queue))
        run_id = await submit_run(journal, stream, workflow, task)
        if not wait:
            return run_id, None
        _console.detail(f"queued run {run_id}; waiting for a worker to finish it")
        return run_id, await wait_for_run(journal, run_id, timeout_s=timeout_s)


@handles_errors
def submit(
    ctx: typer.Context,
    workflow: Annotated[str, typer.Argument(metavar="WORKFLOW", help="The workflow to run.")],
    task: Annotated[
        str | None,
        typer.Option("--task", "-t", help="A task for the whole run, given to every step."),
    ] = None,
    wait: Annotated[
        bool, typer.Option("--wait", help="Follow the run until it ends, then print it.")
    ] = False,
    timeout: Annotated[
        float | None,
        typer.Option(
            "--timeout", metavar="S", min=0.001, help="With --wait: stop waiting after S."
        ),
    ] = None,
    redis: RedisOption = None,
    queue: QueueOption = None,
    as_json: JsonOption = False,
) -> None:
    """Queue a run of WORKFLOW for [bold]cft worker[/]; prints its run id.

    The workers' config defines the workflow (one that does not is journalled failed).
    [bold]--wait[/]: follow the run to its end and print it like [bold]cft runs show[/]
    (exit 0 succeeded, 1 failed, 3 waiting for approval, 124 after [bold]--timeout[/]).
    """
    from .._text import check_text

    if task is not None:
        check_text(task, "--task")
    url = require_redis_url(Globals.of(ctx), redis)
    limit = math.inf if timeout is None else timeout
    run_id, record = run_trio(_submit, url, queue, workflow.strip(), task, wait, limit)
    if not wait:
        if as_json:
            _console.print_json(
                {"run_id": run_id, "workflow": workflow.strip(), "task": task, "status": "queued"}
            )
        else:
            _console.write(run_id + "\n")
        return
    if record is None:
        _console.error(f"run {run_id} has not ended after {timeout:g} s; it goes on")
        raise typer.Exit(EXIT_TIMED_OUT)
    from . import runs
    from ._workflow_run import EXIT_WAITING

    if as_json:
        _console.print_json(runs.document_of(record))
    else:  # as cft runs show prints it
        runs.show(ctx, run_id, timeline=False, html=None, redis=url, as_json=False)
    if record.status == "waiting_approval":
        raise typer.Exit(EXIT_WAITING)
    if record.status != "succeeded":
        error = (record.document or {}).get("error")
        _console.error(
            f"run {run_id} {record.status.replace('_', ' ')}" + (f": {error}" if error else "")
        )
        raise typer.Exit(EXIT_FAILED)
