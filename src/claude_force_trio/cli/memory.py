"""``cft memory stats | clear``: inspect or wipe the agents' memory (``$CFT_HOME/memory``).

``clear`` asks first on a terminal; a script must say ``--yes``, so a pipe never
loses the memory by accident (it gets a one-line error and exit 2 instead).

Both act on the current project's memory (the config found as usual,
:mod:`._project`) unless ``--all-projects`` widens them to every project,
rows kept from before memory was per project included.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from .._errors import ConfigError
from . import _console
from ._app import JsonOption, command_group, handles_errors, run_trio, state_dir
from ._project import AllProjectsOption, current_project

if TYPE_CHECKING:
    from .._memory import MemoryStats

__all__ = ["app", "memory_path"]

app = command_group("Inspect or clear the agents' memory of past successes.")


def memory_path() -> Path:
    """The memory database: ``$CFT_HOME/memory/memory.sqlite3``."""
    from .._memory import MEMORY_FILE

    return state_dir() / "memory" / MEMORY_FILE


async def _stats(project: str | None) -> MemoryStats:
    from .._memory import open_memory

    async with open_memory(memory_path(), project=project) as store:
        return await store.stats()


async def _clear(project: str | None) -> int:
    from .._memory import open_memory

    async with open_memory(memory_path(), project=project) as store:
        return await store.clear()


def _scope(project: str | None) -> str:
    return "every project" if project is None else f"project {project}"


@app.command("stats")
@handles_errors
def stats(
    ctx: typer.Context, all_projects: AllProjectsOption = False, as_json: JsonOption = False
) -> None:
    """How many items the current project's memory holds, for how many agents, and its size."""
    project = current_project(ctx, all_projects)
    if not memory_path().exists():
        if as_json:
            doc = {"path": str(memory_path()), "project": project, "items": 0, "agents": 0}
            _console.print_json(doc)
        else:
            _console.write(f"No memory recorded yet ({memory_path()}).\n")
        return
    doc = run_trio(_stats, project).to_dict()
    if as_json:
        _console.print_json(doc)
        return
    keys = ["path", "project", "items", "agents", "size_bytes", "oldest", "newest"]
    if project is None:
        doc["project"] = "(all)"
        keys[2:2] = ["projects", "unscoped"]
    for key in keys:
        _console.write(f"{key}: {doc[key] if doc[key] is not None else '-'}\n")


@app.command("clear")
@handles_errors
def clear(
    ctx: typer.Context,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
    all_projects: AllProjectsOption = False,
    as_json: JsonOption = False,
) -> None:
    """Forget every remembered success of the current project (of all with --all-projects)."""
    project = current_project(ctx, all_projects)
    if not yes:
        if not _console.interactive():
            raise ConfigError(
                "memory clear", "refusing to clear without --yes when not on a terminal"
            )
        if not typer.confirm(f"Clear the memory of {_scope(project)} in {memory_path()}?"):
            raise typer.Exit(1)
    removed = run_trio(_clear, project) if memory_path().exists() else 0
    if as_json:
        _console.print_json({"path": str(memory_path()), "project": project, "removed": removed})
    else:
        _console.success(f"cleared {removed} memory items of {_scope(project)}")
