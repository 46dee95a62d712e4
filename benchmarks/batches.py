"""Batch mode vs live mode: 1,000 run-many requests, wall time, requests sent and cost.

The simulator runs in this trio run on the real clock (loopback HTTP); its
live latency (time to first token, tokens per second) and a batch's
processing time (``batch_latency_s``) are both multiplied by
``--latency-scale``, so the comparison keeps its shape at any scale. The real
API processes most batches within an hour, so the wall time of batch mode is
a property of the server, not of the engine: what this measures is that the
engine adds no more than the collection window and one poll interval to it,
sends one create instead of 1,000 requests, and pays half.

Run: ``python benchmarks/batches.py [--requests 1000] [--latency-scale 0.05] [--json]``.
Goals: batch cost = 0.5 × live cost; batch creates ≤ ⌈requests / 100,000⌉;
batch wall ≤ batch processing time + window + one poll interval + 0.5 s.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import _common  # its import gives the run a temporary CFT_HOME
import trio

from claude_force_trio._backend import Backend
from claude_force_trio._config import (
    AgentConfig,
    CacheConfig,
    Config,
    Defaults,
    PerformanceConfig,
)
from claude_force_trio._engine import open_engine
from claude_force_trio.simulator import open_simulator

#: The simulator's batch processing time before scaling: a fast real batch.
BATCH_LATENCY_S = 60.0


def config(max_concurrency: int) -> Config:
    """One agent; no response cache (every request must reach the API)."""
    agent = AgentConfig(
        name="worker",
        file=Path("/virtual/worker.md"),
        definition="# Worker\n\nYou summarise one item.",
        model="claude-sonnet-4-5",
        max_tokens=512,
    )
    return Config(
        path=Path("/virtual/claude.json"),
        root=Path("/virtual"),
        defaults=Defaults(),
        agents={"worker": agent},
        workflows={},
        cache=CacheConfig(enabled=False),
        performance=PerformanceConfig(max_concurrent_agents=max_concurrency),
    )


async def measure(mode: str, requests: int, scale: float, concurrency: int) -> dict[str, Any]:
    """One run of ``requests`` jobs in ``mode``: wall, requests the simulator saw, cost."""
    jobs = [("worker", f"summarise item {i}") for i in range(requests)]
    async with (
        open_simulator(latency_scale=scale, batch_latency_s=BATCH_LATENCY_S) as sim,
        open_engine(
            config(concurrency), backend=Backend.url(sim.url, "bench"), mode=mode, metrics=False
        ) as engine,
    ):
        start = trio.current_time()
        results = await engine.run_many(jobs)
        wall = trio.current_time() - start
        stats = sim.stats()
    costs = [r.cost_usd for r in results]
    return {
        "mode": mode,
        "wall_s": round(wall, 3),
        "ok": sum(r.ok for r in results),
        "messages_requests": sum(1 for r in sim.requests if r.path == "/v1/messages"),
        "batches": stats.batches,
        "batch_entries": stats.batch_requests,
        "output_tokens": sum(r.usage.output_tokens for r in results),
        "cost_usd": None if None in costs else round(sum(c or 0.0 for c in costs), 6),
    }


def main() -> None:
    """Measure both modes and print a table (or ``--json``) and the goals."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--latency-scale", type=float, default=0.05)
    parser.add_argument("--max-concurrency", type=int, default=64)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    rows = [
        trio.run(measure, mode, args.requests, args.latency_scale, args.max_concurrency)
        for mode in ("live", "batch")
    ]
    live, batch = rows
    processing = BATCH_LATENCY_S * args.latency_scale
    goals = {
        "batch cost = 0.5 × live": (
            live["cost_usd"] is not None
            and batch["cost_usd"] is not None
            and abs(batch["cost_usd"] - live["cost_usd"] / 2) <= 1e-6 * args.requests
        ),
        "same output tokens": live["output_tokens"] == batch["output_tokens"],
        "no /v1/messages in batch mode": batch["messages_requests"] == 0,
        "creates ≤ ⌈requests / 100,000⌉": batch["batches"] <= -(-args.requests // 100_000),
        "batch wall ≤ processing + window + poll + 0.5 s": batch["wall_s"]
        <= processing + 0.2 + processing + 0.5,
    }
    if args.json:
        json.dump({"rows": rows, "goals": goals}, sys.stdout, indent=2)
        print()
        return
    headers = list(rows[0])
    print(_common.markdown_table(headers, [[row[h] for h in headers] for row in rows]))
    print(f"\nbatch processing time (simulated): {processing:g} s")
    _common.print_goals(goals)


if __name__ == "__main__":
    main()
