"""Tests of ``MessagesClient``: mocked transports first, then loopback against the simulator."""

from __future__ import annotations

import gc
import gzip
import json
import traceback
import zlib
from collections.abc import AsyncIterator, Callable, Coroutine
from typing import Any

import anyio
import httpx
import pytest
import trio
import trio.testing

from claude_force_trio._api import _client as _client
from claude_force_trio._api import _wire as _wire
from claude_force_trio._api._client import MessagesClient
from claude_force_trio._errors import (
    APIConnectionError,
    APIResponseError,
    APIStatusError,
    APITimeoutError,
    AuthenticationError,
    BadRequestError,
    InternalServerError,
    NotFoundError,
    OverloadedError,
    PermissionDeniedError,
    RateLimitError,
    RequestTooLargeError,
    StreamError,
)
from claude_force_trio._types import Usage
from claude_force_trio.simulator import Fault, Simulator, open_simulator

KEY = "fake-key-test-SECRET-0123456789abcdef"
BODY: dict[str, Any] = {
    "model": "claude-sonnet-4-5",
    "max_tokens": 64,
    "messages": [{"role": "user", "content": "héllo"}],
}
MESSAGE = {
    "id": "msg_01",
    "type": "message",
    "role": "assistant",
    "model": "claude-sonnet-4-5",
    "content": [
        {"type": "text", "text": "Hello, "},
        {"type": "tool_use", "id": "t1", "name": "x", "input": {}},
        {"type": "text", "text": "world"},
    ],
    "stop_reason": "end_turn",
    "stop_sequence": None,
    "usage": {
        "input_tokens": 12,
        "output_tokens": 5,
        "cache_creation_input_tokens": 100,
        "cache_read_input_tokens": 200,
    },
}
RESPONSE_HEADERS = {
    "request-id": "req_123",
    "retry-after": "3",
    "anthropic-ratelimit-requests-remaining": "49",
    "Anthropic-RateLimit-Tokens-Reset": "2026-01-01T00:00:00Z",
    "x-should-retry": "true",
    "server": "mock",
    "set-cookie": "a=b",
}

Handler = Callable[[httpx.Request], Coroutine[None, None, httpx.Response]]


def make_client(handler: Handler, **kwargs: Any) -> MessagesClient:
    """A client on a mock transport, with the test key unless overridden."""
    kwargs.setdefault("api_key", KEY)
    return MessagesClient(
        base_url="https://api.test/", transport=httpx.MockTransport(handler), **kwargs
    )


def json_handler(
    seen: list[httpx.Request] | None = None, status: int = 200, payload: Any = MESSAGE
) -> Handler:
    """A handler answering ``payload`` as JSON, recording each request in ``seen``."""

    async def handler(request: httpx.Request) -> httpx.Response:
        if seen is not None:
            seen.append(request)
        return httpx.Response(status, json=payload, headers=RESPONSE_HEADERS)

    return handler


def sse(event: str, data: dict[str, Any]) -> bytes:
    """One SSE event as the API frames it."""
    return f"event: {event}\ndata: {json.dumps(data)}\n\n".encode()


def stream_events(
    texts: list[str], *, final_usage: dict[str, Any] | None = None, stop: bool = True
) -> list[bytes]:
    """The event sequence of a streamed message whose text deltas are ``texts``."""
    start_usage = {
        "input_tokens": 30,
        "output_tokens": 1,
        "cache_creation_input_tokens": 7,
        "cache_read_input_tokens": 9,
    }
    message = {**MESSAGE, "content": [], "stop_reason": None, "usage": start_usage}
    events = [
        sse("message_start", {"type": "message_start", "message": message}),
        sse(
            "content_block_start",
            {
                "type": "content_block_start",
                "index": 0,
                "content_block": {"type": "text", "text": ""},
            },
        ),
        sse("ping", {"type": "ping"}),
    ]
    for text in texts:
        delta = {"type": "text_delta", "text": text}
        events.append(
            sse("content_block_delta", {"type": "content_block_delta", "index": 0, "delta": delta})
        )
    events += [
        sse(
            "content_block_delta",
            {
                "type": "content_block_delta",
                "index": 1,
                "delta": {"type": "input_json_delta", "partial_json": "{"},
            },
        ),
        sse("content_block_stop", {"type": "content_block_stop", "index": 0}),
        sse(
            "message_delta",
            {
                "type": "message_delta",
                "delta": {"stop_reason": "max_tokens", "stop_sequence": None},
                "usage": final_usage or {"output_tokens": 42},
            },
        ),
    ]
    if stop:
        events.append(sse("message_stop", {"type": "message_stop"}))
    return events


