"""One step's whole life: prompt → call (through the layers) → an honest result.

Why a module of its own: the workflow scheduler (``_run``) decides *when* a
step runs and the engine owns *what it runs with* (the call stack, memory,
hooks); everything in between — building the prompt, the step's own deadline,
what its events say, turning an answer or an error into a
:class:`~claude_force_trio.StepResult` — is one step's business and lives
here, in one object. It is written as a sequence so that it can become a loop:
call → tools → call again, until an honest outcome.

The deadline: a step's timeout starts when its first request is *sent* (the
resilience layer reports ``attempt_started(1)``), not while it waits for a
concurrency slot, and it covers every retry and wait after that. A cancel
scope owned by the step enforces it, so the request in flight is cancelled
when it fires. An answer served from the cache never starts the clock.

A step never raises for what goes wrong with the API or its input: it
returns a result saying so. Only cancellation from outside escapes (the run's
fail-fast, its timeout, Ctrl-C); :meth:`Step.interrupted` then says what the
step had done.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import anyio

from ._call import Call, CallObserver, Layer
from ._errors import APIStatusError, CFTError, StepTimeoutError, StreamError
from ._events import (
    Event,
    StepFailed,
    StepQueued,
    StepRetrying,
    StepStarted,
    StepSucceeded,
    StepTimedOut,
)
from ._pricing import cost_usd
from ._prompts import DependencyOutput, build_request, system_blocks, user_message
from ._reply_stream import ReplyStream, RestartCallback, TextCallback
from ._results import StepResult, StepStatus
from ._text import hash_task

if TYPE_CHECKING:
    from ._api._retry import RetryDetails
    from ._config import AgentConfig, Defaults, MemoryConfig
    from ._memory import MemoryStore
    from ._types import MessageResult

__all__ = ["Step", "StepServices", "StepSpec"]


@dataclass(frozen=True, slots=True)
class StepServices:
    """What the engine lends every step: shared by all the steps of an engine.

    Attributes:
        caller: the top of the call stack.
        defaults: the config's request defaults.
        prompt_cache: mark the system prefix for the API's prompt cache.
        memory: agent memory, or ``None`` when it is off.
        memory_settings: how much memory context a prompt may carry.
        systems: each agent's system blocks, built on first use (they never change).
    """

    caller: Layer
    defaults: Defaults
    prompt_cache: bool
    memory: MemoryStore | None
    memory_settings: MemoryConfig
    systems: dict[str, list[dict[str, Any]]] = field(default_factory=dict)

    def system(self, agent: AgentConfig) -> list[dict[str, Any]]:
        """The system blocks of ``agent`` (definition, contract), built once per engine."""
        blocks = self.systems.get(agent.name)
        if blocks is None:
            blocks = self.systems[agent.name] = system_blocks(agent, prompt_cache=self.prompt_cache)
        return blocks


@dataclass(frozen=True, slots=True)
class StepSpec:
    """What one step is asked to do.

    Attributes:
        step_id: the step's id (the agent's name for a single run).
        agent: the agent that runs it.
        task: the step's own task.
        timeout_s: the step's deadline, from its first request.
        workflow_task: the task of the whole run, shown above the step's.
        inputs: its dependencies' outputs, in config order.
        model: a model overriding the agent's.
        max_tokens: an output limit overriding the agent's.
        temperature: a temperature overriding the agent's.
        on_text: streams the reply.
        on_restart: told when streamed text belonged to a failed attempt.
    """

    step_id: str
    agent: AgentConfig
    task: str | None
    timeout_s: float
    workflow_task: str | None = None
    inputs: Sequence[DependencyOutput] = ()
    model: str | None = None
    max_tokens: int | None = None
    temperature: float | None = None
    on_text: TextCallback | None = None
    on_restart: RestartCallback | None = None


def now() -> datetime:
    """The wall-clock time results are stamped with."""
    return datetime.now(UTC)


class Step(CallObserver):
    """One step, ready to run once. Also the observer of the calls it makes.

    Args:
        services: what the engine lends it.
        spec: what it is asked to do.
        run_id: the run it belongs to, stamped on its events.
        emit: delivers its events to the hooks.
    """

    __slots__ = (
        "_attempts",
        "_deadline",
        "_emit",
        "_model",
        "_run_id",
        "_saved",
        "_services",
        "_spec",
        "_started",
        "_started_at",
        "_stream",
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
        self._attempts = 0
        self._started: float | None = None
        self._started_at: datetime | None = None
        self._saved: float | None = None
        self._deadline: anyio.CancelScope | None = None
        self._stream = None if spec.on_text is None else ReplyStream(spec.on_text, spec.on_restart)

    @property
    def step_id(self) -> str:
        """The step's id."""
        return self._spec.step_id

    # -- the step's life ------------------------------------------------------------

    async def run(self) -> StepResult:
        """Run the step to an outcome and return it; only cancellation escapes."""
        spec, services = self._spec, self._services
        try:
            body, memory_key = await self._prepare()
        except CFTError as exc:  # a step with nothing to ask fails before it is queued
            return self._finish_failed(exc)
        self._model = str(body["model"])
        queued = anyio.current_time()
        self._emit(
            StepQueued(self._run_id, spec.step_id, spec.agent.name, queued, _task_hash(body))
        )
        call = Call(body, spec.agent.name, self._stream is not None, self._run_id, spec.step_id)
        with anyio.CancelScope() as deadline:
            self._deadline = deadline
            try:
                message = await services.caller.send(call, self)
            except CFTError as exc:
                return self._finish_failed(exc)
        if deadline.cancelled_caught:
            return self._finish_timed_out()
        if self._started is None:
            # Served without an attempt of its own (the cache, an identical call in
            # flight): the step "ran" from the moment it asked.
            self._start(queued)
        if self._stream is not None:
            self._stream.whole(message.text)
        end = anyio.current_time()
        result = self._succeeded(message, end)
        if services.memory is not None and memory_key is not None and not result.cached:
            await services.memory.record(
                spec.agent.name, memory_key, message.text, model=result.model, usage=message.usage
            )
            end = anyio.current_time()
        self._emit(StepSucceeded(self._run_id, spec.step_id, result, end))
        return result

    def interrupted(self) -> StepResult:
        """The result to record when the step is cancelled before it finishes."""
        return self._ended("cancelled", "cancelled before it finished", "Cancelled")

    async def _prepare(self) -> tuple[dict[str, object], str | None]:
        """The request body, and the text agent memory keys on (``None`` when memory is off).

        Memory goes in the user message, never in the cached system prefix, and
        is looked up by the message *without* memory so the key is stable.
        """
        spec, services = self._spec, self._services
        base = user_message(spec.task, workflow_task=spec.workflow_task, dependencies=spec.inputs)
        text, memory_key = base, None
        if services.memory is not None:
            from ._memory import format_context

            settings = services.memory_settings
            items = await services.memory.relevant(
                spec.agent.name, base, settings.max_context_items
            )
            memory_key = base
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
        )
        return body, memory_key

    # -- what the calls tell the step (the CallObserver protocol) ---------------------

    def attempt_started(self, attempt: int) -> None:
        """An attempt holds its slot and is sent: the first one starts the step's clock."""
        self._attempts = attempt
        if self._stream is not None:
            self._stream.attempt(attempt)
        if attempt == 1:
            at = anyio.current_time()
            self._start(at)
            assert self._deadline is not None
            self._deadline.deadline = at + self._spec.timeout_s

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

    def served(self, saved_usd: float) -> None:
        """The answer came without an API call; it saved ``saved_usd``."""
        self._saved = saved_usd

    # -- results ----------------------------------------------------------------------

    def _start(self, at: float) -> None:
        self._started = at
        self._started_at = now()
        spec = self._spec
        self._emit(StepStarted(self._run_id, spec.step_id, spec.agent.name, self._model or "", at))

    def _ended(
        self,
        status: StepStatus,
        message: str,
        error_type: str,
        exception: BaseException | None = None,
    ) -> StepResult:
        """A result for a step that did not succeed, keeping the facts of ``exception``."""
        started = self._started
        return StepResult(
            id=self._spec.step_id,
            agent=self._spec.agent.name,
            status=status,
            error=message,
            error_type=error_type,
            attempts=self._attempts,
            model=self._model,
            started_at=self._started_at,
            finished_at=now() if self._started_at else None,
            elapsed_s=anyio.current_time() - started if started is not None else 0.0,
            error_status=exception.status_code if isinstance(exception, APIStatusError) else None,
            request_id=(
                exception.request_id
                if isinstance(exception, APIStatusError | StreamError)
                else None
            ),
            exception=exception,
            started=started,
        )

    def _finish_failed(self, error: CFTError) -> StepResult:
        result = self._ended("failed", str(error), type(error).__name__, error)
        self._emit(StepFailed(self._run_id, result.id, result, anyio.current_time()))
        return result

    def _finish_timed_out(self) -> StepResult:
        error = StepTimeoutError(self._spec.step_id, self._spec.timeout_s)
        result = self._ended(
            "timed_out", f"timed out after {error.timeout_s:g} s", "StepTimeoutError", error
        )
        self._emit(StepTimedOut(self._run_id, result.id, result, anyio.current_time()))
        return result

    def _succeeded(self, message: MessageResult, end: float) -> StepResult:
        assert self._started is not None
        model = message.model or self._model or ""
        cached = self._saved is not None
        return StepResult(
            id=self._spec.step_id,
            agent=self._spec.agent.name,
            status="succeeded",
            output=message.text,
            attempts=self._attempts,
            model=model,
            started_at=self._started_at,
            finished_at=now(),
            elapsed_s=end - self._started,
            usage=message.usage,
            cost_usd=cost_usd(message.usage, model),
            stop_reason=message.stop_reason,
            ttft_s=message.ttft_s,
            cached=cached,
            saved_usd=self._saved,
            request_id=message.request_id,
            started=self._started,
        )


def _task_hash(body: dict[str, object]) -> str:
    """The hash of the user message: metrics can group repeats without storing the task."""
    messages = body.get("messages")
    content = messages[-1].get("content", "") if isinstance(messages, list) and messages else ""
    return hash_task(content if isinstance(content, str) else repr(content))
