"""``cft cache stats | clear``: what the response cache holds and has saved, and emptying it.

The counters (hits, misses, evictions, saved USD) are persisted by the cache
itself, so ``stats`` shows them across runs and processes. The cache is found
the way runs find it: the config's ``cache`` section (backend, directory,
Redis URL) when a config is there, else the defaults — a disk cache under
``$CFT_HOME/cache`` — so ``cft cache stats`` also works outside a project.
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import anyio.to_thread
import typer

from . import _console
from ._app import Globals, JsonOption, command_group, handles_errors, run_trio, state_dir

if TYPE_CHECKING:
    from .._cache._entry import CacheStats
    from .._config import CacheConfig

__all__ = ["app"]

#: The semantic cache's namespace (its SQLite table and Redis key prefix), as the engine opens it.
SEMANTIC_NAMESPACE = "cft"

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

    directory = cache.directory or state_dir() / "cache"
    backend = await open_backend(cache, directory=directory)
    try:
        removed = 0
        if action == "clear":
            removed = await backend.clear()
            await anyio.to_thread.run_sync(_clear_semantic, cache, directory)
        return await backend.statistics(), removed
    finally:
        await backend.aclose()


def _clear_semantic(cache: CacheConfig, directory: Path) -> None:
    """Empty the semantic cache's index beside the store (docs/semantic-cache.md).

    Its entries only point at answers the clear removed, so they would each cost
    one lookup before being forgotten; emptied here, with plain SQLite or Redis
    calls, so clearing needs neither the ``semantic`` extra nor the model.
    """
    if cache.backend == "redis":
        import redis

        assert cache.redis_url is not None  # open_backend refused a Redis cache without one
        client = redis.Redis.from_url(cache.redis_url)
        try:
            names = list(client.scan_iter(match=f"{SEMANTIC_NAMESPACE}:sem:*", count=1000))
            for start in range(0, len(names), 500):
                client.delete(*names[start : start + 500])
        finally:
            client.close()
        return
    path = Path(directory) / "semantic.db"
    if not path.is_file():
        return
    db = sqlite3.connect(path, timeout=10.0)
    try:
        table = f"{SEMANTIC_NAMESPACE}_semantic"
        known = db.execute("SELECT 1 FROM sqlite_master WHERE name = ?", (table,)).fetchone()
        if known:
            with db:
                db.execute(f"DELETE FROM {table}")
    except sqlite3.DatabaseError:
        pass  # a damaged file is moved aside by the next run that opens it
    finally:
        db.close()


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
    """Remove every cached response and reset the counters (asks first).

    The semantic cache's index beside it is emptied too.
    """
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
