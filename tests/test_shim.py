"""The ``claude_force`` import alias (``cft compat``) and the ``claude-force`` command.

A ``.pth`` file runs only when Python processes a site directory, so each
fresh-interpreter check is a subprocess that calls ``site.addsitedir(DIR)`` on
the ``--target`` directory the test installed into. A "real" Claude Force is
a tiny stand-in package written by the test (``real_claude_force``), so the
overlay and refusal paths run without the real distribution.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from claude_force_trio import _shim
from claude_force_trio.cli import app
from claude_force_trio.cli._alias import main as claude_force_main
from claude_force_trio.cli._alias import translate
from claude_force_trio.cli.compat import SCRIPT_MARK

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / ".claude" / "claude.json"


@pytest.fixture(autouse=True)
def offline(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No key, no base URL, instant simulator; PATH holds no claude-force command."""
    for name in ("ANTHROPIC_API_KEY", "ANTHROPIC_BASE_URL", "ANTHROPIC_AUTH_TOKEN", "CFT_CONFIG"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("CFT_SIM_LATENCY_SCALE", "0")
    empty = tmp_path / "empty-path"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))


def compat(*args: str) -> Result:
    """Invoke ``cft compat ARGS`` in-process."""
    return CliRunner().invoke(app, ["compat", *args])


