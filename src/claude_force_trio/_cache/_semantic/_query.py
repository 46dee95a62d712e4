"""Which calls the semantic cache may answer, and the scope their answers are shared in.

**Eligible**: a call of an agent with the semantic cache on, that the response
cache may answer at all (``Call.cache``), whose body has no tools
(``tools``, ``tool_choice``, ``mcp_servers``: an answer that depends on what a
tool returns is not the answer to a similar task) and exactly one message: from
the user, its content a string or a list of text blocks only. A conversation,
an image or a document is not a task whose wording can be compared.

**Scope**: sha256 over the agent, the embedder's id and the request body with
the user's text taken out — canonicalised as the exact cache key is
(:func:`.._entry.canonical_request`: without ``stream``, ``metadata`` and
``cache_control``). So the model, the system prompt, ``max_tokens``,
``temperature``, ``output_config``… each make their own scope, and a match is
only ever between two tasks sent exactly the same way; only the task's
wording may differ. The content's shape (string or blocks) is not in the
scope: it does not change the answer.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..._call import Call
from .._entry import canonical_request

__all__ = ["SCOPE_VERSION", "SemanticQuery", "build_query", "user_text"]

#: Hashed into every scope: bump it when what a scope means changes.
SCOPE_VERSION = 1
_TOOL_FIELDS = frozenset({"tools", "tool_choice", "mcp_servers"})
_TEXT_BLOCK_FIELDS = frozenset({"type", "text", "cache_control"})


@dataclass(frozen=True, slots=True)
class SemanticQuery:
    """A call the semantic cache may answer.

    Attributes:
        agent: the agent asking.
        scope: hex digest of the agent, the embedder's id and the whole request
            body except the user's text.
        text: the user message's text (what is embedded and guarded).
        threshold: this agent's threshold (the lowest cosine that matches).
    """

    agent: str
    scope: str
    text: str
    threshold: float


def user_text(body: Mapping[str, Any]) -> str | None:
    """The text of the body's only message, or ``None`` when the body is not eligible.

    Args:
        body: a Messages request body.
    """
    if _TOOL_FIELDS & body.keys():
        return None
    messages = body.get("messages")
    if not isinstance(messages, list | tuple) or len(messages) != 1:
        return None
    message = messages[0]
    if not isinstance(message, Mapping) or message.keys() - {"role", "content"}:
        return None
    if message.get("role") != "user":
        return None
    content = message.get("content")
    if isinstance(content, str):
        text = content
    elif isinstance(content, list | tuple) and content:
        texts = []
        for block in content:
            if not isinstance(block, Mapping) or block.keys() - _TEXT_BLOCK_FIELDS:
                return None
            if block.get("type") != "text" or not isinstance(block.get("text"), str):
                return None
            texts.append(block["text"])
        text = "\n\n".join(texts)
    else:
        return None
    return text if text.strip() else None


def scope_of(agent: str, embedder_id: str, body: Mapping[str, Any]) -> str:
    """The scope of ``body`` (see the module docstring).

    Args:
        agent: the agent asking.
        embedder_id: names the vector space.
        body: an eligible Messages request body.
    """
    rest = {k: v for k, v in body.items() if k != "messages"}
    digest = hashlib.sha256()
    for part in (f"semantic-scope-v{SCOPE_VERSION}", agent, embedder_id):
        digest.update(part.encode("utf-8") + b"\x00")
    digest.update(canonical_request(rest))
    return digest.hexdigest()


def build_query(
    call: Call, thresholds: Mapping[str, float], embedder_id: str
) -> SemanticQuery | None:
    """The query for ``call``, or ``None`` when the semantic cache must not answer it.

    Args:
        call: the call.
        thresholds: agent name -> threshold, for the agents with the semantic cache on.
        embedder_id: names the vector space (part of the scope).
    """
    agent = call.agent
    if agent is None or agent not in thresholds or not call.cache:
        return None
    text = user_text(call.body)
    if text is None:
        return None
    return SemanticQuery(agent, scope_of(agent, embedder_id, call.body), text, thresholds[agent])
