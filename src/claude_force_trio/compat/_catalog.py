"""``AgentCatalog``: the part of ``AgentOrchestrator`` that reads the config and agent files.

Why apart: Claude Force's orchestrator reads ``claude.json`` when built and each
agent's files on first use, keeping them in memory per agent; its listings,
``get_agent_info`` and agent recommendation all read through the same caches.
Kept here, :mod:`.orchestrator` is only about running agents.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .._errors import CFTError
from ._loading import agent_entry, read_agent_file, remember, workflow_agents
from ._selection import explain, rank_agents

__all__ = ["AgentCatalog"]


class AgentCatalog:
    """Claude Force's config and agent-file API, over the raw ``claude.json`` document.

    Attributes:
        config_path: the ``claude.json`` file.
        config: its raw document (Claude Force's ``self.config``; edits are seen by later runs).
    """

    config_path: Path
    config: dict[str, Any]
    _definition_cache: dict[str, str]
    _contract_cache: dict[str, str]
    _cache_maxsize: int

    def _init_catalog(self, config_path: Path, config: dict[str, Any]) -> None:
        self.config_path = config_path
        self.config = config
        # Claude Force's in-memory caches of agent files, by agent name (oldest evicted).
        self._definition_cache = {}
        self._contract_cache = {}
        self._cache_maxsize = 128

    @property
    def _root(self) -> Path:
        return self.config_path.absolute().parent

    # -- agent files, read lazily and cached (Claude Force's behaviour) ------------------------

    def _load_agent_definition(self, agent_name: str) -> str:
        """An agent's definition text, from the cache or (first time) from its file.

        Raises:
            UnknownAgentError: no such agent (a ``ValueError``).
            ConfigNotFoundError: its file does not exist (a ``FileNotFoundError``).
            ConfigError: the file cannot be read.
        """
        if agent_name in self._definition_cache:
            return self._definition_cache[agent_name]
        text = self._read_definition(agent_name, missing_ok=False)
        return remember(self._definition_cache, agent_name, text, self._cache_maxsize)

    def _read_definition(self, agent_name: str, *, missing_ok: bool) -> str:
        entry = agent_entry(self.config, agent_name)
        key = "path" if "path" in entry else "file"  # ``path``: the legacy name
        where = f"agents.{agent_name}.{key}"
        return read_agent_file(self._root, entry.get(key), where, missing_ok=missing_ok)

    def _load_agent_contract(self, agent_name: str) -> str:
        """An agent's contract text; ``""`` when it declares none or the file does not exist."""
        if agent_name in self._contract_cache:
            return self._contract_cache[agent_name]
        agents = self.config.get("agents")
        entry = agents.get(agent_name) if isinstance(agents, dict) else None
        text = ""
        if isinstance(entry, dict) and entry.get("contract") is not None:
            where = f"agents.{agent_name}.contract"
            text = read_agent_file(self._root, entry["contract"], where, missing_ok=True)
        return remember(self._contract_cache, agent_name, text, self._cache_maxsize)

    def _agent_files(self, agent_name: str) -> tuple[str, str | None]:
        return self._load_agent_definition(agent_name), self._load_agent_contract(agent_name)

    def clear_agent_cache(self) -> None:
        """Forget the cached definitions and contracts: the next run reads the files again."""
        self._definition_cache.clear()
        self._contract_cache.clear()

    def get_cache_stats(self) -> dict[str, Any]:
        """Sizes of the agent-file caches, their bound and the cached agents' names."""
        return {
            "definition_cache_size": len(self._definition_cache),
            "contract_cache_size": len(self._contract_cache),
            "cache_maxsize": self._cache_maxsize,
            "cached_agents": list(self._definition_cache),
        }

    # -- the config, as Claude Force listed it ------------------------------------------------

    def list_agents(self) -> list[dict[str, Any]]:
        """Agents as ``{name, file, domains, priority}``, sorted by priority (3 if unset)."""
        agents = self.config.get("agents", {})
        listing = [
            {
                "name": name,
                "file": entry.get("file", entry.get("path", "")),
                "domains": entry.get("domains", []),
                "priority": entry.get("priority", 3),
            }
            for name, entry in agents.items()
            if isinstance(entry, dict)
        ]
        return sorted(listing, key=lambda agent: agent["priority"])

    def list_workflows(self) -> dict[str, list[str]]:
        """Workflows as lists of agent names (a ``steps`` workflow: its agents in listed order)."""
        workflows = self.config.get("workflows", {})
        return {name: workflow_agents(self.config, name) for name in workflows}

    def get_agent_info(self, agent_name: str) -> dict[str, Any]:
        """An agent's settings and the first ten lines of its definition.

        Raises:
            UnknownAgentError: no such agent (a ``ValueError``, "Did you mean?").
        """
        entry = agent_entry(self.config, agent_name)
        try:
            description = "\n".join(self._load_agent_definition(agent_name).split("\n")[:10])
        except CFTError:
            description = "No description available"
        return {
            "name": agent_name,
            "file": entry.get("file", entry.get("path", "")),
            "contract": entry.get("contract", ""),
            "domains": entry.get("domains", []),
            "priority": entry.get("priority", 3),
            "model": entry.get("model"),
            "description": description,
        }

    # -- agent selection, without a model download -------------------------------------------

    def _definition_or_empty(self, agent_name: str) -> str:
        # Read, not cached: choosing agents must not change what get_cache_stats reports.
        if agent_name in self._definition_cache:
            return self._definition_cache[agent_name]
        try:
            return self._read_definition(agent_name, missing_ok=True)
        except CFTError:
            return ""

    def recommend_agents(
        self, task: str, top_k: int = 3, min_confidence: float = 0.3
    ) -> list[dict[str, Any]]:
        """The agents best suited to ``task``, by lexical match (no model download).

        Each agent scores the share of the task's distinct content words found in
        its name and domains (1 each) or only in its definition (½ each); see
        :mod:`claude_force_trio.compat._selection`. Same keys as Claude Force's:
        ``agent``, ``confidence``, ``reasoning``, ``domains``, ``priority``.
        """
        agents = self.config.get("agents", {})
        ranked = rank_agents(task, agents, self._definition_or_empty, min_confidence=min_confidence)
        return [match.to_dict() for match in ranked[:top_k]]

    def explain_agent_selection(self, task: str, agent_name: str) -> dict[str, Any]:
        """Why ``agent_name`` was or was not recommended for ``task`` (rank, confidence, rivals)."""
        agents = self.config.get("agents", {})
        return explain(
            agent_name, rank_agents(task, agents, self._definition_or_empty, min_confidence=0.3)
        )