def sse_handler(
    chunks: list[bytes],
    *,
    seen: list[httpx.Request] | None = None,
    delay: float = 0.0,
    fail_with: Exception | None = None,
) -> Handler:
    """A handler streaming ``chunks`` (sleeping ``delay`` before each), then maybe failing."""

    async def body() -> AsyncIterator[bytes]:
        for chunk in chunks:
            await trio.sleep(delay)
            yield chunk
        if fail_with is not None:
            raise fail_with

    async def handler(request: httpx.Request) -> httpx.Response:
        if seen is not None:
            seen.append(request)
        await trio.sleep(delay)
        return httpx.Response(
            200,
            headers={"content-type": "text/event-stream", "request-id": "req_s"},
            content=body(),
        )

    return handler


def chain_text(exc: BaseException) -> str:
    """Everything an exception and its whole cause/context chain could print."""
    parts = ["".join(traceback.format_exception(exc))]
    seen: set[int] = set()
    stack: list[BaseException] = [exc]
    while stack:
        err = stack.pop()
        if id(err) in seen:
            continue
        seen.add(id(err))
        parts += [str(err), repr(err), repr(err.args), repr(vars(err))]
        stack += [e for e in (err.__cause__, err.__context__) if e is not None]
    return "\n".join(parts)


# -- JSON ---------------------------------------------------------------------------------


async def test_json_success() -> None:
    """A JSON Message becomes a MessageResult: text joined, usage, stop reason, ids, headers."""
    seen: list[httpx.Request] = []
    async with make_client(json_handler(seen)) as client:
        result = await client.create(BODY)
    assert result.id == "msg_01"
    assert result.model == "claude-sonnet-4-5"
    assert result.text == "Hello, world"
    assert result.stop_reason == "end_turn"
    assert result.stop_sequence is None
    assert result.usage == Usage(12, 5, 100, 200)
    assert result.request_id == "req_123"
    assert dict(result.headers) == {
        "request-id": "req_123",
        "retry-after": "3",
        "anthropic-ratelimit-requests-remaining": "49",
        "anthropic-ratelimit-tokens-reset": "2026-01-01T00:00:00Z",
        "x-should-retry": "true",
    }
    assert result.ttft_s is None
    (request,) = seen
    assert request.method == "POST"
    assert str(request.url) == "https://api.test/v1/messages"
    assert json.loads(request.content) == BODY
    assert b" " not in request.content.replace(b'"h\\u00e9llo"', b"")  # compact separators


@pytest.mark.parametrize(
    "coding", [None, "gzip", "deflate", "identity"], ids=["plain", "gzip", "deflate", "identity"]
)
async def test_json_body_is_the_same_coded_or_not(coding: str | None) -> None:
    """A plain body is read as it came; a content-coded one is decoded first: one result."""
    raw = json.dumps(MESSAGE).encode()
    if coding == "gzip":
        raw = gzip.compress(raw)
    elif coding == "deflate":
        raw = zlib.compress(raw)

    async def pieces() -> AsyncIterator[bytes]:  # a body in pieces, as a socket gives it
        for start in range(0, len(raw), 7):
            yield raw[start : start + 7]

    async def handler(request: httpx.Request) -> httpx.Response:
        headers = {"content-type": "application/json"}
        if coding is not None:
            headers["content-encoding"] = coding
        return httpx.Response(200, headers=headers, content=pieces())

    async with make_client(handler) as client:
        result = await client.create(BODY)
    assert (result.id, result.text, result.usage) == (
        "msg_01",
        "Hello, world",
        Usage(12, 5, 100, 200),
    )


async def test_default_headers() -> None:
    """x-api-key, anthropic-version, content-type, accept and a user-agent are sent."""
    seen: list[httpx.Request] = []
    async with make_client(json_handler(seen)) as client:
        await client.create(BODY)
    headers = seen[0].headers
    assert headers["x-api-key"] == KEY
    assert "authorization" not in headers
    assert headers["anthropic-version"] == "2023-06-01"
    assert headers["content-type"] == "application/json"
    assert headers["accept"] == "application/json"
    assert headers["user-agent"].startswith("claude-force-trio/")


