"""``config_to_dict``: a loaded config as the filled-in ``claude.json`` (``cft config migrate``).

Apart from the loader because it runs the other way: defaults written out,
paths made relative again, legacy list workflows kept as lists, and the
sections the engine ignores kept as they were, so migrating loses nothing.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ._model import (
    AgentConfig,
    Config,
    McpServerConfig,
    SemanticConfig,
    StepConfig,
    WorkflowConfig,
)
from ._schema import MCP_SERVER_CHECKS, SECTIONS, SEMANTIC_CHECKS

__all__ = ["config_to_dict"]


#: Agent keys are written back only when they differ from these (slotted: no class attributes).
_AGENT_DEFAULTS = {f.name: f.default for f in dataclasses.fields(AgentConfig)}


def _num(value: float) -> float | int:
    """``24.0`` → ``24`` so a migrated file reads like a hand-written one."""
    return int(value) if float(value).is_integer() else value


def _relative(file: Path, root: Path) -> str:
    return Path(os.path.relpath(file, root)).as_posix()


def _agent_dict(agent: AgentConfig, root: Path) -> dict[str, Any]:
    out: dict[str, Any] = {"file": _relative(agent.file, root)}
    if agent.contract_file is not None:
        out["contract"] = _relative(agent.contract_file, root)
    for key in ("model", "max_tokens", "temperature", "top_p", "top_k"):
        value = getattr(agent, key)
        if value is not None:
            out[key] = _num(value) if isinstance(value, float) else value
    out["cache"] = _agent_cache(agent)
    if agent.description is not None:
        out["description"] = agent.description
    if agent.domains:
        out["domains"] = list(agent.domains)
    if agent.priority is not None:
        out["priority"] = agent.priority
    if agent.tools:
        out["tools"] = [ref if isinstance(ref, str) else dict(ref) for ref in agent.tools]
    if agent.max_turns != _AGENT_DEFAULTS["max_turns"]:
        out["max_turns"] = agent.max_turns
    out |= _schema_dict(agent, root)
    if agent.on_max_tokens != _AGENT_DEFAULTS["on_max_tokens"]:
        out["on_max_tokens"] = agent.on_max_tokens
    if agent.thinking is not None:
        out["thinking"] = dict(agent.thinking)
    if agent.effort is not None:
        out["effort"] = agent.effort
    return out | dict(agent.legacy_keys)


def _agent_cache(agent: AgentConfig) -> bool | dict[str, Any]:
    """``"cache"`` as written: a boolean, or ``{"semantic": …}`` when the agent set its own."""
    semantic = agent.semantic_cache
    if semantic is None:
        return agent.cache
    if semantic.threshold is None:
        return {"semantic": semantic.enabled}
    return {"semantic": {"enabled": semantic.enabled, "threshold": _num(semantic.threshold)}}


def _schema_dict(owner: AgentConfig | StepConfig, root: Path) -> dict[str, Any]:
    """``output_schema`` as it was written: the file's path, or the schema itself."""
    if owner.output_schema_file is not None:
        return {"output_schema": _relative(owner.output_schema_file, root)}
    if owner.output_schema is not None:
        return {"output_schema": dict(owner.output_schema)}
    return {}


def _workflow_dict(workflow: WorkflowConfig, root: Path) -> list[str] | dict[str, Any]:
    if workflow.legacy:
        return [step.agent for step in workflow.steps]
    out: dict[str, Any] = {}
    if workflow.description is not None:
        out["description"] = workflow.description
    if workflow.task is not None:
        out["task"] = workflow.task
    if workflow.timeout_s is not None:
        out["timeout_s"] = _num(workflow.timeout_s)
    out["on_failure"] = workflow.on_failure
    steps = []
    for step in workflow.steps:
        entry: dict[str, Any] = {"id": step.id, "agent": step.agent}
        if step.task is not None:
            entry["task"] = step.task
        if step.dependencies:
            entry["dependencies"] = list(step.dependencies)
        if step.timeout_s is not None:
            entry["timeout_s"] = _num(step.timeout_s)
        if step.approval:
            entry["approval"] = True
        steps.append(entry | _schema_dict(step, root))
    out["steps"] = steps
    return out


def _section_dict(value: Any, name: str) -> dict[str, Any]:
    _, checks = SECTIONS[name]
    out = {}
    for key in checks:
        item = getattr(value, key)
        out[key] = list(item) if isinstance(item, tuple) else item
        if isinstance(item, Mapping):
            out[key] = {k: _num(v) for k, v in item.items()}
        elif isinstance(item, SemanticConfig):  # ``cache.semantic``: an object of its own
            values = {k: getattr(item, k) for k in SEMANTIC_CHECKS}
            out[key] = {k: _num(v) if isinstance(v, float) else v for k, v in values.items()}
        elif isinstance(item, float):
            out[key] = _num(item)
    return out


def _server_dict(server: McpServerConfig) -> dict[str, Any]:
    """An MCP server's keys as written: only those set (``args``/``env`` only for a command)."""
    out: dict[str, Any] = {}
    for key in MCP_SERVER_CHECKS:
        value = getattr(server, key)
        if isinstance(value, tuple | Mapping):  # args, env: written when not empty
            value = (list if isinstance(value, tuple) else dict)(value) or None
        if value is not None:
            out[key] = value
    return out


def config_to_dict(config: Config) -> dict[str, Any]:
    """The fully filled-in JSON document for ``config`` (used by ``cft config migrate``).

    Defaults are written out, legacy spellings are normalised (``path`` →
    ``file``), paths stay relative to the config folder, and ignored sections
    are kept so Claude Force still finds them. Loading the result gives back
    an equal :class:`Config`.

    Args:
        config: a loaded config.
    """
    head = {k: v for k, v in config.ignored_sections.items() if k in ("version", "name")}
    out: dict[str, Any] = dict(head)
    out["defaults"] = _section_dict(config.defaults, "defaults")
    out["agents"] = {n: _agent_dict(a, config.root) for n, a in config.agents.items()}
    out["workflows"] = {n: _workflow_dict(w, config.root) for n, w in config.workflows.items()}
    for name in SECTIONS:
        if name != "defaults":
            out[name] = _section_dict(getattr(config, name), name)
    if config.mcp_servers:
        out["mcp_servers"] = {n: _server_dict(s) for n, s in config.mcp_servers.items()}
    if config.project is not None:
        out["project"] = config.project
    if config.pricing:
        out["pricing"] = {m: {k: _num(v) for k, v in p.items()} for m, p in config.pricing.items()}
    out |= {k: v for k, v in config.ignored_sections.items() if k not in head}
    return out
