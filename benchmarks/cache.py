"""Response cache: hit latency, what a store costs a step, a many-step run, the workload's cost.

Usage::

    python benchmarks/cache.py [--hits N] [--stores N] [--steps N] [--cli] [--json]

1. **Hit latency.** ``CacheLayer`` over a ``DiskCache``, in front of a real
   ``MessagesClient`` and the simulator on loopback (a hit never reaches the
   client), vs ``diskcache.Cache.get`` of the same entry on the same directory
   — alternated call by call in one run; and ``Engine.run_agent`` answered by
   the cache, end to end. Target: hit p50 ≤ 0.5 ms through the engine.
2. **A store on the hot path.** What ``ResponseCache.store`` costs the step
   that stores an answer: *before* — written on the step's path (one thread
   hop and one SQLite transaction each, as every store was before the
   write-behind, and as a ``ResponseCache`` without a running writer still
   does) — and *after* — handed to the write-behind, which writes batches in
   the background. Thread hops are counted for both.
3. **Many steps.** N distinct calls (``--steps``, 10 at a time), through the
   engine (``Engine.run_many`` over an ``httpx.MockTransport`` answering at
   once) and through the layer alone (over a next layer that answers at once):
   cache off, cache on with every store on the step's path (before), cache on
   with write-behind (after); with ``--cli``, also ``cft --simulate run-many``
   as whole processes (the embedded simulator at zero latency), off and after.
   Target: on ≤ 1.15 × off.
4. **Workload cost.** The example workflows (``examples/.claude/claude.json``)
   run 10 times over a task list in which 30% of the tasks repeat an earlier
   one (10 tasks, 7 distinct). Steps run in dependency order, each request
   built by ``_prompts`` as the engine builds it, sent through the cache layer
   to the simulator, which accounts for prompt caching the way the API does
   (``cache_creation_input_tokens``/``cache_read_input_tokens``, minimum
   prefix per model). Cost is ``_pricing.cost_usd`` of every response's usage
   (a hit has zero usage). Configurations: naive (no response cache, no
   prompt caching), each cache alone, both. Target: both ≤ 0.4 × naive.
   The example agent definitions are short (1.7–2 KB ≈ 450 tokens, below every
   model's minimum cacheable prefix), so the same workload is also run with
   definitions padded to 20 KB, which is what real agent definitions with
   examples and checklists look like.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

import anyio
import anyio.lowlevel
import anyio.to_thread
import diskcache
import httpx
import trio
from _common import markdown_table, now_ns

from claude_force_trio._api._client import MessagesClient
from claude_force_trio._backend import Backend
from claude_force_trio._cache import _policy
from claude_force_trio._cache._disk import DiskCache
from claude_force_trio._cache._entry import CacheBackend, cache_key
from claude_force_trio._cache._layer import CacheLayer
from claude_force_trio._cache._policy import CachePolicy, ResponseCache, open_response_cache
from claude_force_trio._cache._writer import WriteBehind
from claude_force_trio._call import Call, CallObserver
from claude_force_trio._config import CacheConfig, Config, load_config
from claude_force_trio._engine import open_engine
from claude_force_trio._pricing import cost_usd
from claude_force_trio._prompts import DependencyOutput, build_request, user_message
from claude_force_trio._types import MessageResult, Usage
from claude_force_trio.simulator import open_simulator

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples" / ".claude" / "claude.json"
TASKS = [
    "Add retry with backoff to the HTTP client",
    "Fix the off-by-one in the pagination helper",
    "Add retry with backoff to the HTTP client",  # repeat
    "Move the config loader to frozen dataclasses",
    "Harden the file upload endpoint",
    "Fix the off-by-one in the pagination helper",  # repeat
    "Add structured logging to the worker",
    "Replace the hand-written CSV parser",
    "Harden the file upload endpoint",  # repeat
    "Cache the dashboard queries",
]
TARGET_P50_MS = 0.5
TARGET_COST = 0.4
TARGET_ON_OFF = 1.15
CONCURRENCY = 10


def _pct(samples: list[int], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] / 1e6


async def hit_latency(n: int) -> dict[str, float]:
    """p50/p99 in ms of a layer hit and of a raw diskcache get, interleaved."""
    config = load_config(EXAMPLES)
    agent = config.agents["code-reviewer"]
    call = Call(build_request(agent, config.defaults, user_message("Review the loop")), agent.name)
    with tempfile.TemporaryDirectory() as tmp:
        async with open_simulator(ttft_ms=0, tokens_per_s=0) as sim:
            disk = await DiskCache.open(Path(tmp))
            raw = diskcache.Cache(str(Path(tmp) / "responses"))
            async with MessagesClient(base_url=sim.url, api_key="sk-bench") as client:
                layer = CacheLayer(client, ResponseCache(disk, CachePolicy()))
                start = now_ns()
                await layer.send(call, CallObserver())
                miss_ns = now_ns() - start
                key = cache_key(call.body)
                hits: list[int] = []
                gets: list[int] = []
                for _ in range(n):
                    t0 = now_ns()
                    answer = await layer.send(call, CallObserver())
                    t1 = now_ns()
                    raw.get(key)
                    t2 = now_ns()
                    assert answer.usage == Usage()  # served
                    hits.append(t1 - t0)
                    gets.append(t2 - t1)
            raw.close()
            await disk.aclose()
    return {
        "hit_p50_ms": _pct(hits, 0.5),
        "hit_p99_ms": _pct(hits, 0.99),
        "raw_p50_ms": _pct(gets, 0.5),
        "raw_p99_ms": _pct(gets, 0.99),
        "miss_ms": miss_ns / 1e6,
    }


async def engine_hit_latency(n: int) -> dict[str, float]:
    """p50/p99 in ms of ``Engine.run_agent`` answered by the cache: prompt building,
    key, lookup, result and events — everything a user's call pays on a hit."""
    config = load_config(EXAMPLES)
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["CFT_HOME"] = tmp
        async with (
            open_simulator(ttft_ms=0, tokens_per_s=0) as sim,
            open_engine(config, backend=Backend.url(sim.url, "sk-bench")) as engine,
        ):
            first = await engine.run_agent("code-reviewer", "Review the retry loop")
            assert not first.cached
            writer = engine.response_cache.writer if engine.response_cache else None
            with anyio.fail_after(5):  # measure hits read from disk, not the pending entry
                while writer is not None and writer.backlog:
                    await anyio.sleep(0.001)
            samples: list[int] = []
            for _ in range(n):
                t0 = now_ns()
                result = await engine.run_agent("code-reviewer", "Review the retry loop")
                samples.append(now_ns() - t0)
                assert result.cached
    return {"p50_ms": _pct(samples, 0.5), "p99_ms": _pct(samples, 0.99)}