@pytest.mark.parametrize(
    ("base_url", "host"),
    [
        ("https://api.test/", "api.test"),
        ("https://api.test:443", "api.test"),
        ("http://127.0.0.1:8123", "127.0.0.1:8123"),
        ("http://[::1]:8123/", "[::1]:8123"),
    ],
)
async def test_host_and_length_are_what_httpx_would_write(base_url: str, host: str) -> None:
    """Host (first, as httpx puts it) and Content-Length, though the body goes as a stream."""
    seen: list[httpx.Request] = []
    transport = httpx.MockTransport(json_handler(seen))
    async with MessagesClient(base_url=base_url, api_key=KEY, transport=transport) as client:
        await client.create(BODY)
    (request,) = seen
    assert request.headers.raw[0] == (b"Host", host.encode())
    assert request.headers["content-length"] == str(len(request.content))
    assert json.loads(request.content) == BODY
    ours = [(k, v) for k, v in request.headers.raw if k.lower() not in (b"host", b"content-length")]
    expected = httpx.Request("POST", request.url, headers=ours, content=request.content)
    assert sorted(request.headers.multi_items()) == sorted(expected.headers.multi_items())


async def test_bearer_auth_and_version() -> None:
    """auth="bearer" sends Authorization: Bearer, and the version header is as configured."""
    seen: list[httpx.Request] = []
    client = make_client(json_handler(seen), auth="bearer", version="2026-10-21", user_agent="me/1")
    async with client:
        await client.create(BODY)
    headers = seen[0].headers
    assert headers["authorization"] == f"Bearer {KEY}"
    assert "x-api-key" not in headers
    assert headers["anthropic-version"] == "2026-10-21"
    assert headers["user-agent"] == "me/1"


async def test_no_key_sends_no_credentials() -> None:
    """api_key=None sends neither credential header."""
    seen: list[httpx.Request] = []
    async with make_client(json_handler(seen), api_key=None) as client:
        await client.create(BODY)
    assert "x-api-key" not in seen[0].headers
    assert "authorization" not in seen[0].headers


def test_invalid_settings_rejected() -> None:
    """An unknown auth style or an empty pool is refused at construction."""
    with pytest.raises(ValueError, match="auth"):
        make_client(json_handler(), auth="basic")
    with pytest.raises(ValueError, match="max_connections"):
        make_client(json_handler(), max_connections=0)


async def test_headers_built_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """Headers are built in __init__ only: calls reuse them and build nothing."""
    seen: list[httpx.Request] = []
    client = make_client(json_handler(seen))

    def forbidden(**_: Any) -> httpx.Headers:
        raise AssertionError("headers rebuilt per call")

    monkeypatch.setattr(_client, "build_headers", forbidden)
    monkeypatch.setattr(_wire, "_package_version", forbidden)
    async with client:
        await client.create(BODY)
        await client.create(BODY)
        await client.create(BODY, on_text=lambda _: None)  # the streaming headers too
    assert seen[0].headers.raw == seen[1].headers.raw


async def test_base_url_and_repr() -> None:
    """base_url drops the trailing slash and repr never shows the key."""
    client = make_client(json_handler())
    async with client:
        assert client.base_url == "https://api.test"
        assert client.max_connections == 10
        assert KEY not in repr(client)
        assert KEY[-8:] not in repr(client)
        assert "api.test" in repr(client)


@pytest.mark.parametrize(
    "payload",
    [
        "not json at all",
        {"id": "msg_1", "model": "m"},  # no content
        {"id": 1, "model": "m", "content": []},
        {"id": "msg_1", "model": "m", "content": "text"},
        {"id": "msg_1", "model": "m", "content": [{"type": "text"}]},
        [1, 2, 3],
    ],
)
async def test_malformed_200_is_response_error(payload: Any) -> None:
    """A 2xx body that is not a well-formed Message raises APIResponseError, chained."""

    async def handler(request: httpx.Request) -> httpx.Response:
        if isinstance(payload, str):
            return httpx.Response(200, content=payload.encode())
        return httpx.Response(200, json=payload)

    async with make_client(handler) as client:
        with pytest.raises(APIResponseError) as info:
            await client.create(BODY)
    assert info.value.__cause__ is not None


