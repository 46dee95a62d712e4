"""Starting and stopping the simulator on either backend, and the package's surface.

``open_simulator`` and ``serve_simulator`` are written against anyio, so every
async test here runs on trio and on asyncio: listening and its errors,
cancellation from outside, connections cut short on exit, accept() running out
of descriptors, the threaded simulator called from a thread running trio, and
what ``import claude_force_trio.simulator`` costs and exports.
"""

from __future__ import annotations

import errno
import functools
import inspect
import os
import pickle
import socket
import subprocess
import sys
import threading
from typing import cast

import anyio
import httpx
import pytest
import trio
from anyio.abc import SocketAttribute, SocketListener, SocketStream

import claude_force_trio.simulator as simulator_pkg
from claude_force_trio.simulator import (
    RequestRecord,
    Simulator,
    SimulatorConfig,
    open_simulator,
    run_simulator_in_thread,
    serve_simulator,
)
from claude_force_trio.simulator._server import serve_listener

from .simulator_support import BODY, HEADERS, host_port, post, raw_request

pytestmark = pytest.mark.anyio

# anyio.connect_tcp's message when nothing listens (every address refused).
REFUSED = "connection attempts failed|refused"


def quiet_simulator() -> Simulator:
    """A zero-latency simulator that is not listening: its connection handler is served by hand."""
    return Simulator(SimulatorConfig(ttft_ms=0, tokens_per_s=0))


# -- listening and stopping -------------------------------------------------------------------


async def test_serve_simulator_reports_url() -> None:
    """serve_simulator reports its URL through task_status and serves until cancelled."""
    async with anyio.create_task_group() as group:
        url = await group.start(serve_simulator, SimulatorConfig(ttft_ms=0, tokens_per_s=0))
        assert url.startswith("http://127.0.0.1:")
        async with httpx.AsyncClient(base_url=url, headers=HEADERS) as client:
            assert (await post(client, BODY)).status_code == 200
        group.cancel_scope.cancel()
    with pytest.raises(OSError, match=REFUSED):  # cancelled means closed: nothing listens
        await anyio.connect_tcp(*host_port(url))


# -- lifecycle on either backend --------------------------------------------------------------


async def test_error_in_the_block_reaches_the_caller_as_itself() -> None:
    """An exception raised inside ``async with open_simulator()`` is not wrapped in a group."""
    with pytest.raises(KeyError, match="boom"):
        async with open_simulator(ttft_ms=0, tokens_per_s=0):
            raise KeyError("boom")


async def test_port_in_use_raises_oserror_unwrapped() -> None:
    """A taken port raises OSError (EADDRINUSE) from open_simulator and serve_simulator."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(OSError, match="in use") as opened:
            async with open_simulator(port=port):
                pass  # pragma: no cover
        assert opened.value.errno == errno.EADDRINUSE
        async with anyio.create_task_group() as group:
            with pytest.raises(OSError, match="in use") as served:
                await group.start(functools.partial(serve_simulator, port=port))
        assert served.value.errno == errno.EADDRINUSE


async def test_outer_cancel_scope_stops_the_simulator() -> None:
    """Cancelling a scope around open_simulator ends it cleanly and closes its socket."""
    with anyio.CancelScope() as scope:
        async with open_simulator(ttft_ms=0, tokens_per_s=0) as sim:
            url = sim.url
            scope.cancel()
            await anyio.sleep_forever()
    assert scope.cancelled_caught
    with pytest.raises(OSError, match=REFUSED):
        await anyio.connect_tcp(*host_port(url))


async def test_leaving_the_block_ends_a_stalled_connection() -> None:
    """Leaving open_simulator's block cancels a request it is stalling; the log keeps it."""
    with anyio.fail_after(10):
        async with open_simulator(ttft_ms=0, tokens_per_s=0) as sim:
            sim.script("stall")
            stream = await anyio.connect_tcp(*host_port(sim.url))
            await stream.send(raw_request(BODY))
            await anyio.wait_all_tasks_blocked()
        async with stream:
            with pytest.raises((anyio.EndOfStream, anyio.BrokenResourceError)):
                await stream.receive()
    assert [(r.status, r.fault) for r in sim.requests] == [(None, "stall")]


