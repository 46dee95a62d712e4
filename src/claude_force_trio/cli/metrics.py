"""``cft metrics summary | agents | costs | anomalies | export``: what past calls cost and took.

Every command streams ``$CFT_HOME/metrics/executions*.jsonl`` (see
:mod:`.._aggregate`), so it works on millions of lines. An empty history is not
an error: a friendly line (or an empty ``--json`` document) and exit 0.

Every command shows the current project's calls (the config found as usual,
:mod:`._project`) unless ``--all-projects`` widens it to every project, lines
written before lines carried a project included; ``summary`` then adds a table
by project.
"""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

import typer

from .._errors import ConfigError
from . import _console
from ._app import JsonOption, command_group, handles_errors, state_dir
from ._project import AllProjectsOption, current_project

if TYPE_CHECKING:
    from .._metrics import Summary

__all__ = ["app"]

app = command_group("Summarise recorded calls: latency, success, tokens, cost, savings, anomalies.")
HoursOption = Annotated[
    float | None,
    typer.Option("--hours", help="Only the last H hours (default: all history)."),
]
#: The longest window ``--hours`` takes: a century. Beyond it ``now - hours``
#: leaves the calendar (year 1) and used to crash with an overflow.
MAX_HOURS = 100 * 8760


def _hours(hours: float | None) -> float | None:
    """``--hours`` if it is a sane window; else a ConfigError (one line, exit 2).

    Checked here rather than by typer's ``min=``, which lets ``inf`` through and
    reports the rest as a framed usage panel instead of an ``error:`` line.
    """
    if hours is not None and not (0 < hours <= MAX_HOURS):  # also false for nan
        raise ConfigError(
            "--hours",
            f"expected a number of hours above 0 and at most {MAX_HOURS} (omit it for all"
            f" history), got {hours:g}",
        )
    return hours


def _scope(ctx: typer.Context, hours: float | None, all_projects: bool) -> str | None:
    """The project to show (``None``: all), once ``--hours`` is known to be sane."""
    _hours(hours)
    return current_project(ctx, all_projects)


def _directory() -> Path:
    return state_dir() / "metrics"


def _summary(hours: float | None, project: str | None) -> Summary:
    from .._metrics import aggregate

    return aggregate(_directory(), hours=_hours(hours), project=project)


def _empty(hours: float | None, project: str | None) -> None:
    window = f" in the last {hours:g} hours" if hours is not None else ""
    scope = f" for project {project}" if project is not None else ""
    _console.write(f"No calls recorded{scope}{window} yet ({_directory()}).\n")


def _money(value: float) -> str:
    return f"${value:,.4f}"


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:,.0f}"


def _rate(value: float | None) -> str:
    return "-" if value is None else f"{value:.1%}"


def _table(title: str, columns: list[str], rows: list[list[str]]) -> None:
    from rich.table import Table

    table = Table(title=title, title_justify="left", box=None)
    for i, column in enumerate(columns):
        table.add_column(column, justify="left" if i == 0 else "right", no_wrap=True)
    for row in rows:
        table.add_row(*row)
    _console.stdout().print(table)


def _group_rows(groups: dict[str, Any]) -> list[list[str]]:
    rows = []
    for name, g in groups.items():
        lat = g["latency_ms"]
        rows.append(
            [
                name,
                str(g["calls"]),
                _rate(g["success_rate"]),
                _rate(g["cache_hit_rate"]),
                _ms(lat["p50"]),
                _ms(lat["p95"]),
                _ms(lat["p99"]),
                _money(g["cost_usd"]),
                _money(g["saved_usd"]),
            ]
        )
    return rows


_TOKEN_KEYS = (
    "input_tokens",
    "output_tokens",
    "cache_read_input_tokens",
    "cache_creation_input_tokens",
)
_GROUP_COLUMNS = [
    "name",
    "calls",
    "success",
    "cache hits",
    "p50 ms",
    "p95 ms",
    "p99 ms",
    "cost",
    "saved",
]


@app.command("summary")
@handles_errors
def summary(
    ctx: typer.Context,
    hours: HoursOption = None,
    all_projects: AllProjectsOption = False,
    as_json: JsonOption = False,
) -> None:
    """Overall counts, success and cache-hit rates, latency percentiles, tokens, cost."""
    project = _scope(ctx, hours, all_projects)
    doc = _summary(hours, project).to_dict()
    if as_json:
        _console.print_json(doc)
        return
    overall = doc["overall"]
    if not overall["calls"]:
        _empty(hours, project)
        return
    _table("all calls", _GROUP_COLUMNS, _group_rows({"all": overall}))
    tokens = overall["tokens"]
    _console.write(
        f"tokens: {tokens['input_tokens']:,} in, {tokens['output_tokens']:,} out, "
        f"{tokens['cache_read_input_tokens']:,} cache read, "
        f"{tokens['cache_creation_input_tokens']:,} cache write\n"
    )
    if overall["cost_unknown_calls"]:
        _console.write(f"{overall['cost_unknown_calls']} calls on models without a known price\n")
    if doc["malformed_lines"]:
        _console.notice(f"skipped {doc['malformed_lines']} malformed lines")
    if doc["workflows"]:
        _table("by workflow", _GROUP_COLUMNS, _group_rows(doc["workflows"]))
    if project is None:
        _table("by project", _GROUP_COLUMNS, _group_rows(doc["projects"]))


