"""Throughput at high concurrency: the engine vs raw httpx vs the official SDK.

Usage::

    python benchmarks/throughput.py [--calls N] [--levels 16,64,256,1024]
                                    [--latency-calls N] [--repeat R] [--pools] [--json]

Two scenarios, against the project's simulator running in a child process:

1. **0.5 s replies, 256 in flight** (``ttft_ms=500, tokens_per_s=0``): the
   ideal is 512 calls/s; the engine's target is ≥ 0.9 × that.
2. **zero-latency replies** at each requested concurrency (16, 64, 256, 1024),
   ``--calls`` calls each: the engine's target is ≥ 0.9 × its own best level,
   ahead of the SDK at every level, and no call lost at 1024.

The clients compared, each in a fresh process of its own (so one client's heap
and garbage collector do not tax another, and the simulator's CPU is not
the client's; "client CPU" is the client process's own ``process_time``):

(a) ``engine``: the examples' config, ``open_engine(max_concurrency=C,
    cache=False)`` + ``Engine.run_many`` over distinct tasks for the ``linter``
    agent (retries, breaker, adaptive limiter, events), under trio, as the
    CLI's ``run-many`` does, with CPython's collector as any host has it;
(a') ``engine-cft``: the same under the young-generation threshold ``cft``
    sets for its runs (``cli/_collector``: 32 per call in flight, so 32,768 at
    1,024), which only an application may set; the goals are judged on (a);
(b) ``httpx``: ``httpx.AsyncClient(limits=C)`` ``post`` + ``.json()`` over a
    ``trio.CapacityLimiter(C)``, under trio (httpx's own pool: httpcore 1.0);
(c) ``sdk``: ``anthropic.AsyncAnthropic()`` as ``benchmarks/ratelimit.py`` runs
    it (its defaults: 2 retries, its own pool), ``asyncio.gather`` over a
    semaphore of ``C``, under asyncio.

With ``--explain`` the zero-latency rounds also run two diagnostic variants
of (a), to show where a high level's shortfall goes (neither is a goal):
``engine-warm`` makes ``C`` calls on the same engine before the clock starts
(its pool holds ``C`` open connections, its heap has grown), and
``engine-nogc`` runs with CPython's collector switched off.

With ``--pools`` the engine also runs on the transports weighed for issue 9
(the engine unchanged, only its ``transport=`` differs): httpx's pool
(httpcore 1.0, what the engine used before), httpcore2's pool behind an httpx
adapter, and 16-connection shards of httpx pools.

In each round a client runs at every level back to back (the order of clients
and of levels rotates round by round), so a client's levels are compared over
seconds, not minutes: a shared machine drifts between fast and slow phases
minutes long, which would otherwise be read as one level being slower. Each
figure is the median of ``--repeat`` rounds, with the range; a level's share of
the best is taken within each round (that round's best level of the same
client) and its median over the rounds is what the goal is judged on (the
ratio of the pooled medians is printed beside it). Each client gets a fresh
simulator for each round and level, so none is answered by a server whose
request log (and heap) the clients before it filled.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from _common import markdown_table, rotated, simulator_process

KEY = "fake-key-bench-not-a-secret"
MODEL = "claude-sonnet-4-5"
EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
AGENT = "linter"
LATENCY_S = 0.5
LATENCY_CONCURRENCY = 256
TARGET_OF_IDEAL = 0.9
TARGET_OF_BEST = 0.9
CLIENTS = ("engine", "engine-cft", "httpx", "sdk")
POOLS = ("engine-httpcore1", "engine-httpcore2", "engine-sharded16")
EXPLAIN = ("engine-warm", "engine-nogc")

# -- the clients, each run in a worker process ----------------------------------------


def _engine_config() -> Any:
    """The examples' config, loaded as ``cft`` loads it; the response cache is off per run."""
    from claude_force_trio import load_config

    return load_config(EXAMPLES / ".claude" / "claude.json")


