"""OpenTelemetry overhead: 1,000 zero-latency calls with ``TraceHook`` exporting to memory, or not.

Usage::

    python benchmarks/otel.py [--calls N] [--rounds R] [--json]

Both variants are ``Engine.run_agent`` on the examples' config (response cache
and memory off, so every call reaches the API), sequential, against one
zero-latency simulator (``ttft_ms=0, tokens_per_s=0``) in a child process, on
trio. ``otel`` adds a :class:`TraceHook` whose spans go through the SDK's
``SimpleSpanProcessor`` to an ``InMemorySpanExporter`` and whose metrics go to
an ``InMemoryMetricReader``: each call makes a step span and a chat span and
records three histogram points. Two engines are open at once, and their calls
alternate one by one (the order flips every call), so drift and a noisy
neighbour hit both alike; each round opens fresh engines and warms their
connections first. The figure is the median over rounds of each variant's mean
per call (the p50 of every call is shown too); the goal is ``otel ÷ off ≤ 1.10``.

The last rows time the hook alone: the four events of one call (queued,
started, call finished, succeeded) fed straight to it, in µs per call, with the
in-memory SDK and with the API's no-op providers (the hook's own code).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
from functools import partial
from pathlib import Path

import trio
from _common import markdown_table, median_us, now_ns, print_goals, simulator_process
from opentelemetry.metrics import NoOpMeterProvider
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import NoOpTracerProvider

from claude_force_trio._backend import Backend
from claude_force_trio._config import load_config
from claude_force_trio._engine import open_engine
from claude_force_trio._events import CallFinished, StepQueued, StepStarted, StepSucceeded
from claude_force_trio._metrics import TraceHook
from claude_force_trio._results import StepResult
from claude_force_trio._types import Usage

KEY = "fake-key-bench-not-a-secret"
EXAMPLES = Path(__file__).resolve().parents[1] / "examples" / ".claude" / "claude.json"
AGENT = "code-reviewer"
WARMUP = 20
GOAL = 1.10


class Memory:
    """An SDK tracer provider exporting to memory and a meter provider read in memory."""

    def __init__(self) -> None:
        self.spans = InMemorySpanExporter()
        self.tracer_provider = TracerProvider()
        self.tracer_provider.add_span_processor(SimpleSpanProcessor(self.spans))
        self.reader = InMemoryMetricReader()
        self.meter_provider = MeterProvider(metric_readers=[self.reader])

    def hook(self) -> TraceHook:
        """A hook sending to these providers."""
        return TraceHook(self.tracer_provider, self.meter_provider)

    def shutdown(self) -> None:
        """Stop both providers."""
        self.tracer_provider.shutdown()
        self.meter_provider.shutdown()


async def one_round(url: str, calls: int, memory: Memory) -> tuple[list[int], list[int]]:
    """ns of each ``run_agent`` on an engine without hooks and on one with the hook, alternating."""
    config = load_config(EXAMPLES)
    backend = Backend.url(url, KEY)
    off: list[int] = []
    on: list[int] = []
    async with (
        open_engine(config, backend=backend, cache=False, memory=False) as plain,
        open_engine(
            config, backend=backend, hooks=[memory.hook()], cache=False, memory=False
        ) as traced,
    ):
        for n in range(WARMUP):
            await plain.run_agent(AGENT, f"warm up {n}")
            await traced.run_agent(AGENT, f"warm up {n}")
        for n in range(calls):
            pair = ((plain, off), (traced, on)) if n % 2 == 0 else ((traced, on), (plain, off))
            for engine, samples in pair:
                start = now_ns()
                result = await engine.run_agent(AGENT, f"review change {n}")
                samples.append(now_ns() - start)
                assert result.status == "succeeded", result.error
    assert len(memory.spans.get_finished_spans()) == 2 * (calls + WARMUP)
    memory.spans.clear()
    return off, on


async def hook_alone(calls: int, *, noop: bool = False) -> float:
    """µs per call of the hook fed one call's four events directly (no engine, no network).

    Args:
        calls: how many calls' events to feed.
        noop: give the hook the API's no-op providers: what the hook's own code costs.
    """
    memory = Memory()
    hook = TraceHook(NoOpTracerProvider(), NoOpMeterProvider()) if noop else memory.hook()
    usage = Usage(100, 50, 0, 20)
    result = StepResult("s", AGENT, "succeeded", "ok", attempts=1, model="m", usage=usage)
    start = now_ns()
    for n in range(calls):
        run, at = f"run-{n}", trio.current_time()
        hook(StepQueued(run, "s", AGENT, at))
        hook(StepStarted(run, "s", AGENT, "m", at))
        hook(
            CallFinished(
                run,
                "s",
                AGENT,
                "m",
                False,
                1,
                0.001,
                usage,
                None,
                "req",
                at,
                "msg",
                "m",
                "end_turn",
            )
        )
        hook(StepSucceeded(run, "s", result, at))
    took = now_ns() - start
    memory.shutdown()
    return took / calls / 1000


def main() -> None:
    """Run the rounds and print the table (or ``--json``)."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--calls", type=int, default=1_000)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    off_means: list[float] = []
    on_means: list[float] = []
    off_all: list[int] = []
    on_all: list[int] = []
    with tempfile.TemporaryDirectory() as home, simulator_process(ttft_ms=0, tokens_per_s=0) as url:
        os.environ["CFT_HOME"] = home
        memory = Memory()
        for _ in range(args.rounds):
            off_ns, on_ns = trio.run(one_round, url, args.calls, memory)
            off_means.append(statistics.fmean(off_ns) / 1000)
            on_means.append(statistics.fmean(on_ns) / 1000)
            off_all += off_ns
            on_all += on_ns
        memory.shutdown()
    alone = trio.run(hook_alone, 10 * args.calls)
    own = trio.run(partial(hook_alone, noop=True), 10 * args.calls)
    off, on = statistics.median(off_means), statistics.median(on_means)
    ratios = [o / b for o, b in zip(on_means, off_means, strict=True)]
    p50_off, p50_on = median_us(off_all), median_us(on_all)
    figures = {
        "calls": args.calls,
        "rounds": args.rounds,
        "off_us": off,
        "otel_us": on,
        "ratio": on / off,
        "ratio_range": [min(ratios), max(ratios)],
        "p50_off_us": p50_off,
        "p50_otel_us": p50_on,
        "hook_alone_us": alone,
        "hook_noop_us": own,
    }
    if args.json:
        print(json.dumps(figures, indent=2))
        return
    print(
        markdown_table(
            ["measure", "µs per call"],
            [
                ["engine, no hook: mean", f"{off:.0f}"],
                ["engine + TraceHook → in-memory exporter: mean", f"{on:.0f}"],
                ["ratio otel ÷ off (means)", f"{on / off:.3f}"],
                ["ratio range over rounds", f"{min(ratios):.3f}–{max(ratios):.3f}"],
                ["engine, no hook: p50 of every call", f"{p50_off:.0f}"],
                ["engine + TraceHook: p50 of every call", f"{p50_on:.0f}"],
                ["ratio otel ÷ off (p50s)", f"{p50_on / p50_off:.3f}"],
                ["TraceHook alone (4 events, 2 spans, 3 points)", f"{alone:.1f}"],
                ["TraceHook alone, no-op providers (its own code)", f"{own:.1f}"],
            ],
        )
    )
    print_goals({f"otel ÷ off ≤ {GOAL}": on / off <= GOAL})


if __name__ == "__main__":
    main()
