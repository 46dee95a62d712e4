"""A semantic hit as results, ``--json``, the journal, metrics lines and the CLI show it.

``StepResult.cached`` is ``True`` for an exact hit and ``"semantic"`` for a
semantic one, with ``similarity``; both are truthy, so ``not result.cached``
still means "paid for now". Metrics lines keep ``cached`` a boolean (old
readers count the hit) and add ``similarity``.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from claude_force_trio._events import StepSucceeded
from claude_force_trio._metrics import FIELDS, MetricsRecorder, read_records
from claude_force_trio._metrics._otel_attributes import step_end_attributes
from claude_force_trio._metrics._record import RecordBuilder
from claude_force_trio._results import StepResult, WorkflowResult
from claude_force_trio._step_tally import CallTally
from claude_force_trio._types import MessageResult
from claude_force_trio.cli._progress import WorkflowProgress, cached_label, summary_line
from claude_force_trio.cli._step_rows import Row
from claude_force_trio.cli._tables import step_row
from claude_force_trio.cli.run import _step_summary

MOMENT = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def hit(cached: bool | str = "semantic", similarity: float | None = 0.9731) -> StepResult:
    """A succeeded step served from the cache."""
    return StepResult(
        id="review",
        agent="reviewer",
        status="succeeded",
        output="LGTM",
        cached=cached,  # type: ignore[arg-type]
        similarity=similarity,
        model="claude-sonnet-4-5",
        started_at=MOMENT,
        finished_at=MOMENT,
        elapsed_s=0.002,
        saved_usd=0.0105,
        stop_reason="end_turn",
    )


# -- the tally and the result ---------------------------------------------------------


def test_tally_names_a_step_served_by_a_semantic_match() -> None:
    """Every call served, one by a semantic match: ``"semantic"``, at its similarity."""
    tally = CallTally()
    tally.next_call()
    tally.served(0.01, 0.95)
    assert (tally.cached, tally.similarity) == ("semantic", 0.95)
    tally.next_call()
    tally.served(0.02, 0.93)
    assert (tally.cached, tally.similarity) == ("semantic", 0.93)  # the lowest
    assert tally.saved_usd == pytest.approx(0.03)


def test_tally_exact_and_partial() -> None:
    """Exact hits only: ``True``; one call paid for: ``False`` (the similarity still told)."""
    exact = CallTally()
    exact.next_call()
    exact.served(0.01)
    assert (exact.cached, exact.similarity) == (True, None)
    partial = CallTally()
    partial.next_call()
    partial.served(0.01, 0.96)
    partial.next_call()
    partial.add(
        MessageResult(id="m", model="claude-sonnet-4-5", text="x", stop_reason="end_turn"),
        "claude-sonnet-4-5",
    )
    assert (partial.cached, partial.similarity) == (False, 0.96)


def test_not_cached_holds_only_for_answers_paid_for() -> None:
    """``not result.cached`` is false for both kinds of hit and true for a live answer."""
    assert [not r.cached for r in (hit(), hit(True, None), hit(False, None))] == [
        False,
        False,
        True,
    ]


@pytest.mark.parametrize(
    ("cached", "similarity"),
    [("semantic", 0.9731), (True, None), (False, None)],
    ids=["semantic", "exact", "live"],
)
def test_json_round_trip(cached: bool | str, similarity: float | None) -> None:
    """``to_dict`` shows ``cached`` and ``similarity``; ``from_dict`` (the journal) reads it."""
    result = hit(cached, similarity)
    doc = json.loads(json.dumps(result.to_dict()))
    assert (doc["cached"], doc["similarity"]) == (cached, similarity)
    assert StepResult.from_dict(doc) == result


def test_documents_written_before_have_no_similarity() -> None:
    """A journalled step of an older version (no ``similarity``) reads back as before."""
    doc = hit(True, None).to_dict()
    del doc["similarity"]
    back = StepResult.from_dict(doc)
    assert (back.cached, back.similarity) == (True, None)


def test_workflow_json_carries_the_step_fields() -> None:
    """``workflow run --json``: each step says ``"cached": "semantic"`` and its similarity."""
    run = WorkflowResult("wf", "run1", "succeeded", 0.1, 0.1, ("review",), (hit(),))
    step = run.to_dict()["steps"][0]
    assert (step["cached"], step["similarity"]) == ("semantic", 0.9731)
    assert run.saved_usd == pytest.approx(0.0105)


# -- metrics --------------------------------------------------------------------------


def test_metrics_line_keeps_cached_a_boolean() -> None:
    """A semantic hit's line says ``cached: true`` and its similarity; others say null."""
    builder = RecordBuilder()
    semantic = json.loads(builder.line(StepSucceeded("r", "review", hit(), 1.0)) or "")
    exact = json.loads(builder.line(StepSucceeded("r", "review", hit(True, None), 1.0)) or "")
    assert list(semantic) == list(FIELDS)
    assert (semantic["cached"], semantic["similarity"]) == (True, 0.9731)
    assert (exact["cached"], exact["similarity"]) == (True, None)