async def run_engine(
    url: str, calls: int, concurrency: int, pool: str | None, warm: bool = False
) -> dict[str, Any]:
    """``calls`` distinct tasks through ``Engine.run_many`` at ``concurrency``.

    The engine imports its HTTP client (httpx with it) when the first call
    needs one, so a run answered from the cache never loads it; here it is
    imported before the clock starts, as the other clients import theirs.
    With ``warm``, ``concurrency`` other calls go first, off the clock.
    """
    import trio

    import claude_force_trio._api._client  # noqa: F401 - see the docstring
    from claude_force_trio._backend import Backend
    from claude_force_trio._engine import open_engine

    transport = None if pool is None else _alternative_transport(pool, concurrency)
    async with open_engine(
        _engine_config(),
        backend=Backend.url(url, KEY),
        max_concurrency=concurrency,
        cache=False,
        memory=False,
        transport=transport,
    ) as engine:
        if warm:
            await engine.run_many([(AGENT, f"warm-up {i}") for i in range(concurrency)])
        jobs = [(AGENT, f"task {i}") for i in range(calls)]
        start, cpu = trio.current_time(), time.process_time()
        results = await engine.run_many(jobs)
        elapsed, cpu = trio.current_time() - start, time.process_time() - cpu
    errors: dict[str, int] = {}
    for result in results:
        if not result.ok:
            name = result.error_type or "unknown"
            errors[name] = errors.get(name, 0) + 1
    return {"elapsed_s": elapsed, "cpu_s": cpu, "lost": sum(errors.values()), "errors": errors}


async def run_httpx(url: str, calls: int, concurrency: int) -> dict[str, Any]:
    """Raw httpx on trio: one pooled client, ``post`` + ``.json()``, ``concurrency`` in flight."""
    import httpx
    import trio

    body = {"model": MODEL, "max_tokens": 64}
    headers = {"x-api-key": KEY, "anthropic-version": "2023-06-01"}
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    gate = trio.CapacityLimiter(concurrency)
    lost = 0

    async def one(client: httpx.AsyncClient, i: int) -> None:
        nonlocal lost
        async with gate:
            messages = [{"role": "user", "content": f"task {i}"}]
            try:
                response = await client.post(
                    url + "/v1/messages", json={**body, "messages": messages}, headers=headers
                )
                response.json()
            except httpx.HTTPError:
                lost += 1
                return
            lost += response.status_code != 200

    timeout = httpx.Timeout(5.0, read=600.0, write=600.0, pool=600.0)
    async with httpx.AsyncClient(limits=limits, timeout=timeout) as client:
        start, cpu = trio.current_time(), time.process_time()
        async with trio.open_nursery() as nursery:
            for i in range(calls):
                nursery.start_soon(one, client, i)
        elapsed, cpu = trio.current_time() - start, time.process_time() - cpu
    return {"elapsed_s": elapsed, "cpu_s": cpu, "lost": lost, "errors": {}}


def run_sdk(url: str, calls: int, concurrency: int) -> dict[str, Any]:
    """The official SDK as ``benchmarks/ratelimit.py`` runs it (its own defaults), timed."""
    from ratelimit import run_sdk as sdk_calls

    cpu = time.process_time()
    elapsed, lost = asyncio.run(sdk_calls(url, calls, concurrency))
    return {"elapsed_s": elapsed, "cpu_s": time.process_time() - cpu, "lost": lost, "errors": {}}


# -- the transports weighed for the engine (--pools) ----------------------------------


def _alternative_transport(pool: str, concurrency: int) -> Any:
    import httpx

    if pool == "engine-httpcore1":
        return httpx.AsyncHTTPTransport(
            limits=httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
        )
    if pool == "engine-httpcore2":
        return _httpcore2_transport(concurrency)
    if pool == "engine-sharded16":
        return _sharded_transport(concurrency, 16)
    raise SystemExit(f"unknown pool {pool!r}")


def _httpx_error(exc: Exception) -> Exception:
    import httpx

    for cls in type(exc).__mro__:
        mapped = getattr(httpx, cls.__name__, None)
        if isinstance(mapped, type) and issubclass(mapped, httpx.TransportError):
            return mapped(str(exc))
    return exc


