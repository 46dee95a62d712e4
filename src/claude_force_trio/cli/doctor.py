"""``cft doctor``: can a run work here? One ✓/✗ line per check; exit 0 only if all pass.

The checks themselves live in :mod:`.._doctor`; this module only shows them.
The key is never printed, only whether it is set.
"""

from __future__ import annotations

import functools
from typing import Annotated

import typer

from . import _console
from ._app import EXIT_FAILED, Globals, handles_errors, run_trio, state_dir

__all__ = ["doctor"]


@handles_errors
def doctor(
    ctx: typer.Context,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print one JSON document on stdout.")
    ] = False,
) -> None:
    """Check the config, agent files, key, backend and state folders."""
    from ._doctor import run_checks

    options = Globals.of(ctx)
    checks = run_trio(
        functools.partial(run_checks, options.config, simulate=options.simulate, state=state_dir())
    )
    ok = all(c.ok for c in checks)
    if as_json:
        _console.print_json({"ok": ok, "checks": [c.to_dict() for c in checks]})
    else:
        from rich.text import Text

        out = _console.stdout()
        for check in checks:
            mark = Text("✓ ", style="bold green") if check.ok else Text("✗ ", style="bold red")
            out.print(
                mark + Text(f"{check.name}: ", style="bold") + Text(check.detail), soft_wrap=True
            )
    if not ok:
        raise typer.Exit(EXIT_FAILED)
