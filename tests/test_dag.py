"""Tests for the pure workflow graph (``_dag``)."""

from __future__ import annotations

import itertools
import random
import sys
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from types import FrameType
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from claude_force_trio._config import StepConfig, WorkflowConfig
from claude_force_trio._dag import Graph, build_graph, simulate_makespan
from claude_force_trio._errors import ConfigError

Spec = Sequence[tuple[str, Sequence[str]]]


def workflow(spec: Spec, name: str = "x", *, paths: bool = True) -> WorkflowConfig:
    """Build a workflow from ``[(id, deps), ...]`` with loader-style JSON paths."""
    steps = tuple(
        StepConfig(
            id=step_id,
            agent="agent",
            dependencies=tuple(deps),
            path=f"workflows.{name}.steps[{i}]" if paths else "",
        )
        for i, (step_id, deps) in enumerate(spec)
    )
    return WorkflowConfig(name=name, steps=steps, path=f"workflows.{name}" if paths else "")


def graph(spec: Spec) -> Graph[StepConfig]:
    """Build the graph of ``[(id, deps), ...]``."""
    return build_graph(workflow(spec))


def error(spec: Spec, name: str = "x") -> str:
    """Return the one-line ConfigError message for an invalid ``spec``."""
    with pytest.raises(ConfigError) as info:
        build_graph(workflow(spec, name))
    message = str(info.value)
    assert "\n" not in message
    return message


CHAIN: Spec = [("a", []), ("b", ["a"]), ("c", ["b"])]
DIAMOND: Spec = [("top", []), ("left", ["top"]), ("right", ["top"]), ("bottom", ["left", "right"])]
FAN: Spec = [
    ("lint", []),
    ("types", []),
    ("scan", []),
    ("review", ["lint", "types", "scan"]),
]
# Listed out of dependency order: "final" comes first in the config.
SKEWED: Spec = [
    ("final", ["long2", "short"]),
    ("short", ["start"]),
    ("long2", ["long1"]),
    ("start", []),
    ("long1", ["start"]),
]


# --- structure -------------------------------------------------------------------------------


def test_chain_structure() -> None:
    """A chain has one root, one step per level and a linear order."""
    g = graph(CHAIN)
    assert len(g) == 3
    assert g.order == ("a", "b", "c")
    assert g.roots() == ("a",)
    assert g.levels() == (("a",), ("b",), ("c",))
    assert g.dependencies == {"a": (), "b": ("a",), "c": ("b",)}
    assert g.dependents == {"a": ("b",), "b": ("c",), "c": ()}


def test_diamond_structure() -> None:
    """A diamond's middle steps share a level and both feed the bottom."""
    g = graph(DIAMOND)
    assert g.order == ("top", "left", "right", "bottom")
    assert g.levels() == (("top",), ("left", "right"), ("bottom",))
    assert g.dependents["top"] == ("left", "right")


def test_fan_out_fan_in_structure() -> None:
    """Independent steps are all roots on level 0; the reviewer waits for all of them."""
    g = graph(FAN)
    assert g.roots() == ("lint", "types", "scan")
    assert g.levels() == (("lint", "types", "scan"), ("review",))
    assert g.order == ("lint", "types", "scan", "review")


def test_skewed_structure_uses_config_order_for_ties() -> None:
    """Order and levels follow dependencies first, config order second."""
    g = graph(SKEWED)
    assert g.order == ("start", "short", "long1", "long2", "final")
    assert g.levels() == (("start",), ("short", "long1"), ("long2",), ("final",))
    assert g.dependencies["final"] == ("short", "long2")  # config order, not listed order
    assert g.steps["final"].dependencies == ("long2", "short")  # the step keeps the user's order
    assert list(g.steps) == ["final", "short", "long2", "start", "long1"]


def test_duplicate_listed_dependency_is_collapsed() -> None:
    """Naming a dependency twice is harmless and counted once."""
    g = graph([("a", []), ("b", ["a", "a"])])
    assert g.dependencies["b"] == ("a",)
    assert g.dependents["a"] == ("b",)


# --- critical path ---------------------------------------------------------------------------


def test_critical_path_chain() -> None:
    """A chain's critical path is the whole chain."""
    assert graph(CHAIN).critical_path({"a": 1.0, "b": 2.0, "c": 3.0}) == (6.0, ("a", "b", "c"))


def test_critical_path_diamond_takes_longer_arm() -> None:
    """The diamond's critical path goes through its slower middle step."""
    g = graph(DIAMOND)
    durations = {"top": 1.0, "left": 2.0, "right": 5.0, "bottom": 1.0}
    assert g.critical_path(durations) == (7.0, ("top", "right", "bottom"))