@app.command("agents")
@handles_errors
def agents(
    ctx: typer.Context,
    hours: HoursOption = None,
    all_projects: AllProjectsOption = False,
    as_json: JsonOption = False,
) -> None:
    """The same figures per agent."""
    project = _scope(ctx, hours, all_projects)
    doc = _summary(hours, project).to_dict()
    if as_json:
        _console.print_json({"project": project, "since": doc["since"], "agents": doc["agents"]})
        return
    if not doc["agents"]:
        _empty(hours, project)
        return
    _table("by agent", _GROUP_COLUMNS, _group_rows(doc["agents"]))


@app.command("costs")
@handles_errors
def costs(
    ctx: typer.Context,
    hours: HoursOption = None,
    all_projects: AllProjectsOption = False,
    as_json: JsonOption = False,
) -> None:
    """Cost, savings from cache hits, and tokens per model and per agent."""
    project = _scope(ctx, hours, all_projects)
    doc = _summary(hours, project).to_dict()
    keys = ("cost_usd", "saved_usd", "cost_unknown_calls", "tokens", "calls")
    result = {
        "project": project,
        "since": doc["since"],
        "total": {k: doc["overall"][k] for k in keys},
        "models": {n: {k: g[k] for k in keys} for n, g in doc["models"].items()},
        "agents": {n: {k: g[k] for k in keys} for n, g in doc["agents"].items()},
    }
    if as_json:
        _console.print_json(result)
        return
    if not doc["overall"]["calls"]:
        _empty(hours, project)
        return
    columns = ["name", "calls", "input", "output", "cache read", "cache write", "cost", "saved"]
    for title in ("models", "agents"):
        rows = []
        for name, g in result[title].items():
            t = g["tokens"]
            counts = [f"{t[key]:,}" for key in _TOKEN_KEYS]
            rows.append(
                [name, str(g["calls"]), *counts, _money(g["cost_usd"]), _money(g["saved_usd"])]
            )
        _table(f"by {title[:-1]}", columns, rows)
    total = result["total"]
    _console.write(f"total: {_money(total['cost_usd'])}, saved {_money(total['saved_usd'])}\n")


@app.command("anomalies")
@handles_errors
def anomalies(
    ctx: typer.Context,
    hours: HoursOption = None,
    threshold: Annotated[
        float,
        typer.Option("--threshold", help="Robust z-score above which a call is listed."),
    ] = 3.5,
    limit: Annotated[int, typer.Option("--limit", min=1, help="List at most N calls.")] = 50,
    all_projects: AllProjectsOption = False,
    as_json: JsonOption = False,
) -> None:
    """Calls far slower or costlier than their agent's usual (robust z-score), with run ids."""
    from .._metrics import find_anomalies

    if not math.isfinite(threshold) or threshold < 0:
        raise ConfigError("--threshold", f"expected a finite number ≥ 0, got {threshold:g}")
    project = _scope(ctx, hours, all_projects)
    found = find_anomalies(
        _directory(), hours=_hours(hours), threshold=threshold, limit=limit, project=project
    )
    if as_json:
        _console.print_json({"project": project, "anomalies": [a.to_dict() for a in found]})
        return
    if not found:
        _console.write("No anomalies found.\n")
        return
    rows = [
        [
            *(a.ts.isoformat(timespec="seconds"), a.agent, a.run_id or "-", a.step_id or "-"),
            *(a.metric, f"{a.value:,.4g}", f"{a.median:,.4g}", f"{a.score:.1f}"),
        ]
        for a in found
    ]
    columns = ["when", "agent", "run id", "step", "metric", "value", "usual", "score"]
    _table("anomalies", columns, rows)


@app.command("export")
@handles_errors
def export(
    ctx: typer.Context,
    path: Annotated[Path, typer.Argument(metavar="PATH", help="File to write.")],
    fmt: Annotated[
        Literal["json", "csv"], typer.Option("--format", "-f", help="json (an array) or csv.")
    ] = "json",
    hours: HoursOption = None,
    all_projects: AllProjectsOption = False,
    as_json: JsonOption = False,
) -> None:
    """Write every recorded call (one object or row each) to PATH, streaming."""
    from .._metrics import FIELDS, read_records, window_start

    project = _scope(ctx, hours, all_projects)
    since = window_start(hours)
    records = read_records(_directory(), since=since, project=project)
    count = 0
    try:
        out = path.open("w", encoding="utf-8", newline="")
    except OSError as exc:
        raise ConfigError(str(path), f"cannot write: {exc.strerror or exc}") from exc
    with out:
        if fmt == "csv":
            writer = csv.DictWriter(out, fieldnames=FIELDS, extrasaction="ignore")
            writer.writeheader()
        else:
            out.write("[")
        for record in records:
            record["ts"] = record["ts"].isoformat(timespec="milliseconds")
            if fmt == "csv":
                writer.writerow(record)
            else:
                out.write(
                    ("\n" if count == 0 else ",\n") + json.dumps({k: record[k] for k in FIELDS})
                )
            count += 1
        if fmt == "json":
            out.write("\n]\n" if count else "]\n")
    if as_json:
        _console.print_json({"path": str(path), "format": fmt, "records": count})
    else:
        _console.success(f"exported {count} calls to {path}")
