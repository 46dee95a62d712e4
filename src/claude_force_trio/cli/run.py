"""``cft run`` (one agent, one task) and ``cft run-many`` (a JSONL file, concurrently).

Both check everything they can before a request is sent — the agent exists,
the task is not empty, every JSONL line is well-formed — so a typo costs an
``error:`` line and exit 2, not tokens. A run that fails still prints what it
has (the ``--json`` document or the outputs) and exits 1.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from .._errors import ConfigError
from . import _console
from ._app import (
    EXIT_FAILED,
    BudgetOption,
    Globals,
    JsonOption,
    NoJournalOption,
    WorkspaceOption,
    handles_errors,
    open_cli_engine,
    run_trio,
    unknown_name,
    workspace_of,
)
from ._jobs import read_jobs, read_stdin
from .batches import BatchOption

if TYPE_CHECKING:
    from .._backend import Backend
    from .._events import Event
    from .._results import StepResult

__all__ = ["run", "run_many"]
NoCacheOption = Annotated[
    bool,
    typer.Option("--no-cache", help="Neither read nor write the response cache."),
]


def _step_summary(result: StepResult) -> str:
    from ._progress import cached_label, format_cost

    usage = result.usage
    parts = [result.agent, result.model or "?"]
    tokens = f"{usage.input_tokens:,} in / {usage.output_tokens:,} out tokens"
    if usage.cache_read_input_tokens or usage.cache_creation_input_tokens:
        tokens += (
            f" (cache read {usage.cache_read_input_tokens:,},"
            f" write {usage.cache_creation_input_tokens:,})"
        )
    parts += [tokens, format_cost(result.cost_usd), f"{result.elapsed_s:.2f} s"]
    cached = cached_label(result.cached, result.similarity)
    parts.append(cached if result.cached else result.status.replace("_", " "))
    return " · ".join(parts)


class _ReplyPrinter:
    """Prints a streamed reply so that each token of the final answer shows once.

    A retry after a mid-stream failure starts the reply again from its first
    token. On a terminal the text is written as it arrives, and a restart ends the
    abandoned attempt's line and says why, dim, on stderr; the new answer then
    starts on a fresh line. Anywhere else (a pipe, a file) nobody watches the
    text arrive, so it is held until the attempt is known good and only the
    final answer is written: a script reads exactly what a plain run prints.

    Args:
        live: write text as it arrives (stdout is a terminal).
    """

    def __init__(self, *, live: bool) -> None:
        self.live = live
        self._held: list[str] = []
        self._line_open = False
        self._reason = ""

    def text(self, chunk: str) -> None:
        """The engine's ``on_text``."""
        if self.live:
            self._show(chunk)
        else:
            self._held.append(chunk)

    def retrying(self, event: Event) -> None:
        """A hook: remember why the last attempt failed, for the restart line."""
        from .._events import StepRetrying

        if isinstance(event, StepRetrying):
            self._reason = event.error or event.error_type

    def restart(self, attempt: int) -> None:
        """The engine's ``on_restart``: what was shown so far is void."""
        if not self.live:
            self._held.clear()
            return
        self._end_line()
        _console.detail(f"↻ attempt {attempt}: stream interrupted ({self._reason}), restarting")

    def finish(self, result: StepResult) -> None:
        """Write the held answer (if the run succeeded) and end the last line."""
        if self._held and result.ok:
            self._show("".join(self._held))
        self._end_line()

    def _show(self, text: str) -> None:
        if text:
            _console.write(text)
            self._line_open = not text.endswith("\n")

    def _end_line(self) -> None:
        if self._line_open:
            _console.write("\n")
            self._line_open = False


@handles_errors
def run(
    ctx: typer.Context,
    agent: Annotated[str, typer.Argument(metavar="AGENT", help="The agent's name in claude.json.")],
    task: Annotated[
        str | None,
        typer.Argument(
            metavar="[TASK]", help="What to do; [bold]-[/] reads it from stdin. Or give --task."
        ),
    ] = None,
    task_option: Annotated[
        str | None,
        typer.Option("--task", "-t", help="What to do (as for workflow run); instead of TASK."),
    ] = None,
    model: Annotated[
        str | None, typer.Option("--model", "-m", help="Model alias or id (overrides the agent's).")
    ] = None,
    max_tokens: Annotated[
        int | None, typer.Option("--max-tokens", min=1, help="Maximum output tokens.")
    ] = None,
    temperature: Annotated[
        float | None, typer.Option("--temperature", min=0.0, max=1.0, help="Sampling temperature.")
    ] = None,
    no_cache: NoCacheOption = False,
    stream: Annotated[
        bool,
        typer.Option(
            "--stream",
            help="Print the reply as it arrives (on a terminal; a pipe gets the final answer"
            " once, after any retry). Ignored with --json.",
        ),
    ] = False,
    workspace: WorkspaceOption = None,
    budget: BudgetOption = None,
    as_json: JsonOption = False,
) -> None:
    """Run one agent on one task and print its reply.

    The reply goes to stdout; a one-line summary (model, tokens, cost, time) to stderr.
    """
    settings = Globals.of(ctx)
    folder = workspace_of(workspace)
    if task is not None and task_option is not None:
        raise ConfigError("--task", "give the task once: as TASK or with --task, not both")
    task = task_option if task is None else task
    if task is None:
        raise ConfigError(
            "TASK", "missing: give the task as an argument, with --task, or - for stdin"
        )
    if task == "-":
        task = read_stdin("task")
    if not task.strip():
        raise ConfigError("task", "the task is empty")
    config = settings.load()
    if agent not in config.agents:
        raise unknown_name("agent", agent, config.agents)
    backend = settings.backend(config)
    printer = _ReplyPrinter(live=_console.terminal()) if stream and not as_json else None

    async def main() -> StepResult:
        async with open_cli_engine(config, backend, no_cache=no_cache, workspace=folder) as engine:
            return await engine.run_agent(
                agent,
                task,
                model=model,
                max_tokens=max_tokens,
                temperature=temperature,
                on_text=None if printer is None else printer.text,
                on_restart=None if printer is None else printer.restart,
                hooks=() if printer is None else (printer.retrying,),
                budget_usd=budget,
            )

    result = run_trio(main)
    if as_json:
        _console.print_json(result.to_dict())
    elif printer is not None:
        printer.finish(result)
    elif result.output is not None:
        _console.write(result.output if result.output.endswith("\n") else result.output + "\n")
    if not result.ok:
        _console.error(f"{agent}: {result.error or result.status}")
        raise typer.Exit(EXIT_FAILED)
    if not as_json:
        _console.detail(_step_summary(result))