def _httpcore2_transport(concurrency: int) -> Any:
    """httpcore2's ``AsyncConnectionPool`` behind an httpx transport adapter."""
    import httpcore2
    import httpx

    class Stream(httpx.AsyncByteStream):
        def __init__(self, stream: Any) -> None:
            self._stream = stream

        async def __aiter__(self) -> Any:
            try:
                async for chunk in self._stream:
                    yield chunk
            except Exception as exc:
                raise _httpx_error(exc) from exc

        async def aclose(self) -> None:
            await self._stream.aclose()

    class Transport(httpx.AsyncBaseTransport):
        def __init__(self) -> None:
            self._pool = httpcore2.AsyncConnectionPool(
                max_connections=concurrency, max_keepalive_connections=concurrency
            )

        async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
            url = request.url
            core = httpcore2.Request(
                method=request.method,
                url=httpcore2.URL(
                    scheme=url.raw_scheme, host=url.raw_host, port=url.port, target=url.raw_path
                ),
                headers=request.headers.raw,
                content=request.stream,
                extensions=request.extensions,
            )
            try:
                response = await self._pool.handle_async_request(core)
            except Exception as exc:
                raise _httpx_error(exc) from exc
            return httpx.Response(
                status_code=response.status,
                headers=response.headers,
                stream=Stream(response.stream),
                extensions=response.extensions,
            )

        async def aclose(self) -> None:
            await self._pool.aclose()

    return Transport()