# -- what a store costs, and many steps ---------------------------------------------


def _answer(n: int) -> MessageResult:
    """A complete answer of ordinary length (about 2 KB stored)."""
    text = f"Answer {n}: " + "the change looks right; two nits below. " * 45
    return MessageResult(
        id=f"msg_{n}",
        model="claude-sonnet-4-5",
        text=text,
        stop_reason="end_turn",
        usage=Usage(input_tokens=1200, output_tokens=400),
    )


class _Answers:
    """A next layer that answers every call at once (one checkpoint), as a free API would."""

    def __init__(self) -> None:
        self.calls = 0

    async def send(self, call: Call, observer: CallObserver) -> MessageResult:
        self.calls += 1
        await anyio.lowlevel.checkpoint()
        return _answer(self.calls)


@asynccontextmanager
async def _unstarted_writer(backend: CacheBackend, **_: Any) -> AsyncIterator[WriteBehind]:
    yield WriteBehind(backend)  # never served: every store is written on the step's path


@contextmanager
def writes(mode: str) -> Iterator[None]:
    """``open_response_cache`` as it is (``after``), or with every store on the step's path.

    ``before`` leaves the writer unstarted, so ``ResponseCache.store`` writes
    each answer itself (one thread hop, one transaction), exactly as every
    store was written before the write-behind.
    """
    names = vars(_policy)  # the module's globals: what open_response_cache calls
    real = names["open_write_behind"]
    if mode == "before":
        names["open_write_behind"] = _unstarted_writer
    try:
        yield
    finally:
        names["open_write_behind"] = real


