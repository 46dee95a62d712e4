"""Budgets: worst cases bound real costs, reservations hold when calls race, refusals send nothing.

The layer is driven over a fake next layer (answers after a virtual delay) and
an in-memory day ledger, on trio's MockClock; the engine-level cases run whole
workflows against the embedded simulator over loopback.
"""

from __future__ import annotations

import json
import math
import uuid
from pathlib import Path
from typing import Any

import pytest
import trio
import trio.testing

from claude_force_trio import open_engine
from claude_force_trio._budget import BudgetLayer, worst_case_usd
from claude_force_trio._call import Call, CallObserver
from claude_force_trio._config import load_config
from claude_force_trio._errors import (
    BudgetError,
    BudgetExceededError,
    ConfigError,
    InternalServerError,
    RateLimitError,
)
from claude_force_trio._journal._ledger import Hold, LedgerStatus
from claude_force_trio._pricing import cost_usd
from claude_force_trio._run_budget import MICROS_PER_USD, RunBudget, check_usd, to_micros
from claude_force_trio._types import MessageResult, Usage
from claude_force_trio.simulator import SimulatorConfig

from .test_cli import cft, offline  # noqa: F401 - offline is a fixture

MODEL = "claude-haiku-4-5"
INSTANT = SimulatorConfig(ttft_ms=0, tokens_per_s=0)


@pytest.fixture
def autojump_clock() -> trio.testing.MockClock:
    """Virtual time that jumps ahead whenever every task is waiting."""
    return trio.testing.MockClock(autojump_threshold=0)


def body(text: str = "hello", *, max_tokens: int = 1000, model: str = MODEL) -> dict[str, Any]:
    """A Messages body of one user message."""
    return {
        "model": model,
        "max_tokens": max_tokens,
        "system": [{"type": "text", "text": "You are terse."}],
        "messages": [{"role": "user", "content": text}],
    }


class FakeNext:
    """The next layer: answers after ``latency`` virtual seconds with fixed usage, or raises."""

    def __init__(
        self,
        usage: Usage | None = None,
        *,
        latency: float = 1.0,
        error: Exception | None = None,
    ) -> None:
        self.usage = usage or Usage(input_tokens=10, output_tokens=20)
        self.latency = latency
        self.error = error
        self.sent = 0
        self.in_flight = 0
        self.most_in_flight = 0

    async def send(self, call: Call, observer: CallObserver) -> MessageResult:
        """Count the call, wait, answer (or raise ``error``)."""
        self.sent += 1
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            await trio.sleep(self.latency)
            if self.error is not None:
                raise self.error
            return MessageResult(
                id="msg_1", model=call.model, text="ok", stop_reason="end_turn", usage=self.usage
            )
        finally:
            self.in_flight -= 1


class MemoryLedger:
    """A day ledger in memory (the real ones are tested in tests/test_budget_ledger.py)."""

    where = "memory"

    def __init__(self, *, fail: Exception | None = None) -> None:
        self.spent: dict[str, int] = {}
        self.holds: dict[str, Hold] = {}
        self.fail = fail

    async def reserve(self, key: str, amount: int, limit: int, *, ttl_s: float) -> Hold | None:
        """Hold ``amount`` if spent + held + amount fits ``limit``."""
        if self.fail is not None:
            raise self.fail
        held = sum(h.amount for h in self.holds.values() if h.key == key)
        if self.spent.get(key, 0) + held + amount > limit:
            return None
        hold = Hold(key, uuid.uuid4().hex, amount)
        self.holds[hold.hold_id] = hold
        return hold

    async def settle(self, hold: Hold, spent: int) -> None:
        """Drop the hold, count what was spent."""
        if self.holds.pop(hold.hold_id, None) is not None:
            self.spent[hold.key] = self.spent.get(hold.key, 0) + spent

    async def status(self, key: str) -> LedgerStatus:
        """Spent and held under ``key``."""
        holds = [h for h in self.holds.values() if h.key == key]
        return LedgerStatus(key, self.spent.get(key, 0), sum(h.amount for h in holds), len(holds))

    async def aclose(self) -> None:
        """Nothing to close."""


