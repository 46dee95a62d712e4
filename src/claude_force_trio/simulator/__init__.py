"""An offline Messages API: a real HTTP/1.1 server on loopback, built on trio and h11.

It answers ``POST /v1/messages`` (JSON and SSE) and ``/v1/messages/count_tokens``,
checks requests as the API does, replies deterministically, accounts for prompt
caching, models latency, injects faults and enforces rate limits, so the whole
product can be run, tested and benchmarked without a key or a network::

    async with open_simulator(ttft_ms=0, tokens_per_s=0) as sim:
        sim.script(Fault("529"), None)        # first request overloaded, second fine
        async with httpx.AsyncClient(base_url=sim.url) as client:
            ...

From threads or asyncio code (e.g. the official SDK) use
:func:`run_simulator_in_thread`; from the CLI, ``cft sim serve``.
"""

from ._app import SUPPORTED_VERSIONS, Simulator
from ._config import LatencyFn, RequestRecord, SimulatorConfig, SimulatorStats, config_from_env
from ._faults import FAULT_KINDS, Fault, FaultPlan
from ._replies import agent_name, task_line
from ._server import open_simulator, serve_simulator
from ._thread import SimulatorHandle, run_simulator_in_thread

__all__ = [
    "FAULT_KINDS",
    "SUPPORTED_VERSIONS",
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
