"""``claude-force``: the Claude Force commands people type most, as a thin alias over ``cft``.

Claude Force's command line is argparse with ``--task`` options; ``cft``'s is
typer with positional tasks. Rather than a second implementation of any
command, this module parses Claude Force's spelling and hands the equivalent
``cft`` argument list to ``cft``'s own app, so both commands behave the same
(one ``error:`` line and exit 2 on bad input, exit 1 when a run fails).

Covered: ``list agents``, ``list workflows``, ``info AGENT``, ``run agent
AGENT --task T`` (``--model``, ``--max-tokens``, ``--temperature``), ``run
workflow NAME --task T``, each with ``--json`` / ``--format json``, and the
global ``--config``, ``--api-key`` and ``--demo`` (the embedded simulator).
Anything else is an error line naming the ``cft`` command to use instead.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn

from .._errors import ConfigError

__all__ = ["Translation", "main", "translate"]

#: Claude Force commands the alias does not carry, and where ``cft`` has them.
_ELSEWHERE = {
    "metrics": "cft metrics --help",
    "init": "cft init --help",
    "recommend": "cft agents list",
}


@dataclass(frozen=True, slots=True)
class Translation:
    """A ``claude-force`` command line as ``cft`` arguments, and the key it carried.

    The key travels apart from the arguments so it is never part of a command
    line anything could print.
    """

    args: list[str]
    api_key: str | None = None


class _Parser(argparse.ArgumentParser):
    """argparse whose errors are one ``ConfigError`` line, as ``cft``'s are."""

    def error(self, message: str) -> NoReturn:
        raise ConfigError(self.prog, message)


def _output_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="Output as JSON.")
    parser.add_argument("--format", choices=["text", "json"], default="text", help="text or json")


def _task_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--task", help="Task description.")
    parser.add_argument("--task-file", help="Read the task from a file.")


def _parser() -> _Parser:
    parser = _Parser(
        prog="claude-force",
        description="Claude Force's common commands, running on claude-force-trio (cft).",
    )
    parser.add_argument("--config", help="Path to claude.json (default: .claude/claude.json).")
    parser.add_argument("--api-key", help="Anthropic API key (or set ANTHROPIC_API_KEY).")
    parser.add_argument("--demo", action="store_true", help="Use the embedded simulator.")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    listing = commands.add_parser("list", help="List agents or workflows.")
    kinds = listing.add_subparsers(dest="kind", required=True, parser_class=_Parser)
    for kind in ("agents", "workflows"):
        _output_flags(kinds.add_parser(kind, help=f"List all {kind}."))
    info = commands.add_parser("info", help="Show an agent's settings and definition.")
    info.add_argument("agent")
    _output_flags(info)
    running = commands.add_parser("run", help="Run an agent or a workflow.")
    kinds = running.add_subparsers(dest="kind", required=True, parser_class=_Parser)
    agent = kinds.add_parser("agent", help="Run one agent.")
    agent.add_argument("agent")
    _task_flags(agent)
    agent.add_argument("--model", help="Model alias or id.")
    agent.add_argument("--max-tokens", type=int, help="Maximum output tokens.")
    agent.add_argument("--temperature", type=float, help="Temperature (0.0-1.0).")
    _output_flags(agent)
    workflow = kinds.add_parser("workflow", help="Run a workflow.")
    workflow.add_argument("workflow")
    _task_flags(workflow)
    _output_flags(workflow)
    return parser


def _task(ns: argparse.Namespace, where: str) -> str:
    """The task of ``run``: ``--task`` or the text of ``--task-file`` (one of them)."""
    if ns.task is not None and ns.task_file is not None:
        raise ConfigError(where, "give --task or --task-file, not both")
    if ns.task_file is not None:
        try:
            return Path(ns.task_file).read_text(encoding="utf-8-sig")
        except (OSError, UnicodeDecodeError, ValueError) as exc:
            reason = getattr(exc, "strerror", None) or str(exc)
            raise ConfigError(ns.task_file, f"cannot read the task file: {reason}") from None
    if ns.task is None or not ns.task.strip():
        raise ConfigError(where, "a task is required: --task TEXT or --task-file PATH")
    return str(ns.task)


def translate(argv: Sequence[str]) -> Translation:
    """The ``cft`` arguments for a ``claude-force`` command line.

    Raises:
        ConfigError: a usage error, or a Claude Force command the alias does not carry.
    """
    first = next((a for a in argv if not a.startswith("-")), None)
    if first in _ELSEWHERE:
        raise ConfigError(
            f"claude-force {first}", f"not part of the alias; use {_ELSEWHERE[first]}"
        )
    ns = _parser().parse_args(list(argv))
    args = _with_globals(ns)
    json_flag = ["--json"] if ns.json or ns.format == "json" else []
    if ns.command == "list":
        args += ["agents" if ns.kind == "agents" else "workflow", "list", *json_flag]
    elif ns.command == "info":
        args += ["agents", "show", *json_flag, "--", ns.agent]
    elif ns.kind == "agent":
        task = _task(ns, "claude-force run agent")
        # "--": an agent name or a task starting with "-" is not an option of cft run.
        args += ["run", *_run_options(ns), *json_flag, "--", ns.agent, task]
    else:
        task = _task(ns, "claude-force run workflow")
        args += ["workflow", "run", f"--task={task}", *json_flag, "--", ns.workflow]
    return Translation(args, api_key=ns.api_key)


def _with_globals(ns: argparse.Namespace) -> list[str]:
    """``cft``'s root options for Claude Force's ``--config`` and ``--demo``."""
    args = [] if ns.config is None else ["--config", ns.config]
    return [*args, "--simulate"] if ns.demo else args


def _run_options(ns: argparse.Namespace) -> list[str]:
    """``cft run``'s options for the ones ``run agent`` was given (others: the agent's own)."""
    options: list[str] = []
    for flag, value in (
        ("--model", ns.model),
        ("--max-tokens", ns.max_tokens),
        ("--temperature", ns.temperature),
    ):
        if value is not None:
            options += [flag, str(value)]
    return options


def main(argv: Sequence[str] | None = None) -> int:
    """Run a ``claude-force`` command line through ``cft``; return the exit code."""
    from . import _console
    from ._app import EXIT_CONFIG

    try:
        translation = translate(sys.argv[1:] if argv is None else argv)
    except ConfigError as exc:
        _console.error(str(exc))
        return EXIT_CONFIG
    if translation.api_key is not None:
        # Where cft looks for it; only this process and its children see it.
        os.environ["ANTHROPIC_API_KEY"] = translation.api_key
    from . import app

    try:
        app(args=translation.args, prog_name="cft")
    except SystemExit as exc:
        code = exc.code
        return code if isinstance(code, int) else 0 if code is None else 1
    return 0
