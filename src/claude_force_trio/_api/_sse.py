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

__all__ = ["MAX_EVENT_SIZE", "EventTooLargeError", "SSEDecoder", "ServerSentEvent"]

#: Characters one event (or one line) may hold: the Messages API's events are a
#: few hundred bytes and a whole long answer fits many times over.
MAX_EVENT_SIZE = 4 * 1024 * 1024


class EventTooLargeError(ValueError):
    """Raised by :meth:`SSEDecoder.feed` when an event or a line outgrows the decoder's cap.

    A server that never ends a line would otherwise make the client buffer
    without bound; the caller should abandon the stream.
    """

    def __init__(self, limit: int) -> None:
        self.limit = limit
        super().__init__(f"an event or line longer than {limit:,} characters")


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
    once at the end of the stream. Work is linear in the bytes fed, and memory
    bounded by ``max_event_size``::

        decoder = SSEDecoder()
        async for chunk in response.aiter_bytes():
            for event in decoder.feed(chunk):
                ...
        for event in decoder.close():
            ...

    Args:
        max_event_size: the most characters one event's data lines, or one
            line still arriving, may hold. Past it :meth:`feed` raises
            :class:`EventTooLargeError` and the stream should be abandoned.
    """

    __slots__ = (
        "_bom_checked",
        "_data",
        "_data_size",
        "_decoder",
        "_event",
        "_id",
        "_max",
        "_partial",
        "_partial_size",
        "_retry",
        "_skip_lf",
    )

    def __init__(self, *, max_event_size: int = MAX_EVENT_SIZE) -> None:
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._max = max_event_size
        self._partial: list[str] = []  # the unterminated line so far, in pieces
        self._partial_size = 0
        self._data_size = 0  # characters of the pending event's data lines
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
        self._partial.clear()  # an unterminated line may be cut short: drop it
        self._partial_size = 0
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
        # Only the new text is searched for line ends: the unterminated tail of
        # earlier chunks waits in _partial and is joined once, when its line
        # ends. Re-scanning it on every chunk made a long line quadratic.
        if "\r" in text:
            # A trailing CR ends its line now; an LF opening the next chunk is
            # the rest of that CRLF and must not count as a second (blank) line.
            if text[-1] == "\r":
                self._skip_lf = True
            text = text.replace("\r\n", "\n").replace("\r", "\n")
        lines = text.split("\n")
        tail = lines.pop()
        if lines and self._partial:
            lines[0] = "".join(self._partial) + lines[0]
            self._partial.clear()
            self._partial_size = 0
        for line in lines:
            if not line:
                self._dispatch(events)
            elif line[0] != ":":
                self._field(line)
        if tail:
            self._partial.append(tail)
            self._partial_size += len(tail)
        self._check_size()
        return events

    def _check_size(self) -> None:
        """Refuse an event, or a line still arriving, longer than ``max_event_size``."""
        if self._partial_size + self._data_size > self._max:
            self._partial.clear()
            raise EventTooLargeError(self._max)

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
            self._data_size += len(value) + 1
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
            self._data_size = 0
        self._event = ""
