"""What a ``cft dashboard`` refresh costs over a 1 GB metrics file.

Run: ``python benchmarks/dashboard.py [--gb G] [--rounds R] [--append N]``; prints markdown tables.

* Builds ``executions.jsonl`` of ``--gb`` gigabytes (default 1) of lines shaped
  as the recorder writes them (every field, compact, ``FIELDS`` order, a mix of
  agents, models, errors and cache hits), time-stamped over the last two hours,
  so every line is "today" and in the worst case must be parsed.
* The first load, two ways: the default (the last 64 MB, ``--tail-mb``), and
  the whole file (``--tail-mb 1024``) — wall time, lines parsed.
* Then ``--rounds`` refreshes, each after ``--append`` lines (default 3,000)
  are appended through :class:`MetricsFile` as a recorder would: the time of
  one refresh (read the new bytes, fold them in, compute the snapshot), and of
  drawing it (rich, 100×30, into a buffer). Goal: ≤ 50 ms a refresh after the first.
"""

from __future__ import annotations

import argparse
import io
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import markdown_table, print_goals

from claude_force_trio._metrics._files import MetricsFile
from claude_force_trio.cli._dashboard_tail import MetricsTail
from claude_force_trio.cli._dashboard_view import render, snapshot
from claude_force_trio.cli._dashboard_window import RollingStats

GOAL_MS = 50.0
_LINE = (
    '{"ts":"%s","run_id":"%012x","workflow":"code-review","step_id":"step-%d","agent":"%s",'
    '"model":"%s","success":%s,"status":"%s","error_type":%s,"cached":%s,"attempts":%d,'
    '"latency_ms":%.3f,"ttft_ms":%.3f,"input_tokens":%d,"output_tokens":%d,'
    '"cache_read_input_tokens":%d,"cache_creation_input_tokens":0,"cost_usd":%s,'
    '"saved_usd":null,"task_hash":"%064x","project":"path:4f1c2a9e0b7d"}\n'
)
_AGENTS = ("linter", "reviewer", "security", "python-expert", "docs")
_MODELS = ("claude-sonnet-4-5", "claude-haiku-4-5", "claude-opus-4-1")


def lines(count: int, start: float, end: float, seed: int = 0) -> str:
    """``count`` recorder-shaped lines with time stamps spread from ``start`` to ``end``."""
    from datetime import UTC, datetime

    out = []
    step = (end - start) / max(count, 1)
    for i in range(count):
        n = seed + i
        ts = datetime.fromtimestamp(start + i * step, UTC).isoformat(timespec="milliseconds")
        failed = n % 50 == 0
        cached = n % 7 == 0
        out.append(
            _LINE
            % (
                ts,
                n // 5,
                n % 5,
                _AGENTS[n % 5],
                _MODELS[n % 3],
                "false" if failed else "true",
                "failed" if failed else "succeeded",
                '"RateLimitError"' if failed else "null",
                "true" if cached else "false",
                0 if cached else 1,
                0.5 if cached else 200.0 + (n * 37) % 3000,
                0.0 if cached else 80.0 + n % 400,
                0 if cached else 1200 + n % 800,
                0 if cached else 200 + n % 300,
                0 if cached else 1000,
                "0.0" if cached else f"{0.004 + (n % 100) / 10000:.6f}",
                n * 2654435761,
            )
        )
    return "".join(out)


def build(path: Path, size: int, now: float) -> int:
    """Write about ``size`` bytes of lines ending at ``now``; the number of lines written."""
    sample = lines(1000, now, now)
    per_line = len(sample.encode()) / 1000
    total = int(size / per_line)
    start, chunk, written = now - 7200, 20_000, 0
    with open(path, "w", encoding="ascii") as handle:
        while written < total:
            n = min(chunk, total - written)
            t0 = start + 7200 * written / total
            t1 = start + 7200 * (written + n) / total
            handle.write(lines(n, t0, t1, seed=written))
            written += n
    return written


def first_load(directory: Path, tail_mb: float) -> tuple[float, int, RollingStats, MetricsTail]:
    """Seconds to read and fold the history's last ``tail_mb`` MB; lines read."""
    tail = MetricsTail(directory, tail_bytes=int(tail_mb * 1024 * 1024))
    stats = RollingStats(time.time())
    t0 = time.perf_counter()
    stats.advance(time.time())
    for line in tail.lines():
        stats.feed(line)
    snapshot(stats, tail.stats)
    return time.perf_counter() - t0, stats.counts.lines, stats, tail


def main() -> None:
    """Build the file, time the first loads and the refreshes, print the tables."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gb", type=float, default=1.0)
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--append", type=int, default=3000)
    args = parser.parse_args()
    from rich.console import Console

    folder = Path(tempfile.mkdtemp(prefix="cft-dash-"))
    path = folder / "executions.jsonl"
    now = time.time()
    t0 = time.perf_counter()
    count = build(path, int(args.gb * 1e9), now)
    built = time.perf_counter() - t0
    size = path.stat().st_size
    print(f"built {size / 1e9:.2f} GB, {count:,} lines, in {built:.1f} s\n")

    loads = []
    for tail_mb in (64.0, size / 1024 / 1024 + 1):
        seconds, parsed, stats, tail = first_load(folder, tail_mb)
        loads.append(
            [
                f"{min(tail_mb, size / 2**20):,.0f} MB",
                f"{parsed:,}",
                f"{seconds:.2f}",
                f"{stats.counts.lines / seconds / 1000:,.0f}",
            ]
        )
        if tail_mb == 64.0:
            kept = (stats, tail)
        else:
            tail.close()
    print(markdown_table(["first load", "lines", "seconds", "k lines/s"], loads))

    stats, tail = kept
    writer = MetricsFile(folder, max_bytes=1 << 40, keep=1)
    console = Console(file=io.StringIO(), width=100, height=30, force_terminal=True)
    refresh_ms, draw_ms = [], []
    for i in range(args.rounds):
        stamp = time.time()
        writer.append(lines(args.append, stamp - 1, stamp, seed=count + i * args.append).encode())
        t0 = time.perf_counter_ns()
        stats.advance(time.time())
        for line in tail.lines():
            stats.feed(line)
        doc = snapshot(stats, tail.stats)
        t1 = time.perf_counter_ns()
        console.print(render(doc))
        t2 = time.perf_counter_ns()
        refresh_ms.append((t1 - t0) / 1e6)
        draw_ms.append((t2 - t1) / 1e6)
    tail.close()
    print()
    print(
        markdown_table(
            ["per refresh (ms)", "median", "max"],
            [
                [
                    f"read + fold {args.append:,} lines + snapshot",
                    f"{statistics.median(refresh_ms):.1f}",
                    f"{max(refresh_ms):.1f}",
                ],
                ["draw (rich, 100×30)", f"{statistics.median(draw_ms):.1f}", f"{max(draw_ms):.1f}"],
            ],
        )
    )
    total = [a + b for a, b in zip(refresh_ms, draw_ms, strict=True)]
    print_goals(
        {f"refresh ≤ {GOAL_MS:.0f} ms (drawing included, worst round)": max(total) <= GOAL_MS}
    )
    os.unlink(path)


if __name__ == "__main__":
    main()
