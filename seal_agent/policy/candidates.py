"""A candidate self-edit as text, as plain JSON (what the graph state holds) and as an `AIMessage` (what validation reads).

A self-edit is written as a JSON array of tool calls; `parse_tool_calls` reads that text
(the policy's, a chat model's, a user's fixed self-edit) into LangChain tool calls, never
raising. The policy answers with `AIMessage`s whose `tool_calls` are the self-edit. The
state keeps only JSON, so each message becomes a `Candidate` (`candidates_from`);
`rebuild_message` turns it back into the message a validator reads, whatever the JSON holds.
"""

from __future__ import annotations

import json
from typing import Any

from langchain_core.messages import AIMessage

from seal_agent.state import Candidate


def parse_tool_calls(text: str) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Parse the policy's JSON array into LangChain tool calls and invalid tool calls."""
    try:
        # strict=False: a control character inside a string is taken literally (xgrammar's
        # length-bounded strings allow them; the text is training data, not syntax).
        payload = json.loads(text, strict=False)
    except json.JSONDecodeError as err:
        return [], [{"name": None, "args": text, "id": "call_0", "error": f"not valid JSON: {err.msg}", "type": "invalid_tool_call"}]
    if isinstance(payload, dict):
        payload = [payload]
    if not isinstance(payload, list):
        return [], [{"name": None, "args": text, "id": "call_0", "error": "expected a JSON array of tool calls", "type": "invalid_tool_call"}]
    calls, invalid = [], []
    for i, item in enumerate(payload):
        if isinstance(item, dict) and isinstance(item.get("name"), str) and isinstance(item.get("arguments", {}), dict):
            calls.append({"name": item["name"], "args": item.get("arguments", {}), "id": f"call_{i}", "type": "tool_call"})
        else:
            invalid.append(
                {"name": None, "args": json.dumps(item)[:500], "id": f"call_{i}", "type": "invalid_tool_call",
                 "error": "a tool call must be an object with a string 'name' and an object 'arguments'"}
            )
    return calls, invalid


def message_from_json(text: str) -> AIMessage:
    """A self-edit written as JSON text, as the `AIMessage` a validator reads (bad text: invalid tool calls)."""
    calls, invalid = parse_tool_calls(text)
    return AIMessage(content=text, tool_calls=calls, invalid_tool_calls=invalid)


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
