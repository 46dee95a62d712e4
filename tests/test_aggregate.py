"""Tests for streaming aggregation, percentiles and anomalies (``_aggregate``, ``_anomalies``)."""

from __future__ import annotations

import json
import random
import statistics
import subprocess
import sys
import textwrap
import tracemalloc
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from claude_force_trio._metrics import Quantiles, aggregate, find_anomalies, read_records
from claude_force_trio._metrics._quantiles import EXACT_LIMIT, RELATIVE_ERROR

NOW = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)


def line(**kw: Any) -> str:
    """One metrics line; fields not given get defaults."""
    doc = {
        "ts": (NOW - timedelta(minutes=1)).isoformat(),
        "run_id": "r",
        "workflow": "wf",
        "step_id": "s",
        "agent": "a",
        "model": "m",
        "success": True,
        "status": "succeeded",
        "cached": False,
        "latency_ms": 100.0,
        "input_tokens": 10,
        "output_tokens": 5,
        "cost_usd": 0.01,
        "saved_usd": None,
    } | kw
    return json.dumps(doc) + "\n"


def write(path: Path, text: str) -> Path:
    """Write ``text`` as the current metrics file in ``path``."""
    path.mkdir(parents=True, exist_ok=True)
    (path / "executions.jsonl").write_text(text, encoding="utf-8")
    return path


def test_exact_percentiles_on_known_data() -> None:
    """Small data gives NumPy-style interpolated percentiles, exactly."""
    q = Quantiles()
    data = [float(v) for v in range(1, 102)]  # 1..101
    random.Random(1).shuffle(data)
    for value in data:
        q.add(value)
    assert (q.quantile(0.5), q.quantile(0.95), q.quantile(0.99)) == (51.0, 96.0, 100.0)
    assert q.quantile(0.0) == 1.0
    assert q.quantile(1.0) == 101.0
    small = Quantiles()
    for value in (10.0, 20.0, 30.0, 40.0):
        small.add(value)
    expected = statistics.quantiles([10.0, 20.0, 30.0, 40.0], n=4, method="inclusive")
    assert [small.quantile(p) for p in (0.25, 0.5, 0.75)] == expected
    assert small.exact
    assert Quantiles().quantile(0.5) is None


def test_sketch_stays_within_relative_error() -> None:
    """Past EXACT_LIMIT values, every percentile is within 1% of the true one."""
    rng = random.Random(7)
    data = [rng.lognormvariate(6, 1.2) for _ in range(EXACT_LIMIT * 5)]
    q = Quantiles()
    for value in data:
        q.add(value)
    assert not q.exact
    data.sort()
    for p in (0.5, 0.9, 0.95, 0.99):
        true = data[round(p * (len(data) - 1))]
        assert abs(q.quantile(p) - true) / true <= RELATIVE_ERROR * 1.01  # type: ignore[operator]


def test_merge_keeps_exact_while_it_fits() -> None:
    """Merging two small groups is exact; a big merge switches to the sketch."""
    a, b = Quantiles(), Quantiles()
    for v in range(100):
        a.add(float(v))
        b.add(float(v + 100))
    a.merge(b)
    assert a.exact
    assert (a.count, a.quantile(0.5)) == (200, 99.5)
    big = Quantiles()
    for v in range(EXACT_LIMIT):
        big.add(float(v + 1))
    big.merge(a)
    assert not big.exact
    assert big.count == EXACT_LIMIT + 200


def test_aggregate_groups_rates_and_sums(tmp_path: Path) -> None:
    """Counts, success and cache-hit rates, tokens, cost and savings per agent, model, workflow."""
    text = "".join(
        [
            line(agent="a", latency_ms=100.0),
            line(agent="a", latency_ms=300.0, success=False, status="failed", error_type="E"),
            line(agent="b", model="n", cached=True, latency_ms=1.0, cost_usd=0.0, saved_usd=0.02),
            line(agent="b", model="n", workflow=None, cost_usd=None),
        ]
    )
    summary = aggregate(write(tmp_path, text))
    overall = summary.overall.to_dict()
    assert overall["calls"] == 4
    assert overall["success_rate"] == 0.75
    assert overall["cache_hit_rate"] == 0.25
    assert overall["tokens"]["input_tokens"] == 40
    assert overall["cost_usd"] == pytest.approx(0.02)
    assert overall["cost_unknown_calls"] == 1
    assert overall["saved_usd"] == pytest.approx(0.02)
    assert overall["errors"] == {"E": 1}
    assert set(summary.by_agent) == {"a", "b"}
    assert summary.by_agent["a"].to_dict()["latency_ms"]["p50"] == 200.0
    assert summary.by_model["n"].calls == 2
    assert summary.by_workflow["wf"].calls == 3  # the run_agent call has no workflow


def test_window_keeps_only_recent_calls(tmp_path: Path) -> None:
    """``hours`` drops older records (and reports when the window starts)."""
    text = "".join(
        line(ts=(NOW - timedelta(hours=h)).isoformat(), latency_ms=float(h)) for h in (1, 5, 30)
    )
    directory = write(tmp_path, text)
    assert aggregate(directory, now=NOW).overall.calls == 3
    recent = aggregate(directory, hours=6, now=NOW)
    assert recent.overall.calls == 2
    assert recent.since == NOW - timedelta(hours=6)
    assert aggregate(directory, hours=0.5, now=NOW).overall.calls == 0