def _sharded_transport(concurrency: int, shard: int) -> Any:
    """``ceil(C / shard)`` httpx pools of ``shard`` connections; each request to the least busy."""
    import httpx

    class ShardStream(httpx.AsyncByteStream):
        def __init__(self, stream: Any, load: list[int], index: int) -> None:
            self._stream, self._load, self._index, self._open = stream, load, index, True

        async def __aiter__(self) -> Any:
            async for chunk in self._stream:
                yield chunk

        async def aclose(self) -> None:
            if self._open:
                self._open = False
                self._load[self._index] -= 1
            await self._stream.aclose()

    class Transport(httpx.AsyncBaseTransport):
        def __init__(self) -> None:
            count = -(-concurrency // shard)
            limits = httpx.Limits(max_connections=shard, max_keepalive_connections=shard)
            self._shards = [httpx.AsyncHTTPTransport(limits=limits) for _ in range(count)]
            self._load = [0] * count

        async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
            index = min(range(len(self._shards)), key=self._load.__getitem__)
            self._load[index] += 1
            try:
                response = await self._shards[index].handle_async_request(request)
            except BaseException:
                self._load[index] -= 1
                raise
            return httpx.Response(
                status_code=response.status_code,
                headers=response.headers,
                stream=ShardStream(response.stream, self._load, index),
                extensions=response.extensions,
            )

        async def aclose(self) -> None:
            for transport in self._shards:
                await transport.aclose()

    return Transport()


def worker(client: str, url: str, calls: int, concurrency: int) -> dict[str, Any]:
    """Run one client once, in this (fresh) process."""
    if client == "sdk":
        return run_sdk(url, calls, concurrency)
    import trio

    if client == "httpx":
        return trio.run(run_httpx, url, calls, concurrency)
    if client == "engine-cft":
        from claude_force_trio.cli._collector import collector_for

        with collector_for(concurrency):
            return trio.run(run_engine, url, calls, concurrency, None)
    if client == "engine-warm":
        return trio.run(run_engine, url, calls, concurrency, None, True)
    if client == "engine-nogc":
        gc.disable()
        return trio.run(run_engine, url, calls, concurrency, None)
    return trio.run(run_engine, url, calls, concurrency, None if client == "engine" else client)


# -- the driver --------------------------------------------------------------------------


def measure(url: str, client: str, calls: int, concurrency: int) -> dict[str, Any]:
    """Run one client in a fresh worker process; add calls/s and CPU per call."""
    done = subprocess.run(
        [sys.executable, __file__, "--worker", client, "--url", url, *_sizes(calls, concurrency)],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"{client} worker failed:\n{done.stderr[-2000:]}")
    row: dict[str, Any] = json.loads(done.stdout)
    row.update(
        client=client,
        concurrency=concurrency,
        calls=calls,
        calls_per_s=calls / row["elapsed_s"],
        cpu_ms_per_call=1000 * row["cpu_s"] / calls,
    )
    return row


def _sizes(calls: int, concurrency: int) -> list[str]:
    return ["--calls", str(calls), "--concurrency", str(concurrency)]


def rounds(
    latency_ms: float, clients: Sequence[str], levels: Sequence[int], calls: int, repeat: int
) -> list[dict[str, Any]]:
    """Every client at every level, ``repeat`` times: each client's levels back to back.

    The order of clients and of levels rotates round by round. Each client gets
    a fresh simulator, so none answers with a request log (and heap) the
    clients before it filled.
    """
    rows = []
    for r in range(repeat):
        for client in rotated(clients, r):
            for level in rotated(levels, r):
                with simulator_process(ttft_ms=latency_ms, tokens_per_s=0) as url:
                    row = measure(url, client, calls, level)
                print(
                    f"  round {r + 1}: {client:>16} at {level:>4}: "
                    f"{row['calls_per_s']:7.1f} calls/s, lost {row['lost']}",
                    file=sys.stderr,
                    flush=True,
                )
                rows.append({**row, "round": r})
    return rows


def paired_shares(
    rows: list[dict[str, Any]], client: str, levels: Sequence[int]
) -> dict[int, float]:
    """Per level: the median over the rounds of its calls/s ÷ the best level's in the same round."""
    rates = {
        (r["round"], r["concurrency"]): r["calls_per_s"] for r in rows if r["client"] == client
    }
    tops = {rnd: max(rates[rnd, n] for n in levels) for rnd, _ in rates}
    return {n: statistics.median(rates[rnd, n] / top for rnd, top in tops.items()) for n in levels}


def summary(rows: list[dict[str, Any]], client: str, level: int) -> dict[str, Any]:
    """Median, range, losses and CPU of one client at one level over the rounds."""
    mine = [r for r in rows if r["client"] == client and r["concurrency"] == level]
    rates = [r["calls_per_s"] for r in mine]
    return {
        "median": statistics.median(rates),
        "low": min(rates),
        "high": max(rates),
        "lost": sum(r["lost"] for r in mine),
        "errors": _merged([r["errors"] for r in mine]),
        "cpu_ms": statistics.median(r["cpu_ms_per_call"] for r in mine),
        "runs": len(mine),
    }


def _merged(dicts: list[dict[str, int]]) -> dict[str, int]:
    total: dict[str, int] = {}
    for d in dicts:
        for name, count in d.items():
            total[name] = total.get(name, 0) + count
    return total


def _rate(s: dict[str, Any]) -> str:
    return f"{s['median']:.0f} ({s['low']:.0f}–{s['high']:.0f})"


def main(argv: list[str] | None = None) -> int:
    """Run both scenarios and print the tables (or one JSON document)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--calls", type=int, default=2000, help="calls per zero-latency run")
    parser.add_argument("--levels", default="16,64,256,1024", help="requested concurrencies")
    parser.add_argument("--latency-calls", type=int, default=2048, help="calls per 0.5 s run")
    parser.add_argument("--repeat", type=int, default=3, help="rounds (median and range)")
    parser.add_argument("--pools", action="store_true", help="also the engine on other pools")
    parser.add_argument(
        "--explain", action="store_true", help="also engine-warm and engine-nogc (zero latency)"
    )
    parser.add_argument("--json", action="store_true", help="print one JSON document")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--concurrency", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        print(json.dumps(worker(args.worker, args.url, args.calls, args.concurrency)))
        return 0

    levels = [int(x) for x in args.levels.split(",")]
    clients = [*CLIENTS, *(POOLS if args.pools else ())]
    explain = EXPLAIN if args.explain else ()
    fast_clients = [*clients, *explain]
    print("0.5 s replies, 256 in flight…", file=sys.stderr)
    slow = rounds(LATENCY_S * 1000, clients, [LATENCY_CONCURRENCY], args.latency_calls, args.repeat)
    print("zero-latency replies…", file=sys.stderr)
    fast = rounds(0, fast_clients, levels, args.calls, args.repeat)

    ideal = LATENCY_CONCURRENCY / LATENCY_S
    slow_s = {c: summary(slow, c, LATENCY_CONCURRENCY) for c in clients}
    fast_s = {(c, n): summary(fast, c, n) for c in fast_clients for n in levels}
    tops = [
        (c, max(fast_s[c, n]["median"] for n in levels)) for c in ("engine", "engine-cft", *explain)
    ]
    best, best_cft = tops[0][1], tops[1][1]
    share = {  # pooled: of the same client's best level's median
        (c, n): fast_s[c, n]["median"] / top for c, top in tops for n in levels
    }
    paired = {
        (c, n): share_n for c, _ in tops for n, share_n in paired_shares(fast, c, levels).items()
    }
    goals = {
        "latency_of_ideal": slow_s["engine"]["median"] / ideal >= TARGET_OF_IDEAL,
        "every_level_of_best": all(paired["engine", n] >= TARGET_OF_BEST for n in levels),
        "ahead_of_sdk": slow_s["engine"]["median"] > slow_s["sdk"]["median"]
        and all(fast_s["engine", n]["median"] > fast_s["sdk", n]["median"] for n in levels),
        "none_lost_at_max": fast_s["engine", max(levels)]["lost"] == 0,
    }
    goals["every_level_of_best_as_cft_runs"] = all(  # not a goal of the library: see (a')
        paired["engine-cft", n] >= TARGET_OF_BEST for n in levels
    )
    if args.json:
        doc = {
            "benchmark": "throughput",
            "repeat": args.repeat,
            "latency": {c: slow_s[c] for c in clients},
            "zero_latency": {f"{c}@{n}": fast_s[c, n] for c in fast_clients for n in levels},
            "engine_best_calls_per_s": best,
            "engine_cft_best_calls_per_s": best_cft,
            "share_of_best": {
                f"{c}@{n}": {"paired": paired[c, n], "pooled": share[c, n]}
                for c, _ in tops
                for n in levels
            },
            "goals_met": goals,
            "runs": slow + fast,
        }
        print(json.dumps(doc, indent=2))
        return 0

    print(
        f"{args.latency_calls} calls of {LATENCY_S:g} s at {LATENCY_CONCURRENCY} in flight "
        f"(ideal {ideal:.0f} calls/s); median (range) of {args.repeat} rounds\n"
    )
    print(
        markdown_table(
            ["client", "calls/s", "÷ ideal", "lost", "client CPU ms/call"],
            [
                [
                    c,
                    _rate(slow_s[c]),
                    f"{slow_s[c]['median'] / ideal:.2f}",
                    slow_s[c]["lost"],
                    f"{slow_s[c]['cpu_ms']:.2f}",
                ]
                for c in clients
            ],
        )
    )
    print(
        f"\n{args.calls} zero-latency calls per run at each requested concurrency; "
        f"calls/s, median (range) of {args.repeat} rounds\n"
    )
    print(
        markdown_table(
            [
                "concurrency",
                *fast_clients,
                *(f"{c} ÷ best, paired (pooled)" for c, _ in tops),
                "engine ÷ sdk",
                "engine lost",
            ],
            [
                [
                    n,
                    *(_rate(fast_s[c, n]) for c in fast_clients),
                    *(f"{paired[c, n]:.2f} ({share[c, n]:.2f})" for c, _ in tops),
                    f"{fast_s['engine', n]['median'] / fast_s['sdk', n]['median']:.2f}",
                    fast_s["engine", n]["lost"],
                ]
                for n in levels
            ],
        )
    )
    print("\nclient CPU ms per call (the client process's own; median)\n")
    print(
        markdown_table(
            ["concurrency", *fast_clients],
            [[n, *(f"{fast_s[c, n]['cpu_ms']:.2f}" for c in fast_clients)] for n in levels],
        )
    )
    print()
    for name, ok in goals.items():
        print(f"{name}: {'met' if ok else 'NOT met'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
