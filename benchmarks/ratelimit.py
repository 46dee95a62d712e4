"""Throughput and 429 share under a rate limit: the engine vs the official SDK.

Usage::

    python benchmarks/ratelimit.py [--requests N] [--concurrency C] [--rpm R]
                                   [--latency-ms MS] [--json]

Each client sends ``N`` requests at concurrency ``C`` to its own fresh
simulator (same settings, ``--rpm`` set), one after the other in the same run:

(a) the engine: ``Engine.run_many`` (retries, adaptive concurrency and request
    pacing from the ``anthropic-ratelimit-*`` headers), under trio;
(b) ``anthropic.AsyncAnthropic()`` with its default retries (2), as
    ``asyncio.gather`` over a semaphore of ``C``.

The simulator runs on a background thread so its request log can be read: the
429 share is 429 answers ÷ all answers it sent. The simulator's bucket refills
continuously at ``rpm/60`` per second and starts full, holding one second's
worth, so in ``T`` seconds at most ``rpm/60 · (T + 1)`` requests can succeed;
"achieved ÷ allowed" is successes ÷ that. Targets for the engine: ≥ 0.95, ≤ 1%
429s, zero failures.

The default rpm keeps the bucket (one second's worth) at least as large as the
concurrency: before the first answer arrives no client knows the quota, so a
first burst bigger than the bucket is refused in part whatever the client does.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from pathlib import Path
from typing import Any

import anthropic
import trio
from _common import markdown_table

from claude_force_trio._backend import Backend
from claude_force_trio._config import AgentConfig, Config
from claude_force_trio._engine import open_engine
from claude_force_trio.simulator import SimulatorConfig, run_simulator_in_thread

KEY = "fake-key-bench-not-a-secret"
MODEL = "claude-sonnet-4-5"
TARGET_RATE = 0.95
TARGET_429 = 0.01


def engine_config() -> Config:
    """One small agent; everything else default (retry 4 attempts, breaker on)."""
    agent = AgentConfig(
        name="worker",
        file=Path("/virtual/worker.md"),
        definition="# Worker\n\nYou are the worker agent.",
        model=MODEL,
        max_tokens=64,
    )
    return Config(
        path=Path("/virtual/claude.json"), root=Path("/virtual"), agents={"worker": agent}
    )


async def run_engine(url: str, requests: int, concurrency: int) -> tuple[float, int]:
    """Send the requests through the engine; return (elapsed seconds, failures)."""
    config = engine_config()
    # No response cache: every task is distinct, and the SDK has none to compare with.
    async with open_engine(
        config, backend=Backend.url(url, KEY), max_concurrency=concurrency, cache=False
    ) as engine:
        start = trio.current_time()
        results = await engine.run_many([("worker", f"task {i}") for i in range(requests)])
        elapsed = trio.current_time() - start
    return elapsed, sum(not r.ok for r in results)


async def run_sdk(url: str, requests: int, concurrency: int) -> tuple[float, int]:
    """Send the requests with the official SDK and its default retries."""
    client = anthropic.AsyncAnthropic(base_url=url, api_key=KEY)
    gate = asyncio.Semaphore(concurrency)

    async def one(i: int) -> bool:
        async with gate:
            try:
                await client.messages.create(
                    model=MODEL,
                    max_tokens=64,
                    messages=[{"role": "user", "content": f"task {i}"}],
                )
            except anthropic.APIError:
                return False
            return True

    async with client:
        start = time.perf_counter()
        ok = await asyncio.gather(*(one(i) for i in range(requests)))
        elapsed = time.perf_counter() - start
    return elapsed, ok.count(False)


def measure(name: str, sim: SimulatorConfig, args: argparse.Namespace) -> dict[str, Any]:
    """Run one client against a fresh simulator and summarise what the simulator saw."""
    with run_simulator_in_thread(sim) as handle:
        if name == "engine":
            elapsed, failed = trio.run(run_engine, handle.url, args.requests, args.concurrency)
        else:
            elapsed, failed = asyncio.run(run_sdk(handle.url, args.requests, args.concurrency))
        time.sleep(0.2)  # the server logs a request just after answering it
        records = [r for r in handle.requests if r.path == "/v1/messages"]
    succeeded = sum(r.status == 200 for r in records)
    limited = sum(r.status == 429 for r in records)
    rate = args.rpm / 60.0
    allowed = rate * (elapsed + 1.0)  # the bucket starts full: one second's worth
    return {
        "client": name,
        "requests": args.requests,
        "succeeded": succeeded,
        "failed": failed,
        "elapsed_s": round(elapsed, 2),
        "achieved_rps": round(succeeded / elapsed, 1),
        "allowed_rps": round(rate, 1),
        "achieved_over_allowed": round(succeeded / allowed, 3),
        "responses": len(records),
        "429s": limited,
        "share_429": round(limited / len(records), 4) if records else 0.0,
    }


def main() -> None:
    """Parse arguments, run both clients, print a markdown table (or JSON)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=500)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--rpm", type=int, default=4800)
    parser.add_argument("--latency-ms", type=float, default=50.0)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    sim = SimulatorConfig(ttft_ms=args.latency_ms, tokens_per_s=0, rpm=args.rpm, seed=1)
    rows = [measure(name, sim, args) for name in ("engine", "sdk")]
    if args.json:
        print(json.dumps(rows, indent=2))
        return
    print(
        f"{args.requests} requests at concurrency {args.concurrency}, rpm={args.rpm} "
        f"({args.rpm / 60:g}/s), reply latency {args.latency_ms:g} ms\n"
    )
    headers = [
        "client",
        "succeeded",
        "failed",
        "elapsed s",
        "achieved ÷ allowed",
        "responses",
        "429s",
        "429 share",
    ]
    table = [
        [
            r["client"],
            r["succeeded"],
            r["failed"],
            f"{r['elapsed_s']:.2f}",
            f"{r['achieved_over_allowed']:.3f}",
            r["responses"],
            r["429s"],
            f"{100 * r['share_429']:.2f}%",
        ]
        for r in rows
    ]
    print(markdown_table(headers, table))
    engine = rows[0]
    ok = (
        engine["achieved_over_allowed"] >= TARGET_RATE
        and engine["share_429"] <= TARGET_429
        and engine["failed"] == 0
    )
    print(
        f"\nengine targets (≥ {TARGET_RATE} of allowed, ≤ {TARGET_429:.0%} 429s, 0 failed): "
        + ("met" if ok else "NOT met")
    )


if __name__ == "__main__":
    main()
