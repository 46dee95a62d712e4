"""``cft init [DIR]``: scaffold a working ``.claude/`` project (config, agents, a workflow).

Why: the fastest way to learn the tool is to run a real workflow offline, so
``init`` writes one and says the command to try next. It never overwrites a
file without ``--force``: a user's hand-edited agents are worth more than a
template.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from .._errors import ConfigError
from . import _console
from ._app import handles_errors

__all__ = ["init"]


@handles_errors
def init(
    directory: Annotated[
        Path | None,
        typer.Argument(
            metavar="[DIR]", help="Where to create .claude/ (default: the current folder)."
        ),
    ] = None,
    force: Annotated[bool, typer.Option("--force", help="Overwrite existing files.")] = False,
) -> None:
    """Create .claude/claude.json with example agents and workflows."""
    from ._scaffold import write_project

    target = directory or Path.cwd()
    try:
        written = write_project(target, force=force)
    except FileExistsError as exc:
        where = exc.filename or str(target)
        raise ConfigError(str(where), "already exists (use --force to overwrite)") from None
    except OSError as exc:
        raise ConfigError(str(exc.filename or target), f"cannot write: {exc.strerror}") from None
    out = _console.stdout()
    _console.success(f"created {len(written)} file{'s' * (len(written) != 1)} in {target}")
    for path in written:
        out.print(f"  {_shown(path, target)}", markup=False, soft_wrap=True)
    hint = "" if directory is None else f"cd {directory} && "
    out.print("\nnext: ", end="", style="dim")
    out.print(f"{hint}cft workflow run code-quality-check", markup=False, soft_wrap=True)


def _shown(path: Path, root: Path) -> str:
    try:
        return str(path.relative_to(root))
    except ValueError:
        return str(path)
