"""Engine cost per step at scale, and how long a cache hit takes as a whole process.

1. **Per-step engine cost.** Workflows of 1,000 / 10,000 / 30,000 steps in four
   shapes (fan-out, chain, fan-in, random DAG) run on an ``httpx.MockTransport``
   that answers at once, cache off and cache on (every step a miss and a store),
   concurrency 10. What is left is the engine's own cost: prompts, the call
   stack, the client, events, results, scheduling. Each configuration runs in a
   fresh process, so its peak RSS is its own. Goals: ≤ 100 µs a step; ×3 steps →
   ≤ ×3.3 time (no rescans); cache on ≤ 1.15× cache off; RSS ≤ 150 MB at 10,000.
   With ``--latency-ms`` the transport answers after that long instead, so
   every ready step waits for a slot with its call stack, as on a network.
2. **A cache hit as a process.** ``cft run`` answered from the cache, measured
   whole-process against ``python -c "import httpx"`` in the same run
   (goal ≤ 0.3 s).

Run: ``python benchmarks/scale.py [--sizes 1000,10000,30000] [--repeat 3] [--latency-ms 2]
[--json]``.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

import anyio
import httpx

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
from claude_force_trio._engine import open_engine

sys.path.insert(0, str(Path(__file__).parent))
from _common import markdown_table

SHAPES = ("fan-out", "chain", "fan-in", "random")
REPLY = json.dumps(
    {
        "id": "msg_scale",
        "type": "message",
        "role": "assistant",
        "model": "claude-haiku-4-5",
        "content": [{"type": "text", "text": "ok"}],
        "stop_reason": "end_turn",
        "stop_sequence": None,
        "usage": {"input_tokens": 20, "output_tokens": 1},
    }
).encode()


def edges(shape: str, n: int) -> list[tuple[str, ...]]:
    """Each step's dependencies (by index name) for one shape of ``n`` steps."""
    if shape == "fan-out":
        return [(), *((("s0",),) * (n - 1))]
    if shape == "chain":
        return [(), *((f"s{i - 1}",) for i in range(1, n))]
    if shape == "fan-in":
        return [*(() for _ in range(n - 1)), tuple(f"s{i}" for i in range(n - 1))]
    rng = random.Random(n)
    return [
        tuple(sorted({f"s{rng.randrange(i)}" for _ in range(rng.randint(0, 3))})) if i else ()
        for i in range(n)
    ]


def config(shape: str, n: int, cache_dir: Path | None) -> Config:
    """One agent and one workflow ``w`` of ``n`` steps."""
    steps = tuple(
        StepConfig(id=f"s{i}", agent="a", task=f"task {i}", dependencies=deps, path=f"w[{i}]")
        for i, deps in enumerate(edges(shape, n))
    )
    agent = AgentConfig(name="a", file=Path("a.md"), definition="You are terse.", max_tokens=16)
    return Config(
        path=Path("claude.json"),
        root=Path("."),
        defaults=Defaults(model="haiku"),
        agents={"a": agent},
        workflows={"w": WorkflowConfig(name="w", steps=steps, path="workflows.w")},
        cache=CacheConfig(enabled=cache_dir is not None, directory=cache_dir),
        performance=PerformanceConfig(max_concurrent_agents=10),
    )


def answer(request: httpx.Request) -> httpx.Response:
    """The fastest possible valid answer."""
    return httpx.Response(200, content=REPLY, headers={"content-type": "application/json"})


def answer_after(
    latency_s: float,
) -> Callable[[httpx.Request], Coroutine[None, None, httpx.Response]]:
    """The same answer, ``latency_s`` after the request (a network's round trip)."""

    async def handler(request: httpx.Request) -> httpx.Response:
        await anyio.sleep(latency_s)
        return answer(request)

    return handler


async def one_run(shape: str, n: int, cache: bool, latency_s: float = 0.0) -> dict[str, Any]:
    """Run one workflow in this process and report its wall time and peak RSS."""
    handler = answer_after(latency_s) if latency_s > 0 else answer
    with tempfile.TemporaryDirectory() as home:
        cfg = config(shape, n, Path(home) / "cache" if cache else None)
        backend = Backend.url("http://scale.invalid", "scale-key")
        async with open_engine(
            cfg, backend=backend, transport=httpx.MockTransport(handler), cache=cache
        ) as engine:
            start = time.perf_counter()
            result = await engine.run_workflow("w")
            wall = time.perf_counter() - start
    if not result.ok:
        raise SystemExit(f"{shape}/{n}: {result.status}")
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"shape": shape, "steps": n, "cache": cache, "wall_s": wall, "rss_mb": rss_mb}