def fresh(site_dir: Path, code: str, *, extra_path: Path | None = None) -> str:
    """Run ``code`` in a new interpreter after processing ``site_dir``; return its stdout."""
    prelude = f"import site, sys\nsite.addsitedir({str(site_dir)!r})\n"
    if extra_path is not None:
        prelude = f"import sys\nsys.path.insert(0, {str(extra_path)!r})\n" + prelude
    done = subprocess.run(
        [sys.executable, "-c", prelude + textwrap.dedent(code)],
        capture_output=True,
        text=True,
        check=False,
        cwd=site_dir,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert done.stderr == "", done.stderr
    return done.stdout


def real_claude_force(where: Path) -> Path:
    """Write a stand-in for an installed Claude Force 1.3.2 under ``where``."""
    package = where / "claude_force"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text('__version__ = "1.3.2"\n')
    (package / "orchestrator.py").write_text('ORIGIN = "real"\n')
    (package / "performance_tracker.py").write_text('ORIGIN = "real"\n')
    return where


def one_error_line(result: Result) -> str:
    """Assert exit 2 with exactly one ``error:`` line on stderr and no traceback."""
    assert result.exit_code == 2, (result.stdout, result.stderr)
    lines = result.stderr.splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith("error: ")
    return lines[0]


def test_no_alias_unless_installed(tmp_path: Path) -> None:
    """Without the .pth a fresh interpreter has no claude_force: nothing is shadowed by default."""
    out = fresh(tmp_path, "import importlib.util; print(importlib.util.find_spec('claude_force'))")
    assert out.strip() == "None"


def test_full_alias_serves_claude_force(tmp_path: Path) -> None:
    """install-shim (no real Claude Force): its three modules import as ours, in a new process."""
    site_dir, bin_dir = tmp_path / "site", tmp_path / "bin"
    result = compat("install-shim", "--target", str(site_dir), "--scripts-dir", str(bin_dir))
    assert result.exit_code == 0, result.stderr
    assert (site_dir / _shim.PTH_NAME).read_text() == _shim.pth_line("full")
    out = fresh(
        site_dir,
        """
        started = sorted(m for m in sys.modules if m.startswith("claude_force"))
        import claude_force
        from claude_force.orchestrator import AgentOrchestrator
        from claude_force.async_orchestrator import AsyncAgentOrchestrator
        from claude_force.hybrid_orchestrator import HybridOrchestrator
        import claude_force_trio.compat as compat
        print(started)
        print(claude_force is compat, AgentOrchestrator is compat.AgentOrchestrator)
        print(AsyncAgentOrchestrator.__name__, HybridOrchestrator.__name__)
        """,
    )
    # The .pth line imports nothing of this package at start-up: only the trigger.
    assert out.splitlines() == ["[]", "True True", "AsyncAgentOrchestrator HybridOrchestrator"]


def test_refuses_over_a_real_claude_force(tmp_path: Path) -> None:
    """With a real claude_force installed, install-shim is exit 2 and writes nothing."""
    site_dir = real_claude_force(tmp_path / "site")
    line = one_error_line(compat("install-shim", "--target", str(site_dir)))
    assert "real claude_force 1.3.2" in line
    assert "--overlay" in line
    assert not (site_dir / _shim.PTH_NAME).exists()


def test_overlay_replaces_only_the_orchestrators(tmp_path: Path) -> None:
    """--overlay: the real package and its other modules stay; the orchestrators are ours."""
    site_dir, bin_dir = real_claude_force(tmp_path / "site"), tmp_path / "bin"
    result = compat(
        "install-shim", "--target", str(site_dir), "--overlay", "--scripts-dir", str(bin_dir)
    )
    assert result.exit_code == 0, result.stderr
    # The real Claude Force keeps its own claude-force command: none is written.
    assert not (bin_dir / "claude-force").exists()
    out = fresh(
        site_dir,
        """
        import claude_force, claude_force.performance_tracker as tracker
        import claude_force.orchestrator as orchestrator
        print(claude_force.__version__, tracker.ORIGIN, orchestrator.__name__)
        """,
    )
    assert out.split() == ["1.3.2", "real", "claude_force_trio.compat.orchestrator"]
    status = json.loads(compat("status", "--target", str(site_dir), "--json").stdout)
    assert status["mode"] == "overlay"
    assert status["active"] is False  # a temporary directory is no site directory
    assert status["claude_force"] == {"path": str(site_dir / "claude_force"), "version": "1.3.2"}


def test_overlay_needs_a_real_claude_force(tmp_path: Path) -> None:
    """--overlay with nothing to overlay is a usage error naming the flag."""
    line = one_error_line(compat("install-shim", "--target", str(tmp_path), "--overlay"))
    assert line.startswith("error: --overlay: ")


def test_full_alias_steps_aside_for_a_later_real_package(tmp_path: Path) -> None:
    """A real claude_force installed after the shim wins: the alias never shadows it unasked."""
    site_dir = tmp_path / "site"
    assert compat("install-shim", "--target", str(site_dir), "--no-script").exit_code == 0
    real = real_claude_force(tmp_path / "later")
    out = fresh(
        site_dir,
        "import claude_force.orchestrator as o; print(o.ORIGIN)",
        extra_path=real,
    )
    assert out.strip() == "real"


def test_stale_pth_is_harmless(tmp_path: Path) -> None:
    """A .pth left behind with the package gone: no start-up error, a plain ImportError."""
    (tmp_path / _shim.PTH_NAME).write_text(_shim.pth_line("full"))
    code = (
        "import site, sys\n"
        f"site.addsitedir({str(tmp_path)!r})\n"
        "try:\n    import claude_force\nexcept ImportError as e:\n    print(type(e).__name__)\n"
    )
    # -S: no site-packages, so claude_force_trio itself is not importable.
    done = subprocess.run(
        [sys.executable, "-S", "-c", code],
        capture_output=True,
        text=True,
        check=False,
        cwd=tmp_path,
        timeout=60,
    )
    assert (done.returncode, done.stdout, done.stderr) == (0, "ModuleNotFoundError\n", "")


def test_status_and_uninstall(tmp_path: Path) -> None:
    """status reports the file and the command; uninstall removes both, and only ours."""
    site_dir, bin_dir = tmp_path / "site", tmp_path / "bin"
    args = ("--target", str(site_dir), "--scripts-dir", str(bin_dir))
    before = json.loads(compat("status", *args, "--json").stdout)
    assert (before["installed"], before["note"], before["claude_force"]) == (
        False,
        "not installed",
        None,
    )
    assert compat("install-shim", *args).exit_code == 0
    after = json.loads(compat("status", *args, "--json").stdout)
    assert (after["installed"], after["mode"]) == (True, "full")
    assert after["script"] == {"path": str(bin_dir / "claude-force"), "exists": True, "ours": True}
    text = compat("status", *args).stdout
    assert "real claude_force: none" in text
    removed = compat("uninstall-shim", *args)
    assert removed.exit_code == 0
    assert not (site_dir / _shim.PTH_NAME).exists()
    assert not (bin_dir / "claude-force").exists()
    again = compat("uninstall-shim", *args)
    assert again.exit_code == 0
    assert "nothing to remove" in again.stderr


def test_foreign_claude_force_command_is_kept(tmp_path: Path) -> None:
    """An existing claude-force that is not ours is neither overwritten nor removed."""
    site_dir, bin_dir = tmp_path / "site", tmp_path / "bin"
    bin_dir.mkdir()
    foreign = bin_dir / "claude-force"
    foreign.write_text("#!/bin/sh\necho real\n")
    args = ("--target", str(site_dir), "--scripts-dir", str(bin_dir))
    installed = compat("install-shim", *args)
    assert installed.exit_code == 0
    assert "exists and is not ours" in installed.stderr
    assert compat("uninstall-shim", *args).exit_code == 0
    assert foreign.read_text() == "#!/bin/sh\necho real\n"


def test_claude_force_command_runs(tmp_path: Path) -> None:
    """The written claude-force script runs Claude Force's spelling through cft."""
    bin_dir = tmp_path / "bin"
    site_dir = tmp_path / "site"
    assert (
        compat("install-shim", "--target", str(site_dir), "--scripts-dir", str(bin_dir)).exit_code
        == 0
    )
    script = bin_dir / "claude-force"
    assert SCRIPT_MARK in script.read_text()
    assert os.access(script, os.X_OK)
    command = [sys.executable, str(script), "--demo", "--config", str(EXAMPLE)]
    done = subprocess.run(
        [*command, "list", "workflows", "--json"],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    names = [w["name"] for w in json.loads(done.stdout)]
    assert names == ["bug-fix", "code-quality-check", "release-readiness"]


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["list", "agents"], ["agents", "list"]),
        (
            ["--config", "c.json", "list", "workflows", "--json"],
            ["--config", "c.json", "workflow", "list", "--json"],
        ),
        (["info", "linter", "--format", "json"], ["agents", "show", "--json", "--", "linter"]),
        (
            ["--demo", "run", "agent", "linter", "--task=-x", "--max-tokens", "9"],
            ["--simulate", "run", "--max-tokens", "9", "--", "linter", "-x"],
        ),
        (
            ["run", "workflow", "bug-fix", "--task", "500s", "--json"],
            ["workflow", "run", "--task=500s", "--json", "--", "bug-fix"],
        ),
    ],
)
def test_translate(argv: list[str], expected: list[str]) -> None:
    """Claude Force's spelling becomes the equivalent cft command line."""
    assert translate(argv).args == expected


