"""Running the simulator on a background thread, for synchronous and asyncio code.

The official SDK, the sync compatibility API and users' own pytest suites do
not run under trio. They get a simulator on its own thread with its own
``trio.run``; every call into it goes through ``trio.from_thread`` so the log
and the fault script are only ever touched by the trio thread.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

import trio

from ._app import Simulator
from ._config import RequestRecord, SimulatorConfig, SimulatorStats
from ._faults import Fault
from ._server import open_simulator

__all__ = ["SimulatorHandle", "run_simulator_in_thread"]

T = TypeVar("T")
_JOIN_TIMEOUT_S = 30.0


class SimulatorHandle:
    """A thread-safe view of a simulator running on another thread."""

    def __init__(self, sim: Simulator, token: trio.lowlevel.TrioToken) -> None:
        self._sim = sim
        self._token = token
        self.url: str = sim.url
        self.config: SimulatorConfig = sim.config

    def _call(self, fn: Any, *args: Any) -> Any:
        return trio.from_thread.run_sync(fn, *args, trio_token=self._token)

    @property
    def requests(self) -> list[RequestRecord]:
        """A snapshot of the request log."""
        records: list[RequestRecord] = self._call(lambda: self._sim.requests)
        return records

    def script(self, *faults: Fault | str | None) -> None:
        """Queue faults for the next ``/v1/messages`` requests (see ``Simulator.script``)."""
        self._call(self._sim.script, *faults)

    def clear_log(self) -> None:
        """Forget the recorded requests."""
        self._call(self._sim.clear_log)

    def stats(self) -> SimulatorStats:
        """Counts and token totals over the log."""
        stats: SimulatorStats = self._call(self._sim.stats)
        return stats


@contextmanager
def run_simulator_in_thread(
    config: SimulatorConfig | None = None,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    **overrides: Any,
) -> Iterator[SimulatorHandle]:
    """Start a simulator on a daemon thread; stop it and join the thread on exit.

    Args:
        config: base settings; defaults if ``None``.
        host: interface to bind (loopback by default).
        port: TCP port; ``0`` picks a free one.
        **overrides: :class:`SimulatorConfig` fields to replace, e.g. ``ttft_ms=0``.

    Yields:
        A :class:`SimulatorHandle` with ``.url``, ``.requests``, ``.script()``.

    Raises:
        Exception: whatever stopped the simulator from starting (e.g. port in use).
    """
    ready: queue.Queue[tuple[Simulator, trio.lowlevel.TrioToken, trio.CancelScope]] = queue.Queue()
    failure: list[BaseException] = []

    async def main() -> None:
        with trio.CancelScope() as scope:
            async with open_simulator(config, host=host, port=port, **overrides) as sim:
                ready.put((sim, trio.lowlevel.current_trio_token(), scope))
                await trio.sleep_forever()

    def run() -> None:
        try:
            trio.run(main)
        except BaseException as exc:  # handed to the caller's thread, not lost
            failure.append(exc)

    thread = threading.Thread(target=run, name="cft-simulator", daemon=True)
    thread.start()
    while True:
        try:
            sim, token, scope = ready.get(timeout=0.05)
            break
        except queue.Empty:
            if not thread.is_alive():
                raise RuntimeError("the simulator thread stopped before listening") from (
                    failure[0] if failure else None
                )
    try:
        yield SimulatorHandle(sim, token)
    finally:
        trio.from_thread.run_sync(scope.cancel, trio_token=token)
        thread.join(_JOIN_TIMEOUT_S)
        if failure:
            raise RuntimeError("the simulator thread failed") from failure[0]
