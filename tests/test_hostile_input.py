"""Hostile and unlucky input: symlink swaps, FIFOs, odd bytes, absurd numbers (issue 9).

Each case must end in one ``error:`` line naming the place and exit 2, never a
traceback or a hang; and no file outside the config folder may ever become a
system prompt, however its symlinks change while it loads.
"""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import trio
from typer.testing import Result

from claude_force_trio._config import AgentConfig, find_config, load_config
from claude_force_trio._config._load import MAX_AGENT_FILE_BYTES, ConfigError
from claude_force_trio._prompts import system_blocks
from claude_force_trio.cli._jobs import read_jobs
from tests.test_cli import cft, offline, write_config  # noqa: F401 (offline: autouse fixture)
from tests.test_config import BASE, make_project

SECRET = "OUTSIDE-SECRET-CONTENTS"
TIMEOUT_S = 10.0
AGENT = {"a": "# Agent A\n\nDoes things.\n"}
DOC: dict[str, Any] = {
    "agents": {"a": {"file": "a.md"}},
    "workflows": {"w": {"steps": [{"id": "s", "agent": "a", "task": "do it"}]}},
}

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="FIFOs, symlinks, POSIX bytes")


def error_line(result: Result) -> str:
    """Assert exit 2, one ``error:`` line on stderr (notices aside), no traceback."""
    assert result.exit_code == 2, (result.stdout, result.stderr)
    assert isinstance(result.exception, SystemExit), result.exception
    assert "Traceback" not in result.output
    lines = [line for line in result.stderr.splitlines() if not line.startswith("notice:")]
    assert len(lines) == 1, lines
    assert lines[0].startswith("error: ")
    return lines[0]


@pytest.fixture
def config(tmp_path: Path) -> Path:
    """A one-agent project with workflow ``w``."""
    return write_config(tmp_path / "project", DOC, AGENT)


def with_doc(tmp_path: Path, change: Callable[[dict[str, Any]], None]) -> Path:
    """The one-agent project after ``change`` edited a copy of its document."""
    doc = json.loads(json.dumps(DOC))
    change(doc)
    return write_config(tmp_path / "project", doc, AGENT)


# ---------------------------------------------------------------- symlink swap


@pytest.fixture
def flipping_link(tmp_path: Path) -> Iterator[Path]:
    """``agents/swap.md``, a symlink a thread keeps pointing inside, then outside, then inside…"""
    path = make_project(tmp_path)
    outside = tmp_path / "secret.md"
    outside.write_text(f"# {SECRET}\n", encoding="utf-8")
    link = path.parent / "agents" / "swap.md"
    link.symlink_to("linter.md")
    stop = threading.Event()

    def flip() -> None:
        targets = (str(outside), "linter.md")
        spare = link.with_name("swap.tmp")
        n = 0
        while not stop.is_set():
            spare.symlink_to(targets[n % 2])
            os.replace(spare, link)  # atomic: the link always exists, pointing somewhere
            n += 1

    thread = threading.Thread(target=flip, daemon=True)
    thread.start()
    try:
        yield path
    finally:
        stop.set()
        thread.join()


def test_symlink_swapped_during_load_never_sends_the_outside_file(flipping_link: Path) -> None:
    """While a link flips between inside and outside, no load ever reads the outside file.

    Bounded: 1,500 loads. Checking the path and then reading it, as the loader
    did, sent the outside file in about 1 load in 200 here.
    """
    flipping_link.write_text(json.dumps({"agents": {"linter": {"file": "agents/swap.md"}}}))
    refusals: list[str] = []
    inside = 0
    for _ in range(1500):
        try:
            agent = load_config(flipping_link).agents["linter"]
        except ConfigError as exc:
            refusals.append(str(exc))
            continue
        assert SECRET not in json.dumps(system_blocks(agent, prompt_cache=True))
        assert agent.definition.startswith("# Linter")
        inside += 1
    assert set(refusals) == {"agents.linter.file: path escapes the config folder"}
    assert inside > 0  # both sides of the flip were seen