def test_critical_path_fan_in() -> None:
    """The fan-in path runs through the slowest parallel step."""
    g = graph(FAN)
    durations = {"lint": 1.5, "types": 2.5, "scan": 0.5, "review": 1.0}
    assert g.critical_path(durations) == (3.5, ("types", "review"))


def test_critical_path_skewed() -> None:
    """The long arm of a skewed DAG wins over the short arm."""
    g = graph(SKEWED)
    durations = {"start": 1.0, "short": 4.0, "long1": 2.0, "long2": 3.0, "final": 1.0}
    assert g.critical_path(durations) == (7.0, ("start", "long1", "long2", "final"))


def test_critical_path_missing_durations_count_zero() -> None:
    """Steps without a duration weigh nothing but stay on the path."""
    g = graph(CHAIN)
    assert g.critical_path({"b": 2.0}) == (2.0, ("a", "b", "c"))
    assert g.critical_path({}) == (0.0, ("a", "b", "c"))


def test_critical_path_ties_go_to_config_order() -> None:
    """Equal-length paths resolve to the one listed first in the config."""
    g = graph(DIAMOND)
    assert g.critical_path({"left": 1.0, "right": 1.0}) == (1.0, ("top", "left", "bottom"))
    assert graph(FAN).critical_path({}) == (0.0, ("lint", "review"))


def test_critical_path_rejects_negative_duration() -> None:
    """A negative duration is a caller bug, not a shorter path."""
    with pytest.raises(ValueError, match="'b'"):
        graph(CHAIN).critical_path({"b": -1.0})


# --- errors ----------------------------------------------------------------------------------


def test_empty_workflow() -> None:
    """A workflow with no steps is rejected at its steps path."""
    assert error([]) == "workflows.x.steps: a workflow needs at least one step"


def test_duplicate_step_id() -> None:
    """A duplicate id names both places."""
    spec: Spec = [("lint", []), ("a", []), ("b", []), ("lint", [])]
    assert error(spec) == "workflows.x.steps[3].id: duplicate step id 'lint' (first at steps[0])"


def test_unknown_dependency_with_hint() -> None:
    """An unknown dependency close to a real id suggests it."""
    spec: Spec = [("lint-py", []), ("types", []), ("review", ["types", "lint"])]
    assert error(spec, "review") == (
        "workflows.review.steps[2].dependencies: unknown step 'lint' (did you mean 'lint-py'?)"
    )


def test_unknown_dependency_without_hint() -> None:
    """An unknown dependency far from every id gets no hint."""
    spec: Spec = [("types", []), ("scan", []), ("review", ["lint"])]
    assert error(spec, "review") == "workflows.review.steps[2].dependencies: unknown step 'lint'"


def test_self_dependency() -> None:
    """A step that depends on itself is a cycle of length one, reported on that step."""
    spec: Spec = [("a", []), ("b", ["a", "b"])]
    assert (
        error(spec) == "workflows.x.steps[1].dependencies: step 'b' depends on itself (cycle b → b)"
    )


def test_cycle_of_two() -> None:
    """A two-step cycle is named in data-flow order from its first step."""
    assert error([("a", ["b"]), ("b", ["a"])]) == "workflows.x: cycle a → b → a"


def test_cycle_of_three() -> None:
    """A three-step cycle starts from its first step in config order."""
    # c depends on b, b on a, a on c: data flows a → b → c → a.
    spec: Spec = [("c", ["b"]), ("a", ["c"]), ("b", ["a"])]
    assert error(spec) == "workflows.x: cycle c → a → b → c"


def test_cycle_behind_valid_prefix() -> None:
    """A cycle downstream of valid steps is found, and the valid steps are not blamed."""
    spec: Spec = [
        ("p1", []),
        ("p2", ["p1"]),
        ("tail", ["q"]),  # behind the cycle, but not part of it
        ("q", ["p2", "s"]),
        ("r", ["q"]),
        ("s", ["r"]),
    ]
    assert error(spec) == "workflows.x: cycle q → r → s → q"


def test_errors_fall_back_to_workflow_name_paths() -> None:
    """Without loader paths, errors still name a sensible JSON path."""
    wf = workflow([("a", []), ("a", [])], "w", paths=False)
    with pytest.raises(ConfigError, match=r"^workflows\.w\.steps\[1\]\.id: .*first at steps\[0\]"):
        build_graph(wf)
    wf = workflow([("a", ["b"]), ("b", ["a"])], "w", paths=False)
    with pytest.raises(ConfigError, match=r"^workflows\.w: cycle a → b → a$"):
        build_graph(wf)


