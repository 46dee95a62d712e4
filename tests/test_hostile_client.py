"""The client edge against a hostile or broken server (issue 9, items 2, 5b and 7).

A canary key (not shaped like a real key) must never come back out of the
library, whatever the server does with it: a JSON error that quotes it, an SSE
``error`` event that echoes the request headers, a long 5xx page with the key
straddling the point where a message is cut, a proxy printing the first 20
characters of it, request ids and other kept headers carrying it. Each shape is
checked in the exception (text, repr, traceback, attributes), in the engine's
``StepResult``, ``to_dict()`` and ``StepRetrying`` events, and through the CLI
(``--json``, plain, ``--stream``: stdout, stderr and every file under
``CFT_HOME``). "Leaks" means any run of 8 consecutive characters of the key,
ASCII case ignored: the rule the client scrubs by.

Then the size limits: a 40 MB SSE line, a body larger than the cap (gzip or
not), a 5,000-character message; and a stream request answered with plain JSON.
"""

from __future__ import annotations

import dataclasses
import json
import random
import string
import traceback
import zlib
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import pytest
import trio
import trio.testing
from typer.testing import CliRunner, Result

from claude_force_trio import _engine
from claude_force_trio._api._client import MAX_BODY_BYTES, MessagesClient
from claude_force_trio._api._redact import MESSAGE_LIMIT, MIN_RUN, REDACTED, Redactor
from claude_force_trio._api._sse import MAX_EVENT_SIZE, EventTooLargeError, SSEDecoder
from claude_force_trio._backend import Backend
from claude_force_trio._config import RetryConfig
from claude_force_trio._errors import (
    APIError,
    APIResponseError,
    InternalServerError,
    StreamError,
)
from claude_force_trio._events import Event, StepRetrying
from claude_force_trio.cli import app

from .engine_support import make_config, message

_RNG = random.Random(20250909)
KEY = "cft-canary-" + "".join(_RNG.choices(string.ascii_letters + string.digits, k=40))
GRAMS = frozenset(KEY[i : i + MIN_RUN].lower() for i in range(len(KEY) - MIN_RUN + 1))
BODY: dict[str, Any] = {
    "model": "claude-sonnet-4-5",
    "max_tokens": 64,
    "messages": [{"role": "user", "content": "hi"}],
}
MIB = 1024 * 1024


def leaks(text: str) -> list[str]:
    """The 8-character runs of the key found in ``text`` (ASCII case ignored)."""
    folded = text.lower()
    return sorted(gram for gram in GRAMS if gram in folded)


def exception_text(exc: BaseException) -> str:
    """What an exception could print: str, repr, args, attributes, the formatted traceback."""
    parts = [str(exc), repr(exc), repr(exc.args), repr(vars(exc))]
    return "\n".join([*parts, "".join(traceback.format_exception(exc))])


# -- the hostile servers ---------------------------------------------------------------------


def header_dump(request: httpx.Request) -> str:
    """The request headers as an echoing proxy prints them."""
    return "".join(f"{name}: {value}\r\n" for name, value in request.headers.items())


def api_error(status: int, error_type: str, text: str, **headers: str) -> httpx.Response:
    """The API's error shape, with ``text`` as ``error.message``."""
    body = {"type": "error", "error": {"type": error_type, "message": text}}
    return httpx.Response(status, json=body, headers=headers)


def sse_frame(event: str, data: Any) -> bytes:
    """One SSE event (``data`` JSON-encoded unless it is already a string)."""
    payload = data if isinstance(data, str) else json.dumps(data)
    return f"event: {event}\ndata: {payload}\n\n".encode()


def sse_response(*frames: bytes) -> httpx.Response:
    """A 200 event stream opened by a valid ``message_start``, then ``frames``."""
    start = message("")
    start["content"] = []
    opening = sse_frame("message_start", {"type": "message_start", "message": start})
    return httpx.Response(
        200, headers={"content-type": "text/event-stream"}, content=opening + b"".join(frames)
    )


def sse_error(error_type: str, text: str, request_id: str | None = None) -> httpx.Response:
    """A stream that carries an ``error`` event after its start."""
    data: dict[str, Any] = {"type": "error", "error": {"type": error_type, "message": text}}
    if request_id is not None:
        data["request_id"] = request_id
    return sse_response(sse_frame("error", data))


def long_page(at: int, status: int = 502) -> httpx.Response:
    """A non-JSON page of ~1,300 characters with the key starting at character ``at``."""
    return httpx.Response(status, text="x" * at + KEY + "y" * 1200)