def _count_hops(backend: CacheBackend | None) -> Callable[[], int]:
    """Count ``backend``'s worker-thread hops from now on; return a reader of the count."""
    hops = [0]
    real = backend._in_thread  # type: ignore[union-attr]

    async def counted(fn: Any, *args: Any) -> Any:
        hops[0] += 1
        return await real(fn, *args)

    backend._in_thread = counted  # type: ignore[union-attr]
    return lambda: hops[0]


def _cache_config(directory: str, *, enabled: bool = True) -> Config:
    base = load_config(EXAMPLES)
    return replace(base, cache=CacheConfig(enabled=enabled, directory=Path(directory)))


async def store_cost(n: int) -> list[dict[str, Any]]:
    """µs that ``ResponseCache.store`` keeps a step, before and after the write-behind."""
    rows = []
    for mode in ("before", "after"):
        with tempfile.TemporaryDirectory() as tmp, writes(mode):
            async with open_response_cache(_cache_config(tmp)) as cache:
                hops = _count_hops(cache.backend)
                samples: list[int] = []
                for i in range(n):
                    message = _answer(i)
                    t0 = now_ns()
                    await cache.store(f"{i:064x}", message)
                    samples.append(now_ns() - t0)
                    await anyio.lowlevel.checkpoint()  # the step's next await
                on_path = hops()
            stored = hops()
        rows.append(
            {
                "mode": mode,
                "p50_us": _pct(samples, 0.5) * 1e3,
                "p99_us": _pct(samples, 0.99) * 1e3,
                "mean_us": sum(samples) / len(samples) / 1e3,
                "hops_during_run": on_path,
                "hops_with_close": stored,
            }
        )
    return rows


async def _layer_run(n: int, mode: str) -> float:
    """Seconds for ``n`` distinct calls through the layer alone, 10 at a time."""
    config = load_config(EXAMPLES)
    agent = config.agents["code-reviewer"]
    bodies = [
        build_request(agent, config.defaults, user_message(f"Review change {i}")) for i in range(n)
    ]
    pending = iter(bodies)
    with tempfile.TemporaryDirectory() as tmp, writes(mode):
        start = now_ns()
        async with open_response_cache(_cache_config(tmp, enabled=mode != "off")) as cache:
            layer = CacheLayer(_Answers(), cache)

            async def worker() -> None:
                for body in pending:
                    await layer.send(Call(body, "code-reviewer"), CallObserver())

            async with anyio.create_task_group() as group:
                for _ in range(CONCURRENCY):
                    group.start_soon(worker)
        return (now_ns() - start) / 1e9


async def _engine_run(n: int, mode: str) -> float:
    """Seconds for ``Engine.run_many`` of ``n`` distinct jobs over a transport answering at once."""
    answer = {
        "id": "msg_bench",
        "type": "message",
        "role": "assistant",
        "model": "claude-sonnet-4-5",
        "content": [{"type": "text", "text": _answer(0).text}],
        "stop_reason": "end_turn",
        "stop_sequence": None,
        "usage": {"input_tokens": 1200, "output_tokens": 400},
    }
    transport = httpx.MockTransport(lambda request: httpx.Response(200, json=answer))
    jobs = [("code-reviewer", f"Review change {i}") for i in range(n)]
    with tempfile.TemporaryDirectory() as tmp, writes(mode):
        os.environ["CFT_HOME"] = tmp
        config = _cache_config(tmp)
        start = now_ns()
        async with open_engine(
            config,
            backend=Backend.url("http://api.bench", "sk-bench"),
            transport=transport,
            max_concurrency=CONCURRENCY,
            cache=mode != "off",
            memory=False,
        ) as engine:
            results = await engine.run_many(jobs)
        elapsed = (now_ns() - start) / 1e9
    assert all(r.ok for r in results), next(r.error for r in results if not r.ok)
    return elapsed


