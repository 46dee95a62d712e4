"""The terminal's run timeline: one row per step, a bar on a common time axis, in rich text.

Why drawn by hand and not with a rich ``Table`` or ``Progress``: the bars of
all rows share one axis whose scale follows the terminal's width, and the
output must be exact and testable as plain text (a pipe, ``NO_COLOR``). The
columns shrink (agents first) so a 60-column terminal still gets a bar of
sixteen cells, and no number is ever cut. Without colour the critical path
keeps its ``*`` and a cache hit its ``◆``, so nothing is said by colour alone.
"""

from __future__ import annotations

import math
import os
import textwrap
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from ._timeline import STATUS_WORDS, Lane, Timeline, build_timeline, ticks

if TYPE_CHECKING:
    from rich.console import Console
    from rich.text import Text

    from .._config import WorkflowConfig

__all__ = ["bar_cells", "chart_width", "colour_wanted", "print_timeline", "render_timeline"]

_STATUS_STYLE = {
    "succeeded": "green",
    "cached": "green",
    "failed": "bold red",
    "timed_out": "red",
    "cancelled": "yellow",
    "waiting_approval": "bold yellow",
}
BAR, MARKER, CRITICAL = "█", "◆", "*"
#: Width of a chart on a pipe without ``COLUMNS`` (a terminal uses its own).
PIPE_WIDTH = 100
_MIN_BAR = 16
#: (id, agent) column caps, tried in turn until the bars get ``_MIN_BAR`` cells; 0 drops agents.
_CAPS = ((24, 18), (14, 10), (10, 0))


def _fit(text: str, width: int) -> str:
    return text.ljust(width) if len(text) <= width else text[: width - 1] + "…"


def _duration(lane: Lane) -> str:
    if lane.start is None or lane.marker:
        return ""
    retries = f" ×{lane.attempts}" if lane.attempts > 1 else ""
    return f"{lane.duration:.2f}s{retries}"


def _columns(timeline: Timeline, width: int) -> tuple[int, int, int, int, int]:
    """(id, agent, status, bar, label) widths; agents go first when the width is short."""
    lanes = timeline.lanes
    status_w = max([len("status"), *(len(STATUS_WORDS.get(x.status, x.status)) for x in lanes)])
    label_w = max([6, *(len(_duration(lane)) for lane in lanes)])
    for id_cap, agent_cap in _CAPS:
        id_w = min(id_cap, max([4, *(len(lane.step_id) for lane in lanes)]))
        agent_w = min(agent_cap, max([5, *(len(lane.agent) for lane in lanes)]))
        agent_w = agent_w if agent_cap else 0
        fixed = 2 + id_w + 2 + (agent_w + 2 if agent_w else 0) + status_w + 2 + 2 + label_w
        if width - fixed >= _MIN_BAR:
            break
    return id_w, agent_w, status_w, max(width - fixed, _MIN_BAR), label_w


def _cell(seconds: float, span: float, cells: int) -> int:
    """The cell that holds the moment ``seconds``: cell ``i`` covers ``[i, i + 1)`` × span/cells."""
    scale = cells / span if span > 0 else 0.0
    return min(math.floor(seconds * scale + 1e-9), cells - 1)


def bar_cells(lane: Lane, span: float, cells: int) -> tuple[int, int]:
    """The cells ``[first, last)`` a lane's bar touches (one for a marker) on ``cells``."""
    first = _cell(lane.start or 0.0, span, cells)
    if lane.marker:
        return first, first + 1
    scale = cells / span if span > 0 else 0.0
    return first, max(first + 1, min(math.ceil((lane.end or 0.0) * scale - 1e-9), cells))