def worst(text: str = "hello", **kw: Any) -> int:
    """The worst case of ``body(text)`` in micro-dollars."""
    value = worst_case_usd(body(text, **kw))
    assert value is not None
    return to_micros(value)


# -- the worst case ---------------------------------------------------------------


def test_worst_case_counts_bytes_and_max_tokens_at_the_dearest_rates() -> None:
    """Haiku: input bytes (keys too) and allowances at the 1-hour write rate, output at its own."""
    request = body("héllo", max_tokens=1000)
    message = len("role") + len("user") + len("content") + len("héllo".encode())
    system = len("type") + len("text") + len("text") + len("You are terse.")
    tokens = 64 + 16 + message + system
    assert worst_case_usd(request) == pytest.approx((tokens * 2.0 + 1000 * 5.0) / 1e6)


def test_worst_case_bounds_what_the_simulator_bills() -> None:
    """For a long English prompt the worst case is several times the cost the API would report."""
    prompt = "Review this function for off-by-one errors. " * 200
    value = worst_case_usd(body(prompt, max_tokens=500))
    assert value is not None
    # Billed: about a token per four characters in, at most max_tokens out.
    billed = cost_usd(Usage(input_tokens=len(prompt) // 4, output_tokens=500), MODEL)
    assert billed is not None
    assert value > 2 * billed


def test_worst_case_of_images_and_tools() -> None:
    """An image adds a fixed allowance (not its bytes); tools add their text and a preamble."""
    image = {"type": "image", "source": {"type": "base64", "data": "A" * 1_000_000}}
    with_image = body()
    with_image["messages"] = [{"role": "user", "content": [image]}]
    value = worst_case_usd(with_image)
    assert value is not None
    assert value < 0.02
    plain = worst_case_usd(body())
    tools = body() | {"tools": [{"name": "t", "description": "d", "input_schema": {}}]}
    with_tools = worst_case_usd(tools)
    assert plain is not None
    assert with_tools is not None
    tool_bytes = len("nametdescriptiondinput_schema")
    assert with_tools - plain == pytest.approx((1000 + tool_bytes) * 2.0 / 1e6)


def test_unknown_model_has_no_worst_case() -> None:
    """A model without a price cannot be bounded."""
    assert worst_case_usd(body(model="claude-unknown-9")) is None


def test_money_in_micros_rounds_up_and_caps_are_checked() -> None:
    """to_micros never falls short; a cap must be a positive finite number."""
    assert to_micros(0.0000011) == 2
    assert to_micros(1.0) == MICROS_PER_USD
    assert check_usd(2, "budget_usd") == 2.0
    for bad in (0, -1.0, math.inf, math.nan):
        with pytest.raises(ValueError, match="budget_usd must be a positive number"):
            check_usd(bad, "budget_usd")
    with pytest.raises(TypeError, match="budget_usd must be a number"):
        check_usd(True, "budget_usd")


# -- the layer ----------------------------------------------------------------------


async def test_concurrent_calls_never_commit_past_the_run_cap(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """Ten calls at once under a cap that fits three worst cases: three are sent, seven refused."""
    nxt = FakeNext()
    layer = BudgetLayer(nxt)
    run = RunBudget((3 * worst() + 1) / MICROS_PER_USD)
    outcomes: list[str] = []

    async def one() -> None:
        try:
            await layer.send(Call(body(), budget=run), CallObserver())
            outcomes.append("sent")
        except BudgetExceededError as exc:
            outcomes.append(f"refused ({exc.scope})")

    async with trio.open_nursery() as nursery:
        for _ in range(10):
            nursery.start_soon(one)
    assert sorted(outcomes) == ["refused (run)"] * 7 + ["sent"] * 3
    assert nxt.sent == 3
    assert nxt.most_in_flight == 3
    real = cost_usd(nxt.usage, MODEL)
    assert real is not None
    assert run.spent == 3 * to_micros(real)
    assert run.reserved == 0


async def test_settled_cost_frees_the_rest_for_later_calls(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """Calls one after another: each settles at its real cost, so many more fit than worst cases."""
    nxt = FakeNext()
    layer = BudgetLayer(nxt)
    run = RunBudget(2 * worst() / MICROS_PER_USD)
    sent = 0

    async def until_refused() -> None:
        nonlocal sent
        while True:
            await layer.send(Call(body(), budget=run), CallObserver())
            sent += 1

    with pytest.raises(BudgetExceededError, match=r"^run budget exceeded: the call was not sent"):
        await until_refused()
    real = cost_usd(nxt.usage, MODEL)
    assert real is not None
    assert sent > 2
    assert sent == nxt.sent
    assert run.spent + worst() > run.cap >= run.spent


async def test_refused_by_the_server_costs_nothing_cancelled_costs_the_worst_case(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """A 429 settles at 0; a call cancelled in flight settles at its whole reservation."""
    run = RunBudget(1.0)
    refused = BudgetLayer(FakeNext(error=RateLimitError(429, "rate_limit_error", "slow down")))
    with pytest.raises(RateLimitError):
        await refused.send(Call(body(), budget=run), CallObserver())
    assert (run.spent, run.reserved) == (0, 0)
    layer = BudgetLayer(FakeNext(latency=10.0))
    with trio.move_on_after(1.0):
        await layer.send(Call(body(), budget=run), CallObserver())
    assert (run.spent, run.reserved) == (worst(), 0)


async def test_unknown_price_is_refused_under_a_budget(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """With a budget, a model whose cost cannot be bounded is not sent."""
    nxt = FakeNext()
    run = RunBudget(100.0)
    with pytest.raises(BudgetExceededError, match="no known price"):
        await BudgetLayer(nxt).send(Call(body(model="claude-x"), budget=run), CallObserver())
    day = BudgetLayer(nxt, ledger=MemoryLedger(), day_limit_usd=100.0)
    with pytest.raises(BudgetExceededError, match=r"^day budget exceeded.*no known price"):
        await day.send(Call(body(model="claude-x")), CallObserver())
    assert nxt.sent == 0


async def test_no_budget_passes_straight_through(autojump_clock: trio.testing.MockClock) -> None:
    """No run cap and no day cap: the call is sent as is (an unknown model too)."""
    nxt = FakeNext()
    await BudgetLayer(nxt, ledger=MemoryLedger()).send(Call(body(model="x")), CallObserver())
    assert nxt.sent == 1


async def test_day_cap_holds_and_settles_in_the_ledger(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """The day ledger holds each call's worst case and ends with exactly the real costs."""
    ledger = MemoryLedger()
    nxt = FakeNext()
    layer = BudgetLayer(
        nxt, ledger=ledger, day_limit_usd=(2 * worst() + 5) / MICROS_PER_USD, day_key=lambda: "d"
    )
    results: list[BaseException | None] = []

    async def one() -> None:
        try:
            await layer.send(Call(body()), CallObserver())
            results.append(None)
        except BudgetExceededError as exc:
            results.append(exc)

    async with trio.open_nursery() as nursery:
        for _ in range(4):
            nursery.start_soon(one)
    refused = [exc for exc in results if exc is not None]
    assert len(refused) == 2
    assert nxt.sent == 2
    assert "day budget exceeded" in str(refused[0])
    real = cost_usd(nxt.usage, MODEL)
    assert real is not None
    assert ledger.spent == {"d": 2 * to_micros(real)}
    assert ledger.holds == {}


async def test_a_run_refusal_takes_no_day_hold_and_a_day_refusal_frees_the_run_hold(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """Whichever budget refuses, nothing stays held in the other."""
    ledger = MemoryLedger()
    layer = BudgetLayer(FakeNext(), ledger=ledger, day_limit_usd=1e-6, day_key=lambda: "d")
    run = RunBudget(1.0)
    with pytest.raises(BudgetExceededError, match=r"^day"):
        await layer.send(Call(body(), budget=run), CallObserver())
    assert (run.spent, run.reserved) == (0, 0)
    small = RunBudget(1e-6)
    roomy = BudgetLayer(FakeNext(), ledger=ledger, day_limit_usd=1.0, day_key=lambda: "d")
    with pytest.raises(BudgetExceededError, match=r"^run"):
        await roomy.send(Call(body(), budget=small), CallObserver())
    assert ledger.holds == {}
    assert ledger.spent == {}


async def test_an_unreachable_ledger_sends_nothing(autojump_clock: trio.testing.MockClock) -> None:
    """A ledger that cannot be reached fails the call closed, with a BudgetError naming it."""
    nxt = FakeNext()
    layer = BudgetLayer(
        nxt, ledger=MemoryLedger(fail=ConnectionError("refused")), day_limit_usd=5.0
    )
    run = RunBudget(1.0)
    with pytest.raises(BudgetError, match=r"day budget cannot be checked \(memory\): refused"):
        await layer.send(Call(body(), budget=run), CallObserver())
    assert nxt.sent == 0
    assert run.reserved == 0


async def test_a_ledger_lost_at_settle_time_is_a_warning(
    autojump_clock: trio.testing.MockClock, caplog: pytest.LogCaptureFixture
) -> None:
    """The call happened: its answer is returned, and the lost settle is logged once."""

    class Flaky(MemoryLedger):
        async def settle(self, hold: Hold, spent: int) -> None:
            raise ConnectionError("gone")

    layer = BudgetLayer(FakeNext(), ledger=Flaky(), day_limit_usd=5.0)
    result = await layer.send(Call(body()), CallObserver())
    assert result.text == "ok"
    assert "could not settle" in caplog.text
    assert "gone" in caplog.text


async def test_a_server_error_is_not_charged(autojump_clock: trio.testing.MockClock) -> None:
    """A 500 that reached us settles at zero in the day ledger too."""
    ledger = MemoryLedger()
    layer = BudgetLayer(
        FakeNext(error=InternalServerError(500, "api_error", "boom")),
        ledger=ledger,
        day_limit_usd=5.0,
        day_key=lambda: "d",
    )
    with pytest.raises(InternalServerError):
        await layer.send(Call(body()), CallObserver())
    assert ledger.spent == {"d": 0}
    assert ledger.holds == {}


# -- config -------------------------------------------------------------------------


def write_config(tmp_path: Path, **sections: Any) -> Path:
    """A claude.json with one haiku agent, a 3-step workflow and ``sections``."""
    (tmp_path / "agents").mkdir(exist_ok=True)
    (tmp_path / "agents" / "a.md").write_text("# A\n\nYou answer briefly.")
    doc = {
        "defaults": {"model": "haiku", "max_tokens": 400},
        "agents": {"a": {"file": "agents/a.md"}},
        "workflows": {
            "wf": {
                "on_failure": "continue",
                "steps": [
                    {"id": "one", "agent": "a", "task": "first"},
                    {"id": "two", "agent": "a", "task": "second"},
                    {"id": "three", "agent": "a", "task": "third", "dependencies": ["one"]},
                ],
            }
        },
        **sections,
    }
    path = tmp_path / "claude.json"
    path.write_text(json.dumps(doc))
    return path


def test_budget_section_is_read_and_checked(tmp_path: Path) -> None:
    """Caps load; a per-workflow cap must name a workflow; a cap must be positive."""
    config = load_config(
        write_config(
            tmp_path, budget={"per_run_usd": 2, "per_day_usd": 50, "per_workflow_usd": {"wf": 0.5}}
        )
    )
    assert config.budget.per_day_usd == 50.0
    assert config.budget.run_cap("wf") == 0.5
    assert config.budget.run_cap(None) == 2.0
    with pytest.raises(ConfigError, match=r"budget\.per_workflow_usd\.wff: unknown workflow"):
        load_config(write_config(tmp_path, budget={"per_workflow_usd": {"wff": 1}}))
    with pytest.raises(ConfigError, match=r"budget\.per_run_usd: expected a number above 0"):
        load_config(write_config(tmp_path, budget={"per_run_usd": 0}))
    with pytest.raises(ConfigError, match=r"budget\.per_dya_usd: unknown key"):
        load_config(write_config(tmp_path, budget={"per_dya_usd": 1}))


# -- the engine ---------------------------------------------------------------------


def engine_config(tmp_path: Path, per_run: float | None = None, **budget: Any) -> Any:
    """The test workflow's config with ``budget`` caps."""
    if per_run is not None:
        budget["per_run_usd"] = per_run
    return load_config(write_config(tmp_path, budget=budget))


async def test_a_tight_run_budget_fails_steps_with_budget_exceeded(tmp_path: Path) -> None:
    """A cap below one call's worst case: every step fails budget_exceeded, nothing is sent."""
    config = engine_config(tmp_path, per_run=0.0001)
    async with open_engine(config, backend="simulator", simulator=INSTANT) as engine:
        result = await engine.run_workflow("wf")
    assert result.status == "failed"
    statuses = {s.id: (s.status, s.error_type) for s in result.steps}
    assert statuses == {
        "one": ("failed", "budget_exceeded"),
        "two": ("failed", "budget_exceeded"),
        "three": ("skipped", None),
    }
    assert result.steps[0].attempts == 0


async def test_budget_usd_argument_overrides_the_config(tmp_path: Path) -> None:
    """A roomy budget_usd lets through a run the config refuses; a cache hit is never refused."""
    config = engine_config(tmp_path, per_run=0.0001)
    async with open_engine(config, backend="simulator", simulator=INSTANT) as engine:
        result = await engine.run_workflow("wf", budget_usd=1.0)
        single = await engine.run_agent("a", "hi", budget_usd=1.0)
        refused = await engine.run_agent("a", "something new")
        # The same task again is a cache hit: it costs nothing, so the tight cap lets it through.
        repeat = await engine.run_agent("a", "hi")
        many = await engine.run_many([("a", "x"), ("a", "y")], budget_usd=1.0)
        with pytest.raises(ValueError, match="budget_usd must be a positive number"):
            await engine.run_agent("a", "hi", budget_usd=0)
    assert result.status == "succeeded"
    assert result.cost_usd is not None
    assert result.cost_usd < 1.0
    assert single.ok
    assert not refused.ok
    assert refused.error_type == "budget_exceeded"
    assert repeat.ok
    assert repeat.cached
    assert [r.ok for r in many] == [True, True]


async def test_day_budget_in_sqlite_is_shared_by_engines(tmp_path: Path) -> None:
    """Two engines one after another share the day's total (the file beside the journal)."""
    config = engine_config(tmp_path, per_day_usd=1.0)
    async with open_engine(config, backend="simulator", simulator=INSTANT, cache=False) as engine:
        first = await engine.run_workflow("wf")
    async with open_engine(config, backend="simulator", simulator=INSTANT, cache=False) as engine:
        second = await engine.run_workflow("wf")
    from claude_force_trio._journal._ledger import day_key, open_sqlite_ledger

    async with open_sqlite_ledger() as ledger:
        status = await ledger.status(day_key())
    assert first.ok
    assert second.ok
    assert status.reserved == 0
    assert status.holds == 0
    # One call a step, each settled at its own cost.
    costs = [s.cost_usd for s in first.steps + second.steps]
    assert status.spent == sum(to_micros(cost or 0.0) for cost in costs)
    assert all(cost for cost in costs)


# -- the day budget on Redis, and the command line --------------------------------------


@pytest.mark.redis
async def test_day_budget_on_redis_through_coordination(tmp_path: Path, redis_url: str) -> None:
    """With coordination.redis_url the day's spending lands in Redis, settled to the real cost."""
    from claude_force_trio._journal._ledger import day_key
    from claude_force_trio._journal._ledger_redis import open_redis_ledger

    config = load_config(
        write_config(tmp_path, budget={"per_day_usd": 1.0}, coordination={"redis_url": redis_url})
    )
    async with open_redis_ledger(redis_url) as ledger:
        before = await ledger.status(day_key())
    async with open_engine(config, backend="simulator", simulator=INSTANT, cache=False) as engine:
        result = await engine.run_workflow("wf")
    async with open_redis_ledger(redis_url) as ledger:
        after = await ledger.status(day_key())
    assert result.ok
    costs = [s.cost_usd or 0.0 for s in result.steps]
    assert after.spent - before.spent == sum(to_micros(cost) for cost in costs)
    assert after.holds == before.holds


@pytest.mark.usefixtures("offline")
def test_cli_budget_flag_and_status(tmp_path: Path) -> None:
    """--budget refuses what does not fit (exit 1); budget status shows the caps, today's total."""
    path = write_config(tmp_path, budget={"per_day_usd": 5.0, "per_workflow_usd": {"wf": 1.0}})
    refused = cft(
        "--simulate", "workflow", "run", "wf", "--budget", "0.0001", "--json", config=path
    )
    assert refused.exit_code == 1
    doc = json.loads(refused.stdout)
    assert {s["id"]: s["error_type"] for s in doc["steps"]} == {
        "one": "budget_exceeded",
        "two": "budget_exceeded",
        "three": None,
    }
    ran = cft("--simulate", "run", "a", "hello", "--budget", "1", "--json", config=path)
    assert ran.exit_code == 0, ran.output
    cost = json.loads(ran.stdout)["cost_usd"]
    status = cft("budget", "status", "--json", config=path)
    assert status.exit_code == 0, status.output
    report = json.loads(status.stdout)
    assert report["per_day_usd"] == 5.0
    assert report["per_workflow_usd"] == {"wf": 1.0}
    assert report["spent_usd"] == pytest.approx(to_micros(cost) / MICROS_PER_USD)
    assert report["remaining_usd"] == pytest.approx(5.0 - report["spent_usd"])
    assert report["holds"] == 0
    table = cft("budget", "status", config=path)
    assert "per run of wf" in table.stdout
    assert "spent today" in table.stdout
    bad = cft("--simulate", "run", "a", "hello", "--budget", "0", config=path)
    assert bad.exit_code == 2


def test_a_run_budget_comes_from_the_argument_else_the_config() -> None:
    """budget_usd wins; else the workflow's own cap, else per_run_usd; a resume starts spent."""
    from claude_force_trio._config import BudgetConfig
    from claude_force_trio._run_budget import run_budget

    caps = BudgetConfig(per_run_usd=2.0, per_workflow_usd={"wf": 0.5})
    assert run_budget(BudgetConfig(), None, "wf") is None
    assert run_budget(caps, 3.0, "wf").cap == 3 * MICROS_PER_USD  # type: ignore[union-attr]
    assert run_budget(caps, None, "wf").cap == MICROS_PER_USD // 2  # type: ignore[union-attr]
    resumed = run_budget(caps, None, "other", 0.25)
    assert resumed is not None
    assert (resumed.cap, resumed.spent) == (2 * MICROS_PER_USD, MICROS_PER_USD // 4)
    assert resumed.spent_usd == 0.25
