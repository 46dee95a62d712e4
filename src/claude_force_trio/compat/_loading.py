"""Claude Force's lazy loading: the raw ``claude.json`` now, agent files when a run needs them.

Why lazy: Claude Force read only the JSON when an orchestrator was built and
each agent's files the first time that agent ran, so a project whose contract
file does not exist yet (treated as empty), whose agent files are written
later, or which declares an empty workflow still works; eager validation of
the whole file would refuse it. Definitions and contracts are kept in memory
per agent, as Claude Force kept them (oldest evicted beyond ``maxsize``), so
an edited file is seen after ``clear_agent_cache()``, exactly as there.

At run time :func:`run_config` turns the raw document into the engine's typed
:class:`~claude_force_trio.Config`, holding only the agents (and the workflow)
the run needs, with their text from the cache: a broken entry elsewhere in the
file does not stop this run.
"""

from __future__ import annotations

from collections.abc import Iterable, MutableMapping
from pathlib import Path
from typing import Any

from .._config import AgentFiles, Config, load_document, read_document, read_named
from .._errors import ConfigError, ConfigNotFoundError, UnknownAgentError, UnknownWorkflowError

__all__ = [
    "agent_entry",
    "read_agent_file",
    "read_claude_json",
    "remember",
    "run_config",
    "workflow_agents",
]


def read_claude_json(path: Path) -> dict[str, Any]:
    """The raw document at ``path``, as Claude Force's ``self.config``.

    Raises:
        ConfigNotFoundError: no file there (also a ``FileNotFoundError``); the
            message says how to create one.
        ConfigError: unreadable, or not a JSON object.
    """
    try:
        return read_document(path.absolute())
    except ConfigNotFoundError as exc:
        raise ConfigNotFoundError(
            str(path),
            "configuration file not found: create one with `cft init` "
            "(Claude Force: `claude-force init`), or pass config_path=...",
        ) from exc


def _agents(doc: dict[str, Any]) -> dict[str, Any]:
    agents = doc.get("agents", {})
    if not isinstance(agents, dict):
        raise ConfigError("agents", "expected an object of agents")
    return agents


def agent_entry(doc: dict[str, Any], name: object) -> dict[str, Any]:
    """The raw settings of agent ``name``.

    Raises:
        UnknownAgentError: the document has no such agent (Claude Force's wording).
        ConfigError: the entry is not an object.
    """
    agents = _agents(doc)
    if not isinstance(name, str) or name not in agents:
        raise UnknownAgentError("agent", name, agents)
    entry = agents[name]
    if not isinstance(entry, dict):
        raise ConfigError(f"agents.{name}", "expected an object")
    return entry


def read_agent_file(root: Path, written: object, where: str, *, missing_ok: bool) -> str:
    """The text of a file an agent names (inside the config folder, regular, ≤ 1 MiB, UTF-8).

    Args:
        root: the config's folder.
        written: the path as the document spells it.
        where: its JSON path, for messages.
        missing_ok: a missing file reads as ``""`` (Claude Force's rule for contracts).

    Raises:
        ConfigNotFoundError: the file does not exist and ``missing_ok`` is false.
        ConfigError: any other reason it cannot be read.
    """
    try:
        return read_named(root, written, where)[1]
    except ConfigNotFoundError:
        if missing_ok:
            return ""
        raise


def remember(cache: MutableMapping[str, str], key: str, value: str, maxsize: int) -> str:
    """Store ``value`` under ``key``, first evicting the oldest entry when the cache is full."""
    if key not in cache and len(cache) >= maxsize > 0:
        cache.pop(next(iter(cache)))
    cache[key] = value
    return value


def workflow_agents(doc: dict[str, Any], name: object) -> list[str]:
    """The agent names of workflow ``name``, in the order the document lists them.

    Raises:
        UnknownWorkflowError: the document has no such workflow (Claude Force's wording).
        ConfigError: the entry is neither a list of names nor an object with steps.
    """
    workflows = doc.get("workflows", {})
    if not isinstance(workflows, dict) or not isinstance(name, str) or name not in workflows:
        raise UnknownWorkflowError(
            "workflow", name, workflows if isinstance(workflows, dict) else ()
        )
    raw = workflows[name]
    if isinstance(raw, list):
        return [str(item) for item in raw]
    steps = raw.get("steps") if isinstance(raw, dict) else None
    if not isinstance(steps, list):
        raise ConfigError(f"workflows.{name}", 'expected a list of agent names or "steps"')
    return [str(step.get("agent")) for step in steps if isinstance(step, dict)]


def run_config(
    doc: dict[str, Any],
    file: Path,
    agents: Iterable[str],
    files: AgentFiles,
    *,
    workflow: str | None = None,
) -> Config:
    """The engine's config for one run: only ``agents`` (and ``workflow``), text from ``files``.

    Args:
        doc: the raw document (as edited by the caller, if it was).
        file: the ``claude.json`` path; its folder is the agents' root.
        agents: the agents the run needs.
        files: called with an agent's name, returns its ``(definition, contract)``.
        workflow: the workflow the run needs, if any.

    Raises:
        ConfigError: the first problem with what the run needs, naming its JSON path.
    """
    needed = dict.fromkeys(agents)
    entries = {name: agent_entry(doc, name) for name in needed}
    workflows = doc.get("workflows", {})
    chosen = {workflow: workflows[workflow]} if workflow is not None else {}
    trimmed = {**doc, "agents": entries, "workflows": chosen}
    return load_document(trimmed, file.absolute(), agent_files=files)
