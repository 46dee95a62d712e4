"""``cft sim serve``: the offline Messages API as a standalone server.

Why a standalone server when the engine embeds one: other programs (the
official SDK, curl, a colleague's tool) can then be pointed at it with
``ANTHROPIC_BASE_URL``, with the same latency model, faults and rate limits.

The first stdout line is ``simulator listening on URL`` (flushed), so a script
or a test can read the URL when ``--port 0`` picked a free port. Ctrl-C (or
SIGTERM) stops the server cleanly with exit code 0: stopping is how a server is
meant to end, not a failure.
"""

from __future__ import annotations

import functools
import signal
from typing import Annotated

import typer

from .._errors import ConfigError
from . import _console
from ._app import command_group, handles_errors, run_trio

__all__ = ["app"]

app = command_group("The offline Messages API simulator.")


@app.command("serve")
@handles_errors
def serve(
    host: Annotated[str, typer.Option("--host", help="Interface to bind.")] = "127.0.0.1",
    port: Annotated[
        int, typer.Option("--port", "-p", min=0, max=65535, help="TCP port; 0 picks a free one.")
    ] = 8765,
    latency_ms: Annotated[
        float | None,
        typer.Option("--latency-ms", min=0.0, metavar="MS", help="Time to first token."),
    ] = None,
    tokens_per_s: Annotated[
        float | None,
        typer.Option("--tokens-per-s", min=0.0, help="Output speed; 0 makes output instant."),
    ] = None,
    faults: Annotated[
        str | None,
        typer.Option(
            "--faults",
            metavar="SPEC",
            help="Injected faults, e.g. [bold]429:0.1,529:0.05,reset:0.02[/].",
        ),
    ] = None,
    rpm: Annotated[
        int | None, typer.Option("--rpm", min=1, help="Requests per minute (token bucket).")
    ] = None,
    seed: Annotated[int, typer.Option("--seed", help="Seed for the fault draws.")] = 0,
) -> None:
    """Serve the Messages API simulator until Ctrl-C."""
    import dataclasses

    from ..simulator import FaultPlan, serve_simulator

    try:
        plan = FaultPlan.parse(faults) if faults else None
    except ValueError as exc:
        raise ConfigError("--faults", str(exc)) from None
    settings: dict[str, object] = {"faults": plan, "rpm": rpm, "seed": seed}
    if latency_ms is not None:
        settings["ttft_ms"] = latency_ms
    if tokens_per_s is not None:
        settings["tokens_per_s"] = tokens_per_s
    # CFT_SIM_LATENCY_SCALE applies here too, so a demo (or a test) can speed it up.
    from ..simulator import config_from_env

    base = config_from_env()
    try:
        config = dataclasses.replace(base, **settings)  # type: ignore[arg-type]
    except ValueError as exc:
        raise ConfigError("sim serve", str(exc)) from None

    async def main() -> None:
        import trio

        # Listen for Ctrl-C before binding, so an early Ctrl-C also ends cleanly.
        with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
            async with trio.open_nursery() as nursery:
                serve = functools.partial(serve_simulator, config, host=host, port=port)
                try:
                    url = await nursery.start(serve)
                except OSError as exc:
                    raise ConfigError(f"{host}:{port}", f"cannot listen: {exc.strerror}") from None
                _console.write(f"simulator listening on {url}\n")
                _console.stderr().print(
                    f"point clients at it: export ANTHROPIC_BASE_URL={url}",
                    style="dim",
                    markup=False,
                    soft_wrap=True,
                )
                async for _ in signals:
                    break
                nursery.cancel_scope.cancel()

    run_trio(main)
    _console.stderr().print("simulator stopped", style="dim")
