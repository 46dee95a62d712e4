"""A pytest plugin for the Claude Force suite: the import shim, on before any test imports.

Loaded with ``-p claude_force_shim_plugin`` by ``.ci/claude_force_suite.py``: it
overlays the installed Claude Force 1.3.2, so ``claude_force.orchestrator``,
``.async_orchestrator`` and ``.hybrid_orchestrator`` are served by
``claude_force_trio.compat`` while every other module of the real package stays.
With ``CLAUDE_FORCE_SUITE_BASELINE=1`` it leaves the original in place (to see
what fails on Claude Force itself). Either way it refuses a ``--deselect`` that
matches no test, so the exclusion list cannot go stale unnoticed.
"""

from __future__ import annotations

import os

import pytest

if os.environ.get("CLAUDE_FORCE_SUITE_BASELINE") != "1":
    from claude_force_trio._shim import activate

    activate(overlay=True)


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Fail the run on an exclusion that names no collected test (it would hide nothing)."""
    stale = [
        prefix
        for prefix in config.getoption("deselect") or []
        if not any(item.nodeid.startswith(prefix) for item in items)
    ]
    if stale:
        raise pytest.UsageError("excluded tests that do not exist: " + ", ".join(stale))
