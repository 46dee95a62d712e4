"""One process of the coordination tests and benchmark: send requests through an engine.

Run as ``python tests/coord_worker.py SIM_URL REDIS_URL|- REQUESTS CONCURRENCY START_AT MODE
WORKER TAG``; ``MODE`` is ``distinct`` (every request different, no response cache) or
``same`` (every request identical, the response cache on Redis); ``TAG`` goes into every
task, so each run asks questions no earlier run has cached. It waits until the Unix time
``START_AT`` so the processes really overlap, then prints one JSON line:
``{"ok": ..., "failed": ..., "elapsed_s": ..., "started": ..., "ended": ...}``.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import trio

from claude_force_trio._backend import Backend
from claude_force_trio._config import AgentConfig, CacheConfig, Config, CoordinationConfig
from claude_force_trio._engine import open_engine

KEY = "fake-key-coord-not-a-secret"
MODEL = "claude-sonnet-4-5"


def config(redis_url: str | None, mode: str) -> Config:
    """One small agent; coordination through ``redis_url`` (none for ``-``)."""
    agent = AgentConfig(
        name="worker",
        file=Path("/virtual/worker.md"),
        definition="# Worker\n\nYou are the worker agent.",
        model=MODEL,
        max_tokens=1024,
    )
    cache = CacheConfig(backend="redis", redis_url=redis_url) if mode == "same" else CacheConfig()
    return Config(
        path=Path("/virtual/claude.json"),
        root=Path("/virtual"),
        agents={"worker": agent},
        cache=cache,
        coordination=CoordinationConfig(redis_url=redis_url),
    )


async def main(
    sim: str,
    redis_url: str | None,
    n: int,
    concurrency: int,
    start_at: float,
    mode: str,
    worker: int,
    tag: str,
) -> None:
    """Open the engine, wait for the start, run the jobs, print the summary."""
    async with open_engine(
        config(redis_url, mode),
        backend=Backend.url(sim, KEY),
        max_concurrency=concurrency,
        cache=mode == "same",
        metrics=False,
    ) as engine:
        await trio.sleep(max(0.0, start_at - time.time()))
        started = time.time()
        task = f"the same question {tag}" if mode == "same" else None
        jobs = [("worker", task or f"{tag} worker {worker} task {i}") for i in range(n)]
        results = await engine.run_many(jobs)
        ended = time.time()
    ok = sum(r.ok for r in results)
    summary = {"ok": ok, "failed": len(results) - ok, "started": started, "ended": ended}
    print(json.dumps(summary), flush=True)


if __name__ == "__main__":
    sim_url, redis, count, conc, start, how, index, label = sys.argv[1:9]
    trio.run(
        main,
        sim_url,
        None if redis == "-" else redis,
        int(count),
        int(conc),
        float(start),
        how,
        int(index),
        label,
    )
