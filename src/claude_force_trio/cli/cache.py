"""``cft cache stats | clear``: what the response cache holds and has saved, and emptying it.

The counters (hits, misses, evictions, saved USD) are persisted by the cache
itself, so ``stats`` shows them across runs and processes. The cache is found
the way runs find it: the config's ``cache`` section (backend, directory,
Redis URL) when a config is there, else the defaults — a disk cache under
``$CFT_HOME/cache`` — so ``cft cache stats`` also works outside a project.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Annotated, Any

import typer

from . import _console
from ._app import Globals, JsonOption, command_group, handles_errors, run_trio, state_dir

if TYPE_CHECKING:
    from .._cache._entry import CacheStats
    from .._config import CacheConfig

__all__ = ["app"]

app = command_group("Inspect or empty the response cache.")


def _cache_config(ctx: typer.Context) -> CacheConfig:
    """The ``cache`` section of the config, or the defaults when there is no config at all."""
    from .._config import CacheConfig, find_config, load_config
    from .._errors import ConfigError

    options = Globals.of(ctx)
    try:
        path = find_config(options.config)
    except ConfigError:
        if options.config is None and not os.environ.get("CFT_CONFIG"):
            return CacheConfig()  # no project here: the default cache under CFT_HOME
        raise
    return load_config(path).cache


async def _with_backend(cache: CacheConfig, action: str) -> tuple[CacheStats, int]:
    from .._cache._policy import open_backend

    backend = await open_backend(cache, directory=cache.directory or state_dir() / "cache")
    try:
        removed = await backend.clear() if action == "clear" else 0
        return await backend.statistics(), removed
    finally:
        await backend.aclose()


def _size(size: int) -> str:
    value = float(size)
    for unit in ("B", "KiB", "MiB"):
        if value < 1024:
            return f"{value:,.0f} {unit}" if unit == "B" else f"{value:,.1f} {unit}"
        value /= 1024
    return f"{value:,.1f} GiB"


def _rows(doc: dict[str, Any]) -> list[tuple[str, str]]:
    rate = doc["hit_rate"]
    return [
        ("backend", doc["backend"]),
        ("location", doc["location"]),
        ("entries", f"{doc['entries']:,}"),
        ("size", _size(doc["size_bytes"])),
        ("hits", f"{doc['hits']:,}"),
        ("misses", f"{doc['misses']:,}"),
        ("hit rate", "-" if rate is None else f"{rate:.1%}"),
        ("evictions", f"{doc['evictions']:,}"),
        ("expired", f"{doc['expired']:,}"),
        ("saved", f"${doc['saved_usd']:,.4f}"),
        ("foreign rows dropped", f"{doc['foreign_rows']:,}"),
    ]


@app.command("stats")
@handles_errors
def stats(ctx: typer.Context, as_json: JsonOption = False) -> None:
    """Show entries, size, hits, misses, hit rate, evictions and the money saved."""
    snapshot, _ = run_trio(_with_backend, _cache_config(ctx), "stats")
    doc = snapshot.to_dict()
    if as_json:
        _console.print_json(doc)
        return
    from rich.table import Table

    table = Table(box=None, show_header=False)
    table.add_column(style="dim")
    table.add_column()
    for name, value in _rows(doc):
        table.add_row(name, value)
    _console.stdout().print(table)


@app.command("clear")
@handles_errors
def clear(
    ctx: typer.Context,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
) -> None:
    """Remove every cached response and reset the counters (asks first)."""
    cache = _cache_config(ctx)
    if not yes:
        where = cache.redis_url if cache.backend == "redis" else "the disk cache"
        try:
            confirmed = typer.confirm(f"Remove every cached response from {where}?", err=True)
        except typer.Abort:
            from .._errors import ConfigError

            raise ConfigError("--yes", "no confirmation given (pass --yes to skip it)") from None
        if not confirmed:
            _console.notice("nothing removed")
            return
    _, removed = run_trio(_with_backend, cache, "clear")
    _console.success(f"removed {removed:,} cached response{'s' if removed != 1 else ''}")
