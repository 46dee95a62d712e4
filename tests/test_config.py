"""Tests for loading and validating ``claude.json`` (``_config``)."""

from __future__ import annotations

import copy
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from claude_force_trio._config import (
    LEGACY_AGENT_KEYS,
    AgentConfig,
    ApiConfig,
    CacheConfig,
    CircuitBreakerConfig,
    Config,
    Defaults,
    FeaturesConfig,
    MemoryConfig,
    PerformanceConfig,
    RetryConfig,
    find_config,
    load_config,
)
from claude_force_trio._config._load import ConfigError
from claude_force_trio._config._migrate import config_to_dict

EXAMPLES = Path(__file__).resolve().parent.parent / "examples" / ".claude" / "claude.json"

SECTION_CLASSES = (
    AgentConfig,
    Defaults,
    CacheConfig,
    PerformanceConfig,
    ApiConfig,
    RetryConfig,
    CircuitBreakerConfig,
    FeaturesConfig,
)

BASE: dict[str, Any] = {
    "defaults": {"model": "sonnet", "max_tokens": 1024},
    "agents": {
        "linter": {"file": "agents/linter.md"},
        "reviewer": {"file": "agents/reviewer.md", "contract": "contracts/reviewer.contract"},
    },
    "workflows": {
        "chain": ["linter", "reviewer"],
        "review": {
            "steps": [
                {"id": "lint", "agent": "linter", "task": "lint it"},
                {"id": "review", "agent": "reviewer", "dependencies": ["lint"]},
            ]
        },
    },
    "cache": {"ttl_hours": 1},
    "performance": {"max_concurrent_agents": 2},
    "api": {"auth": "bearer"},
    "retry": {"initial_delay_s": 0.5, "max_delay_s": 4},
    "circuit_breaker": {"failure_threshold": 3},
    "features": {"async_enabled": True},
}


def make_project(root: Path, doc: dict[str, Any] | None = None) -> Path:
    """Write a project with two agents and a contract; return its claude.json."""
    folder = root / ".claude"
    (folder / "agents").mkdir(parents=True, exist_ok=True)
    (folder / "contracts").mkdir(exist_ok=True)
    (folder / "agents" / "linter.md").write_text("# Linter\nLint things.\n", encoding="utf-8")
    (folder / "agents" / "reviewer.md").write_text("# Reviewer\nReview.\n", encoding="utf-8")
    (folder / "contracts" / "reviewer.contract").write_text("Be fair.\n", encoding="utf-8")
    path = folder / "claude.json"
    path.write_text(json.dumps(BASE if doc is None else doc), encoding="utf-8")
    return path


def load_mutated(tmp_path: Path, mutate: Callable[[dict[str, Any]], None]) -> Config:
    """Load BASE after ``mutate`` changed a deep copy of it."""
    doc = copy.deepcopy(BASE)
    mutate(doc)
    return load_config(make_project(tmp_path, doc))


# ---------------------------------------------------------------- valid files


def test_examples_file_loads_with_every_field_in_place() -> None:
    """The shipped example loads and each section lands in its dataclass."""
    config = load_config(EXAMPLES)
    assert config.root == EXAMPLES.parent
    assert config.defaults.model == "sonnet"
    assert config.defaults.max_tokens == 4096
    assert len(config.agents) >= 6
    py = config.agents["python-expert"]
    assert (py.model, py.max_tokens, py.temperature, py.cache) == ("haiku", 2048, 0.2, True)
    assert py.domains == ("python",)
    assert py.priority == 2
    assert py.contract is not None
    assert py.contract_file is not None
    assert py.definition.startswith("# Python expert")
    assert config.agents["linter"].temperature == 0.0
    cqc = config.workflows["code-quality-check"]
    assert [s.id for s in cqc.steps] == ["lint", "types", "scan", "review"]
    assert cqc.steps[2].timeout_s == 120.0
    assert cqc.steps[3].dependencies == ("lint", "types", "scan")
    assert cqc.steps[3].path == "workflows.code-quality-check.steps[3]"
    assert (cqc.timeout_s, cqc.on_failure, cqc.legacy) == (600.0, "fail_fast", False)
    assert cqc.task is not None
    assert cqc.description is not None
    assert config.workflows["bug-fix"].legacy
    assert config.workflows["release-readiness"].on_failure == "continue"
    assert config.cache == CacheConfig(exclude_agents=("creative-writer",))
    assert config.performance.max_concurrent_agents == 10
    assert config.api.read_timeout_s == 600.0
    assert config.retry == RetryConfig(4, 0.5, 8.0)
    assert config.circuit_breaker.reset_timeout_s == 30.0
    assert config.features.parallel_workflows_enabled is True
    assert "governance" in config.ignored_sections


