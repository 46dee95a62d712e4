"""What the cache layer asks of the semantic cache: :class:`SemanticIndex`, four calls.

Why a protocol apart from the semantic cache itself (``._semantic``): that
package needs numpy and the embedding model (the ``semantic`` extra), while
the policy and the layer are loaded by every run. So the four calls the layer
makes are written down here; the real cache (or a test's fake) is whatever
satisfies them. Which agents have it on is the policy's
(:func:`~._policy.semantic_thresholds`); the rules are in docs/semantic-cache.md.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from .._call import Call

__all__ = ["SemanticHit", "SemanticIndex"]


class SemanticHit(Protocol):
    """A semantic match: the exact key of the answer found, and how close its task was."""

    @property
    def key(self) -> str:
        """The response cache's key of the matched answer."""
        ...

    @property
    def similarity(self) -> float:
        """Cosine similarity of the two tasks (4 decimals)."""
        ...


class SemanticIndex(Protocol):
    """What the cache layer asks of the semantic cache (``._semantic.SemanticCache``).

    The query is opaque here: whatever :meth:`query` returns goes back to the other three.
    """

    def query(self, call: Call) -> Any:
        """The lookup for ``call``, or ``None`` when its agent or body is not eligible."""
        ...

    async def find(self, query: Any) -> SemanticHit | None:
        """The nearest indexed task that clears the agent's threshold (literals equal)."""
        ...

    async def add(self, query: Any, key: str) -> None:
        """Index the query's task under ``key`` (an answer was just stored there)."""
        ...

    async def forget(self, query: Any, key: str) -> None:
        """Drop the entry for ``key`` (its answer is gone from the store)."""
        ...