def measure(shape: str, n: int, cache: bool, backend: str, latency_ms: float) -> dict[str, Any]:
    """Run ``one_run`` in a fresh process (so RSS and caches are its own)."""
    out = subprocess.run(
        [
            sys.executable,
            __file__,
            "--one",
            shape,
            str(n),
            str(int(cache)),
            backend,
            "--latency-ms",
            str(latency_ms),
        ],
        check=True,
        capture_output=True,
        text=True,
    )
    return dict(json.loads(out.stdout))


def process_seconds(argv: list[str], env: dict[str, str], repeat: int) -> float:
    """Median wall time of a whole process."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        subprocess.run(argv, env=env, check=True, capture_output=True)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def cache_hit_process(repeat: int) -> dict[str, float]:
    """``cft run`` answered from the cache vs ``python -c 'import httpx'``, whole process."""
    examples = Path(__file__).parents[1] / "examples" / ".claude" / "claude.json"
    with tempfile.TemporaryDirectory() as home:
        env = {
            **os.environ,
            "CFT_HOME": home,
            "CFT_SIM_LATENCY_SCALE": "0",
            "NO_COLOR": "1",
        }
        for name in ("ANTHROPIC_API_KEY", "ANTHROPIC_BASE_URL", "ANTHROPIC_AUTH_TOKEN"):
            env.pop(name, None)
        run = [sys.executable, "-m", "claude_force_trio", "--config", str(examples), "--simulate"]
        argv = [*run, "run", "linter", "Review utils.py for style"]
        subprocess.run(argv, env=env, check=True, capture_output=True)  # fill the cache
        hit = process_seconds(argv, env, repeat)
        httpx_only = process_seconds([sys.executable, "-c", "import httpx"], env, repeat)
        cli_help = process_seconds([*run, "--help"], env, repeat)
    return {"cache_hit_s": hit, "import_httpx_s": httpx_only, "cft_help_s": cli_help}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000,10000,30000")
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--backend", default="trio", choices=["trio", "asyncio"])
    parser.add_argument("--json", action="store_true")
    parser.add_argument(
        "--latency-ms", type=float, default=0.0, help="answer after this long (default: at once)"
    )
    parser.add_argument("--one", nargs=4, metavar=("SHAPE", "N", "CACHE", "BACKEND"))
    args = parser.parse_args()
    if args.one:
        shape, n, cache, backend = args.one
        latency_s = args.latency_ms / 1000
        report = anyio.run(one_run, shape, int(n), cache == "1", latency_s, backend=backend)
        print(json.dumps(report))
        return
    sizes = [int(s) for s in args.sizes.split(",")]
    rows, records = [], []
    for shape in SHAPES:
        per_size: dict[tuple[int, bool], float] = {}
        for n in sizes:
            for cache in (False, True):
                runs = [
                    measure(shape, n, cache, args.backend, args.latency_ms)
                    for _ in range(args.repeat)
                ]
                wall = statistics.median(r["wall_s"] for r in runs)
                rss = max(r["rss_mb"] for r in runs)
                per_size[n, cache] = wall
                records.append({**runs[0], "wall_s": wall, "rss_mb": rss})
        for n in sizes:
            off, on = per_size[n, False], per_size[n, True]
            growth = f"{off / per_size[sizes[0], False] / (n / sizes[0]):.2f}"
            rss = next(r["rss_mb"] for r in records if r["shape"] == shape and r["steps"] == n)
            rows.append(
                [
                    shape,
                    f"{n:,}",
                    f"{off * 1e6 / n:.0f}",
                    f"{on * 1e6 / n:.0f}",
                    f"{on / off:.2f}",
                    growth,
                    f"{rss:.0f}",
                ]
            )
    hit = cache_hit_process(max(3, args.repeat))
    if args.json:
        print(json.dumps({"runs": records, "process": hit}, indent=2))
        return
    when = f"after {args.latency_ms:g} ms" if args.latency_ms > 0 else "at once"
    print(f"backend: {args.backend}, concurrency 10, MockTransport answering {when}\n")
    headers = [
        "shape",
        "steps",
        "µs/step (cache off)",
        "µs/step (cache on)",
        "on ÷ off",
        "time per step ÷ smallest",
        "peak RSS MB (off)",
    ]
    print(markdown_table(headers, rows))
    print()
    print(
        markdown_table(
            ["process", "seconds"],
            [
                ["cft run answered from the cache", f"{hit['cache_hit_s']:.3f}"],
                ['python -c "import httpx"', f"{hit['import_httpx_s']:.3f}"],
                ["cft --help", f"{hit['cft_help_s']:.3f}"],
            ],
        )
    )


if __name__ == "__main__":
    main()