def test_base_sections_override_only_what_is_written(tmp_path: Path) -> None:
    """Fields absent from a section keep their defaults."""
    config = load_config(make_project(tmp_path))
    assert config.cache.ttl_hours == 1.0
    assert config.cache.max_size_mb == 100.0
    assert config.api.auth == "bearer"
    assert config.api.version == "2023-06-01"
    assert config.agents["reviewer"].contract == "Be fair.\n"
    assert config.agents["linter"].file == tmp_path / ".claude" / "agents" / "linter.md"


def test_empty_config_is_valid(tmp_path: Path) -> None:
    """``{}`` loads: no agents, no workflows, all defaults."""
    config = load_config(make_project(tmp_path, {}))
    assert config.agents == {}
    assert config.workflows == {}
    assert config.performance.step_timeout_s == 300.0


def test_legacy_claude_force_file_loads_unchanged(tmp_path: Path) -> None:
    """A Claude Force file: path/contract/domains/priority, lists, foreign sections."""
    doc = {
        "version": "1.0.0",
        "name": "Claude Multi-Agent System",
        "description": "Orchestration system",
        "agents": {
            "linter": {
                "file": "agents/linter.md",
                "domains": ["python"],
                "priority": 1,
                "skills": ["code-review"],
                "tools": ["Read"],
                "version": "1.0.0",
            },
            "reviewer": {
                "path": "agents/reviewer.md",
                "contract": "contracts/reviewer.contract",
                "priority": 3,
            },
        },
        "workflows": {"bug-fix": ["linter", "reviewer", "linter", "linter"]},
        "governance": {"hooks_enabled": True, "validators": ["secret-scan"]},
        "skills_integration": {"enabled": True},
        "paths": {"agents": "agents/"},
        "rules": {"no_secrets_in_output": True},
        "memory": {"enabled": True},
    }
    config = load_config(make_project(tmp_path, doc))
    assert config.agents["reviewer"].definition == "# Reviewer\nReview.\n"
    assert config.agents["linter"].legacy_keys == {"skills": ["code-review"], "version": "1.0.0"}
    assert config.agents["linter"].tools == ("Read",)  # a real key now, resolved by the engine
    chain = config.workflows["bug-fix"]
    assert chain.legacy
    assert chain.path == "workflows.bug-fix"
    assert [(s.id, s.dependencies) for s in chain.steps] == [
        ("linter", ()),
        ("reviewer", ("linter",)),
        ("linter-2", ("reviewer",)),
        ("linter-3", ("linter-2",)),
    ]
    assert chain.steps[2].path == "workflows.bug-fix[2]"
    assert list(config.ignored_sections) == [
        "version",
        "name",
        "description",
        "governance",
        "skills_integration",
        "paths",
        "rules",
    ]
    assert config.memory == MemoryConfig(enabled=True)


def test_tolerated_legacy_agent_keys_are_documented() -> None:
    """The tolerated agent keys are the ones Claude Force tools write."""
    assert {"skills", "version"} <= LEGACY_AGENT_KEYS


def test_config_to_dict_round_trips(tmp_path: Path) -> None:
    """Loading the migrated document gives an equal config, legacy spellings normalised."""
    doc = copy.deepcopy(BASE)
    doc["agents"]["reviewer"]["path"] = doc["agents"]["reviewer"].pop("file")
    doc["agents"]["linter"]["skills"] = ["x"]
    doc["governance"] = {"hooks_enabled": True}
    original = load_config(make_project(tmp_path, doc))
    migrated = config_to_dict(original)
    assert migrated["agents"]["reviewer"]["file"] == "agents/reviewer.md"
    assert migrated["agents"]["linter"]["skills"] == ["x"]
    assert migrated["workflows"]["chain"] == ["linter", "reviewer"]
    assert migrated["cache"]["ttl_hours"] == 1
    assert migrated["cache"]["redis_url"] is None
    assert migrated["governance"] == {"hooks_enabled": True}
    again = load_config(make_project(tmp_path, migrated))
    assert again == original
    assert again.ignored_sections == original.ignored_sections