class _FlakyListener:
    """Fails ``accept()`` with the queued errors first, then accepts from a real listener."""

    def __init__(self, real: SocketListener, errors: list[BaseException]) -> None:
        self.real, self.errors = real, errors

    async def accept(self) -> SocketStream:
        if self.errors:
            raise self.errors.pop(0)
        return await self.real.accept()


def _wrapped(code: int) -> anyio.BrokenResourceError:
    """An accept error as anyio raises it on trio: BrokenResourceError from the OSError."""
    exc = anyio.BrokenResourceError()
    exc.__cause__ = OSError(code, os.strerror(code))
    return exc


async def test_accept_out_of_descriptors_pauses_then_serves(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """accept() failing with EMFILE or ENFILE (raw or wrapped) is logged and retried."""
    errors: list[BaseException] = [OSError(errno.EMFILE, "out of fds"), _wrapped(errno.ENFILE)]
    multi = await anyio.create_tcp_listener(local_host="127.0.0.1")
    real = cast(SocketListener, multi.listeners[0])
    flaky = cast(SocketListener, _FlakyListener(real, errors))
    host, port = cast(tuple[str, int], real.extra(SocketAttribute.local_address))
    async with multi, anyio.create_task_group() as group:
        group.start_soon(serve_listener, flaky, quiet_simulator().handle_connection)
        async with httpx.AsyncClient(base_url=f"http://{host}:{port}", headers=HEADERS) as c:
            assert (await post(c, BODY)).status_code == 200
        group.cancel_scope.cancel()
    assert errors == []
    assert "EMFILE" in caplog.text
    assert "ENFILE" in caplog.text


async def test_accept_failing_otherwise_stops_serving() -> None:
    """Any other accept() error (a broken listener) ends serve_listener with that error."""
    multi = await anyio.create_tcp_listener(local_host="127.0.0.1")
    flaky = _FlakyListener(cast(SocketListener, multi.listeners[0]), [OSError(errno.EBADF, "x")])
    caught: list[BaseException] = []
    async with multi:
        try:
            await serve_listener(cast(SocketListener, flaky), quiet_simulator().handle_connection)
        except* OSError as group:
            caught.extend(group.exceptions)
    assert [getattr(e, "errno", None) for e in caught] == [errno.EBADF]


def test_thread_simulator_from_a_thread_running_trio() -> None:
    """run_simulator_in_thread serves, answers its handle and stops inside trio.run."""
    seen: list[tuple[int, list[int | None]]] = []

    async def main() -> None:
        with run_simulator_in_thread(ttft_ms=0, tokens_per_s=0) as handle:
            async with httpx.AsyncClient(base_url=handle.url, headers=HEADERS) as c:
                status = (await post(c, BODY)).status_code
            handle.script("529")
            seen.append((status, [r.status for r in handle.requests]))

    # On a thread of its own, so that a hang (the failure this guards against) fails
    # the test instead of stopping the suite.
    runner = threading.Thread(target=trio.run, args=(main,), daemon=True)
    runner.start()
    runner.join(30)
    assert not runner.is_alive()
    assert seen == [(200, [200])]


# -- the package ------------------------------------------------------------------------------


def test_import_loads_no_event_loop_or_http_library() -> None:
    """Importing the package and reading its config loads neither anyio, h11 nor trio."""
    code = (
        "import sys, claude_force_trio.simulator as s; s.config_from_env(); "
        "s.FaultPlan.parse('429:0.1'); "
        "print(sorted(m for m in ('anyio', 'h11', 'trio') if m in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


def test_public_names_resolve_and_show_the_package() -> None:
    """Every exported name resolves and is in dir(); classes and functions show the package."""
    assert set(simulator_pkg.__all__) <= set(dir(simulator_pkg))
    for name in simulator_pkg.__all__:
        value = getattr(simulator_pkg, name)
        if inspect.isclass(value) or inspect.isfunction(value):
            assert value.__module__ == "claude_force_trio.simulator", name
    with pytest.raises(AttributeError, match="no attribute 'nothing'"):
        _ = simulator_pkg.nothing


async def test_request_records_pickle() -> None:
    """A RequestRecord survives pickling under its public module name."""
    async with (
        open_simulator(ttft_ms=0, tokens_per_s=0) as sim,
        httpx.AsyncClient(base_url=sim.url, headers=HEADERS) as client,
    ):
        await post(client, BODY)
    (record,) = sim.requests
    assert isinstance(record, RequestRecord)
    assert pickle.loads(pickle.dumps(record)) == record