# -- status errors -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "error_type", "cls"),
    [
        (400, "invalid_request_error", BadRequestError),
        (401, "authentication_error", AuthenticationError),
        (403, "permission_error", PermissionDeniedError),
        (404, "not_found_error", NotFoundError),
        (413, "request_too_large", RequestTooLargeError),
        (429, "rate_limit_error", RateLimitError),
        (500, "api_error", InternalServerError),
        (503, "api_error", InternalServerError),
        (529, "overloaded_error", OverloadedError),
        (418, "teapot_error", APIStatusError),
    ],
)
@pytest.mark.parametrize("stream", [False, True])
async def test_status_maps_to_error_class(
    status: int, error_type: str, cls: type[APIStatusError], stream: bool
) -> None:
    """Each status raises its class with the API's error type, message, request id, headers."""
    payload = {
        "type": "error",
        "error": {"type": error_type, "message": f"boom {status}"},
        "request_id": "req_body",
    }
    async with make_client(json_handler(status=status, payload=payload)) as client:
        with pytest.raises(cls) as info:
            await client.create({**BODY, "stream": stream})
    err = info.value
    assert type(err) is cls
    assert err.status_code == status
    assert err.error_type == error_type
    assert err.message == f"boom {status}"
    assert err.request_id == "req_body"
    assert err.headers["retry-after"] == "3"
    assert err.headers["anthropic-ratelimit-tokens-reset"] == "2026-01-01T00:00:00Z"
    assert "set-cookie" not in err.headers
    assert all(name == name.lower() for name in err.headers)


async def test_request_id_from_header_when_body_lacks_it() -> None:
    """Without request_id in the body, the request-id header is used."""
    payload = {"type": "error", "error": {"type": "api_error", "message": "x"}}
    async with make_client(json_handler(status=500, payload=payload)) as client:
        with pytest.raises(InternalServerError) as info:
            await client.create(BODY)
    assert info.value.request_id == "req_123"


async def test_non_json_error_body() -> None:
    """An error body that is not JSON gives error_type "unknown" and its first 500 chars."""
    page = "<html>" + "x" * 500 + "</html>"

    async def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(502, text=page, headers={"request-id": "req_h"})

    async with make_client(handler) as client:
        with pytest.raises(InternalServerError) as info:
            await client.create(BODY)
    assert info.value.error_type == "unknown"
    assert info.value.message == page[:500] + "… (13 more characters)"
    assert info.value.request_id == "req_h"


# -- transport errors ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("exc", "cls"),
    [
        (httpx.ConnectError("All connection attempts failed"), APIConnectionError),
        (httpx.ReadError("connection reset by peer"), APIConnectionError),
        (httpx.RemoteProtocolError("server disconnected"), APIConnectionError),
        (httpx.ConnectTimeout("timed out"), APITimeoutError),
        (httpx.ReadTimeout("timed out"), APITimeoutError),
        (httpx.PoolTimeout("timed out"), APITimeoutError),
    ],
)
async def test_transport_errors_mapped(exc: Exception, cls: type[Exception]) -> None:
    """httpx timeouts map to APITimeoutError, other transport errors to APIConnectionError."""

    async def handler(request: httpx.Request) -> httpx.Response:
        raise exc

    async with make_client(handler) as client:
        with pytest.raises(cls) as info:
            await client.create(BODY)
    assert info.value.__cause__ is exc
    if cls is APIConnectionError:
        assert not isinstance(info.value, APITimeoutError)


async def test_key_never_in_401_chain() -> None:
    """On a 401, no text of the exception chain (str, repr, traceback) holds the key."""
    payload = {
        "type": "error",
        "error": {"type": "authentication_error", "message": "invalid x-api-key"},
        "request_id": "req_1",
    }
    async with make_client(json_handler(status=401, payload=payload)) as client:
        with pytest.raises(AuthenticationError) as info:
            await client.create(BODY)
    assert KEY not in chain_text(info.value)


