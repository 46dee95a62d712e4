"""Small helpers shared by the benchmark scripts: a simulator process, timing, tables.

The simulator runs in its own *process* so that the code being measured does
not share a GIL (or an event loop) with the server answering it.

Importing this module points ``CFT_HOME`` at a fresh temporary folder unless it
is set: engines record metrics (and may cache) by default, and nothing of a
benchmark belongs in the user's own state.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any, TypeVar

__all__ = [
    "markdown_table",
    "median_us",
    "now_ns",
    "print_goals",
    "rotated",
    "simulator_process",
    "worker_json",
]

now_ns = time.perf_counter_ns
T = TypeVar("T")

os.environ.setdefault("CFT_HOME", tempfile.mkdtemp(prefix="cft-bench-"))

_SERVE = """
import json, sys, trio
from claude_force_trio.simulator import SimulatorConfig, serve_simulator

async def main():
    async with trio.open_nursery() as nursery:
        url = await nursery.start(serve_simulator, SimulatorConfig(**json.loads(sys.argv[1])))
        print(url, flush=True)
        await trio.to_thread.run_sync(sys.stdin.read)  # the parent closes stdin to stop us
        nursery.cancel_scope.cancel()

trio.run(main)
"""


@contextmanager
def simulator_process(**config: Any) -> Iterator[str]:
    """Run ``serve_simulator`` in a child process and yield its base URL.

    Args:
        **config: ``SimulatorConfig`` fields (JSON-serialisable), e.g. ``ttft_ms=0``.

    Yields:
        The simulator's ``http://127.0.0.1:PORT``. The child is stopped on exit.
    """
    proc = subprocess.Popen(
        [sys.executable, "-c", _SERVE, json.dumps(config)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        url = proc.stdout.readline().strip()
        if not url.startswith("http"):
            raise RuntimeError(f"simulator process did not start (exit {proc.poll()})")
        yield url
    finally:
        if proc.stdin is not None:
            proc.stdin.close()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def worker_json(argv: Sequence[str]) -> Any:
    """Run ``python *argv`` in a fresh process and return the JSON document it prints.

    Why a fresh process: each client is measured with its own heap, garbage
    collector and CPU clock, apart from the others and from the simulator.

    Raises:
        RuntimeError: the worker failed (the tail of its stderr says why).
    """
    done = subprocess.run([sys.executable, *argv], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"worker {' '.join(argv[1:3])} failed:\n{done.stderr[-2000:]}")
    return json.loads(done.stdout)


def median_us(samples_ns: Sequence[int]) -> float:
    """Median of nanosecond samples, in microseconds."""
    return statistics.median(samples_ns) / 1000.0


def rotated(items: Sequence[T], by: int) -> list[T]:
    """``items`` rotated left by ``by``: round ``by``'s order, so no one always goes first."""
    return [*items[by % len(items) :], *items[: by % len(items)]]


def markdown_table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """Render rows as a GitHub-flavoured markdown table (numbers right-aligned)."""
    cells = [[str(c) for c in row] for row in rows]
    widths = [max(len(h), *(len(r[i]) for r in cells)) for i, h in enumerate(headers)]
    numeric = [
        all(_is_number(r[i]) for r in cells) if cells else False for i in range(len(headers))
    ]

    def line(values: Sequence[str]) -> str:
        padded = (
            v.rjust(w) if num else v.ljust(w)
            for v, w, num in zip(values, widths, numeric, strict=True)
        )
        return "| " + " | ".join(padded) + " |"

    rule = (
        "|"
        + "|".join(
            "-" * (w + 1) + ":" if num else "-" * (w + 2)
            for w, num in zip(widths, numeric, strict=True)
        )
        + "|"
    )
    return "\n".join([line(headers), rule, *(line(r) for r in cells)])


def print_goals(goals: dict[str, bool]) -> None:
    """The closing lines of a benchmark: each goal, met or not."""
    print()
    for name, ok in goals.items():
        print(f"{name}: {'met' if ok else 'NOT met'}")


def _is_number(text: str) -> bool:
    try:
        float(text.rstrip("×x%"))
    except ValueError:
        return False
    return True