def test_config_error_carries_path() -> None:
    """The error's path attribute is the JSON path alone."""
    with pytest.raises(ConfigError) as info:
        build_graph(workflow([("a", ["zzz"])], "w"))
    assert info.value.path == "workflows.w.steps[0].dependencies"


# --- scale -----------------------------------------------------------------------------------


@contextmanager
def shallow_recursion_limit() -> Iterator[None]:
    """Lower the recursion limit so any recursive walk of a 10,000-step graph would fail."""
    depth = 0
    frame: FrameType | None = sys._getframe()
    while frame is not None:
        depth += 1
        frame = frame.f_back
    old = sys.getrecursionlimit()
    sys.setrecursionlimit(depth + 200)
    try:
        yield
    finally:
        sys.setrecursionlimit(old)


def test_long_chain_does_not_recurse() -> None:
    """A 10,000-step chain builds, orders and measures without deep recursion."""
    n = 10_000
    spec = [(f"s{i}", [f"s{i - 1}"] if i else []) for i in range(n)]
    wf = workflow(spec)

    with shallow_recursion_limit():
        g = build_graph(wf)
        assert len(g.levels()) == n
        assert g.critical_path(dict.fromkeys(g.steps, 1.0))[0] == n
        assert len(descendants(g, "s0")) == n - 1
        assert simulate_makespan(g, {}, mode="eager") == 0.0


def test_long_cycle_does_not_recurse() -> None:
    """A 10,000-step cycle is found and reported without deep recursion."""
    n = 10_000
    spec = [(f"s{i}", [f"s{(i - 1) % n}"]) for i in range(n)]
    wf = workflow(spec)

    with (
        shallow_recursion_limit(),
        pytest.raises(ConfigError, match=r"^workflows\.x: cycle s0 → s1 → .* → s9999 → s0$"),
    ):
        build_graph(wf)


def test_wide_graph() -> None:
    """A 10,000-wide fan-out/fan-in has three levels."""
    n = 10_000
    spec: list[tuple[str, list[str]]] = [("root", [])]
    spec += [(f"w{i}", ["root"]) for i in range(n)]
    spec.append(("sink", [f"w{i}" for i in range(n)]))
    g = graph(spec)
    assert [len(level) for level in g.levels()] == [1, n, 1]
    assert g.order[0] == "root"
    assert g.order[-1] == "sink"
    assert simulate_makespan(g, {f"w{i}": 1.0 for i in range(n)}, mode="waves") == 1.0


def test_random_10k_dag_builds() -> None:
    """A random 10,000-step DAG with ~30,000 edges builds and sorts completely."""
    rng = random.Random(7)
    n = 10_000
    spec = [
        (f"s{i}", [f"s{j}" for j in {rng.randrange(i) for _ in range(3)}] if i else [])
        for i in range(n)
    ]
    rng.shuffle(spec)
    g = graph(spec)
    assert len(g.order) == n


# --- simulate_makespan -----------------------------------------------------------------------


def test_makespan_diamond_modes() -> None:
    """Eager, waves and sequential differ as expected on a skewed diamond."""
    g = graph(SKEWED)
    durations = {"start": 1.0, "short": 4.0, "long1": 2.0, "long2": 3.0, "final": 1.0}
    assert simulate_makespan(g, durations, mode="eager") == 7.0
    # Waves: start (1) + {short, long1} (4) + {long2} (3) + {final} (1).
    assert simulate_makespan(g, durations, mode="waves") == 9.0
    assert simulate_makespan(g, durations, mode="sequential") == 11.0


def test_makespan_with_limit() -> None:
    """A concurrency limit makes ready steps queue for slots in config order."""
    g = graph(FAN)
    durations = {"lint": 3.0, "types": 1.0, "scan": 1.0, "review": 1.0}
    # Two slots: lint and types start; types frees at 1 and scan runs 1-2; lint ends at 3.
    assert simulate_makespan(g, durations, mode="eager", max_concurrency=2) == 4.0
    assert simulate_makespan(g, durations, mode="waves", max_concurrency=2) == 4.0
    assert simulate_makespan(g, durations, mode="eager", max_concurrency=1) == 6.0
    assert simulate_makespan(g, durations, mode="sequential", max_concurrency=2) == 6.0


def test_eager_beats_waves_when_arms_are_uneven() -> None:
    """Eager starts a step as soon as its own dependencies finish; waves wait for the batch."""
    spec: Spec = [("a", []), ("b", []), ("a2", ["a"]), ("b2", ["b"])]
    durations = {"a": 1.0, "b": 5.0, "a2": 5.0, "b2": 1.0}
    g = graph(spec)
    assert simulate_makespan(g, durations, mode="eager") == 6.0
    assert simulate_makespan(g, durations, mode="waves") == 10.0