@pytest.mark.parametrize("auth", ["x-api-key", "bearer"])
async def test_key_never_in_connection_error_chain(auth: str) -> None:
    """On a connection error carrying the request, no chain text holds the key."""

    async def handler(request: httpx.Request) -> httpx.Response:
        assert KEY in str(request.headers.raw)  # the key is in the request httpx keeps…
        raise httpx.ConnectError("All connection attempts failed", request=request)

    async with make_client(handler, auth=auth) as client:
        with pytest.raises(APIConnectionError) as info:
            await client.create(BODY)
    assert KEY not in chain_text(info.value)  # …but in no text we show


async def test_key_scrubbed_if_a_server_echoes_it() -> None:
    """Even a server that echoes the key in its error message does not leak it."""
    payload = {"type": "error", "error": {"type": "authentication_error", "message": f"bad {KEY}"}}
    async with make_client(json_handler(status=401, payload=payload)) as client:
        with pytest.raises(AuthenticationError) as info:
            await client.create(BODY)
    assert KEY not in str(info.value)
    assert "[redacted]" in info.value.message


# -- streaming -----------------------------------------------------------------------------


async def test_streaming_success(autojump_clock: trio.testing.MockClock) -> None:
    """on_text gets each delta in order as it arrives; the message and ttft are assembled."""
    seen: list[httpx.Request] = []
    got: list[tuple[float, str]] = []
    handler = sse_handler(stream_events(["Hel", "lo", " wörld"]), seen=seen, delay=0.25)
    async with make_client(handler) as client:
        start = trio.current_time()
        result = await client.create(BODY, on_text=lambda t: got.append((trio.current_time(), t)))
    assert [t for _, t in got] == ["Hel", "lo", " wörld"]
    assert got[0][0] - start == 0.25 * 5  # response, message_start, block start, ping, delta
    assert result.text == "Hel" + "lo" + " wörld"
    assert result.ttft_s == 0.25 * 5
    assert result.elapsed_s == 0.25 * 11  # response + 10 events
    assert result.id == "msg_01"
    assert result.model == "claude-sonnet-4-5"
    assert result.stop_reason == "max_tokens"
    assert result.stop_sequence is None
    assert result.usage == Usage(30, 42, 7, 9)
    assert result.request_id == "req_s"
    sent = seen[0]
    assert json.loads(sent.content) == {**BODY, "stream": True}
    assert sent.headers["accept"] == "text/event-stream"


async def test_streaming_by_body_flag_without_callback() -> None:
    """body["stream"] = True streams even without on_text."""
    seen: list[httpx.Request] = []
    async with make_client(sse_handler(stream_events(["a", "b"]), seen=seen)) as client:
        result = await client.create({**BODY, "stream": True})
    assert result.text == "ab"
    assert json.loads(seen[0].content)["stream"] is True


async def test_stream_usage_merge_includes_delta_input_counts() -> None:
    """message_delta usage is cumulative: present counts replace, null/absent ones keep."""
    final = {"output_tokens": 50, "input_tokens": 31, "cache_read_input_tokens": None}
    async with make_client(sse_handler(stream_events(["x"], final_usage=final))) as client:
        result = await client.create(BODY, on_text=lambda _: None)
    assert result.usage == Usage(31, 50, 7, 9)


async def test_stream_in_tiny_chunks() -> None:
    """A stream delivered three bytes at a time assembles the same message."""
    raw = b"".join(stream_events(["é", "✓", "z"])).replace(b"\n", b"\r\n")
    chunks = [raw[i : i + 3] for i in range(0, len(raw), 3)]
    got: list[str] = []
    async with make_client(sse_handler(chunks)) as client:
        result = await client.create(BODY, on_text=got.append)
    assert got == ["é", "✓", "z"]
    assert result.text == "é✓z"


async def test_stream_error_event() -> None:
    """An error event before message_stop raises StreamError with type, message, request id."""
    events = stream_events(["partial"], stop=False)[:4]
    events.append(
        sse(
            "error",
            {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}},
        )
    )
    got: list[str] = []
    async with make_client(sse_handler(events)) as client:
        with pytest.raises(StreamError) as info:
            await client.create(BODY, on_text=got.append)
    assert info.value.error_type == "overloaded_error"
    assert info.value.message == "Overloaded"
    assert info.value.request_id == "req_s"
    assert got == ["partial"]


