"""Running a workflow from the CLI, for ``workflow run`` and ``workflow resume`` alike.

Both commands are the same run seen from two ends — one starts it, the other
continues a journalled one — so they share one driver: the live table on a
terminal, plain timestamped lines on a pipe, one JSON document with ``--json``,
Ctrl-C turned into a clean ``cancelled`` result (exit 130), a failure into exit 1,
a run paused by a step with ``"approval": true`` into exit 3 (``EXIT_WAITING``).
A journalled run's summary line names the run, and when it did not succeed, the
command that continues it (for a paused run: the step that waits, and how to
approve it and go on). ``--timeline`` then draws the run as a Gantt chart
(``_timeline_text``; on stderr under ``--json``).
"""

from __future__ import annotations

import signal
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from . import _console
from ._app import EXIT_FAILED, EXIT_INTERRUPTED, open_cli_engine, run_trio

if TYPE_CHECKING:
    import trio

    from .._backend import Backend
    from .._config import Config
    from .._engine import Engine
    from .._results import WorkflowResult

__all__ = ["EXIT_WAITING", "RunOptions", "Starter", "drive", "report"]

#: A run that ended ``waiting_approval``: not a failure, not done (docs/runs.md).
EXIT_WAITING = 3

#: Starts the run on an open engine, given the keyword arguments both
#: ``run_workflow`` and ``resume_workflow`` take (``stop``, ``hooks``, timeouts…).
Starter = Callable[["Engine", dict[str, Any]], Awaitable["WorkflowResult"]]


@dataclass(frozen=True, slots=True)
class RunOptions:
    """The options ``workflow run`` and ``workflow resume`` share, as the user gave them."""

    sequential: bool = False
    keep_going: bool = False
    timeout_s: float | None = None
    step_timeout_s: float | None = None
    max_concurrency: int | None = None
    no_cache: bool = False
    workspace: Path | None = None
    journal: bool = True
    as_json: bool = False
    budget_usd: float | None = None
    timeline: bool = False
    batch: bool = False
    markdown: bool = False

    def run_kwargs(self) -> dict[str, Any]:
        """The engine's keyword arguments; an unset flag leaves the config's default."""
        return {
            "sequential": True if self.sequential else None,
            "keep_going": True if self.keep_going else None,
            "timeout_s": self.timeout_s,
            "step_timeout_s": self.step_timeout_s,
            "budget_usd": self.budget_usd,
        }


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


def _plain_line(line: str) -> None:
    _console.write(line + "\n")


def drive(config: Config, backend: Backend, options: RunOptions, start: Starter) -> WorkflowResult:
    """Open the engine, show progress (live table or plain lines) and return the result.

    Args:
        config: the loaded config.
        backend: where requests go.
        options: the shared command-line options.
        start: begins the run on the engine (``run_workflow`` or ``resume_workflow``).
    """
    live_table = not options.as_json and _console.interactive()

    async def main() -> WorkflowResult:
        import trio

        from ._progress import WorkflowProgress

        stop = trio.Event()
        progress = WorkflowProgress(
            plain=None if options.as_json or live_table else _plain_line, clock=trio.current_time
        )
        kwargs = options.run_kwargs() | {
            "stop": stop,
            "hooks": [] if options.as_json else [progress],
        }
        async with (
            open_cli_engine(
                config,
                backend,
                no_cache=options.no_cache,
                max_concurrency=options.max_concurrency,
                workspace=options.workspace,
                journal=options.journal,
                batch=options.batch,
            ) as engine,
            trio.open_nursery() as nursery,
        ):
            await nursery.start(_stop_on_sigint, stop)
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
                    result = await start(engine, kwargs)
                    live.refresh()
            else:
                result = await start(engine, kwargs)
            nursery.cancel_scope.cancel()
        return result

    return run_trio(main)


def _leaf_outputs(config: Config, result: WorkflowResult) -> list[tuple[str, str, str]]:
    """(step, agent, output) of the steps nothing depends on: the run's answer."""
    workflow = config.workflows[result.workflow]
    needed = {dep for step in workflow.steps for dep in step.dependencies}
    return [
        (step.id, step.agent, step.output)
        for step in result.steps
        if step.id not in needed and step.output is not None
    ]


def _print_outcome(
    config: Config, result: WorkflowResult, *, markdown: bool, journalled: bool
) -> None:
    """The summary line, then the leaf steps' outputs: as text, or as Markdown when asked."""
    from ._progress import summary_line
    from .runs import run_reference

    out = _console.stdout()
    calm = result.status in ("cancelled", "waiting_approval")
    style = "bold green" if result.ok else "yellow" if calm else "bold red"
    line = summary_line(result)
    if journalled:
        resumable = not result.ok and result.status != "waiting_approval"
        line += run_reference(result.run_id, resumable=resumable)
    out.print(line, style=style, markup=False, soft_wrap=True)
    for step_id, agent, output in _leaf_outputs(config, result):
        if markdown:
            from rich.markdown import Markdown
            from rich.panel import Panel

            out.print(Panel(Markdown(output), title=f"{step_id} ({agent})", title_align="left"))
        else:
            out.print(f"\n── {step_id} ({agent}) ──", markup=False, soft_wrap=True)
            _console.write(output if output.endswith("\n") else output + "\n")


def report(config: Config, result: WorkflowResult, options: RunOptions) -> None:
    """Print the result and leave with the run's exit code (0, 1, 3 waiting, 130 after Ctrl-C)."""
    name = result.workflow
    if options.as_json:
        _console.print_json(result.to_dict())
    else:
        _print_outcome(config, result, markdown=options.markdown, journalled=options.journal)
    if options.timeline:
        from ._timeline_text import print_timeline

        # Under --json the chart goes to stderr: stdout stays one JSON document.
        print_timeline(result.to_dict(), config.workflows, err=options.as_json)
    if result.status == "cancelled":
        _console.error(f"workflow {name!r} stopped by Ctrl-C")
        raise typer.Exit(EXIT_INTERRUPTED)
    if result.status == "waiting_approval":
        from ._approve import waiting_lines
        from .runs import short_id

        waiting = [s.id for s in result.steps if s.status == "waiting_approval"]
        short = short_id(result.run_id) if options.journal else None
        for text in waiting_lines(short, waiting):
            _console.stderr().print(text, style="yellow", markup=False, soft_wrap=True)
        raise typer.Exit(EXIT_WAITING)
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
