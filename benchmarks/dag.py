"""DAG makespan ÷ critical path: eager (the engine) vs waves (the seed) vs sequential.

Each step of a fixed suite of DAGs gets a fixed latency from the simulator
(real time, real loopback HTTP). The same engine, client and simulator serve
all three schedulers in one run:

- eager: ``engine.run_workflow`` — a step starts when its own dependencies end;
- waves: the seed's design, rebuilt on the same engine — run every ready step
  together, wait for the whole wave, repeat;
- sequential: ``engine.run_workflow(sequential=True)``.

Run: ``python benchmarks/dag.py [--scale 2] [--repeats 2] [--json]``. Target: eager ≤ 1.03.

"CP" is the critical path of the latencies the simulator was told to use, so a
ratio above 1 includes each request's own overhead (HTTP round trip, timer
granularity: ~2 ms a request here); "measured CP" is the critical path of the
step times the engine itself measured, which isolates the scheduler.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import _common  # noqa: F401 - its import gives the run a temporary CFT_HOME
import trio

from claude_force_trio._backend import Backend
from claude_force_trio._config import (
    AgentConfig,
    CacheConfig,
    Config,
    Defaults,
    PerformanceConfig,
    StepConfig,
    WorkflowConfig,
)
from claude_force_trio._dag import Graph, build_graph
from claude_force_trio._engine import Engine, open_engine
from claude_force_trio._prompts import DependencyOutput, user_message
from claude_force_trio.simulator import SimulatorConfig, open_simulator

MARKER = re.compile(r"<<(?P<id>[\w.-]+)>>")


def _steps(edges: Mapping[str, tuple[str, ...]]) -> tuple[StepConfig, ...]:
    return tuple(
        StepConfig(id=s, agent="worker", task=f"step <<{s}>>", dependencies=deps, path=f"steps.{s}")
        for s, deps in edges.items()
    )


def suite(scale: float) -> dict[str, tuple[tuple[StepConfig, ...], dict[str, float]]]:
    """The fixed DAGs with per-step latencies in seconds."""
    dags: dict[str, tuple[tuple[StepConfig, ...], dict[str, float]]] = {}
    chain = {f"c{i}": ((f"c{i - 1}",) if i else ()) for i in range(5)}
    dags["chain-5"] = (_steps(chain), dict.fromkeys(chain, 0.2 * scale))
    diamond = {"top": (), "left": ("top",), "right": ("top",), "bottom": ("left", "right")}
    dags["diamond"] = (
        _steps(diamond),
        {"top": 0.2 * scale, "left": 0.6 * scale, "right": 0.1 * scale, "bottom": 0.2 * scale},
    )
    fan = {
        "src": (),
        **{f"w{i}": ("src",) for i in range(8)},
        "sink": tuple(f"w{i}" for i in range(8)),
    }
    dags["fan-8"] = (
        _steps(fan),
        {
            "src": 0.1 * scale,
            "sink": 0.1 * scale,
            **{f"w{i}": (0.1 + 0.05 * i) * scale for i in range(8)},
        },
    )
    # The motivating case: a slow lone branch next to a fast chain.
    skew = {"A": (), "B": (), "C": ("B",)}
    dags["skew-3"] = (_steps(skew), {"A": 1.0 * scale, "B": 0.2 * scale, "C": 0.8 * scale})
    for seed in (1, 2, 3):
        rng = random.Random(seed)
        edges: dict[str, tuple[str, ...]] = {}
        latency: dict[str, float] = {}
        for i in range(16):
            earlier = list(edges)
            deps = tuple(sorted(rng.sample(earlier, k=min(len(earlier), rng.randint(0, 3)))))
            edges[f"r{i}"] = deps
            # Skewed: most steps are quick, a few are slow.
            latency[f"r{i}"] = (rng.choice([0.05, 0.05, 0.1, 0.1, 0.2, 0.6])) * scale
        dags[f"random-16/{seed}"] = (_steps(edges), latency)
    return dags


def make_config(name: str, steps: tuple[StepConfig, ...]) -> Config:
    agent = AgentConfig(
        name="worker", file=Path("worker.md"), definition="# Worker\n\nDo the step."
    )
    return Config(
        path=Path("bench.json"),
        root=Path("."),
        defaults=Defaults(model="claude-sonnet-4-5", max_tokens=64),
        agents={"worker": agent},
        workflows={name: WorkflowConfig(name=name, steps=steps, path=f"workflows.{name}")},
        # Every mode must do the real work: a cache hit would make a repeat free.
        cache=CacheConfig(enabled=False),
        performance=PerformanceConfig(max_concurrent_agents=64),
    )


async def run_waves(engine: Engine, name: str, graph: Graph[Any]) -> float:
    """The seed's scheduler: all ready steps as one batch, wait for the batch, repeat."""
    outputs: dict[str, str] = {}
    start = trio.current_time()
    # When every wave waits for the whole batch, the ready set is the next level.
    for wave in graph.levels():
        results: dict[str, str] = {}

        async def one(step_id: str, results: dict[str, str] = results) -> None:
            step = graph.steps[step_id]
            deps = [DependencyOutput(d, "worker", outputs[d]) for d in graph.dependencies[step_id]]
            text = user_message(step.task, dependencies=deps)
            # run_agent wraps the text again; this step's marker stays the first one.
            result = await engine.run_agent("worker", text)
            results[step_id] = result.output or ""

        async with trio.open_nursery() as nursery:
            for step_id in wave:
                nursery.start_soon(one, step_id)
        outputs.update(results)
    return trio.current_time() - start


