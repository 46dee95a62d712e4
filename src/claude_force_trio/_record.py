"""``RecordingLayer``: the top of the call stack, which reports every call once.

Why a layer: a call may be answered by the cache, by an identical call in
flight, or by the API after retries; only the top of the stack sees all of
those, so one :class:`~claude_force_trio.CallFinished` per call is emitted
here, whatever answered it. Metrics, traces and dashboards read those events
instead of each layer growing hooks of its own.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import anyio

from ._call import Call, CallObserver, Layer
from ._errors import APIStatusError, CFTError, StreamError
from ._events import CallFinished, Event
from ._types import Usage

if TYPE_CHECKING:
    from ._api._retry import RetryDetails
    from ._types import MessageResult

__all__ = ["RecordingLayer"]

_NO_USAGE = Usage()


class _Watch(CallObserver):
    """Passes everything on to the step's observer, noting attempts and a served answer."""

    __slots__ = ("attempts", "inner", "served_from_cache", "similarity")

    def __init__(self, inner: CallObserver) -> None:
        self.inner = inner
        self.attempts = 0
        self.served_from_cache = False
        self.similarity: float | None = None

    def attempt_started(self, attempt: int) -> None:
        self.attempts = attempt
        self.inner.attempt_started(attempt)

    def retrying(self, details: RetryDetails) -> None:
        self.inner.retrying(details)

    def text(self, chunk: str) -> None:
        self.inner.text(chunk)

    def served(self, saved_usd: float, similarity: float | None = None) -> None:
        self.served_from_cache = True
        self.similarity = similarity
        if similarity is None:
            self.inner.served(saved_usd)
        else:
            self.inner.served(saved_usd, similarity=similarity)


class RecordingLayer:
    """Emits one :class:`CallFinished` per call that passes through it.

    Args:
        inner: the rest of the stack (the cache, usually).
        emit: delivers the event (the engine's hooks).
    """

    def __init__(self, inner: Layer, emit: Callable[[Event], object]) -> None:
        self._inner = inner
        self._emit = emit

    async def send(self, call: Call, observer: CallObserver) -> MessageResult:
        """Answer ``call`` through the inner layer and report how it went."""
        watch = _Watch(observer)
        start = anyio.current_time()
        try:
            message = await self._inner.send(call, watch)
        except CFTError as exc:
            request_id = exc.request_id if isinstance(exc, APIStatusError | StreamError) else None
            self._report(call, watch, start, _NO_USAGE, type(exc).__name__, request_id)
            raise
        self._report(call, watch, start, message.usage, None, message.request_id, message)
        return message

    def _report(
        self,
        call: Call,
        watch: _Watch,
        start: float,
        usage: Usage,
        error_type: str | None,
        request_id: str | None,
        message: MessageResult | None = None,
    ) -> None:
        end = anyio.current_time()
        self._emit(
            CallFinished(
                call.run_id,
                call.step_id,
                call.agent,
                call.model,
                watch.served_from_cache,
                watch.attempts,
                end - start,
                usage,
                error_type,
                request_id,
                end,
                message.id if message is not None else None,
                message.model if message is not None else None,
                message.stop_reason if message is not None else None,
                watch.similarity,
            )
        )
