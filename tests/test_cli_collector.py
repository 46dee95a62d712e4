"""The CLI's young-generation threshold: in proportion to the calls in flight, restored after."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from pathlib import Path

import pytest

from claude_force_trio import load_config
from claude_force_trio._backend import Backend
from claude_force_trio.cli._app import open_cli_engine
from claude_force_trio.cli._collector import MAX_YOUNG, collector_for, young_threshold

EXAMPLES = Path(__file__).resolve().parents[1] / "examples" / ".claude" / "claude.json"


@pytest.fixture(autouse=True)
def default_thresholds() -> Iterator[None]:
    """Each test starts from CPython's defaults and leaves the process as it found it."""
    before = gc.get_threshold()
    gc.set_threshold(700, 10, 10)
    yield
    gc.set_threshold(*before)


@pytest.mark.parametrize(
    ("in_flight", "current", "expected"),
    [(1024, 700, 32 * 1024), (10, 700, 700), (10_000, 700, MAX_YOUNG), (1024, 50_000, 50_000)],
)
def test_the_threshold_follows_the_calls_in_flight(
    in_flight: int, current: int, expected: int
) -> None:
    """32 per call in flight, capped, and never below what was set already."""
    assert young_threshold(in_flight, current) == expected


def test_the_threshold_is_raised_for_the_run_and_restored_after_a_failure() -> None:
    """1,024 in flight: 32,768 inside, CPython's 700 again after (even when the run raises)."""
    inside = []

    def run() -> None:
        with collector_for(1024):
            inside.append(gc.get_threshold())
            raise RuntimeError("the run failed")

    with pytest.raises(RuntimeError):
        run()
    assert inside == [(32 * 1024, 10, 10)]
    assert gc.get_threshold() == (700, 10, 10)


def test_a_few_calls_or_a_higher_threshold_are_left_alone() -> None:
    """Ten in flight need nothing; a threshold the user raised further is theirs."""
    with collector_for(10):
        assert gc.get_threshold() == (700, 10, 10)
    gc.set_threshold(200_000, 10, 10)
    with collector_for(1024):
        assert gc.get_threshold() == (200_000, 10, 10)
    assert gc.get_threshold() == (200_000, 10, 10)


async def test_every_running_command_runs_under_it() -> None:
    """``open_cli_engine`` (run, run-many, workflow run) at 1,024: raised while it is open."""
    config = load_config(EXAMPLES)
    async with open_cli_engine(config, Backend.simulator(), no_cache=True, max_concurrency=1024):
        assert gc.get_threshold() == (32 * 1024, 10, 10)
    assert gc.get_threshold() == (700, 10, 10)
