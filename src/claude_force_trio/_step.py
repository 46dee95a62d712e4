"""One step's whole life: prompt → call (through the layers) → an honest result.

Why a module of its own: the workflow scheduler (``_run``) decides *when* a
step runs and the engine owns *what it runs with* (the call stack, memory,
hooks); everything in between — building the prompt, the step's own deadline,
what its events say, turning an answer or an error into a
:class:`~claude_force_trio.StepResult` — is one step's business and lives
here, in one object. The conversation itself (call → tools → call again, until
an honest outcome) is :mod:`._turns`; the step gives it a way to ask (each call
through the whole call stack, so each is cached and priced on its own) and turns
how it ended into a result: usage, cost and attempts summed over the calls, the
tool calls and the thinking kept.

The deadline: a step's timeout starts when its first request is *sent* (the
resilience layer reports ``attempt_started(1)``), not while it waits for a
concurrency slot, and it covers every retry, wait, tool round and later call
after that. A cancel scope owned by the step enforces it, so the request or
tool in flight is cancelled when it fires. An answer served from the cache
starts the clock at the moment the step asked, so a loop that goes on from a
served turn is still bounded.

A step never raises for what goes wrong with the API or its input: it
returns a result saying so. Only cancellation from outside escapes (the run's
fail-fast, its timeout, Ctrl-C); :meth:`Step.interrupted` then says what the
step had done.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import anyio

from ._call import Call, CallObserver
from ._errors import APIStatusError, BudgetError, CFTError, StepTimeoutError, StreamError
from ._events import (
    Event,
    StepFailed,
    StepQueued,
    StepRetrying,
    StepStarted,
    StepSucceeded,
    StepTimedOut,
    ToolCalled,
    ToolFinished,
)
from ._prompts import build_request, user_message
from ._reply_stream import ReplyStream
from ._results import StepResult, StepStatus, ToolCall
from ._step_spec import StepServices, StepSpec
from ._step_tally import CallTally
from ._text import hash_user_message
from ._tools._base import ToolBox, ToolError
from ._turns import Asker, Conversation, Outcome

if TYPE_CHECKING:
    from ._api._retry import RetryDetails
    from ._memory import MemoryItem
    from ._outcome import Failure
    from ._types import MessageResult

__all__ = ["Step", "StepServices", "StepSpec", "now"]


def now() -> datetime:
    """The wall-clock time results are stamped with."""
    return datetime.now(UTC)


class Step(CallObserver, Asker):
    """One step, ready to run once. Also the observer of the calls and tools it runs.

    Args:
        services: what the engine lends it.
        spec: what it is asked to do.
        run_id: the run it belongs to, stamped on its events.
        emit: delivers its events to the hooks.
    """

    __slots__ = (
        "_conversation",
        "_deadline",
        "_emit",
        "_model",
        "_queued",
        "_run_id",
        "_services",
        "_spec",
        "_started",
        "_started_at",
        "_stream",
        "_tally",
    )

    def __init__(
        self,
        services: StepServices,
        spec: StepSpec,
        *,
        run_id: str,
        emit: Callable[[Event], object],
    ) -> None:
        self._services = services
        self._spec = spec
        self._run_id = run_id
        self._emit = emit
        self._model: str | None = None
        self._tally = CallTally(services.pricing)
        self._queued = 0.0
        self._started: float | None = None
        self._started_at: datetime | None = None
        self._deadline: anyio.CancelScope | None = None
        self._conversation: Conversation | None = None
        self._stream = None if spec.on_text is None else ReplyStream(spec.on_text, spec.on_restart)

    @property
    def step_id(self) -> str:
        """The step's id."""
        return self._spec.step_id

    @property
    def tools(self) -> ToolBox:
        """The tools the step may use (an empty box when none)."""
        return self._spec.tools

    # -- the step's life ------------------------------------------------------------

    async def run(self) -> StepResult:
        """Run the step to an outcome and return it; only cancellation escapes."""
        spec, services = self._spec, self._services
        try:
            body, memory = await self._prepare()
        except CFTError as exc:  # a step with nothing to ask fails before it is queued
            return self._finish_failed(exc)
        self._model = str(body["model"])
        self._queued = anyio.current_time()
        self._emit(
            StepQueued(
                self._run_id, spec.step_id, spec.agent.name, self._queued, hash_user_message(body)
            )
        )
        conversation = self._conversation = Conversation(
            body,
            agent=spec.agent,
            tools=spec.tools,
            schema=spec.output_schema,
            redact=services.redact,
        )
        with anyio.CancelScope() as deadline:
            self._deadline = deadline
            try:
                outcome = await conversation.run(self)
            except CFTError as exc:
                return self._finish_failed(exc)
        if deadline.cancelled_caught:
            return self._finish_timed_out()
        if outcome.failure is not None:
            return self._finish_outcome(outcome.failure)
        end = anyio.current_time()
        result = self._succeeded(outcome, end)
        if services.memory is not None and memory is not None and not result.cached:
            key, recalled = memory  # a repeat of this task is given these memories again
            model, usage = result.model, result.usage
            await services.memory.record(
                spec.agent.name, key, outcome.text, model=model, usage=usage, context=recalled
            )
            end = anyio.current_time()
        self._emit(StepSucceeded(self._run_id, spec.step_id, result, end))
        return result

    def interrupted(self) -> StepResult:
        """The result to record when the step is cancelled before it finishes."""
        return self._ended("cancelled", "cancelled before it finished", "Cancelled")

    async def _prepare(self) -> tuple[dict[str, object], tuple[str, list[MemoryItem]] | None]:
        """The request body, and the text agent memory keys on with the memories recalled
        for it (``None`` when memory is off).

        Memory goes in the user message, never in the cached system prefix, and
        is looked up by the message *without* memory so the key is stable.
        """
        spec, services = self._spec, self._services
        if spec.tools.unavailable:  # e.g. an MCP server it uses did not start
            raise ToolError("; ".join(spec.tools.unavailable))
        base = user_message(spec.task, workflow_task=spec.workflow_task, dependencies=spec.inputs)
        text, memory = base, None
        if services.memory is not None:
            from ._memory import format_context

            settings = services.memory_settings
            items = await services.memory.relevant(
                spec.agent.name, base, settings.max_context_items
            )
            memory = (base, items)
            if context := format_context(items, settings.max_context_chars):
                text = user_message(
                    spec.task,
                    workflow_task=spec.workflow_task,
                    dependencies=spec.inputs,
                    memory=context,
                )
        body = build_request(
            spec.agent,
            services.defaults,
            text,
            model=spec.model,
            max_tokens=spec.max_tokens,
            temperature=spec.temperature,
            prompt_cache=services.prompt_cache,
            system=services.system(spec.agent),
            tools=spec.tools,
            output_schema=spec.output_schema,
        )
        return body, memory

    async def ask(self, body: dict[str, Any]) -> MessageResult:
        """One call of the conversation's loop, through the whole call stack (``Asker``)."""
        spec = self._spec
        call = Call(
            body,
            spec.agent.name,
            self._stream is not None,
            self._run_id,
            spec.step_id,
            cache=not spec.tools.side_effects,
            budget=spec.budget,
        )
        self._tally.next_call()
        message = await self._services.caller.send(call, self)
        if self._started is None:
            # Served without an attempt of its own (the cache, an identical call in
            # flight): the step "ran" from the moment it asked.
            self._start(self._queued)
        self._tally.add(message, self._model or "")
        if self._stream is not None:
            self._stream.whole(message.text)
            self._stream.next_call()
        return message

    # -- what the calls tell the step (the CallObserver protocol) ---------------------

    def attempt_started(self, attempt: int) -> None:
        """An attempt holds its slot and is sent: the step's first one starts its clock."""
        self._tally.attempt(attempt)
        if self._stream is not None:
            self._stream.attempt(attempt)
        if self._started is None:
            self._start(anyio.current_time())

    def retrying(self, details: RetryDetails) -> None:
        """An attempt failed and another follows: say so to the hooks."""
        error = details.error
        self._emit(
            StepRetrying(
                self._run_id,
                self._spec.step_id,
                details.attempt,
                details.delay_s,
                type(error).__name__,
                str(error),
                anyio.current_time(),
            )
        )

    def text(self, chunk: str) -> None:
        """A piece of the reply arrived."""
        if self._stream is not None:
            self._stream(chunk)

    def served(self, saved_usd: float, similarity: float | None = None) -> None:
        """The answer came without an API call, saving ``saved_usd`` (``similarity``: semantic)."""
        self._tally.served(saved_usd, similarity)

    # -- what the tools tell the step (the RoundReport protocol) ----------------------

    def called(self, tool_use_id: str, name: str, turn: int) -> None:
        """A tool call starts: say so to the hooks."""
        at = anyio.current_time()
        self._emit(ToolCalled(self._run_id, self._spec.step_id, name, turn, tool_use_id, at))

    def finished(self, tool_use_id: str, record: ToolCall) -> None:
        """A tool call ended: say so to the hooks."""
        self._emit(
            ToolFinished(
                self._run_id,
                self._spec.step_id,
                record.name,
                record.turn,
                tool_use_id,
                record.is_error,
                record.elapsed_s,
                record.error,
                anyio.current_time(),
            )
        )

    # -- results ----------------------------------------------------------------------

    def _start(self, at: float) -> None:
        """The step's clock starts at ``at``: its deadline is ``timeout_s`` later."""
        self._started = at
        self._started_at = now()
        if self._deadline is not None:
            self._deadline.deadline = at + self._spec.timeout_s
        spec = self._spec
        self._emit(StepStarted(self._run_id, spec.step_id, spec.agent.name, self._model or "", at))

    def _loop_facts(self) -> dict[str, Any]:
        """What every result says about the loop so far: calls, usage, cost, tools, thinking."""
        conversation, tally = self._conversation, self._tally
        facts: dict[str, Any] = {
            "attempts": tally.attempts,
            "usage": tally.usage,
            "cost_usd": tally.cost_usd,
            "turns": 0 if conversation is None else conversation.turns,
        }
        if conversation is not None:
            facts["tool_calls"] = tuple(conversation.tool_calls)
            facts["thinking"] = "\n\n".join(conversation.thinking) or None
        if (last := tally.last) is not None:
            facts["stop_reason"] = last.stop_reason
            facts["request_id"] = last.request_id
        return facts

    def _ended(
        self,
        status: StepStatus,
        message: str,
        error_type: str,
        exception: BaseException | None = None,
    ) -> StepResult:
        """A result for a step that did not succeed, keeping the facts of ``exception``."""
        started = self._started
        facts = self._loop_facts()
        if isinstance(exception, APIStatusError | StreamError):
            facts["request_id"] = exception.request_id
        return StepResult(
            id=self._spec.step_id,
            agent=self._spec.agent.name,
            status=status,
            error=message,
            error_type=error_type,
            model=self._model,
            started_at=self._started_at,
            finished_at=now() if self._started_at else None,
            elapsed_s=anyio.current_time() - started if started is not None else 0.0,
            error_status=exception.status_code if isinstance(exception, APIStatusError) else None,
            exception=exception,
            started=started,
            **facts,
        )

    def _finish_failed(self, error: CFTError) -> StepResult:
        # A budget's refusal is an outcome like ``truncated``, named as such.
        kind = error.code if isinstance(error, BudgetError) else type(error).__name__
        return self._failed(self._ended("failed", str(error), kind, error))

    def _finish_outcome(self, failure: Failure) -> StepResult:
        """Fail for what the replies said (truncated, refused…): no exception to keep."""
        return self._failed(self._ended("failed", failure.message, failure.error_type))

    def _failed(self, result: StepResult) -> StepResult:
        self._emit(StepFailed(self._run_id, result.id, result, anyio.current_time()))
        return result

    def _finish_timed_out(self) -> StepResult:
        error = StepTimeoutError(self._spec.step_id, self._spec.timeout_s)
        result = self._ended(
            "timed_out", f"timed out after {error.timeout_s:g} s", "StepTimeoutError", error
        )
        self._emit(StepTimedOut(self._run_id, result.id, result, anyio.current_time()))
        return result

    def _succeeded(self, outcome: Outcome, end: float) -> StepResult:
        assert self._started is not None
        message, tally = outcome.message, self._tally
        return StepResult(
            id=self._spec.step_id,
            agent=self._spec.agent.name,
            status="succeeded",
            output=outcome.text,
            model=message.model or self._model or "",
            started_at=self._started_at,
            finished_at=now(),
            elapsed_s=end - self._started,
            ttft_s=tally.ttft_s,
            cached=tally.cached,
            similarity=tally.similarity,
            saved_usd=tally.saved_usd,
            started=self._started,
            data=outcome.data,
            **self._loop_facts(),
        )