@dataclass(frozen=True)
class Shape:
    """One way a server may send the key back; ``stream`` shapes answer a streamed call."""

    name: str
    respond: Callable[[httpx.Request], httpx.Response]
    stream: bool = False
    retryable: bool = False


SHAPES = [
    Shape("json-error-quotes-key", lambda r: api_error(401, "authentication_error", f"bad {KEY}")),
    Shape(
        "json-error-key-in-every-field",
        lambda r: httpx.Response(
            500,
            json={"type": "error", "error": {"type": KEY, "message": KEY * 3}, "request_id": KEY},
        ),
        retryable=True,
    ),
    Shape(
        "json-error-key-prefix-20",
        lambda r: api_error(401, "authentication_error", f"invalid key {KEY[:20]}***"),
    ),
    Shape(
        "json-error-key-suffix-and-upper-case",
        lambda r: api_error(403, "permission_error", f"…{KEY[-12:]} / {KEY.upper()}"),
    ),
    *[
        Shape(f"long-5xx-key-at-{at}", partial(lambda r, at: long_page(at), at=at), retryable=True)
        for at in (190, 196, 200, 204, 490, 496, 500, 504)
    ],
    Shape(
        "echo-proxy-json-body",
        lambda r: httpx.Response(502, json={"error": "bad gateway", "headers": dict(r.headers)}),
        retryable=True,
    ),
    Shape("echo-proxy-text-body", lambda r: httpx.Response(400, text=header_dump(r))),
    Shape(
        "echo-proxy-api-error",
        lambda r: api_error(400, "invalid_request_error", "you sent:\n" + header_dump(r)),
    ),
    Shape(
        "key-in-kept-headers",
        lambda r: api_error(
            529,
            "overloaded_error",
            "Overloaded",
            **{
                "request-id": KEY,
                "retry-after": KEY,
                "x-should-retry": KEY,
                "anthropic-ratelimit-requests-reset": f"{KEY[:20]}",
            },
        ),
        retryable=True,
    ),
    Shape(
        "sse-error-event-echoes-headers",
        lambda r: sse_error("overloaded_error", "upstream saw: " + header_dump(r)),
        stream=True,
        retryable=True,
    ),
    Shape(
        "sse-error-event-key-in-type-and-request-id",
        lambda r: sse_error(KEY, KEY[:20], request_id=KEY),
        stream=True,
        retryable=True,
    ),
    Shape(
        "sse-event-name-is-key",
        lambda r: sse_response(sse_frame(KEY, "not json")),
        stream=True,
    ),
    Shape(
        "streamed-call-answered-by-long-5xx",
        lambda r: long_page(196),
        stream=True,
        retryable=True,
    ),
]


def by_name(*names: str) -> list[Shape]:
    """The shapes called ``names``."""
    return [shape for shape in SHAPES if shape.name in names]


def transport(shape: Shape) -> httpx.MockTransport:
    """A mock transport answering every request with ``shape``."""
    return httpx.MockTransport(shape.respond)


# -- the one scrubbing function ---------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [KEY, KEY[:20], KEY[-8:], KEY[5:13], KEY.upper(), f"Bearer {KEY}", KEY * 40, "a" * 496 + KEY],
)
def test_redactor_scrubs_the_key_and_every_8_character_run(text: str) -> None:
    """The whole key, its prefix, suffix, any 8-run, upper case, repeats: none survive."""
    shown = Redactor(KEY)(text)
    assert leaks(shown) == []
    assert REDACTED in shown


def test_redactor_leaves_shorter_runs_and_clean_text_alone() -> None:
    """Seven characters of the key, and text without any, come back unchanged."""
    redact = Redactor(KEY)
    assert redact(f"key {KEY[:7]}… is wrong") == f"key {KEY[:7]}… is wrong"
    assert redact("Overloaded") == "Overloaded"
    assert Redactor(None)("anything at all") == "anything at all"


def test_redactor_scrubs_a_short_secret_only_whole() -> None:
    """A secret shorter than 8 characters is scrubbed where it appears whole."""
    assert Redactor("abc12")("x abc12 y abc1") == f"x {REDACTED} y abc1"


