"""Run Claude Force 1.3.2's own orchestrator tests, unchanged, against claude_force_trio.compat.

Called by ``nox -s claude_force_suite`` inside a virtualenv that holds the real
claude-force 1.3.2 (its other modules are what the tests import besides the
orchestrators), pytest, pytest-asyncio and this package. Steps:

1. download the claude-force 1.3.2 sdist from the package index, now, checked
   against its published sha256 (nothing of it is committed to this repository);
2. extract it, but its package source, into a temporary directory (the tests
   read its ``.claude/`` config; its pyproject makes that directory pytest's
   rootdir, so this repository's pytest settings do not apply; its own
   ``addopts``, coverage flags, is neutralised with ``-o addopts=``);
3. run the target test files there with the shim plugin
   (``.ci/claude_force_shim_plugin.py``) and every id of
   ``.ci/claude_force_excluded.txt`` passed as ``--deselect``.

The exit code is pytest's: non-zero if any test that is not excluded fails.

Usage: ``python .ci/claude_force_suite.py [--baseline] [--cache DIR] [TEST_FILE ...]``.
``--baseline`` runs the same files against the original Claude Force, with no
exclusions, to see what fails there too.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
VERSION = "1.3.2"
#: sha256 of claude_force-1.3.2.tar.gz as published on the package index.
SDIST_SHA256 = "4532a1c143a89440c75fc922d6affdfa22429b2a0dc39c1c6a91314d329d10e0"
EXCLUDED = HERE / "claude_force_excluded.txt"
#: The test files that exercise the orchestrators (paths inside the sdist).
TARGETS = (
    "tests/test_async_orchestrator.py",
    "tests/test_agent_definition_caching.py",
    "tests/integration/test_error_messages.py",
    "tests/integration/test_orchestrator_end_to_end.py",
    "tests/test_hybrid_orchestrator.py",
    "tests/test_performance_integration.py",
    "tests/test_stress_cli_orchestrator.py",
    "tests/test_feature_integration.py",
    "tests/test_error_handling.py",
    "tests/test_performance.py",
    "tests/test_stress_critical.py",
    "tests/test_performance_benchmarks.py",
    "tests/test_performance_load.py",
)
#: Nothing the tests run may reach the real API, nor write the user's state.
SCRUBBED = ("ANTHROPIC_API_KEY", "ANTHROPIC_AUTH_TOKEN", "ANTHROPIC_BASE_URL", "CFT_CONFIG")


def download(cache: Path) -> Path:
    """The sdist, fetched with pip (reused when a previous run left it in ``cache``)."""
    cache.mkdir(parents=True, exist_ok=True)
    requirements = cache / "requirements.txt"
    requirements.write_text(f"claude-force=={VERSION} --hash=sha256:{SDIST_SHA256}\n")
    subprocess.run(
        [
            *(sys.executable, "-m", "pip", "download", "--quiet", "--no-deps"),
            *("--no-binary", ":all:", "--require-hashes", "-r", str(requirements)),
            *("--dest", str(cache)),
        ],
        check=True,
    )
    return cache / f"claude_force-{VERSION}.tar.gz"


def extract(sdist: Path, into: Path) -> Path:
    """Extract the sdist but its package source; return its root directory.

    The tests read files of the sdist (its ``.claude/`` config and agents, its
    ``pyproject.toml``); the package itself is left out, so ``claude_force`` is
    imported from the installed distribution, where the shim overlays it.
    """
    prefix = f"claude_force-{VERSION}/"
    left_out = (prefix + "claude_force/", prefix + "claude_force.egg-info/")
    with tarfile.open(sdist) as archive:
        members = [m for m in archive.getmembers() if not m.name.startswith(left_out)]
        if hasattr(tarfile, "data_filter"):  # 3.11.4+: refuse links and paths out of ``into``
            archive.extractall(into, members=members, filter="data")
        else:  # pragma: no cover - older 3.11 patch releases
            archive.extractall(into, members=members)
    return into / prefix


def exclusions(files: list[str]) -> list[str]:
    """The excluded test ids of ``files``, from the exclusions file (each must give a reason)."""
    ids = []
    for number, line in enumerate(EXCLUDED.read_text(encoding="utf-8").splitlines(), start=1):
        test_id, _, reason = line.partition("#")
        test_id = test_id.strip()
        if not test_id:
            continue
        if not reason.strip():
            sys.exit(f"error: {EXCLUDED.name}:{number}: an excluded test needs a reason (# ...)")
        if test_id.split("::", 1)[0] in files:
            ids.append(test_id)
    return ids


def run(root: Path, files: list[str], *, baseline: bool, home: Path) -> int:
    """Run pytest on ``files`` in ``root``; return its exit code."""
    env = {k: v for k, v in os.environ.items() if k not in SCRUBBED}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(HERE), env.get("PYTHONPATH")]))
    # Tests that mock anthropic.Client do not reach our HTTP client's mocks: a closed
    # loopback port makes any request they send fail at once, never leave the machine.
    env["ANTHROPIC_BASE_URL"] = "http://127.0.0.1:9"
    env["CFT_HOME"] = str(home)
    env["HOME"] = str(home)  # Claude Force keeps its own state under ~/.claude
    env["CLAUDE_FORCE_SUITE_BASELINE"] = "1" if baseline else "0"
    deselect = [] if baseline else [f"--deselect={test_id}" for test_id in exclusions(files)]
    command = [
        *(sys.executable, "-m", "pytest", "-q", "-rfEs", "-p", "no:cacheprovider"),
        *("-p", "claude_force_shim_plugin", "-o", "addopts=", "-W", "ignore"),
        *deselect,
        *files,
    ]
    print(f"{len(files)} files, {len(deselect)} excluded tests, baseline={baseline}", flush=True)
    return subprocess.run(command, cwd=root, env=env, check=False).returncode


def main() -> int:
    """Download, extract, run; print the time it took."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline", action="store_true", help="run against the original")
    parser.add_argument("--cache", type=Path, default=Path(tempfile.gettempdir()) / "cf-sdist")
    parser.add_argument("files", nargs="*", help="test files inside the sdist (default: all)")
    args = parser.parse_args()
    started = time.monotonic()
    sdist = download(args.cache)
    with tempfile.TemporaryDirectory(prefix="claude-force-suite-") as scratch:
        root = extract(sdist, Path(scratch))
        home = Path(scratch) / "home"
        home.mkdir()
        code = run(root, list(args.files) or list(TARGETS), baseline=args.baseline, home=home)
    print(f"claude_force_suite: exit {code} in {time.monotonic() - started:.1f} s", flush=True)
    return code


if __name__ == "__main__":
    sys.exit(main())
