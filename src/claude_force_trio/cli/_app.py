"""The root ``cft`` app: global options, config and backend resolution, error handling.

Why the error handling lives here, as a decorator every command wears: the CLI contract
is that a bad config, an unknown agent or a malformed input file is *one* line on
stderr (``error: <path>: <message>``) and exit code 2, never a traceback. Commands raise
:class:`CFTError` freely; :func:`handles_errors` turns it into that line; anything else is a bug.

Heavy modules (rich, trio, httpx, the engine) are imported inside the commands
so ``cft --help`` does not pay for them; ``trio.run`` is called only by the CLI.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import sys
from collections.abc import AsyncIterator, Callable, Collection, Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn, ParamSpec, TypeVar

import typer

from .._errors import CFTError, ConfigError, did_you_mean
from . import _console

if TYPE_CHECKING:
    from .._backend import Backend
    from .._config import Config
    from .._engine import Engine

__all__ = [
    "EXIT_CONFIG",
    "EXIT_FAILED",
    "EXIT_INTERRUPTED",
    "BudgetOption",
    "Globals",
    "JsonOption",
    "NoJournalOption",
    "WorkspaceOption",
    "app",
    "command_group",
    "fail",
    "handles_errors",
    "run_trio",
    "state_dir",
    "unknown_name",
    "workspace_of",
]

#: Exit codes: 0 success, 1 a run failed, 2 usage or config error.
EXIT_FAILED = 1
EXIT_CONFIG = 2
#: A run stopped with Ctrl-C: the shell convention 128 + SIGINT, so scripts can tell
#: "the user stopped it" from "it failed".
EXIT_INTERRUPTED = 130

P = ParamSpec("P")
R = TypeVar("R")


def _flags_show_no_type() -> None:
    """Help lists ``--keep-going`` alone, not ``--keep-going <bool>``.

    Typer labels every option with its type; a flag takes no value, so the
    label only misleads. Typer has no setting for it: the help of flags is
    mended here, once, for the whole CLI.
    """
    from typer.core import TyperOption

    typed: Any = getattr(TyperOption, "display_type_rich", None)
    if typed is None or getattr(typed, "cft_flags_untyped", False):
        return  # a Typer that does not label types, or already mended

    def display_type_rich(self: TyperOption, ctx: Any) -> str | None:
        return None if self.is_flag else typed(self, ctx)

    display_type_rich.cft_flags_untyped = True  # type: ignore[attr-defined]
    TyperOption.display_type_rich = display_type_rich  # type: ignore[method-assign]


_flags_show_no_type()

app = typer.Typer(
    name="cft",
    help="Run teams of Claude agents as DAG workflows on trio — with an offline simulator.",
    rich_markup_mode="rich",
    no_args_is_help=True,
    context_settings={"help_option_names": ["-h", "--help"]},
    # A traceback's locals could hold request headers; never print them.
    pretty_exceptions_show_locals=False,
)


#: The ``--json`` flag every listing and running command takes.
JsonOption = Annotated[bool, typer.Option("--json", help="Print one JSON document on stdout.")]
#: The ``--workspace`` option of the running commands (checked by :func:`workspace_of`).
WorkspaceOption = Annotated[
    Path | None,
    typer.Option(
        "--workspace",
        metavar="DIR",
        help="The folder agents may read with read_file, list_files and search_text"
        " (default: those tools are not offered).",
    ),
]


#: The ``--no-journal`` flag of the running commands: every run is journalled unless asked.
BudgetOption = Annotated[
    float | None,
    typer.Option(
        "--budget",
        min=0.000001,
        max=1e9,
        metavar="USD",
        help="The most this run may spend, in US dollars (overrides the config's budget):"
        " a call whose worst-case cost does not fit is not sent.",
    ),
]
NoJournalOption = Annotated[
    bool,
    typer.Option(
        "--no-journal",
        help="Do not record this run in the run journal (it cannot be resumed or listed).",
    ),
]


def workspace_of(value: Path | None) -> Path | None:
    """The ``--workspace`` folder, resolved; one error line (exit 2) if it is not a folder."""
    if value is None:
        return None
    from .._tools._registry import check_workspace

    return check_workspace(value, "--workspace")


def command_group(help: str) -> typer.Typer:
    """A sub-command group (``cft agents``, ``cft cache``…) styled like the root app."""
    return typer.Typer(
        help=help,
        no_args_is_help=True,
        rich_markup_mode="rich",
        context_settings={"help_option_names": ["-h", "--help"]},
    )


def state_dir() -> Path:
    """Where cache, metrics and memory live: ``$CFT_HOME`` or ``~/.cache/claude-force-trio``."""
    from .._paths import state_home

    return state_home()


@contextlib.asynccontextmanager
async def open_cli_engine(
    config: Config,
    backend: Backend,
    *,
    no_cache: bool,
    max_concurrency: int | None = None,
    workspace: Path | None = None,
    journal: bool = False,
    batch: bool = False,
) -> AsyncIterator[Engine]:
    """The engine every running command uses: ``--no-cache`` and ``--workspace`` honoured,
    every finished call recorded for ``cft metrics`` (scoped to the config's project; the
    embedded simulator reads ``CFT_SIM_LATENCY_SCALE``), the toolset's warnings shown once.

    ``journal`` records each run in ``$CFT_HOME/runs`` so ``cft runs`` can list it and
    ``cft workflow resume`` continue it (``cft run`` has none); ``batch``: docs/batches.md."""
    from .._engine import open_engine
    from .._metrics._otel_setup import configure_from_env
    from ._collector import collector_for

    configure_from_env()  # OTEL_* variables: the CLI is the application, so it sets them up

    async with open_engine(
        config,
        backend=backend,
        max_concurrency=max_concurrency,
        cache=not no_cache,
        workspace=workspace,
        journal=journal,
        mode="batch" if batch else "live",
    ) as engine:
        for line in engine.toolset.warnings:
            _console.notice(line)
        with collector_for(engine.max_concurrency):  # the CLI is the application: _collector
            yield engine


def unknown_name(
    kind: str, name: str, known: Collection[str], *, path: str | None = None
) -> ConfigError:
    """The error for an agent or workflow the config does not define, with a hint.

    Args:
        kind: ``agent`` or ``workflow``; also the error's path unless ``path`` is given.
        name: what the user asked for.
        known: the names the config defines.
        path: where the name came from (``tasks.jsonl:3``), if not a CLI argument.
    """
    hint = did_you_mean(name, known)
    listed = ", ".join(sorted(known)) or "none configured"
    return ConfigError(path or kind, f"unknown {kind} {name!r}{hint}; known: {listed}")


@dataclass(frozen=True, slots=True)
class Globals:
    """The root options, handed to every command through ``ctx.obj``."""

    config: Path | None = None
    simulate: bool | None = None
    verbose: int = 0

    @classmethod
    def of(cls, ctx: typer.Context) -> Globals:
        """The root options of ``ctx`` (defaults when a command is invoked on its own)."""
        obj = ctx.find_root().obj
        return obj if isinstance(obj, Globals) else cls()

    def load(self) -> Config:
        """Find and load ``claude.json``: ``--config``, else ``$CFT_CONFIG``, else ``./.claude``."""
        from .._config import find_config, load_config

        return load_config(find_config(self.config))

    def backend(self, config: Config) -> Backend:
        """Resolve where requests go, and show the simulator notice once, on stderr."""
        from .._backend import resolve_backend

        backend = resolve_backend(self.simulate, api=config.api, default_to_simulator=True)
        if backend.notice:
            _console.notice(backend.notice)
        return backend


def fail(exc: CFTError) -> NoReturn:
    """Print ``error: <message>`` and exit 2 (a config or usage error).

    A run stopped because its journal could not be written is a failed run
    (exit 1), not bad input: the same command may succeed once the disk is.
    """
    from .._journalling import JournalWriteError

    _console.error(str(exc))
    raise typer.Exit(EXIT_FAILED if isinstance(exc, JournalWriteError) else EXIT_CONFIG)


def _sole_error(group: BaseExceptionGroup[BaseException]) -> BaseException | None:
    """The first leaf of ``group`` when every leaf is a CFTError or KeyboardInterrupt.

    A ConfigError raised inside the engine's nursery (the embedded simulator runs in
    one) reaches us wrapped in an exception group; the user should still see one line.
    """
    leaves: list[BaseException] = []

    def walk(exc: BaseException) -> None:
        if isinstance(exc, BaseExceptionGroup):
            for inner in exc.exceptions:
                walk(inner)
        else:
            leaves.append(exc)

    walk(group)
    if leaves and all(isinstance(e, CFTError | KeyboardInterrupt) for e in leaves):
        return next((e for e in leaves if isinstance(e, KeyboardInterrupt)), leaves[0])
    return None


def handles_errors(func: Callable[P, R]) -> Callable[P, R]:
    """Wrap a command so ``CFTError`` → one ``error:`` line + exit 2, Ctrl-C → exit 130."""

    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return func(*args, **kwargs)
        except CFTError as exc:
            fail(exc)
        except KeyboardInterrupt:
            _console.error("interrupted")
            raise typer.Exit(EXIT_INTERRUPTED) from None
        except BaseExceptionGroup as group:
            leaf = _sole_error(group)
            if isinstance(leaf, KeyboardInterrupt):
                _console.error("interrupted")
                raise typer.Exit(EXIT_INTERRUPTED) from None
            if isinstance(leaf, CFTError):
                fail(leaf)
            raise

    return wrapper


def run_trio(async_fn: Callable[..., Coroutine[Any, Any, R]], *args: Any) -> R:
    """Run ``async_fn(*args)`` under ``trio.run``: the CLI is the only caller of trio.run."""
    import trio

    return trio.run(async_fn, *args)


# ------------------------------------------------------------------ root options


class _Redact(logging.Filter):
    """Replace the API key with ``***`` in any log line, should a library ever log it."""

    def __init__(self, secrets: Collection[str]) -> None:
        super().__init__()
        self.secrets = [s for s in secrets if s]

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if any(secret in message for secret in self.secrets):
            for secret in self.secrets:
                message = message.replace(secret, "***")
            record.msg, record.args = message, None
        return True


def _configure_logging(ctx: typer.Context, verbose: int) -> None:
    """-v: INFO, -vv: DEBUG, on stderr; undone when the command ends (tests run many)."""
    if verbose <= 0:
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    secrets = [os.environ.get(n, "") for n in ("ANTHROPIC_API_KEY", "ANTHROPIC_AUTH_TOKEN")]
    handler.addFilter(_Redact(secrets))
    root = logging.getLogger()
    previous = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO if verbose == 1 else logging.DEBUG)

    def restore() -> None:
        root.removeHandler(handler)
        root.setLevel(previous)

    ctx.call_on_close(restore)


def _version(value: bool) -> None:
    if value:
        from importlib.metadata import PackageNotFoundError, version

        try:
            current = version("claude-force-trio")
        except PackageNotFoundError:  # pragma: no cover - running from a bare source tree
            current = "0+unknown"
        typer.echo(f"cft {current}")
        raise typer.Exit()


@app.callback()
def root(
    ctx: typer.Context,
    config: Annotated[
        Path | None,
        typer.Option(
            "--config",
            "-c",
            help="Path to claude.json (default: ./.claude/claude.json).",
            envvar="CFT_CONFIG",
            show_envvar=True,
        ),
    ] = None,
    simulate: Annotated[
        bool,
        typer.Option("--simulate", help="Use the embedded Messages API simulator (offline)."),
    ] = False,
    live: Annotated[
        bool,
        typer.Option("--live", help="Use the real API (needs ANTHROPIC_API_KEY)."),
    ] = False,
    verbose: Annotated[
        int,
        typer.Option("--verbose", "-v", count=True, help="Log to stderr: -v info, -vv debug."),
    ] = 0,
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_version, is_eager=True, help="Print the version and exit."
        ),
    ] = False,
) -> None:
    """Run teams of Claude agents as DAG workflows on trio.

    Without [bold]--simulate[/] or [bold]--live[/], requests go to ANTHROPIC_BASE_URL if set,
    else to the API if ANTHROPIC_API_KEY is set, else to the embedded simulator.
    """
    if simulate and live:
        _console.error("--simulate and --live cannot be used together")
        raise typer.Exit(EXIT_CONFIG)
    _configure_logging(ctx, verbose)
    ctx.obj = Globals(
        config=config, simulate=True if simulate else False if live else None, verbose=verbose
    )
