"""A step's conversation: call → tools → call again, until an honest outcome.

Why a loop of its own, apart from :class:`~claude_force_trio._step.Step`:
the step owns the clock, the events and the result; this owns the messages.
Each call sends the whole transcript so far (the API is stateless), so

* after ``tool_use`` the reply goes back *unchanged* as the assistant turn —
  thinking blocks included, which the API checks — followed by one user
  turn of ``tool_result`` blocks in the order the tools were asked for;
* after ``pause_turn`` (a server tool's long turn) the reply goes back as it
  is and the model carries on;
* a reply cut at ``max_tokens`` fails, or is accepted, or — with
  ``on_max_tokens: "continue"`` — is sent back as a trailing assistant
  message (a prefill) so the model goes on from where it stopped, at most
  :data:`MAX_CONTINUATIONS` times. The API refuses a prefill when thinking is
  on, so then the step fails saying so;
* a final answer that breaks the ``output_schema`` is sent back once with the
  first schema error, then fails.

Every call counts against the agent's ``max_turns``. Each call goes through
the step's ``ask`` and so through the whole call stack: it is cached and
priced on its own (its body holds the earlier turns, so a changed tool
result is a different key).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ._outcome import Failure, parse_data, thinking_of, tool_uses, verdict
from ._tool_round import Redact, RoundReport, run_tools

if TYPE_CHECKING:
    from ._config import AgentConfig
    from ._results import ToolCall
    from ._tools import ToolBox
    from ._types import MessageResult

__all__ = ["MAX_CONTINUATIONS", "Asker", "Conversation", "Outcome"]

#: The most times a reply cut at ``max_tokens`` is continued (``on_max_tokens: "continue"``).
MAX_CONTINUATIONS = 3


class Asker(RoundReport):
    """What a conversation needs of its step: a way to ask, and ears for its tool rounds."""

    __slots__ = ()

    async def ask(self, body: dict[str, Any]) -> MessageResult:
        """Send one request body through the call stack; return the reply."""
        raise NotImplementedError  # pragma: no cover - the step's own is the one called


@dataclass(frozen=True, slots=True)
class Outcome:
    """How a conversation ended: an answer, or a :class:`Failure`.

    Attributes:
        message: the last reply.
        text: the answer (continued replies joined).
        data: the typed answer, for a step with an ``output_schema``.
        failure: why there is no answer, else ``None``.
    """

    message: MessageResult
    text: str
    data: Any = None
    failure: Failure | None = None


class Conversation:
    """The messages of one step, and the loop that extends them.

    Args:
        body: the first request (its ``messages`` hold the one user message).
        agent: the agent (``max_turns``, ``on_max_tokens``, ``thinking``).
        tools: the tools it may use.
        schema: the ``output_schema`` its answer must follow, or ``None``.
        redact: scrubs what tools' failures say.

    The step that owns it passes itself (an :class:`Asker`) to :meth:`run`
    rather than to the constructor: a conversation that held its step would make
    a reference cycle of every step, left for the garbage collector (at 1,024 in
    flight those cycles grew the oldest generation to a quarter of a million
    objects and full collections took a third of the client's CPU).
    """

    __slots__ = (
        "_agent",
        "_body",
        "_redact",
        "_schema",
        "_tools",
        "messages",
        "thinking",
        "tool_calls",
        "turns",
    )

    def __init__(
        self,
        body: Mapping[str, Any],
        *,
        agent: AgentConfig,
        tools: ToolBox,
        schema: Mapping[str, Any] | None,
        redact: Redact,
    ) -> None:
        self._body = body if isinstance(body, dict) else dict(body)
        self._agent = agent
        self._tools = tools
        self._schema = schema
        self._redact = redact
        self.messages: list[Any] = list(body["messages"])
        self.turns = 0
        # Empty tuples until there is something to keep: most steps never use a tool.
        self.tool_calls: Sequence[ToolCall] = ()
        self.thinking: Sequence[str] = ()

    async def run(self, step: Asker) -> Outcome:
        """Call until the model gives an answer, or a reason there is none.

        Args:
            step: asks (``step.ask``: one request body through the call stack)
                and hears about each tool call. An object rather than a bound
                ``ask`` method: a bound method is one more object per waiting call.
        """
        prefix = ""  # the text of a reply cut at max_tokens, continued by prefill
        continued = 0
        retried = False
        while True:
            # The first call sends the body as it was built (its one user message is
            # the whole transcript); a later one a copy of the transcript as it is
            # now, since the list grows after the call (a cached call keeps its body).
            # Inline rather than a method: one frame less per waiting call.
            self.turns += 1
            message = await step.ask(
                self._body if self.turns == 1 else {**self._body, "messages": list(self.messages)}
            )
            if thoughts := thinking_of(message.content):
                self.thinking = [*self.thinking, *thoughts]
            kind = verdict(message.stop_reason)
            if kind == "tools" and not tool_uses(message.content):
                kind = "final"  # nothing to run (a lax server): the text is the answer
            if kind in ("tools", "resume"):
                why = "the model still asked for tools" if kind == "tools" else "paused again"
                if (failure := self._no_room(why)) is not None:
                    return Outcome(message, prefix + message.text, failure=failure)
                self._assistant(message.content, prefix)
                prefix = ""
                if kind == "tools":
                    results = await self._tool_round(message, step)
                    self.messages.append({"role": "user", "content": results})
                continue
            text = prefix + message.text
            if kind == "refused":
                return Outcome(message, text, failure=Failure("refused", _refused(message)))
            if kind == "truncated" and self._agent.on_max_tokens != "accept":
                failure = self._continuation(message, text, continued)
                if failure is not None:
                    return Outcome(message, text, failure=failure)
                prefix, continued = text.rstrip(), continued + 1
                self._prefill(prefix)
                continue
            if not text.strip():
                return Outcome(message, text, failure=Failure("empty", "the reply had no text"))
            if self._schema is None:
                return Outcome(message, text)
            data, problem = parse_data(text, self._schema)
            if problem is None:
                return Outcome(message, text, data)
            if retried or self._no_room("") is not None:
                failure = Failure(
                    "invalid_output", f"output does not match output_schema: {problem}"
                )
                return Outcome(message, text, failure=failure)
            retried = True
            self._assistant(message.content, prefix)
            prefix = ""
            self.messages.append({"role": "user", "content": _schema_feedback(problem)})

    async def _tool_round(
        self, message: MessageResult, report: RoundReport
    ) -> list[dict[str, Any]]:
        uses = tool_uses(message.content)
        done = await run_tools(
            self._tools, uses, turn=self.turns, redact=self._redact, report=report
        )
        self.tool_calls = [*self.tool_calls, *done.calls]
        return done.results

    def _no_room(self, why: str) -> Failure | None:
        """A failure when ``max_turns`` calls were made and another is needed, else ``None``."""
        limit = self._agent.max_turns
        if self.turns < limit:
            return None
        reason = f": {why}" if why else ""
        return Failure("max_turns", f"max_turns ({limit}) reached{reason}")

    def _continuation(self, message: MessageResult, text: str, continued: int) -> Failure | None:
        """Why a reply cut at ``max_tokens`` cannot be continued, or ``None`` when it can."""
        reason = message.stop_reason
        if reason == "max_tokens":
            cut = f"the reply was cut at max_tokens ({self._body.get('max_tokens')})"
        else:
            cut = f"the reply was cut short ({reason})"
        if reason != "max_tokens" or self._agent.on_max_tokens != "continue":
            return Failure("truncated", cut)
        if _thinking_on(self._agent):
            return Failure(
                "truncated",
                f"{cut}; on_max_tokens 'continue' cannot work with thinking on "
                "(the API refuses an assistant prefill then)",
            )
        if continued >= MAX_CONTINUATIONS:
            return Failure("truncated", f"{cut}, still after {MAX_CONTINUATIONS} continuations")
        if any(block.get("type") != "text" for block in message.content):
            return Failure("truncated", f"{cut} inside a tool call; it cannot be continued")
        if not text.strip():
            return Failure("truncated", f"{cut} before any text")
        return self._no_room("the reply was cut at max_tokens and needs a continuation")

    def _prefill(self, prefix: str) -> None:
        """Make ``prefix`` the trailing assistant message (replacing an earlier prefill)."""
        if self.messages and self.messages[-1].get("role") == "assistant":
            self.messages.pop()
        self.messages.append({"role": "assistant", "content": prefix})

    def _assistant(self, content: tuple[Mapping[str, Any], ...], prefix: str) -> None:
        """Append the reply as the assistant turn, unchanged (after a prefill's text, if any)."""
        blocks = [dict(block) for block in content]
        if prefix:
            self.messages.pop()  # the prefill: its text heads the whole reply now
            blocks.insert(0, {"type": "text", "text": prefix})
        self.messages.append({"role": "assistant", "content": blocks})


def _thinking_on(agent: AgentConfig) -> bool:
    return agent.thinking is not None and agent.thinking.get("type") != "disabled"


def _refused(message: MessageResult) -> str:
    said = " ".join(message.text.split())
    return "the model refused" + (f": {said[:200]}" if said else "")


def _schema_feedback(problem: str) -> str:
    return (
        "Your reply does not match the required JSON Schema: "
        f"{problem}. Reply again with only the JSON value, matching the schema."
    )
