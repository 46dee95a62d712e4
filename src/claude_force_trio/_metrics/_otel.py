"""``TraceHook``: OpenTelemetry GenAI spans and metrics built from the engine's events.

Why a hook and not instrumentation inside the call stack: the events already
say everything a trace needs (every call once, after retries, served or not;
every tool call; every step's outcome), each with its time on the engine's
clock. The hook turns them into spans with explicit start and end times, so a
trace is exact, and the core never imports ``opentelemetry``: this module
imports it only when a :class:`TraceHook` is made (the ``otel`` extra).

The tree follows the OpenTelemetry GenAI semantic conventions (see
``docs/observability.md`` for every attribute)::

    workflow {name}        INTERNAL  gen_ai.operation.name=invoke_workflow
    └─ step {id}           INTERNAL  invoke_agent (a run_agent step is a root)
       ├─ chat {model}     CLIENT    one per API call (answered, served or failed)
       └─ execute_tool {n} INTERNAL  one per tool call

**Privacy**: no prompt, system prompt, reply, thinking, tool input or tool
output is ever recorded (the conventions' opt-in ``gen_ai.input.messages`` and
kin are not offered), and no API key or header: only names, ids, counts, times
and error types. **Memory**: a run's spans are ended and forgotten when it
finishes (:class:`WorkflowFinished`, or the end of its last step for runs
without a workflow); at most :data:`MAX_OPEN_RUNS` runs are followed at once,
and past that the oldest is ended (``cft.abandoned``) and dropped.

**Clock**: events carry ``anyio.current_time()``; spans need epoch
nanoseconds. The offset between the two is read when the hook is made (or at
its first event, outside an event loop) and again whenever no run is open, so
every span of a run is mapped by one offset, and a new event loop (whose clock
starts elsewhere) is picked up between runs.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import anyio

from .._events import (
    CallFinished,
    Event,
    StepCancelled,
    StepFailed,
    StepQueued,
    StepRetrying,
    StepSkipped,
    StepStarted,
    StepSucceeded,
    StepTimedOut,
    StepWaitingApproval,
    ToolCalled,
    ToolFinished,
    WorkflowFinished,
    WorkflowStarted,
)
from ._otel_attributes import (
    DURATION_BUCKETS,
    SCOPE,
    TOKEN_BUCKETS,
    MetricSets,
    chat_attributes,
    input_tokens,
    metric_attributes,
    scope_version,
    step_attributes,
    step_end_attributes,
    tool_attributes,
    workflow_end_attributes,
    workflow_failure,
)

if TYPE_CHECKING:
    from opentelemetry.context import Context
    from opentelemetry.metrics import MeterProvider
    from opentelemetry.trace import Span, TracerProvider

    from .._results import StepResult

__all__ = ["MAX_OPEN_RUNS", "TraceHook"]

log = logging.getLogger("claude_force_trio.otel")

#: Runs followed at once; past it the oldest is ended and forgotten.
MAX_OPEN_RUNS = 10_000

_StepEnd = StepSucceeded | StepFailed | StepTimedOut | StepCancelled | StepSkipped
_FAILED = frozenset({"failed", "timed_out"})
#: A step's wait for a slot shown as a ``started`` event on its span when at least this long.
_WAITED_NS = 1_000_000


class _Step:
    """A step's open span, when it began, the context its children start in, its tool spans."""

    __slots__ = ("begun", "context", "span", "tools")

    def __init__(self, span: Span, context: Context, begun: int) -> None:
        self.span = span
        self.context = context
        self.begun = begun
        self.tools: dict[str, Span] = {}


class _Run:
    """A run's workflow span (``None`` for ``run_agent``/``run_many``) and its open steps."""

    __slots__ = ("context", "span", "steps")

    def __init__(self, span: Span | None, context: Context | None) -> None:
        self.span = span
        self.context = context
        self.steps: dict[str, _Step] = {}