async def test_truncated_stream() -> None:
    """A stream that ends without message_stop raises APIConnectionError."""
    async with make_client(sse_handler(stream_events(["a"], stop=False))) as client:
        with pytest.raises(APIConnectionError, match="before message_stop"):
            await client.create(BODY, on_text=lambda _: None)


async def test_stream_read_error_midway() -> None:
    """A connection reset mid-stream raises APIConnectionError chained to the httpx error."""
    boom = httpx.ReadError("connection reset by peer")
    handler = sse_handler(stream_events(["a"], stop=False)[:3], fail_with=boom)
    async with make_client(handler) as client:
        with pytest.raises(APIConnectionError) as info:
            await client.create(BODY, on_text=lambda _: None)
    assert info.value.__cause__ is boom


async def test_stream_read_timeout_midway() -> None:
    """A read timeout mid-stream raises APITimeoutError."""
    handler = sse_handler(stream_events(["a"])[:2], fail_with=httpx.ReadTimeout("timed out"))
    async with make_client(handler) as client:
        with pytest.raises(APITimeoutError):
            await client.create(BODY, on_text=lambda _: None)


async def test_stream_malformed_event_data() -> None:
    """An event whose data is not JSON, or lacks fields, raises APIResponseError."""
    for bad in (
        b"event: content_block_delta\ndata: {nope\n\n",
        b'event: message_start\ndata: {"type":"message_start"}\n\n',
        b'event: content_block_delta\ndata: {"delta":{"type":"text_delta","text":3}}\n\n',
    ):
        async with make_client(sse_handler([bad])) as client:
            with pytest.raises(APIResponseError):
                await client.create(BODY, on_text=lambda _: None)


async def test_stream_events_after_stop_and_unknown_events_ignored() -> None:
    """Unknown events are ignored, and nothing after message_stop counts."""
    events = stream_events(["a"])
    events.insert(2, sse("future_event", {"type": "future_event", "x": 1}))
    events.append(
        sse("error", {"type": "error", "error": {"type": "api_error", "message": "late"}})
    )
    async with make_client(sse_handler(events)) as client:
        result = await client.create(BODY, on_text=lambda _: None)
    assert result.text == "a"


async def test_on_text_exception_propagates_unchanged() -> None:
    """An exception from on_text is the caller's bug and is not re-labelled."""

    def explode(_: str) -> None:
        raise TypeError("my bug")

    async with make_client(sse_handler(stream_events(["a"]))) as client:
        with pytest.raises(TypeError, match="my bug"):
            await client.create(BODY, on_text=explode)


async def test_stream_requested_but_json_answered() -> None:
    """A server that ignores stream: true and answers JSON still gives the message."""
    async with make_client(json_handler()) as client:
        result = await client.create(BODY, on_text=lambda _: None)
    assert result.text == "Hello, world"


# -- count_tokens --------------------------------------------------------------------------


async def test_count_tokens_strips_create_only_fields() -> None:
    """count_tokens posts to its route without max_tokens/stream and returns input_tokens."""
    seen: list[httpx.Request] = []
    async with make_client(json_handler(seen, payload={"input_tokens": 77})) as client:
        count = await client.count_tokens({**BODY, "stream": True, "temperature": 0.2})
    assert count == 77
    assert str(seen[0].url) == "https://api.test/v1/messages/count_tokens"
    assert json.loads(seen[0].content) == {"model": BODY["model"], "messages": BODY["messages"]}


async def test_count_tokens_errors() -> None:
    """count_tokens maps statuses and rejects a body without integer input_tokens."""
    async with make_client(json_handler(payload={"input_tokens": "7"})) as client:
        with pytest.raises(APIResponseError):
            await client.count_tokens(BODY)
    payload = {"type": "error", "error": {"type": "invalid_request_error", "message": "m"}}
    async with make_client(json_handler(status=400, payload=payload)) as client:
        with pytest.raises(BadRequestError):
            await client.count_tokens(BODY)


# -- loopback against the simulator --------------------------------------------------------

SIM_KEY = "fake-key-sim-SECRET-fedcba9876543210"
SIM_BODY: dict[str, Any] = {
    "model": "claude-sonnet-4-5",
    "max_tokens": 200,
    "system": "You are code-reviewer.",
    "messages": [{"role": "user", "content": "Review the retry loop"}],
}


