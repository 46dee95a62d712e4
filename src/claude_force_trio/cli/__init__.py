"""The ``cft`` command line: typer + rich, one module per command group.

``app`` is the root typer app (global options and error handling live in
``_app``); each group module contributes its commands here, in one place, so the
shape of the CLI can be read at a glance. ``main()`` is the
console-script entry point and what ``python -m claude_force_trio`` calls.
"""

from __future__ import annotations

from . import (
    _console,
    agents,
    batches,
    budget,
    cache,
    compat,
    config,
    dashboard,
    doctor,
    init,
    memory,
    metrics,
    run,
    runs,
    sim,
    submit,
    worker,
    workflow,
)
from ._app import app, state_dir

__all__ = ["app", "main", "state_dir"]

app.command("run")(run.run)
app.command("run-many")(run.run_many)
app.add_typer(workflow.app, name="workflow")
app.add_typer(runs.app, name="runs")
app.add_typer(batches.app, name="batches")
app.add_typer(budget.app, name="budget")
app.add_typer(agents.app, name="agents")
app.add_typer(cache.app, name="cache")
app.add_typer(sim.app, name="sim")
app.add_typer(config.app, name="config")
app.command("init")(init.init)
app.add_typer(metrics.app, name="metrics")
app.command("dashboard")(dashboard.dashboard)
app.add_typer(memory.app, name="memory")
app.command("doctor")(doctor.doctor)
app.add_typer(compat.app, name="compat")
app.command("submit")(submit.submit)
app.command("worker")(worker.worker)


def main() -> None:
    """Run the ``cft`` command line (the console script's entry point).

    Output piped into a reader that stops early (``| head``) ends quietly
    (:func:`._console.guard_stdout`).
    """
    _console.guard_stdout()
    app(prog_name="cft")
