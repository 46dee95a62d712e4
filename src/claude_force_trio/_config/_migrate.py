"""``config_to_dict``: a loaded config as the filled-in ``claude.json`` (``cft config migrate``).

Apart from the loader because it runs the other way: defaults written out,
paths made relative again, legacy list workflows kept as lists, and the
sections the engine ignores kept as they were, so migrating loses nothing.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from ._model import AgentConfig, Config, WorkflowConfig
from ._schema import SECTIONS

__all__ = ["config_to_dict"]


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
    out["cache"] = agent.cache
    if agent.description is not None:
        out["description"] = agent.description
    if agent.domains:
        out["domains"] = list(agent.domains)
    if agent.priority is not None:
        out["priority"] = agent.priority
    return out | dict(agent.legacy_keys)


def _workflow_dict(workflow: WorkflowConfig) -> list[str] | dict[str, Any]:
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
        steps.append(entry)
    out["steps"] = steps
    return out


def _section_dict(value: Any, name: str) -> dict[str, Any]:
    _, checks = SECTIONS[name]
    out = {}
    for key in checks:
        item = getattr(value, key)
        out[key] = list(item) if isinstance(item, tuple) else item
        if isinstance(item, float):
            out[key] = _num(item)
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
    out["workflows"] = {n: _workflow_dict(w) for n, w in config.workflows.items()}
    for name in SECTIONS:
        if name != "defaults":
            out[name] = _section_dict(getattr(config, name), name)
    out |= {k: v for k, v in config.ignored_sections.items() if k not in head}
    return out
