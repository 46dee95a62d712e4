"""Tool loops: the engine's overhead per turn vs the SDK's tool runner; parallel tool makespan.

Usage::

    python benchmarks/tools.py [--runs N] [--rounds R] [--json]

Two scenarios, against the project's simulator running in a child process
(zero latency: ``ttft_ms=0, tokens_per_s=0``). Its ``[sim:tool_turns=N]``
marker makes a loop of N tool rounds: after each round of results it calls
the task's mentioned tools again, and answers with text after the Nth.

1. **Overhead per turn.** One loop is 5 tool turns of 3 parallel calls each,
   then the final answer: 6 calls of the model, 15 tool calls. The tools are
   async functions that return at once, the same functions for every client:

   (a) ``engine``: ``open_engine(config, tools=[...], cache=False,
       memory=False)`` + ``Engine.run_agent`` of an agent listing the three
       tools, under trio (the CLI's loop);
   (b) ``engine-asyncio``: the same under ``asyncio.run``;
   (c) ``sdk``: ``anthropic.AsyncAnthropic(max_retries=0)``'s
       ``beta.messages.tool_runner`` over ``@beta_async_tool`` functions, the
       same system prompt, model and ``max_tokens``, under asyncio (it sends
       only the new turn on a server-held thread, which the simulator keeps).

   Each client runs in a fresh process of its own; a process makes warm-up
   loops (the connection, imports, schema validators), then ``--runs``
   measured loops, each timed by ``perf_counter`` (wall) and
   ``process_time`` (the client process's CPU). Per turn = per call of the
   model (a loop ÷ 6). Rounds rotate the clients' order; each figure is the
   median of the round medians, with their range. Every loop is checked: 6
   model calls and 15 tool invocations (counted inside the tools), or the
   benchmark stops. Target: engine ÷ sdk ≤ 0.5 (wall and CPU per turn).

2. **Makespan of parallel tool calls.** Three tools sleeping 0.1, 0.2 and
   0.3 s, called together in each of 3 tool turns. For the engine, a turn's
   span is from its first ``ToolCalled`` to its last ``ToolFinished`` event
   (the engine's clock); the tools' own start and end stamps give a second
   reading, and the SDK's runner is measured that way for comparison (it runs
   a turn's tools one after another). Target: span ÷ 0.3 s ≤ 1.05 in every
   engine turn.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from collections.abc import Sequence
from typing import Any

from _common import markdown_table, print_goals, rotated, simulator_process, worker_json
from _tool_loops import PARALLEL, SLEEPS, SPAN_TURNS, TOOL_TURNS, worker

CALLS_PER_LOOP = TOOL_TURNS + 1  # the tool turns, then the final answer
TARGET_VS_SDK = 0.5
TARGET_SPAN = 1.05
CLIENTS = ("engine", "engine-asyncio", "sdk", "httpx")


# -- the driver --------------------------------------------------------------------------


def measure(url: str, client: str, scenario: str, runs: int) -> list[dict[str, Any]]:
    """One client's loops in a fresh process, each checked for its calls and tool calls."""
    args = ["--worker", client, "--scenario", scenario, "--url", url, "--runs", str(runs)]
    loops: list[dict[str, Any]] = worker_json([__file__, *args])["loops"]
    turns = TOOL_TURNS if scenario == "overhead" else SPAN_TURNS
    for loop in loops:
        if (loop["calls"], loop["tool_calls"]) != (turns + 1, turns * PARALLEL):
            raise RuntimeError(
                f"{client}: a loop made {loop['calls']} model calls and {loop['tool_calls']} "
                f"tool calls, not {turns + 1} and {turns * PARALLEL}"
            )
    return loops


def overhead(url: str, rounds: int, runs: int) -> dict[str, list[dict[str, Any]]]:
    """Every client once per round, the order rotating; loops by client."""
    by_client: dict[str, list[dict[str, Any]]] = {c: [] for c in CLIENTS}
    for r in range(rounds):
        for client in rotated(CLIENTS, r):
            loops = measure(url, client, "overhead", runs)
            for loop in loops:
                loop["round"] = r
            by_client[client] += loops
            per_turn = statistics.median(lp["wall_s"] for lp in loops) / CALLS_PER_LOOP
            print(
                f"  round {r + 1}: {client:>14}: {per_turn * 1e6:7.0f} µs/turn, "
                f"{sum(lp['tool_calls'] for lp in loops)} tool calls in {len(loops)} loops",
                file=sys.stderr,
                flush=True,
            )
    return by_client


def round_medians(loops: list[dict[str, Any]], key: str) -> list[float]:
    """Each round's median loop ÷ 6 calls, in µs, in round order."""
    rounds = sorted({lp["round"] for lp in loops})
    return [
        statistics.median(lp[key] for lp in loops if lp["round"] == r) / CALLS_PER_LOOP * 1e6
        for r in rounds
    ]


def spread(values: Sequence[float]) -> dict[str, float]:
    """Median and range."""
    return {"median": statistics.median(values), "low": min(values), "high": max(values)}


def round_ratios(
    loops: dict[str, list[dict[str, Any]]], client: str, base: str, key: str
) -> dict[str, float]:
    """``client`` ÷ ``base`` within each round (neighbours in time share the drift)."""
    pairs = zip(round_medians(loops[client], key), round_medians(loops[base], key), strict=True)
    return spread([a / b for a, b in pairs])


