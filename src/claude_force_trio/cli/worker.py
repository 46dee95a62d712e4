"""``cft worker --redis URL [--concurrency N]``: run the workflow runs others submit.

The worker joins the consumer group of the work stream and runs each entry's
workflow, as its config (``--config``) defines it, on one engine journalling
to Redis (``_workers``). It prints one line per run it starts and ends.

SIGTERM or Ctrl-C: stop taking work; running runs may finish for ``--grace``
seconds, then stop and stay pending for another worker (a second signal ends
the grace at once). Exit code 0 after SIGTERM, 130 after Ctrl-C.
"""

from __future__ import annotations

import signal
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from . import _console
from ._app import EXIT_INTERRUPTED, Globals, WorkspaceOption, handles_errors, run_trio, workspace_of
from ._redis_option import QueueOption, RedisOption, require_redis_url

if TYPE_CHECKING:
    import anyio
    import trio

    from .._backend import Backend
    from .._config import Config
    from .._workers import WorkerEvent, WorkerOptions

__all__ = ["worker"]


def _line(event: WorkerEvent) -> None:
    from .runs import short_id

    stamp = time.strftime("%H:%M:%S")
    text = f"{stamp} run {short_id(event.run_id)} {event.workflow} {event.kind}"
    if event.status and event.kind != "started":
        text += f" {event.status}"
    if event.detail:
        text += f": {event.detail}"
    _console.write(" ".join(text.splitlines()) + "\n")


async def _signals(
    stop: anyio.Event, abandon: anyio.Event, got: list[int], *, task_status: trio.TaskStatus[None]
) -> None:
    """The first SIGTERM/SIGINT sets ``stop``; the second, ``abandon``."""
    import trio

    with trio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
        task_status.started()
        async for number in signals:
            got.append(number)
            if stop.is_set():
                abandon.set()
                return
            stop.set()
            _console.detail("stopping: no new runs; running ones may finish (again: stop now)")


async def _serve(
    config: Config,
    backend: Backend,
    url: str,
    queue: str | None,
    options: WorkerOptions,
    cache: bool,
    max_concurrency: int | None,
    workspace: Path | None,
) -> list[int]:
    import trio

    from .._engine import open_engine
    from .._journal._redis_journal import open_redis_journal
    from .._metrics._otel_setup import configure_from_env
    from .._workers import Worker, WorkStream, stream_key
    from ._collector import collector_for

    configure_from_env()
    import anyio

    stop, abandon = anyio.Event(), anyio.Event()
    got: list[int] = []
    async with (
        open_redis_journal(url, option="--redis") as journal,
        open_engine(
            config,
            backend=backend,
            max_concurrency=max_concurrency,
            cache=cache,
            workspace=workspace,
            journal=journal,
        ) as engine,
        trio.open_nursery() as nursery,
    ):
        for warning in engine.toolset.warnings:
            _console.notice(warning)
        await nursery.start(_signals, stop, abandon, got)
        work = Worker(
            engine,
            journal,
            WorkStream(journal.client, stream=stream_key(queue)),
            options,
            on_event=_line,
        )
        _console.detail(
            f"worker {options.consumer} on {journal.where}: {options.concurrency} runs at once"
        )
        with collector_for(engine.max_concurrency):  # the CLI is the application: _collector
            await work.serve(stop, abandon=abandon)  # returns once wound down after a signal
        nursery.cancel_scope.cancel()
    return got


@handles_errors
def worker(
    ctx: typer.Context,
    redis: RedisOption = None,
    queue: QueueOption = None,
    concurrency: Annotated[
        int, typer.Option("--concurrency", "-n", min=1, help="Runs at once.")
    ] = 4,
    visibility_timeout: Annotated[
        float,
        typer.Option(
            "--visibility-timeout",
            metavar="S",
            min=0.1,
            help="A run silent this long is taken over by another worker.",
        ),
    ] = 60.0,
    grace: Annotated[
        float,
        typer.Option(
            "--grace", metavar="S", min=0.0, help="After SIGTERM, how long running runs may go on."
        ),
    ] = 30.0,
    name: Annotated[
        str | None,
        typer.Option("--name", metavar="NAME", help="This worker's name in the group (unique)."),
    ] = None,
    max_concurrency: Annotated[
        int | None, typer.Option("--max-concurrency", min=1, help="Requests in flight at once.")
    ] = None,
    no_cache: Annotated[bool, typer.Option("--no-cache", help="Skip the response cache.")] = False,
    workspace: WorkspaceOption = None,
) -> None:
    """Run workflow runs queued with [bold]cft submit[/], resuming those a dead worker left.

    Each run is journalled in Redis ([bold]cft runs show RUN_ID --redis URL[/]).
    SIGTERM / Ctrl-C: stop taking runs, let running ones finish for [bold]--grace[/]
    seconds, then leave them to another worker.
    """
    from .._workers import WorkerOptions, consumer_name

    settings = Globals.of(ctx)
    config = settings.load()
    url = require_redis_url(settings, redis)
    options = WorkerOptions(
        consumer=name.strip() if name and name.strip() else consumer_name(),
        concurrency=concurrency,
        visibility_timeout_s=visibility_timeout,
        grace_s=max(grace, 0.001),
    )
    folder = workspace_of(workspace)
    backend = settings.backend(config)
    got = run_trio(
        _serve, config, backend, url, queue, options, not no_cache, max_concurrency, folder
    )
    if got and got[0] == signal.SIGINT:
        raise typer.Exit(EXIT_INTERRUPTED)