def test_symlinked_folders_inside_are_followed_and_outside_refused(tmp_path: Path) -> None:
    """A linked folder inside the config folder works; one leading outside is refused."""
    path = make_project(tmp_path)
    folder = path.parent
    (folder / "alias").symlink_to("agents")  # relative, inside
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "elsewhere" / "linter.md").write_text(SECRET, encoding="utf-8")
    (folder / "out").symlink_to(tmp_path / "elsewhere")  # absolute, outside
    doc = json.loads(json.dumps(BASE))
    doc["agents"]["linter"]["file"] = "alias/../alias/linter.md"
    path.write_text(json.dumps(doc), encoding="utf-8")
    assert load_config(path).agents["linter"].definition.startswith("# Linter")
    doc["agents"]["linter"]["file"] = "out/linter.md"
    path.write_text(json.dumps(doc), encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert str(info.value) == "agents.linter.file: path escapes the config folder"


def test_symlink_loop_is_one_error(tmp_path: Path) -> None:
    """Two links pointing at each other are an error naming the file, not a hang."""
    path = make_project(tmp_path)
    agents = path.parent / "agents"
    (agents / "one.md").symlink_to("two.md")
    (agents / "two.md").symlink_to("one.md")
    doc = json.loads(json.dumps(BASE))
    doc["agents"]["linter"]["file"] = "agents/one.md"
    path.write_text(json.dumps(doc), encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert str(info.value) == (
        "agents.linter.file: cannot read agents/one.md: Too many levels of symbolic links"
    )


# ---------------------------------------------------------------- FIFOs and sizes


async def _load_soon(path: Path) -> ConfigError:
    """Load ``path`` in a thread; the ConfigError it raises, within TIMEOUT_S."""
    with trio.fail_after(TIMEOUT_S):
        try:
            await trio.to_thread.run_sync(load_config, path, abandon_on_cancel=True)
        except ConfigError as exc:
            return exc
    raise AssertionError("loaded")


@pytest.mark.parametrize("key", ["file", "contract"])
async def test_fifo_agent_file_is_refused_without_blocking(tmp_path: Path, key: str) -> None:
    """A FIFO as an agent definition or contract is an error at once, not a hang."""
    path = make_project(tmp_path)
    os.mkfifo(path.parent / "agents" / "pipe.md")
    doc = json.loads(json.dumps(BASE))
    doc["agents"]["reviewer"][key] = "agents/pipe.md"
    path.write_text(json.dumps(doc), encoding="utf-8")
    error = await _load_soon(path)
    assert str(error) == f"agents.reviewer.{key}: agents/pipe.md is a FIFO, not a regular file"


async def test_fifo_config_is_refused_without_blocking(tmp_path: Path) -> None:
    """A FIFO as claude.json is found (not "not found") and refused at once."""
    fifo = tmp_path / "claude.json"
    os.mkfifo(fifo)
    assert find_config(fifo) == fifo
    error = await _load_soon(fifo)
    assert str(error) == f"{fifo.absolute()}: is a FIFO, not a regular file"


async def test_fifo_config_through_the_cli(tmp_path: Path) -> None:
    """``cft --config FIFO config validate``: one error line, promptly."""
    fifo = tmp_path / "claude.json"
    os.mkfifo(fifo)
    with trio.fail_after(TIMEOUT_S):
        result = await trio.to_thread.run_sync(
            lambda: cft("config", "validate", config=fifo), abandon_on_cancel=True
        )
    assert error_line(result) == f"error: {fifo}: is a FIFO, not a regular file"


def test_agent_file_over_the_cap_is_refused(tmp_path: Path) -> None:
    """An agent file over 1 MiB is refused naming it; one of exactly 1 MiB loads."""
    path = make_project(tmp_path)
    big = path.parent / "agents" / "big.md"
    big.write_bytes(b"#" * MAX_AGENT_FILE_BYTES)
    doc = json.loads(json.dumps(BASE))
    doc["agents"]["linter"]["file"] = "agents/big.md"
    path.write_text(json.dumps(doc), encoding="utf-8")
    assert len(load_config(path).agents["linter"].definition) == MAX_AGENT_FILE_BYTES
    big.write_bytes(b"#" * (MAX_AGENT_FILE_BYTES + 1))
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert str(info.value) == "agents.linter.file: agents/big.md is larger than 1 MiB"


# ---------------------------------------------------------------- odd bytes in a task


def test_lone_surrogate_in_an_argv_task(config: Path) -> None:
    """``cft run a <surrogate-escaped bytes>`` names the task and the character."""
    result = cft("run", "a", "fix caf\udcff", config=config)
    assert error_line(result) == (
        "error: task: not valid UTF-8 text (lone surrogate \\udcff at character 7)"
    )


def test_non_utf8_task_on_stdin(config: Path) -> None:
    """``cft run a -`` with bytes that are not UTF-8 on stdin names stdin and the byte."""
    result = cft("run", "a", "-", config=config, input=b"ok \xff\n")  # type: ignore[arg-type]
    assert error_line(result) == "error: task: stdin is not valid UTF-8 (byte 3)"


def test_lone_surrogate_in_a_workflow_task(config: Path) -> None:
    """``cft workflow run w --task`` with a lone surrogate names the task."""
    result = cft("workflow", "run", "w", "--task", "\ud800", config=config)
    assert error_line(result) == (
        "error: task: not valid UTF-8 text (lone surrogate \\ud800 at character 0)"
    )


def test_lone_surrogate_escape_on_a_run_many_line(config: Path, tmp_path: Path) -> None:
    """A JSON ``\\ud800`` escape in a run-many task names file, line and field."""
    jobs = tmp_path / "jobs.jsonl"
    jobs.write_text('{"agent": "a", "task": "ok"}\n{"agent": "a", "task": "x\\ud800"}\n')
    result = cft("run-many", str(jobs), config=config)
    assert error_line(result) == (
        f"error: {jobs}:2: task: not valid UTF-8 text (lone surrogate \\ud800 at character 1)"
    )


@pytest.mark.parametrize("source", ["file", "stdin"])
def test_non_utf8_bytes_on_a_run_many_line(config: Path, tmp_path: Path, source: str) -> None:
    """Bytes that are not UTF-8 in a run-many file (or stdin) name the line and its byte."""
    data = b'{"agent": "a", "task": "ok"}\n{"agent": "a", "task": "caf\xe9"}\n'
    jobs = tmp_path / "jobs.jsonl"
    jobs.write_bytes(data)
    if source == "file":
        result, name = cft("run-many", str(jobs), config=config), str(jobs)
    else:
        result = cft("run-many", "-", config=config, input=data)  # type: ignore[arg-type]
        name = "<stdin>"
    assert error_line(result) == f"error: {name}:2: not valid UTF-8 (byte 27)"


async def test_the_engine_names_a_library_job(config: Path) -> None:
    """``Engine.run_many`` called directly names ``jobs[i].task``; nothing is sent."""
    from claude_force_trio import open_engine

    def unreachable(request: httpx.Request) -> httpx.Response:
        raise AssertionError("a request was sent")

    transport = httpx.MockTransport(unreachable)
    async with open_engine(load_config(config), transport=transport, cache=False) as engine:
        with pytest.raises(ConfigError) as info:
            await engine.run_many([("a", "fine"), ("a", "bad \udcff")])
    assert str(info.value) == (
        "jobs[1].task: not valid UTF-8 text (lone surrogate \\udcff at character 4)"
    )


# ---------------------------------------------------------------- run-many lines


def test_deeply_nested_run_many_line(config: Path, tmp_path: Path) -> None:
    """A line nested 100,000 deep is one ``FILE:LINE`` error, not a RecursionError."""
    jobs = tmp_path / "deep.jsonl"
    jobs.write_text("[" * 100_000 + "]" * 100_000 + "\n", encoding="utf-8")
    result = cft("run-many", str(jobs), config=config)
    assert error_line(result) == (
        f'error: {jobs}:1: invalid JSON (nested too deeply); expected {{"agent": str, "task": str}}'
    )


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ('{"agent": "a", "task": ' + "9" * 5000 + "}", "invalid JSON (a number too long); "),
        ("x" * 5_000_000, "invalid JSON (Expecting value); "),
        ('{"agent": "a", "task": "' + "t" * 5_000_000 + '"', "invalid JSON "),
        ("[1, 2]", ""),
        ('"just a string"', ""),
    ],
    ids=["huge-integer", "long-garbage", "long-unterminated", "list", "string"],
)
def test_odd_run_many_lines_keep_a_clear_error(tmp_path: Path, line: str, reason: str) -> None:
    """Huge numbers, very long lines and non-objects each give a ``FILE:LINE`` error."""
    jobs = tmp_path / "jobs.jsonl"
    jobs.write_text(line + "\n", encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        read_jobs(str(jobs))
    message = str(info.value)
    assert message.startswith(f"{jobs}:1: {reason}")
    assert message.endswith('expected {"agent": str, "task": str}')
    assert len(message) < 300


def test_line_separator_inside_a_task_is_not_a_line_break(tmp_path: Path) -> None:
    """U+2028 is valid raw inside a JSON string, so it must not split a JSONL line."""
    jobs = tmp_path / "jobs.jsonl"
    jobs.write_text('{"agent": "a", "task": "one\u2028two"}\r\n\n', encoding="utf-8")
    assert [job.task for job in read_jobs(str(jobs))] == ["one\u2028two"]


# ---------------------------------------------------------------- the config's text


@pytest.mark.parametrize(
    ("change", "where"),
    [
        (
            lambda d: d["workflows"]["w"]["steps"][0].update(task="\ud800"),
            "workflows.w.steps[0].task",
        ),
        (lambda d: d["workflows"]["w"].update(task="go \udcff"), "workflows.w.task"),
        (lambda d: d["agents"]["a"].update(description="\udfff"), "agents.a.description"),
        (lambda d: d.update(defaults={"model": "haiku\ud800"}), "defaults.model"),
        (lambda d: d.update(governance={"rules": [{"x": "\ud800"}]}), "governance.rules[0].x"),
    ],
    ids=["step-task", "workflow-task", "description", "model", "ignored-section"],
)
def test_lone_surrogate_in_the_config_names_its_json_path(
    tmp_path: Path, change: Callable[[dict[str, Any]], None], where: str
) -> None:
    """A JSON ``\\ud800`` escape anywhere in claude.json is refused at its JSON path."""
    path = with_doc(tmp_path, change)
    result = cft("workflow", "run", "w", config=path)
    line = error_line(result)
    assert line.startswith(f"error: {where}: not valid UTF-8 text (lone surrogate \\u")


def test_lone_surrogate_in_a_config_key(tmp_path: Path) -> None:
    """A key spelled with a lone surrogate is refused too, its path escaped."""
    path = with_doc(tmp_path, lambda d: d["agents"].update({"b\ud800": {"file": "a.md"}}))
    assert error_line(cft("config", "validate", config=path)) == (
        'error: agents["b\\ud800"]: the key is not valid UTF-8 text'
        " (lone surrogate \\ud800 at character 1)"
    )


def test_bom_and_utf8_config_still_load(tmp_path: Path) -> None:
    """A config with a BOM, and non-ASCII text, loads as before."""
    path = write_config(tmp_path / "project", DOC, AGENT)
    doc = json.loads(json.dumps(DOC))
    doc["agents"]["a"]["description"] = "café ☕"
    path.write_bytes(b"\xef\xbb\xbf" + json.dumps(doc, ensure_ascii=False).encode())
    assert load_config(path).agents["a"].description == "café ☕"


# ---------------------------------------------------------------- doctor prints safely


def test_doctor_prints_a_config_value_with_a_surrogate(tmp_path: Path) -> None:
    """``cft doctor`` with a surrogate in claude.json shows ✗, spelled out; no traceback."""
    path = with_doc(tmp_path, lambda d: d.update(cache={"backend": "\ud800"}))
    detail = "cache.backend: not valid UTF-8 text (lone surrogate \\ud800 at character 0)"
    result = cft("doctor", config=path)
    assert result.exit_code == 1, result.output
    assert isinstance(result.exception, SystemExit), result.exception
    assert f"✗ config valid: {detail}" in result.stdout.splitlines()
    result = cft("doctor", "--json", config=path)
    assert result.exit_code == 1, result.output
    assert json.loads(result.stdout)["checks"][0]["detail"] == detail


def test_doctor_and_validate_print_a_path_with_undecodable_bytes(tmp_path: Path) -> None:
    """A config under a folder named with byte 0xff prints as ``\\udcff``, not a crash."""
    folder = tmp_path / os.fsdecode(b"proj\xff")
    path = write_config(folder, DOC, AGENT)
    result = cft("doctor", config=path)
    assert result.exit_code == 0, result.output
    assert "proj\\udcff" in result.stdout
    result = cft("config", "validate", config=path)
    assert result.exit_code == 0, result.output
    assert "proj\\udcff" in result.stdout
    result = cft("agents", "list", config=path)
    assert result.exit_code == 0, result.output


# ---------------------------------------------------------------- numbers


def _numeric_keys() -> list[tuple[Any, ...]]:
    """Every numeric key of the config model, as a path into the document."""
    from claude_force_trio._config import _schema

    keys: list[tuple[Any, ...]] = []
    for section, (cls, checks) in _schema.SECTIONS.items():
        types = {f.name: str(f.type) for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
        numeric = [k for k in checks if "int" in types[k] or "float" in types[k]]
        # A map of numbers (budget.per_workflow_usd) is checked through one of its entries.
        keys += [(section, k, "w") if "Mapping" in types[k] else (section, k) for k in numeric]
    agent_types = {f.name: str(f.type) for f in dataclasses.fields(AgentConfig)}
    keys += [
        ("agents", "a", k)
        for k in _schema.AGENT_CHECKS
        if "int" in agent_types[k] or "float" in agent_types[k]
    ]
    keys += [("workflows", "w", "timeout_s"), ("workflows", "w", "steps", 0, "timeout_s")]
    return keys


NUMERIC_KEYS = _numeric_keys()


def _set_path(doc: dict[str, Any], keys: tuple[Any, ...], value: Any) -> None:
    target: Any = doc
    for key in keys[:-1]:
        target = target[key] if isinstance(key, int) else target.setdefault(key, {})
    target[keys[-1]] = value


def test_every_numeric_key_is_covered() -> None:
    """The keys tested are the config model's own: 30 numeric keys, a new one joins by itself."""
    assert len(NUMERIC_KEYS) == 30, NUMERIC_KEYS
    assert ("budget", "per_workflow_usd", "w") in NUMERIC_KEYS
    assert ("cache", "max_size_mb") in NUMERIC_KEYS


@pytest.mark.parametrize("keys", NUMERIC_KEYS, ids=[".".join(map(str, k)) for k in NUMERIC_KEYS])
@pytest.mark.parametrize("value", [1e308, 10**400, -(10**400)], ids=["1e308", "huge", "-huge"])
def test_absurd_numbers_are_refused_with_the_range(
    tmp_path: Path, keys: tuple[Any, ...], value: float
) -> None:
    """Every numeric key refuses finite but absurd magnitudes, naming the allowed range."""
    path = with_doc(tmp_path, lambda d: _set_path(d, keys, value))
    with pytest.raises(ConfigError) as info:
        load_config(path)
    where = ".".join(str(k) for k in keys).replace(".0.", "[0].")
    assert info.value.path == where
    assert info.value.message.startswith(("expected a number ", "expected an integer from "))
    assert " to " in info.value.message or " at most " in info.value.message


def test_max_size_mb_1e308_through_the_cli(tmp_path: Path) -> None:
    """The reported case: ``cache.max_size_mb: 1e308`` is one error line, not a crash per run."""
    path = with_doc(tmp_path, lambda d: d.update(cache={"max_size_mb": 1e308}))
    assert error_line(cft("run", "a", "hi", config=path)) == (
        "error: cache.max_size_mb: expected a number above 0 and at most 10485760, got 1e+308"
    )


@pytest.mark.parametrize("hours", ["inf", "nan", "-1", "0", "1e300"])
def test_metrics_hours_out_of_range(tmp_path: Path, hours: str) -> None:
    """``cft metrics … --hours`` refuses inf, nan, negative, zero and huge windows."""
    export = ("export", str(tmp_path / "out.json"))
    for command in (("summary",), ("agents",), ("costs",), ("anomalies",), export):
        line = error_line(cft("metrics", *command, "--hours", hours, config=None))
        assert line.startswith("error: --hours: expected a number of hours above 0 and at most")
    assert not (tmp_path / "out.json").exists()


def test_metrics_threshold_must_be_finite() -> None:
    """``--threshold nan`` is one error line too."""
    line = error_line(cft("metrics", "anomalies", "--threshold", "nan", config=None))
    assert line == "error: --threshold: expected a finite number ≥ 0, got nan"


# ---------------------------------------------------------------- real processes


def _process(*args: str | bytes, config: Path, stdin: bytes | None = None) -> Any:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ANTHROPIC_", "CFT_"))}
    env |= {"CFT_HOME": str(config.parent / "home"), "CFT_SIM_LATENCY_SCALE": "0"}
    env["PYTHONIOENCODING"] = "utf-8:strict"  # as on a UTF-8 locale: stdout refuses surrogates
    command = [sys.executable, "-m", "claude_force_trio", "--config", str(config), *args]
    return subprocess.run(
        command, env=env, input=stdin, capture_output=True, timeout=30, check=False
    )


def _one_error(done: subprocess.CompletedProcess[bytes]) -> str:
    stderr = done.stderr.decode("utf-8", "backslashreplace")
    assert done.returncode == 2, stderr
    assert "Traceback" not in stderr
    lines = [line for line in stderr.splitlines() if not line.startswith("notice:")]
    assert len(lines) == 1, lines
    return lines[0]


def test_real_non_utf8_argv_bytes(config: Path) -> None:
    """A real process given byte 0xff in argv: exit 2 and one line naming the task."""
    done = _process("run", "a", b"ok\xff", config=config)
    assert _one_error(done) == (
        "error: task: not valid UTF-8 text (lone surrogate \\udcff at character 2)"
    )


def test_real_non_utf8_stdin_bytes(config: Path) -> None:
    """A real process reading a task with byte 0xff from stdin: exit 2, one line."""
    done = _process("run", "a", "-", config=config, stdin=b"\xff")
    assert _one_error(done) == "error: task: stdin is not valid UTF-8 (byte 0)"
