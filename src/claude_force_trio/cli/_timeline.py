"""Run timelines: where each step of a run spent its time, as a Gantt chart in the terminal.

Why from the ``--json`` document and not from events: a timeline is wanted
after the fact (``cft runs show RUN_ID --timeline``) as much as at the end of a
run (``workflow run --timeline``), and the document is what both have: the
journal keeps it, and a run's result produces it. It holds each step's
wall-clock ``started_at`` and its ``elapsed_s``; the workflow in the config
adds the dependencies, hence the critical path. A run whose workflow is no
longer in the config is still drawn, without the highlight, and says so.

Steps that did not run in this session have no bar: ``skipped``, ``waiting``
(for an approval), ``cancelled``, ``pending`` (not yet journalled, in a run
still going) and ``resumed`` (replayed from the journal: it ran in an earlier
session, whose times would stretch the axis over the pause). A cache hit took
no time: it is a marker, not a bar. :class:`Timeline` is the layout-free model;
``_timeline_text`` lays it out for a terminal's width, and ``_timeline_html``
draws the same model as a page (docs/runs.md, "Timelines").
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .._config import WorkflowConfig

__all__ = ["MIN_AXIS_S", "STATUS_WORDS", "Lane", "Timeline", "build_timeline", "ticks"]

#: Statuses of steps that ran (in this session): they get a bar.
_RAN = frozenset({"succeeded", "failed", "timed_out"})
#: The shortest axis a chart draws, in seconds.
MIN_AXIS_S = 0.1
#: How a lane's status reads in the chart.
STATUS_WORDS = {
    "succeeded": "succeeded",
    "cached": "cached",
    "resumed": "resumed",
    "failed": "failed",
    "timed_out": "timed out",
    "cancelled": "cancelled",
    "skipped": "skipped",
    "waiting_approval": "waiting",
    "pending": "pending",
}


@dataclass(frozen=True, slots=True)
class Lane:
    """One step as the timeline draws it.

    Attributes:
        step_id: the step's id.
        agent: its agent.
        status: the step's status, or ``cached``, ``resumed`` or ``pending`` (see the module).
        start: seconds from the run's first start to this step's; ``None`` without a bar.
        duration: the bar's length in seconds (0 for a cache hit's marker, or no bar).
        attempts: requests made for the step.
        critical: the step is on the critical path.
        tokens: tokens billed, every kind.
        cost_usd: what it cost; ``None`` when the model has no known price.
        error: why it did not succeed, else ``None``.
    """

    step_id: str
    agent: str
    status: str
    start: float | None = None
    duration: float = 0.0
    attempts: int = 0
    critical: bool = False
    tokens: int = 0
    cost_usd: float | None = None
    error: str | None = None

    @property
    def end(self) -> float | None:
        """Seconds from the run's first start to this step's end; ``None`` without a bar."""
        return None if self.start is None else self.start + self.duration

    @property
    def marker(self) -> bool:
        """The step is a cache hit: drawn as a marker at its start, not as a bar."""
        return self.status == "cached" and self.start is not None


@dataclass(frozen=True, slots=True)
class Timeline:
    """A run laid out in time, before any width is chosen.

    Attributes:
        title: the workflow's name, or ``run-many``.
        run_id: the run's id (``""`` if the document has none).
        status: the run's status.
        span_s: the axis length: the latest end among the lanes.
        lanes: one per step, in config order.
        critical_path: the steps of the critical path, first to last (may be empty).
        note: why no critical path is shown, else ``None``.
    """

    title: str
    run_id: str
    status: str
    span_s: float
    lanes: tuple[Lane, ...]
    critical_path: tuple[str, ...] = ()
    note: str | None = None

    @property
    def axis_s(self) -> float:
        """The axis the chart draws: the span, but at least :data:`MIN_AXIS_S`.

        Cache hits take milliseconds; on an axis of their own, that noise would
        spread their markers over the whole width.
        """
        return max(self.span_s, MIN_AXIS_S)


def _number(value: object) -> float:
    ok = isinstance(value, int | float) and not isinstance(value, bool)
    return float(value) if ok and math.isfinite(float(value)) else 0.0  # type: ignore[arg-type]


def _moment(value: object) -> datetime | None:
    try:
        return datetime.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        return None


def _tokens(usage: object) -> int:
    if not isinstance(usage, Mapping):
        return 0
    kinds = ("input_tokens", "output_tokens", "cache_read_input_tokens")
    return int(sum(_number(usage.get(k)) for k in (*kinds, "cache_creation_input_tokens")))


def _status(step: Mapping[str, Any]) -> str:
    status = str(step.get("status", "pending"))
    if step.get("resumed"):
        return "resumed"
    if status == "succeeded" and step.get("cached"):
        return "cached"
    return status


def _steps_of(document: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    listed = document.get("steps", document.get("results"))
    return [s for s in listed if isinstance(s, Mapping)] if isinstance(listed, list) else []


def _critical(
    document: Mapping[str, Any],
    workflows: Mapping[str, WorkflowConfig] | None,
    durations: Mapping[str, float],
) -> tuple[WorkflowConfig | None, tuple[str, ...], str | None]:
    """The run's workflow (if still the same), its critical path, and else why not."""
    name = document.get("workflow")
    if not isinstance(name, str):
        return None, (), "a run-many batch has no dependencies: no critical path"
    workflow = None if workflows is None else workflows.get(name)
    if workflow is None:
        where = "no config was loaded" if workflows is None else "it is not in the config any more"
        return None, (), f"critical path not shown: workflow {name!r}: {where}"
    from .._dag import build_graph

    graph = build_graph(workflow)
    if not {str(s.get("id")) for s in _steps_of(document)} <= set(graph.steps):
        return None, (), f"critical path not shown: workflow {name!r} changed since the run"
    total, path = graph.critical_path(durations)
    return workflow, (path if total > 0 else ()), None


