"""What the live progress table costs: ``cft workflow run`` on a terminal vs with ``--json``.

Usage::

    python benchmarks/progress.py [--steps 1000,10000] [--rounds R] [--json]

A generated config holds one workflow per size: a root step fans out to groups
of 99 steps, each group fans in to its own join step, and a final step depends
on every join (fan-out/fan-in, so many steps are ready at once). The whole
``cft`` process runs it on the embedded simulator with zero latency
(``CFT_SIM_LATENCY_SCALE=0``) and ``--no-cache``, twice per round:

* ``--json``: no table; stdout is a pipe;
* on a pseudo-terminal (``pty.openpty``, ``COLUMNS=120``, ``LINES=40``) whose
  master side a thread drains, so the live table is drawn as a user would see it.

The ratio is whole-process wall time, terminal ÷ json, the best of each over
the rounds (the two modes alternate, so drift hits both alike). Target ≤ 1.1.
``--json`` is not free either (it serialises every step's result), so the
terminal run also reports its own *display share*: the time spent inside
``Live.refresh`` and the progress hook, measured in the child process, as a
fraction of that process's wall time.
"""

from __future__ import annotations

import argparse
import json
import os
import pty
import subprocess
import sys
import tempfile
import threading
from pathlib import Path
from typing import Any

from _common import markdown_table, now_ns

GROUP = 99
TARGET = 1.1
COLUMNS, LINES = 120, 40
AGENT = "# Worker\n\nDoes one small piece of a big job.\n"
#: Runs ``cft`` in the child, timing the table's drawing and its hook (written as JSON at exit).
_TIMED_CLI = """
import atexit, json, os, time
import rich.live
from claude_force_trio.cli import _progress, main

start, spent = time.perf_counter(), {"draw_s": 0.0, "hook_s": 0.0, "frames": 0}

def timed(name, fn):
    def wrapper(*args):
        began = time.perf_counter()
        try:
            return fn(*args)
        finally:
            spent[name] += time.perf_counter() - began
            spent["frames"] += name == "draw_s"
    return wrapper

rich.live.Live.refresh = timed("draw_s", rich.live.Live.refresh)
_progress.WorkflowProgress.__call__ = timed("hook_s", _progress.WorkflowProgress.__call__)

def report():
    with open(os.environ["CFT_BENCH_DISPLAY_OUT"], "w") as out:
        json.dump({**spent, "process_s": time.perf_counter() - start}, out)

atexit.register(report)
main()  # argv after -c: the cft arguments
"""


def workflow(steps: int) -> list[dict[str, Any]]:
    """``steps`` steps: root → groups of up to 99 → one join per group → final."""
    if steps < 4:
        raise ValueError("a fan-out/fan-in workflow needs at least 4 steps")
    middle = steps - 2  # every step but the root and the final one
    groups = max(1, round(middle / (GROUP + 1)))
    out: list[dict[str, Any]] = [{"id": "root", "agent": "worker", "task": "split the job"}]
    joins: list[str] = []
    left = middle
    for g in range(groups):
        size = left // (groups - g)  # spread the remainder over the groups
        left -= size
        members = [f"g{g}-s{i}" for i in range(size - 1)]
        out += [
            {"id": m, "agent": "worker", "task": f"part {m}", "dependencies": ["root"]}
            for m in members
        ]
        join = f"g{g}-join"
        joins.append(join)
        out.append(
            {"id": join, "agent": "worker", "task": f"merge group {g}", "dependencies": members}
        )
    out.append({"id": "final", "agent": "worker", "task": "merge it all", "dependencies": joins})
    assert len(out) == steps
    return out


def write_config(root: Path, sizes: list[int]) -> Path:
    """A claude.json with one workflow ``fan-N`` per size; returns its path."""
    (root / "worker.md").write_text(AGENT, encoding="utf-8")
    doc = {
        "defaults": {"model": "haiku", "max_tokens": 64},
        "agents": {"worker": {"file": "worker.md"}},
        "performance": {"max_concurrent_agents": 64, "workflow_timeout_s": 3600},
        "workflows": {f"fan-{n}": {"steps": workflow(n)} for n in sizes},
    }
    path = root / "claude.json"
    path.write_text(json.dumps(doc), encoding="utf-8")
    return path


def _env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ANTHROPIC_", "CFT_"))}
    env.pop("NO_COLOR", None)
    env.update(
        CFT_HOME=str(home),
        CFT_SIM_LATENCY_SCALE="0",
        COLUMNS=str(COLUMNS),
        LINES=str(LINES),
        TERM="xterm-256color",
    )
    return env


