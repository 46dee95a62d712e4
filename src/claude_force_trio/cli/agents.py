"""``cft agents list | show``: what agents the config defines, and what they are told.

``show`` prints the definition itself because that *is* the agent: the system
prompt every request starts with. It is printed as the file's text, unchanged,
so it can be diffed or grepped (and read as written); ``--markdown`` renders it.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Annotated, Any

import typer

from .._text import printable
from . import _console
from ._app import Globals, JsonOption, command_group, handles_errors, unknown_name

if TYPE_CHECKING:
    from .._config import AgentConfig, Config

__all__ = ["app"]

app = command_group("List and inspect agents.")


def _summary(agent: AgentConfig) -> str:
    """The agent's description, else the first heading (or line) of its definition."""
    if agent.description:
        return agent.description
    for line in agent.definition.splitlines():
        text = line.strip().lstrip("#").strip()
        if text:
            return text
    return ""


def _relative(config: Config, path: os.PathLike[str] | None) -> str | None:
    if path is None:
        return None
    return os.path.relpath(path, config.root)


def _document(config: Config, agent: AgentConfig, *, full: bool) -> dict[str, Any]:
    from .._pricing import resolve_model

    defaults = config.defaults
    model = agent.model or defaults.model
    doc: dict[str, Any] = {
        "name": agent.name,
        "model": model,
        "model_id": resolve_model(model),
        "max_tokens": agent.max_tokens or defaults.max_tokens,
        "temperature": agent.temperature if agent.temperature is not None else defaults.temperature,
        "file": _relative(config, agent.file),
        "contract": _relative(config, agent.contract_file),
        "description": _summary(agent),
        "domains": list(agent.domains),
        "priority": agent.priority,
        "cache": agent.cache,
    }
    if full:
        doc["definition"] = agent.definition
        doc["contract_text"] = agent.contract
        doc["workflows"] = sorted(
            wf.name
            for wf in config.workflows.values()
            if any(s.agent == agent.name for s in wf.steps)
        )
    return doc


@app.command("list")
@handles_errors
def list_(ctx: typer.Context, as_json: JsonOption = False) -> None:
    """List the agents defined in claude.json."""
    config = Globals.of(ctx).load()
    docs = [_document(config, agent, full=False) for agent in config.agents.values()]
    if as_json:
        _console.print_json(docs)
        return
    from rich.table import Table

    # printable: the config's path may hold undecodable bytes (surrogates) from argv.
    table = Table(title=f"agents in {printable(str(config.path))}", title_justify="left", box=None)
    for column in ("name", "model", "max_tokens", "file", "domains", "description"):
        table.add_column(column, no_wrap=column not in ("description", "domains"))
    for doc in docs:
        table.add_row(
            doc["name"],
            doc["model_id"],
            str(doc["max_tokens"]),
            doc["file"],
            ", ".join(doc["domains"]),
            doc["description"],
        )
    _console.stdout().print(table)


@app.command("show")
@handles_errors
def show(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(metavar="NAME", help="The agent's name.")],
    markdown: _console.MarkdownOption = False,
    as_json: JsonOption = False,
) -> None:
    """Show one agent's settings and its definition (the system prompt)."""
    config = Globals.of(ctx).load()
    agent = config.agents.get(name)
    if agent is None:
        raise unknown_name("agent", name, config.agents)
    doc = _document(config, agent, full=True)
    if as_json:
        _console.print_json(doc)
        return
    from rich.text import Text

    out = _console.stdout()
    out.print(Text(doc["name"], style="bold") + Text(f" — {doc['description']}"))
    for key in ("model", "max_tokens", "temperature", "file", "contract", "priority", "cache"):
        if doc[key] is not None:
            out.print(Text(f"{key}: ", style="dim") + Text(str(doc[key])), soft_wrap=True)
    for key in ("domains", "workflows"):
        if doc[key]:
            out.print(Text(f"{key}: ", style="dim") + Text(", ".join(doc[key])), soft_wrap=True)
    texts = [("definition", doc["definition"])]
    if doc["contract_text"]:
        texts.append(("contract", doc["contract_text"]))
    for title, text in texts:
        if markdown:
            from rich.markdown import Markdown
            from rich.panel import Panel

            out.print(Panel(Markdown(text), title=title, title_align="left"))
        else:
            out.print(f"\n── {title} ──", markup=False, soft_wrap=True)
            _console.write(text if text.endswith("\n") else text + "\n")
