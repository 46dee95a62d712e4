"""Use claude-force-trio inside an asyncio program, as a FastAPI (or any asyncio) service would.

Run from the repository root (no API key needed: the embedded simulator answers):

    python examples/embed_asyncio.py

The engine is anyio code, so it runs on asyncio as it does on trio. A service
opens one engine for its whole life (in FastAPI: the ``lifespan`` context) and
lets every request share it: one HTTP pool, one response cache, one adaptive
rate limit. Here three "requests" arrive at once and are answered concurrently
with ``asyncio.TaskGroup``, a workflow runs beside them, and a fourth request
is cancelled the asyncio way (``task.cancel()``) without disturbing the rest.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import claude_force_trio as cft

CONFIG = Path(__file__).parent / ".claude" / "claude.json"


@asynccontextmanager
async def lifespan() -> AsyncIterator[cft.Engine]:
    """What a FastAPI app's lifespan would do: one engine for the service's whole life."""
    config = cft.load_config(CONFIG)
    # A real service passes nothing here and sets ANTHROPIC_API_KEY; the library
    # never falls back to the simulator on its own, so it is asked for explicitly.
    async with cft.open_engine(config, backend="simulator") as engine:
        yield engine


async def handle_review(engine: cft.Engine, path: str) -> dict[str, object]:
    """A request handler: one agent on one task, answered as JSON."""
    result = await engine.run_agent("code-reviewer", f"Review {path} before merge.")
    return {"path": path, "status": result.status, "cost_usd": result.cost_usd}


async def main() -> None:
    async with lifespan() as engine:
        start = time.perf_counter()
        async with asyncio.TaskGroup() as group:
            requests = [
                group.create_task(handle_review(engine, path))
                for path in ("api/users.py", "api/orders.py", "api/auth.py")
            ]
            workflow = group.create_task(engine.run_workflow("code-quality-check"))
            abandoned = group.create_task(handle_review(engine, "api/legacy.py"))
            await asyncio.sleep(0)  # let it start, then the client goes away
            abandoned.cancel()
        elapsed = time.perf_counter() - start
        for request in requests:
            print(request.result())
        run = workflow.result()
        print(f"code-quality-check: {run.status}, {len(run.steps)} steps in {run.elapsed_s:.2f} s")
        print(f"abandoned request cancelled: {abandoned.cancelled()}")
        print(f"all of it concurrently, on asyncio, in {elapsed:.2f} s")


if __name__ == "__main__":
    asyncio.run(main())
