"""``cft budget status``: the caps in force and what today has spent and holds against them.

The day's figures come from the ledger every process shares (the SQLite file
beside the run journal, or Redis when ``coordination.redis_url`` or a Redis
cache is configured), so the command shows what all of them together spent,
and what calls in flight hold right now.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import typer

from . import _console
from ._app import Globals, JsonOption, command_group, handles_errors, run_trio

if TYPE_CHECKING:
    from .._config import Config

__all__ = ["app", "status_document"]

app = command_group("Show the spending caps and today's spending against them.")


async def status_document(config: Config) -> dict[str, Any]:
    """The ``budget status --json`` document for ``config``."""
    from .._journal._ledger import day_key
    from .._run_budget import MICROS_PER_USD
    from .._stack import open_day_ledger

    budget = config.budget
    key = day_key()
    doc: dict[str, Any] = {
        "day": key.removeprefix("day:"),
        "per_run_usd": budget.per_run_usd,
        "per_workflow_usd": dict(budget.per_workflow_usd),
        "per_day_usd": budget.per_day_usd,
        "ledger": None,
        "spent_usd": None,
        "reserved_usd": None,
        "remaining_usd": None,
        "holds": None,
    }
    async with open_day_ledger(config) as ledger:
        if ledger is None or budget.per_day_usd is None:
            return doc
        status = await ledger.status(key)
    spent, reserved = status.spent / MICROS_PER_USD, status.reserved / MICROS_PER_USD
    return doc | {
        "ledger": ledger.where,
        "spent_usd": spent,
        "reserved_usd": reserved,
        "remaining_usd": max(0.0, budget.per_day_usd - spent - reserved),
        "holds": status.holds,
    }


def _usd(value: float | None) -> str:
    return "no cap" if value is None else f"${value:,.4f}"


@app.command("status")
@handles_errors
def status(ctx: typer.Context, as_json: JsonOption = False) -> None:
    """Show the per-run, per-workflow and per-day caps, and today's (UTC) spending."""
    config = Globals.of(ctx).load()
    doc = run_trio(status_document, config)
    if as_json:
        _console.print_json(doc)
        return
    from rich.table import Table

    table = Table(box=None, show_header=False)
    table.add_column(style="dim")
    table.add_column()
    table.add_row("per run", _usd(doc["per_run_usd"]))
    for name, cap in doc["per_workflow_usd"].items():
        table.add_row(f"per run of {name}", _usd(cap))
    table.add_row(f"per day ({doc['day']} UTC)", _usd(doc["per_day_usd"]))
    if doc["ledger"] is not None:
        table.add_row("spent today", _usd(doc["spent_usd"]))
        table.add_row("held by calls in flight", f"{_usd(doc['reserved_usd'])} ({doc['holds']})")
        table.add_row("remaining today", _usd(doc["remaining_usd"]))
        table.add_row("ledger", doc["ledger"])
    _console.stdout().print(table)
