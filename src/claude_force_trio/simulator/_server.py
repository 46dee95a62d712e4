"""Starting the simulator: ``open_simulator`` for in-process use, ``serve_simulator`` for the CLI.

Both follow trio's conventions: ``open_*`` is an async context manager that
yields once the socket is listening and cancels everything on exit;
``serve_*`` runs until cancelled and reports its URL through
``task_status.started(url)``, so ``await nursery.start(serve_simulator, ...)``
returns only when clients can connect.
"""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import trio

from ._app import Simulator
from ._config import SimulatorConfig

__all__ = ["open_simulator", "serve_simulator"]


def _configure(config: SimulatorConfig | None, overrides: dict[str, Any]) -> SimulatorConfig:
    base = config or SimulatorConfig()
    return dataclasses.replace(base, **overrides) if overrides else base


async def _listen(sim: Simulator, host: str, port: int) -> list[trio.SocketListener]:
    """Bind and listen, and set ``sim.url``; raises OSError (e.g. port in use) unwrapped."""
    listeners = await trio.open_tcp_listeners(port, host=host)
    bound_host, bound_port = listeners[0].socket.getsockname()[:2]
    shown = f"[{bound_host}]" if ":" in bound_host else bound_host
    sim.url = f"http://{shown}:{bound_port}"
    return listeners


async def serve_simulator(
    config: SimulatorConfig | None = None,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    task_status: trio.TaskStatus[str] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Serve the Messages API simulator until cancelled.

    Args:
        config: behaviour (latency, faults, rate limits, key); defaults if ``None``.
        host: interface to bind; keep the loopback default unless you mean it.
        port: TCP port; ``0`` picks a free one.
        task_status: receives the base URL (``http://127.0.0.1:PORT``) once listening.
    """
    sim = Simulator(config)
    listeners = await _listen(sim, host, port)
    task_status.started(sim.url)
    await trio.serve_listeners(sim.handle_connection, listeners)


@asynccontextmanager
async def open_simulator(
    config: SimulatorConfig | None = None,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    **overrides: Any,
) -> AsyncIterator[Simulator]:
    """Run a simulator in the background for the duration of an ``async with`` block.

    Args:
        config: base settings; defaults if ``None``.
        host: interface to bind (loopback by default).
        port: TCP port; ``0`` picks a free one.
        **overrides: :class:`SimulatorConfig` fields to replace, e.g. ``ttft_ms=0``.

    Yields:
        The listening :class:`Simulator` (``sim.url``, ``sim.requests``, ``sim.script``).
        Leaving the block cancels the server and every connection it holds.
    """
    sim = Simulator(_configure(config, overrides))
    failure: BaseException | None = None
    listeners = await _listen(sim, host, port)  # outside the nursery: errors stay unwrapped
    async with trio.open_nursery() as nursery:
        nursery.start_soon(trio.serve_listeners, sim.handle_connection, listeners)
        try:
            yield sim
        except BaseException as exc:
            # Re-raised below, outside the nursery, so an error in the caller's block
            # reaches the caller as itself rather than wrapped in an ExceptionGroup.
            failure = exc
        finally:
            nursery.cancel_scope.cancel()
    if failure is not None:
        raise failure
