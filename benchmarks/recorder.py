"""What the default metrics recorder costs per call, and how often agent memory hits.

Run: ``python benchmarks/recorder.py [--calls N] [--rounds R]``; prints markdown tables.

* Recorder overhead: N sequential ``run_agent`` calls (response cache and
  memory off) on an engine opened with ``metrics=True`` (the default: one JSON
  line per call, flushed every 100) and with ``metrics=False``, two ways:
  against the zero-latency simulator in a child process over loopback HTTP
  (``ttft_ms=0, tokens_per_s=0``, as ``overhead.py`` measures a call; wall time),
  and against an in-process ``httpx.MockTransport`` that answers at once (no I/O
  at all, the engine's own CPU only: a worst case; CPU time of this process, so
  other processes' load does not blur it). Rounds alternate the two engines so
  drift hits both alike; the figure is the median round. Goal: ≤ 1.05×.
* Memory hit rate: a repeated-task workload (one earlier task, then the same
  task 5 times, then 20 tasks each repeated 5 times) with memory and the
  response cache on: the memory query cache's hits and misses, and the API
  requests actually sent.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx
import trio

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import markdown_table, simulator_process

from claude_force_trio import Backend, open_engine
from claude_force_trio._config import AgentConfig, CacheConfig, Config, MemoryConfig

GOAL = 1.05
REPLY = {
    "id": "msg_bench",
    "type": "message",
    "role": "assistant",
    "model": "claude-sonnet-4-5",
    "content": [{"type": "text", "text": "ok"}],
    "stop_reason": "end_turn",
    "stop_sequence": None,
    "usage": {"input_tokens": 10, "output_tokens": 2},
}


def config(folder: Path, *, memory: bool, cache: bool) -> Config:
    """One agent, ``linter``; memory and the response cache as asked."""
    agent = AgentConfig(
        name="linter",
        file=folder / "linter.md",
        definition="# Linter\n\nLint things.",
        model="claude-sonnet-4-5",
        max_tokens=64,
    )
    return Config(
        path=folder / "claude.json",
        root=folder,
        agents={"linter": agent},
        cache=CacheConfig(enabled=cache),
        memory=MemoryConfig(enabled=memory),
    )


def transport(sent: list[int] | None = None) -> httpx.MockTransport:
    """A Messages API that answers at once (and counts requests into ``sent``)."""
    body = json.dumps(REPLY).encode()

    def handler(request: httpx.Request) -> httpx.Response:
        if sent is not None:
            sent.append(1)
        return httpx.Response(200, content=body, headers={"content-type": "application/json"})

    return httpx.MockTransport(handler)


async def one_round(cfg: Config, calls: int, metrics: bool | Path, url: str | None) -> float:
    """Seconds per call for ``calls`` sequential calls on a fresh engine (CPU time for the mock)."""
    where: dict[str, object] = (
        {"transport": transport()} if url is None else {"backend": Backend.url(url, "sk-bench")}
    )
    clock = time.process_time if url is None else time.perf_counter
    async with open_engine(cfg, metrics=metrics, **where) as engine:  # type: ignore[arg-type]
        for n in range(20):  # warm-up: connection, caches, first-use imports
            await engine.run_agent("linter", f"warm {n}")
        start = clock()
        for n in range(calls):
            await engine.run_agent("linter", f"task {n}")
        elapsed = clock() - start
    return elapsed / calls


async def overhead(calls: int, rounds: int, url: str | None) -> list[list[str]]:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        cfg = config(folder, memory=False, cache=False)
        on: list[float] = []
        off: list[float] = []
        for r in range(rounds):
            order = [(True, on), (False, off)] if r % 2 == 0 else [(False, off), (True, on)]
            for enabled, into in order:
                target: bool | Path = folder / "metrics" if enabled else False
                into.append(await one_round(cfg, calls, target, url))
        lines = sum(1 for _ in (folder / "metrics" / "executions.jsonl").open())
    with_us, without_us = statistics.median(on) * 1e6, statistics.median(off) * 1e6
    ratio = with_us / without_us
    verdict = "✓" if ratio <= GOAL else "✗"
    how = "in-process mock, CPU µs" if url is None else "simulator over HTTP, wall µs"
    assert lines == rounds * (calls + 20), lines  # one line per call, none lost or doubled
    return [
        [how, f"{without_us:,.1f}", f"{with_us:,.1f}", f"{ratio:.3f}×", verdict],
    ]


async def hit_rate() -> list[list[str]]:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        cfg = config(folder, memory=True, cache=True)
        sent: list[int] = []
        rows = []
        async with open_engine(cfg, transport=transport(sent), metrics=False) as engine:
            assert engine.memory is not None
            cache = engine.memory.cache
            await engine.run_agent("linter", "an earlier task")
            before = (cache.hits, cache.misses, len(sent))
            served = [(await engine.run_agent("linter", "lint a.py")).cached for _ in range(5)]
            hits, misses = cache.hits - before[0], cache.misses - before[1]
            rows.append(
                [
                    "1 task × 5",
                    f"{hits} / {misses}",
                    f"{hits / (hits + misses):.0%}",
                    f"{len(sent) - before[2]} (served: {sum(served)} of 5)",
                ]
            )
            before = (cache.hits, cache.misses, len(sent))
            for n in range(20):
                for _ in range(5):
                    await engine.run_agent("linter", f"lint file{n}.py")
            hits, misses = cache.hits - before[0], cache.misses - before[1]
            rows.append(
                [
                    "20 tasks × 5",
                    f"{hits} / {misses}",
                    f"{hits / (hits + misses):.0%}",
                    f"{len(sent) - before[2]} of 100",
                ]
            )
    return rows


async def main(calls: int, rounds: int, url: str) -> None:
    print(f"Recorder overhead: {calls:,} zero-latency calls per round, {rounds} rounds each\n")
    rows = await overhead(calls, rounds, url) + await overhead(calls, rounds, None)
    columns = ["calls", "metrics=False", "metrics=True", "ratio", f"≤ {GOAL}×"]
    print(markdown_table(columns, rows))
    print("\nAgent memory on a repeated-task workload (response cache on)\n")
    columns = ["workload", "memory LRU hits / misses", "hit rate", "API requests"]
    print(markdown_table(columns, await hit_rate()))


if __name__ == "__main__":
    # The response cache and memory live under CFT_HOME: never the user's own.
    os.environ["CFT_HOME"] = tempfile.mkdtemp(prefix="cft-bench-")
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    with simulator_process(ttft_ms=0, tokens_per_s=0) as sim_url:
        trio.run(main, args.calls, args.rounds, sim_url)
