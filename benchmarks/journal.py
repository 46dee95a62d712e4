"""What the run journal costs, and how fast a big run resumes.

1. **Journal overhead.** A 1,000-step fan-out workflow on an
   ``httpx.MockTransport`` that answers at once (so what is measured is the
   engine's own cost, the strictest base for a ratio), cache off, concurrency
   10, with the journal and without it, alternating in one process; goal:
   wall with journal ÷ without ≤ 1.10.
2. **Resume.** A 10,000-step fan-out run is journalled, then its last step's
   row is rewritten as failed (as a crash or a fault would leave it); a fresh
   engine resumes it. Measured: the time from ``resume_workflow`` to the first
   new request at the transport (goal ≤ 1 s), and the whole resume.

Also printed: the CPU the journal adds per step (every thread, paired by round).

Run: ``python benchmarks/journal.py [--steps 1000] [--resume-steps 10000] [--repeat 5] [--json]``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import anyio
import httpx
from _common import markdown_table
from scale import answer, config

from claude_force_trio._backend import Backend
from claude_force_trio._engine import open_engine
from claude_force_trio._journal import open_journal

BACKEND = Backend.url("http://journal.invalid", "journal-bench-key")


async def one_run(steps: int, journal: Path | None) -> tuple[float, float]:
    """Wall and CPU seconds (every thread) of one fan-out run of ``steps`` steps."""
    cfg = config("fan-out", steps, None)
    async with open_engine(
        cfg, backend=BACKEND, transport=httpx.MockTransport(answer), cache=False, journal=journal
    ) as engine:
        start, cpu = time.perf_counter(), time.process_time()
        result = await engine.run_workflow("w")
        wall, cpu = time.perf_counter() - start, time.process_time() - cpu
    if not result.ok:
        raise SystemExit(f"run failed: {result.status}")
    return wall, cpu


async def overhead(steps: int, repeat: int, folder: Path) -> dict[str, Any]:
    """Alternate runs with and without the journal; ratios paired by round."""
    await one_run(steps, None)  # warm-up: imports, first-use caches
    off, on = [], []
    for i in range(repeat):
        off.append(await one_run(steps, None))
        on.append(await one_run(steps, folder / f"overhead-{i}.db"))
    ratios = [b[0] / a[0] for a, b in zip(off, on, strict=True)]
    cpu_added = [b[1] - a[1] for a, b in zip(off, on, strict=True)]  # paired like the ratios
    return {
        "steps": steps,
        "off_s": statistics.median(wall for wall, _ in off),
        "on_s": statistics.median(wall for wall, _ in on),
        "ratio": statistics.median(ratios),
        "ratio_range": (min(ratios), max(ratios)),
        "cpu_per_step_us": statistics.median(cpu_added) / steps * 1e6,
    }


async def resume(steps: int, folder: Path) -> dict[str, Any]:
    """Journal a run, fail its last step in the journal, and time the resume."""
    path = folder / "resume.db"
    cfg = config("fan-out", steps, None)
    async with open_engine(
        cfg, backend=BACKEND, transport=httpx.MockTransport(answer), cache=False, journal=path
    ) as engine:
        start = time.perf_counter()
        first = await engine.run_workflow("w")
        first_wall = time.perf_counter() - start
    last = first.steps[-1].to_dict()
    async with open_journal(path) as journal:
        await journal.record_step(first.run_id, {**last, "status": "failed", "error": "bench"})

    sent: list[float] = []

    def counted(request: httpx.Request) -> httpx.Response:
        sent.append(time.perf_counter())
        return answer(request)

    async with open_engine(
        cfg, backend=BACKEND, transport=httpx.MockTransport(counted), cache=False, journal=path
    ) as engine:
        start = time.perf_counter()
        again = await engine.resume_workflow(first.run_id)
        wall = time.perf_counter() - start
    if not again.ok or len(sent) != 1:
        raise SystemExit(f"resume: {again.status}, {len(sent)} requests (expected 1)")
    return {
        "steps": steps,
        "run_s": first_wall,
        "first_request_s": sent[0] - start,
        "resume_s": wall,
        "requests": len(sent),
    }


async def main_async(args: argparse.Namespace) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as home:
        folder = Path(home)
        return {
            "overhead": await overhead(args.steps, args.repeat, folder),
            "resume": await resume(args.resume_steps, folder),
        }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--resume-steps", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as home:
        import os

        os.environ["CFT_HOME"] = home  # nothing of a benchmark lands in the user's state
        report = anyio.run(main_async, args, backend="trio")
    if args.json:
        print(json.dumps(report, indent=2))
        return
    o, r = report["overhead"], report["resume"]
    low, high = o["ratio_range"]
    print(
        markdown_table(
            ["measure", "value", "goal"],
            [
                [f"{o['steps']}-step fan-out, journal off", f"{o['off_s']:.3f} s", ""],
                [f"{o['steps']}-step fan-out, journal on", f"{o['on_s']:.3f} s", ""],
                ["on ÷ off", f"{o['ratio']:.3f} ({low:.3f}–{high:.3f})", "≤ 1.10"],
                ["journal CPU per step", f"{o['cpu_per_step_us']:.0f} µs", ""],
                [f"{r['steps']}-step run, journalled", f"{r['run_s']:.2f} s", ""],
                ["resume → first new request", f"{r['first_request_s']:.3f} s", "≤ 1 s"],
                ["whole resume (1 step to run)", f"{r['resume_s']:.3f} s", ""],
            ],
        )
    )
    print(f"journal_overhead: {'met' if o['ratio'] <= 1.10 else 'NOT met'}")
    print(f"resume_first_request: {'met' if r['first_request_s'] <= 1.0 else 'NOT met'}")


if __name__ == "__main__":
    main()