def render_timeline(timeline: Timeline, width: int) -> Text:
    """The chart as rich text, at most ``width`` cells wide (give it ≥ 60 to keep it whole).

    Args:
        timeline: the run.
        width: the terminal's width in cells.
    """
    from rich.text import Text

    id_w, agent_w, status_w, bar_w, label_w = _columns(timeline, width)
    text = Text()
    path = " → ".join(timeline.critical_path)
    head = f"{timeline.title} · {timeline.status.replace('_', ' ')} · {timeline.span_s:.2f} s"
    text.append(_fit(head, width).rstrip() + "\n", style="bold")
    if timeline.note:
        text.append("\n".join(textwrap.wrap(timeline.note, width)) + "\n", style="dim")
    elif path:
        lines = textwrap.wrap(f"{CRITICAL} critical path: {path}", width, subsequent_indent="  ")
        text.append("\n".join(lines) + "\n", style="magenta")
    agent_head = _fit("agent", agent_w) + "  " if agent_w else ""
    columns = f"  {_fit('step', id_w)}  {agent_head}status"
    text.append(columns + "\n", style="dim")
    for lane in timeline.lanes:
        text.append(CRITICAL + " " if lane.critical else "  ", style="bold magenta")
        text.append(_fit(lane.step_id, id_w), style="bold" if lane.critical else "")
        text.append("  " + (_fit(lane.agent, agent_w) + "  " if agent_w else ""))
        word = STATUS_WORDS.get(lane.status, lane.status)
        text.append(_fit(word, status_w), style=_STATUS_STYLE.get(lane.status, "dim"))
        text.append("  ")
        if lane.start is None:
            text.append(" " * bar_w)
        else:
            first, last = bar_cells(lane, timeline.axis_s, bar_w)
            style = "bold red" if lane.status in ("failed", "timed_out") else "cyan"
            style = "bold magenta" if lane.critical and lane.status == "succeeded" else style
            drawn = MARKER if lane.marker else BAR * (last - first)
            text.append(" " * first)
            text.append(drawn, style="green" if lane.marker else style)
            text.append(" " * (bar_w - last))
        label = _duration(lane)
        text.append("  " + label.ljust(label_w) if label else "")
        text.rstrip()
        text.append("\n")
    indent = 2 + id_w + 2 + (agent_w + 2 if agent_w else 0) + status_w + 2
    rule = ["─"] * bar_w
    labels = [" "] * (bar_w + 2 + label_w)
    for seconds, label in ticks(timeline.axis_s, bar_w, 1.0):
        cell = _cell(seconds, timeline.axis_s, bar_w)
        rule[cell] = "┬"
        labels[cell : cell + len(label)] = label
    text.append(" " * indent + "".join(rule) + "\n", style="dim")
    text.append((" " * indent + "".join(labels)).rstrip() + "\n", style="dim")
    legend = f"{BAR} ran  {MARKER} cache hit  ×N attempts"
    text.append(legend + (f"  {CRITICAL} critical path" if path else "") + "\n", style="dim")
    for lane in timeline.lanes:
        if lane.error and lane.status in ("failed", "timed_out"):
            why = f"✗ {lane.step_id}: {' '.join(lane.error.splitlines())}"
            text.append(_fit(why, width).rstrip() + "\n", style="red")
    text.rstrip()
    return text


def chart_width(console: Console) -> int:
    """The width to draw at: the terminal's, or ``COLUMNS``, else :data:`PIPE_WIDTH`."""
    return console.width if console.is_terminal or os.environ.get("COLUMNS") else PIPE_WIDTH


def colour_wanted(stream: object) -> bool:
    """True when ``stream`` is a terminal and ``NO_COLOR`` is not set."""
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty()) and not os.environ.get("NO_COLOR")


def print_timeline(
    document: Mapping[str, Any],
    workflows: Mapping[str, WorkflowConfig] | None,
    *,
    err: bool = False,
) -> None:
    """Draw a run's chart on stdout (``err``: on stderr), in colour only on a terminal.

    Args:
        document: the run's ``--json`` document.
        workflows: the config's workflows; ``None`` if no config loaded.
        err: draw on stderr, so stdout keeps one JSON document (``--json``).
    """
    import sys

    from rich.text import Text

    from . import _console

    console = _console.stderr() if err else _console.stdout()
    chart = render_timeline(build_timeline(document, workflows), chart_width(console))
    colour = colour_wanted(sys.stderr if err else sys.stdout)
    console.print(chart if colour else Text(chart.plain), soft_wrap=True, highlight=False)