def test_metrics_reader_reads_similarity_and_old_lines(tmp_path: Path) -> None:
    """``read_records`` counts a semantic hit as cached; an old line has no similarity."""
    recorder = MetricsRecorder(tmp_path)
    recorder(StepSucceeded("r", "review", hit(), 1.0))
    recorder.flush()
    old = json.loads(RecordBuilder().line(StepSucceeded("r", "x", hit(True, None), 1.0)) or "")
    del old["similarity"]
    with (tmp_path / "executions.jsonl").open("a", encoding="utf-8") as out:
        out.write(json.dumps(old) + "\n")
    records = list(read_records(tmp_path))
    assert [(r["cached"], r["similarity"]) for r in records] == [(True, 0.9731), (True, None)]


def test_otel_step_attributes() -> None:
    """A step span's ``cft.cached`` stays boolean; a semantic hit adds its similarity."""
    attributes = step_end_attributes(hit())
    assert (attributes["cft.cached"], attributes["cft.cache.similarity"]) == (True, 0.9731)
    assert "cft.cache.similarity" not in step_end_attributes(hit(True, None))


# -- the CLI --------------------------------------------------------------------------


def test_cached_label() -> None:
    """``cached ≈0.97`` for a semantic hit (cut, not rounded up), ``cached`` otherwise."""
    assert cached_label("semantic", 0.9731) == "cached ≈0.97"
    assert cached_label("semantic", 0.9999) == "cached ≈0.99"
    assert cached_label(True, None) == "cached"
    assert cached_label("semantic", None) == "cached"


def test_run_summary_marks_a_semantic_hit() -> None:
    """``cft run``'s summary line ends in ``cached ≈0.97``."""
    assert _step_summary(hit()).endswith(" · cached ≈0.97")
    assert _step_summary(hit(True, None)).endswith(" · cached")


def test_runs_show_row_marks_a_semantic_hit() -> None:
    """``runs show`` lists a journalled semantic hit as ``cached ≈0.97``."""
    assert step_row(hit().to_dict())[2] == "cached ≈0.97"
    assert step_row(hit(True, None).to_dict())[2] == "cached"


def test_progress_marks_a_semantic_hit() -> None:
    """The live table's status cell, the plain line and the summary mark a semantic hit."""
    row = Row("review", agent="reviewer", status="cached", result=hit())
    assert WorkflowProgress._cells(row, None)[2] == ("✓ cached ≈0.97", "green")
    exact = Row("review", agent="reviewer", status="cached", result=hit(True, None))
    assert WorkflowProgress._cells(exact, None)[2] == ("✓ cached", "green")
    assert WorkflowProgress._finished_text(hit()).endswith("(cached ≈0.97)")
    run = WorkflowResult(
        "wf", "r", "succeeded", 0.1, 0.1, ("review", "b"), (hit(), hit(True, None))
    )
    assert "2 cached (1 semantic), saved $0.0210" in summary_line(run)
