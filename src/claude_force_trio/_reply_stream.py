"""One reply's streamed text as the caller sees it, across the attempts that produce it.

Why this exists: a retry after a mid-stream failure (an SSE ``error`` event, a
connection reset, a read timeout) sends the whole request again, and the new
attempt's text starts from the beginning. Handed straight to ``on_text``, the
caller would get the failed attempt's partial text and then the whole answer
again, with nothing to tell the two apart. A :class:`ReplyStream` stands between
the attempts and the caller's callbacks and says when to throw text away:

* ``on_text(chunk)`` gets every chunk of every attempt, in order;
* ``on_restart(attempt)`` is called just before attempt ``attempt`` is sent, when
  text delivered since the start (or since the last ``on_restart``) belongs to an
  attempt that failed. Everything ``on_text`` received before it is void. A
  failed attempt that delivered no text calls nothing: there is nothing to void;
* an answer that arrives whole (from the response cache, or as JSON from a server
  that ignored ``stream: true``) is passed to ``on_text`` in one chunk;
* a step's loop makes several calls (tool rounds, continuations): after each
  call ends, :meth:`ReplyStream.next_call` makes its text final, so the next
  call's first attempt voids nothing.

So for a successful reply, the chunks after the last ``on_restart`` joined are
exactly the reply's text. Without ``on_restart`` the chunks are the same, and a
retried reply then shows the failed attempt's text followed by the new one.
"""

from __future__ import annotations

from collections.abc import Callable

__all__ = ["ReplyStream", "RestartCallback", "TextCallback"]

#: Called with each text chunk, in order.
TextCallback = Callable[[str], object]
#: Called with the number (2, 3, …) of the attempt about to replace delivered text.
RestartCallback = Callable[[int], object]


class ReplyStream:
    """Delivers one request's text to ``on_text`` and its restarts to ``on_restart``.

    Args:
        on_text: called with each text chunk as it arrives.
        on_restart: called with an attempt's number before that attempt is sent,
            if the text delivered so far belongs to a failed attempt.

    Exceptions the callbacks raise propagate to the caller of the request.
    """

    __slots__ = ("_delivered", "_on_restart", "_on_text")

    def __init__(self, on_text: TextCallback, on_restart: RestartCallback | None = None) -> None:
        self._on_text = on_text
        self._on_restart = on_restart
        self._delivered = False

    def attempt(self, number: int) -> None:
        """Attempt ``number`` is about to be sent: void the text delivered so far, if any."""
        if not self._delivered:
            return
        self._delivered = False
        if self._on_restart is not None:
            self._on_restart(number)

    def __call__(self, chunk: str) -> None:
        """Deliver one chunk of the current attempt."""
        if chunk:
            self._delivered = True
        self._on_text(chunk)

    def next_call(self) -> None:
        """The call ended well: what it delivered stands, and the next call starts clean."""
        self._delivered = False

    def whole(self, text: str) -> None:
        """The answer is ``text``: deliver it in one chunk unless it was streamed already."""
        if text and not self._delivered:
            self(text)
