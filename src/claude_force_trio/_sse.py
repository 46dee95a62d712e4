"""An incremental parser for ``text/event-stream`` (Server-Sent Events).

The Messages API streams its answer as SSE. :class:`SSEDecoder` turns the raw
bytes of such a stream, cut anywhere by the network, into
:class:`ServerSentEvent` values, following the WHATWG "event stream
interpretation" rules:

* lines end in CRLF, LF or CR; a CRLF split across two chunks is still one
  line end (the lone CR is acted on at once so an event is never delayed);
* an empty line dispatches the event; one with no ``data`` is dropped;
* ``event``, ``data``, ``id``, ``retry`` fields; a line starting with ``:`` is
  a comment; one space after the colon is removed; unknown fields are ignored;
* several ``data`` lines are joined with ``\\n``;
* UTF-8, invalid bytes replaced, one leading BOM stripped, multi-byte
  characters split across chunks decoded correctly.

One deliberate leniency at the end of the stream (:meth:`SSEDecoder.close`):
an event whose lines all arrived complete but whose final blank line did not
is still dispatched, so a server or proxy that drops the last ``\\n`` does not
turn a finished answer into an error. An unterminated last line, which may
have been cut mid-way, is discarded as the specification says.

The decoder knows nothing about Anthropic events or JSON; ``_client`` does.
"""

from __future__ import annotations

import codecs
from dataclasses import dataclass

__all__ = ["SSEDecoder", "ServerSentEvent"]


@dataclass(frozen=True, slots=True)
class ServerSentEvent:
    """One dispatched event.

    Attributes:
        event: the ``event`` field, or ``"message"`` when the event had none.
        data: the ``data`` lines joined with ``\\n``.
        id: the last event id seen so far in the stream (it persists), if any.
        retry: the last ``retry`` value (milliseconds) seen so far, if any.
    """

    event: str
    data: str
    id: str | None = None
    retry: int | None = None


class SSEDecoder:
    """Turns chunks of an event stream into events, keeping state across chunks.

    Feed it every chunk in order with :meth:`feed`, then call :meth:`close`
    once at the end of the stream::

        decoder = SSEDecoder()
        async for chunk in response.aiter_bytes():
            for event in decoder.feed(chunk):
                ...
        for event in decoder.close():
            ...
    """

    __slots__ = ("_bom_checked", "_buf", "_data", "_decoder", "_event", "_id", "_retry", "_skip_lf")

    def __init__(self) -> None:
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._buf = ""  # the unterminated tail of the last chunk
        self._skip_lf = False  # the last chunk ended in CR: a leading LF belongs to it
        self._bom_checked = False
        self._data: list[str] = []
        self._event = ""
        self._id: str | None = None
        self._retry: int | None = None

    def feed(self, chunk: bytes) -> list[ServerSentEvent]:
        """Parse one chunk of the stream.

        Args:
            chunk: the next bytes, cut anywhere (mid-line, mid-character).

        Returns:
            The events completed by this chunk, in stream order (often none).
        """
        return self._feed_text(self._decoder.decode(chunk))

    def close(self) -> list[ServerSentEvent]:
        """Finish the stream and return what it still completes.

        Returns:
            The pending event if all its lines arrived whole but the closing
            blank line did not (see the module docstring); otherwise nothing.
        """
        events = self._feed_text(self._decoder.decode(b"", True))
        self._buf = ""  # an unterminated line may be cut short: drop it
        self._dispatch(events)
        return events

    def _feed_text(self, text: str) -> list[ServerSentEvent]:
        events: list[ServerSentEvent] = []
        if not text:
            return events
        if not self._bom_checked:
            # The BOM can only be judged once a character has arrived.
            self._bom_checked = True
            if text[0] == "\ufeff":
                text = text[1:]
                if not text:
                    return events
        if self._skip_lf:
            self._skip_lf = False
            if text[0] == "\n":
                text = text[1:]
        if self._buf:
            text = self._buf + text
        if "\r" in text:
            # A trailing CR ends its line now; an LF opening the next chunk is
            # the rest of that CRLF and must not count as a second (blank) line.
            if text[-1] == "\r":
                self._skip_lf = True
            text = text.replace("\r\n", "\n").replace("\r", "\n")
        lines = text.split("\n")
        self._buf = lines.pop()
        for line in lines:
            if not line:
                self._dispatch(events)
            elif line[0] != ":":
                self._field(line)
        return events

    def _field(self, line: str) -> None:
        colon = line.find(":")
        if colon == -1:
            name, value = line, ""
        else:
            name = line[:colon]
            value = line[colon + 1 :]
            if value and value[0] == " ":
                value = value[1:]
        if name == "data":
            self._data.append(value)
        elif name == "event":
            self._event = value
        elif name == "id":
            if "\0" not in value:
                self._id = value
        elif name == "retry" and value.isascii() and value.isdigit():
            self._retry = int(value)

    def _dispatch(self, events: list[ServerSentEvent]) -> None:
        if self._data:
            data = self._data[0] if len(self._data) == 1 else "\n".join(self._data)
            events.append(ServerSentEvent(self._event or "message", data, self._id, self._retry))
            self._data = []
        self._event = ""
