"""Turn an agent and a task into a Messages API request body.

Why the split between system and user message matters: the system blocks
(definition, then contract) are the same for every call of an agent, so they
are the prefix the API can cache (``cache_control`` on the last block). All
that varies per call — the tasks, dependency outputs, memory — goes in the user
message, so it never breaks that cached prefix.

A dependency with structured output (``StepResult.data``) is handed on as
that JSON, not as its raw reply text: the typed value is what the step
produced, and compact sorted JSON keeps the message (and its cache key) stable.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ._config import AgentConfig, Defaults
from ._errors import ConfigError
from ._pricing import resolve_model

if TYPE_CHECKING:
    from ._results import StepResult
    from ._tools import ToolBox

__all__ = ["DependencyOutput", "build_request", "system_blocks", "user_message"]


@dataclass(frozen=True, slots=True)
class DependencyOutput:
    """What a finished dependency produced, handed to the steps that depend on it.

    Attributes:
        step_id: the dependency's step id.
        agent: its agent.
        output: its reply text.
        data: its structured output, if it had an ``output_schema`` (then shown
            instead of ``output``).
    """

    step_id: str
    agent: str
    output: str
    data: Any = None

    @classmethod
    def of(cls, step_id: str, result: StepResult) -> DependencyOutput:
        """What the finished step ``step_id`` hands on: its text and its data."""
        return cls(step_id, result.agent, result.output or "", result.data)

    def shown(self) -> str:
        """The text a dependent sees: the data as JSON, else the output."""
        if self.data is not None:
            return json.dumps(self.data, ensure_ascii=False, sort_keys=True)
        return _clean(self.output) or "(no output)"


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
        parts.append(f"## Output of step `{dep.step_id}` (agent `{dep.agent}`)\n\n{dep.shown()}")
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
    tools: ToolBox | None = None,
    output_schema: Mapping[str, Any] | None = None,
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
        tools: the tools offered (``tools`` is sent only when there are some).
        output_schema: the JSON Schema the answer must follow, sent as
            ``output_config.format``.
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
    if tools:
        body["tools"] = tools.definitions()
    if agent.thinking is not None:
        body["thinking"] = dict(agent.thinking)
    output_config: dict[str, Any] = {}
    if output_schema is not None:
        output_config["format"] = {"type": "json_schema", "schema": dict(output_schema)}
    if agent.effort is not None:
        output_config["effort"] = agent.effort
    if output_config:
        body["output_config"] = output_config
    if stream:
        body["stream"] = True
    return body