@pytest.mark.parametrize("seed", range(300))
def test_redactor_never_shows_a_run_wherever_the_cut_falls(seed: int) -> None:
    """Random texts with key pieces at random places and random limits: no 8-run is shown."""
    rng = random.Random(seed)
    parts: list[str] = []
    while sum(map(len, parts)) < rng.randrange(10, 3000):
        start = rng.randrange(len(KEY))
        piece = KEY[start : start + rng.randrange(1, len(KEY) + 1)]
        parts.append(rng.choice([piece, piece.upper(), "".join(rng.choices("xyz \n\x1b", k=30))]))
    text = "".join(parts)
    limit = rng.randrange(1, 700)
    shown = Redactor(KEY)(text, limit)
    assert leaks(shown) == []
    assert "\n" not in shown
    assert "\x1b" not in shown
    body, _, tail = shown.partition("… (")
    assert len(body) <= limit + len(REDACTED)
    if tail:
        hidden = int(tail.split(" ", 1)[0].replace(",", ""))
        assert 0 < hidden <= len(text)


def test_redactor_caps_and_counts_what_it_hides() -> None:
    """5,000 characters become the first 500 and a count of the rest."""
    assert Redactor(KEY)("m" * 5000) == "m" * 500 + "… (4,500 more characters)"


def test_redactor_makes_one_line() -> None:
    """Line breaks and terminal escapes are shown as escapes, not acted on."""
    assert Redactor(KEY)("a\nb\r\x1b[31mred\u2028") == "a\\nb\\r\\x1b[31mred\\u2028"


def test_redactor_spells_out_lone_surrogates() -> None:
    """A lone surrogate (JSON may carry one) is spelled out, so the text can be printed."""
    shown = Redactor(KEY)("bad \ud800 byte")
    assert shown == "bad \\ud800 byte"
    assert shown.encode("utf-8")


def test_redactor_repr_hides_the_secret() -> None:
    """Its repr says nothing about the key."""
    assert leaks(repr(Redactor(KEY))) == []


# -- the client: every shape, in the exception -------------------------------------------------


def hostile_client(respond: Callable[[httpx.Request], Any], **kwargs: Any) -> MessagesClient:
    """A client holding the canary key, on a mock transport."""
    return MessagesClient(
        base_url="https://hostile.test",
        api_key=KEY,
        transport=httpx.MockTransport(respond),
        **kwargs,
    )


@pytest.mark.parametrize("auth", ["x-api-key", "bearer"])
@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: s.name)
async def test_key_never_in_the_exception(shape: Shape, auth: str) -> None:
    """Under every server error shape, no text of the exception holds a run of the key."""
    async with hostile_client(shape.respond, auth=auth) as client:
        with pytest.raises(APIError) as info:
            await client.create(BODY, on_text=(lambda _: None) if shape.stream else None)
    assert leaks(exception_text(info.value)) == []
    assert len(str(info.value)) < 2 * MESSAGE_LIMIT  # capped, whatever the server sent


@pytest.mark.parametrize("at", [190, 196, 200, 204, 490, 496])
async def test_long_page_is_scrubbed_before_it_is_cut(at: int) -> None:
    """A key straddling the old 200-character cut, or the 500 one, is replaced whole."""
    async with hostile_client(lambda r: long_page(at)) as client:
        with pytest.raises(InternalServerError) as info:
            await client.create(BODY)
    assert info.value.message.startswith("x" * at + REDACTED)
    assert info.value.message.endswith(" more characters)")


async def test_kept_headers_of_a_success_are_scrubbed() -> None:
    """A request id (or rate-limit header) echoing the key is scrubbed in the result too."""

    def respond(request: httpx.Request) -> httpx.Response:
        headers = {"request-id": KEY, "anthropic-ratelimit-tokens-remaining": KEY[:20]}
        return httpx.Response(200, json=message("fine"), headers=headers)

    async with hostile_client(respond) as client:
        result = await client.create(BODY)
    assert result.text == "fine"
    assert leaks(repr(result)) == []
    assert result.request_id == REDACTED


async def test_stream_error_fields_are_scrubbed_and_capped() -> None:
    """An SSE error event's message is scrubbed and capped; its type and id are scrubbed."""
    long_text = KEY + " " + "z" * 5000
    async with hostile_client(lambda r: sse_error(KEY, long_text, request_id=KEY)) as client:
        with pytest.raises(StreamError) as info:
            await client.create(BODY, on_text=lambda _: None)
    assert info.value.error_type == REDACTED
    assert info.value.request_id == REDACTED
    assert info.value.message == REDACTED + " " + "z" * 489 + "… (4,511 more characters)"