def test_malformed_lines_are_skipped_and_counted(tmp_path: Path) -> None:
    """Bad JSON, non-objects, missing or wrong fields and bad bytes never raise."""
    bad = [
        "not json\n",
        "[1, 2]\n",
        '{"agent": "a"}\n',
        line(ts="yesterday"),
        line(latency_ms="fast"),
        line(agent=None),
        '{"ts": "2026-01-01T00:00:00", "agent": "a", "latency_ms": true}\n',
        "[" * 100_000 + "\n",
    ]
    directory = write(tmp_path, line() + "".join(bad) + line())
    with (directory / "executions.jsonl").open("ab") as out:
        out.write(b"\xff\xfe{\n")
    summary = aggregate(directory)
    assert (summary.overall.calls, summary.read.malformed) == (2, len(bad) + 1)
    assert summary.to_dict()["malformed_lines"] == len(bad) + 1


def test_empty_history_is_an_empty_summary(tmp_path: Path) -> None:
    """No folder at all: zero calls, no percentiles, no error."""
    summary = aggregate(tmp_path / "missing").to_dict()
    assert summary["overall"]["calls"] == 0
    assert summary["overall"]["latency_ms"]["p50"] is None
    assert find_anomalies(tmp_path / "missing") == []


def test_planted_outlier_is_found_with_its_run_id(tmp_path: Path) -> None:
    """One call 20× slower than its agent's usual is listed; the normal spread is not."""
    rng = random.Random(3)
    text = "".join(
        line(run_id=f"run{n}", latency_ms=rng.uniform(900, 1100), cost_usd=rng.uniform(0.01, 0.012))
        for n in range(200)
    )
    text += line(run_id="slow-run", step_id="review", latency_ms=20_000.0, cost_usd=0.011)
    text += line(run_id="cheap-hit", cached=True, latency_ms=90_000.0, cost_usd=0.0)
    text += line(agent="rare", run_id="rare", latency_ms=1e6)  # too few calls to judge
    found = find_anomalies(write(tmp_path, text))
    assert [(a.run_id, a.step_id, a.metric) for a in found] == [
        ("slow-run", "review", "latency_ms")
    ]
    assert found[0].score > 3.5
    assert 900 < found[0].median < 1100
    assert found[0].to_dict()["run_id"] == "slow-run"


def test_identical_costs_fall_back_to_mean_deviation(tmp_path: Path) -> None:
    """When most values are equal (MAD = 0) a far outlier is still found."""
    text = "".join(line(run_id=f"r{n}", cost_usd=0.01) for n in range(50))
    text += "".join(line(run_id=f"s{n}", cost_usd=0.011) for n in range(5))
    text += line(run_id="pricey", cost_usd=0.5)
    found = find_anomalies(write(tmp_path, text))
    assert [(a.run_id, a.metric) for a in found] == [("pricey", "cost_usd")]


def _generate(path: Path, n: int) -> None:
    """Write ``n`` short metrics lines quickly (a template, 10,000 lines per write)."""
    path.mkdir(parents=True, exist_ok=True)
    template = (
        '{"ts":"2026-01-01T%02d:%02d:%02d+00:00","run_id":"r%d","agent":"a%d",'
        '"model":"m","success":true,"cached":false,"latency_ms":%d,"cost_usd":0.001}\n'
    )
    with (path / "executions.jsonl").open("w", encoding="ascii") as out:
        for start in range(0, n, 10_000):
            out.write(
                "".join(
                    template % (i // 3600 % 24, i // 60 % 60, i % 60, i, i % 5, i % 1000)
                    for i in range(start, min(start + 10_000, n))
                )
            )


@pytest.mark.slow
def test_streaming_memory_does_not_grow_with_the_file(tmp_path: Path) -> None:
    """Peak traced memory for 60,000 lines is small and about that of 20,000."""
    peaks = []
    for n in (20_000, 60_000):
        directory = tmp_path / str(n)
        _generate(directory, n)
        tracemalloc.start()
        summary = aggregate(directory)
        peaks.append(tracemalloc.get_traced_memory()[1])
        tracemalloc.stop()
        assert summary.overall.calls == n
    assert peaks[1] < 5 * 2**20
    assert peaks[1] < peaks[0] * 1.5


_MEASURE = textwrap.dedent(
    """
    import json, resource, sys
    from pathlib import Path
    from claude_force_trio._metrics import aggregate
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    summary = aggregate(Path(sys.argv[1]))
    after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"calls": summary.overall.calls, "grew_kb": after - before,
                      "p50": summary.overall.latency.quantile(0.5)}))
    """
)


@pytest.mark.slow
def test_a_million_lines_in_bounded_memory(tmp_path: Path) -> None:
    """1,000,000 lines (~120 MB) aggregate with the process growing by under 50 MB.

    Measured as peak RSS in a child process: tracemalloc would make this pass 4× slower.
    """
    _generate(tmp_path, 1_000_000)
    size = (tmp_path / "executions.jsonl").stat().st_size
    out = subprocess.run(
        [sys.executable, "-c", _MEASURE, str(tmp_path)], capture_output=True, check=True, text=True
    )
    result = json.loads(out.stdout)
    assert result["calls"] == 1_000_000
    assert result["grew_kb"] * 1024 < 50 * 2**20 < size
    assert abs(result["p50"] - 499.5) / 499.5 < RELATIVE_ERROR


def test_read_records_yields_normalised_records(tmp_path: Path) -> None:
    """Records come back typed: an aware datetime, floats, ints, None for bad optionals."""
    directory = write(tmp_path, line(ts="2026-01-01T00:00:00", ttft_ms="x", attempts=True))
    (record,) = read_records(directory)
    assert record["ts"] == datetime(2026, 1, 1, tzinfo=UTC)
    assert record["ttft_ms"] is None
    assert record["attempts"] == 0