def _command(config: Path, name: str, *extra: str, timed: bool = False) -> list[str]:
    return [
        sys.executable,
        *(["-c", _TIMED_CLI] if timed else ["-m", "claude_force_trio"]),
        "--config",
        str(config),
        "--simulate",
        "workflow",
        "run",
        name,
        "--no-cache",
        *extra,
    ]


def run_json(config: Path, name: str, env: dict[str, str]) -> float:
    """Seconds for the whole process with ``--json`` (stdout a pipe)."""
    start = now_ns()
    proc = subprocess.run(_command(config, name, "--json"), env=env, capture_output=True)
    took = (now_ns() - start) / 1e9
    if proc.returncode != 0:
        raise RuntimeError(f"--json run failed: {proc.stderr.decode(errors='replace')[-500:]}")
    if json.loads(proc.stdout)["status"] != "succeeded":
        raise RuntimeError("--json run did not succeed")
    return took


def run_terminal(config: Path, name: str, env: dict[str, str]) -> tuple[float, int, float]:
    """Seconds for the whole process on a pseudo-terminal, the bytes it drew, its display share."""
    report = Path(env["CFT_HOME"]).parent / "display.json"
    master, slave = pty.openpty()
    drawn = 0

    def drain() -> None:
        nonlocal drawn
        while True:
            try:
                data = os.read(master, 65536)
            except OSError:  # EIO: the last writer closed the terminal
                return
            if not data:
                return
            drawn += len(data)

    reader = threading.Thread(target=drain, daemon=True)
    reader.start()
    start = now_ns()
    try:
        proc = subprocess.run(
            _command(config, name, timed=True),
            env={**env, "CFT_BENCH_DISPLAY_OUT": str(report)},
            stdin=subprocess.DEVNULL,
            stdout=slave,
            stderr=slave,
        )
    finally:
        os.close(slave)
    took = (now_ns() - start) / 1e9
    reader.join(timeout=30)
    os.close(master)
    if proc.returncode != 0:
        raise RuntimeError(f"terminal run exited {proc.returncode}")
    spent = json.loads(report.read_text(encoding="utf-8"))
    if not spent["frames"]:
        raise RuntimeError("the terminal run drew no live table")
    return took, drawn, (spent["draw_s"] + spent["hook_s"]) / spent["process_s"]


def measure(sizes: list[int], rounds: int) -> list[dict[str, Any]]:
    """Best-of-``rounds`` wall times per size and mode, modes alternating."""
    rows = []
    with tempfile.TemporaryDirectory(prefix="cft-bench-progress-") as tmp:
        root = Path(tmp)
        config = write_config(root, sizes)
        env = _env(root / "home")
        for n in sizes:
            name = f"fan-{n}"
            json_s: list[float] = []
            terminal: list[tuple[float, int, float]] = []
            for r in range(rounds):
                first_json = r % 2 == 0
                if first_json:
                    json_s.append(run_json(config, name, env))
                terminal.append(run_terminal(config, name, env))
                if not first_json:
                    json_s.append(run_json(config, name, env))
            best_json = min(json_s)
            best_term, drawn, _ = min(terminal)
            rows.append(
                {
                    "steps": n,
                    "json_s": best_json,
                    "terminal_s": best_term,
                    "ratio": best_term / best_json,
                    "display_share": max(share for _, _, share in terminal),
                    "terminal_kb": drawn / 1e3,
                }
            )
    return rows


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print a markdown table (or one JSON document)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--steps", default="1000,10000", help="workflow sizes, comma-separated")
    parser.add_argument("--rounds", type=int, default=3, help="runs per mode; best is kept")
    parser.add_argument("--json", action="store_true", help="print one JSON document")
    args = parser.parse_args(argv)
    sizes = [int(s) for s in args.steps.split(",") if s.strip()]
    rows = measure(sizes, args.rounds)
    ok = all(row["ratio"] <= TARGET for row in rows)
    if args.json:
        doc = {"benchmark": "progress", "rounds": args.rounds, "rows": rows}
        doc |= {"target": TARGET, "pass": ok}
        print(json.dumps(doc, indent=2))
        return 0 if ok else 1
    table = [
        [
            f"{row['steps']:,}",
            f"{row['json_s']:.2f}",
            f"{row['terminal_s']:.2f}",
            f"{row['ratio']:.2f}",
            f"{100 * row['display_share']:.1f}%",
            f"{row['terminal_kb']:,.0f}",
        ]
        for row in rows
    ]
    headers = ["steps", "--json s", "terminal s", "terminal ÷ json", "display share", "drawn KB"]
    print(markdown_table(headers, table))
    worst = max(row["ratio"] for row in rows)
    print(f"\nworst terminal ÷ json: {worst:.2f} (target ≤ {TARGET}): {'met' if ok else 'MISSED'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
