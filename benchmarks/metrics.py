"""Metrics and memory benchmark: aggregating 1,000,000 records, recording calls, memory queries.

Run: ``python benchmarks/metrics.py [--records N] [--queries N] [--calls N]``; prints a markdown
table.

* Aggregation: a file of N realistic metrics lines (~290 bytes each, 5 agents,
  3 models, 4 workflows) is summarised by ``aggregate``; wall time, lines per
  second, and peak RSS growth of this process (``resource.getrusage``, so the
  measurement does not slow the run as tracemalloc would). ``find_anomalies``
  (two passes) is timed too.
* Recorder: microseconds per finished call through the ``MetricsRecorder``
  hook (building the line, buffering, a flush every 100 lines).
* Memory: ``MemoryStore.relevant`` over a store of 2,000 items, with the LRU
  (repeated queries hit it) and without it (``cache_size=1`` and distinct keys
  alternating, so every query goes to SQLite through a worker thread), under
  trio and under asyncio.
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import trio

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import markdown_table

from claude_force_trio._events import StepQueued, StepSucceeded
from claude_force_trio._memory import open_memory
from claude_force_trio._metrics import MetricsRecorder, aggregate, find_anomalies, hash_task
from claude_force_trio._results import StepResult
from claude_force_trio._types import Usage

TEMPLATE = (
    '{"ts":"2026-01-01T%02d:%02d:%02d.000+00:00","run_id":"run-%08d","workflow":"wf%d",'
    '"step_id":"step%d","agent":"agent%d","model":"claude-model-%d","success":%s,'
    '"status":"succeeded","error_type":null,"cached":%s,"attempts":1,"latency_ms":%d.25,'
    '"ttft_ms":120.5,"input_tokens":%d,"output_tokens":%d,"cache_read_input_tokens":0,'
    '"cache_creation_input_tokens":0,"cost_usd":0.00%d,"saved_usd":null,"task_hash":null}\n'
)


def generate(path: Path, n: int) -> None:
    """Write ``n`` lines to ``path/executions.jsonl``."""
    path.mkdir(parents=True, exist_ok=True)
    with (path / "executions.jsonl").open("w", encoding="ascii") as out:
        for start in range(0, n, 10_000):
            out.write(
                "".join(
                    TEMPLATE
                    % (
                        i // 3600 % 24,
                        i // 60 % 60,
                        i % 60,
                        i,
                        i % 4,
                        i % 6,
                        i % 5,
                        i % 3,
                        "false" if i % 50 == 0 else "true",
                        "true" if i % 9 == 0 else "false",
                        200 + (i * 7919) % 3000,
                        500 + i % 700,
                        100 + i % 300,
                        1 + i % 9,
                    )
                    for i in range(start, min(start + 10_000, n))
                )
            )


def rss_mb() -> float:
    """Peak resident set size of this process so far, in MB (Linux reports KB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def recorder_us(folder: Path, calls: int) -> float:
    """Microseconds per finished call through the recorder hook, flushes included."""
    done = datetime.now(UTC)
    result = StepResult(
        "s",
        "agent",
        "succeeded",
        "ok",
        attempts=1,
        model="m",
        finished_at=done,
        elapsed_s=0.5,
        usage=Usage(100, 50),
        cost_usd=0.001,
    )
    rec = MetricsRecorder(folder)
    digest = hash_task("a task")
    start = time.perf_counter()
    for n in range(calls):
        run = f"run-{n}"
        rec(StepQueued(run, "s", "agent", 0.0, digest))
        rec(StepSucceeded(run, "s", result, 0.0))
    rec.close()
    return (time.perf_counter() - start) / calls * 1e6


async def memory_queries(folder: Path, queries: int) -> tuple[float, float]:
    """Microseconds per ``relevant`` call with the LRU hitting, and without it."""
    (folder / "mem.sqlite3").unlink(missing_ok=True)
    async with open_memory(folder / "mem.sqlite3", project="bench") as store:
        for n in range(2_000):
            await store.record(f"agent{n % 10}", f"task {n}", "output " * 50)
        keys = [(f"agent{n % 10}", f"task {n}") for n in range(20)]
        for agent, task in keys:
            await store.relevant(agent, task)  # warm
        start = time.perf_counter()
        for n in range(queries):
            await store.relevant(*keys[n % len(keys)])
        cached = (time.perf_counter() - start) / queries * 1e6
    async with open_memory(folder / "mem.sqlite3", project="bench", cache_size=1) as store:
        start = time.perf_counter()
        for n in range(queries):
            await store.relevant(*keys[n % len(keys)])  # alternating keys: always a miss
        uncached = (time.perf_counter() - start) / queries * 1e6
        assert store.cache.hits == 0
    return cached, uncached


def main() -> None:
    """Run both benchmarks and print the table."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--queries", type=int, default=5_000)
    parser.add_argument("--calls", type=int, default=100_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        start = time.perf_counter()
        generate(folder / "metrics", args.records)
        generated = time.perf_counter() - start
        size_mb = (folder / "metrics" / "executions.jsonl").stat().st_size / 2**20
        before = rss_mb()
        start = time.perf_counter()
        summary = aggregate(folder / "metrics")
        took = time.perf_counter() - start
        grew = rss_mb() - before
        assert summary.overall.calls == args.records
        start = time.perf_counter()
        found = find_anomalies(folder / "metrics")
        anomalies_s = time.perf_counter() - start
        record_us = recorder_us(folder / "recorded", args.calls)
        trio_us = trio.run(memory_queries, folder, args.queries)
        asyncio_us = asyncio.run(memory_queries(folder, args.queries))
    rows = [
        [
            "records (file size)",
            f"{args.records:,} ({size_mb:.0f} MB, written in {generated:.1f} s)",
        ],
        ["aggregate: wall time", f"{took:.2f} s ({args.records / took:,.0f} lines/s)"],
        ["aggregate: peak RSS growth", f"{max(grew, 0):.1f} MB"],
        ["process peak RSS (whole run)", f"{rss_mb():.0f} MB"],
        ["anomalies (2 passes): wall time", f"{anomalies_s:.2f} s ({len(found)} found)"],
        ["recorder: per finished call", f"{record_us:.1f} µs"],
    ]
    for backend, (cached_us, uncached_us) in (("trio", trio_us), ("asyncio", asyncio_us)):
        rows += [
            [f"memory query, LRU hit ({backend})", f"{cached_us:.1f} µs"],
            [f"memory query, SQLite via thread ({backend})", f"{uncached_us:.1f} µs"],
            [f"LRU speed-up ({backend})", f"{uncached_us / cached_us:.0f}×"],
        ]
    print(markdown_table(["measure", "value"], rows))


if __name__ == "__main__":
    main()
