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

from ._async_results import AsyncAgentResult as AsyncAgentResult
from ._results import AgentResult as AgentResult
from ._tracking import MetricsTracker as MetricsTracker
from .async_orchestrator import AsyncAgentOrchestrator as AsyncAgentOrchestrator
from .hybrid_orchestrator import CostEstimate as CostEstimate
from .hybrid_orchestrator import HybridOrchestrator as HybridOrchestrator
from .hybrid_orchestrator import ModelPricing as ModelPricing
from .hybrid_orchestrator import get_hybrid_orchestrator as get_hybrid_orchestrator
from .orchestrator import AgentOrchestrator as AgentOrchestrator

__all__ = [
    "AgentOrchestrator",
    "AgentResult",
    "AsyncAgentOrchestrator",
    "AsyncAgentResult",
    "CostEstimate",
    "HybridOrchestrator",
    "MetricsTracker",
    "ModelPricing",
    "get_hybrid_orchestrator",
]
