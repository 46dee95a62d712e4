"""Per-call overhead of ``MessagesClient.create`` vs raw httpx vs the official SDK.

Usage::

    python benchmarks/overhead.py [--calls N] [--rounds R] [--json]

All three make the same non-streaming ``POST /v1/messages`` against one
zero-latency simulator (``ttft_ms=0, tokens_per_s=0``) running in a child
process, so what differs is only the client-side work per call:

(a) ``MessagesClient.create(body)`` under trio;
(b) ``AsyncClient.post(url, json=body, headers=...)`` + ``response.json()`` on
    the very same httpx client (same pool, same headers), under trio;
(c) ``anthropic.AsyncAnthropic(max_retries=0).messages.create(...)`` under
    asyncio (the SDK's own loop);
(d) ``MessagesClient.create(body)`` under asyncio, beside (c).

Calls are sequential; the variants of one loop alternate call by call, and trio
rounds alternate with asyncio rounds, so drift (CPU frequency, a noisy
neighbour) hits them all alike. Each round starts with unmeasured warm-up calls
that open the connection. A last pass runs 16 calls in flight at a time, (a) on
trio and (c) on asyncio, and compares wall time per call. Targets: (a) ≤ 1.0 ×
(b); (a) ≤ 0.5 × (c) sequentially and ≤ 0.9 × (c) at 16 in flight; (d) ≤ 1.2 × (a).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import timeit
from typing import Any

import anthropic
import httpx
import trio
from _common import markdown_table, median_us, now_ns, simulator_process

from claude_force_trio._api._client import MessagesClient

KEY = "fake-key-bench-not-a-secret"
BODY: dict[str, Any] = {
    "model": "claude-sonnet-4-6",
    "max_tokens": 64,
    "system": "You are code-reviewer.",
    "messages": [{"role": "user", "content": "Review the retry loop in _client.py"}],
}
WARMUP = 20
TARGET_VS_HTTPX = 1.0
TARGET_VS_SDK = 0.5
TARGET_VS_SDK_CONCURRENT = 0.9
TARGET_ASYNCIO_VS_TRIO = 1.2
IN_FLIGHT = 16


def raw_request(url: str) -> tuple[str, int, bytes]:
    """Host, port and the pre-encoded bytes of the benchmark request, for the floors."""
    host, port = url.removeprefix("http://").rsplit(":", 1)
    body = json.dumps(BODY, separators=(",", ":")).encode()
    head = (
        f"POST /v1/messages HTTP/1.1\r\nhost: {host}:{port}\r\nx-api-key: {KEY}\r\n"
        f"anthropic-version: 2023-06-01\r\ncontent-type: application/json\r\n"
        f"content-length: {len(body)}\r\n\r\n"
    )
    return host, int(port), head.encode() + body


def body_end(buf: bytes) -> int:
    """Where a Content-Length-framed response in ``buf`` ends, or -1 if not yet known."""
    sep = buf.find(b"\r\n\r\n")
    if sep == -1:
        return -1
    for line in buf[:sep].split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return sep + 4 + int(value)
    raise RuntimeError("floor client needs a Content-Length response")


async def trio_floor_call(stream: trio.SocketStream, request: bytes) -> None:
    """Send pre-encoded bytes and read one whole response: no HTTP library at all."""
    await stream.send_all(request)
    buf = b""
    end = -1
    while end == -1 or len(buf) < end:
        chunk = await stream.receive_some(65536)
        if not chunk:
            raise RuntimeError("server closed the connection")
        buf += chunk
        end = body_end(buf)


async def trio_round(url: str, calls: int) -> tuple[list[int], list[int], list[int]]:
    """One round of (a), (b) and the trio floor, rotating call by call; per-call ns."""
    client_ns: list[int] = []
    httpx_ns: list[int] = []
    floor_ns: list[int] = []
    host, port, request = raw_request(url)
    stream = await trio.open_tcp_stream(host, port)
    async with stream, MessagesClient(base_url=url, api_key=KEY) as client:
        http: httpx.AsyncClient = client._http  # the same pool, on purpose
        headers = client._json_headers  # the same headers
        post_url = url + "/v1/messages"

        async def via_client() -> None:
            await client.create(BODY)

        async def via_httpx() -> None:
            response = await http.post(post_url, json=BODY, headers=headers)
            if response.status_code != 200:
                raise RuntimeError(f"raw httpx got {response.status_code}")
            response.json()

        async def via_socket() -> None:
            await trio_floor_call(stream, request)

        variants = [(via_client, client_ns), (via_httpx, httpx_ns), (via_socket, floor_ns)]
        for _ in range(WARMUP):
            for fn, _samples in variants:
                await fn()
        for i in range(calls):
            for j in range(3):
                fn, samples = variants[(i + j) % 3]
                start = now_ns()
                await fn()
                samples.append(now_ns() - start)
    return client_ns, httpx_ns, floor_ns


async def sdk_round(url: str, calls: int) -> tuple[list[int], list[int], list[int]]:
    """One round of (c), (d) and the asyncio floor, rotating call by call; per-call ns."""
    sdk_ns: list[int] = []
    floor_ns: list[int] = []
    ours_ns: list[int] = []
    host, port, request = raw_request(url)
    reader, writer = await asyncio.open_connection(host, port)

    async def via_socket() -> None:
        writer.write(request)
        await writer.drain()
        buf = b""
        end = -1
        while end == -1 or len(buf) < end:
            chunk = await reader.read(65536)
            if not chunk:
                raise RuntimeError("server closed the connection")
            buf += chunk
            end = body_end(buf)

    async with (
        anthropic.AsyncAnthropic(base_url=url, api_key=KEY, max_retries=0) as sdk,
        MessagesClient(base_url=url, api_key=KEY) as client,
    ):

        async def via_sdk() -> None:
            await sdk.messages.create(**BODY)

        async def via_client() -> None:
            await client.create(BODY)

        variants = [(via_sdk, sdk_ns), (via_socket, floor_ns), (via_client, ours_ns)]
        for _ in range(WARMUP):
            for fn, _samples in variants:
                await fn()
        for i in range(calls):
            for j in range(3):
                fn, samples = variants[(i + j) % 3]
                start = now_ns()
                await fn()
                samples.append(now_ns() - start)
    writer.close()
    await writer.wait_closed()
    return sdk_ns, floor_ns, ours_ns


async def trio_concurrent(url: str, calls: int) -> float:
    """Wall seconds for ``calls`` calls of (a), :data:`IN_FLIGHT` at a time, on trio."""
    async with MessagesClient(base_url=url, api_key=KEY, max_connections=IN_FLIGHT) as client:
        for _ in range(WARMUP):
            await client.create(BODY)

        async def worker(n: int) -> None:
            for _ in range(n):
                await client.create(BODY)

        start = now_ns()
        async with trio.open_nursery() as nursery:
            for _ in range(IN_FLIGHT):
                nursery.start_soon(worker, calls // IN_FLIGHT)
        return (now_ns() - start) / 1e9


async def sdk_concurrent(url: str, calls: int) -> float:
    """Wall seconds for ``calls`` calls of (c), :data:`IN_FLIGHT` at a time, on asyncio."""
    async with anthropic.AsyncAnthropic(base_url=url, api_key=KEY, max_retries=0) as sdk:
        for _ in range(WARMUP):
            await sdk.messages.create(**BODY)

        async def worker(n: int) -> None:
            for _ in range(n):
                await sdk.messages.create(**BODY)

        start = now_ns()
        await asyncio.gather(*(worker(calls // IN_FLIGHT) for _ in range(IN_FLIGHT)))
        return (now_ns() - start) / 1e9


def json_micro(url: str) -> dict[str, float]:
    """Encode/decode costs (µs) of the JSON choices the client makes, on a real reply."""
    with httpx.Client() as http:
        response = http.post(
            url + "/v1/messages",
            json=BODY,
            headers={"x-api-key": KEY, "anthropic-version": "2023-06-01"},
        )
        response.raise_for_status()
    content = response.content
    compact = json.JSONEncoder(separators=(",", ":")).encode
    n = 20000

    def per_call(fn: Any) -> float:
        return min(timeit.repeat(fn, number=n, repeat=3)) / n * 1e6

    return {
        "json.dumps(body)": per_call(lambda: json.dumps(BODY)),
        'json.dumps(body, separators=(",",":"))': per_call(
            lambda: json.dumps(BODY, separators=(",", ":"))
        ),
        "JSONEncoder(separators).encode (used)": per_call(lambda: compact(BODY)),
        "response.json()": per_call(response.json),
        "json.loads(response.content) (used)": per_call(lambda: json.loads(content)),
    }


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print a markdown table (or one JSON document)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--calls", type=int, default=2000, help="measured calls per variant")
    parser.add_argument("--rounds", type=int, default=10, help="interleaved rounds")
    parser.add_argument("--json", action="store_true", help="print one JSON document")
    args = parser.parse_args(argv)
    per_round = max(1, args.calls // args.rounds)

    client_ns: list[int] = []
    httpx_ns: list[int] = []
    trio_floor_ns: list[int] = []
    sdk_ns: list[int] = []
    asyncio_floor_ns: list[int] = []
    asyncio_client_ns: list[int] = []
    concurrent: dict[str, list[float]] = {"client": [], "sdk": []}

    def run_sdk_round() -> None:
        c, f, d = asyncio.run(sdk_round(url, per_round))
        sdk_ns.extend(c)
        asyncio_floor_ns.extend(f)
        asyncio_client_ns.extend(d)

    with simulator_process(ttft_ms=0, tokens_per_s=0) as url:
        for r in range(args.rounds):
            # Alternate which loop goes first, so neither always runs on a cold cache.
            if r % 2:
                run_sdk_round()
            a, b, f = trio.run(trio_round, url, per_round)
            client_ns += a
            httpx_ns += b
            trio_floor_ns += f
            if not r % 2:
                run_sdk_round()
        for _ in range(3):
            concurrent["client"].append(trio.run(trio_concurrent, url, args.calls))
            concurrent["sdk"].append(asyncio.run(sdk_concurrent(url, args.calls)))
        micro = json_micro(url)

    med = {
        "client": median_us(client_ns),
        "httpx": median_us(httpx_ns),
        "sdk": median_us(sdk_ns),
        "trio_floor": median_us(trio_floor_ns),
        "asyncio_floor": median_us(asyncio_floor_ns),
        "client_asyncio": median_us(asyncio_client_ns),
    }
    per_call_16 = {name: sorted(walls)[1] / args.calls * 1e6 for name, walls in concurrent.items()}
    vs_sdk_16 = per_call_16["client"] / per_call_16["sdk"]
    asyncio_vs_trio = med["client_asyncio"] / med["client"]
    vs_httpx = med["client"] / med["httpx"]
    vs_sdk = med["client"] / med["sdk"]
    ok_httpx = vs_httpx <= TARGET_VS_HTTPX
    ok_sdk = vs_sdk <= TARGET_VS_SDK
    # Client-side cost only: each median minus its own loop's no-library floor
    # (socket + simulator). The simulator's time is the same for all three and
    # otherwise dilutes every ratio towards 1.
    own = {
        "client": med["client"] - med["trio_floor"],
        "httpx": med["httpx"] - med["trio_floor"],
        "sdk": med["sdk"] - med["asyncio_floor"],
    }
    net_vs_httpx = own["client"] / own["httpx"]
    net_vs_sdk = own["client"] / own["sdk"]

    if args.json:
        doc = {
            "benchmark": "overhead",
            "calls_per_variant": len(client_ns),
            "rounds": args.rounds,
            "median_us": med,
            "client_side_us": own,
            "ratio_client_over_httpx": vs_httpx,
            "ratio_client_over_sdk": vs_sdk,
            "client_side_ratio_over_httpx": net_vs_httpx,
            "client_side_ratio_over_sdk": net_vs_sdk,
            "per_call_us_at_16_in_flight": per_call_16,
            "ratio_client_over_sdk_at_16": vs_sdk_16,
            "ratio_asyncio_over_trio": asyncio_vs_trio,
            "targets": {
                "client_over_httpx": TARGET_VS_HTTPX,
                "client_over_sdk": TARGET_VS_SDK,
                "client_over_sdk_at_16": TARGET_VS_SDK_CONCURRENT,
                "asyncio_over_trio": TARGET_ASYNCIO_VS_TRIO,
            },
            "pass": {
                "client_over_httpx": ok_httpx,
                "client_over_sdk": ok_sdk,
                "client_over_sdk_at_16": vs_sdk_16 <= TARGET_VS_SDK_CONCURRENT,
                "asyncio_over_trio": asyncio_vs_trio <= TARGET_ASYNCIO_VS_TRIO,
            },
            "json_micro_us": micro,
            "versions": {
                "python": sys.version.split()[0],
                "httpx": httpx.__version__,
                "anthropic": anthropic.__version__,
                "trio": trio.__version__,
            },
        }
        print(json.dumps(doc, indent=2))
        return 0

    print(
        f"Per-call overhead, {len(client_ns)} sequential non-streaming calls per variant, "
        f"{args.rounds} interleaved rounds, zero-latency simulator in a child process.\n"
    )
    print(
        markdown_table(
            ["variant", "median µs/call", "client-side µs (− floor)"],
            [
                [
                    "(a) MessagesClient.create (trio)",
                    f"{med['client']:.1f}",
                    f"{own['client']:.1f}",
                ],
                [
                    "(b) raw httpx post + response.json() (trio)",
                    f"{med['httpx']:.1f}",
                    f"{own['httpx']:.1f}",
                ],
                [
                    "(c) anthropic.AsyncAnthropic (asyncio)",
                    f"{med['sdk']:.1f}",
                    f"{own['sdk']:.1f}",
                ],
                [
                    "(d) MessagesClient.create (asyncio)",
                    f"{med['client_asyncio']:.1f}",
                    f"{med['client_asyncio'] - med['asyncio_floor']:.1f}",
                ],
                ["floor: raw trio socket, no HTTP library", f"{med['trio_floor']:.1f}", "0"],
                ["floor: raw asyncio socket, no HTTP library", f"{med['asyncio_floor']:.1f}", "0"],
            ],
        )
    )
    print()
    print(
        markdown_table(
            ["ratio", "whole call", "client-side only", "target", "result (whole call)"],
            [
                [
                    "client ÷ httpx",
                    f"{vs_httpx:.3f}",
                    f"{net_vs_httpx:.3f}",
                    f"≤ {TARGET_VS_HTTPX}",
                    _verdict(ok_httpx),
                ],
                [
                    "client ÷ SDK",
                    f"{vs_sdk:.3f}",
                    f"{net_vs_sdk:.3f}",
                    f"≤ {TARGET_VS_SDK}",
                    _verdict(ok_sdk),
                ],
                [
                    f"client ÷ SDK, {IN_FLIGHT} in flight (wall per call)",
                    f"{vs_sdk_16:.3f}",
                    "",
                    f"≤ {TARGET_VS_SDK_CONCURRENT}",
                    _verdict(vs_sdk_16 <= TARGET_VS_SDK_CONCURRENT),
                ],
                [
                    "client on asyncio ÷ client on trio",
                    f"{asyncio_vs_trio:.3f}",
                    "",
                    f"≤ {TARGET_ASYNCIO_VS_TRIO}",
                    _verdict(asyncio_vs_trio <= TARGET_ASYNCIO_VS_TRIO),
                ],
            ],
        )
    )
    print()
    print(
        markdown_table(
            ["JSON step", "µs"],
            [[name, f"{us:.2f}"] for name, us in micro.items()],
        )
    )
    return 0


def _verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


if __name__ == "__main__":
    raise SystemExit(main())