@pytest.fixture
async def sim() -> AsyncIterator[Simulator]:
    """A zero-latency simulator on loopback that only accepts ``SIM_KEY``."""
    async with open_simulator(ttft_ms=0, tokens_per_s=0, api_key=SIM_KEY) as simulator:
        yield simulator


def sim_client(sim: Simulator, **kwargs: Any) -> MessagesClient:
    """A client for the simulator, with its key unless overridden."""
    kwargs.setdefault("api_key", SIM_KEY)
    return MessagesClient(base_url=sim.url + "/", **kwargs)


async def test_loopback_json(sim: Simulator) -> None:
    """A JSON call against the simulator returns its deterministic message and usage."""
    async with sim_client(sim) as client:
        result = await client.create(SIM_BODY)
    (record,) = sim.requests
    assert record.status == 200
    assert record.stream is False
    assert record.body == SIM_BODY
    assert "Review the retry loop" in result.text
    assert result.id.startswith("msg_")
    assert result.model == SIM_BODY["model"]
    assert result.request_id == record.request_id
    assert result.usage.input_tokens > 0
    assert 0 < result.usage.output_tokens <= SIM_BODY["max_tokens"]
    assert result.stop_reason in {"end_turn", "max_tokens"}
    assert result.ttft_s is None


async def test_loopback_streaming_matches_json(sim: Simulator) -> None:
    """Streaming gives the same text and usage as JSON, chunk by chunk through on_text."""
    got: list[str] = []
    async with sim_client(sim, auth="bearer", version="2026-10-21") as client:
        plain = await client.create(SIM_BODY)
        streamed = await client.create(SIM_BODY, on_text=got.append)
    await anyio.wait_all_tasks_blocked()  # the in-process simulator logs a stream after its end
    assert len(got) > 1
    assert "".join(got) == streamed.text == plain.text
    assert streamed.usage == plain.usage
    assert streamed.stop_reason == plain.stop_reason
    assert streamed.ttft_s is not None
    assert 0 <= streamed.ttft_s <= streamed.elapsed_s
    assert sim.requests[-1].stream is True
    assert streamed.request_id == sim.requests[-1].request_id


async def test_loopback_count_tokens(sim: Simulator) -> None:
    """count_tokens accepts the very body create sends and agrees with create's usage."""
    async with sim_client(sim) as client:
        count = await client.count_tokens({**SIM_BODY, "stream": True, "temperature": 0.5})
        result = await client.create(SIM_BODY)
    assert count == result.usage.input_tokens


async def test_loopback_401_never_leaks_key(sim: Simulator) -> None:
    """A wrong key gives AuthenticationError, and no chain text holds either key."""
    wrong = "fake-key-wrong-SECRET-000111222333"
    for auth in ("x-api-key", "bearer"):
        async with sim_client(sim, api_key=wrong, auth=auth) as client:
            with pytest.raises(AuthenticationError) as info:
                await client.create(SIM_BODY)
        assert info.value.error_type == "authentication_error"
        assert info.value.request_id
        text = chain_text(info.value)
        assert wrong not in text
        assert SIM_KEY not in text


async def test_loopback_bad_version(sim: Simulator) -> None:
    """An anthropic-version the API does not know gives BadRequestError."""
    async with sim_client(sim, version="1999-01-01") as client:
        with pytest.raises(BadRequestError) as info:
            await client.create(SIM_BODY)
    assert info.value.error_type == "invalid_request_error"


@pytest.mark.parametrize(
    ("kind", "cls", "error_type"),
    [
        ("429", RateLimitError, "rate_limit_error"),
        ("529", OverloadedError, "overloaded_error"),
        ("500", InternalServerError, "api_error"),
    ],
)
@pytest.mark.parametrize("stream", [False, True])
async def test_loopback_scripted_status(
    sim: Simulator, kind: str, cls: type[APIStatusError], error_type: str, stream: bool
) -> None:
    """Scripted 429/529/500 faults raise their classes with headers; the next call succeeds."""
    sim.script(Fault(kind, retry_after=2), None)
    async with sim_client(sim) as client:
        with pytest.raises(cls) as info:
            await client.create({**SIM_BODY, "stream": stream})
        ok = await client.create({**SIM_BODY, "stream": stream})
    err = info.value
    assert err.status_code == int(kind)
    assert err.error_type == error_type
    assert err.headers["retry-after"] == "2"
    assert err.request_id == sim.requests[0].request_id
    assert ok.text