def _cli_run(n: int, mode: str) -> float:
    """Seconds for ``cft --simulate run-many`` of ``n`` distinct jobs (a whole process)."""
    with tempfile.TemporaryDirectory() as tmp:
        jobs = Path(tmp) / "jobs.jsonl"
        jobs.write_text(
            "".join(
                json.dumps({"agent": "code-reviewer", "task": f"Review change {i}"}) + "\n"
                for i in range(n)
            )
        )
        env = {**os.environ, "CFT_HOME": tmp, "CFT_SIM_LATENCY_SCALE": "0"}
        command = [sys.executable, "-m", "claude_force_trio", "--config", str(EXAMPLES)]
        command += ["--simulate", "run-many", str(jobs), "--json"]
        command += ["--no-cache"] if mode == "off" else []
        start = now_ns()
        subprocess.run(command, env=env, check=True, stdout=subprocess.DEVNULL)
        return (now_ns() - start) / 1e9


async def many_steps(n: int, *, cli: bool) -> list[dict[str, Any]]:
    """Seconds for ``n`` distinct steps: cache off / before / after, engine and layer alone,
    and (``cli``) off / after through ``cft run-many``, as the issue measured it."""
    rows = []
    for where, run in (("Engine.run_many", _engine_run), ("CacheLayer alone", _layer_run)):
        times = {mode: await run(n, mode) for mode in ("off", "before", "after")}
        rows += _ratios(where, times)
    if cli:
        times = {
            mode: await anyio.to_thread.run_sync(_cli_run, n, mode) for mode in ("off", "after")
        }
        rows += _ratios("cft run-many (process)", times)
    return rows


def _ratios(where: str, times: dict[str, float]) -> list[dict[str, Any]]:
    return [
        {"path": where, "mode": mode, "s": seconds, "ratio": seconds / times["off"]}
        for mode, seconds in times.items()
    ]


