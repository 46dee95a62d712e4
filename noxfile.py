"""Developer tasks: ``nox -s tests``, ``slow``, ``lint``, ``typing``, ``demo``, ``bench``.

Each session installs the project from this checkout into its own virtualenv,
so a fresh clone needs nothing but nox. ``.ci/run`` runs lint, typing, tests
and slow, in that order: the release bar.
"""

from __future__ import annotations

import os

import nox

nox.options.sessions = ["lint", "typing", "tests", "slow"]
nox.options.reuse_existing_virtualenvs = True

PYTHON = os.environ.get("CFT_NOX_PYTHON") or None  # None: the interpreter running nox
PATHS = ("src", "tests", "benchmarks", "examples", "noxfile.py")


@nox.session(python=PYTHON)
def tests(session: nox.Session) -> None:
    """Run the test suite with branch coverage (the README's test command).

    Slow crash and load tests (``-m slow``) have their own session.
    """
    session.install("-e", ".[test]")
    session.run("coverage", "erase")
    session.run(
        "coverage",
        "run",
        "-m",
        "pytest",
        "-m",
        "not slow",
        *(session.posargs or ["-q"]),
    )
    session.run("coverage", "combine", "--quiet", success_codes=[0, 1])
    session.run("coverage", "report")


@nox.session(python=PYTHON)
def slow(session: nox.Session) -> None:
    """The slow tests: fd-limited runs, full garbling sweeps, memory growth (no coverage)."""
    session.install("-e", ".[test]")
    session.run("pytest", "-m", "slow", *(session.posargs or ["-q"]))


@nox.session(python=PYTHON)
def lint(session: nox.Session) -> None:
    """ruff: lint and formatting."""
    session.install("ruff>=0.6")
    session.run("ruff", "check", *PATHS)
    session.run("ruff", "format", "--check", *PATHS)


@nox.session(python=PYTHON)
def typing(session: nox.Session) -> None:
    """mypy --strict over the package and its tests."""
    session.install("-e", ".[test]", "mypy>=1.11", "types-jsonschema")
    session.run("mypy")


@nox.session(python=PYTHON)
def demo(session: nox.Session) -> None:
    """The main job: the code-quality-check DAG on the embedded simulator, live table."""
    session.install("-e", ".")
    session.run(
        "cft",
        "--config",
        "examples/.claude/claude.json",
        "--simulate",
        "workflow",
        "run",
        "code-quality-check",
        *session.posargs,
    )


@nox.session(python=PYTHON)
def bench(session: nox.Session) -> None:
    """Benchmarks: ratios against baselines measured in the same run."""
    session.install("-e", ".[test]")
    scripts = session.posargs or [
        "overhead",
        "throughput",
        "dag",
        "scale",
        "ratelimit",
        "cache",
        "metrics",
        "progress",
    ]
    for name in scripts:
        session.run("python", f"benchmarks/{name}.py")