async def test_loopback_stream_error(sim: Simulator) -> None:
    """A stream_error fault raises StreamError after some text; the pool stays usable."""
    sim.script(Fault("stream_error"))
    got: list[str] = []
    async with sim_client(sim) as client:
        with pytest.raises(StreamError) as info:
            await client.create(SIM_BODY, on_text=got.append)
        assert (await client.create(SIM_BODY)).text
    assert info.value.error_type == "overloaded_error"
    assert got


async def test_loopback_reset(sim: Simulator) -> None:
    """A connection reset raises APIConnectionError (not a timeout) without the key."""
    sim.script(Fault("reset"))
    async with sim_client(sim) as client:
        with pytest.raises(APIConnectionError) as info:
            await client.create(SIM_BODY)
        assert (await client.create(SIM_BODY)).text
    assert not isinstance(info.value, APITimeoutError)
    assert isinstance(info.value.__cause__, httpx.TransportError)
    assert SIM_KEY not in chain_text(info.value)


async def test_loopback_stall_read_timeout(sim: Simulator) -> None:
    """A stalled server with a short read timeout raises APITimeoutError."""
    sim.script(Fault("stall"))
    async with sim_client(sim, read_timeout_s=0.2) as client:
        with trio.fail_after(5):
            with pytest.raises(APITimeoutError) as info:
                await client.create(SIM_BODY)
    assert isinstance(info.value.__cause__, httpx.ReadTimeout)


async def test_loopback_connection_refused() -> None:
    """Nothing listening gives APIConnectionError, and no chain text holds the key."""
    listener = (await trio.open_tcp_listeners(0, host="127.0.0.1"))[0]
    port = listener.socket.getsockname()[1]
    await listener.aclose()
    async with MessagesClient(base_url=f"http://127.0.0.1:{port}", api_key=SIM_KEY) as client:
        with pytest.raises(APIConnectionError) as info:
            await client.create(SIM_BODY)
    assert not isinstance(info.value, APITimeoutError)
    assert SIM_KEY not in chain_text(info.value)


async def test_loopback_leaving_a_stream_early_is_clean() -> None:
    """on_text raising mid-stream leaves no stray generators and the client still works."""
    calls = 0

    def stop_at_third(_: str) -> None:
        nonlocal calls
        calls += 1
        if calls == 3:
            raise KeyError("enough")

    async with (
        open_simulator(ttft_ms=0, tokens_per_s=2000) as slow,
        MessagesClient(base_url=slow.url, api_key="any-key") as client,
    ):
        with pytest.raises(KeyError, match="enough"):
            await client.create(SIM_BODY, on_text=stop_at_third)
        assert (await client.create(SIM_BODY)).text
    gc.collect()
    await trio.testing.wait_all_tasks_blocked()


async def test_loopback_concurrent_calls_share_the_pool(sim: Simulator) -> None:
    """Many concurrent calls through one client, bounded by its pool, all succeed."""
    results: list[str] = []
    async with sim_client(sim, max_connections=4) as client:
        limiter = trio.CapacityLimiter(client.max_connections)

        async def one(i: int) -> None:
            async with limiter:
                body = {**SIM_BODY, "messages": [{"role": "user", "content": f"task {i}"}]}
                results.append((await client.create(body, on_text=lambda _: None)).text)

        async with trio.open_nursery() as nursery:
            for i in range(20):
                nursery.start_soon(one, i)
    assert len(results) == 20
    assert len(set(results)) == 20


async def test_closed_client_refuses_calls() -> None:
    """After aclose, create raises RuntimeError instead of reopening the pool."""
    client = make_client(json_handler())
    await client.aclose()
    with pytest.raises(RuntimeError, match="closed"):
        await client.create(BODY)


async def test_loopback_env_proxy_is_honoured(
    sim: Simulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An HTTP_PROXY from the environment is used, as httpx would (here: refused)."""
    listener = (await trio.open_tcp_listeners(0, host="127.0.0.1"))[0]
    port = listener.socket.getsockname()[1]
    await listener.aclose()
    monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{port}")
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    async with sim_client(sim) as client:
        with pytest.raises(APIConnectionError):
            await client.create(SIM_BODY)
    assert sim.requests == []
