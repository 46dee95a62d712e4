"""The ``workflow run`` progress display: an engine Hook fed by events.

Why a hook: the engine never imports rich (DESIGN.md §1); it emits events, and
this class turns them into a table row per step. On a terminal the table is a
rich ``Live`` refreshed ~10×/s by a trio task (so the elapsed column ticks and
rendering happens in the trio thread, where ``trio.current_time()`` works); on a
pipe or with ``NO_COLOR`` every event that matters becomes one plain line,
flushed at once so ``tail -f`` and CI logs show progress as it happens.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .._events import (
    Event,
    StepCancelled,
    StepFailed,
    StepQueued,
    StepRetrying,
    StepSkipped,
    StepStarted,
    StepSucceeded,
    StepTimedOut,
    WorkflowStarted,
)

if TYPE_CHECKING:
    from rich.console import RenderableType
    from rich.live import Live
    from rich.table import Table

    from .._results import StepResult, WorkflowResult

__all__ = ["WorkflowProgress", "format_cost", "summary_line"]

_FINISHED = (StepSucceeded, StepFailed, StepTimedOut, StepCancelled, StepSkipped)
_STATUS_STYLE = {
    "waiting": ("waiting", "dim"),
    "queued": ("queued", "cyan"),
    "succeeded": ("✓ succeeded", "green"),
    "cached": ("✓ cached", "green"),
    "failed": ("✗ failed", "bold red"),
    "timed_out": ("⏱ timed out", "red"),
    "cancelled": ("cancelled", "yellow"),
    "skipped": ("skipped", "dim"),
}


def format_cost(cost: float | None) -> str:
    """``$0.0123``; ``$?`` when the model has no known price."""
    return "$?" if cost is None else f"${cost:.4f}"


def summary_line(result: WorkflowResult) -> str:
    """One line that says how well the run went, e.g. ``makespan 2.1 s · speed-up 2.6× …``."""
    makespan = result.elapsed_s
    step_time = result.step_time_s
    # A run served from the cache did no work worth a ratio.
    speedup = f"{step_time / makespan:.1f}×" if makespan > 0 and step_time >= 0.01 else "–"
    parts = [
        result.status.replace("_", " "),
        f"makespan {makespan:.2f} s",
        f"step time {step_time:.2f} s",
        f"speed-up {speedup}",
        f"critical path {result.critical_path_s:.2f} s",
        f"{result.usage.total_tokens:,} tokens",
        format_cost(result.cost_usd),
    ]
    cached = sum(step.cached for step in result.steps)
    if cached:
        parts.append(f"{cached} cached, saved {format_cost(result.saved_usd)}")
    return " · ".join(parts)


@dataclass(slots=True)
class _Row:
    step_id: str
    agent: str = ""
    status: str = "waiting"
    model: str | None = None
    started: float | None = None
    attempts: int = 0
    result: StepResult | None = None


class WorkflowProgress:
    """A Hook keeping one row per step; renders as a rich table or as plain lines.

    Args:
        plain: called with each line to print (pipe / ``NO_COLOR`` mode); ``None``
            for the live-table mode, where the caller renders ``self`` in a ``Live``.
        clock: the current time on the engine's clock (``trio.current_time``).
    """

    def __init__(self, *, plain: Callable[[str], object] | None, clock: Callable[[], float]):
        self.plain = plain
        self.clock = clock
        self.rows: dict[str, _Row] = {}
        self.origin: float | None = None
        self._width = 8

    # -- the Hook ------------------------------------------------------------------

    def __call__(self, event: Event, /) -> None:
        """Update the row the event is about (and print a line in plain mode)."""
        if isinstance(event, WorkflowStarted):
            self.origin = event.at
            self.rows = {sid: _Row(sid) for sid in event.steps}
            self._width = max((len(s) for s in event.steps), default=8)
            self._say(event.at, event.workflow, f"started ({len(event.steps)} steps)")
            return
        if isinstance(event, StepQueued):
            row = self._row(event.step_id)
            row.agent, row.status = event.agent, "queued"
        elif isinstance(event, StepStarted):
            row = self._row(event.step_id)
            row.agent, row.model, row.started, row.status = (
                event.agent,
                event.model,
                event.at,
                "running",
            )
            row.attempts = max(row.attempts, 1)
            self._say(event.at, event.step_id, f"started   ({event.agent}, {event.model})")
        elif isinstance(event, StepRetrying):
            row = self._row(event.step_id)
            row.attempts = event.attempt + 1
            self._say(
                event.at,
                event.step_id,
                f"retrying  in {event.delay_s:.2f}s after {event.error_type} "
                f"(attempt {event.attempt + 1} next)",
            )
        elif isinstance(event, _FINISHED):
            row = self._row(event.step_id)
            row.agent, row.status, row.result = (
                event.result.agent,
                "cached" if event.result.cached else event.result.status,
                event.result,
            )
            self._say(event.at, event.step_id, self._finished_text(event.result))

    def _row(self, step_id: str) -> _Row:
        return self.rows.setdefault(step_id, _Row(step_id))

    def _say(self, at: float, who: str, what: str) -> None:
        if self.plain is None:
            return
        offset = at - (self.origin if self.origin is not None else at)
        self.plain(f"[{offset:7.2f}s] {who:<{self._width}}  {what}")

    @staticmethod
    def _finished_text(result: StepResult) -> str:
        status = result.status.replace("_", " ")
        if result.status == "succeeded":
            tokens = result.usage.input_tokens + result.usage.output_tokens
            cached = " (cached)" if result.cached else ""
            return (
                f"{status} {result.elapsed_s:.2f}s {tokens:,} tokens "
                f"{format_cost(result.cost_usd)}{cached}"
            )
        if result.status == "skipped":
            return f"{status}   ({result.error})" if result.error else status
        return f"{status:<9} {result.elapsed_s:.2f}s {result.error or ''}".rstrip()

    # -- the live table ------------------------------------------------------------

    def _now(self) -> float | None:
        try:
            return self.clock()
        except RuntimeError:  # rendered outside trio (e.g. by Live.stop): no ticking
            return None

    def __rich__(self) -> Table:
        """The table as it stands now; running steps' elapsed time ticks."""
        from rich.spinner import Spinner
        from rich.table import Table
        from rich.text import Text

        table = Table(box=None, pad_edge=False, header_style="bold")
        table.add_column("step", no_wrap=True)
        table.add_column("agent", no_wrap=True)
        table.add_column("status", no_wrap=True)
        table.add_column("attempts", justify="right")
        table.add_column("elapsed", justify="right")
        table.add_column("tokens in/out", justify="right")
        table.add_column("cost", justify="right")
        now = self._now()
        for row in self.rows.values():
            status: RenderableType
            if row.status == "running":
                status = Spinner("dots", text=Text("running", style="bold cyan"))
            else:
                label, style = _STATUS_STYLE.get(row.status, (row.status, ""))
                status = Text(label, style=style)
            result = row.result
            if result is not None:
                elapsed = f"{result.elapsed_s:.2f}s" if result.status != "skipped" else ""
                attempts = str(result.attempts) if result.attempts else ""
                tokens = (
                    f"{result.usage.input_tokens:,}/{result.usage.output_tokens:,}"
                    if result.usage.total_tokens
                    else ""
                )
                cost = format_cost(result.cost_usd) if result.status == "succeeded" else ""
            else:
                elapsed = ""
                if row.started is not None and now is not None:
                    elapsed = f"{now - row.started:.1f}s"
                attempts, tokens, cost = (str(row.attempts) if row.attempts else ""), "", ""
            table.add_row(row.step_id, row.agent, status, attempts, elapsed, tokens, cost)
        return table

    async def refresh(self, live: Live, interval: float = 0.1) -> None:
        """Redraw ``live`` every ``interval`` seconds until cancelled."""
        import trio

        while True:
            live.refresh()
            await trio.sleep(interval)
