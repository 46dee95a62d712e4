"""Load and validate ``.claude/claude.json`` into frozen dataclasses.

Why a hand-written validator: every error must name the exact JSON path
(``workflows.review.steps[2].dependencies``) in one line, and legacy Claude
Force files must load unchanged. (``jsonschema`` checks only the JSON Schemas
a config holds, ``output_schema``, and is imported only then.)

What is checked here is structure: types, ranges (bounded on both sides),
required and unknown keys (with a "did you mean" hint), text that can be sent
as UTF-8 (no lone surrogates anywhere in the file), agent files that are
regular UTF-8 files of at most 1 MiB inside the config folder (checked on what
is opened, so a symlink swap cannot race it), and steps that name known
agents. Graph rules (cycles, unknown or duplicate step ids) live in
:mod:`._dag`, which we call last.

Legacy Claude Force files load unchanged: agents may say ``path`` for ``file``
and may carry keys its tools write but we do not use (:data:`LEGACY_AGENT_KEYS`,
tolerated and kept for ``cft config migrate``); workflows may be plain lists of
agent names (a sequential chain); top-level sections other than ours
(``governance``, ``skills_integration``, ``paths``, ``rules``…) are ignored.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Collection, Mapping
from pathlib import Path
from typing import Any

from .._dag import build_graph
from .._errors import ConfigError, ConfigNotFoundError, UnknownAgentError, did_you_mean
from .._public import publish
from ._checks import (
    _check_keys,
    _check_text,
    _expected,
    _key_path,
    _object,
    _read,
    _require,
    _shown,
    _string,
)
from ._files import MAX_AGENT_FILE_BYTES as MAX_AGENT_FILE_BYTES
from ._files import Refused, open_regular, read_named, read_regular
from ._json_schema import schema_from_text
from ._model import (
    AgentConfig,
    ApiConfig,
    BudgetConfig,
    CacheConfig,
    CircuitBreakerConfig,
    Config,
    Defaults,
    FeaturesConfig,
    McpServerConfig,
    MemoryConfig,
    PerformanceConfig,
    RetryConfig,
    StepConfig,
    WorkflowConfig,
)
from ._schema import (
    AGENT_CHECKS,
    AGENT_KEYS,
    LEGACY_AGENT_KEYS,
    SECTIONS,
    STEP_CHECKS,
    WORKFLOW_CHECKS,
    check_semantic,
    mcp_ref,
    read_mcp_servers,
    read_pricing,
    read_section,
)

__all__ = [
    "AgentConfig",
    "ApiConfig",
    "CacheConfig",
    "CircuitBreakerConfig",
    "Config",
    "ConfigError",
    "Defaults",
    "FeaturesConfig",
    "MemoryConfig",
    "PerformanceConfig",
    "RetryConfig",
    "StepConfig",
    "WorkflowConfig",
    "find_config",
    "load_config",
    "load_document",
    "read_document",
    "read_named",
]

# ---------------------------------------------------------------- finding the file

_NOT_FOUND = "config file not found (use --config or CFT_CONFIG, or run `cft init`)"


def find_config(explicit: str | Path | None = None) -> Path:
    """Return the config path: ``explicit``, else ``$CFT_CONFIG``, else ``./.claude/claude.json``.

    A directory is accepted too (its ``claude.json`` or ``.claude/claude.json``),
    because ``--config .`` is what people type.

    Args:
        explicit: the ``--config`` value, if given.

    Raises:
        ConfigNotFoundError: naming the path that was tried, when no file is there.
    """
    if explicit is not None and str(explicit) != "":
        path = Path(explicit).expanduser()
    elif os.environ.get("CFT_CONFIG"):
        path = Path(os.environ["CFT_CONFIG"]).expanduser()
    else:
        path = Path(".claude") / "claude.json"
    if path.is_dir():
        for candidate in (path / "claude.json", path / ".claude" / "claude.json"):
            if candidate.is_file():
                return candidate
    # Not ``is_file()``: a FIFO or device there is named as such by the loader,
    # not reported as missing.
    if path.is_dir() or not path.exists():
        raise ConfigNotFoundError(str(path), _NOT_FOUND)
    return path


# ---------------------------------------------------------------- agents


#: The most a ``claude.json`` may weigh.
MAX_CONFIG_BYTES = 16 << 20


#: Supplies an agent's ``(definition, contract)`` text instead of the loader reading its files.
AgentFiles = Callable[[str], tuple[str, str | None]]


def _schema_file(settings: dict[str, Any], root: Path, path: str) -> dict[str, Any]:
    """Read an ``output_schema`` given as a path: the schema, and the file it came from."""
    written = settings.get("output_schema")
    if not isinstance(written, str):
        return settings
    file, text = read_named(root, written, f"{path}.output_schema")
    shown = os.path.relpath(file, root)
    schema = schema_from_text(text, f"{path}.output_schema", shown)
    return settings | {"output_schema": schema, "output_schema_file": file}


def _check_tooling(
    agent: AgentConfig, defaults: Defaults, servers: Mapping[str, McpServerConfig], path: str
) -> None:
    """What one agent's keys cannot say alone: thinking budget, MCP servers, semantic vs tools."""
    budget = (agent.thinking or {}).get("budget_tokens")
    limit = agent.max_tokens or defaults.max_tokens
    if budget is not None and budget >= limit:
        raise ConfigError(
            f"{path}.thinking.budget_tokens",
            f"must be less than max_tokens ({limit}), got {budget}",
        )
    for i, ref in enumerate(agent.tools):
        if isinstance(ref, str):
            mcp_ref(ref, servers, f"{path}.tools[{i}]")
    check_semantic(agent, path)