async def test_long_server_message_is_capped() -> None:
    """A 5,000-character error message reaches the user as 500 characters and a count."""
    async with hostile_client(lambda r: api_error(400, "invalid_request_error", "m" * 5000)) as c:
        with pytest.raises(APIError) as info:
            await c.create(BODY)
    assert str(info.value) == "HTTP 400 invalid_request_error: " + "m" * 500 + (
        "… (4,500 more characters)"
    )


# -- the engine: results, their dict, retry events ---------------------------------------------


@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: s.name)
async def test_key_never_in_results_or_events(
    shape: Shape, autojump_clock: trio.testing.MockClock
) -> None:
    """StepResult.error, to_dict() and every event (StepRetrying included) are clean."""
    config = dataclasses.replace(
        make_config(agents=("worker",)),
        retry=RetryConfig(max_attempts=2, initial_delay_s=0.5, max_delay_s=0.5),
    )
    events: list[Event] = []
    async with _engine.open_engine(
        config,
        backend=Backend.url("https://hostile.test", KEY),
        transport=transport(shape),
        hooks=[events.append],
        rng=random.Random(1),
    ) as engine:
        result = await engine.run_agent(
            "worker", "hi", on_text=(lambda _: None) if shape.stream else None
        )
    assert result.status == "failed"
    assert result.error
    assert leaks(result.error) == []
    assert leaks(json.dumps(result.to_dict(), default=str)) == []
    assert leaks(repr(events)) == []
    retries = [event for event in events if isinstance(event, StepRetrying)]
    assert len(retries) == (1 if shape.retryable else 0)


# -- the CLI: stdout, stderr, every file under CFT_HOME ----------------------------------------


@pytest.fixture
def hostile_cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A live backend holding the canary key; CFT_HOME in tmp_path; returns the config."""
    for name in ("ANTHROPIC_AUTH_TOKEN", "CFT_CONFIG", "NO_COLOR"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("ANTHROPIC_API_KEY", KEY)
    monkeypatch.setenv("ANTHROPIC_BASE_URL", "https://hostile.test")
    monkeypatch.setenv("CFT_HOME", str(tmp_path / "home"))
    root = tmp_path / "project"
    root.mkdir()
    (root / "helper.md").write_text("# Helper\n\nA helpful agent.\n", encoding="utf-8")
    doc = {
        "defaults": {"model": "haiku", "max_tokens": 64},
        "agents": {"helper": {"file": "helper.md"}},
        "retry": {"max_attempts": 2, "initial_delay_s": 0.001, "max_delay_s": 0.001},
    }
    path = root / "claude.json"
    path.write_text(json.dumps(doc), encoding="utf-8")
    return path


def serve(monkeypatch: pytest.MonkeyPatch, respond: Callable[[httpx.Request], Any]) -> None:
    """Make every engine the CLI opens talk to ``respond`` instead of the network."""
    real = _engine.open_engine
    mock = httpx.MockTransport(respond)
    monkeypatch.setattr(_engine, "open_engine", partial(real, transport=mock))


def cft(config: Path, *args: str) -> Result:
    """Invoke ``cft --config CONFIG --live ARGS`` in-process."""
    return CliRunner().invoke(app, ["--config", str(config), "--live", *args])


def state_files(home: Path) -> Iterator[tuple[Path, str]]:
    """Every file under ``home`` with its bytes as text (Latin-1: any byte is a character)."""
    for path in sorted(home.rglob("*")):
        if path.is_file():
            yield path, path.read_bytes().decode("latin-1")


def assert_one_error_line(result: Result) -> None:
    """Exit 1, the last stderr line an ``error:`` line, no traceback anywhere."""
    assert result.exit_code == 1, (result.stdout, result.stderr, result.exception)
    assert isinstance(result.exception, SystemExit)
    assert result.stderr.splitlines()[-1].startswith("error: helper: ")
    assert "Traceback" not in result.stdout + result.stderr


CLI_SHAPES = by_name(
    "json-error-key-prefix-20",
    "json-error-key-suffix-and-upper-case",
    "long-5xx-key-at-196",
    "long-5xx-key-at-496",
    "echo-proxy-json-body",
    "echo-proxy-api-error",
    "key-in-kept-headers",
    "sse-error-event-echoes-headers",
    "sse-error-event-key-in-type-and-request-id",
)


@pytest.mark.parametrize("shape", CLI_SHAPES, ids=lambda s: s.name)
def test_key_never_in_cli_output_or_state(
    shape: Shape, hostile_cli: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """cft run (--json, plain, --stream) prints one error line and writes no run of the key."""
    serve(monkeypatch, shape.respond)
    modes = [["--stream"]] if shape.stream else [["--json"], []]
    for mode in modes:
        result = cft(hostile_cli, "run", "helper", "hi", *mode)
        assert_one_error_line(result)
        assert leaks(result.stdout) == []
        assert leaks(result.stderr) == []
        if mode == ["--json"]:
            assert json.loads(result.stdout)["status"] == "failed"
    home = hostile_cli.parent.parent / "home"
    files = list(state_files(home))
    assert any(path.parent.name == "metrics" for path, _ in files)  # the failures were recorded
    assert [path for path, text in files if leaks(text)] == []


def test_long_message_is_one_capped_cli_line(
    hostile_cli: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A 5,000-character multi-line message prints as one error line of bounded length."""
    serve(monkeypatch, lambda r: api_error(400, "invalid_request_error", "line\n" * 1000))
    result = cft(hostile_cli, "run", "helper", "hi")
    assert_one_error_line(result)
    line = result.stderr.splitlines()[-1]
    assert len(line) < 2 * MESSAGE_LIMIT
    # Each "line\n" shows as 6 characters: 83 of them and "li" fill 500, 417 of 5,000 shown.
    assert line.endswith("line\\nli… (4,583 more characters)")


