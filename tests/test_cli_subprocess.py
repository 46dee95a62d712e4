"""The CLI as users run it: a real process, real pipes, real signals.

In-process tests cannot see what only a real process shows: that nothing but
the answer reaches stdout, that an error is one line with no traceback, and that
Ctrl-C (SIGINT) ends a server or a workflow cleanly.
"""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import IO

import httpx
import pytest

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
CFT = [sys.executable, "-m", "claude_force_trio"]
TIMEOUT_S = 30.0

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    """The environment of a key-less machine with an instant simulator."""
    clean = {
        k: v
        for k, v in os.environ.items()
        if k not in ("ANTHROPIC_API_KEY", "ANTHROPIC_BASE_URL", "ANTHROPIC_AUTH_TOKEN")
        and not k.startswith("CFT_")
    }
    return clean | {"CFT_HOME": str(tmp_path / "home"), "CFT_SIM_LATENCY_SCALE": "0"}


def run(*args: str, env: dict[str, str], cwd: Path = EXAMPLES) -> subprocess.CompletedProcess[str]:
    """Run ``python -m claude_force_trio ARGS`` to completion."""
    return subprocess.run(
        [*CFT, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=TIMEOUT_S
    )


class Lines:
    """Read a pipe's lines on a thread, so a test can wait for one with a timeout."""

    def __init__(self, stream: IO[str]) -> None:
        self.queue: queue.Queue[str] = queue.Queue()
        self.seen: list[str] = []
        self.thread = threading.Thread(target=self._pump, args=(stream,), daemon=True)
        self.thread.start()

    def _pump(self, stream: IO[str]) -> None:
        for line in stream:
            self.queue.put(line)

    def wait_for(self, text: str, timeout: float = TIMEOUT_S) -> str:
        """Return the first line containing ``text``; fail after ``timeout`` seconds."""
        while True:
            try:
                line = self.queue.get(timeout=timeout)
            except queue.Empty:
                pytest.fail(f"no line with {text!r} within {timeout} s; got {self.seen!r}")
            self.seen.append(line)
            if text in line:
                return line

    def rest(self) -> str:
        """Every line not yet taken, up to the end of the stream (the process has ended)."""
        self.thread.join(TIMEOUT_S)
        out = []
        while not self.queue.empty():
            out.append(self.queue.get())
        return "".join(out)


def test_run_without_key_uses_simulator(env: dict[str, str]) -> None:
    """No key: exit 0, the answer on stdout, the notice only on stderr (default config path)."""
    proc = run("run", "linter", "Review def f(x=[]): pass", env=env)
    assert proc.returncode == 0, proc.stderr
    assert "def f(x=[]): pass" in proc.stdout
    assert "notice:" not in proc.stdout
    assert proc.stderr.startswith("notice: no ANTHROPIC_API_KEY set")


def test_run_json_is_one_document(env: dict[str, str]) -> None:
    """--json: stdout parses as exactly one JSON document."""
    proc = run("run", "linter", "hello", "--json", env=env)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["status"] == "succeeded"


def test_bad_config_is_one_line(env: dict[str, str], tmp_path: Path) -> None:
    """A malformed config: exit 2, exactly one stderr line, no traceback."""
    bad = tmp_path / "claude.json"
    bad.write_text('{"agents": [}', encoding="utf-8")
    proc = run("--config", str(bad), "run", "linter", "hi", env=env)
    assert proc.returncode == 2
    assert proc.stdout == ""
    assert len(proc.stderr.splitlines()) == 1, proc.stderr
    assert proc.stderr.startswith(f"error: {bad}")
    assert "Traceback" not in proc.stderr


def test_sim_serve_answers_and_stops_on_sigint(env: dict[str, str]) -> None:
    """sim serve --port 0 prints its URL first, answers a request, and exits 0 on Ctrl-C."""
    command = [*CFT, "sim", "serve", "--port", "0", "--latency-ms", "0", "--tokens-per-s", "0"]
    with subprocess.Popen(
        command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    ) as proc:
        lines = Lines(proc.stdout)  # type: ignore[arg-type]
        try:
            first = lines.wait_for("simulator listening on")
            url = first.strip().rsplit(" ", 1)[-1]
            response = httpx.post(
                f"{url}/v1/messages",
                headers={"x-api-key": "anything", "anthropic-version": "2023-06-01"},
                json={
                    "model": "claude-haiku-4-5",
                    "max_tokens": 64,
                    "messages": [{"role": "user", "content": "ping"}],
                },
                timeout=TIMEOUT_S,
            )
            assert response.status_code == 200
            assert response.json()["type"] == "message"
            proc.send_signal(signal.SIGINT)
            assert proc.wait(timeout=TIMEOUT_S) == 0
            assert proc.stderr is not None
            assert "Traceback" not in proc.stderr.read()
        finally:
            if proc.poll() is None:
                proc.kill()
            lines.thread.join(TIMEOUT_S)  # before the pipe is closed under the reader


@pytest.mark.slow
def test_workflow_ctrl_c_prints_partial_result(env: dict[str, str]) -> None:
    """Ctrl-C during workflow run: steps cancelled, result still printed, exit 130."""
    slow = env | {"CFT_SIM_LATENCY_SCALE": "20"}  # seconds per step: still running at SIGINT
    with subprocess.Popen(
        [*CFT, "workflow", "run", "code-quality-check"],
        cwd=EXAMPLES,
        env=slow,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    ) as proc:
        lines = Lines(proc.stdout)  # type: ignore[arg-type]
        try:
            lines.wait_for("started   (")
            proc.send_signal(signal.SIGINT)
            assert proc.wait(timeout=TIMEOUT_S) == 130
            out = "".join(lines.seen) + lines.rest()
            assert "cancelled" in out
            assert "skipped" in out
            assert proc.stderr is not None
            err = proc.stderr.read()
            assert "stopped by Ctrl-C" in err
            assert "Traceback" not in err
        finally:
            if proc.poll() is None:
                proc.kill()
            lines.thread.join(TIMEOUT_S)  # before the pipe is closed under the reader