def _agent(
    name: str,
    raw: Any,
    root: Path,
    files: AgentFiles | None = None,
    defaults: Defaults | None = None,
    servers: Mapping[str, McpServerConfig] | None = None,
) -> AgentConfig:
    path = _key_path("agents", name)
    if not name.strip():
        raise ConfigError(path, "an agent name must not be empty")
    obj = _object(raw, path)
    _check_keys(obj, path, AGENT_KEYS, LEGACY_AGENT_KEYS)
    if "file" in obj and "path" in obj:
        raise ConfigError(f"{path}.path", "give 'file' or its legacy name 'path', not both")
    key = "path" if "path" in obj else "file"
    written = _require(obj, path, key)
    contract_file = contract = None
    if files is not None:
        file = root / _string(written, f"{path}.{key}")
        definition, contract = files(name)
        if obj.get("contract") is not None:
            contract_file = root / _string(obj["contract"], f"{path}.contract")
    else:
        file, definition = read_named(root, written, f"{path}.{key}")
        if obj.get("contract") is not None:
            contract_file, contract = read_named(root, obj["contract"], f"{path}.contract")
    if not definition.strip():
        raise ConfigError(f"{path}.{key}", f"{os.path.relpath(file, root)} is empty")
    settings = _schema_file(_read(obj, path, AGENT_CHECKS), root, path)
    if "cache" in settings:  # ``true``/``false``, or an object with the semantic setting
        settings["cache"], settings["semantic_cache"] = settings["cache"]
    agent = AgentConfig(
        name=name,
        file=file,
        definition=definition,
        contract_file=contract_file,
        contract=contract,
        legacy_keys={k: v for k, v in obj.items() if k in LEGACY_AGENT_KEYS},
        **settings,
    )
    _check_tooling(agent, defaults or Defaults(), servers or {}, path)
    return agent


# ---------------------------------------------------------------- workflows


def _known_agent(value: Any, path: str, agents: Collection[str]) -> str:
    name = _string(value, path)
    if name not in agents:
        hint = did_you_mean(name, agents)
        raise UnknownAgentError(path, name, agents, f"unknown agent {name!r}{hint}")
    return name


def _chain(name: str, items: list[Any], agents: Collection[str]) -> WorkflowConfig:
    """A legacy list of agent names: a chain, each step depending on the one before."""
    path = _key_path("workflows", name)
    if not items:
        raise ConfigError(path, "a workflow needs at least one step")
    steps: list[StepConfig] = []
    used: set[str] = set()
    for i, item in enumerate(items):
        agent = _known_agent(item, f"{path}[{i}]", agents)
        step_id, n = agent, 1
        while step_id in used:  # a repeated agent gets -2, -3…
            n += 1
            step_id = f"{agent}-{n}"
        used.add(step_id)
        deps = (steps[-1].id,) if steps else ()
        steps.append(StepConfig(step_id, agent, dependencies=deps, path=f"{path}[{i}]"))
    return WorkflowConfig(name, tuple(steps), legacy=True, path=path)


def _workflow(name: str, raw: Any, agents: Collection[str], root: Path) -> WorkflowConfig:
    path = _key_path("workflows", name)
    if isinstance(raw, list):
        return _chain(name, raw, agents)
    if not isinstance(raw, dict):
        raise _expected(path, 'a list of agent names or an object with "steps"', raw)
    _check_keys(raw, path, {"steps", *WORKFLOW_CHECKS})
    raw_steps = _require(raw, path, "steps")
    if not isinstance(raw_steps, list):
        raise _expected(f"{path}.steps", "a list of steps", raw_steps)
    if not raw_steps:
        raise ConfigError(f"{path}.steps", "a workflow needs at least one step")
    steps = []
    for i, raw_step in enumerate(raw_steps):
        spath = f"{path}.steps[{i}]"
        step = _object(raw_step, spath)
        _check_keys(step, spath, {"id", "agent", *STEP_CHECKS})
        step_id = _string(_require(step, spath, "id"), f"{spath}.id")
        agent = _known_agent(_require(step, spath, "agent"), f"{spath}.agent", agents)
        settings = _schema_file(_read(step, spath, STEP_CHECKS), root, spath)
        steps.append(StepConfig(step_id, agent, path=spath, **settings))
    return WorkflowConfig(name, tuple(steps), path=path, **_read(raw, path, WORKFLOW_CHECKS))


