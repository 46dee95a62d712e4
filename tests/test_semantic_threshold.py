"""The paraphrase sets and the shipped threshold: precision against near-misses."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from claude_force_trio._cache._semantic._embedder import WordLlamaEmbedder, model_files
from claude_force_trio._cache._semantic._threshold import (
    GRID,
    RULE_THRESHOLD,
    TARGET_PRECISION,
    Judged,
    choose_threshold,
    judge,
    sweep,
)
from claude_force_trio._config._model import SEMANTIC_THRESHOLD

PAIRS = Path(__file__).parent / "data" / "semantic_pairs.jsonl"
#: Pairs written after the guards were tuned on PAIRS, and never used to tune them.
HOLDOUT = Path(__file__).parent / "data" / "semantic_holdout.jsonl"
LABELS = {"paraphrase", "near_miss", "unrelated"}


def load(path: Path = PAIRS) -> list[dict[str, Any]]:
    """The pairs, one JSON object a line."""
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]


@pytest.fixture(scope="module")
def judged() -> list[Judged]:
    """Every pair as the cache sees it."""
    embedder = WordLlamaEmbedder(model_files())
    return [judge(embedder, r["a"], r["b"], positive=r["label"] == "paraphrase") for r in load()]


def test_the_set_is_big_varied_and_well_formed() -> None:
    """>= 240 distinct pairs, >= 120 paraphrases and >= 120 near-misses of many kinds."""
    rows = load()
    assert all(set(r) == {"a", "b", "label", "kind"} for r in rows)
    assert all(
        isinstance(r["a"], str) and isinstance(r["b"], str) and r["a"] != r["b"] for r in rows
    )
    assert {r["label"] for r in rows} == LABELS
    labels = Counter(r["label"] for r in rows)
    assert len(rows) >= 240
    assert labels["paraphrase"] >= 120
    assert labels["near_miss"] >= 120
    assert labels["unrelated"] >= 5
    kinds = Counter(r["kind"] for r in rows if r["label"] == "near_miss")
    for kind in ("number", "file", "identifier", "entity", "negation", "operation", "language"):
        assert kinds[kind] >= 5, kind
    assert len({(r["a"], r["b"]) for r in rows}) == len(rows)


@pytest.mark.parametrize("threshold", sorted({SEMANTIC_THRESHOLD, RULE_THRESHOLD}))
def test_precision_at_the_shipped_threshold(judged: list[Judged], threshold: float) -> None:
    """At the configured default (and the measured one) precision is >= 0.99."""
    (point,) = sweep(judged, [threshold])
    assert point.precision >= TARGET_PRECISION
    assert point.matched > 0


def test_the_rule_still_chooses_the_shipped_value(judged: list[Judged]) -> None:
    """Re-running the rule on the set gives RULE_THRESHOLD (update both together)."""
    assert choose_threshold(sweep(judged, GRID)).threshold == RULE_THRESHOLD


def test_the_guards_are_what_gives_precision(judged: list[Judged]) -> None:
    """Without the guards no threshold on the grid reaches the precision target."""
    assert all(p.precision < TARGET_PRECISION for p in sweep(judged, GRID, guard=False))


def test_the_held_out_pairs_at_the_shipped_threshold() -> None:
    """On pairs the guards never saw: >= 0.9 precision and >= 0.7 recall (the 0.99 goal is not met).

    Measured: 19 of 25 paraphrases served, 2 of 51 near-misses too (a conversion
    reversed without "from", and "only critical findings" against "all findings");
    see docs/semantic-cache.md.
    """
    embedder = WordLlamaEmbedder(model_files())
    rows = load(HOLDOUT)
    assert Counter(r["label"] for r in rows) == {"paraphrase": 25, "near_miss": 51}
    judged = [judge(embedder, r["a"], r["b"], positive=r["label"] == "paraphrase") for r in rows]
    (point,) = sweep(judged, [SEMANTIC_THRESHOLD])
    assert point.precision >= 0.9
    assert point.recall >= 0.7
    assert point.false_matches <= 2
