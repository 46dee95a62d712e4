"""Server-held conversations: the beta endpoint's ``thread`` field.

Why: the official SDK's tool runner sends ``thread: {"type": "create"}`` on its
first request and then ``{"type": "continue", "previous_message_id": "msg_…"}``
with only the new turn's messages, expecting the server to remember the rest.
A thread also holds the request's other fields (``tools``, ``system``…: the
SDK sends them only once), so the simulator keeps each answered conversation
(the fields and messages it was asked, plus its reply) under the reply's id,
and the next request is whole again before any check or reply sees it; fields
the new request sends win. The store is bounded: the oldest threads are
forgotten first, and continuing a forgotten one is refused as an unknown id.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping
from typing import Any, Final

from ._validate import InvalidRequest

__all__ = ["ThreadStore"]

_MAX_THREADS: Final = 4096
_NOT_HELD: Final = frozenset({"thread", "stream"})


class ThreadStore:
    """Conversations by the id of their latest reply, oldest forgotten first."""

    def __init__(self, capacity: int = _MAX_THREADS) -> None:
        self._threads: OrderedDict[str, dict[str, Any]] = OrderedDict()
        self._capacity = capacity

    def expand(self, body: dict[str, Any]) -> dict[str, Any]:
        """The body with its whole history: the held thread's messages, then the new ones.

        Raises:
            InvalidRequest: ``thread`` is malformed or continues an unknown id.
        """
        thread = body.get("thread")
        if thread is None or thread is False:
            return body
        if not isinstance(thread, Mapping) or thread.get("type") not in ("create", "continue"):
            raise InvalidRequest("thread.type: Input should be 'create' or 'continue'")
        if thread["type"] == "create":
            return body
        previous = thread.get("previous_message_id")
        held = self._threads.get(previous) if isinstance(previous, str) else None
        if held is None:
            raise InvalidRequest(f"thread.previous_message_id: no thread ends at {previous!r}")
        return {**held, **body, "messages": [*held["messages"], *body["messages"]]}

    def remember(
        self, message_id: str, body: Mapping[str, Any], content: list[dict[str, Any]]
    ) -> None:
        """Hold the whole conversation ``body`` that reply ``message_id`` (``content``) ended."""
        fields = {k: v for k, v in body.items() if k not in _NOT_HELD}
        fields["messages"] = [*body["messages"], {"role": "assistant", "content": content}]
        self._threads[message_id] = fields
        while len(self._threads) > self._capacity:
            self._threads.popitem(last=False)
