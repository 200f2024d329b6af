"""A candidate self-edit as plain JSON (what the graph state holds) and as an `AIMessage` (what validation reads).

The policy answers with `AIMessage`s whose `tool_calls` are the self-edit. The state keeps
only JSON, so each message becomes a `Candidate` (`candidates_from`); `rebuild_message`
turns it back into the message a validator reads, whatever the JSON holds.
"""

from __future__ import annotations

import json
from typing import Any

from langchain_core.messages import AIMessage

from seal_agent.state import Candidate


def rebuild_message(payload: Candidate) -> AIMessage:
    """The policy's message back from a candidate stored in the state (plain JSON).

    A call whose name is not a string or whose arguments are not an object becomes an
    invalid tool call (the self-edit is then rejected with the reason), never an error.
    """
    calls, invalid = [], []
    for i, call in enumerate(payload["tool_calls"]):
        if isinstance(call, dict) and isinstance(call.get("name"), str) and isinstance(call.get("args"), dict):
            calls.append({"name": call["name"], "args": call["args"], "id": f"call_{i}"})
        else:
            invalid.append({"name": None, "args": _text(call), "id": f"call_{i}",
                            "error": "a tool call needs a string name and an object of arguments"})
    for i, call in enumerate(payload["invalid_tool_calls"]):
        invalid.append({"name": None, "args": _text(call.get("args")), "id": f"bad_{i}", "error": _text(call.get("error"))})
    return AIMessage(content=payload["completion"], tool_calls=calls, invalid_tool_calls=invalid)


def _text(value: Any) -> str | None:
    if value is None or isinstance(value, str):
        return value
    return json.dumps(value, default=str)[:500]


def candidates_from(messages: list[AIMessage]) -> list[Candidate]:
    """Sampled messages as JSON candidates, numbered in sampling order."""
    return [
        Candidate(
            candidate=index,
            completion=message.text,
            tool_calls=[{"name": c["name"], "args": c["args"]} for c in message.tool_calls],
            invalid_tool_calls=[{"args": c.get("args"), "error": c.get("error")} for c in message.invalid_tool_calls],
        )
        for index, message in enumerate(messages)
    ]
