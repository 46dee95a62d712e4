"""The clients of ``benchmarks/tools.py``, each run in a worker process of its own.

The tools are the same functions for every client, counting their own
invocations (and, for the sleeping ones, stamping when they ran), so a loop's
tool calls are counted where they happen, not taken from a client's word.
"""

from __future__ import annotations

import asyncio
import json
import os
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import anyio

__all__ = ["PARALLEL", "SLEEPS", "SPAN_TURNS", "TOOL_TURNS", "worker"]

KEY = "fake-key-bench-not-a-secret"
MODEL = "claude-haiku-4-5"
MAX_TOKENS = 1024
AGENT = "looper"
DEFINITION = "# Looper\n\nYou answer questions about orders by calling the lookup tools.\n"
TOOL_TURNS = 5
PARALLEL = 3
WARMUP = 10
SLEEPS = {"wait_short": 0.1, "wait_medium": 0.2, "wait_long": 0.3}
SPAN_TURNS = 3

invocations: Counter[str] = Counter()
stamps: list[tuple[str, float, float]] = []  # (tool, start, end) on perf_counter


# -- the tools: the same functions for every client -------------------------------------


async def lookup_user(user_id: str) -> str:
    """Look up a customer.

    Args:
        user_id: the customer's id.
    """
    invocations["lookup_user"] += 1
    return f"user {user_id}: Ada Lovelace, since 2019"


async def lookup_order(order_id: str) -> str:
    """Look up an order.

    Args:
        order_id: the order's id.
    """
    invocations["lookup_order"] += 1
    return f"order {order_id}: 3 items, shipped"


async def lookup_stock(sku: str) -> str:
    """Look up a product's stock.

    Args:
        sku: the product's stock-keeping unit.
    """
    invocations["lookup_stock"] += 1
    return f"sku {sku}: 12 in stock"


def _sleeper(name: str, seconds: float) -> Callable[[str], Any]:
    async def wait(label: str) -> str:
        start = time.perf_counter()
        await anyio.sleep(seconds)
        stamps.append((name, start, time.perf_counter()))
        invocations[name] += 1
        return f"{label}: waited {seconds} s"

    wait.__name__ = wait.__qualname__ = name
    wait.__doc__ = f"Wait {seconds} s.\n\nArgs:\n    label: what to wait for.\n"
    return wait


LOOKUPS = [lookup_user, lookup_order, lookup_stock]
WAITERS = [_sleeper(name, seconds) for name, seconds in SLEEPS.items()]


def _task(tools: Sequence[Callable[..., Any]], turns: int) -> str:
    names = ", ".join(t.__name__ for t in tools)
    return f"Check order 42 with {names}. [sim:tool_turns={turns}]"


# -- the clients, each run in a worker process -----------------------------------------


def _write_config(folder: Path, tools: Sequence[Callable[..., Any]]) -> Path:
    """A one-agent project listing ``tools``, written as users write one."""
    (folder / "agents").mkdir(parents=True)
    (folder / "agents" / f"{AGENT}.md").write_text(DEFINITION, encoding="utf-8")
    doc = {
        "defaults": {"model": MODEL, "max_tokens": MAX_TOKENS},
        "agents": {AGENT: {"file": f"agents/{AGENT}.md", "tools": [t.__name__ for t in tools]}},
    }
    path = folder / "claude.json"
    path.write_text(json.dumps(doc), encoding="utf-8")
    return path


async def engine_loops(
    url: str, tools: Sequence[Callable[..., Any]], turns: int, warmup: int, runs: int
) -> dict[str, Any]:
    """``warmup`` + ``runs`` loops of ``run_agent``; per measured loop: wall, CPU, events."""
    from claude_force_trio import Backend, ToolCalled, ToolFinished, load_config, open_engine

    events: list[Any] = []

    def keep(event: object) -> None:
        if isinstance(event, ToolCalled | ToolFinished):
            events.append(event)

    with tempfile.TemporaryDirectory() as home:
        os.environ["CFT_HOME"] = home  # nothing of a benchmark lands in the user's state
        config = load_config(_write_config(Path(home) / ".claude", tools))
        async with open_engine(
            config,
            backend=Backend.url(url, KEY),
            cache=False,
            memory=False,
            tools=tools,
            hooks=[keep],
        ) as engine:
            task = _task(tools, turns)
            loops = []
            for i in range(warmup + runs):
                events.clear()
                invocations.clear()
                stamps.clear()
                start, cpu = time.perf_counter(), time.process_time()
                result = await engine.run_agent(AGENT, task)
                wall, cpu = time.perf_counter() - start, time.process_time() - cpu
                if not result.ok:
                    raise RuntimeError(f"engine loop failed: {result.error}")
                if len(result.tool_calls) != sum(invocations.values()):
                    raise RuntimeError("engine: its tool_calls disagree with the tools' count")
                if i >= warmup:
                    loops.append(_loop(wall, cpu, result.turns, sum(invocations.values())))
                    loops[-1]["spans_s"] = _event_spans(events)
                    loops[-1]["tool_spans_s"] = _stamp_spans(turns)
    return {"loops": loops}


