"""Developer tasks: ``nox -s tests``, ``lint``, ``typing``, ``demo``, ``bench``.

Each session installs the project from this checkout into its own virtualenv,
so a fresh clone needs nothing but nox.
"""

from __future__ import annotations

import os

import nox

nox.options.sessions = ["tests", "lint", "typing"]
nox.options.reuse_existing_virtualenvs = True

PYTHON = os.environ.get("CFT_NOX_PYTHON") or None  # None: the interpreter running nox


@nox.session(python=PYTHON)
def tests(session: nox.Session) -> None:
    """Run the test suite with branch coverage (the README's test command)."""
    session.install("-e", ".[test]")
    session.run("coverage", "erase")
    session.run(
        "coverage",
        "run",
        "-m",
        "pytest",
        *(session.posargs or ["-q"]),
    )
    session.run("coverage", "combine", "--quiet", success_codes=[0, 1])
    session.run("coverage", "report")


@nox.session(python=PYTHON)
def lint(session: nox.Session) -> None:
    """ruff: lint and formatting."""
    session.install("ruff>=0.6")
    session.run("ruff", "check", "src", "tests", "benchmarks", "examples", "noxfile.py")
    session.run("ruff", "format", "--check", "src", "tests", "benchmarks", "examples", "noxfile.py")


@nox.session(python=PYTHON)
def typing(session: nox.Session) -> None:
    """mypy --strict over the package."""
    session.install("-e", ".[test]", "mypy>=1.11")
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
    scripts = session.posargs or ["overhead", "throughput", "dag", "ratelimit", "cache", "metrics"]
    for name in scripts:
        session.run("python", f"benchmarks/{name}.py")
