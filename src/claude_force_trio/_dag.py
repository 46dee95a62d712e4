"""The workflow graph: validation, ordering, ready sets and critical paths.

Why a separate, pure module: the engine, the CLI (``workflow show``), the config
loader and the benchmarks all need the same answers about a workflow's shape,
and those answers must not depend on trio, time or I/O. Everything here is a
function of the config, so it is deterministic and cheap to test exhaustively.

Every algorithm is iterative and O(V + E) (a heap adds a log factor where ties
are broken by config order), so a 10,000-step workflow neither hits the
recursion limit nor takes noticeable time.

Arrows in messages point the way data flows: ``a → b`` means ``b`` depends on
``a`` and runs after it, as ``workflow show`` draws the DAG.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Generic, Literal, Protocol, TypeVar

from ._errors import ConfigError, did_you_mean

__all__ = ["Graph", "StepLike", "WorkflowLike", "build_graph", "simulate_makespan"]

SchedulerMode = Literal["eager", "waves", "sequential"]


class StepLike(Protocol):
    """What the graph needs of a step (``StepConfig`` is one)."""

    @property
    def id(self) -> str: ...
    @property
    def dependencies(self) -> Sequence[str]: ...
    @property
    def path(self) -> str: ...


S = TypeVar("S", bound=StepLike)
S_co = TypeVar("S_co", bound=StepLike, covariant=True)


class WorkflowLike(Protocol[S_co]):
    """What the graph needs of a workflow (``WorkflowConfig`` is one)."""

    @property
    def name(self) -> str: ...
    @property
    def path(self) -> str: ...
    @property
    def steps(self) -> Sequence[S_co]: ...


@dataclass(frozen=True, slots=True)
class Graph(Generic[S]):
    """A validated, acyclic workflow graph.

    Built only by :func:`build_graph`, which guarantees every dependency names a
    step and there is no cycle; the methods rely on that and do not re-check.

    Attributes:
        steps: step id → step, in config order (the order ties are broken in).
        dependencies: step id → the steps it depends on, in config order. The
            step's own ``dependencies`` keeps the order the user wrote them.
        dependents: step id → the steps that depend on it, in config order.
        order: a topological order (Kahn's algorithm, ties broken by config
            order), used for sequential runs and ``execution_order``.
    """

    steps: Mapping[str, S]
    dependencies: Mapping[str, tuple[str, ...]]
    dependents: Mapping[str, tuple[str, ...]]
    order: tuple[str, ...]

    def __len__(self) -> int:
        """Return the number of steps."""
        return len(self.steps)

    def roots(self) -> tuple[str, ...]:
        """Return the steps with no dependencies, in config order: what starts first."""
        return tuple(step_id for step_id, deps in self.dependencies.items() if not deps)

    def levels(self) -> tuple[tuple[str, ...], ...]:
        """Group the steps into topological levels, each in config order.

        Level 0 holds the steps with no dependencies; a step's level is one more
        than the highest level among its dependencies. Levels are what a
        wave-by-wave scheduler runs together, and what ``workflow show`` prints.

        Returns:
            One tuple of step ids per level, level 0 first.
        """
        level: dict[str, int] = {}
        for step_id in self.order:
            deps = self.dependencies[step_id]
            level[step_id] = 1 + max(level[d] for d in deps) if deps else 0
        grouped: list[list[str]] = [[] for _ in range(max(level.values(), default=-1) + 1)]
        for step_id in self.steps:  # config order within each level
            grouped[level[step_id]].append(step_id)
        return tuple(tuple(group) for group in grouped)

    def critical_path(self, durations: Mapping[str, float]) -> tuple[float, tuple[str, ...]]:
        """Return the longest path through the graph, weighted by step durations.

        No scheduler can finish the workflow faster than this, so it is the
        yardstick for ``critical_path_s`` and for the benchmarks. Ties are broken
        by config order, and the path always runs from a root to a step nothing
        depends on (zero-duration ends are kept, so the path is complete).

        Args:
            durations: step id → seconds; steps missing from it count 0.

        Returns:
            ``(total seconds, step ids on the path from first to last)``;
            ``(0.0, ())`` for an empty graph.

        Raises:
            ValueError: a duration is negative or not finite.
        """
        weight = _weights(self.steps, durations)
        finish: dict[str, float] = {}
        via: dict[str, str | None] = {}
        for step_id in self.order:
            best: str | None = None
            for dep in self.dependencies[step_id]:  # config order, so ties go to the first
                if best is None or finish[dep] > finish[best]:
                    best = dep
            via[step_id] = best
            finish[step_id] = weight[step_id] + (finish[best] if best is not None else 0.0)
        end: str | None = None
        for step_id in self.steps:
            if not self.dependents[step_id] and (end is None or finish[step_id] > finish[end]):
                end = step_id
        if end is None:
            return 0.0, ()
        total = finish[end]
        path: list[str] = []
        node: str | None = end
        while node is not None:
            path.append(node)
            node = via[node]
        path.reverse()
        return total, tuple(path)


def build_graph(workflow: WorkflowLike[S]) -> Graph[S]:
    """Validate a workflow's steps and return its :class:`Graph`.

    Checks run in the order a user fixes them: an empty workflow, duplicate step
    ids, then each step's dependencies (unknown or itself), then cycles. Unknown
    *agents* are the config loader's business, not the graph's.

    Args:
        workflow: the workflow to check; each step's ``path`` locates its errors.

    Returns:
        The graph, with a deterministic topological ``order``.

    Raises:
        ConfigError: one line naming the JSON path, e.g.
            ``workflows.review.steps[2].dependencies: unknown step 'lnt' (did you mean 'lint'?)``
            or ``workflows.x: cycle a → b → c → a``.
    """
    wf_path = workflow.path or f"workflows.{workflow.name}"
    steps_path = f"{wf_path}.steps"
    if not workflow.steps:
        raise ConfigError(steps_path, "a workflow needs at least one step")

    def step_path(index: int) -> str:
        return workflow.steps[index].path or f"{steps_path}[{index}]"

    index_of: dict[str, int] = {}
    for i, step in enumerate(workflow.steps):
        first = index_of.setdefault(step.id, i)
        if first != i:
            first_path = step_path(first)
            where = first_path.removeprefix(f"{wf_path}.")
            raise ConfigError(
                f"{step_path(i)}.id", f"duplicate step id {step.id!r} (first at {where})"
            )

    steps = {step.id: step for step in workflow.steps}
    deps: dict[str, tuple[str, ...]] = {}
    dependents: dict[str, list[str]] = {step_id: [] for step_id in steps}
    for i, step in enumerate(workflow.steps):
        for dep in step.dependencies:
            if dep == step.id:
                raise ConfigError(
                    f"{step_path(i)}.dependencies",
                    f"step {dep!r} depends on itself (cycle {dep} → {dep})",
                )
            if dep not in index_of:
                raise ConfigError(
                    f"{step_path(i)}.dependencies",
                    f"unknown step {dep!r}{did_you_mean(dep, steps)}",
                )
        # Deduplicated and in config order, so every consumer sees one canonical order.
        unique = sorted(set(step.dependencies), key=index_of.__getitem__)
        deps[step.id] = tuple(unique)
        for dep in unique:
            dependents[dep].append(step.id)
    # Steps are visited in config order above, so each dependents list already is.

    order = _kahn(steps, deps, dependents, index_of)
    if len(order) < len(steps):
        cycle = _find_cycle(steps, deps, set(order), index_of)
        raise ConfigError(wf_path, "cycle " + " → ".join([*cycle, cycle[0]]))

    return Graph(
        steps=MappingProxyType(steps),
        dependencies=MappingProxyType(deps),
        dependents=MappingProxyType({k: tuple(v) for k, v in dependents.items()}),
        order=tuple(order),
    )


def simulate_makespan(
    graph: Graph[S],
    durations: Mapping[str, float],
    *,
    mode: SchedulerMode,
    max_concurrency: int | None = None,
) -> float:
    """Return how long a scheduler would take to run ``graph``, as a pure model.

    This is the expected value that tests and the benchmark compare the real
    engine against, so it models each scheduler exactly:

    * ``"eager"``: a step starts as soon as its own dependencies are done; with
      a limit, ready steps take free slots in config order. Unlimited, this
      equals the critical path.
    * ``"waves"``: the seed's design: launch everything currently ready as a
      batch (through the limit, if any), wait for the whole batch, repeat.
    * ``"sequential"``: one step at a time in topological order: the sum.

    Args:
        graph: the workflow graph.
        durations: step id → seconds; steps missing from it count 0.
        mode: which scheduler to model.
        max_concurrency: how many steps may run at once; ``None`` for no limit.
            Ignored by ``"sequential"``.

    Returns:
        The modelled wall-clock time in seconds.

    Raises:
        ValueError: ``max_concurrency`` is below 1, a duration is negative or
            not finite, or ``mode`` is unknown.
    """
    if max_concurrency is not None and max_concurrency < 1:
        raise ValueError(f"max_concurrency must be at least 1, got {max_concurrency}")
    weight = _weights(graph.steps, durations)
    if mode == "sequential":
        # Added left to right in ``order``, the same float operations the eager model
        # performs with one slot, so the two agree exactly (``sum`` compensates on 3.12+).
        total = 0.0
        for step_id in graph.order:
            total += weight[step_id]
        return total
    if mode == "waves":
        total = 0.0
        for level in graph.levels():
            total += _list_schedule(level, weight, max_concurrency)
        return total
    if mode == "eager":
        return _eager(graph, weight, max_concurrency)
    raise ValueError(f"unknown scheduler mode {mode!r}")


# --- helpers ---------------------------------------------------------------------------------


def _weights(steps: Iterable[str], durations: Mapping[str, float]) -> dict[str, float]:
    """Return each step's duration (0 when missing), refusing negative or infinite ones."""
    weight: dict[str, float] = {}
    for step_id in steps:
        value = float(durations.get(step_id, 0.0))
        if not math.isfinite(value) or value < 0:
            raise ValueError(f"duration of step {step_id!r} must be finite and >= 0, got {value}")
        weight[step_id] = value
    return weight


