"""Claude Force 1.3's task-complexity rules, kept apart from the orchestrator that uses them.

Why a module of its own: the rules are pure functions of the task text, so they
can be read, tested and compared with Claude Force's decisions without an
orchestrator, a config or a network.

The rules, in Claude Force's order (substring matches on the lower-cased task):

1. any *critical* keyword (``production``, ``delete``, ``authentication``...) → ``critical``;
2. a *simple* keyword (``format``, ``document``, ``fix typo``...) in a task that is
   short (< 200 characters) or starts like a template (``generate``, ``create``...)
   → ``simple``;
3. anything else → ``complex``. Claude Force also looks for complex keywords,
   length and step counts here, but every branch of that check answers
   ``complex`` as its default does, so they change no decision and are left out.
"""

from __future__ import annotations

from typing import Literal

__all__ = ["Complexity", "analyze_task_complexity", "estimate_tokens"]

Complexity = Literal["simple", "complex", "critical"]

CRITICAL_KEYWORDS = (
    "production",
    "delete",
    "drop",
    "migrate",
    "remove",
    "security audit",
    "vulnerability",
    "compliance",
    "deploy to prod",
    "database migration",
    "schema change",
    "authentication",
    "authorization",
    "encryption",
)
SIMPLE_KEYWORDS = (
    "format",
    "lint",
    "document",
    "generate docs",
    "create readme",
    "add comments",
    "fix typo",
    "update version",
    "generate changelog",
)
TEMPLATE_OPENINGS = ("generate", "create", "add", "format", "update")
SHORT_TASK_CHARS = 200

#: Claude Force's token heuristic: ~1.3 tokens a word, plus an average agent
#: prompt (1,000) and context (500); the reply's size depends on complexity.
TOKENS_PER_WORD = 1.3
PROMPT_TOKENS = 1000
CONTEXT_TOKENS = 500
OUTPUT_TOKENS: dict[Complexity, int] = {"simple": 500, "complex": 2000, "critical": 3000}


def analyze_task_complexity(task: str) -> Complexity:
    """Classify a task as Claude Force 1.3 does (see the module docstring).

    Args:
        task: the task text, any length, any script.
    """
    lowered = task.lower()
    if any(keyword in lowered for keyword in CRITICAL_KEYWORDS):
        return "critical"
    if any(keyword in lowered for keyword in SIMPLE_KEYWORDS) and (
        len(task) < SHORT_TASK_CHARS or lowered.startswith(TEMPLATE_OPENINGS)
    ):
        return "simple"
    return "complex"


def estimate_tokens(task: str, complexity: Complexity) -> tuple[int, int]:
    """Return Claude Force's (input, output) token estimate for a task.

    Args:
        task: the task text.
        complexity: its class, which sets the expected reply size.
    """
    words = len(task.split()) * TOKENS_PER_WORD
    return int(words + PROMPT_TOKENS + CONTEXT_TOKENS), OUTPUT_TOKENS[complexity]