@handles_errors
def run_many(
    ctx: typer.Context,
    file: Annotated[
        str,
        typer.Argument(
            metavar="FILE.jsonl",
            help='Lines of {"agent": ..., "task": ...}; [bold]-[/] reads stdin.',
        ),
    ],
    max_concurrency: Annotated[
        int | None,
        typer.Option("--max-concurrency", min=1, help="Requests in flight at once."),
    ] = None,
    no_cache: NoCacheOption = False,
    no_journal: NoJournalOption = False,
    workspace: WorkspaceOption = None,
    budget: BudgetOption = None,
    batch: BatchOption = False,
    as_json: JsonOption = False,
) -> None:
    """Run many (agent, task) pairs concurrently; outputs are printed in input order.

    The batch is journalled (see [bold]cft runs[/]) unless [bold]--no-journal[/].
    """
    settings = Globals.of(ctx)
    folder = workspace_of(workspace)
    jobs = read_jobs(file)
    config = settings.load()
    for job in jobs:
        if job.agent not in config.agents:
            # The file's line, not the engine's job index, is what a user can fix.
            raise unknown_name("agent", job.agent, config.agents, path=job.where)
    backend: Backend = settings.backend(config)
    run_ids: list[str] = []

    def note_run_id(event: Event) -> None:
        # Every event of the batch carries its run id; the first one is enough.
        run_id = getattr(event, "run_id", None)
        if not run_ids and isinstance(run_id, str):
            run_ids.append(run_id)

    async def main() -> list[StepResult]:
        async with open_cli_engine(
            config,
            backend,
            no_cache=no_cache,
            max_concurrency=max_concurrency,
            workspace=folder,
            journal=not no_journal,
            batch=batch,
        ) as engine:
            return await engine.run_many(
                [(job.agent, job.task) for job in jobs], hooks=[note_run_id], budget_usd=budget
            )

    results = run_trio(main)
    run_id = run_ids[0] if run_ids else None
    if as_json:
        from .._journalling import many_document

        # The very document the journal keeps, so `cft runs show --json` prints it again.
        _console.print_json(many_document(run_id or "", results))
    else:
        _print_results(results)
        _summarise(results, None if no_journal else run_id)
    failed = [r for r in results if not r.ok]
    if failed:
        _console.error(f"{len(failed)} of {len(results)} runs failed")
        raise typer.Exit(EXIT_FAILED)


def _print_results(results: list[StepResult]) -> None:
    from rich.rule import Rule

    out = _console.stdout()
    for index, result in enumerate(results, start=1):
        title = f"[{index}] {result.agent} · {result.status.replace('_', ' ')}"
        if _console.interactive():
            out.print(Rule(title, align="left", style="dim"), markup=False)
        else:
            out.print(f"── {title} ──", markup=False, soft_wrap=True)
        text = result.output if result.output is not None else f"error: {result.error}"
        _console.write(text if text.endswith("\n") else text + "\n")


def _summarise(results: list[StepResult], run_id: str | None) -> None:
    from ._progress import format_cost
    from .runs import run_reference

    ok = sum(r.ok for r in results)
    tokens = sum(r.usage.total_tokens for r in results)
    costs = [r.cost_usd for r in results]
    cost = None if any(c is None for c in costs) else sum(c for c in costs if c is not None)
    longest = max((r.elapsed_s for r in results), default=0.0)
    total = sum(r.elapsed_s for r in results)
    line = (
        f"{ok}/{len(results)} succeeded · longest {longest:.2f} s · step time {total:.2f} s"
        f" · {tokens:,} tokens · {format_cost(cost)}"
    )
    if run_id is not None:
        line += run_reference(run_id, resumable=False)
    _console.detail(line)
