"""The config fingerprint: has anything a workflow's result depends on changed since a run?

A resume feeds the journalled outputs of finished steps to the steps still to
run. That is only sound when those outputs are what today's config would
produce, so the run records a fingerprint and a resume compares it with
today's. It covers what goes into the requests and decides the outcome: the
workflow's steps, tasks, dependencies and schemas, and, for every agent a step
names, its definition and contract text, effective model, sampling and token
settings, tools (and the MCP servers they reach), turn limit and outcome rules,
plus the memory settings (they change prompts). It leaves out what only
changes how fast or how cheaply the same answer arrives: timeouts, retries,
the circuit breaker, concurrency and the response cache. File paths are left
out too, so moving a project does not invalidate its runs; the files' text is in.

The hash is SHA-256 over canonical JSON (sorted keys, fixed separators, ASCII),
so it is the same in every process and on every machine.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

from .._config import AgentConfig, Config, Defaults, WorkflowConfig
from .._config._schema import parse_mcp_ref
from .._errors import UnknownWorkflowError
from .._pricing import resolve_model

__all__ = ["FINGERPRINT_VERSION", "fingerprint"]

#: Bumped when what the fingerprint covers changes, so old runs read as changed.
FINGERPRINT_VERSION = 1

# The last fingerprint computed, by config object and workflow: a resume computes
# it to compare, then again when the run starts (tens of ms for 10,000 steps).
# A config is frozen and holds its files' text, so the same object gives the same hash.
_last: tuple[Config, str, str] | None = None


def fingerprint(config: Config, workflow: str) -> str:
    """SHA-256 (hex) of what ``workflow``'s result depends on in ``config``.

    Args:
        config: the loaded config.
        workflow: the workflow's name.

    Raises:
        UnknownWorkflowError: ``config`` has no workflow of that name.
    """
    global _last
    if _last is not None and _last[0] is config and _last[1] == workflow:
        return _last[2]
    try:
        flow = config.workflows[workflow]
    except KeyError:
        raise UnknownWorkflowError("workflow", workflow, config.workflows) from None
    names = sorted({step.agent for step in flow.steps})
    agents = {name: config.agents.get(name) for name in names}
    document = {
        "version": FINGERPRINT_VERSION,
        "workflow": _workflow(flow),
        "agents": {
            name: None if agent is None else _agent(agent, config.defaults)
            for name, agent in agents.items()
        },
        "mcp_servers": _servers(config, [a for a in agents.values() if a is not None]),
        "memory": {
            "enabled": config.memory.enabled,
            "max_context_items": config.memory.max_context_items,
            "max_context_chars": config.memory.max_context_chars,
        },
    }
    text = json.dumps(
        document, sort_keys=True, separators=(",", ":"), ensure_ascii=True, default=_plain
    )
    digest = hashlib.sha256(text.encode()).hexdigest()
    _last = (config, workflow, digest)
    return digest


def _workflow(flow: WorkflowConfig) -> dict[str, Any]:
    return {
        "task": flow.task,
        "on_failure": flow.on_failure,
        "legacy": flow.legacy,
        "steps": [
            {
                "id": step.id,
                "agent": step.agent,
                "task": step.task,
                "dependencies": list(step.dependencies),
                "output_schema": step.output_schema,
            }
            for step in flow.steps
        ],
    }


def _agent(agent: AgentConfig, defaults: Defaults) -> dict[str, Any]:
    """The agent's settings as the request builder resolves them (defaults filled in)."""
    return {
        "definition": agent.definition,
        "contract": agent.contract,
        "model": resolve_model(agent.model or defaults.model),
        "max_tokens": agent.max_tokens or defaults.max_tokens,
        "temperature": agent.temperature if agent.temperature is not None else defaults.temperature,
        "top_p": agent.top_p,
        "top_k": agent.top_k,
        "tools": list(agent.tools),
        "max_turns": agent.max_turns,
        "output_schema": agent.output_schema,
        "on_max_tokens": agent.on_max_tokens,
        "thinking": agent.thinking,
        "effort": agent.effort,
    }


def _servers(config: Config, agents: list[AgentConfig]) -> dict[str, Any]:
    """The MCP servers the agents reach: what runs (or is called), not its secrets.

    Only the names of a server's environment variables count: their values are
    often tokens, and a changed token does not change what the server does.
    """
    used = {
        parsed[0]
        for agent in agents
        for ref in agent.tools
        if isinstance(ref, str) and (parsed := parse_mcp_ref(ref)) is not None
    }
    return {
        name: {
            "command": server.command,
            "args": list(server.args),
            "url": server.url,
            "env": sorted(server.env),
        }
        for name, server in config.mcp_servers.items()
        if name in used
    }


def _plain(value: Any) -> Any:
    """A mapping JSON does not know (a frozen config's) as a dict; tuples and dicts it knows.

    Given to ``json.dumps`` as ``default``, so only such values pay a
    conversion: a 1,000-step workflow is encoded in one pass.
    """
    if isinstance(value, Mapping):
        return dict(value)
    raise TypeError(f"not JSON data: {type(value).__name__}")