# ---------------------------------------------------------------- loading

_OURS = ("defaults", "agents", "workflows", "mcp_servers", "project", "pricing", *SECTIONS)


def read_document(path: Path) -> dict[str, Any]:
    """The JSON object in ``path``, checked as UTF-8 text but not yet validated.

    Raises:
        ConfigNotFoundError: there is no file at ``path``.
        ConfigError: unreadable, not a regular file, too large, or not a JSON object.
    """
    where = str(path)
    try:
        data = read_regular(open_regular(path), MAX_CONFIG_BYTES)
    except FileNotFoundError as exc:
        raise ConfigNotFoundError(where, _NOT_FOUND) from exc
    except Refused as exc:  # a FIFO (which would block), a device, a huge file
        raise ConfigError(where, str(exc)) from None
    except (OSError, ValueError) as exc:  # permissions…, a NUL in the path
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise ConfigError(where, f"cannot read: {reason}") from exc
    try:
        text = data.decode("utf-8-sig")  # tolerate a BOM, as editors on Windows write one
        doc = json.loads(text)
    except UnicodeDecodeError as exc:
        raise ConfigError(where, f"not valid UTF-8 (byte {exc.start})") from exc
    except json.JSONDecodeError as exc:
        raise ConfigError(
            where, f"invalid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}"
        ) from exc
    except RecursionError as exc:
        raise ConfigError(where, "invalid JSON: nested too deeply") from exc
    except ValueError as exc:  # e.g. an integer literal with thousands of digits
        raise ConfigError(where, f"invalid JSON: {exc}") from exc
    if not isinstance(doc, dict):
        raise ConfigError(where, f"expected a JSON object at the top level, got {_shown(doc)}")
    _check_text(doc)
    return doc


def load_config(path: str | Path) -> Config:
    """Load, validate and return the config at ``path``.

    Args:
        path: the ``claude.json`` file; its folder is the root agent paths are relative to.

    Raises:
        ConfigError: for the first problem found, naming its JSON path (or the
            file, for unreadable or malformed JSON).
    """
    file = Path(path).absolute()
    return load_document(read_document(file), file)


def load_document(
    doc: dict[str, Any], file: Path, *, agent_files: AgentFiles | None = None
) -> Config:
    """Validate a parsed ``claude.json`` (see :func:`read_document`) into a :class:`Config`.

    Why apart from :func:`load_config`: the Claude Force compatibility layer
    keeps the raw document (its users read and edit it as a dict) and builds a
    config from it at run time, with the agents it needs and their text from
    its own in-memory cache of agent files.

    Args:
        doc: the document.
        file: where it came from (absolute); its folder is the agents' root.
        agent_files: gives each agent's definition and contract text; by
            default the loader reads the files the document names.

    Raises:
        ConfigError: for the first problem found, naming its JSON path.
    """
    root = file.parent
    defaults = read_section(doc, "defaults")
    servers = read_mcp_servers(doc)
    raw_agents = _object(doc.get("agents", {}), "agents")
    agents = {n: _agent(n, a, root, agent_files, defaults, servers) for n, a in raw_agents.items()}
    raw_workflows = _object(doc.get("workflows", {}), "workflows")
    workflows = {n: _workflow(n, w, agents, root) for n, w in raw_workflows.items()}
    sections = {name: read_section(doc, name) for name in SECTIONS if name != "defaults"}
    retry: RetryConfig = sections["retry"]
    if retry.max_delay_s < retry.initial_delay_s:
        raise ConfigError(
            "retry.max_delay_s",
            f"must be ≥ initial_delay_s ({retry.initial_delay_s:g}), got {retry.max_delay_s:g}",
        )
    _check_graphs(workflows.values())
    budget: BudgetConfig = sections["budget"]
    for name in budget.per_workflow_usd:
        if name not in workflows:
            raise ConfigError(
                f"budget.per_workflow_usd.{name}",
                f"unknown workflow{did_you_mean(name, workflows)}",
            )
    return Config(
        path=file,
        root=root,
        defaults=defaults,
        agents=agents,
        workflows=workflows,
        mcp_servers=servers,
        project=_project(doc),
        pricing=read_pricing(doc),
        ignored_sections={k: v for k, v in doc.items() if k not in _OURS},
        **sections,
    )


def _project(doc: Mapping[str, Any]) -> str | None:
    """``project``: a name of at most 128 characters, or absent."""
    if "project" not in doc:
        return None
    name = _string(doc["project"], "project")
    if len(name) > 128:
        raise ConfigError("project", f"at most 128 characters, got {len(name)}")
    return name


def _check_graphs(workflows: Collection[WorkflowConfig]) -> None:
    # Graph rules (cycles, unknown or duplicate ids) live in the pure graph module,
    # so a bad workflow fails at load time, not halfway through a run.
    for workflow in workflows:
        build_graph(workflow)


publish(globals())
