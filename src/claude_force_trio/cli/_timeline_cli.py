"""The ``--timeline`` and ``--html FILE`` flags, as ``runs show`` and ``workflow run`` take them.

Why a module of its own: three commands share the flags and their rules, and
those rules are about output order. The page is written before anything is
printed, so a file that cannot be written is the command's only line
(``error: --html: cannot write …``, exit 2); under ``--json`` the chart goes
to stderr, so stdout stays one JSON document. The config's workflows (for the
critical path) are loaded only when a flag asks, and a missing or broken
config only loses the highlight, never the chart.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from .._errors import CFTError, ConfigError
from . import _console

if TYPE_CHECKING:
    from .._config import WorkflowConfig

__all__ = ["HtmlOption", "TimelineOption", "Timelines", "write_page"]

TimelineOption = Annotated[
    bool,
    typer.Option("--timeline", help="Draw the run as a Gantt chart (on stderr with --json)."),
]
HtmlOption = Annotated[
    Path | None,
    typer.Option(
        "--html",
        metavar="FILE",
        dir_okay=False,
        help="Write the run's timeline as a self-contained HTML page (inline SVG, no network).",
    ),
]


def write_page(
    path: Path, document: Mapping[str, Any], workflows: Mapping[str, WorkflowConfig] | None
) -> None:
    """Write a run's timeline page and say so on stderr.

    Args:
        path: the file to write (replaced if it exists).
        document: the run's ``--json`` document.
        workflows: the config's workflows; ``None`` if no config loaded.

    Raises:
        ConfigError: the file cannot be written (a missing folder, no permission).
    """
    from ._timeline import build_timeline
    from ._timeline_html import timeline_html

    page = timeline_html(build_timeline(document, workflows))
    try:
        path.write_text(page, encoding="utf-8")
    except OSError as exc:
        raise ConfigError("--html", f"cannot write {path}: {exc.strerror or exc}") from exc
    _console.detail(f"timeline written to {path}")


@dataclass(frozen=True, slots=True)
class Timelines:
    """What ``--timeline`` / ``--html`` asked of one run's document.

    Attributes:
        document: the run's ``--json`` document.
        workflows: the config's workflows, for the critical path; ``None`` if not loaded.
        draw: ``--timeline`` was given.
    """

    document: Mapping[str, Any]
    workflows: Mapping[str, WorkflowConfig] | None
    draw: bool

    @classmethod
    def of(
        cls, ctx: typer.Context, document: Mapping[str, Any], *, draw: bool, html: Path | None
    ) -> Timelines:
        """Load the workflows if a flag needs them, and write the ``--html`` page now.

        Raises:
            ConfigError: the page cannot be written.
        """
        from ._app import Globals

        workflows: Mapping[str, WorkflowConfig] | None = None
        if draw or html is not None:
            try:
                workflows = Globals.of(ctx).load().workflows
            except CFTError:
                workflows = None  # drawn without the critical path, and the chart says why
        if html is not None:
            write_page(html, document, workflows)
        return cls(document, workflows, draw)

    def print(self, *, err: bool = False) -> bool:
        """Draw the chart if ``--timeline`` asked (on stderr if ``err``); True if drawn."""
        if self.draw:
            from ._timeline_text import print_timeline

            print_timeline(self.document, self.workflows, err=err)
        return self.draw
