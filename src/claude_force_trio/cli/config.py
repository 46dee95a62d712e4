"""``cft config validate | migrate``: check a claude.json, or write it out in full.

``validate`` is what CI runs on a pull request that edits the config: it loads
the file exactly as a run would (agent files, contracts, every workflow graph)
and says ``✓`` or gives the one-line error with its JSON path.

``migrate`` writes the filled-in file (every default explicit, legacy spellings
normalised) so users can see and edit what the engine actually uses. The old
file is kept as ``claude.json.bak`` (``.bak.1``, ``.bak.2``… when a backup is
already there, so a second migrate never destroys the original), and the new
file is written to a temporary name and renamed, so a crash never leaves half a
config behind.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Annotated

import typer

from .._errors import ConfigError
from .._text import printable
from . import _console
from ._app import Globals, command_group, handles_errors

__all__ = ["app"]

app = command_group("Validate or migrate claude.json.")


@app.command("validate")
@handles_errors
def validate(ctx: typer.Context) -> None:
    """Load claude.json as a run would and report the first problem, if any (exit 2)."""
    from .._dag import build_graph

    config = Globals.of(ctx).load()
    for workflow in config.workflows.values():
        build_graph(workflow)
    agents, workflows = len(config.agents), len(config.workflows)
    _console.success(
        f"{printable(str(config.path))}: {agents} agent{'s' * (agents != 1)}, "
        f"{workflows} workflow{'s' * (workflows != 1)}"
    )


def _backup_path(path: Path) -> Path:
    candidate = path.with_name(path.name + ".bak")
    number = 0
    while candidate.exists():
        number += 1
        candidate = path.with_name(f"{path.name}.bak.{number}")
    return candidate


def _write_atomically(path: Path, text: str) -> None:
    fd, temp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        shutil.copymode(path, temp)
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise


def _diff(old: str, new: str, path: Path) -> str:
    """A unified diff of the file as it is and as migrate would write it."""
    import difflib

    name = printable(str(path))
    lines = difflib.unified_diff(
        old.splitlines(keepends=True), new.splitlines(keepends=True), name, f"{name} (migrated)"
    )
    return "".join(line if line.endswith("\n") else line + "\n" for line in lines)


@app.command("migrate")
@handles_errors
def migrate(
    ctx: typer.Context,
    yes: Annotated[
        bool, typer.Option("--yes", "-y", help="Write without showing the change and asking.")
    ] = False,
) -> None:
    """Write claude.json with every default filled in, keeping a backup of the old file.

    Shows the change as a diff and asks first, unless [bold]--yes[/].
    """
    from .._config._migrate import config_to_dict

    config = Globals.of(ctx).load()
    path = config.path
    text = json.dumps(config_to_dict(config), indent=2, ensure_ascii=False) + "\n"
    old = path.read_text(encoding="utf-8")
    if old == text:
        _console.success(f"{printable(str(path))} is already up to date; nothing written")
        return
    if not yes:
        _console.write(_diff(old, text, path))
        try:
            confirmed = typer.confirm(f"Write {printable(str(path))}?", err=True)
        except typer.Abort:
            raise ConfigError("--yes", "no confirmation given (pass --yes to skip it)") from None
        if not confirmed:
            _console.notice("nothing written")
            return
    backup = _backup_path(path)
    try:
        shutil.copy2(path, backup)
        _write_atomically(path, text)
    except OSError as exc:
        raise ConfigError(str(exc.filename or path), f"cannot write: {exc.strerror}") from exc
    _console.success(f"wrote {printable(str(path))} (the old file is {printable(str(backup))})")
