"""Starting the simulator: ``open_simulator`` for in-process use, ``serve_simulator`` for the CLI.

Both are written against anyio, so they run under ``trio.run`` and
``asyncio.run`` alike, and follow trio's conventions: ``open_*`` is an async
context manager that yields once the socket is listening and cancels
everything on exit; ``serve_*`` runs until cancelled and reports its URL
through ``task_status.started(url)``, so ``await task_group.start(serve_simulator)``
(or trio's ``nursery.start``) returns only when clients can connect.
"""

from __future__ import annotations

import dataclasses
import errno
import logging
import os
from collections.abc import AsyncIterator, Callable, Coroutine, Sequence
from contextlib import asynccontextmanager
from typing import Any, cast

import anyio
from anyio.abc import SocketAttribute, SocketListener, SocketStream, TaskStatus
from anyio.streams.stapled import MultiListener

from ._app import Simulator
from ._config import SimulatorConfig

__all__ = ["open_simulator", "serve_listener", "serve_simulator"]

log = logging.getLogger("claude_force_trio.simulator")

# accept() failing with one of these means "out of descriptors or memory right
# now", not "the listener is broken": wait and try again rather than stop
# serving, as trio's serve_listeners does.
_CAPACITY_ERRNOS = frozenset({errno.EMFILE, errno.ENFILE, errno.ENOMEM, errno.ENOBUFS})
_CAPACITY_PAUSE_S = 0.1

Handler = Callable[[SocketStream], Coroutine[Any, Any, None]]


def _configure(config: SimulatorConfig | None, overrides: dict[str, Any]) -> SimulatorConfig:
    base = config or SimulatorConfig()
    return dataclasses.replace(base, **overrides) if overrides else base


async def _listen(sim: Simulator, host: str, port: int) -> MultiListener[SocketStream]:
    """Bind and listen, and set ``sim.url``; raises OSError (e.g. port in use) unwrapped."""
    listener = await anyio.create_tcp_listener(local_host=host, local_port=port)
    address = cast(tuple[str, int], listener.listeners[0].extra(SocketAttribute.local_address))
    bound_host, bound_port = address[:2]
    shown = f"[{bound_host}]" if ":" in bound_host else bound_host
    sim.url = f"http://{shown}:{bound_port}"
    return listener


def _capacity_error(exc: BaseException) -> OSError | None:
    """The OSError behind an accept failure if it means "out of resources", else ``None``.

    anyio raises the OSError itself on asyncio and wraps it in BrokenResourceError on trio.
    """
    cause = exc if isinstance(exc, OSError) else exc.__cause__
    return cause if isinstance(cause, OSError) and cause.errno in _CAPACITY_ERRNOS else None


async def serve_listener(listener: SocketListener, handler: Handler) -> None:
    """Accept connections until cancelled, each handled in its own task.

    The caller owns ``listener`` (and closes it). ``handler`` must not raise.

    Args:
        listener: a listening socket, e.g. one of a ``MultiListener``'s.
        handler: called with each accepted stream; it closes the stream.
    """
    async with anyio.create_task_group() as handlers:
        while True:
            try:
                stream = await listener.accept()
            except (OSError, anyio.BrokenResourceError) as exc:
                if (cause := _capacity_error(exc)) is None:
                    raise
                name = errno.errorcode.get(cause.errno or 0, "?")
                log.error(
                    "simulator: accept failed with %s (%s); retrying in %ss",
                    name, os.strerror(cause.errno or 0), _CAPACITY_PAUSE_S,
                )  # fmt: skip
                await anyio.sleep(_CAPACITY_PAUSE_S)
                continue
            handlers.start_soon(handler, stream)


async def _serve(sim: Simulator, listener: MultiListener[SocketStream]) -> None:
    # create_tcp_listener makes one SocketListener per address (two for "localhost").
    listeners = cast(Sequence[SocketListener], listener.listeners)
    if len(listeners) == 1:  # the usual case: no extra task in between
        await serve_listener(listeners[0], sim.handle_connection)
        return
    async with anyio.create_task_group() as group:
        for one in listeners:
            group.start_soon(serve_listener, one, sim.handle_connection)


async def serve_simulator(
    config: SimulatorConfig | None = None,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    task_status: TaskStatus[str] = anyio.TASK_STATUS_IGNORED,
) -> None:
    """Serve the Messages API simulator until cancelled.

    Args:
        config: behaviour (latency, faults, rate limits, key); defaults if ``None``.
        host: interface to bind; keep the loopback default unless you mean it.
        port: TCP port; ``0`` picks a free one.
        task_status: receives the base URL (``http://127.0.0.1:PORT``) once listening.

    Raises:
        OSError: the address cannot be bound (e.g. the port is in use), before
            ``task_status.started`` is called.
    """
    sim = Simulator(config)
    async with await _listen(sim, host, port) as listener:
        task_status.started(sim.url)
        await _serve(sim, listener)


@asynccontextmanager
async def open_simulator(
    config: SimulatorConfig | None = None,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    **overrides: Any,
) -> AsyncIterator[Simulator]:
    """Run a simulator in the background for the duration of an ``async with`` block.

    Works under trio and asyncio; its latency model sleeps with ``anyio.sleep`` and
    reads ``anyio.current_time()``, so under trio's ``MockClock`` replies take
    virtual time.

    Args:
        config: base settings; defaults if ``None``.
        host: interface to bind (loopback by default).
        port: TCP port; ``0`` picks a free one.
        **overrides: :class:`SimulatorConfig` fields to replace, e.g. ``ttft_ms=0``.

    Yields:
        The listening :class:`Simulator` (``sim.url``, ``sim.requests``, ``sim.script``).
        Leaving the block cancels the server and every connection it holds.

    Raises:
        OSError: the address cannot be bound, raised as itself (not in a group).
    """
    sim = Simulator(_configure(config, overrides))
    failure: BaseException | None = None
    # Listening happens outside the task group, so a bind error stays unwrapped.
    listener = await _listen(sim, host, port)
    async with listener, anyio.create_task_group() as group:
        group.start_soon(_serve, sim, listener)
        try:
            yield sim
        except BaseException as exc:
            # Re-raised below, outside the task group, so an error in the caller's
            # block reaches the caller as itself rather than wrapped in a group.
            failure = exc
        finally:
            group.cancel_scope.cancel()
    if failure is not None:
        raise failure
