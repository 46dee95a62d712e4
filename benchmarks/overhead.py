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
    asyncio (the SDK's own loop).

Calls are sequential; (a) and (b) alternate call by call, and trio rounds
alternate with SDK rounds, so drift (CPU frequency, a noisy neighbour) hits
all three alike. Each round starts with unmeasured warm-up calls that open the
connection. Targets: (a) ≤ 1.15 × (b) and (a) ≤ 0.5 × (c).
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
TARGET_VS_HTTPX = 1.15
TARGET_VS_SDK = 0.5


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


async def sdk_round(url: str, calls: int) -> tuple[list[int], list[int]]:
    """One round of (c) and the asyncio floor, alternating call by call; per-call ns."""
    sdk_ns: list[int] = []
    floor_ns: list[int] = []
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

    async with anthropic.AsyncAnthropic(base_url=url, api_key=KEY, max_retries=0) as sdk:

        async def via_sdk() -> None:
            await sdk.messages.create(**BODY)

        for _ in range(WARMUP):
            await via_sdk()
            await via_socket()
        for i in range(calls):
            pair = ((via_sdk, sdk_ns), (via_socket, floor_ns))
            for fn, samples in pair if i % 2 else pair[::-1]:
                start = now_ns()
                await fn()
                samples.append(now_ns() - start)
    writer.close()
    await writer.wait_closed()
    return sdk_ns, floor_ns


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

    def run_sdk_round() -> None:
        c, f = asyncio.run(sdk_round(url, per_round))
        sdk_ns.extend(c)
        asyncio_floor_ns.extend(f)

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
        micro = json_micro(url)

    med = {
        "client": median_us(client_ns),
        "httpx": median_us(httpx_ns),
        "sdk": median_us(sdk_ns),
        "trio_floor": median_us(trio_floor_ns),
        "asyncio_floor": median_us(asyncio_floor_ns),
    }
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
            "targets": {"client_over_httpx": TARGET_VS_HTTPX, "client_over_sdk": TARGET_VS_SDK},
            "pass": {"client_over_httpx": ok_httpx, "client_over_sdk": ok_sdk},
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
