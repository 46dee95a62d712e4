"""Performance tracking for the compatibility API: the CLI's metrics file, Claude Force's shapes.

Why the same file as the CLI: a call made through ``AgentOrchestrator`` and one
made with ``cft run`` are the same kind of fact, so both land in
``$CFT_HOME/metrics`` (written by :class:`~claude_force_trio._metrics.MetricsRecorder`,
one JSON line per call) and ``cft metrics`` and :meth:`MetricsTracker.get_summary`
read the same history. The figures are computed by streaming the files
(``_metrics._aggregate``), so they cover every process that wrote there, not
just this one; what Claude Force reported about its in-memory ring buffer
(``in_memory_count``, ``max_entries``, ``memory_usage_mb``) has no meaning here
and is not given.

Per project: an orchestrator's engine stamps its config's project key on every
line (``Config.project_key``), and its tracker reads only that project's lines,
as ``cft metrics`` does in the same checkout. ``MetricsTracker()`` on its own
reads every project's.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from .._errors import TrackingDisabledError
from .._metrics import (
    GroupStats,
    MetricsRecorder,
    Summary,
    aggregate,
    project_key_of,
    read_records,
)
from .._paths import state_home
from .._public import publish

__all__ = ["MetricsTracker", "Tracking", "metrics_dir"]

#: The columns of ``export_csv``, in order.
_CSV_FIELDS = (
    "timestamp",
    "agent_name",
    "workflow_name",
    "step_id",
    "success",
    "status",
    "error_type",
    "execution_time_ms",
    "model",
    "input_tokens",
    "output_tokens",
    "total_tokens",
    "estimated_cost",
    "cached",
    "attempts",
)


def metrics_dir() -> Path:
    """``$CFT_HOME/metrics``: where the CLI and the compatibility API both record calls."""
    return state_home() / "metrics"


def _group_summary(group: GroupStats, hours: float | None) -> dict[str, Any]:
    if not group.calls:
        return {"total_executions": 0, "success_rate": 0, "total_cost": 0, "total_tokens": 0}
    tokens = group.input + group.output
    return {
        "total_executions": group.calls,
        "successful_executions": group.succeeded,
        "failed_executions": group.calls - group.succeeded,
        "success_rate": group.succeeded / group.calls,
        "total_tokens": tokens,
        "total_input_tokens": group.input,
        "total_output_tokens": group.output,
        "total_cost": group.cost_usd,
        "avg_execution_time_ms": group.latency.mean or 0.0,
        "avg_cost_per_execution": group.cost_usd / group.calls,
        "time_period": f"last {hours:g} hours" if hours else "all time",
        "cached_executions": group.cached,
        "cost_unknown_executions": group.cost_unknown,
    }


class MetricsTracker:
    """What ``AgentOrchestrator.tracker`` returns: Claude Force's tracker API, on the metrics files.

    Args:
        directory: the metrics folder (default ``$CFT_HOME/metrics``, the CLI's).
        project: read only this project's calls (every project's when ``None``).
    """

    def __init__(self, directory: Path | None = None, *, project: str | None = None) -> None:
        self.metrics_dir = directory if directory is not None else metrics_dir()
        self.project = project

    def __repr__(self) -> str:
        return f"MetricsTracker({str(self.metrics_dir)!r}, project={self.project!r})"

    def recorder(self) -> MetricsRecorder:
        """A recorder hook that appends every finished call to this tracker's files."""
        return MetricsRecorder(self.metrics_dir, project=self.project)

    def _aggregate(self, hours: float | None = None) -> Summary:
        return aggregate(self.metrics_dir, hours=hours, project=self.project)

    def _records(self) -> Iterator[dict[str, Any]]:
        return read_records(self.metrics_dir, project=self.project)

    def get_summary(self, hours: float | None = None) -> dict[str, Any]:
        """Totals over all history, or the last ``hours`` hours (``0``/``None``: all).

        Keys as Claude Force's: ``total_executions``, ``successful_executions``,
        ``failed_executions``, ``success_rate``, ``total_tokens``,
        ``total_input_tokens``, ``total_output_tokens``, ``total_cost`` (USD),
        ``avg_execution_time_ms``, ``avg_cost_per_execution``, ``time_period``;
        plus ``cached_executions`` and ``cost_unknown_executions``.
        """
        window = hours or None
        return _group_summary(self._aggregate(window).overall, window)

    def get_agent_stats(self, agent_name: str | None = None) -> dict[str, Any]:
        """Per agent: ``executions``, ``success_rate``, ``total_cost``, ``avg_execution_time_ms``,
        ``total_tokens``; only ``agent_name`` when given; ``{}`` when nothing was recorded."""
        by_agent = self._aggregate().by_agent
        return {
            name: {
                "executions": group.calls,
                "success_rate": group.succeeded / group.calls,
                "total_cost": group.cost_usd,
                "avg_execution_time_ms": group.latency.mean or 0.0,
                "total_tokens": group.input + group.output,
            }
            for name, group in sorted(by_agent.items())
            if agent_name is None or name == agent_name
        }

    def get_cost_breakdown(self) -> dict[str, Any]:
        """``by_agent`` and ``by_model`` (USD, costliest first) and their ``total``."""
        summary = self._aggregate()

        def costs(table: dict[str, GroupStats]) -> dict[str, float]:
            ranked = sorted(table.items(), key=lambda item: -item[1].cost_usd)
            return {name: group.cost_usd for name, group in ranked}

        return {
            "by_agent": costs(summary.by_agent),
            "by_model": costs(summary.by_model),
            "total": summary.overall.cost_usd,
        }

    def get_trends(self) -> dict[str, list[Any]]:
        """Hourly ``timestamps``, ``executions``, ``costs`` and ``success_rates``, oldest first."""
        hours: dict[str, GroupStats] = {}
        for record in self._records():
            hour = record["ts"].replace(minute=0, second=0, microsecond=0).isoformat()
            hours.setdefault(hour, GroupStats()).add(record)
        ordered = sorted(hours.items())
        return {
            "timestamps": [hour for hour, _ in ordered],
            "executions": [group.calls for _, group in ordered],
            "costs": [group.cost_usd for _, group in ordered],
            "success_rates": [group.succeeded / group.calls for _, group in ordered],
        }

    def executions(self) -> Iterator[dict[str, Any]]:
        """Every recorded call, oldest first, with Claude Force's ``ExecutionMetrics`` names."""
        for record in self._records():
            tokens = record["input_tokens"] + record["output_tokens"]
            yield {
                "timestamp": record["ts"].isoformat(),
                "agent_name": record["agent"],
                "workflow_name": record["workflow"],
                "step_id": record["step_id"],
                "success": record["success"],
                "status": record["status"],
                "error_type": record["error_type"],
                "execution_time_ms": record["latency_ms"],
                "model": record["model"],
                "input_tokens": record["input_tokens"],
                "output_tokens": record["output_tokens"],
                "total_tokens": tokens,
                "estimated_cost": record["cost_usd"],
                "cached": record["cached"],
                "attempts": record["attempts"],
            }

    def export_json(self, output_path: str | Path) -> None:
        """Write ``summary``, ``agent_stats``, ``cost_breakdown``, ``trends`` and ``executions``."""
        document = {
            "summary": self.get_summary(),
            "agent_stats": self.get_agent_stats(),
            "cost_breakdown": self.get_cost_breakdown(),
            "trends": self.get_trends(),
            "executions": list(self.executions()),
        }
        target = _prepared(output_path)
        target.write_text(json.dumps(document, indent=2), encoding="utf-8")

    def export_csv(self, output_path: str | Path) -> None:
        """Write one CSV row per recorded call (a header only when there are none)."""
        with _prepared(output_path).open("w", newline="", encoding="utf-8") as handle:
            writer = csv.DictWriter(handle, fieldnames=_CSV_FIELDS)
            writer.writeheader()
            writer.writerows(self.executions())