def test_config_to_dict_of_examples_reloads() -> None:
    """The filled-in example document is itself a valid config."""
    config = load_config(EXAMPLES)
    migrated = config_to_dict(config)
    assert migrated["defaults"] == {"model": "sonnet", "max_tokens": 4096, "temperature": None}
    assert migrated["workflows"]["code-quality-check"]["steps"][3]["dependencies"] == [
        "lint",
        "types",
        "scan",
    ]
    assert json.loads(json.dumps(migrated)) == migrated


# ---------------------------------------------------------------- finding the file


def test_find_config_prefers_explicit_then_env_then_cwd(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``--config`` beats ``CFT_CONFIG``, which beats ``./.claude/claude.json``."""
    default = make_project(tmp_path)
    other = tmp_path / "other.json"
    other.write_text("{}", encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("CFT_CONFIG", raising=False)
    assert find_config().resolve() == default
    monkeypatch.setenv("CFT_CONFIG", str(other))
    assert find_config() == other
    assert find_config(default) == default


def test_find_config_accepts_a_project_directory(tmp_path: Path) -> None:
    """A folder given to ``--config`` is searched for its ``.claude/claude.json``."""
    path = make_project(tmp_path)
    assert find_config(tmp_path) == path
    assert find_config(path.parent) == path


def test_find_config_missing_file_message(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A missing file names the path tried and how to fix it."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("CFT_CONFIG", raising=False)
    with pytest.raises(ConfigError) as info:
        find_config()
    assert str(info.value) == (
        ".claude/claude.json: config file not found (use --config or CFT_CONFIG, or run `cft init`)"
    )


# ---------------------------------------------------------------- file-level errors


def test_bad_json_names_file_line_and_column(tmp_path: Path) -> None:
    """Malformed JSON reports the file, line and column."""
    path = tmp_path / "claude.json"
    path.write_text('{\n  "agents": {,}\n}', encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert str(info.value) == (
        f"{path}: invalid JSON at line 2, column 14: Expecting property name enclosed in double"
        " quotes"
    )


def test_non_utf8_config_is_refused(tmp_path: Path) -> None:
    """A config that is not UTF-8 is an error naming the file."""
    path = tmp_path / "claude.json"
    path.write_bytes(b'{"name": "caf\xe9"}')
    with pytest.raises(ConfigError, match=r"not valid UTF-8 \(byte 13\)$") as info:
        load_config(path)
    assert info.value.path == str(path)


def test_top_level_must_be_an_object(tmp_path: Path) -> None:
    """A JSON list at the top is refused."""
    path = tmp_path / "claude.json"
    path.write_text("[1, 2]", encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert str(info.value) == f"{path}: expected a JSON object at the top level, got a list"


def test_missing_config_file(tmp_path: Path) -> None:
    """Loading a path that does not exist says how to create one."""
    with pytest.raises(ConfigError, match="config file not found"):
        load_config(tmp_path / "nope.json")


# ---------------------------------------------------------------- one rule each


def _set(*keys: Any, value: Any) -> Callable[[dict[str, Any]], None]:
    def mutate(doc: dict[str, Any]) -> None:
        target = doc
        for key in keys[:-1]:
            target = target[key]
        target[keys[-1]] = value

    return mutate


def _delete(*keys: Any) -> Callable[[dict[str, Any]], None]:
    def mutate(doc: dict[str, Any]) -> None:
        target = doc
        for key in keys[:-1]:
            target = target[key]
        del target[keys[-1]]

    return mutate


RULES = [
    (_set("cache", "ttl_hour", value=2), "cache.ttl_hour: unknown key (did you mean 'ttl_hours'?)"),
    (
        _set("performance", "max_concurrent_agents", value="ten"),
        'performance.max_concurrent_agents: expected an integer from 1 to 10000, got "ten"',
    ),
    (
        _set("performance", "max_concurrent_agents", value=0),
        "performance.max_concurrent_agents: expected an integer from 1 to 10000, got 0",
    ),
    (
        _set("performance", "max_concurrent_agents", value=True),
        "performance.max_concurrent_agents: expected an integer from 1 to 10000, got true",
    ),
    (
        _set("performance", "max_concurrent_agents", value=2.5),
        "performance.max_concurrent_agents: expected an integer from 1 to 10000, got 2.5",
    ),
    (
        _set("performance", "step_timeout_s", value=0),
        "performance.step_timeout_s: expected a number above 0 and at most 31536000, got 0",
    ),
    (
        _set("api", "read_timeout_s", value=-1),
        "api.read_timeout_s: expected a number above 0 and at most 31536000, got -1",
    ),
    (
        _set("api", "auth", value="basic"),
        'api.auth: expected one of "x-api-key", "bearer", got "basic"',
    ),
    (_set("api", "version", value=""), 'api.version: expected a non-empty string, got ""'),
    (
        _set("cache", "backend", value="s3"),
        'cache.backend: expected one of "disk", "redis", got "s3"',
    ),
    (
        _set("cache", "exclude_agents", value=["a", 3]),
        "cache.exclude_agents[1]: expected a non-empty string, got 3",
    ),
    (_set("cache", value=None), "cache: expected an object, got null"),
    (
        _set("features", "async_enabled", value="yes"),
        'features.async_enabled: expected true or false, got "yes"',
    ),
    (
        _set("defaults", "temperature", value=1.5),
        "defaults.temperature: expected a number from 0 to 1, got 1.5",
    ),
    (
        _set("defaults", "max_tokens", value=0),
        "defaults.max_tokens: expected an integer from 1 to 1000000, got 0",
    ),
    (
        _set("retry", "max_attempts", value=0),
        "retry.max_attempts: expected an integer from 1 to 100, got 0",
    ),
    (
        _set("retry", "max_delay_s", value=0.25),
        "retry.max_delay_s: must be ≥ initial_delay_s (0.5), got 0.25",
    ),
    (
        _set("circuit_breaker", "half_open_max_calls", value=0),
        "circuit_breaker.half_open_max_calls: expected an integer from 1 to 10000, got 0",
    ),
    (_set("agents", value=[]), "agents: expected an object, got a list"),
    (_set("agents", "linter", value="x.md"), 'agents.linter: expected an object, got "x.md"'),
    (
        _set("agents", "linter", "modle", value="haiku"),
        "agents.linter.modle: unknown key (did you mean 'model'?)",
    ),
    (_set("agents", "linter", "zzz", value=1), "agents.linter.zzz: unknown key"),
    (
        _set("agents", "a.b", value={"file": "agents/linter.md", "zzz": 1}),
        'agents["a.b"].zzz: unknown key',
    ),
    (_delete("agents", "linter", "file"), "agents.linter: missing required key 'file'"),
    (
        _set("agents", "linter", "path", value="agents/linter.md"),
        "agents.linter.path: give 'file' or its legacy name 'path', not both",
    ),
    (
        _set("agents", "linter", "max_tokens", value=0),
        "agents.linter.max_tokens: expected an integer from 1 to 1000000, got 0",
    ),
    (
        _set("agents", "linter", "temperature", value=-0.1),
        "agents.linter.temperature: expected a number from 0 to 1, got -0.1",
    ),
    (
        _set("agents", "linter", "top_p", value=2),
        "agents.linter.top_p: expected a number from 0 to 1, got 2",
    ),
    (
        _set("agents", "linter", "top_k", value=0),
        "agents.linter.top_k: expected an integer from 1 to 1000000, got 0",
    ),
    (
        _set("agents", "linter", "cache", value=1),
        "agents.linter.cache: expected true or false, got 1",
    ),
    (
        _set("agents", "linter", "domains", value="python"),
        'agents.linter.domains: expected a list of strings, got "python"',
    ),
    (
        _set("agents", "linter", "priority", value="high"),
        'agents.linter.priority: expected an integer from -1000000 to 1000000, got "high"',
    ),
    (
        _set("agents", "linter", "file", value="agents/nope.md"),
        "agents.linter.file: file not found: agents/nope.md",
    ),
    (
        _set("agents", "linter", "file", value="agents"),
        "agents.linter.file: agents is a directory, not a file",
    ),
    (
        _set("agents", "reviewer", "contract", value="contracts/nope.contract"),
        "agents.reviewer.contract: file not found: contracts/nope.contract",
    ),
    (
        _set("agents", "reviewer", "contract", value="../outside.contract"),
        "agents.reviewer.contract: path escapes the config folder",
    ),
    (
        _set("agents", "linter", "file", value="../outside.md"),
        "agents.linter.file: path escapes the config folder",
    ),
    (
        _set("agents", "linter", "file", value="agents/../../outside.md"),
        "agents.linter.file: path escapes the config folder",
    ),
    (
        _set("agents", "linter", "file", value="/etc/hostname"),
        "agents.linter.file: path escapes the config folder",
    ),
    (
        _set("workflows", value={"bad": 3}),
        'workflows.bad: expected a list of agent names or an object with "steps", got 3',
    ),
    (_set("workflows", "chain", value=[]), "workflows.chain: a workflow needs at least one step"),
    (
        _set("workflows", "chain", 1, value="revewer"),
        "workflows.chain[1]: unknown agent 'revewer' (did you mean 'reviewer'?)",
    ),
    (
        _set("workflows", "chain", 0, value=7),
        "workflows.chain[0]: expected a non-empty string, got 7",
    ),
    (
        _set("workflows", "review", "steps", value=[]),
        "workflows.review.steps: a workflow needs at least one step",
    ),
    (_delete("workflows", "review", "steps"), "workflows.review: missing required key 'steps'"),
    (
        _set("workflows", "review", "stepz", value=[]),
        "workflows.review.stepz: unknown key (did you mean 'steps'?)",
    ),
    (
        _set("workflows", "review", "on_failure", value="stop"),
        'workflows.review.on_failure: expected one of "fail_fast", "continue", got "stop"',
    ),
    (
        _set("workflows", "review", "timeout_s", value=0),
        "workflows.review.timeout_s: expected a number above 0 and at most 31536000, got 0",
    ),
    (
        _set("workflows", "review", "steps", 1, "agent", value="lintr"),
        "workflows.review.steps[1].agent: unknown agent 'lintr' (did you mean 'linter'?)",
    ),
    (
        _delete("workflows", "review", "steps", 0, "id"),
        "workflows.review.steps[0]: missing required key 'id'",
    ),
    (
        _delete("workflows", "review", "steps", 0, "agent"),
        "workflows.review.steps[0]: missing required key 'agent'",
    ),
    (
        _set("workflows", "review", "steps", 0, "id", value=""),
        'workflows.review.steps[0].id: expected a non-empty string, got ""',
    ),
    (
        _set("workflows", "review", "steps", 1, "dependencies", value="lint"),
        'workflows.review.steps[1].dependencies: expected a list of strings, got "lint"',
    ),
    (
        _set("workflows", "review", "steps", 1, "dependency", value=["lint"]),
        "workflows.review.steps[1].dependency: unknown key (did you mean 'dependencies'?)",
    ),
    (
        _set("workflows", "review", "steps", 0, "timeout_s", value="fast"),
        "workflows.review.steps[0].timeout_s: expected a number above 0 and at most 31536000,"
        ' got "fast"',
    ),
    (
        _set("workflows", "review", "steps", 0, value=None),
        "workflows.review.steps[0]: expected an object, got null",
    ),
    (_set("project", value=""), 'project: expected a non-empty string, got ""'),
    (_set("project", value="p" * 129), "project: at most 128 characters, got 129"),
    (
        _set("workflows", "review", "steps", 0, "approval", value="yes"),
        'workflows.review.steps[0].approval: expected true or false, got "yes"',
    ),
]


@pytest.mark.parametrize(("mutate", "message"), RULES, ids=[m for _, m in RULES])
def test_each_rule_gives_its_one_line_message(
    tmp_path: Path, mutate: Callable[[dict[str, Any]], None], message: str
) -> None:
    """Each invalid value gives exactly this ``path: message`` line."""
    with pytest.raises(ConfigError) as info:
        load_mutated(tmp_path, mutate)
    assert str(info.value) == message
    assert "\n" not in str(info.value)


def test_project_key_is_the_name_else_a_hash_of_the_path(tmp_path: Path) -> None:
    """A named project is its own key; else the resolved path's hash, the same from any cwd."""
    named = load_mutated(tmp_path / "a", _set("project", value="acme"))
    assert named.project_key == "acme"
    first = load_config(make_project(tmp_path / "b"))
    again = load_config(tmp_path / "b" / ".claude" / "claude.json")
    other = load_config(make_project(tmp_path / "c"))
    assert first.project is None
    assert first.project_key == again.project_key
    assert first.project_key.startswith("path:")
    assert first.project_key != other.project_key


def test_graph_errors_come_from_dag(tmp_path: Path) -> None:
    """A dependency cycle is caught at load time and names the workflow."""
    mutate = _set("workflows", "review", "steps", 0, "dependencies", value=["review"])
    with pytest.raises(ConfigError) as info:
        load_mutated(tmp_path, mutate)
    assert info.value.path.startswith("workflows.review")


def test_symlink_escaping_the_folder_is_refused(tmp_path: Path) -> None:
    """An agent file that is a symlink to outside the config folder is refused."""
    outside = tmp_path / "secret.md"
    outside.write_text("secret", encoding="utf-8")
    path = make_project(tmp_path)
    os.symlink(outside, path.parent / "agents" / "link.md")
    with pytest.raises(ConfigError) as info:
        load_mutated(tmp_path, _set("agents", "linter", "file", value="agents/link.md"))
    assert str(info.value) == "agents.linter.file: path escapes the config folder"


def test_symlink_inside_the_folder_is_allowed(tmp_path: Path) -> None:
    """A symlink that stays inside the config folder is fine."""
    path = make_project(tmp_path)
    os.symlink(path.parent / "agents" / "linter.md", path.parent / "agents" / "alias.md")
    config = load_mutated(tmp_path, _set("agents", "linter", "file", value="agents/alias.md"))
    assert config.agents["linter"].definition.startswith("# Linter")


def test_absolute_path_inside_the_folder_is_allowed(tmp_path: Path) -> None:
    """An absolute path is accepted when it points inside the config folder."""
    inside = str(tmp_path / ".claude" / "agents" / "linter.md")
    config = load_mutated(tmp_path, _set("agents", "linter", "file", value=inside))
    assert config_to_dict(config)["agents"]["linter"]["file"] == "agents/linter.md"


def test_non_utf8_agent_file_is_refused(tmp_path: Path) -> None:
    """An agent definition that is not UTF-8 is an error at its JSON path."""
    path = make_project(tmp_path)
    (path.parent / "agents" / "latin1.md").write_bytes(b"# Caf\xe9\n")
    with pytest.raises(ConfigError) as info:
        load_mutated(tmp_path, _set("agents", "linter", "file", value="agents/latin1.md"))
    assert str(info.value) == "agents.linter.file: agents/latin1.md is not valid UTF-8 (byte 5)"


def test_empty_agent_file_is_refused(tmp_path: Path) -> None:
    """An empty definition would be rejected by the API, so it is refused at load."""
    path = make_project(tmp_path)
    (path.parent / "agents" / "empty.md").write_text("  \n", encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_mutated(tmp_path, _set("agents", "linter", "file", value="agents/empty.md"))
    assert str(info.value) == "agents.linter.file: agents/empty.md is empty"


# ---------------------------------------------------------------- property tests

JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**20), max_value=10**20)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=12),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=6,
)


