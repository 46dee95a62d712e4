"""Tests of the incremental SSE parser against the WHATWG event-stream rules."""

from __future__ import annotations

import re

from hypothesis import given
from hypothesis import strategies as st

from claude_force_trio._api._sse import ServerSentEvent, SSEDecoder

ANTHROPIC_STREAM = (
    b"event: message_start\n"
    b'data: {"type":"message_start","message":{"id":"msg_1"}}\n'
    b"\n"
    b"event: ping\n"
    b'data: {"type": "ping"}\n'
    b"\n"
    b": a comment line\n"
    b"event: content_block_delta\n"
    b'data: {"type":"content_block_delta","delta":{"text":"h\xc3\xa9llo \xe2\x9c\x93"}}\n'
    b"\n"
    b"event: message_stop\n"
    b'data: {"type":"message_stop"}\n'
    b"\n"
)


def parse(*chunks: bytes) -> list[ServerSentEvent]:
    """Feed the chunks in order, then close, and return every event."""
    decoder = SSEDecoder()
    events: list[ServerSentEvent] = []
    for chunk in chunks:
        events.extend(decoder.feed(chunk))
    events.extend(decoder.close())
    return events


def reference(stream: bytes) -> list[ServerSentEvent]:
    """A naive whole-stream reading of the spec, used as the oracle."""
    text = stream.decode("utf-8", "replace")
    text = text.removeprefix("\ufeff")
    lines = re.split(r"\r\n|\r|\n", text)
    lines.pop()  # the unterminated tail (maybe empty) is never a line
    events: list[ServerSentEvent] = []
    data: list[str] = []
    event, last_id, retry = "", None, None
    for line in [*lines, ""]:  # EOF dispatches complete lines (documented leniency)
        if line == "":
            if data:
                events.append(ServerSentEvent(event or "message", "\n".join(data), last_id, retry))
            data, event = [], ""
            continue
        if line.startswith(":"):
            continue
        name, sep, value = line.partition(":")
        if sep and value.startswith(" "):
            value = value[1:]
        if name == "data":
            data.append(value)
        elif name == "event":
            event = value
        elif name == "id" and "\0" not in value:
            last_id = value
        elif name == "retry" and value.isascii() and value.isdigit():
            retry = int(value)
    return events


def test_anthropic_stream_whole() -> None:
    """A typical Messages stream parses into its four events with UTF-8 intact."""
    events = parse(ANTHROPIC_STREAM)
    assert [e.event for e in events] == [
        "message_start",
        "ping",
        "content_block_delta",
        "message_stop",
    ]
    assert "héllo ✓" in events[2].data


def test_split_at_every_byte_position() -> None:
    """Cutting the stream in two anywhere, even inside a character, changes nothing."""
    expected = parse(ANTHROPIC_STREAM)
    for cut in range(len(ANTHROPIC_STREAM) + 1):
        assert parse(ANTHROPIC_STREAM[:cut], ANTHROPIC_STREAM[cut:]) == expected, cut


def test_one_byte_at_a_time() -> None:
    """Feeding single bytes gives the same events as one chunk."""
    chunks = [ANTHROPIC_STREAM[i : i + 1] for i in range(len(ANTHROPIC_STREAM))]
    assert parse(*chunks) == parse(ANTHROPIC_STREAM)


def test_crlf_split_at_every_position() -> None:
    """CRLF line ends, cut between CR and LF or anywhere else, read like LF."""
    crlf = ANTHROPIC_STREAM.replace(b"\n", b"\r\n")
    expected = parse(ANTHROPIC_STREAM)
    for cut in range(len(crlf) + 1):
        assert parse(crlf[:cut], crlf[cut:]) == expected, cut


def test_bare_cr_line_ends() -> None:
    """A lone CR ends a line, and CR CR is a line then a blank line."""
    assert parse(b"data: a\r\rdata: b\r\r") == [
        ServerSentEvent("message", "a"),
        ServerSentEvent("message", "b"),
    ]


def test_event_dispatched_when_its_blank_line_arrives() -> None:
    """An event comes out of feed() as soon as its blank line is fed, not at close."""
    decoder = SSEDecoder()
    assert decoder.feed(b"event: x\ndata: 1\n") == []
    assert decoder.feed(b"\n") == [ServerSentEvent("x", "1")]
    assert decoder.feed(b"data: 2\r") == []
    assert decoder.feed(b"\r") == [ServerSentEvent("message", "2")]
    assert decoder.feed(b"\n") == []  # the LF completing that CRLF is not another blank line
    assert decoder.close() == []


def test_comments_are_ignored() -> None:
    """Lines starting with a colon are comments, even between data lines."""
    assert parse(b": hi\ndata: a\n:\n: more\ndata: b\n\n") == [ServerSentEvent("message", "a\nb")]


def test_multiline_data_joined_with_newlines() -> None:
    """Several data lines join with LF; an empty data line adds an empty line."""
    assert parse(b"data: one\ndata:two\ndata\ndata: \n\n") == [
        ServerSentEvent("message", "one\ntwo\n\n")
    ]