def _prepared(output_path: str | Path) -> Path:
    target = Path(output_path)
    target.parent.mkdir(parents=True, exist_ok=True)
    return target


class Tracking:
    """The ``AgentOrchestrator`` methods that read the metrics (Claude Force's names)."""

    enable_tracking: bool
    config_path: Path
    config: dict[str, Any]
    _tracker: MetricsTracker | None = None

    # -- performance tracking: the CLI's metrics file ----------------------------------------

    @property
    def tracker(self) -> MetricsTracker | None:
        """The metrics reader over ``$CFT_HOME/metrics``, this config's project only;
        ``None`` when tracking is off."""
        if self._tracker is None and self.enable_tracking:
            self._tracker = MetricsTracker(project=project_key_of(self.config_path, self.config))
        return self._tracker

    def _require_tracker(self) -> MetricsTracker:
        tracker = self.tracker
        if tracker is None:
            raise TrackingDisabledError()
        return tracker

    def get_performance_summary(self, hours: float | None = None) -> dict[str, Any]:
        """Totals of every recorded call, or of the last ``hours`` hours.

        Raises:
            TrackingDisabledError: built with ``enable_tracking=False`` (a ``RuntimeError``).
        """
        return self._require_tracker().get_summary(hours)

    def get_agent_performance(self, agent_name: str | None = None) -> dict[str, Any]:
        """Per-agent executions, success rate, cost, mean time and tokens (one agent if named)."""
        return self._require_tracker().get_agent_stats(agent_name)

    def get_cost_breakdown(self) -> dict[str, Any]:
        """Cost by agent and by model, costliest first, and the total (USD)."""
        return self._require_tracker().get_cost_breakdown()

    def export_performance_metrics(self, output_path: str, format: str = "json") -> None:
        """Write the metrics to ``output_path``: ``json`` (summaries and calls) or ``csv`` (calls).

        Raises:
            ValueError: another format.
            TrackingDisabledError: built with ``enable_tracking=False``.
        """
        tracker = self._require_tracker()
        if format == "json":
            tracker.export_json(output_path)
        elif format == "csv":
            tracker.export_csv(output_path)
        else:
            raise ValueError(f"format: unsupported format {format!r} (use 'json' or 'csv')")


publish(globals())