class TraceHook:
    """A hook that turns the engine's events into GenAI spans and metrics.

    Add it to an engine's hooks (``open_engine(config, hooks=[TraceHook()])``),
    or let :func:`telemetry_hooks` decide. Calls are synchronous and cheap, and
    never raise: a failure is logged once and counted in :attr:`errors`.

    Args:
        tracer_provider: where spans go (default: the global one).
        meter_provider: where metrics go (default: the global one).

    Raises:
        ImportError: ``opentelemetry-api`` is not installed (the ``otel`` extra).
    """

    def __init__(
        self,
        tracer_provider: TracerProvider | None = None,
        meter_provider: MeterProvider | None = None,
    ) -> None:
        from opentelemetry import metrics, trace

        self._trace = trace
        version = scope_version()
        self._tracer = trace.get_tracer(SCOPE, version, tracer_provider)
        meter = metrics.get_meter(SCOPE, version, meter_provider)
        self._tokens = meter.create_histogram(
            "gen_ai.client.token.usage",
            unit="{token}",
            description="Number of input and output tokens used.",
            explicit_bucket_boundaries_advisory=TOKEN_BUCKETS,
        )
        self._duration = meter.create_histogram(
            "gen_ai.client.operation.duration",
            unit="s",
            description="GenAI operation duration.",
            explicit_bucket_boundaries_advisory=DURATION_BUCKETS,
        )
        self._runs: dict[str, _Run] = {}
        # The metrics' attribute sets by (model, answering model, error type, cached).
        self._metric_sets: dict[tuple[object, ...], MetricSets] = {}
        self._offset: int | None = None
        #: Events the hook failed on (logged once).
        self.errors = 0
        #: Runs ended early because more than :data:`MAX_OPEN_RUNS` were open.
        self.abandoned = 0
        self._handlers: dict[type, Callable[[Any], None]] = {
            WorkflowStarted: self._workflow_started,
            WorkflowFinished: self._workflow_finished,
            StepQueued: self._step_seen,
            StepStarted: self._step_started,
            StepRetrying: self._step_retrying,
            CallFinished: self._call_finished,
            ToolCalled: self._tool_called,
            ToolFinished: self._tool_finished,
            StepSucceeded: self._step_ended,
            StepFailed: self._step_ended,
            StepTimedOut: self._step_ended,
            StepCancelled: self._step_ended,
            StepSkipped: self._step_ended,
            StepWaitingApproval: self._step_ended,
        }
        self._sync_clock()

    @property
    def open_runs(self) -> int:
        """Runs whose spans are still open (0 when the engine is idle)."""
        return len(self._runs)

    def __call__(self, event: Event, /) -> None:
        """Receive one engine event (the :class:`~claude_force_trio.Hook` protocol)."""
        handler = self._handlers.get(type(event))
        if handler is None:
            return
        try:
            if not self._runs or self._offset is None:
                self._sync_clock()
            handler(event)
        except Exception:
            if not self.errors:
                log.exception("otel: could not record %s", type(event).__name__)
            self.errors += 1

    # -- time -------------------------------------------------------------------------

    def _sync_clock(self) -> None:
        """Read the offset from the engine's clock to epoch nanoseconds (when in a loop)."""
        try:
            loop_now = anyio.current_time()
        except RuntimeError:  # no event loop here: the first event will tell
            return
        self._offset = time.time_ns() - round(loop_now * 1e9)

    def _ns(self, at: float) -> int:
        assert self._offset is not None
        return self._offset + round(at * 1e9)

    # -- runs and steps -------------------------------------------------------------------

    def _run(self, run_id: str) -> _Run:
        run = self._runs.get(run_id)
        if run is None:
            run = self._runs[run_id] = _Run(None, None)
            self._bound()
        return run

    def _bound(self) -> None:
        """End and forget the oldest runs beyond :data:`MAX_OPEN_RUNS`."""
        while len(self._runs) > MAX_OPEN_RUNS:
            run_id = next(iter(self._runs))
            run = self._runs.pop(run_id)
            end = time.time_ns()
            for step in run.steps.values():
                self._close(step, end, abandoned=True)
            if run.span is not None:
                run.span.set_attribute("cft.abandoned", True)
                run.span.end(end_time=end)
            self.abandoned += 1

    def _workflow_started(self, event: WorkflowStarted) -> None:
        span = self._tracer.start_span(
            f"workflow {event.workflow}",
            kind=self._trace.SpanKind.INTERNAL,
            attributes={
                "gen_ai.operation.name": "invoke_workflow",
                "gen_ai.workflow.name": event.workflow,
                "cft.run_id": event.run_id,
                "cft.steps": len(event.steps),
            },
            start_time=self._ns(event.at),
        )
        context = self._trace.set_span_in_context(span)
        if event.run_id in self._runs:  # steps seen first: keep them, under no parent
            self._runs[event.run_id].span, self._runs[event.run_id].context = span, context
        else:
            self._runs[event.run_id] = _Run(span, context)
            self._bound()

    def _workflow_finished(self, event: WorkflowFinished) -> None:
        run = self._runs.pop(event.run_id, None)
        if run is None:
            return
        end = self._ns(event.at)
        results = {step.id: step for step in event.result.steps}
        for step_id, step in run.steps.items():
            self._close(step, end, results.get(step_id))
        if run.span is None:
            return
        run.span.set_attributes(workflow_end_attributes(event.result))
        if (failure := workflow_failure(event.result)) is not None:
            run.span.set_status(self._trace.StatusCode.ERROR, failure)
        run.span.end(end_time=end)

    def _step(self, run_id: str, step_id: str, agent: str, at: float) -> _Step:
        run = self._run(run_id)
        step = run.steps.get(step_id)
        if step is None:
            begun = self._ns(at)
            span = self._tracer.start_span(
                f"step {step_id}",
                context=run.context,
                kind=self._trace.SpanKind.INTERNAL,
                attributes=step_attributes(run_id, step_id, agent),
                start_time=begun,
            )
            context = self._trace.set_span_in_context(span, run.context)
            step = run.steps[step_id] = _Step(span, context, begun)
        return step

    def _step_seen(self, event: StepQueued) -> None:
        self._step(event.run_id, event.step_id, event.agent, event.at)

    def _step_started(self, event: StepStarted) -> None:
        step = self._step(event.run_id, event.step_id, event.agent, event.at)
        if event.model:
            step.span.set_attribute("gen_ai.request.model", event.model)
        if (started := self._ns(event.at)) - step.begun >= _WAITED_NS:  # it waited for a slot
            step.span.add_event("started", timestamp=started)

    def _step_retrying(self, event: StepRetrying) -> None:
        run = self._runs.get(event.run_id)
        step = run.steps.get(event.step_id) if run is not None else None
        if step is not None:
            step.span.add_event(
                "retry",
                {
                    "cft.attempt": event.attempt,
                    "error.type": event.error_type,
                    "cft.delay_s": event.delay_s,
                },
                timestamp=self._ns(event.at),
            )

    def _step_ended(self, event: _StepEnd | StepWaitingApproval) -> None:
        result = event.result
        step = self._step(event.run_id, event.step_id, result.agent, event.at)
        run = self._runs[event.run_id]
        del run.steps[event.step_id]
        self._close(step, self._ns(event.at), result)
        if run.span is None and not run.steps:
            del self._runs[event.run_id]

    def _close(
        self, step: _Step, end: int, result: StepResult | None = None, *, abandoned: bool = False
    ) -> None:
        """End a step's open tool spans, then the step's own span, with its outcome."""
        for tool in step.tools.values():
            tool.set_attribute("cft.unfinished", True)
            tool.end(end_time=end)
        span = step.span
        if abandoned:
            span.set_attribute("cft.abandoned", True)
        if result is not None:
            span.set_attributes(step_end_attributes(result))
            if result.status in _FAILED:
                span.set_attribute("error.type", result.error_type or "_OTHER")
                span.set_status(self._trace.StatusCode.ERROR, result.error or result.status)
        span.end(end_time=end)

    def _parent(self, run_id: str | None, step_id: str | None) -> Context | None:
        run = self._runs.get(run_id) if run_id is not None else None
        if run is None:
            return None
        step = run.steps.get(step_id) if step_id is not None else None
        return step.context if step is not None else run.context

    # -- calls and tools --------------------------------------------------------------------

    def _call_finished(self, event: CallFinished) -> None:
        end = self._ns(event.at)
        span = self._tracer.start_span(
            f"chat {event.model}",
            context=self._parent(event.run_id, event.step_id),
            kind=self._trace.SpanKind.CLIENT,
            attributes=chat_attributes(event),
            start_time=end - round(event.elapsed_s * 1e9),
        )
        if event.error_type is not None:
            span.set_status(self._trace.StatusCode.ERROR, event.error_type)
        span.end(end_time=end)
        if event.cached:  # no API call: the metrics describe the provider's operations
            return
        key = (event.model, event.response_model, event.error_type)
        sets = self._metric_sets.get(key)
        if sets is None:
            if len(self._metric_sets) >= 256:  # models × error types: few, but never unbounded
                self._metric_sets.clear()
            sets = self._metric_sets[key] = metric_attributes(event)
        self._duration.record(event.elapsed_s, sets[0])
        if event.error_type is None:
            self._tokens.record(input_tokens(event.usage), sets[1])
            self._tokens.record(event.usage.output_tokens, sets[2])

    def _tool_called(self, event: ToolCalled) -> None:
        run = self._runs.get(event.run_id)
        step = run.steps.get(event.step_id) if run is not None else None
        context = step.context if step is not None else self._parent(event.run_id, None)
        span = self._tracer.start_span(
            f"execute_tool {event.tool}",
            context=context,
            kind=self._trace.SpanKind.INTERNAL,
            attributes=tool_attributes(event),
            start_time=self._ns(event.at),
        )
        if step is not None:
            step.tools[event.tool_use_id] = span
        else:
            span.set_attribute("cft.unfinished", True)
            span.end(end_time=self._ns(event.at))

    def _tool_finished(self, event: ToolFinished) -> None:
        run = self._runs.get(event.run_id)
        step = run.steps.get(event.step_id) if run is not None else None
        span = step.tools.pop(event.tool_use_id, None) if step is not None else None
        if span is None:
            return
        if event.is_error:
            span.set_attribute("error.type", "_OTHER")
            span.set_status(self._trace.StatusCode.ERROR, event.error or "tool error")
        span.end(end_time=self._ns(event.at))
