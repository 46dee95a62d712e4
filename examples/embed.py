"""Use claude-force-trio as a library inside your own trio program (asyncio: embed_asyncio.py).

Run from the repository root (no API key needed: the embedded simulator answers):

    python examples/embed.py

It opens one engine, runs a single agent with streaming, a few agents at once,
and the ``code-quality-check`` DAG with a hook that prints events as they
happen; then it shows the result as the ``--json`` document would. The engine
gets this checkout's ``src/`` as its workspace, so the DAG's agents read real
code through ``read_file`` and ``search_text``, and the scan's typed findings
(``StepResult.data``) reach the review.
"""

from __future__ import annotations

import json
from pathlib import Path

import trio

import claude_force_trio as cft

CONFIG = Path(__file__).parent / ".claude" / "claude.json"
WORKSPACE = Path(__file__).parents[1] / "src"  # what the agents may read, and nothing else


def on_event(event: cft.Event) -> None:
    """A hook: any callable taking an event. Keep it cheap; it runs in the engine's task."""
    if isinstance(event, cft.StepStarted):
        print(f"  started   {event.step_id:<8} ({event.agent}, {event.model})")
    elif isinstance(event, cft.StepSucceeded):
        r = event.result
        print(f"  succeeded {r.id:<8} {r.elapsed_s:5.2f} s  {r.usage.output_tokens} tokens out")
    elif isinstance(event, cft.ToolFinished):
        outcome = f"error: {event.error}" if event.is_error else "ok"
        print(f"  tool      {event.step_id:<8} {event.tool} (turn {event.turn}): {outcome}")
    elif isinstance(event, cft.StepFailed | cft.StepTimedOut | cft.StepSkipped):
        print(f"  {event.result.status:<9} {event.step_id:<8} {event.result.error}")


async def main() -> None:
    config = cft.load_config(CONFIG)
    # The library never falls back to the simulator by itself: ask for it (a real
    # program passes nothing and sets ANTHROPIC_API_KEY or ANTHROPIC_BASE_URL).
    async with cft.open_engine(config, backend="simulator", workspace=WORKSPACE) as engine:
        print("one agent, streamed:")
        result = await engine.run_agent(
            "python-expert",
            "Suggest a safer way to parse untrusted YAML in a CLI tool.",
            on_text=lambda chunk: print(chunk, end="", flush=True),
        )
        print(
            f"\n  -> {result.status}, {result.usage.total_tokens} tokens, ${result.cost_usd:.5f}\n"
        )

        print("three agents at once:")
        many = await engine.run_many(
            [
                ("linter", "Review src/app.py for style problems."),
                ("security-scanner", "Scan src/app.py for injection risks."),
                ("type-checker", "Check src/app.py for typing gaps."),
            ]
        )
        for item in many:
            print(f"  {item.agent:<17} {item.status} in {item.elapsed_s:.2f} s")

        print("\nthe code-quality-check DAG:")
        run = await engine.run_workflow("code-quality-check", hooks=[on_event])
        if any(step.cached for step in run.steps):
            # Answers from the cache took no real time: no speed-up to claim.
            print(f"\n{run.status} in {run.elapsed_s:.2f} s (answered from the response cache)")
        else:
            speedup = run.step_time_s / run.elapsed_s if run.elapsed_s else 1.0
            print(
                f"\n{run.status} in {run.elapsed_s:.2f} s "
                f"(steps took {run.step_time_s:.2f} s: {speedup:.1f}× faster than one by one)"
            )
        print(json.dumps(run.to_dict()["usage"]))
        # The scan step has an output_schema: its answer is parsed and validated.
        print("the scan's findings, as the review received them:")
        print(json.dumps(run.step("scan").data, indent=2))


if __name__ == "__main__":
    trio.run(main)
