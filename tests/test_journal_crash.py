"""Crash safety: ``kill -9`` a journalled ``workflow run --no-cache`` at random moments, resume.

A real CLI process runs a 12-step DAG against a simulator on a thread of this
process (so its request log outlives every kill), with 60 ms per request so
that kills land while steps are in flight. Each seed kills the run once or
twice at a seeded random moment after its first request, then resumes with
``cft workflow resume`` until the run is finished. After every kill the
journal passes ``PRAGMA integrity_check``; a step whose success was journalled
is never sent again (counted at the simulator by the step's own task); every
dependent's final request carries each dependency's journalled output once.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
import trio

from claude_force_trio._journal import RunRecord, open_journal
from claude_force_trio.simulator import RequestRecord, SimulatorConfig
from claude_force_trio.simulator._thread import SimulatorHandle, run_simulator_in_thread

from .engine_support import TASK_RE

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals"),
]

CFT = [sys.executable, "-m", "claude_force_trio"]
SEEDS = range(20)
#: Each step's dependencies: three roots, fan-out, fan-in, one sink.
DAG: dict[str, tuple[str, ...]] = {
    "k01": (),
    "k02": (),
    "k03": (),
    "k04": ("k01", "k02"),
    "k05": ("k02", "k03"),
    "k06": ("k03",),
    "k07": ("k04",),
    "k08": ("k04", "k05"),
    "k09": ("k06",),
    "k10": ("k07", "k08"),
    "k11": ("k08", "k09"),
    "k12": ("k10", "k11"),
}
#: A kill lands this long (at most) after the process's first request: about one run.
KILL_WINDOW_S = 0.25
PROCESS_TIMEOUT_S = 30.0


def write_project(root: Path) -> Path:
    """A claude.json with one agent and the 12-step workflow ``crash``."""
    (root / "agents").mkdir(parents=True)
    (root / "agents" / "worker.md").write_text("# Worker\n\nYou do one step of a larger job.\n")
    steps = [
        {"id": sid, "agent": "worker", "task": f"step <<{sid}>>", "dependencies": list(deps)}
        for sid, deps in DAG.items()
    ]
    config = {
        "version": "1.0.0",
        "name": "crash test",
        "agents": {"worker": {"file": "agents/worker.md", "max_tokens": 1024}},
        "workflows": {"crash": {"steps": steps}},
    }
    path = root / "claude.json"
    path.write_text(json.dumps(config))
    return path


def own_step(record: RequestRecord) -> str | None:
    """The step a ``/v1/messages`` request is for: the marker of its own task."""
    if record.path != "/v1/messages" or record.body is None:
        return None
    text = record.body["messages"][-1]["content"]
    own = text.split("# Your task", 1)[1] if "# Your task" in text else text
    found = TASK_RE.findall(own.split("##", 1)[0])
    return str(found[0]) if found else None


def sent(sim: SimulatorHandle) -> Counter[str]:
    """How many requests the simulator has seen for each step."""
    return Counter(s for s in map(own_step, sim.requests) if s is not None)


def integrity(db: Path) -> str:
    """SQLite's verdict on the journal file.

    Closed explicitly: ``with sqlite3.connect()`` only ends a transaction, and a
    connection left open in this process would see the next process's file
    through its stale shared-memory index ("malformed" where there is no damage).
    """
    with contextlib.closing(sqlite3.connect(db)) as connection:
        return str(connection.execute("PRAGMA integrity_check").fetchone()[0])


def latest_run(db: Path) -> RunRecord | None:
    """The journal's only run (each seed has a home of its own), if it got that far."""

    async def read() -> RunRecord | None:
        async with open_journal(db) as journal:
            runs = await journal.list_runs()
        assert len(runs) <= 1
        return runs[0] if runs else None

    return trio.run(read)


def wait_for_first_request(
    sim: SimulatorHandle, before: int, proc: subprocess.Popen[bytes]
) -> None:
    """Return once the process has sent a request (or ended, or 10 s passed)."""
    deadline = time.monotonic() + 10.0
    while len(sim.requests) <= before and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.005)


@pytest.fixture(scope="module")
def sim() -> Iterator[SimulatorHandle]:
    """One simulator for every seed, on a thread of this process, 60 ms per request."""
    with run_simulator_in_thread(SimulatorConfig(ttft_ms=60, tokens_per_s=0)) as handle:
        yield handle


def crash_env(home: Path, config: Path, sim: SimulatorHandle) -> dict[str, str]:
    """A clean environment pointing the CLI at the simulator, with a home of its own."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("ANTHROPIC_", "CFT_"))}
    return clean | {
        "CFT_HOME": str(home),
        "CFT_CONFIG": str(config),
        "ANTHROPIC_BASE_URL": sim.url,
        "ANTHROPIC_API_KEY": "fake-key-crash-test-key",
    }


def check_delivery(sim: SimulatorHandle, document: Mapping[str, Any]) -> None:
    """Each dependent's final request holds each dependency's journalled output exactly once."""
    outputs = {s["id"]: s["output"] for s in document["steps"]}
    final: dict[str, str] = {}
    for record in sim.requests:
        step_id = own_step(record)
        if step_id is not None and record.status == 200 and record.body is not None:
            final[step_id] = record.body["messages"][-1]["content"]
    for step_id, deps in DAG.items():
        for dep in deps:
            assert final[step_id].count(outputs[dep].strip()) == 1, (step_id, dep)


@pytest.mark.parametrize("seed", SEEDS)
def test_kill_nine_then_resume_pays_nothing_twice(
    seed: int, sim: SimulatorHandle, tmp_path: Path
) -> None:
    """Killed once or twice mid-run, resumed to the end: no journalled success is ever re-sent."""
    rng = random.Random(seed)
    env = crash_env(tmp_path / "home", write_project(tmp_path / "project"), sim)
    db = tmp_path / "home" / "runs" / "journal.db"
    sim.clear_log()
    kills = rng.randint(1, 2)
    journalled_at: dict[str, int] = {}  # step → its request count when its success was seen
    record: RunRecord | None = None
    kinds: list[str] = []
    for attempt in range(kills + 3):
        if record is None:
            command = [*CFT, "workflow", "run", "crash", "--no-cache"]
        else:
            command = [*CFT, "workflow", "resume", record.run_id, "--no-cache"]
        before = len(sim.requests)
        proc = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        if attempt < kills:
            wait_for_first_request(sim, before, proc)
            time.sleep(rng.uniform(0.0, KILL_WINDOW_S))
            proc.kill()
        _, stderr = proc.communicate(timeout=PROCESS_TIMEOUT_S)
        # A kill may land after the process ended by itself; it must not have failed.
        assert proc.returncode in ((0, -signal.SIGKILL) if attempt < kills else (0,)), stderr
        if db.exists():
            assert integrity(db) == "ok"
            record = latest_run(db) or record
        done = record is not None and record.status == "succeeded"
        kinds.append("finished" if not proc.returncode else "killed after" if done else "killed")
        counts = sent(sim)
        if record is not None:
            for step_id, step in record.steps.items():
                if step["status"] == "succeeded":
                    journalled_at.setdefault(step_id, counts[step_id])
        if record is not None and record.status == "succeeded":
            break
    assert record is not None, "the run never started"
    assert record.status == "succeeded", "the run never finished"
    assert record.document is not None
    counts = sent(sim)
    assert {sid: counts[sid] for sid in journalled_at} == journalled_at
    assert set(journalled_at) == set(DAG)
    check_delivery(sim, record.document)
    print(f"seed {seed}: {' → '.join(kinds)}; requests per step {dict(sorted(counts.items()))}")