def _lane(step: Mapping[str, Any], start: float | None, critical: bool) -> Lane:
    """One journalled step's lane; ``start`` is ``None`` when it gets no bar."""
    cost = step.get("cost_usd")
    return Lane(
        step_id=str(step.get("id")),
        agent=str(step.get("agent", "?")),
        status=_status(step),
        start=start,
        duration=_number(step.get("elapsed_s"))
        if start is not None and not step.get("cached")
        else 0.0,
        attempts=int(_number(step.get("attempts"))),
        critical=critical,
        tokens=_tokens(step.get("usage")),
        cost_usd=None if cost is None else _number(cost),
        error=str(step["error"]) if step.get("error") else None,
    )


def build_timeline(
    document: Mapping[str, Any], workflows: Mapping[str, WorkflowConfig] | None
) -> Timeline:
    """Lay out a run's ``--json`` document (finished or not) in time.

    Args:
        document: what ``runs show RUN_ID --json`` prints (``steps`` or ``results``;
            a run-many batch may list one id several times).
        workflows: the config's workflows, for dependencies; ``None`` if no config loaded.
    """
    steps = _steps_of(document)
    starts: dict[int, datetime] = {}
    for index, step in enumerate(steps):
        moment = _moment(step.get("started_at"))
        if moment is not None and _status(step) in _RAN | {"cached"}:
            starts[index] = moment
    origin = min(starts.values(), default=None)
    durations = {
        str(steps[i].get("id")): _number(steps[i].get("elapsed_s"))
        for i in starts
        if _status(steps[i]) != "cached"
    }
    workflow, path, note = _critical(document, workflows, durations)
    offsets = {i: max((m - o).total_seconds(), 0.0) for i, m in starts.items() if (o := origin)}
    lanes: list[Lane] = []
    if workflow is None:  # the document's order, every entry
        lanes = [_lane(step, offsets.get(i), False) for i, step in enumerate(steps)]
    else:  # the config's order; steps not journalled yet are pending
        index_of = {str(step.get("id")): i for i, step in enumerate(steps)}
        for config_step in workflow.steps:
            i = index_of.get(config_step.id)
            critical = config_step.id in path
            if i is None:
                lanes.append(Lane(config_step.id, config_step.agent, "pending", critical=critical))
            else:
                lanes.append(_lane(steps[i], offsets.get(i), critical))
    span = max((lane.end for lane in lanes if lane.end is not None), default=0.0)
    return Timeline(
        title=str(document.get("workflow") or "run-many"),
        run_id=str(document.get("run_id") or ""),
        status=str(document.get("status", "?")),
        span_s=span,
        lanes=tuple(lanes),
        critical_path=path,
        note=note,
    )


# ------------------------------------------------------------------ the axis


def _label(seconds: float, step: float) -> str:
    decimals = max(0, -math.floor(math.log10(step) + 1e-9)) if step < 1 else 0
    return f"{seconds:.{decimals}f}s"


def ticks(span: float, length: float, room: float) -> list[tuple[float, str]]:
    """Where the axis gets a label: ``(seconds, text)``, every 1, 2 or 5 × 10ⁿ seconds.

    The step is the smallest whose labels, drawn ``length`` units for ``span``
    seconds, are a label and two characters apart: they never overlap, and
    numbers stay whole.

    Args:
        span: the axis in seconds.
        length: the axis in drawing units (cells, pixels).
        room: drawing units one label character needs (1 for cells).
    """
    if span <= 0:
        return [(0.0, "0s")]
    for exponent in range(-3, 7):
        for mantissa in (1, 2, 5):
            step = mantissa * 10.0**exponent
            count = int(span / step + 1e-9)
            widest = len(_label(count * step, step))  # the last label is the widest
            if step / span * length >= (widest + 2) * room:
                return [(i * step, _label(i * step, step)) for i in range(count + 1)]
    return [(0.0, "0s")]
