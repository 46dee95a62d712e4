"""Running the simulator on a background thread, for synchronous code and other loops.

The official SDK, the sync compatibility API and users' own pytest suites want
a server that is simply *there* while their own code blocks or runs its own
loop. They get a simulator on a thread of its own, behind an anyio blocking
portal; every call into it goes through the portal, so the log and the fault
script are only ever touched by the simulator's own loop.

That loop is asyncio's, whatever the caller runs, because it must answer
calls from any thread: trio refuses a blocking call into a trio loop from a
thread that is itself running trio ("this is a blocking function"), so with
trio here a trio program could start the thread but never stop it (the stop
request fails and the join waits forever). anyio's asyncio portal has no such
rule, so the handle works from plain threads, asyncio and trio alike. It costs
next to nothing: a sync client's sequential requests see the same median
latency, within noise, as with trio on this thread. In-loop use
(``open_simulator``) runs on whichever loop the caller has.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Any, TypeVar

from anyio.from_thread import BlockingPortal, start_blocking_portal

from ._app import Simulator
from ._config import RequestRecord, SimulatorConfig, SimulatorStats
from ._faults import Fault
from ._server import open_simulator

__all__ = ["SimulatorHandle", "run_simulator_in_thread"]

T = TypeVar("T")
_BACKEND = "asyncio"  # see the module docstring


class SimulatorHandle:
    """A thread-safe view of a simulator running on another thread."""

    def __init__(self, sim: Simulator, portal: BlockingPortal) -> None:
        self._sim = sim
        self._portal = portal
        self.url: str = sim.url
        self.config: SimulatorConfig = sim.config

    def _call(self, fn: Callable[..., T], *args: Any) -> T:
        return self._portal.call(fn, *args)

    @property
    def requests(self) -> list[RequestRecord]:
        """A snapshot of the request log."""
        return self._call(lambda: self._sim.requests)

    def script(self, *faults: Fault | str | None) -> None:
        """Queue faults for the next ``/v1/messages`` requests (see ``Simulator.script``)."""
        self._call(self._sim.script, *faults)

    def clear_log(self) -> None:
        """Forget the recorded requests."""
        self._call(self._sim.clear_log)

    def stats(self) -> SimulatorStats:
        """Counts and token totals over the log."""
        return self._call(self._sim.stats)


@contextmanager
def run_simulator_in_thread(
    config: SimulatorConfig | None = None,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    **overrides: Any,
) -> Iterator[SimulatorHandle]:
    """Start a simulator on a thread of its own; stop it and join the thread on exit.

    Args:
        config: base settings; defaults if ``None``.
        host: interface to bind (loopback by default).
        port: TCP port; ``0`` picks a free one.
        **overrides: :class:`SimulatorConfig` fields to replace, e.g. ``ttft_ms=0``.

    Yields:
        A :class:`SimulatorHandle` with ``.url``, ``.requests``, ``.script()``.

    Raises:
        RuntimeError: the simulator could not start (its ``__cause__`` says why,
            e.g. an ``OSError`` for a port in use), or failed while stopping.
    """
    with start_blocking_portal(_BACKEND) as portal:
        running: AbstractContextManager[Simulator] = portal.wrap_async_context_manager(
            open_simulator(config, host=host, port=port, **overrides)
        )
        try:
            sim = running.__enter__()
        except Exception as exc:
            raise RuntimeError("the simulator stopped before listening") from exc
        try:
            yield SimulatorHandle(sim, portal)
        finally:
            # The caller's own exception, if any, is theirs: the server just stops.
            try:
                running.__exit__(None, None, None)
            except Exception as exc:
                raise RuntimeError("the simulator thread failed") from exc
