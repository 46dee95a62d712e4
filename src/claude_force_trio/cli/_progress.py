"""The ``workflow run`` progress display: an engine Hook fed by events.

Why a hook: the engine never imports rich; it emits events, and this class
turns them into a table row per step. On a terminal the table is a rich
``Live`` refreshed ~10×/s by a trio task (so the elapsed column ticks and
rendering happens in the trio thread, where ``trio.current_time()`` works); on a
pipe or with ``NO_COLOR`` every event that matters becomes one plain line,
flushed at once so ``tail -f`` and CI logs show progress as it happens.

A step that uses tools shows what it is doing in its status cell: the call
of its loop and the tool running (``turn 2 · read_file``), from the
``ToolCalled``/``ToolFinished`` events; in plain mode each tool call is a line.

A table never draws more lines than the screen has: a big run shows its
running and failed steps, then the most recently finished, and one line that
counts the rest by status (``_step_rows``). Redrawing every row of a
1,000-step run ten times a second cost more than the run itself.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
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
    StepWaitingApproval,
    ToolCalled,
    ToolFinished,
    WorkflowStarted,
)
from ._step_rows import Row, StepRows

if TYPE_CHECKING:
    from rich.console import Console, ConsoleOptions
    from rich.live import Live
    from rich.segment import Segment

    from .._results import StepResult, WorkflowResult

__all__ = ["WorkflowProgress", "cached_label", "format_cost", "summary_line"]

_FINISHED = (
    StepSucceeded,
    StepFailed,
    StepTimedOut,
    StepCancelled,
    StepSkipped,
    StepWaitingApproval,
)
_STATUS_STYLE = {
    "waiting": ("waiting", "dim"),
    "queued": ("queued", "cyan"),
    "succeeded": ("✓ succeeded", "green"),
    "cached": ("✓ cached", "green"),
    "failed": ("✗ failed", "bold red"),
    "timed_out": ("⏱ timed out", "red"),
    "cancelled": ("cancelled", "yellow"),
    "skipped": ("skipped", "dim"),
    "waiting_approval": ("⏸ waiting for approval", "bold yellow"),
}
#: Statuses of steps that never started: no time to show.
_NOT_RUN = frozenset({"skipped", "waiting_approval"})
#: Lines of a screen the table leaves alone: its header, and the line the cursor sits on.
_RESERVED_LINES = 2
#: (header, alignment, widest it may grow) of each column.
_COLUMNS = (
    ("step", "<", 40),
    ("agent", "<", 24),
    ("status", "<", 32),
    ("attempts", ">", 8),
    ("elapsed", ">", 9),
    ("tokens in/out", ">", 20),
    ("cost", ">", 10),
)
_GAP = "  "
#: The columns that may be shortened (with ``…``) to fit a narrow screen, and how far.
_WORD_COLUMNS = tuple(
    i for i, (name, _, _) in enumerate(_COLUMNS) if name in ("step", "agent", "status")
)
_NARROWEST = 4
#: The columns of figures: only their headers may be shortened.
_FIGURES = tuple(i for i in range(len(_COLUMNS)) if i not in _WORD_COLUMNS)
_HEADER = tuple((name, "bold") for name, _, _ in _COLUMNS)
#: rich's "dots" spinner: a running row's frame follows its own elapsed time.
_SPINNER = "⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏"
_SPINNER_S = 0.08


def cached_label(cached: object, similarity: object = None) -> str:
    """``cached``, or ``cached ≈0.97`` for a semantic hit (its similarity cut, never rounded up).

    Args:
        cached: a result's ``cached`` (``True``, ``"semantic"``) or its ``--json`` value.
        similarity: its ``similarity``.
    """
    if cached == "semantic" and isinstance(similarity, int | float):
        return f"cached ≈{int(similarity * 100) / 100:.2f}"
    return "cached"


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
    cached = sum(1 for step in result.steps if step.cached)
    if cached:
        semantic = sum(1 for step in result.steps if step.cached == "semantic")
        similar = f" ({semantic} semantic)" if semantic else ""
        parts.append(f"{cached} cached{similar}, saved {format_cost(result.saved_usd)}")
    return " · ".join(parts)


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
        self.rows = StepRows()
        self.origin: float | None = None
        self._width = 8

    # -- the Hook ------------------------------------------------------------------

    def __call__(self, event: Event, /) -> None:
        """Update the row the event is about (and print a line in plain mode)."""
        if isinstance(event, WorkflowStarted):
            self.origin = event.at
            self.rows = StepRows(event.steps)
            self._width = max((len(s) for s in event.steps), default=8)
            self._say(event.at, event.workflow, f"started ({len(event.steps)} steps)")
            return
        if isinstance(event, StepQueued):
            row = self.rows.row(event.step_id)
            row.agent = event.agent
            self.rows.set_status(row, "queued")
        elif isinstance(event, StepStarted):
            row = self.rows.row(event.step_id)
            row.agent, row.model, row.started = event.agent, event.model, event.at
            row.attempts = max(row.attempts, 1)
            self.rows.set_status(row, "running")
            self._say(event.at, event.step_id, f"started   ({event.agent}, {event.model})")
        elif isinstance(event, StepRetrying):
            row = self.rows.row(event.step_id)
            row.attempts = event.attempt + 1
            self._say(
                event.at,
                event.step_id,
                f"retrying  in {event.delay_s:.2f}s after {event.error_type} "
                f"(attempt {event.attempt + 1} next)",
            )
        elif isinstance(event, ToolCalled | ToolFinished):
            self._tool(event)
        elif isinstance(event, _FINISHED):
            row = self.rows.row(event.step_id)
            row.agent, row.result = event.result.agent, event.result
            self.rows.set_status(row, "cached" if event.result.cached else event.result.status)
            self._say(event.at, event.step_id, self._finished_text(event.result))

    def _tool(self, event: ToolCalled | ToolFinished) -> None:
        """A tool call started or ended: the row's turn and tool, and a plain line."""
        row = self.rows.row(event.step_id)
        if isinstance(event, ToolCalled):
            row.turn, row.tool, row.tools = event.turn, event.tool, row.tools + 1
            self._say(event.at, event.step_id, f"tool      {event.tool} (turn {event.turn})")
            return
        row.tools = max(row.tools - 1, 0)
        if row.tools == 0:  # the round is over: the next call is the next turn
            row.turn, row.tool = event.turn + 1, None
        if event.is_error:
            self._say(event.at, event.step_id, f"tool      {event.tool} failed: {event.error}")

    def _say(self, at: float, who: str, what: str) -> None:
        if self.plain is None:
            return
        offset = at - (self.origin if self.origin is not None else at)
        self.plain(f"[{offset:7.2f}s] {who:<{self._width}}  {what}")

    @staticmethod
    def _finished_text(result: StepResult) -> str:
        status = result.status.replace("_", " ")
        if result.status == "succeeded":
            tokens = result.usage.total_tokens  # cache reads and writes too, as the summary
            cached = f" ({cached_label(result.cached, result.similarity)})" if result.cached else ""
            loop = ""
            if result.turns > 1:
                calls = len(result.tool_calls)
                loop = f" ({result.turns} turns, {calls} tool call{'' if calls == 1 else 's'})"
            return (
                f"{status} {result.elapsed_s:.2f}s {tokens:,} tokens "
                f"{format_cost(result.cost_usd)}{cached}{loop}"
            )
        if result.status == "waiting_approval":
            return "waiting for approval (did not start)"
        if result.status == "skipped":
            return f"{status}   ({result.error})" if result.error else status
        return f"{status:<9} {result.elapsed_s:.2f}s {result.error or ''}".rstrip()

    # -- the live table ------------------------------------------------------------

    def _now(self) -> float | None:
        try:
            return self.clock()
        except RuntimeError:  # rendered outside trio (e.g. by Live.stop): no ticking
            return None

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> Iterator[Segment]:
        """The table as it stands now, one screen line per row, in at most the lines it has.

        Drawn as segments, straight: a rich ``Table`` lays out each cell through
        several renderables (~0.5 ms a row), which at ten frames a second was
        most of what a big run's display cost.
        """
        from rich.cells import cell_len
        from rich.segment import Segment

        room = (options.height or options.max_height) - _RESERVED_LINES
        rows, hidden = self.rows.visible(room)
        now = self._now()
        lines = [_HEADER, *(self._cells(row, now) for row in rows)]
        widths = _fit(
            [
                min(cap, max(cell_len(cells[i][0]) for cells in lines))
                for i, (_, _, cap) in enumerate(_COLUMNS)
            ],
            [max((cell_len(cells[i][0]) for cells in lines[1:]), default=0) for i in _FIGURES],
            options.max_width,
        )
        if hidden:
            counts = " · ".join(f"{n:,} {status.replace('_', ' ')}" for status, n in hidden.items())
            lines.append(((f"… {sum(hidden.values()):,} more: {counts}", "dim"),))
        newline = Segment.line()
        for cells in lines:
            segments = _grid_line(cells, widths, console)
            # A row wider than the screen loses its end rather than wrapping.
            yield from Segment.adjust_line_length(segments, options.max_width, pad=False)
            yield newline

    @staticmethod
    def _cells(row: Row, now: float | None) -> tuple[tuple[str, str], ...]:
        """(text, style) of each column for one row."""
        age = None if now is None or row.started is None else now - row.started
        if row.status == "running":
            frame = _SPINNER[int((age or 0.0) / _SPINNER_S) % len(_SPINNER)]
            status = (f"{frame} {row.activity() or 'running'}", "bold cyan")
        else:
            status = _STATUS_STYLE.get(row.status, (row.status, ""))
        result = row.result
        if row.status == "cached" and result is not None and result.cached == "semantic":
            status = ("✓ " + cached_label(result.cached, result.similarity), status[1])
        if result is None:
            elapsed = "" if age is None else f"{age:.1f}s"
            figures = (str(row.attempts) if row.attempts else ""), elapsed, "", ""
        else:
            usage = result.usage
            figures = (
                str(result.attempts) if result.attempts else "",
                f"{result.elapsed_s:.2f}s" if result.status not in _NOT_RUN else "",
                # "in" is the whole prompt (cache reads and writes included), so
                # the rows add up to the summary line's token count.
                f"{usage.prompt_tokens:,}/{usage.output_tokens:,}" if usage.total_tokens else "",
                format_cost(result.cost_usd) if result.status == "succeeded" else "",
            )
        return (row.step_id, ""), (row.agent, ""), status, *((f, "") for f in figures)

    async def refresh(self, live: Live, interval: float = 0.1) -> None:
        """Redraw ``live`` every ``interval`` seconds until cancelled."""
        import trio

        while True:
            live.refresh()
            await trio.sleep(interval)


