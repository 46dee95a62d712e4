"""The examples run as users would run them: the trio one and the asyncio one."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).parents[1] / "examples"


@pytest.mark.parametrize(
    ("script", "expected"),
    [
        (
            "embed.py",
            (
                "the code-quality-check DAG:",
                "tool      scan     search_text (turn 1): ok",
                "tool      review   read_file (turn 1): ok",
                '"severity": "low"',
            ),
        ),
        ("embed_asyncio.py", ("all of it concurrently, on asyncio",)),
    ],
)
def test_example_runs(script: str, expected: tuple[str, ...], tmp_path: Path) -> None:
    """Each example runs to the end on the embedded simulator with no key and no network."""
    env = {**os.environ, "CFT_HOME": str(tmp_path), "CFT_SIM_LATENCY_SCALE": "0"}
    for name in ("ANTHROPIC_API_KEY", "ANTHROPIC_AUTH_TOKEN", "ANTHROPIC_BASE_URL"):
        env.pop(name, None)
    done = subprocess.run(
        [sys.executable, str(EXAMPLES / script)],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    for line in expected:
        assert line in done.stdout
    assert "Traceback" not in done.stderr
