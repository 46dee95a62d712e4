"""``cft batches list|show|cancel``: the Message Batches on the account (or the simulator).

Why a command group: a batch-mode run (``--batch``) leaves batches processing
on the server for minutes or hours; these commands look at them and cancel
them without a run. They talk to the backend chosen by the usual rules
(``--simulate``/``--live``, ``ANTHROPIC_BASE_URL``, the key) through the
engine's own batches client, so errors read as every other command's and the
key never appears in what is printed. Also home of ``--batch``, the flag of
``run-many``, ``workflow run`` and ``workflow resume``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer

from . import _console
from ._app import Globals, JsonOption, command_group, handles_errors, run_trio

if TYPE_CHECKING:
    from .._api._batches import BatchesClient, BatchInfo
    from .._backend import Backend

__all__ = ["BatchOption", "app"]

T = TypeVar("T")

#: ``--batch`` of the running commands.
BatchOption = Annotated[
    bool,
    typer.Option(
        "--batch",
        help="Send calls through the Message Batches API (half price, answers in minutes"
        " to hours; see docs/batches.md); streaming is not available.",
    ),
]

app = command_group("Look at and cancel Message Batches (what --batch runs submit).")
BatchIdArgument = Annotated[str, typer.Argument(metavar="BATCH_ID", help="The batch's id.")]
_COLUMNS = ("batch", "status", "processing", "succeeded", "errored", "expired", "canceled")


def _backend(ctx: typer.Context) -> tuple[Backend, str]:
    """The backend by the usual rules, and the API version (from claude.json when there is one)."""
    from .._config import ApiConfig
    from .._errors import ConfigNotFoundError

    settings = Globals.of(ctx)
    try:
        api = settings.load().api
    except ConfigNotFoundError:
        api = ApiConfig()
    from .._backend import resolve_backend

    backend = resolve_backend(settings.simulate, api=api, default_to_simulator=True)
    if backend.notice:
        _console.notice(backend.notice)
    return backend, api.version


def _with_client(ctx: typer.Context, use: Callable[[BatchesClient], Awaitable[T]]) -> T:
    """Run ``use`` with a batches client for the chosen backend (an embedded simulator started)."""
    backend, version = _backend(ctx)

    async def main() -> T:
        import trio

        from .._api._batches import BatchesClient
        from .._backend import serve_simulator_url

        async with trio.open_nursery() as nursery:
            if backend.base_url is None:
                base_url = await nursery.start(serve_simulator_url, None)
            else:
                base_url = backend.base_url
            async with BatchesClient(
                base_url=base_url,
                api_key=backend.api_key,
                auth=backend.auth,
                version=backend.version if backend.base_url is not None else version,
                max_connections=2,
            ) as client:
                result = await use(client)
            nursery.cancel_scope.cancel()
        return result

    return run_trio(main)


def _row(info: BatchInfo) -> list[str]:
    counts = info.request_counts
    return [
        info.id,
        info.processing_status,
        *(f"{counts.get(name, 0):,}" for name in _COLUMNS[2:]),
    ]


def _show(info: BatchInfo, as_json: bool) -> None:
    if as_json:
        _console.print_json(dict(info.raw))
        return
    from .runs import _print_rows

    _print_rows(_COLUMNS, [_row(info)])
    for label, value in (
        ("created", info.created_at),
        ("ended", info.ended_at),
        ("expires", info.expires_at),
        ("cancel asked", info.cancel_initiated_at),
    ):
        if value is not None:
            _console.detail(f"{label}: {value}")


@app.command("list")
@handles_errors
def list_(
    ctx: typer.Context,
    limit: Annotated[
        int, typer.Option("--limit", "-n", min=1, max=1000, help="At most N batches.")
    ] = 20,
    after: Annotated[
        str | None,
        typer.Option("--after", metavar="BATCH_ID", help="The page after this batch."),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """List batches, newest first: id, status and the count of entries in each state."""
    page = _with_client(ctx, lambda client: client.list_batches(limit=limit, after_id=after))
    if as_json:
        document: dict[str, Any] = {
            "data": [dict(info.raw) for info in page.batches],
            "has_more": page.has_more,
            "last_id": page.last_id,
        }
        _console.print_json(document)
        return
    if not page.batches:
        _console.detail("no batches")
        return
    from .runs import _print_rows

    _print_rows(_COLUMNS, [_row(info) for info in page.batches])
    if page.has_more:
        _console.detail(f"more: cft batches list --after {page.last_id}")


@app.command("show")
@handles_errors
def show(ctx: typer.Context, batch_id: BatchIdArgument, as_json: JsonOption = False) -> None:
    """Show one batch: its status, its entries' counts and its dates."""
    _show(_with_client(ctx, lambda client: client.retrieve(batch_id.strip())), as_json)


@app.command("cancel")
@handles_errors
def cancel(ctx: typer.Context, batch_id: BatchIdArgument, as_json: JsonOption = False) -> None:
    """Cancel a batch: entries not processed yet end [bold]canceled[/] (the rest are paid)."""
    info = _with_client(ctx, lambda client: client.cancel(batch_id.strip()))
    _show(info, as_json)
    if not as_json:
        _console.success(f"cancel asked for {info.id}: {info.processing_status}", err=True)
