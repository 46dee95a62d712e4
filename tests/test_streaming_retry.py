"""A retried stream shows each token of the final answer once (library and ``cft run --stream``).

The simulator's scripted ``stream_error`` fault sends about half the reply's
deltas, then an SSE ``error`` event; the engine retries, and the new attempt's
text starts from the beginning again.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import trio
import trio.testing
from typer.testing import CliRunner, Result

from claude_force_trio import Backend, open_engine
from claude_force_trio._config import Config, RetryConfig
from claude_force_trio._events import StepRetrying
from claude_force_trio._results import StepResult
from claude_force_trio.cli import _console, app
from claude_force_trio.simulator import (
    Fault,
    SimulatorHandle,
    open_simulator,
    run_simulator_in_thread,
)

from .engine_support import FakeAPI, make_config
from .test_cli import write_config

TASK = "do <<a>> and explain it at some length"
RESTARTED = (
    "↻ attempt 2: stream interrupted (stream error (overloaded_error): Overloaded), restarting"
)


def quick_retries(attempts: int = 3, *, cache: bool = False) -> Config:
    """make_config() with retries that wait a millisecond at most."""
    retry = RetryConfig(max_attempts=attempts, initial_delay_s=0.001, max_delay_s=0.001)
    return replace(make_config(cache=cache), retry=retry)


async def streamed(
    script: Sequence[Fault | None], *, attempts: int = 3, restarts: bool = True
) -> tuple[StepResult, list[tuple[str, Any]]]:
    """Run one streamed agent call against the simulator; return its result and what it saw.

    The log holds ``("text", chunk)``, ``("restart", n)`` and ``("retrying", attempt)``
    entries in the order they happened.
    """
    seen: list[tuple[str, Any]] = []

    def hook(event: object) -> None:
        if isinstance(event, StepRetrying):
            seen.append(("retrying", event.attempt))

    with trio.fail_after(10):
        async with open_simulator(ttft_ms=0, tokens_per_s=0) as sim:
            sim.script(*script)
            async with open_engine(
                quick_retries(attempts), backend=Backend.url(sim.url, "sk-sim")
            ) as engine:
                result = await engine.run_agent(
                    "worker",
                    TASK,
                    on_text=lambda chunk: seen.append(("text", chunk)),
                    on_restart=(lambda n: seen.append(("restart", n))) if restarts else None,
                    hooks=[hook],
                )
    return result, seen


def texts(seen: Sequence[tuple[str, Any]]) -> str:
    """The text chunks of a log, joined."""
    return "".join(value for kind, value in seen if kind == "text")


def after_last_restart(seen: list[tuple[str, Any]]) -> list[tuple[str, Any]]:
    """The log entries after the last ``restart``."""
    marks = [i for i, (kind, _) in enumerate(seen) if kind == "restart"]
    return seen[marks[-1] + 1 :] if marks else seen


# ------------------------------------------------------------------ the library


async def test_on_restart_voids_the_partial_text() -> None:
    """After a mid-stream error on_restart(2) comes once; the chunks after it are the output."""
    result, seen = await streamed([Fault("stream_error"), None])
    assert result.ok
    assert result.attempts == 2
    restarts = [value for kind, value in seen if kind == "restart"]
    assert restarts == [2]
    cut = seen.index(("restart", 2))
    partial = texts(seen[:cut])
    assert partial
    assert result.output is not None
    assert result.output.startswith(partial)
    assert partial != result.output
    assert texts(seen[cut + 1 :]) == result.output
    # The reason reached the hooks before the restart: a display can say why.
    assert seen[cut - 1] == ("retrying", 1)


async def test_without_on_restart_the_chunks_repeat_as_documented() -> None:
    """The default (no on_restart): the failed attempt's text, then the whole new reply."""
    result, seen = await streamed([Fault("stream_error"), None], restarts=False)
    assert result.ok
    assert result.output is not None
    joined = texts(seen)
    assert joined.endswith(result.output)
    assert result.output.startswith(joined[: -len(result.output)])
    assert len(joined) > len(result.output)


async def test_a_failure_before_any_text_is_no_restart() -> None:
    """A 529 that delivered nothing calls no on_restart; the chunks are the output once."""
    result, seen = await streamed([Fault("529"), None])
    assert result.ok
    assert result.attempts == 2
    assert [kind for kind, _ in seen if kind == "restart"] == []
    assert texts(seen) == result.output


async def test_one_restart_for_text_voided_once() -> None:
    """Text, then a 529 with none, then success: one restart (2), none for attempt 3."""
    result, seen = await streamed([Fault("stream_error"), Fault("529"), None])
    assert result.ok
    assert result.attempts == 3
    assert [value for kind, value in seen if kind == "restart"] == [2]
    assert texts(after_last_restart(seen)) == result.output


async def test_every_attempt_failing_restarts_each_time_text_was_shown() -> None:
    """Two mid-stream errors with two attempts: failed, with on_restart(2) once."""
    result, seen = await streamed([Fault("stream_error"), Fault("stream_error")], attempts=2)
    assert result.status == "failed"
    assert "overloaded_error" in (result.error or "")
    assert [value for kind, value in seen if kind == "restart"] == [2]
    assert texts(after_last_restart(seen))  # the failed last attempt's partial text


