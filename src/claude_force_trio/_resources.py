"""What an engine holds, opened in order and closed in reverse: tools, calls, memory, journal.

Kept apart from the engine so that what it *does* (run agents, workflows,
resumes) and what it *holds* can each be read alone. All of it lives as long
as the engine and is shared by every step:

* **the call stack** (``_stack``), each layer wrapping the next: recording
  (one ``CallFinished`` per call) → response cache (single-flight, store) →
  resilience (retries, breaker per (base URL, model), the adaptive limit on
  requests in flight) → the HTTP client;
* the metrics recorder (on unless ``metrics=False``): a hook writing one line
  per finished call, stamped with the config's project key, closed last so it
  lands every call the engine finished; and OpenTelemetry's trace hook when
  the application has configured providers (docs/observability.md);
* agent memory (scoped to the same project), the hooks every event goes to,
  the toolset (every agent's tools; the MCP servers they use run until the
  engine closes), and the run journal.

The limit on requests in flight never exceeds ``max_concurrency`` and the
HTTP pool has exactly that many connections; a step holds a slot only while
one of its attempts is in flight, never while it waits to retry.
"""

from __future__ import annotations

import os
import random
from collections.abc import AsyncIterator, Iterable
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, cast

from ._backend import Backend, BackendChoice, choose_backend
from ._config import Config
from ._errors import ConfigError
from ._events import Emitter, Hook
from ._journal._protocol import RunJournal
from ._metrics._otel_setup import telemetry_hooks
from ._stack import TRANSPORT_URL, CallStack, open_call_stack
from ._tools._registry import Toolset, open_toolset

if TYPE_CHECKING:
    import httpx

    from ._journal import Journal
    from ._memory import MemoryStore
    from .simulator import SimulatorConfig

__all__ = ["EngineParts", "JournalChoice", "MetricsChoice", "open_parts"]

#: ``open_engine(journal=...)``: ``None``/``False`` none, ``True`` the default file, a path,
#: or an open journal (a ``RedisJournal``), which its opener closes.
JournalChoice = bool | str | os.PathLike[str] | RunJournal | None
#: ``open_engine(metrics=...)``: ``True`` ``$CFT_HOME/metrics``, ``False`` none, or a folder.
MetricsChoice = bool | str | os.PathLike[str]


@dataclass(frozen=True, slots=True)
class EngineParts:
    """Everything an open engine holds.

    Attributes:
        backend: where requests go.
        calls: the call stack every request goes through.
        hooks: the engine's hooks (a list: ``engine.hooks.append`` adds one).
        toolset: every agent's tools.
        memory: agent memory, or ``None`` when it is off.
        journal: the run journal, or ``None`` when it is off.
    """

    backend: Backend
    calls: CallStack
    hooks: list[Hook]
    toolset: Toolset
    memory: MemoryStore | None
    journal: Journal | None


@asynccontextmanager
async def open_parts(
    config: Config,
    backend: BackendChoice | None,
    hooks: list[Hook],
    *,
    max_concurrency: int | None,
    transport: httpx.AsyncBaseTransport | None,
    simulator: SimulatorConfig | None,
    rng: random.Random | None,
    cache: bool,
    memory: bool | None,
    tools: Iterable[object],
    workspace: str | os.PathLike[str] | None,
    journal: JournalChoice,
    metrics: MetricsChoice = True,
    mode: str = "live",
) -> AsyncIterator[EngineParts]:
    """Open an engine's parts (arguments as for ``open_engine``); all closed on exit.

    Raises:
        ConfigError: no backend can be chosen, ``max_concurrency`` is below 1,
            or a tool, workspace or MCP server is unusable.
    """
    if transport is not None and backend is None:
        backend = Backend.url(TRANSPORT_URL)
    chosen = choose_backend(backend, config.api)
    limit = config.performance.max_concurrent_agents if max_concurrency is None else max_concurrency
    if limit < 1:
        raise ConfigError("--max-concurrency", f"must be at least 1, got {limit}")
    async with AsyncExitStack() as resources:
        if metrics is not False:
            from ._metrics._recorder import MetricsRecorder
            from ._paths import state_home

            folder = state_home() / "metrics" if metrics is True else Path(metrics)
            # Entered first, so closed last: after every call has finished.
            recorder = MetricsRecorder(folder, project=config.project_key)
            hooks.append(await resources.enter_async_context(recorder))
        # Traces and GenAI metrics, when the application has set up OpenTelemetry
        # (nothing is imported, and nothing costs, when it has not).
        hooks.extend(telemetry_hooks())
        toolset = await resources.enter_async_context(
            open_toolset(config, library=tools, workspace=workspace)
        )
        calls = await resources.enter_async_context(
            open_call_stack(
                config,
                chosen,
                Emitter(hooks),
                max_concurrency=limit,
                transport=transport,
                simulator=simulator,
                rng=rng,
                no_cache=not cache,
                mode=mode,
            )
        )
        store = None
        if config.memory.enabled if memory is None else memory:
            from ._memory import MEMORY_FILE, open_memory
            from ._paths import state_home

            store = await resources.enter_async_context(
                open_memory(state_home() / "memory" / MEMORY_FILE, project=config.project_key)
            )
        runs = None
        if isinstance(journal, RunJournal):
            # The engine's hints still name the SQLite class; both keep one contract.
            runs = cast("Journal", journal)
        elif journal is not None and journal is not False:
            from ._journal import open_journal

            runs = await resources.enter_async_context(
                open_journal(None if journal is True else Path(journal))
            )
        if calls.batches is not None and runs is not None:
            from ._batch_journal import BatchJournal

            calls.batches.records = BatchJournal(runs)  # a killed batch run resumes polling
        yield EngineParts(chosen, calls, hooks, toolset, store, runs)