def _fit(widths: list[int], figures: Sequence[int], room: int) -> list[int]:
    """Column widths narrowed to ``room``: the words give way (with ``…``), the figures never.

    Step, agent and status shrink first, widest first, down to
    :data:`_NARROWEST`; then a figure column whose header is wider than its
    figures (``attempts``) loses the end of its header. Attempts, elapsed,
    tokens and cost themselves are never cut (issue 15, item 8: 60–80 columns
    keep numbers whole); only a screen too narrow even for that loses the end
    of its lines.

    Args:
        widths: each column's natural width (header and cells, capped).
        figures: the widest cell of each figure column, header left out.
        room: the screen's width.
    """
    excess = sum(widths) + len(_GAP) * (len(widths) - 1) - room
    floors = dict.fromkeys(_WORD_COLUMNS, _NARROWEST)
    for stage in (floors, dict(zip(_FIGURES, (max(1, w) for w in figures), strict=True))):
        while excess > 0:
            wide = [i for i in stage if widths[i] > stage[i]]
            if not wide:
                break
            widths[max(wide, key=lambda i: widths[i])] -= 1
            excess -= 1
    return widths


def _grid_line(
    cells: Sequence[tuple[str, str]], widths: Sequence[int], console: Console
) -> list[Segment]:
    """One table line: each cell fitted to its column's width, columns two spaces apart.

    Neighbouring cells of one style share a segment (most of a row is unstyled).
    A line of fewer cells than columns (the summary) is written as it is.
    """
    from rich.cells import cell_len, set_cell_size
    from rich.segment import Segment

    if len(cells) < len(widths):
        return [Segment(text, console.get_style(style) if style else None) for text, style in cells]
    runs: list[tuple[str, str]] = []
    for (text, style), width, (_, align, _) in zip(cells, widths, _COLUMNS, strict=True):
        if cell_len(text) > width:
            text = set_cell_size(text, width - 1) + "…"
        pad = " " * (width - cell_len(text))
        text = pad + text if align == ">" else text + pad
        if runs and runs[-1][1] == style:
            runs[-1] = (runs[-1][0] + _GAP + text, style)
        else:
            if runs:
                runs[-1] = (runs[-1][0] + _GAP, runs[-1][1])
            runs.append((text, style))
    return [Segment(text, console.get_style(style) if style else None) for text, style in runs]