def test_makespan_rejects_bad_arguments() -> None:
    """A limit below one or a non-finite duration is refused."""
    g = graph(CHAIN)
    with pytest.raises(ValueError, match="max_concurrency"):
        simulate_makespan(g, {}, mode="eager", max_concurrency=0)
    with pytest.raises(ValueError, match="'a'"):
        simulate_makespan(g, {"a": float("inf")}, mode="waves")


# --- properties ------------------------------------------------------------------------------


@st.composite
def random_dags(draw: st.DrawFn) -> tuple[Spec, dict[str, float]]:
    """Draw a DAG (step i depends on a subset of j < i) in shuffled config order, with durations."""
    n = draw(st.integers(min_value=1, max_value=25))
    spec: list[tuple[str, list[str]]] = []
    for i in range(n):
        deps = draw(st.sets(st.integers(0, i - 1), max_size=4)) if i else set()
        spec.append((f"s{i}", [f"s{j}" for j in sorted(deps)]))
    spec = draw(st.permutations(spec))
    # Whole numbers keep float sums exact, so the model's identities hold with ==.
    durations = {
        step_id: float(draw(st.integers(0, 20))) for step_id, _ in spec if draw(st.booleans())
    }
    return spec, durations


def descendants(g: Graph[Any], step_id: str) -> set[str]:
    """Every step that depends on ``step_id``, directly or transitively (iteratively)."""
    seen: set[str] = set()
    stack = list(g.dependents[step_id])
    while stack:
        current = stack.pop()
        if current not in seen:
            seen.add(current)
            stack.extend(g.dependents[current])
    return seen


def _assert_topological(g: Graph[Any], order: Sequence[str]) -> None:
    """Assert ``order`` lists every step once, each after all its dependencies."""
    assert sorted(order) == sorted(g.steps)
    position = {step_id: i for i, step_id in enumerate(order)}
    for step_id, deps in g.dependencies.items():
        assert all(position[d] < position[step_id] for d in deps)


@settings(max_examples=150, deadline=None)
@given(random_dags())
def test_random_dag_properties(case: tuple[Spec, Mapping[str, float]]) -> None:
    """Order, levels, dependents and makespan models agree on random DAGs."""
    spec, durations = case
    g = graph(spec)
    _assert_topological(g, g.order)

    levels = g.levels()
    _assert_topological(g, [s for level in levels for s in level])
    level_of = {s: k for k, level in enumerate(levels) for s in level}
    for step_id, deps in g.dependencies.items():
        expected = 1 + max(level_of[d] for d in deps) if deps else 0
        assert level_of[step_id] == expected
    assert levels[0] == g.roots()

    for step_id in g.steps:
        for child in g.dependents[step_id]:
            assert step_id in g.dependencies[child]
            assert child in descendants(g, step_id)

    total, path = g.critical_path(durations)
    assert total == sum(durations.get(s, 0.0) for s in path)
    assert all(a in g.dependencies[b] for a, b in itertools.pairwise(path))
    eager = simulate_makespan(g, durations, mode="eager")
    waves = simulate_makespan(g, durations, mode="waves")
    sequential = simulate_makespan(g, durations, mode="sequential")
    assert eager == total
    assert eager <= waves <= sequential
    assert sequential == sum(durations.values())
    assert simulate_makespan(g, durations, mode="eager", max_concurrency=1) == sequential
    assert simulate_makespan(g, durations, mode="waves", max_concurrency=1) == sequential
    limited = simulate_makespan(g, durations, mode="eager", max_concurrency=2)
    assert total <= limited <= sequential


@settings(max_examples=150, deadline=None)
@given(random_dags(), st.data())
def test_random_back_edge_is_a_cycle(
    case: tuple[Spec, Mapping[str, float]], data: st.DataObject
) -> None:
    """Adding an edge from a step to one of its ancestors (or itself) is reported as a cycle."""
    spec, _ = case
    g = graph(spec)
    late = data.draw(st.sampled_from(list(g.steps)))
    ancestors = [s for s in g.steps if late in descendants(g, s)]
    early = data.draw(st.sampled_from([late, *ancestors]))
    bad = [(s, [*deps, late] if s == early else deps) for s, deps in spec]
    with pytest.raises(ConfigError, match="cycle") as info:
        build_graph(workflow(bad))
    if info.value.path == "workflows.x":  # not a self-loop: check the cycle is real
        cycle = info.value.message.removeprefix("cycle ").split(" → ")
        assert cycle[0] == cycle[-1]
        deps = dict(bad)
        assert all(a in deps[b] for a, b in itertools.pairwise(cycle))
        config_index = [s for s, _ in bad].index
        assert config_index(cycle[0]) == min(map(config_index, cycle))
