"""A run with fewer file descriptors than connections finishes (issue 9, item 6a).

``cft run-many`` runs in a child process whose ``RLIMIT_NOFILE`` is 128, with
300 calls at concurrency 256 against a simulator in *another* process (so the
simulator's sockets do not count against the limit) whose replies take long
enough that far more than 128 connections are wanted at once. Connect errors
(EMFILE) are this machine's, not the server's: they must back off and retry
without opening the circuit breaker, and every call's metrics record is kept.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from claude_force_trio._metrics._record import is_state_line

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
CALLS = 300
CONCURRENCY = 256
FD_LIMIT = 128
CFT = [sys.executable, "-m", "claude_force_trio"]
RUN_MANY_OPTIONS = ["--max-concurrency", str(CONCURRENCY), "--json"]

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(sys.platform == "win32", reason="POSIX resource limits"),
]

# Lower the limit, then run the CLI exactly as ``python -m claude_force_trio`` would.
_LIMITED_CLI = f"""
import resource, runpy, sys
resource.setrlimit(resource.RLIMIT_NOFILE, ({FD_LIMIT}, {FD_LIMIT}))
sys.argv = ["cft", *sys.argv[1:]]
runpy.run_module("claude_force_trio", run_name="__main__")
"""


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    """A clean environment with its own CFT_HOME and no proxy or key of the machine's."""
    clean = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("ANTHROPIC_", "CFT_")) and not k.lower().endswith("_proxy")
    }
    return clean | {"CFT_HOME": str(tmp_path / "home"), "CFT_SIM_LATENCY_SCALE": "1"}


@pytest.fixture
def simulator_url(env: dict[str, str]) -> Iterator[str]:
    """``cft sim serve`` in its own process: 300 ms replies, no fd limit of ours."""
    proc = subprocess.Popen(
        [*CFT, "sim", "serve", "--port", "0", "--latency-ms", "300", "--tokens-per-s", "0"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert "listening on" in line, line
        yield line.rsplit(" ", 1)[-1].strip()
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        if proc.stdout is not None:
            proc.stdout.close()


def test_fd_limited_run_many_finishes(
    env: dict[str, str], simulator_url: str, tmp_path: Path
) -> None:
    """With RLIMIT_NOFILE 128, 300 calls at 256: ≥ 99% succeed, none as "circuit open"."""
    jobs = tmp_path / "jobs.jsonl"
    jobs.write_text(
        "".join(
            json.dumps({"agent": "linter", "task": f"lint file {i}"}) + "\n" for i in range(CALLS)
        )
    )
    run_env = env | {"ANTHROPIC_BASE_URL": simulator_url, "ANTHROPIC_API_KEY": "fake-key-fd-test"}
    done = subprocess.run(
        [sys.executable, "-c", _LIMITED_CLI, "run-many", str(jobs), *RUN_MANY_OPTIONS],
        cwd=EXAMPLES,
        env=run_env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert "Traceback" not in done.stderr, done.stderr[-3000:]
    results = json.loads(done.stdout)["results"]
    assert len(results) == CALLS
    failed = [r for r in results if r["status"] != "succeeded"]
    assert len(failed) <= CALLS // 100, {r["error_type"] for r in failed}
    assert not [r for r in failed if r["error_type"] == "CircuitOpenError"]
    lines = Path(env["CFT_HOME"], "metrics", "executions.jsonl").read_bytes().splitlines()
    records = [line for line in lines if not is_state_line(line)]
    assert len(records) == CALLS, f"{len(records)} metrics records for {CALLS} calls"
    # The limit moved all the time here; only its latest value per write is kept.
    assert len(lines) - len(records) < CALLS // 10