async def measure(scale: float, repeats: int) -> list[dict[str, Any]]:
    rows = []
    latency: dict[str, float] = {}

    def latency_fn(body: Mapping[str, Any]) -> float | None:
        text = body["messages"][-1]["content"]
        # The step's own task comes first after its heading; dependency outputs follow.
        found = MARKER.findall(text.split("# Your task", 1)[-1])
        return latency.get(found[0]) if found else None

    sim_config = SimulatorConfig(ttft_ms=0, tokens_per_s=0, latency_fn=latency_fn)
    async with open_simulator(sim_config) as sim:
        backend = Backend.url(sim.url, "bench-key")
        for name, (steps, durations) in suite(scale).items():
            latency.clear()
            latency.update(durations)
            config = make_config(name, steps)
            graph = build_graph(config.workflows[name])
            critical = graph.critical_path(durations)[0]
            times: dict[str, list[float]] = {"eager": [], "waves": [], "sequential": []}
            own: list[float] = []
            async with open_engine(config, backend=backend) as engine:
                for _ in range(repeats):
                    eager = await engine.run_workflow(name)
                    assert eager.ok, eager.to_dict()
                    times["eager"].append(eager.elapsed_s)
                    # Scheduling alone: makespan over the critical path of the measured steps.
                    own.append(eager.elapsed_s / eager.critical_path_s)
                    times["waves"].append(await run_waves(engine, name, graph))
                    seq = await engine.run_workflow(name, sequential=True)
                    assert seq.ok
                    times["sequential"].append(seq.elapsed_s)
            best = {mode: min(values) for mode, values in times.items()}
            rows.append(
                {
                    "dag": name,
                    "steps": len(graph),
                    "critical_path_s": critical,
                    **{f"{mode}_s": value for mode, value in best.items()},
                    **{f"{mode}_ratio": value / critical for mode, value in best.items()},
                    "eager_vs_measured_cp": min(own),
                }
            )
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=2.0, help="multiply every latency")
    parser.add_argument("--repeats", type=int, default=2, help="runs per mode; best is kept")
    parser.add_argument("--json", action="store_true", help="print rows as JSON")
    args = parser.parse_args()
    rows = trio.run(measure, args.scale, args.repeats)
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    print(
        "| DAG | steps | critical path | eager ÷ CP | waves ÷ CP | sequential ÷ CP "
        "| eager ÷ measured CP |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        print(
            f"| {r['dag']} | {r['steps']} | {r['critical_path_s']:.3f} s | "
            f"{r['eager_ratio']:.3f} | {r['waves_ratio']:.3f} | {r['sequential_ratio']:.3f} "
            f"| {r['eager_vs_measured_cp']:.4f} |"
        )
    worst = max(r["eager_ratio"] for r in rows)
    verdict = "PASS" if worst <= 1.03 else "FAIL"
    print(f"\nworst eager ÷ critical path: {worst:.3f} (target ≤ 1.03): {verdict}")
    return 0 if verdict == "PASS" else 1


if __name__ == "__main__":
    sys.exit(main())