def _locations(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every key path inside a JSON document (not the root itself)."""
    out: list[tuple[Any, ...]] = []
    items = (
        node.items()
        if isinstance(node, dict)
        else enumerate(node)
        if isinstance(node, list)
        else ()
    )
    for key, child in items:
        out.append((*prefix, key))
        out.extend(_locations(child, (*prefix, key)))
    return out


def _parent(doc: Any, where: tuple[Any, ...]) -> Any:
    for key in where[:-1]:
        doc = doc[key]
    return doc


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One project folder shared by the property tests (they only rewrite claude.json)."""
    return make_project(tmp_path_factory.mktemp("prop"))


def _load_doc(path: Path, doc: Any) -> Config:
    path.write_text(json.dumps(doc), encoding="utf-8")
    return load_config(path)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_random_mutations_give_config_or_config_error(project: Path, data: st.DataObject) -> None:
    """Any mutation of a valid config loads or raises ConfigError with a path, nothing else."""
    doc = copy.deepcopy(BASE)
    for _ in range(data.draw(st.integers(1, 3))):
        where = data.draw(st.sampled_from(_locations(doc)))
        parent = _parent(doc, where)
        action = data.draw(st.sampled_from(["replace", "delete", "add"]))
        if action == "replace":
            parent[where[-1]] = data.draw(JSON)
        elif action == "delete":
            del parent[where[-1]]
        elif isinstance(target := parent[where[-1]], dict):
            target[data.draw(st.text(max_size=8))] = data.draw(JSON)
        if not _locations(doc):
            break
    error = _error_of(project, doc)
    if error is not None:
        assert error.path
        assert "\n" not in str(error)


def _error_of(path: Path, doc: Any) -> ConfigError | None:
    """Load ``doc``; return its ConfigError, or None if it loaded (other errors propagate)."""
    try:
        _load_doc(path, doc)
    except ConfigError as exc:
        return exc
    return None


ALL_KNOWN_KEYS = {
    *(f for cls in SECTION_CLASSES for f in cls.__dataclass_fields__),
    *("file", "path", "contract", "top_p", "top_k", "domains", "priority", "description"),
    *("id", "agent", "task", "dependencies", "timeout_s", "steps", "on_failure"),
    *LEGACY_AGENT_KEYS,
}
KNOWN_OBJECTS = [
    ("defaults",),
    ("agents", "linter"),
    ("workflows", "review"),
    ("workflows", "review", "steps", 1),
    ("cache",),
    ("performance",),
    ("api",),
    ("retry",),
    ("circuit_breaker",),
    ("features",),
]


@settings(max_examples=100, deadline=None)
@given(where=st.sampled_from(KNOWN_OBJECTS), key=st.text(min_size=1, max_size=10), value=JSON)
def test_extra_key_in_a_known_object_is_always_an_error(
    project: Path, where: tuple[Any, ...], key: str, value: Any
) -> None:
    """An unknown key inside a known section is reported at that key's path."""
    doc = copy.deepcopy(BASE)
    target = _parent(doc, (*where, None))
    if key in target or key in ALL_KNOWN_KEYS:
        return
    target[key] = value
    with pytest.raises(ConfigError) as info:
        _load_doc(project, doc)
    assert "unknown key" in info.value.message


@settings(max_examples=50, deadline=None)
@given(
    where=st.sampled_from(
        [
            ("agents", "linter", "file"),
            ("workflows", "review", "steps"),
            ("workflows", "review", "steps", 0, "id"),
            ("workflows", "review", "steps", 1, "agent"),
        ]
    )
)
def test_deleting_a_required_key_is_always_an_error(project: Path, where: tuple[Any, ...]) -> None:
    """Removing a required key is reported as missing at its parent's path."""
    doc = copy.deepcopy(BASE)
    del _parent(doc, where)[where[-1]]
    with pytest.raises(ConfigError, match="missing required key"):
        _load_doc(project, doc)


# ---------------------------------------------------------------- memory section (issue 6)


def test_memory_section_defaults_to_off(tmp_path: Path) -> None:
    """Without a ``memory`` section, memory is off with the documented limits."""
    config = load_config(make_project(tmp_path))
    assert config.memory == MemoryConfig(enabled=False, max_context_items=3, max_context_chars=4000)
    assert "memory" not in config.ignored_sections


def test_memory_section_is_read(tmp_path: Path) -> None:
    """Every ``memory`` key lands in :class:`MemoryConfig`."""
    doc = copy.deepcopy(BASE)
    doc["memory"] = {"enabled": True, "max_context_items": 5, "max_context_chars": 800}
    config = load_config(make_project(tmp_path, doc))
    assert config.memory == MemoryConfig(True, 5, 800)


@pytest.mark.parametrize(
    ("section", "message"),
    [
        ({"enabled": "yes"}, "memory.enabled"),
        ({"max_context_items": 0}, "memory.max_context_items"),
        ({"max_context_chars": -1}, "memory.max_context_chars"),
        ({"max_items": 2}, "did you mean 'max_context_items'?"),
        ([], "memory"),
    ],
)
def test_memory_section_is_validated(tmp_path: Path, section: Any, message: str) -> None:
    """Bad values and unknown keys in ``memory`` are one-line errors naming the path."""
    doc = copy.deepcopy(BASE)
    doc["memory"] = section
    with pytest.raises(ConfigError, match=message):
        load_config(make_project(tmp_path, doc))


def test_memory_section_round_trips_through_config_to_dict(tmp_path: Path) -> None:
    """``config_to_dict`` writes the memory section and reloading gives it back."""
    doc = copy.deepcopy(BASE)
    doc["memory"] = {"enabled": True, "max_context_items": 2}
    original = load_config(make_project(tmp_path, doc))
    migrated = config_to_dict(original)
    assert migrated["memory"] == {
        "enabled": True,
        "max_context_items": 2,
        "max_context_chars": 4000,
    }
    assert load_config(make_project(tmp_path, migrated)) == original
