"""Single-flight: identical calls in flight at the same time share one execution.

Fifty steps that send the same request at once should make one API call, not
fifty: the first caller of a key (the *leader*) runs the call; callers that
arrive while it runs (*followers*) wait on an ``anyio.Event`` and get its result.

Outcomes, and why:

* **success** — every follower gets the leader's value.
* **failure** (an ``Exception``) — every follower fails too, with the same
  class, message and attributes. Not the *same instance*: raising one exception
  object in many tasks makes each raise append its frames to the shared
  ``__traceback__`` and can put one object twice in an ``ExceptionGroup``. Each
  follower raises a fresh copy (same ``args``, ``__dict__``, ``__cause__``), with
  a note saying it was shared. Nothing is remembered: the next call runs anew.
* **leader cancelled** (or any ``BaseException``) — the followers were not
  cancelled, so they must not be stranded or handed a ``Cancelled`` that is not
  theirs: they wake up and try again, and one of them becomes the new leader.
  A follower's own cancellation simply interrupts its wait.

The flight is keyed only while it runs; results are not cached here (that is
the response cache's job, with its TTL and policy).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Hashable
from typing import Generic, TypeVar

import anyio

__all__ = ["SingleFlight", "copy_exception"]

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")
E = TypeVar("E", bound=BaseException)

SHARED_NOTE = "(raised by an identical request in flight, shared through single-flight)"


def copy_exception(exc: E) -> E:
    """A fresh exception equal to ``exc`` in class, ``args``, attributes and cause.

    Built with ``__new__`` and a copy of ``__dict__`` rather than by calling
    ``__init__`` again, because subclasses' ``__init__`` signatures differ from
    their ``args`` (``ConfigError(path, message)`` stores one string). If the
    class cannot be copied that way, ``exc`` itself is returned.

    Args:
        exc: the exception to copy.
    """
    cls = type(exc)
    try:
        new = cls.__new__(cls, *exc.args)
        attrs = dict(getattr(exc, "__dict__", {}))
        if "__notes__" in attrs:
            attrs["__notes__"] = list(attrs["__notes__"])
        new.__dict__.update(attrs)
        new.args = exc.args
    except Exception:
        return exc
    new.__cause__ = exc.__cause__
    new.__context__ = exc.__context__
    new.__suppress_context__ = exc.__suppress_context__
    new.add_note(SHARED_NOTE)
    return new


class _Flight(Generic[V]):
    """One running call: its outcome, filled in before it is marked done.

    The event is made by the first follower, not by the leader: most calls
    have no identical twin in flight, and an event costs a few µs to make.
    """

    __slots__ = ("_done", "error", "finished", "succeeded", "value")

    def __init__(self) -> None:
        self._done: anyio.Event | None = None
        self.finished = False
        self.succeeded = False
        self.value: V | None = None
        self.error: Exception | None = None

    async def wait(self) -> None:
        """Wait until the leader is done (at once if it already is)."""
        if self.finished:
            return
        if self._done is None:
            self._done = anyio.Event()
        await self._done.wait()

    def finish(self) -> None:
        """Mark the outcome final and wake every follower."""
        self.finished = True
        if self._done is not None:
            self._done.set()


class SingleFlight(Generic[K, V]):
    """Coalesce concurrent calls by key. Use one instance per kind of call."""

    def __init__(self) -> None:
        self._flights: dict[K, _Flight[V]] = {}

    def in_flight(self) -> int:
        """How many distinct keys have a call running now."""
        return len(self._flights)

    async def do(self, key: K, fn: Callable[[], Awaitable[V]]) -> tuple[V, bool]:
        """Run ``fn()`` unless a call for ``key`` is already running; then share its outcome.

        Args:
            key: identifies identical calls.
            fn: makes the call; only the leader calls it.

        Returns:
            ``(value, shared)``: ``shared`` is True when another task's call produced it.

        Raises:
            Exception: whatever ``fn`` raised (a copy of it, in followers).
        """
        while True:
            flight = self._flights.get(key)
            if flight is None:
                return await self._lead(key, fn), False
            await flight.wait()
            if flight.succeeded:
                return flight.value, True  # type: ignore[return-value]
            if flight.error is not None:
                raise copy_exception(flight.error)
            # The leader was cancelled: go round again; one of us leads the retry.

    async def _lead(self, key: K, fn: Callable[[], Awaitable[V]]) -> V:
        flight: _Flight[V] = _Flight()
        self._flights[key] = flight
        try:
            value = await fn()
        except Exception as exc:
            flight.error = exc
            raise
        else:
            flight.value, flight.succeeded = value, True
            return value
        finally:
            # Unkeyed before waking anyone, so a retry after a failure starts a new flight.
            del self._flights[key]
            flight.finish()