def _kahn(
    steps: Mapping[str, StepLike],
    deps: Mapping[str, tuple[str, ...]],
    dependents: Mapping[str, list[str]],
    index_of: Mapping[str, int],
) -> list[str]:
    """Topologically sort with Kahn's algorithm, always taking the earliest ready step.

    Steps on or behind a cycle never become ready, so they are missing from the
    result; that is how the caller detects a cycle.
    """
    remaining = {step_id: len(deps[step_id]) for step_id in steps}
    heap = [index_of[s] for s, n in remaining.items() if n == 0]  # already sorted: a valid heap
    ids = list(steps)
    order: list[str] = []
    while heap:
        step_id = ids[heapq.heappop(heap)]
        order.append(step_id)
        for child in dependents[step_id]:
            remaining[child] -= 1
            if remaining[child] == 0:
                heapq.heappush(heap, index_of[child])
    return order


def _find_cycle(
    steps: Mapping[str, StepLike],
    deps: Mapping[str, tuple[str, ...]],
    sorted_ids: set[str],
    index_of: Mapping[str, int],
) -> list[str]:
    """Return one actual cycle, in data-flow order, starting at its first step in config order.

    Every step Kahn's algorithm could not sort has at least one unsorted
    dependency, so walking from unsorted step to unsorted dependency can never
    get stuck: it is a depth-first search that never needs to backtrack, and it
    must revisit a step of the current walk (a grey node) within V moves. It is
    iterative, so long cycles cannot hit the recursion limit.
    """
    on_walk: dict[str, int] = {}  # grey nodes: step id → position in the walk
    walk: list[str] = []
    current = next(s for s in steps if s not in sorted_ids)
    while current not in on_walk:
        on_walk[current] = len(walk)
        walk.append(current)
        current = next(d for d in deps[current] if d not in sorted_ids)
    # The walk follows dependencies (against the data flow); reverse it for the message.
    cycle = walk[on_walk[current] :][::-1]
    start = min(range(len(cycle)), key=lambda i: index_of[cycle[i]])
    return cycle[start:] + cycle[:start]


