"""Anomalies: calls far slower or costlier than their agent usually is.

Why a robust z-score rather than mean ± 3σ: one pathological call inflates the
standard deviation enough to hide itself; the median and the median absolute
deviation (MAD) barely move. Two streaming passes over the metrics files keep
memory bounded: the first learns each agent's usual range, the second scores.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from ._aggregate import read_records, window_start
from ._quantiles import Quantiles

__all__ = ["Anomaly", "find_anomalies"]


@dataclass(frozen=True, slots=True)
class Anomaly:
    """One call whose latency or cost is far above what its agent usually takes."""

    ts: datetime
    run_id: str | None
    workflow: str | None
    step_id: str | None
    agent: str
    model: str | None
    metric: str
    value: float
    median: float
    score: float

    def to_dict(self) -> dict[str, Any]:
        """The ``--json`` object of one anomaly."""
        return {
            "ts": self.ts.isoformat(timespec="milliseconds"),
            "run_id": self.run_id,
            "workflow": self.workflow,
            "step_id": self.step_id,
            "agent": self.agent,
            "model": self.model,
            "metric": self.metric,
            "value": round(self.value, 6),
            "median": round(self.median, 6),
            "score": round(self.score, 2),
        }


_METRICS = ("latency_ms", "cost_usd")


def find_anomalies(
    directory: Path,
    *,
    hours: float | None = None,
    now: datetime | None = None,
    threshold: float = 3.5,
    min_calls: int = 10,
    limit: int = 50,
    project: str | None = None,
) -> list[Anomaly]:
    """Calls whose latency or cost has a robust z-score above ``threshold`` for their agent.

    Two streaming passes: the first learns each agent's median and spread, the
    second scores every call. The score is ``0.6745·(x − median) / MAD``
    (Iglewicz–Hoaglin; > 3.5 is their cut-off); when over half the calls are
    identical (MAD = 0) it falls back to ``(x − median) / (1.2533·mean |x − median|)``.
    Only the slow or costly side is flagged, and cache hits are left out of both
    passes: their ~0 latency and cost are not the model's.

    Args:
        directory: the metrics folder.
        hours: the window, as for :func:`aggregate`.
        now: the end of the window.
        threshold: the robust z-score above which a call is listed.
        min_calls: agents with fewer uncached calls have no usual range yet.
        limit: keep the ``limit`` highest scores (bounded memory), highest first.
        project: only this project's calls (every project's when ``None``).
    """
    since = window_start(hours, now)
    learned: dict[tuple[str, str], Quantiles] = {}
    for record in read_records(directory, since=since, project=project):
        if record["cached"]:
            continue
        for metric in _METRICS:
            if (value := record[metric]) is not None:
                learned.setdefault((record["agent"], metric), Quantiles()).add(value)
    ranges: dict[tuple[str, str], tuple[float, float]] = {}
    for key, values in learned.items():
        median = values.quantile(0.5)
        if values.count < min_calls or median is None:
            continue
        mad, mean_dev = values.deviations(median)
        scale = mad / 0.6745 if mad > 0 else 1.2533 * mean_dev
        if scale > 0:
            ranges[key] = (median, scale)
    heap: list[tuple[float, int, Anomaly]] = []
    for n, record in enumerate(read_records(directory, since=since, project=project)):
        if record["cached"]:
            continue
        for metric in _METRICS:
            found = ranges.get((record["agent"], metric))
            value = record[metric]
            if found is None or value is None:
                continue
            score = (value - found[0]) / found[1]
            if score <= threshold:
                continue
            anomaly = Anomaly(
                record["ts"],
                record["run_id"],
                record["workflow"],
                record["step_id"],
                record["agent"],
                record["model"],
                metric,
                value,
                found[0],
                score,
            )
            entry = (score, n, anomaly)
            if len(heap) < limit:
                heapq.heappush(heap, entry)
            elif entry[:2] > heap[0][:2]:
                heapq.heapreplace(heap, entry)
    return [entry[2] for entry in sorted(heap, key=lambda e: (-e[0], e[1]))]
