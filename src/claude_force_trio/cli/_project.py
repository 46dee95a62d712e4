"""Which project ``cft metrics`` and ``cft memory`` look at: the current config's, or all.

Why the config decides: metrics and memory are kept per project
(``Config.project_key``), so a report run in one checkout must not show another
project's calls or tasks. The config is found as every command finds it
(``--config``, ``$CFT_CONFIG``, ``./.claude/claude.json``); without one there
is no current project, and the user must say ``--all-projects`` to widen.
"""

from __future__ import annotations

from typing import Annotated

import typer

from .._errors import ConfigError, ConfigNotFoundError
from ._app import Globals

__all__ = ["AllProjectsOption", "current_project"]

#: The ``--all-projects`` flag of ``cft metrics`` and ``cft memory``.
AllProjectsOption = Annotated[
    bool,
    typer.Option(
        "--all-projects",
        help="Every project's records, and those of no project (default: the current"
        " config's project only).",
    ),
]


def current_project(ctx: typer.Context, all_projects: bool) -> str | None:
    """The project key to scope to, or ``None`` for every project (``--all-projects``).

    Raises:
        ConfigError: no config is found (and ``--all-projects`` was not given),
            or the file found is not a JSON object.
    """
    if all_projects:
        return None
    from .._config import find_config, read_document
    from .._metrics import project_key_of

    try:
        path = find_config(Globals.of(ctx).config)
    except ConfigNotFoundError as exc:
        raise ConfigError(
            exc.path,
            "no config found, so there is no current project; pass --config, or"
            " --all-projects for every project",
        ) from exc
    # Only the document: a config whose agent files are missing is still a project.
    return project_key_of(path, read_document(path))
