"""Claude Force 1.3 compatibility: its orchestrators' API, running on this engine.

Why a public subpackage: code written for Claude Force (``AgentOrchestrator``,
``AsyncAgentOrchestrator``, ``HybridOrchestrator``) keeps its call sites, its
result shapes and its ``except`` clauses, and gains the eager DAG scheduler,
the response cache, retries, the circuit breaker and the metrics file. The
modules are named as Claude Force's, so the optional import shim
(``cft compat install-shim``) can map ``claude_force.orchestrator`` and its
siblings here one to one. See ``docs/migrating-from-claude-force.md``.
"""

from __future__ import annotations

from .orchestrator import AgentOrchestrator as AgentOrchestrator
from .orchestrator import AgentResult as AgentResult

__all__ = ["AgentOrchestrator", "AgentResult"]
