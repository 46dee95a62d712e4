"""An offline Messages API: a real HTTP/1.1 server on loopback, built on anyio and h11.

It answers ``POST /v1/messages`` (JSON and SSE), ``/v1/messages/count_tokens``,
``GET /v1/models`` and the Message Batches routes, checks requests as the API
does, replies deterministically, accounts for prompt caching, models latency,
injects faults and enforces rate limits, so the whole product can be run,
tested and benchmarked without a key or a network::

    async with open_simulator(ttft_ms=0, tokens_per_s=0) as sim:
        sim.script(Fault("529"), None)        # first request overloaded, second fine
        async with httpx.AsyncClient(base_url=sim.url) as client:
            ...

Beyond plain text it speaks the agentic parts of the API, deterministically:

* **Tools.** With client tools offered (and ``tool_choice`` not ``none``) it
  calls the tools whose names the latest user text mentions, in the order
  mentioned (several ``tool_use`` blocks in one turn), or the forced one
  (``tool_choice`` ``any``/``tool``), with ids ``toolu_…`` and inputs generated
  from each ``input_schema`` (a property named like a path, file, query or URL
  takes a value found in the task); ``stop_reason`` is ``tool_use``. When the
  last user message carries ``tool_result`` blocks it answers with a final text
  quoting each result (marking ``is_error`` ones). Server tools (``web_search``…)
  are never executed: unmentioned by definition, and forcing one gets a text
  saying so.
* **Structured output.** ``output_config.format`` (``json_schema``) → the text
  is a JSON instance valid for the schema.
* **Thinking.** ``thinking`` ``enabled``/``adaptive`` → a thinking block first,
  whose ``signature`` is an HMAC of its text; thinking blocks sent back must be
  unchanged, and with thinking on, the turn whose tool calls are answered must
  start with one (both as the API demands).
* **Forced outcomes**, from markers in the last user message's text:
  ``[sim:max_tokens]`` (half the text, ``max_tokens``), ``[sim:refusal]``
  (``refusal``), ``[sim:pause_turn]`` (half the text, ``pause_turn``) and
  ``[sim:empty]`` (an empty text). Sending the partial reply back as the final
  assistant message continues it: the rest of the text, ``end_turn``.
  ``[sim:tool_turns=N]`` in the task makes a loop of N tool rounds: the
  mentioned tools are called again after each round of results, and the final
  text comes after the Nth.
* **Refusals as the API words them**: an unknown model (404), ``max_tokens``
  above the model's limit, malformed ``tool_choice``, tool names off the API's
  pattern or repeated, empty content, unpaired ``tool_use``/``tool_result``,
  ``budget_tokens`` below 1024 or not below ``max_tokens`` (400, naming the field).
* ``GET /v1/models`` and ``/v1/models/{id}``, and the SDK's server-held
  ``thread`` (its tool runner sends only the new turn).
* **Message Batches** (``/v1/messages/batches``: create, retrieve, list,
  cancel, delete, results as streamed JSONL). Every entry's ``params`` is
  checked like a ``/v1/messages`` body (one bad entry refuses the create,
  naming ``requests.N.params.FIELD``); a batch ends ``batch_latency_s`` (times
  ``latency_scale``) after creation on the simulator's clock, each entry
  answered as ``/v1/messages`` would answer it. ``[sim:batch_errored]``,
  ``[sim:batch_invalid]``, ``[sim:batch_expired]``, ``[sim:batch_canceled]``
  in an entry's task, or a seeded :class:`BatchFaultPlan` in
  ``SimulatorConfig.batch_faults``, fail entries instead. ``stats()`` counts
  ``batches`` and ``batch_requests``.

``open_simulator`` and ``serve_simulator`` run under ``trio.run`` and
``asyncio.run`` alike. From threads or synchronous code (e.g. the official
SDK's sync client) use :func:`run_simulator_in_thread`; from the CLI,
``cft sim serve``.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from ._batchfaults import BATCH_FAULT_KINDS as BATCH_FAULT_KINDS
from ._batchfaults import BatchFaultPlan as BatchFaultPlan
from ._config import LatencyFn as LatencyFn
from ._config import RequestRecord as RequestRecord
from ._config import SimulatorConfig as SimulatorConfig
from ._config import SimulatorStats as SimulatorStats
from ._config import config_from_env as config_from_env
from ._faults import FAULT_KINDS as FAULT_KINDS
from ._faults import Fault as Fault
from ._faults import FaultPlan as FaultPlan
from ._replies import agent_name as agent_name
from ._replies import task_line as task_line
from ._validate import SUPPORTED_VERSIONS as SUPPORTED_VERSIONS

if TYPE_CHECKING:
    from ._app import Simulator as Simulator
    from ._server import open_simulator as open_simulator
    from ._server import serve_simulator as serve_simulator
    from ._thread import SimulatorHandle as SimulatorHandle
    from ._thread import run_simulator_in_thread as run_simulator_in_thread

# The server itself (anyio, h11) is imported on first use, so that reading the
# config (``config_from_env``, ``FaultPlan``) costs the CLI and the engine nothing.
_LAZY: dict[str, str] = {
    "Simulator": "._app",
    "open_simulator": "._server",
    "serve_simulator": "._server",
    "SimulatorHandle": "._thread",
    "run_simulator_in_thread": "._thread",
}


def _publish(value: Any) -> Any:
    """Show public classes and functions as ``claude_force_trio.simulator.X`` in tracebacks."""
    if getattr(value, "__module__", "").startswith(f"{__name__}._"):
        value.__module__ = __name__
    return value


def __getattr__(name: str) -> Any:
    try:
        module = _LAZY[name]
    except KeyError:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}") from None
    value = _publish(getattr(importlib.import_module(module, __name__), name))
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY})


__all__ = [
    "BATCH_FAULT_KINDS",
    "FAULT_KINDS",
    "SUPPORTED_VERSIONS",
    "BatchFaultPlan",
    "Fault",
    "FaultPlan",
    "LatencyFn",
    "RequestRecord",
    "Simulator",
    "SimulatorConfig",
    "SimulatorHandle",
    "SimulatorStats",
    "agent_name",
    "config_from_env",
    "open_simulator",
    "run_simulator_in_thread",
    "serve_simulator",
    "task_line",
]

for _name in (
    "BatchFaultPlan", "Fault", "FaultPlan", "RequestRecord", "SimulatorConfig", "SimulatorStats"
):  # fmt: skip
    _publish(globals()[_name])
for _name in ("config_from_env", "agent_name", "task_line"):
    _publish(globals()[_name])
del _name
