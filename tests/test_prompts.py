"""Tests for system blocks, user messages and request bodies (``_prompts``)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from claude_force_trio._config import AgentConfig, Defaults
from claude_force_trio._errors import ConfigError
from claude_force_trio._prompts import (
    DependencyOutput,
    build_request,
    system_blocks,
    user_message,
)

PLAIN = AgentConfig(name="linter", file=Path("agents/linter.md"), definition="# Linter\n")
WITH_CONTRACT = AgentConfig(
    name="reviewer",
    file=Path("agents/reviewer.md"),
    definition="# Reviewer\n",
    contract_file=Path("contracts/reviewer.contract"),
    contract="Be fair.",
)
EPHEMERAL = {"type": "ephemeral"}


def test_definition_only_gives_one_cached_block() -> None:
    """Without a contract there is one block, and it carries cache_control."""
    assert system_blocks(PLAIN, prompt_cache=True) == [
        {"type": "text", "text": "# Linter\n", "cache_control": EPHEMERAL}
    ]


def test_contract_follows_definition_and_only_last_block_is_cached() -> None:
    """The contract is a second block under a heading; only it carries cache_control."""
    blocks = system_blocks(WITH_CONTRACT, prompt_cache=True)
    assert blocks == [
        {"type": "text", "text": "# Reviewer\n"},
        {"type": "text", "text": "## Contract\n\nBe fair.", "cache_control": EPHEMERAL},
    ]


def test_no_cache_control_when_prompt_cache_is_off() -> None:
    """Prompt caching off means no block is marked."""
    blocks = system_blocks(WITH_CONTRACT, prompt_cache=False)
    assert all("cache_control" not in block for block in blocks)


def test_user_message_with_everything_in_order() -> None:
    """Workflow task, step task, each dependency, then memory, under fixed headings."""
    text = user_message(
        "Final review",
        workflow_task="Check the PR",
        dependencies=[
            DependencyOutput("lint", "linter", "2 warnings\n"),
            DependencyOutput("scan", "security-scanner", ""),
        ],
        memory="Last time: missed a bare except.",
    )
    assert text == (
        "# Workflow task\n\nCheck the PR\n\n"
        "# Your task\n\nFinal review\n\n"
        "## Output of step `lint` (agent `linter`)\n\n2 warnings\n\n"
        "## Output of step `scan` (agent `security-scanner`)\n\n(no output)\n\n"
        "## Relevant past experience\n\nLast time: missed a bare except.\n"
    )


def test_user_message_task_only() -> None:
    """A single run's message is just the task under its heading."""
    assert user_message("  Lint this  ") == "# Your task\n\nLint this\n"


def test_user_message_workflow_task_alone_is_enough() -> None:
    """A step without its own task runs on the workflow task."""
    assert user_message(None, workflow_task="Ship it?") == "# Workflow task\n\nShip it?\n"


def test_user_message_needs_a_task() -> None:
    """No task at all is a ConfigError at ``task``."""
    with pytest.raises(ConfigError) as info:
        user_message("  ", workflow_task=None)
    assert str(info.value) == "task: a task is required"


def test_build_request_minimal_body() -> None:
    """Defaults fill model and max_tokens; no sampling params, no stream flag."""
    body = build_request(PLAIN, Defaults(), "hi")
    assert body == {
        "model": "claude-sonnet-5",
        "max_tokens": 4096,
        "system": [{"type": "text", "text": "# Linter\n", "cache_control": EPHEMERAL}],
        "messages": [{"role": "user", "content": "hi"}],
    }


def test_build_request_precedence_override_agent_defaults() -> None:
    """Argument beats agent beats defaults, for model, max_tokens and temperature."""
    agent = AgentConfig(
        name="a",
        file=Path("a.md"),
        definition="A",
        model="haiku",
        max_tokens=100,
        temperature=0.3,
    )
    defaults = Defaults(model="opus", max_tokens=50, temperature=0.9)
    body = build_request(agent, defaults, "t")
    assert (body["model"], body["max_tokens"], body["temperature"]) == (
        "claude-haiku-4-5",
        100,
        0.3,
    )
    body = build_request(agent, defaults, "t", model="claude-opus-4-6", max_tokens=7, temperature=0)
    assert (body["model"], body["max_tokens"], body["temperature"]) == ("claude-opus-4-6", 7, 0)
    body = build_request(PLAIN, defaults, "t")
    assert (body["model"], body["max_tokens"], body["temperature"]) == (
        "claude-opus-5-5",
        50,
        0.9,
    )


def test_sampling_params_only_when_configured() -> None:
    """top_p and top_k come from the agent and are absent unless set."""
    agent = AgentConfig(name="a", file=Path("a.md"), definition="A", top_p=0.8, top_k=40)
    body = build_request(agent, Defaults(), "t", prompt_cache=False, stream=True)
    assert body["top_p"] == 0.8
    assert body["top_k"] == 40
    assert "temperature" not in body
    assert body["stream"] is True
    assert "cache_control" not in body["system"][0]
    assert not {"temperature", "top_p", "top_k", "stream"} & set(
        build_request(PLAIN, Defaults(), "t")
    )


@pytest.mark.skipif(
    importlib.util.find_spec("tests.openapi_schema") is None,
    reason="tests/openapi_schema.py has not landed yet",
)
def test_request_body_matches_openapi_schema() -> None:
    """Bodies validate against the API's own CreateMessageParams schema."""
    from tests import openapi_schema

    validate = getattr(openapi_schema, "validate", None)
    if validate is None:  # its API is not settled yet: adapt here when it lands
        pytest.skip("tests/openapi_schema.py has no validate(body, schema_name)")
    agent = AgentConfig(
        name="a", file=Path("a.md"), definition="A", contract="C", temperature=0.2, top_k=5
    )
    text = user_message("t", dependencies=[DependencyOutput("s", "a", "out")])
    for body in (
        build_request(agent, Defaults(), text, stream=True),
        build_request(PLAIN, Defaults(), text, prompt_cache=False),
    ):
        validate(body, "CreateMessageParams")
