"""The semantic cache: a cached answer for a task worded differently, found by its vector.

Modules: ``_embedder`` (the model the ``wordllama`` wheel ships, loaded lazily
and offline), the guards — ``_literals`` (numbers, names, files… and polarity
must be equal), ``_contrast`` (opposite words), ``_direction`` ("from A to B"),
``_substitution`` (one word swapped), joined in ``_guard`` — ``_index`` (the
vectors in memory, grouped by scope and literals), ``_store`` / ``_sqlite`` /
``_redis`` (the vectors beside the response cache), ``_query`` (eligibility,
scope), ``_cache`` (``SemanticCache``), ``_open`` (``open_semantic_cache``)
and ``_threshold`` (the default threshold and the rule that chose it).
"""

from ._cache import DEFAULT_MAX_ENTRIES as DEFAULT_MAX_ENTRIES
from ._cache import SemanticCache as SemanticCache
from ._cache import SemanticMatch as SemanticMatch
from ._cache import SemanticStatistics as SemanticStatistics
from ._embedder import EMBEDDER_ID as EMBEDDER_ID
from ._embedder import semantic_available as semantic_available
from ._open import open_semantic_cache as open_semantic_cache
from ._query import SemanticQuery as SemanticQuery
from ._threshold import RULE_THRESHOLD as RULE_THRESHOLD

__all__ = [
    "DEFAULT_MAX_ENTRIES",
    "EMBEDDER_ID",
    "RULE_THRESHOLD",
    "SemanticCache",
    "SemanticMatch",
    "SemanticQuery",
    "SemanticStatistics",
    "open_semantic_cache",
    "semantic_available",
]