async def test_a_json_answer_to_a_stream_is_delivered_once(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """A server that answers a stream request with JSON: on_text still gets the reply, once."""
    api = FakeAPI(latency={"a": 0.5})
    chunks: list[str] = []
    async with open_engine(
        make_config(), backend=Backend.url("http://api.test", "k"), transport=api.transport
    ) as engine:
        result = await engine.run_agent("worker", "do <<a>>", on_text=chunks.append)
    assert api.bodies["a"]["stream"] is True
    assert result.ok
    assert chunks == ["output of <<a>>"] == [result.output]
    assert trio.current_time() == 0.5


async def test_a_cached_answer_is_delivered_once() -> None:
    """A reply served from the response cache reaches on_text as one chunk, not twice."""
    chunks: list[str] = []
    with trio.fail_after(10):
        async with open_simulator(ttft_ms=0, tokens_per_s=0) as sim:
            backend = Backend.url(sim.url, "sk-sim")
            async with open_engine(quick_retries(cache=True), backend=backend) as engine:
                first = await engine.run_agent("worker", TASK)
                second = await engine.run_agent("worker", TASK, on_text=chunks.append)
    assert second.cached
    assert chunks == [first.output]


# ------------------------------------------------------------------ cft run --stream

AGENT = "# Explainer\n\nExplains things.\n"


@pytest.fixture
def project(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[Path, SimulatorHandle]]:
    """A one-agent config with millisecond retries, and a simulator the CLI points at."""
    doc = {
        "defaults": {"model": "haiku", "max_tokens": 256},
        "agents": {"explainer": {"file": "explainer.md"}},
        "retry": {"max_attempts": 3, "initial_delay_s": 0.001, "max_delay_s": 0.001},
    }
    config = write_config(tmp_path / "proj", doc, {"explainer": AGENT})
    for name in ("ANTHROPIC_API_KEY", "ANTHROPIC_AUTH_TOKEN", "CFT_CONFIG", "NO_COLOR"):
        monkeypatch.delenv(name, raising=False)
    with run_simulator_in_thread(ttft_ms=0, tokens_per_s=0) as sim:
        monkeypatch.setenv("ANTHROPIC_BASE_URL", sim.url)
        yield config, sim


def cft_run(config: Path, *extra: str) -> Result:
    """``cft --config CONFIG run explainer TASK --no-cache EXTRA`` in-process."""
    args = ["--config", str(config), "run", "explainer", TASK, "--no-cache", *extra]
    return CliRunner().invoke(app, args)


def answer_of(config: Path) -> str:
    """The reply a plain (non-streamed, fault-free) run prints, without its final newline."""
    plain = cft_run(config)
    assert plain.exit_code == 0, plain.stderr
    return plain.stdout.removesuffix("\n")


def test_cli_stream_to_a_pipe_prints_only_the_final_answer(
    project: tuple[Path, SimulatorHandle],
) -> None:
    """Not a TTY: the retried stream is held, and stdout is the final answer exactly once."""
    config, sim = project
    answer = answer_of(config)
    sim.clear_log()
    sim.script(Fault("stream_error"), None)
    result = cft_run(config, "--stream")
    assert result.exit_code == 0, result.stderr
    assert [r.fault for r in sim.requests if r.path == "/v1/messages"] == ["stream_error", None]
    assert result.stdout == answer + "\n"
    assert "↻" not in result.stderr


def test_cli_stream_to_a_terminal_marks_the_restart(
    project: tuple[Path, SimulatorHandle], monkeypatch: pytest.MonkeyPatch
) -> None:
    """On a TTY: the partial text, a newline, the restart line on stderr, then the whole answer."""
    config, sim = project
    answer = answer_of(config)
    monkeypatch.setattr(_console, "terminal", lambda: True)
    sim.script(Fault("stream_error"), None)
    result = cft_run(config, "--stream")
    assert result.exit_code == 0, result.stderr
    assert result.stdout.endswith("\n" + answer + "\n")
    shown = result.stdout.removesuffix(answer + "\n")  # the partial text and its line's end
    assert answer.startswith(shown.removesuffix("\n"))
    assert len(shown) < len(answer)
    assert result.stderr.splitlines()[0] == RESTARTED


def test_cli_stream_that_fails_after_text_ends_its_line(
    project: tuple[Path, SimulatorHandle], monkeypatch: pytest.MonkeyPatch
) -> None:
    """On a TTY, a stream that fails for good leaves its partial line ended, then one error."""
    config, sim = project
    monkeypatch.setattr(_console, "terminal", lambda: True)
    sim.script(*[Fault("stream_error")] * 3)
    result = cft_run(config, "--stream")
    assert result.exit_code == 1
    # Three identical partial attempts (the simulator's reply is deterministic),
    # each left on a line of its own.
    third = result.stdout[: len(result.stdout) // 3]
    assert result.stdout == third * 3
    assert third.endswith("\n")
    assert result.stderr.count("↻ attempt") == 2
    assert result.stderr.splitlines()[-1].startswith("error: explainer: stream error")


def test_cli_stream_that_fails_for_good_prints_no_partial_to_a_pipe(
    project: tuple[Path, SimulatorHandle],
) -> None:
    """Not a TTY: a stream that fails on every attempt prints nothing on stdout, one error line."""
    config, sim = project
    sim.script(*[Fault("stream_error")] * 3)
    result = cft_run(config, "--stream")
    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr.splitlines() == [
        "error: explainer: stream error (overloaded_error): Overloaded"
    ]