def padded(config: Config, size: int) -> Config:
    """``config`` with every agent definition padded to about ``size`` characters."""
    agents = {}
    for name, agent in config.agents.items():
        filler = f"\n\n## Reference notes for {name}\n\n" + "".join(
            f"- Checklist item {i}: inspect the code for issue class {i} and explain it.\n"
            for i in range(size // 60)
        )
        agents[name] = replace(agent, definition=(agent.definition + filler)[:size])
    return replace(config, agents=agents)


def _order(steps: tuple[Any, ...]) -> list[Any]:
    done: set[str] = set()
    order: list[Any] = []
    while len(order) < len(steps):
        for step in steps:
            if step.id not in done and all(d in done for d in step.dependencies):
                order.append(step)
                done.add(step.id)
    return order


async def workload_cost(config: Config, *, response_cache: bool, prompt_cache: bool) -> float:
    """USD the example workflows cost over :data:`TASKS` with the given caches."""
    total = 0.0
    with tempfile.TemporaryDirectory() as tmp:
        async with open_simulator(ttft_ms=0, tokens_per_s=0) as sim:
            disk = await DiskCache.open(Path(tmp)) if response_cache else None
            async with MessagesClient(base_url=sim.url, api_key="sk-bench") as client:
                layer = CacheLayer(client, ResponseCache(disk, CachePolicy()))
                for task in TASKS:
                    for workflow in config.workflows.values():
                        outputs: dict[str, DependencyOutput] = {}
                        for step in _order(workflow.steps):
                            agent = config.agents[step.agent]
                            text = user_message(
                                step.task,
                                workflow_task=f"{workflow.task or ''}\n\n{task}",
                                dependencies=[outputs[d] for d in step.dependencies],
                            )
                            body = build_request(
                                agent, config.defaults, text, prompt_cache=prompt_cache
                            )
                            msg = await layer.send(Call(body, agent.name), CallObserver())
                            total += cost_usd(msg.usage, msg.model) or 0.0
                            outputs[step.id] = DependencyOutput(step.id, agent.name, msg.text)
            if disk is not None:
                await disk.aclose()
    return total


async def costs() -> list[dict[str, Any]]:
    """Cost rows for the example definitions and for 20 KB definitions."""
    base = load_config(EXAMPLES)
    rows = []
    for label, config in (
        ("example definitions", base),
        ("20 KB definitions", padded(base, 20_000)),
    ):
        naive = await workload_cost(config, response_cache=False, prompt_cache=False)
        for name, rc, pc in (
            ("naive", False, False),
            ("prompt cache only", False, True),
            ("response cache only", True, False),
            ("both", True, True),
        ):
            usd = (
                naive
                if name == "naive"
                else await workload_cost(config, response_cache=rc, prompt_cache=pc)
            )
            rows.append({"definitions": label, "config": name, "usd": usd, "ratio": usd / naive})
    return rows


async def main() -> None:
    """Run every part and print markdown tables (or JSON)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hits", type=int, default=5000)
    parser.add_argument("--stores", type=int, default=2000)
    parser.add_argument("--steps", type=int, default=10_000)
    parser.add_argument("--cli", action="store_true", help="also time `cft run-many` processes")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    latency = await hit_latency(args.hits)
    through_engine = await engine_hit_latency(args.hits)
    stores = await store_cost(args.stores)
    steps = await many_steps(args.steps, cli=args.cli)
    cost_rows = await costs()
    if args.json:
        document = {
            "latency": latency,
            "engine": through_engine,
            "stores": stores,
            "many_steps": steps,
            "cost": cost_rows,
        }
        json.dump(document, sys.stdout, indent=2)
        print()
        return
    _print_latency(args.hits, latency, through_engine)
    _print_writes(args.stores, stores, args.steps, steps)
    _print_costs(cost_rows)


def _print_latency(hits: int, latency: dict[str, float], engine: dict[str, float]) -> None:
    print(f"## Cache hit latency ({hits} hits, interleaved)\n")
    rows = [
        ["Engine.run_agent answered by the cache", engine["p50_ms"], engine["p99_ms"]],
        ["CacheLayer hit (layer + DiskCache)", latency["hit_p50_ms"], latency["hit_p99_ms"]],
        ["raw diskcache get", latency["raw_p50_ms"], latency["raw_p99_ms"]],
    ]
    print(
        markdown_table(
            ["path", "p50 ms", "p99 ms"], [[p, f"{a:.3f}", f"{b:.3f}"] for p, a, b in rows]
        )
    )
    ok = "met" if engine["p50_ms"] <= TARGET_P50_MS else "MISSED"
    print(
        f"\nhit p50 through the engine, target ≤ {TARGET_P50_MS} ms: {ok}; "
        f"first (miss) call via simulator: {latency['miss_ms']:.1f} ms\n"
    )


def _print_writes(
    n_stores: int, stores: list[dict[str, Any]], n_steps: int, steps: list[dict[str, Any]]
) -> None:
    print(f"## What a store costs the step ({n_stores} stores, DiskCache)\n")
    print(
        markdown_table(
            ["stores", "p50 µs", "p99 µs", "mean µs", "thread hops (with close)"],
            [
                [
                    r["mode"],
                    f"{r['p50_us']:.1f}",
                    f"{r['p99_us']:.1f}",
                    f"{r['mean_us']:.1f}",
                    f"{r['hops_during_run']} ({r['hops_with_close']})",
                ]
                for r in stores
            ],
        )
    )
    print(f"\n## {n_steps} distinct steps, {CONCURRENCY} at a time\n")
    print(
        markdown_table(
            ["path", "cache", "s", "µs a step", "× off"],
            [
                [
                    r["path"],
                    r["mode"],
                    f"{r['s']:.2f}",
                    f"{r['s'] / n_steps * 1e6:.0f}",
                    f"{r['ratio']:.2f}",
                ]
                for r in steps
            ],
        )
    )
    after = [r["ratio"] for r in steps if r["mode"] == "after"]
    print(
        f"\ncache on (write-behind) ÷ off, target ≤ {TARGET_ON_OFF}: "
        + ", ".join(f"{x:.2f}" for x in after)
        + "\n"
    )


def _print_costs(cost_rows: list[dict[str, Any]]) -> None:
    print(
        f"## Standard workload cost ({len(TASKS)} runs of every example workflow, "
        f"{len(TASKS) - len(set(TASKS))} repeated tasks)\n"
    )
    print(
        markdown_table(
            ["definitions", "config", "USD", "× naive"],
            [
                [r["definitions"], r["config"], f"{r['usd']:.4f}", f"{r['ratio']:.2f}"]
                for r in cost_rows
            ],
        )
    )
    both = [r["ratio"] for r in cost_rows if r["config"] == "both"]
    print(
        f"\ncost target ≤ {TARGET_COST} × naive (both caches): "
        + ", ".join(f"{x:.2f}" for x in both)
    )


if __name__ == "__main__":
    trio.run(main)
