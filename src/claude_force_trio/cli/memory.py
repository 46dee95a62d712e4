"""``cft memory stats | clear``: inspect or wipe the agents' memory (``$CFT_HOME/memory``).

``clear`` asks first on a terminal; a script must say ``--yes``, so a pipe never
loses the memory by accident (it gets a one-line error and exit 2 instead).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from .._errors import ConfigError
from . import _console
from ._app import JsonOption, command_group, handles_errors, run_trio, state_dir

if TYPE_CHECKING:
    from .._memory import MemoryStats

__all__ = ["app", "memory_path"]

app = command_group("Inspect or clear the agents' memory of past successes.")


def memory_path() -> Path:
    """The memory database: ``$CFT_HOME/memory/memory.sqlite3``."""
    from .._memory import MEMORY_FILE

    return state_dir() / "memory" / MEMORY_FILE


async def _stats() -> MemoryStats:
    from .._memory import open_memory

    async with open_memory(memory_path()) as store:
        return await store.stats()


async def _clear() -> int:
    from .._memory import open_memory

    async with open_memory(memory_path()) as store:
        return await store.clear()


@app.command("stats")
@handles_errors
def stats(as_json: JsonOption = False) -> None:
    """How many items the memory holds, for how many agents, and its size."""
    if not memory_path().exists():
        if as_json:
            _console.print_json({"path": str(memory_path()), "items": 0, "agents": 0})
        else:
            _console.write(f"No memory recorded yet ({memory_path()}).\n")
        return
    doc = run_trio(_stats).to_dict()
    if as_json:
        _console.print_json(doc)
        return
    for key in ("path", "items", "agents", "size_bytes", "oldest", "newest"):
        _console.write(f"{key}: {doc[key] if doc[key] is not None else '-'}\n")


@app.command("clear")
@handles_errors
def clear(
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
    as_json: JsonOption = False,
) -> None:
    """Forget every remembered success."""
    if not yes:
        if not _console.interactive():
            raise ConfigError(
                "memory clear", "refusing to clear without --yes when not on a terminal"
            )
        if not typer.confirm(f"Clear all memory in {memory_path()}?"):
            raise typer.Exit(1)
    removed = run_trio(_clear) if memory_path().exists() else 0
    if as_json:
        _console.print_json({"path": str(memory_path()), "removed": removed})
    else:
        _console.success(f"cleared {removed} memory items")