async def sdk_loops(
    url: str, tools: Sequence[Callable[..., Any]], turns: int, warmup: int, runs: int
) -> dict[str, Any]:
    """The same loops through the SDK's async tool runner."""
    import anthropic
    from anthropic import beta_async_tool

    runnable = [beta_async_tool(t) for t in tools]
    task = _task(tools, turns)
    loops = []
    async with anthropic.AsyncAnthropic(base_url=url, api_key=KEY, max_retries=0) as client:
        for i in range(warmup + runs):
            invocations.clear()
            stamps.clear()
            start, cpu = time.perf_counter(), time.process_time()
            runner = client.beta.messages.tool_runner(
                model=MODEL,
                max_tokens=MAX_TOKENS,
                system=DEFINITION,
                tools=runnable,
                messages=[{"role": "user", "content": task}],
            )
            replies = [message async for message in runner]
            wall, cpu = time.perf_counter() - start, time.process_time() - cpu
            if replies[-1].stop_reason != "end_turn":
                raise RuntimeError(f"sdk loop ended with {replies[-1].stop_reason}")
            if i >= warmup:
                loops.append(_loop(wall, cpu, len(replies), sum(invocations.values())))
                loops[-1]["tool_spans_s"] = _stamp_spans(turns)
    return {"loops": loops}


async def httpx_loops(
    url: str, tools: Sequence[Callable[..., Any]], turns: int, warmup: int, runs: int
) -> dict[str, Any]:
    """The floor: a hand-written loop on raw httpx (whole history each call, tools in turn)."""
    import httpx

    from claude_force_trio._tools._library import library_tool

    by_name = {t.__name__: t for t in tools}
    specs = [library_tool(t).spec for t in tools]
    definitions = [
        {"name": s.name, "description": s.description, "input_schema": s.input_schema}
        for s in specs
    ]
    headers = {"x-api-key": KEY, "anthropic-version": "2023-06-01"}
    base = {"model": MODEL, "max_tokens": MAX_TOKENS, "system": DEFINITION, "tools": definitions}
    loops = []
    async with httpx.AsyncClient(base_url=url, headers=headers) as client:
        for i in range(warmup + runs):
            invocations.clear()
            stamps.clear()
            start, cpu = time.perf_counter(), time.process_time()
            messages: list[dict[str, Any]] = [{"role": "user", "content": _task(tools, turns)}]
            calls = 0
            while True:
                response = await client.post("/v1/messages", json={**base, "messages": messages})
                reply = response.raise_for_status().json()
                calls += 1
                uses = [b for b in reply["content"] if b["type"] == "tool_use"]
                if reply["stop_reason"] != "tool_use":
                    break
                results = [
                    {
                        "type": "tool_result",
                        "tool_use_id": u["id"],
                        "content": await by_name[u["name"]](**u["input"]),
                    }
                    for u in uses
                ]
                messages += [
                    {"role": "assistant", "content": reply["content"]},
                    {"role": "user", "content": results},
                ]
            wall, cpu = time.perf_counter() - start, time.process_time() - cpu
            if i >= warmup:
                loops.append(_loop(wall, cpu, calls, sum(invocations.values())))
    return {"loops": loops}


def _loop(wall: float, cpu: float, calls: int, tool_calls: int) -> dict[str, Any]:
    return {"wall_s": wall, "cpu_s": cpu, "calls": calls, "tool_calls": tool_calls}


def _event_spans(events: Sequence[Any]) -> list[float]:
    """Per tool turn: its last ``ToolFinished`` minus its first ``ToolCalled``."""
    by_turn: dict[int, list[Any]] = {}
    for event in events:
        by_turn.setdefault(event.turn, []).append(event)
    spans = []
    for turn in sorted(by_turn):
        starts = [e.at for e in by_turn[turn] if type(e).__name__ == "ToolCalled"]
        ends = [e.at for e in by_turn[turn] if type(e).__name__ == "ToolFinished"]
        spans.append(max(ends) - min(starts))
    return spans


def _stamp_spans(turns: int) -> list[float]:
    """Per tool turn, from the tools' own stamps: last end minus first start (then cleared)."""
    if not stamps:
        return []
    ordered = sorted(stamps, key=lambda s: s[1])
    per = len(ordered) // turns
    spans = []
    for t in range(turns):
        chunk = ordered[t * per : (t + 1) * per]
        spans.append(max(s[2] for s in chunk) - min(s[1] for s in chunk))
    stamps.clear()
    return spans


def worker(client: str, scenario: str, url: str, runs: int) -> dict[str, Any]:
    """Run one client's loops in this (fresh) process."""
    tools, turns, warmup = (
        (LOOKUPS, TOOL_TURNS, WARMUP) if scenario == "overhead" else (WAITERS, SPAN_TURNS, 1)
    )
    if client == "sdk":
        return asyncio.run(sdk_loops(url, tools, turns, warmup, runs))
    if client == "httpx":
        import trio

        return trio.run(httpx_loops, url, tools, turns, warmup, runs)
    if client == "engine-asyncio":
        return asyncio.run(engine_loops(url, tools, turns, warmup, runs))
    import trio

    return trio.run(engine_loops, url, tools, turns, warmup, runs)
