"""One API call on its way down the call stack: ``Call``, ``CallObserver`` and ``Layer``.

Why layers: every request passes the same stages — recording, the response
cache (single-flight and store), resilience (retries, breaker, adaptive
limiter), the HTTP client — and each stage is an object with one method,
``send(call, observer)``, that wraps the next one, as httpx stacks transports
behind ``handle_async_request``. So each can be tested alone with a fake
inner layer, a stage can be added (budgets, batches) without touching the
others, and the order is written down once, where the engine builds the stack.

Why one observer instead of callbacks: what the step making a call wants to
hear about — an attempt being sent, a retry, text arriving, an answer served
without an API call — is told to one object the step owns, passed down with
the call. Layers never steer one another through it; they only report.
"""

from __future__ import annotations

from collections.abc import Coroutine, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from ._api._retry import RetryDetails
    from ._run_budget import RunBudget
    from ._types import MessageResult

__all__ = ["Call", "CallObserver", "Layer"]


@dataclass(frozen=True, slots=True)
class Call:
    """One request for one answer.

    Attributes:
        body: the Messages request body.
        agent: the agent asking (the cache policy is per agent).
        stream: deliver the reply's text to the observer as it arrives.
        run_id: the run asking, for records (never part of a cache key).
        step_id: the step asking, likewise.
        cache: whether the response cache may answer it and keep its answer;
            ``False`` for a step whose tools have side effects (its calls
            must really happen each time).
        budget: the run's cap its worst-case cost is reserved under, or
            ``None`` (the day's cap, when set, applies to every call).
    """

    body: Mapping[str, Any]
    agent: str | None = None
    stream: bool = False
    run_id: str | None = None
    step_id: str | None = None
    cache: bool = True
    budget: RunBudget | None = None

    @property
    def model(self) -> str:
        """The requested model id (the breaker and limiter key on it)."""
        return str(self.body.get("model", ""))


class CallObserver:
    """Hears what happens to one call. Every method does nothing here; override what you need."""

    __slots__ = ()

    def attempt_started(self, attempt: int) -> None:
        """Attempt ``attempt`` (1-based) holds a slot and is being sent."""

    def retrying(self, details: RetryDetails) -> None:
        """An attempt failed and another follows after ``details.delay_s``."""

    def text(self, chunk: str) -> None:
        """A piece of the reply arrived (only for ``Call.stream``)."""

    def served(self, saved_usd: float, similarity: float | None = None) -> None:
        """The answer came without an API call (the cache, or an identical call in flight).

        Args:
            saved_usd: what the answer cost when it was paid for.
            similarity: for an answer the semantic cache matched to a task close
                to this one, the match's cosine similarity; ``None`` otherwise
                (only then is it passed, so observers written before keep working).
        """


class Layer(Protocol):
    """A stage of the call stack: answers ``call``, usually by asking the next stage.

    ``send`` returns a coroutine rather than being declared ``async``, so that a
    stage with nothing to do for a call can hand back the next stage's coroutine
    as it is: no frame of its own waits in the call's stack while the request is
    under way (at a thousand calls in flight, every frame kept is one more object
    for the garbage collector to walk). An ``async def send`` satisfies it too.
    """

    def send(self, call: Call, observer: CallObserver) -> Coroutine[Any, Any, MessageResult]:
        """Return the answer to ``call``; raise a :class:`CFTError` when there is none."""
        ...