def _list_schedule(batch: Iterable[str], weight: Mapping[str, float], limit: int | None) -> float:
    """Return how long independent steps take through ``limit`` slots, started in order."""
    durations = [weight[step_id] for step_id in batch]
    if limit is None or limit >= len(durations):
        return max(durations, default=0.0)
    slots = [0.0] * limit  # a min-heap of the times each slot frees up
    for duration in durations:
        heapq.heapreplace(slots, slots[0] + duration)
    return max(slots)


def _eager(graph: Graph[S], weight: Mapping[str, float], limit: int | None) -> float:
    """Discrete-event model of the eager scheduler (see :func:`simulate_makespan`).

    Steps that finish at the same instant all release their dependents before
    any new step starts, so the choice of what fills a free slot depends only on
    config order, exactly as in the engine's ready set.
    """
    index_of = {step_id: i for i, step_id in enumerate(graph.steps)}
    ids = list(graph.steps)
    remaining = {step_id: len(d) for step_id, d in graph.dependencies.items()}
    ready = [index_of[s] for s, n in remaining.items() if n == 0]
    heapq.heapify(ready)
    running: list[tuple[float, int]] = []  # (finish time, config index)
    free = len(ids) if limit is None else limit
    now = 0.0
    while ready or running:
        while ready and free:
            index = heapq.heappop(ready)
            heapq.heappush(running, (now + weight[ids[index]], index))
            free -= 1
        now = running[0][0]
        while running and running[0][0] == now:
            _, index = heapq.heappop(running)
            free += 1
            for child in graph.dependents[ids[index]]:
                remaining[child] -= 1
                if remaining[child] == 0:
                    heapq.heappush(ready, index_of[child])
    return now
