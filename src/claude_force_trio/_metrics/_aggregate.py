"""Streaming aggregation of the metrics files: summaries by agent, model and workflow, anomalies.

Why streaming: the history may hold millions of lines across rotated files, so
every figure is computed in one pass, line by line, with per-group state of
bounded size (:class:`~._quantiles.Quantiles` for percentiles). Nothing here
holds more than one line at a time.

A line that is not valid JSON, not an object, or lacks a usable ``ts``,
``agent`` or ``latency_ms`` is skipped and counted in ``malformed`` — a
half-written or hand-edited file never stops ``cft metrics``. A line an older
writer glued onto a torn one (``{"ts":…torn{"ts":…}``) still yields its whole
record: the torn part counts as malformed. Blank lines and state lines
(:func:`~._record.is_state_line`) are skipped. Only
regular files are read (a planted FIFO would block the reader). Anomaly
detection, which reads the same records twice, is in :mod:`._anomalies`.

Every reader takes ``project``: only that project's records (``Config.project_key``)
are read, or every project's when it is ``None``. A line without a project (written
before lines carried one) belongs to no project: it is read only in the second case,
and grouped under :data:`NO_PROJECT`.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from .._quarantine import open_regular
from ._files import metrics_files
from ._quantiles import Quantiles
from ._record import is_state_line

__all__ = [
    "NO_PROJECT",
    "GroupStats",
    "ReadStats",
    "Summary",
    "aggregate",
    "read_records",
]


@dataclass(slots=True)
class ReadStats:
    """What a pass over the files saw: lines read, records kept, lines skipped as malformed."""

    files: list[str] = field(default_factory=list)
    lines: int = 0
    records: int = 0
    malformed: int = 0


#: How records of no project are labelled in the per-project table.
NO_PROJECT = "(no project)"
_NUMBER = (int, float)
#: How every line the recorder writes starts (``FIELDS`` order, compact JSON).
_RECORD_START = b'{"ts":'


def _number(value: Any) -> float | None:
    # type() rather than isinstance: bool is an int subclass and must not count.
    if type(value) in _NUMBER and math.isfinite(value):
        return float(value)
    return None


def _count(value: Any) -> int:
    return value if type(value) is int else 0


def _text(value: Any) -> str | None:
    return value if type(value) is str else None


def _normalize(obj: Any) -> dict[str, Any] | None:
    """A record with checked types, or ``None`` when the line is unusable.

    Written for speed (it runs once per line): one lookup per key, ``type()`` checks.
    """
    if type(obj) is not dict:
        return None
    get = obj.get
    ts, agent, latency = get("ts"), get("agent"), _number(get("latency_ms"))
    if type(ts) is not str or type(agent) is not str or latency is None:
        return None
    try:
        moment = datetime.fromisoformat(ts)
    except ValueError:
        return None
    success = get("success")
    return {
        "ts": moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC),
        "run_id": _text(get("run_id")),
        "workflow": _text(get("workflow")),
        "step_id": _text(get("step_id")),
        "agent": agent,
        "model": _text(get("model")),
        "success": success is True or (success is None and get("status") == "succeeded"),
        "status": _text(get("status")),
        "error_type": _text(get("error_type")),
        "cached": get("cached") is True,
        "attempts": _count(get("attempts")),
        "latency_ms": latency,
        "ttft_ms": _number(get("ttft_ms")),
        "input_tokens": _count(get("input_tokens")),
        "output_tokens": _count(get("output_tokens")),
        "cache_read_input_tokens": _count(get("cache_read_input_tokens")),
        "cache_creation_input_tokens": _count(get("cache_creation_input_tokens")),
        "cost_usd": _number(get("cost_usd")),
        "saved_usd": _number(get("saved_usd")),
        "task_hash": _text(get("task_hash")),
        "project": _text(get("project")),
        "similarity": _number(get("similarity")),  # a semantic hit's; absent in older lines
    }


def read_records(
    directory: Path,
    *,
    since: datetime | None = None,
    stats: ReadStats | None = None,
    project: str | None = None,
) -> Iterator[dict[str, Any]]:
    """Yield every usable record in ``directory``, oldest file first.

    Args:
        directory: the metrics folder (``$CFT_HOME/metrics``).
        since: skip records older than this (and whole files last written before it).
        stats: filled in as the files are read (``records`` counts those yielded).
        project: only this project's records; every project's (and those of
            none) when ``None``.
    """
    stats = stats if stats is not None else ReadStats()
    for path in metrics_files(directory):
        try:
            if since is not None and path.stat().st_mtime < since.timestamp():
                continue  # appended in time order: nothing in it is recent enough
            handle = os.fdopen(open_regular(path, os.O_RDONLY), "rb")
        except OSError:
            continue
        stats.files.append(str(path))
        with handle:
            for line in handle:
                if line.isspace() or is_state_line(line):  # breaker/limit changes: not calls
                    continue
                stats.lines += 1
                record = _parse(line)
                if record is None:
                    glued = line.rfind(_RECORD_START, 1)
                    record = _parse(line[glued:]) if glued > 0 else None
                    stats.malformed += 1  # the torn line, whether or not a record follows it
                if record is None or (since is not None and record["ts"] < since):
                    continue
                if project is None or record["project"] == project:
                    stats.records += 1
                    yield record


def _parse(line: bytes) -> dict[str, Any] | None:
    """The normalised record in ``line``, or ``None`` when it is unusable."""
    try:
        return _normalize(json.loads(line))
    except (ValueError, RecursionError):  # bad JSON, bad UTF-8, absurdly nested
        return None


class GroupStats:
    """Running totals for one group of calls (all of them, one agent, one model…)."""

    __slots__ = (
        "cache_creation",
        "cache_read",
        "cached",
        "calls",
        "cost_unknown",
        "cost_usd",
        "errors",
        "input",
        "latency",
        "output",
        "saved_usd",
        "succeeded",
    )

    def __init__(self) -> None:
        self.calls = self.succeeded = self.cached = self.cost_unknown = 0
        self.input = self.output = self.cache_read = self.cache_creation = 0
        self.cost_usd = self.saved_usd = 0.0
        self.latency = Quantiles()
        self.errors: dict[str, int] = {}

    def add(self, record: dict[str, Any]) -> None:
        """Count one record."""
        self.calls += 1
        self.cached += record["cached"]
        self.latency.add(record["latency_ms"])
        self.input += record["input_tokens"]
        self.output += record["output_tokens"]
        self.cache_read += record["cache_read_input_tokens"]
        self.cache_creation += record["cache_creation_input_tokens"]
        cost = record["cost_usd"]
        if cost is None:
            self.cost_unknown += 1
        else:
            self.cost_usd += cost
        saved = record["saved_usd"]
        if saved is not None:
            self.saved_usd += saved
        if record["success"]:
            self.succeeded += 1
        else:
            kind = record["error_type"] or record["status"] or "unknown"
            self.errors[kind] = self.errors.get(kind, 0) + 1

    def merge(self, other: GroupStats) -> None:
        """Add everything ``other`` counted."""
        for name in (
            "calls",
            "succeeded",
            "cached",
            "cost_unknown",
            "input",
            "output",
            "cache_read",
            "cache_creation",
            "cost_usd",
            "saved_usd",
        ):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.latency.merge(other.latency)
        for kind, count in other.errors.items():
            self.errors[kind] = self.errors.get(kind, 0) + count

    def to_dict(self) -> dict[str, Any]:
        """Counts, rates, latency percentiles (ms), tokens, cost and savings as JSON."""

        def ms(value: float | None) -> float | None:
            return None if value is None else round(value, 3)

        calls = self.calls or 1
        return {
            "calls": self.calls,
            "succeeded": self.succeeded,
            "failed": self.calls - self.succeeded,
            "success_rate": round(self.succeeded / calls, 4) if self.calls else None,
            "cached": self.cached,
            "cache_hit_rate": round(self.cached / calls, 4) if self.calls else None,
            "latency_ms": {
                "p50": ms(self.latency.quantile(0.5)),
                "p95": ms(self.latency.quantile(0.95)),
                "p99": ms(self.latency.quantile(0.99)),
                "mean": ms(self.latency.mean),
                "max": ms(self.latency.maximum if self.calls else None),
                "exact": self.latency.exact,
            },
            "tokens": {
                "input_tokens": self.input,
                "output_tokens": self.output,
                "cache_read_input_tokens": self.cache_read,
                "cache_creation_input_tokens": self.cache_creation,
            },
            "cost_usd": round(self.cost_usd, 6),
            "cost_unknown_calls": self.cost_unknown,
            "saved_usd": round(self.saved_usd, 6),
            "errors": dict(sorted(self.errors.items(), key=lambda kv: -kv[1])),
        }


@dataclass(slots=True)
class Summary:
    """Everything ``cft metrics summary|agents|costs`` shows, from one pass."""

    overall: GroupStats
    by_agent: dict[str, GroupStats]
    by_model: dict[str, GroupStats]
    by_workflow: dict[str, GroupStats]
    read: ReadStats
    by_project: dict[str, GroupStats] = field(default_factory=dict)
    project: str | None = None
    since: datetime | None = None
    first: datetime | None = None
    last: datetime | None = None

    def to_dict(self) -> dict[str, Any]:
        """The ``--json`` document."""

        def groups(table: dict[str, GroupStats]) -> dict[str, Any]:
            return {name: table[name].to_dict() for name in sorted(table)}

        def iso(moment: datetime | None) -> str | None:
            return moment.isoformat(timespec="seconds") if moment else None

        return {
            "project": self.project,
            "since": iso(self.since),
            "first": iso(self.first),
            "last": iso(self.last),
            "files": self.read.files,
            "lines": self.read.lines,
            "malformed_lines": self.read.malformed,
            "overall": self.overall.to_dict(),
            "agents": groups(self.by_agent),
            "models": groups(self.by_model),
            "workflows": groups(self.by_workflow),
            "projects": groups(self.by_project),
        }


def window_start(hours: float | None, now: datetime | None = None) -> datetime | None:
    """The start of the last ``hours`` hours before ``now`` (UTC); ``None`` means all history."""
    if hours is None:
        return None
    return (now or datetime.now(UTC)) - timedelta(hours=hours)


def aggregate(
    directory: Path,
    *,
    hours: float | None = None,
    now: datetime | None = None,
    project: str | None = None,
) -> Summary:
    """Summarise the metrics in ``directory`` in one streaming pass.

    Args:
        directory: the metrics folder.
        hours: only the last ``hours`` hours; all history when ``None``.
        now: the end of the window (tests pin it); the current time by default.
        project: only this project's calls; every project's when ``None``
            (``by_project`` then says how they split).
    """
    since = window_start(hours, now)
    summary = Summary(GroupStats(), {}, {}, {}, ReadStats(), project=project, since=since)
    # One update per line, into its (agent, model, workflow, project) combination;
    # the tables are merged from those at the end. Five updates per line would
    # cost twice the time over millions of lines.
    combos: dict[tuple[str, str | None, str | None, str | None], GroupStats] = {}
    first = last = None
    records = read_records(directory, since=since, stats=summary.read, project=project)
    for record in records:
        key = (record["agent"], record["model"], record["workflow"], record["project"])
        group = combos.get(key)
        if group is None:
            group = combos[key] = GroupStats()
        group.add(record)
        moment = record["ts"]
        if first is None or moment < first:
            first = moment
        if last is None or moment > last:
            last = moment
    summary.first, summary.last = first, last
    for (agent, model, workflow, owner), group in combos.items():
        summary.overall.merge(group)
        named = (
            (summary.by_agent, agent),
            (summary.by_model, model or "(unknown)"),
            (summary.by_project, owner or NO_PROJECT),
        )
        for table, name in (*named, (summary.by_workflow, workflow)):
            if name is not None:  # run_agent calls belong to no workflow
                table.setdefault(name, GroupStats()).merge(group)
    return summary