def test_surrogate_in_server_message_is_one_printable_cli_line(
    hostile_cli: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A server message holding a lone surrogate still prints one error line (and --json)."""
    body = b'{"type": "error", "error": {"type": "api_error", "message": "oops \\ud800"}}'
    serve(monkeypatch, lambda r: httpx.Response(400, content=body))
    for mode in (["--json"], []):
        result = cft(hostile_cli, "run", "helper", "hi", *mode)
        assert_one_error_line(result)
        assert result.stderr.splitlines()[-1].endswith("oops \\ud800")


# -- a stream request answered with plain JSON -------------------------------------------------


async def test_json_answer_to_a_stream_request_reaches_on_text() -> None:
    """A proxy that ignores stream: true: its message is the answer, on_text gets the text."""
    chunks: list[str] = []
    async with hostile_client(lambda r: httpx.Response(200, json=message("whole answer"))) as c:
        result = await c.create(BODY, on_text=chunks.append)
    assert chunks == ["whole answer"]
    assert result.text == "whole answer"


def test_cli_stream_prints_a_json_answer(
    hostile_cli: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """cft run --stream against a server answering JSON prints the answer and exits 0."""
    serve(monkeypatch, lambda r: httpx.Response(200, json=message("whole answer")))
    result = cft(hostile_cli, "run", "helper", "hi", "--stream")
    assert result.exit_code == 0, (result.stdout, result.stderr)
    assert result.stdout == "whole answer\n"


# -- size caps -----------------------------------------------------------------------------------


class Counted:
    """A response body generated chunk by chunk, counting the bytes the client pulled."""

    def __init__(self, head: bytes, chunk: bytes, total: int) -> None:
        self.head, self.chunk, self.total = head, chunk, total
        self.sent = len(head)

    async def __aiter__(self) -> AsyncIterator[bytes]:
        yield self.head
        while self.sent < self.total:
            await trio.sleep(0)  # a checkpoint, as a network read has: leaving early cancels here
            self.sent += len(self.chunk)
            yield self.chunk


def endless_line(total: int = 40 * MIB) -> Counted:
    """An event stream whose first data line is ``total`` bytes long."""
    return Counted(b"event: content_block_delta\ndata: ", b"x" * 65536, total)


async def test_40_mb_sse_line_is_rejected_at_the_cap() -> None:
    """A 40 MB line stops the stream once the cap is passed, not after reading all of it."""
    body = endless_line()

    def respond(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, headers={"content-type": "text/event-stream"}, content=body)

    async with hostile_client(respond) as client:
        with pytest.raises(APIResponseError, match="longer than 4,194,304 characters") as info:
            await client.create(BODY, on_text=lambda _: None)
    assert "connection abandoned" in str(info.value)
    assert MAX_EVENT_SIZE < body.sent <= MAX_EVENT_SIZE + len(body.chunk)


async def test_40_mb_sse_line_over_loopback_abandons_the_connection() -> None:
    """Over real HTTP the client closes the connection after the cap; the server stops early."""
    sent = 0

    async def serve_endless_line(stream: trio.SocketStream) -> None:
        nonlocal sent
        request = b""
        while b"\r\n\r\n" not in request:
            request += await stream.receive_some()
        head = b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\nconnection: close\r\n\r\n"
        await stream.send_all(head + b"data: ")
        chunk = b"x" * 65536
        try:
            while sent < 40 * MIB:
                await stream.send_all(chunk)
                sent += len(chunk)
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            pass

    with trio.fail_after(30):
        async with trio.open_nursery() as nursery:
            listeners = await nursery.start(
                partial(trio.serve_tcp, serve_endless_line, 0, host="127.0.0.1")
            )
            port = listeners[0].socket.getsockname()[1]
            async with MessagesClient(base_url=f"http://127.0.0.1:{port}", api_key=KEY) as client:
                with pytest.raises(APIResponseError, match="longer than"):
                    await client.create(BODY, on_text=lambda _: None)
            nursery.cancel_scope.cancel()
    assert sent < 40 * MIB


def test_decoder_cap_counts_lines_and_events() -> None:
    """A line may reach the cap, not pass it; many data lines of one event count together."""
    decoder = SSEDecoder(max_event_size=100)
    assert decoder.feed(b"data: " + b"a" * 50 + b"\n\n")[0].data == "a" * 50
    for piece in [b"data: ", b"b" * 54, b"c" * 40]:  # a 100-character line, still arriving
        assert decoder.feed(piece) == []
    with pytest.raises(EventTooLargeError):
        decoder.feed(b"d")
    decoder = SSEDecoder(max_event_size=100)
    for _ in range(6):  # no blank line: one event growing by 16 characters a line
        assert decoder.feed(b"data: " + b"e" * 15 + b"\n") == []
    with pytest.raises(EventTooLargeError):
        decoder.feed(b"data: " + b"e" * 15 + b"\n")


def test_line_in_thousands_of_pieces_is_one_event() -> None:
    """A line just under the cap, fed in 4,096 pieces, is the same event as fed whole."""
    decoder = SSEDecoder()
    line = "x" * (MAX_EVENT_SIZE - 8)
    piece = len(line) // 4096
    events = decoder.feed(b"data: ")
    for start in range(0, len(line), piece):
        events += decoder.feed(line[start : start + piece].encode())
    events += decoder.feed(b"\n\n")
    assert [event.data for event in events] == [line]


async def test_oversized_body_is_rejected_at_the_cap() -> None:
    """A non-streamed body larger than the cap is abandoned once the cap is passed."""
    body = Counted(b"{", b" " * MIB, MAX_BODY_BYTES + 16 * MIB)

    def respond(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, headers={"content-type": "application/json"}, content=body)

    async with hostile_client(respond) as client:
        with pytest.raises(APIResponseError, match="larger than 33,554,432 bytes"):
            await client.create(BODY)
    assert MAX_BODY_BYTES < body.sent <= MAX_BODY_BYTES + len(body.chunk)


async def test_gzip_bomb_is_rejected_at_the_cap() -> None:
    """A few kilobytes of gzip that unpack past the cap are counted unpacked, and refused."""
    packer = zlib.compressobj(1, zlib.DEFLATED, 31)
    packed = packer.compress(b"\0" * (MAX_BODY_BYTES + MIB)) + packer.flush()
    assert len(packed) < MIB // 4

    async def pieces() -> AsyncIterator[bytes]:
        for start in range(0, len(packed), 16384):
            await trio.sleep(0)
            yield packed[start : start + 16384]

    def respond(request: httpx.Request) -> httpx.Response:
        headers = {"content-type": "application/json", "content-encoding": "gzip"}
        return httpx.Response(500, headers=headers, content=pieces())

    async with hostile_client(respond) as client:
        with pytest.raises(APIResponseError, match="larger than"):
            await client.create(BODY)


def test_cli_oversized_stream_is_one_error_line(
    hostile_cli: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """cft run --stream on an endless line prints one error line and exits 1."""

    def respond(request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            200, headers={"content-type": "text/event-stream"}, content=endless_line()
        )

    serve(monkeypatch, respond)
    result = cft(hostile_cli, "run", "helper", "hi", "--stream")
    assert_one_error_line(result)
    assert "longer than 4,194,304 characters" in result.stderr


def test_body_cap_is_generous() -> None:
    """The caps leave room for the largest real answers (a Message is rarely over 1 MB)."""
    assert MAX_BODY_BYTES >= 16 * MIB
    assert MAX_EVENT_SIZE >= 1 * MIB
