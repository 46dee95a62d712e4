"""``cft dashboard``: a live terminal view of the calls other processes are making.

On a terminal it takes the whole screen (rich ``Live`` on the alternate screen)
and redraws every ``--interval`` seconds from what was appended to
``$CFT_HOME/metrics/executions.jsonl`` since the last redraw
(:mod:`._dashboard_tail`, :mod:`._dashboard_window`); ``q`` quits, and so does
Ctrl-C, with the terminal put back either way (:mod:`._dashboard_term`). On a
pipe, or with ``--json``, it prints one snapshot and exits.

The first read takes only the history's last ``--tail-mb`` megabytes: the
view is about recent activity, and a gigabyte of history need not be parsed
to show the last quarter of an hour. Today's cost then covers what was read
and says ``(partial)`` when the day began before it (see docs/observability.md).
"""

from __future__ import annotations

import sys
import time
from typing import TYPE_CHECKING, Annotated, Any

import typer

from . import _console
from ._app import EXIT_INTERRUPTED, JsonOption, handles_errors, state_dir
from ._project import AllProjectsOption, current_project

if TYPE_CHECKING:
    from ._dashboard_tail import MetricsTail
    from ._dashboard_window import RollingStats

__all__ = ["DEFAULT_TAIL_MB", "dashboard"]

#: How much of the history the first read takes (megabytes from the end).
DEFAULT_TAIL_MB = 64.0

IntervalOption = Annotated[
    float,
    typer.Option("--interval", min=0.05, max=3600.0, metavar="S", help="Seconds between redraws."),
]
TailOption = Annotated[
    float,
    typer.Option(
        "--tail-mb",
        min=0.0,
        max=1e6,
        metavar="MB",
        help="How much of the history to read at start, from its end (MB).",
    ),
]


def _ascii_only() -> bool:
    return not (getattr(sys.stdout, "encoding", None) or "").lower().startswith("utf")


@handles_errors
def dashboard(
    ctx: typer.Context,
    all_projects: AllProjectsOption = False,
    interval: IntervalOption = 1.0,
    tail_mb: TailOption = DEFAULT_TAIL_MB,
    as_json: JsonOption = False,
) -> None:
    """A live view of calls/s, latency, tokens, cost, cache hits, errors, breakers; q quits."""
    from ._dashboard_tail import MetricsTail
    from ._dashboard_window import RollingStats

    project = current_project(ctx, all_projects)
    tail = MetricsTail(state_dir() / "metrics", tail_bytes=int(tail_mb * 1024 * 1024))
    stats = RollingStats(time.time(), project=project)
    with tail:
        if as_json or not _console.terminal():
            doc = _refresh(tail, stats)
            if as_json:
                _console.print_json(doc)
            else:
                from ._dashboard_view import plain

                _console.write(plain(doc, ascii_only=_ascii_only()))
            return
        try:
            _live(tail, stats, interval)
        except KeyboardInterrupt:
            raise typer.Exit(EXIT_INTERRUPTED) from None


def _refresh(tail: MetricsTail, stats: RollingStats) -> dict[str, Any]:
    """Fold in what was appended since the last refresh; the figures as of now."""
    from ._dashboard_view import snapshot

    stats.advance(time.time())
    feed = stats.feed
    for line in tail.lines():
        feed(line)
    return snapshot(stats, tail.stats)


def _live(tail: MetricsTail, stats: RollingStats, interval: float) -> None:
    """Redraw every ``interval`` seconds until ``q`` (or Ctrl-C, or SIGTERM)."""
    from rich.live import Live

    from ._dashboard_term import keys, terminating_exits
    from ._dashboard_view import render

    ascii_only = _ascii_only()
    console = _console.stdout()
    with (
        terminating_exits(),
        keys() as typed,
        Live(console=console, screen=True, auto_refresh=False, redirect_stderr=False) as live,
    ):
        while True:
            started = time.monotonic()
            doc = _refresh(tail, stats)
            live.update(render(doc, ascii_only=ascii_only, hint="q quits"), refresh=True)
            deadline = started + interval
            while (left := deadline - time.monotonic()) > 0:
                if "q" in typed.wait(left).lower():
                    return