def test_only_one_leading_space_removed() -> None:
    """Exactly one space after the colon is dropped, the rest is data."""
    assert parse(b"data:   x \n\n") == [ServerSentEvent("message", "  x ")]


def test_event_without_data_is_dropped() -> None:
    """An event type with no data dispatches nothing and resets the type."""
    assert parse(b"event: ping\n\ndata: a\n\n") == [ServerSentEvent("message", "a")]


def test_empty_data_line_dispatches_empty_event() -> None:
    """A single empty ``data:`` line still dispatches an event with empty data."""
    assert parse(b"event: e\ndata:\n\n") == [ServerSentEvent("e", "")]


def test_id_and_retry_persist() -> None:
    """``id`` persists across events; ``retry`` needs digits; NUL ids are ignored."""
    events = parse(b"id: 7\nretry: 1500\ndata: a\n\nretry: x1\nid: b\0d\ndata: b\n\n")
    assert events == [
        ServerSentEvent("message", "a", "7", 1500),
        ServerSentEvent("message", "b", "7", 1500),
    ]


def test_unknown_fields_ignored() -> None:
    """Fields other than event, data, id and retry are ignored."""
    assert parse(b"foo: bar\nDATA: no\ndata: yes\n\n") == [ServerSentEvent("message", "yes")]


def test_missing_trailing_blank_line_still_dispatches() -> None:
    """A stream whose last event lacks its blank line still yields that event at close."""
    assert parse(b"data: a\n\nevent: message_stop\ndata: {}\n") == [
        ServerSentEvent("message", "a"),
        ServerSentEvent("message_stop", "{}"),
    ]
    assert parse(b"data: a\r\n\r\ndata: b\r") == [
        ServerSentEvent("message", "a"),
        ServerSentEvent("message", "b"),
    ]


def test_unterminated_last_line_is_discarded() -> None:
    """A last line with no line end may be cut mid-way, so it is dropped."""
    assert parse(b'data: a\n\ndata: {"trunc') == [ServerSentEvent("message", "a")]


def test_bom_stripped_once() -> None:
    """One leading BOM is stripped, even split across chunks; a second is data."""
    bom = "\ufeff".encode()
    assert parse(bom[:1], bom[1:] + b"data: a\n\n") == [ServerSentEvent("message", "a")]
    assert parse(bom + bom + b"data: a\n\n") == []  # "\ufeffdata" is an unknown field


def test_invalid_utf8_replaced() -> None:
    """Invalid UTF-8 becomes U+FFFD instead of failing the stream."""
    assert parse(b"data: \xff\n\n") == [ServerSentEvent("message", "\ufffd")]


def test_no_other_unicode_line_breaks() -> None:
    """Only CR and LF end lines; U+2028, VT and FF are data."""
    assert parse("data: a\u2028b\x0bc\x0cd\n\n".encode()) == [
        ServerSentEvent("message", "a\u2028b\x0bc\x0cd")
    ]


_stream_lines = st.lists(
    st.one_of(
        st.just(""),
        st.sampled_from([": c", "data", "data:", "event: e", "id: 1", "retry: 20", "x"]),
        st.text(alphabet="ab :é\0", max_size=8).map(lambda s: "data: " + s),
        st.text(alphabet="ab:é", max_size=6),
    ),
    max_size=20,
)


@given(
    lines=_stream_lines,
    ending=st.sampled_from(["\n", "\r\n", "\r"]),
    tail=st.sampled_from(["", "data: cut"]),
    cuts=st.lists(st.integers(min_value=0, max_value=400), max_size=6),
)
def test_matches_reference_for_any_chunking(
    lines: list[str], ending: str, tail: str, cuts: list[int]
) -> None:
    """For any stream and any chunking, the decoder agrees with the naive oracle."""
    stream = ("".join(line + ending for line in lines) + tail).encode()
    points = sorted({min(c, len(stream)) for c in cuts})
    chunks = [stream[a:b] for a, b in zip([0, *points], [*points, len(stream)], strict=True)]
    assert parse(*chunks) == reference(stream)


def test_a_long_line_is_kept_in_pieces_until_it_ends() -> None:
    """Linear in the line's length: each chunk of an unterminated line is kept as it came.

    Joining the line so far on every chunk (or searching it again) made a 40 MB
    line cost 20 s of CPU (issue 9). Nothing here is timed: the test checks the
    mechanism, that no chunk is joined to the ones before until its line ends.
    """
    decoder = SSEDecoder(max_event_size=10_000_000)
    assert decoder.feed(b"data: ") == []
    for _ in range(10_000):
        assert decoder.feed(b"x" * 100) == []
    assert len(decoder._partial) == 10_001  # "data: " and every chunk, none joined yet
    assert decoder._partial_size == 6 + 1_000_000
    [event] = decoder.feed(b"\n\n")
    assert event.data == "x" * 1_000_000
    assert decoder._partial == []
