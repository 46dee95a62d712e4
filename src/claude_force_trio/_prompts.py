"""Turn an agent and a task into a Messages API request body.

Why the split between system and user message matters: the system blocks
(definition, then contract) are the same for every call of an agent, so they
are the prefix the API can cache (``cache_control`` on the last block). All
that varies per call — the tasks, dependency outputs, memory — goes in the user
message, so it never breaks that cached prefix.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ._config import AgentConfig, Defaults
from ._errors import ConfigError
from ._pricing import resolve_model

__all__ = ["DependencyOutput", "build_request", "system_blocks", "user_message"]


@dataclass(frozen=True, slots=True)
class DependencyOutput:
    """What a finished dependency produced, handed to the steps that depend on it."""

    step_id: str
    agent: str
    output: str


def system_blocks(agent: AgentConfig, *, prompt_cache: bool) -> list[dict[str, Any]]:
    """Return the ``system`` text blocks: the definition, then the contract if any.

    Args:
        agent: the agent whose files were read at load time.
        prompt_cache: mark the last block ``cache_control: ephemeral`` so the
            whole system prefix is cached by the API.
    """
    blocks: list[dict[str, Any]] = [{"type": "text", "text": agent.definition}]
    if agent.contract and agent.contract.strip():
        blocks.append({"type": "text", "text": "## Contract\n\n" + agent.contract})
    if prompt_cache:
        blocks[-1]["cache_control"] = {"type": "ephemeral"}
    return blocks


def _clean(text: str | None) -> str | None:
    return text.strip() if text and text.strip() else None


def user_message(
    task: str | None,
    *,
    workflow_task: str | None = None,
    dependencies: Sequence[DependencyOutput] = (),
    memory: str | None = None,
) -> str:
    """Return the user message: workflow task, step task, dependency outputs, memory.

    Sections appear in that fixed order under fixed headings, and dependencies
    in the order given, so the same inputs always give the same text (and the
    same cache key).

    Args:
        task: the step's own task.
        workflow_task: the task of the whole workflow, shown above the step's.
        dependencies: outputs of the steps this one depends on.
        memory: relevant past experience of this agent, if memory is on.

    Raises:
        ConfigError: when neither ``task`` nor ``workflow_task`` says anything.
    """
    task, workflow_task = _clean(task), _clean(workflow_task)
    if task is None and workflow_task is None:
        raise ConfigError("task", "a task is required")
    parts: list[str] = []
    if workflow_task is not None:
        parts.append(f"# Workflow task\n\n{workflow_task}")
    if task is not None:
        parts.append(f"# Your task\n\n{task}")
    for dep in dependencies:
        output = _clean(dep.output) or "(no output)"
        parts.append(f"## Output of step `{dep.step_id}` (agent `{dep.agent}`)\n\n{output}")
    if (memory := _clean(memory)) is not None:
        parts.append(f"## Relevant past experience\n\n{memory}")
    return "\n\n".join(parts) + "\n"


def build_request(
    agent: AgentConfig,
    defaults: Defaults,
    user_text: str,
    *,
    model: str | None = None,
    max_tokens: int | None = None,
    temperature: float | None = None,
    prompt_cache: bool = True,
    stream: bool = False,
    system: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """Return the JSON body of ``POST /v1/messages`` for one call of ``agent``.

    Each setting comes from the first of: the argument (a CLI override), the
    agent, the config defaults. Sampling parameters are sent only when one of
    those sets them: newer models reject non-default values.

    Args:
        agent: the agent to run.
        defaults: the config's ``defaults`` section.
        user_text: the user message, usually from :func:`user_message`.
        model: model alias or id overriding the agent's.
        max_tokens: output limit overriding the agent's.
        temperature: sampling temperature overriding the agent's.
        prompt_cache: mark the system prefix for prompt caching.
        stream: ask for a server-sent-event stream.
        system: the agent's :func:`system_blocks`, when the caller keeps them
            (they are the same for every call of an agent; never mutate them).
    """
    body: dict[str, Any] = {
        "model": resolve_model(model or agent.model or defaults.model),
        "max_tokens": max_tokens or agent.max_tokens or defaults.max_tokens,
        "system": system or system_blocks(agent, prompt_cache=prompt_cache),
        "messages": [{"role": "user", "content": user_text}],
    }
    sampling = {
        "temperature": next(
            (t for t in (temperature, agent.temperature, defaults.temperature) if t is not None),
            None,
        ),
        "top_p": agent.top_p,
        "top_k": agent.top_k,
    }
    body |= {key: value for key, value in sampling.items() if value is not None}
    if stream:
        body["stream"] = True
    return body
