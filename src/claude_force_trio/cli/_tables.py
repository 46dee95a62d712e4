"""``runs``' tables: rich on a terminal, aligned plain lines on a pipe, figures never cut.

Why a module of its own: fitting a table to a narrow terminal (60–80
columns, issue 15 item 8) is a rule of its own. Words (ids, names, status,
notes) shrink to four characters, cut with ``…``; figures (times, counts,
tokens, cost) keep their width, and when even that does not fit the least
needed columns are left out, so no number is ever cut or wrapped.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from . import _console

__all__ = ["STEP_COLUMNS", "number", "print_rows", "seconds", "step_row"]

#: Left out, in this order, when a screen is too narrow for every figure whole.
_DROPPABLE = ("note", "started (UTC)", "attempts")
#: The columns that hold figures: never cut to fit a screen.
_FIGURES = frozenset({"started (UTC)", "elapsed", "steps ok", "cost", "attempts", "tokens in/out"})


def _natural(columns: Sequence[str], rows: Sequence[Sequence[str]]) -> list[int]:
    return [max([len(col)] + [len(row[i]) for row in rows]) for i, col in enumerate(columns)]


def _narrowed(
    columns: Sequence[str], rows: Sequence[Sequence[str]], room: int
) -> tuple[Sequence[str], Sequence[Sequence[str]], list[int]]:
    """The columns, rows and widths that fit ``room`` with every figure whole.

    Words (ids, names, status, notes) shrink, widest first, to four characters
    (cut with ``…``); figures never do, so on a screen still too narrow the
    note, then the start time, then the attempts are left out.
    """
    for drop in (None, *_DROPPABLE):
        if drop is not None and drop in columns:
            keep = [i for i, col in enumerate(columns) if col != drop]
            columns = [columns[i] for i in keep]
            rows = [[row[i] for i in keep] for row in rows]
        widths = _natural(columns, rows)
        excess = sum(widths) + 2 * (len(columns) - 1) - room
        words = [i for i, col in enumerate(columns) if col not in _FIGURES]
        while excess > 0 and words:
            widest = max(words, key=lambda i: widths[i])
            if widths[widest] <= 4:
                break
            widths[widest] -= 1
            excess -= 1
        if excess <= 0:
            break
    return columns, rows, widths


def print_rows(columns: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
    """A rich table on a terminal; aligned plain lines (one per row) in a pipe."""
    if _console.interactive():
        from rich.table import Table

        columns, rows, widths = _narrowed(columns, rows, _console.stdout().width)
        table = Table(box=None, header_style="bold", pad_edge=False)
        for column, width in zip(columns, widths, strict=True):
            # Figures (times, counts, tokens, cost) keep their width on a narrow
            # screen; the words (ids, names, status, notes) give way with "…".
            table.add_column(
                column,
                no_wrap=column not in ("note", "output / error"),
                min_width=width if column in _FIGURES else None,
                max_width=None if column in _FIGURES else width,
            )
        for row in rows:
            table.add_row(*row)
        _console.stdout().print(table)
        return
    widths = [max(len(str(cell)) for cell in column) for column in zip(columns, *rows, strict=True)]
    for row in (columns, *rows):
        line = "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True))
        _console.write(line.rstrip() + "\n")


def number(value: object) -> float | None:
    """A JSON number as a float (``None`` for anything else, a bool included)."""
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def seconds(value: float | None) -> str:
    """``1.23 s``; ``—`` when unknown."""
    return "—" if value is None else f"{value:.2f} s"


def _note(step: Mapping[str, Any]) -> str:
    """A step's error, else the first line of its output, kept short."""
    text = step.get("error") or step.get("output") or ""
    line = str(text).strip().split("\n", 1)[0]
    return line if len(line) <= 60 else line[:59] + "…"


def step_row(step: Mapping[str, Any]) -> list[str]:
    """One journalled step as ``runs show`` lists it (see :data:`STEP_COLUMNS`)."""
    from ._progress import cached_label, format_cost

    usage = step.get("usage")
    usage = usage if isinstance(usage, Mapping) else {}
    # "in" is the whole prompt (cache reads and writes too), as the run's token total counts it.
    prompt = ("input_tokens", "cache_creation_input_tokens", "cache_read_input_tokens")
    tokens_in = sum(int(number(usage.get(k)) or 0) for k in prompt)
    tokens_out = number(usage.get("output_tokens")) or 0
    status = str(step.get("status", "?"))
    return [
        str(step.get("id", "?")),
        str(step.get("agent", "?")),
        (
            cached_label(step.get("cached"), step.get("similarity"))
            if step.get("cached") and status == "succeeded"
            else status
        ),
        str(step.get("attempts", 0)),
        seconds(number(step.get("elapsed_s"))),
        f"{tokens_in:,.0f}/{tokens_out:,.0f}",
        format_cost(number(step.get("cost_usd"))),
        _note(step),
    ]


STEP_COLUMNS = ("step", "agent", "status", "attempts", "elapsed", "tokens in/out", "cost", "note")