def test_api_key_never_in_arguments_or_output(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """--api-key reaches cft through the environment only, and is printed nowhere."""
    secret = "fake-key-test-not-a-real-key"
    translation = translate(["--api-key", secret, "--demo", "list", "agents"])
    assert secret not in " ".join(translation.args)
    assert translation.api_key == secret
    monkeypatch.setenv("ANTHROPIC_API_KEY", "placeholder")  # restored after the test
    argv = ["--api-key", secret, "--demo", "--config", str(EXAMPLE), "run", "agent", "linter"]
    assert claude_force_main([*argv, "--task", "Review def f(x=[]): pass", "--json"]) == 0
    out = capsys.readouterr()
    assert json.loads(out.out)["agent"] == "linter"
    assert secret not in out.out + out.err
    assert os.environ["ANTHROPIC_API_KEY"] == secret


def test_run_workflow_and_task_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """run workflow --task-file runs the DAG on the simulator; the JSON is cft's."""
    task = tmp_path / "task.txt"
    task.write_text("Users get a 500 on /api/users\n")
    argv = ["--demo", "--config", str(EXAMPLE), "run", "workflow", "bug-fix"]
    assert claude_force_main([*argv, "--task-file", str(task), "--json"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert (document["workflow"], document["status"]) == ("bug-fix", "succeeded")


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (["run", "agent", "linter"], "a task is required"),
        (["run", "agent", "linter", "--task", "a", "--task-file", "b"], "not both"),
        (["run", "agent", "linter", "--task-file", "/nonexistent/t.txt"], "/nonexistent/t.txt"),
        (["metrics", "summary"], "use cft metrics --help"),
        (["run"], "required"),
        (["list", "agents", "--quiet"], "unrecognized arguments"),
    ],
)
def test_usage_errors_are_one_line(
    argv: list[str], needle: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """Bad claude-force input: exit 2 and one error line, before anything runs."""
    assert claude_force_main(argv) == 2
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1, err
    assert err[0].startswith("error: ")
    assert needle in err[0]


def test_unknown_agent_hint(capsys: pytest.CaptureFixture[str]) -> None:
    """An unknown agent is cft's one line, with the did-you-mean hint."""
    argv = ["--demo", "--config", str(EXAMPLE), "run", "agent", "lintr", "--task", "x"]
    assert claude_force_main(argv) == 2
    err = capsys.readouterr().err
    assert "unknown agent 'lintr'" in err
    assert "linter" in err


def test_pth_mode_round_trip() -> None:
    """pth_mode reads back the mode of each line it writes, and None for anything else."""
    assert [_shim.pth_mode(_shim.pth_line(m)) for m in ("overlay", "full")] == ["overlay", "full"]
    assert _shim.pth_mode("import something_else\n") is None