def _fmt(s: dict[str, float]) -> str:
    return f"{s['median']:.0f} ({s['low']:.0f}–{s['high']:.0f})"


def _fmt_ratio(s: dict[str, float]) -> str:
    return f"{s['median']:.2f} ({s['low']:.2f}–{s['high']:.2f})"


def _ratio(spans: Sequence[float]) -> dict[str, float]:
    ratios = [s / max(SLEEPS.values()) for s in spans]
    return {"median": statistics.median(ratios), "worst": max(ratios), "turns": len(ratios)}


def main(argv: list[str] | None = None) -> int:
    """Run both scenarios and print the tables (or one JSON document)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--runs", type=int, default=60, help="measured loops per client process")
    parser.add_argument("--rounds", type=int, default=5, help="interleaved rounds")
    parser.add_argument("--span-runs", type=int, default=2, help="makespan loops per process")
    parser.add_argument("--json", action="store_true", help="print one JSON document")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--scenario", help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        print(json.dumps(worker(args.worker, args.scenario, args.url, args.runs)))
        return 0

    with simulator_process(ttft_ms=0, tokens_per_s=0) as url:
        print(f"{TOOL_TURNS} tool turns × {PARALLEL} tools, zero latency…", file=sys.stderr)
        loops = overhead(url, args.rounds, args.runs)
        print(f"makespan: tools of {sorted(SLEEPS.values())} s…", file=sys.stderr)
        span: dict[str, list[dict[str, Any]]] = {"engine": [], "sdk": []}
        for _ in range(3):
            for client in span:
                span[client] += measure(url, client, "makespan", args.span_runs)

    wall = {c: spread(round_medians(loops[c], "wall_s")) for c in CLIENTS}
    cpu = {c: spread(round_medians(loops[c], "cpu_s")) for c in CLIENTS}
    counts = {
        c: {
            "loops": len(loops[c]),
            "model_calls": sum(lp["calls"] for lp in loops[c]),
            "tool_calls": sum(lp["tool_calls"] for lp in loops[c]),
        }
        for c in CLIENTS
    }
    ratios = {
        f"{c}_over_{base}": {
            "wall": round_ratios(loops, c, base, "wall_s"),
            "cpu": round_ratios(loops, c, base, "cpu_s"),
        }
        for c in ("engine", "engine-asyncio")
        for base in ("sdk", "httpx")
    }
    spans = {
        "engine (events)": _ratio([s for lp in span["engine"] for s in lp["spans_s"]]),
        "engine (tools' stamps)": _ratio([s for lp in span["engine"] for s in lp["tool_spans_s"]]),
        "sdk (tools' stamps)": _ratio([s for lp in span["sdk"] for s in lp["tool_spans_s"]]),
    }
    goals = {
        "engine_wall_per_turn_vs_sdk": ratios["engine_over_sdk"]["wall"]["median"] <= TARGET_VS_SDK,
        "engine_cpu_per_turn_vs_sdk": ratios["engine_over_sdk"]["cpu"]["median"] <= TARGET_VS_SDK,
        "makespan_every_turn": spans["engine (events)"]["worst"] <= TARGET_SPAN,
    }
    if args.json:
        doc = {
            "benchmark": "tools",
            "rounds": args.rounds,
            "runs_per_round": args.runs,
            "wall_us_per_turn": wall,
            "cpu_us_per_turn": cpu,
            "counts": counts,
            "ratios": ratios,
            "makespan_over_slowest": spans,
            "goals_met": goals,
        }
        print(json.dumps(doc, indent=2))
        return 0

    print(
        f"A loop of {TOOL_TURNS} tool turns × {PARALLEL} parallel tools + the final answer "
        f"({CALLS_PER_LOOP} model calls); per turn = per model call; median (range) of "
        f"{args.rounds} rounds × {args.runs} loops\n"
    )
    print(
        markdown_table(
            ["client", "wall µs/turn", "CPU µs/turn", "loops", "model calls", "tool calls"],
            [[c, _fmt(wall[c]), _fmt(cpu[c]), *counts[c].values()] for c in CLIENTS],
        )
    )
    print()
    print(
        markdown_table(
            ["ratio (within each round)", "wall", "CPU", "target"],
            [
                [
                    name.replace("_over_", " ÷ "),
                    _fmt_ratio(r["wall"]),
                    _fmt_ratio(r["cpu"]),
                    f"≤ {TARGET_VS_SDK}" if name == "engine_over_sdk" else "",
                ]
                for name, r in ratios.items()
            ],
        )
    )
    print(
        f"\nMakespan of {PARALLEL} tools sleeping {', '.join(f'{s:g}' for s in SLEEPS.values())} s "
        f"in one turn ÷ {max(SLEEPS.values()):g} s, {SPAN_TURNS} turns a loop\n"
    )
    print(
        markdown_table(
            ["measured", "turns", "median", "worst"],
            [
                [name, s["turns"], f"{s['median']:.3f}", f"{s['worst']:.3f}"]
                for name, s in spans.items()
            ],
        )
    )
    print_goals(goals)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
