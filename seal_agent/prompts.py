"""The messages that ask the policy for a self-edit, and the tool-call format it answers in.

The policy answers with one JSON array of tool calls, each `{"name": ..., "arguments":
{...}}`. The same tool definitions produce the tool list in the system message and the
JSON schema of that array (`self_edit_json_schema`), which the local policy compiles into
its decoding grammar. So what the policy is shown and what it may write never disagree.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from langchain_core.messages import BaseMessage, HumanMessage, SystemMessage
from langchain_core.tools import BaseTool
from langchain_core.utils.function_calling import convert_to_openai_tool

from seal_agent.arc_data import ArcTask
from seal_agent.grid_text import example_text, query_text

INSTRUCTIONS = """You adapt yourself to a new ARC task before solving it. Write a self-edit: the tool \
calls that say which augmented training data to build from the task's demonstrations and \
how to fine-tune on it. You will be fine-tuned with it and then asked to solve the task.
Tools:
{tools}
Answer with a JSON array of tool calls and nothing else, for example:
{example}"""

EXAMPLE_CALLS = [
    {"name": "basic_augmentations", "arguments": {}},
    {"name": "train", "arguments": {"learning_rate": 0.0001, "num_train_epochs": 2, "strategy": "output_tokens"}},
]


def openai_tools(tools: Sequence[BaseTool | dict[str, Any]]) -> list[dict[str, Any]]:
    return [t if isinstance(t, dict) else convert_to_openai_tool(t) for t in tools]


def describe_tools(tools: Sequence[BaseTool | dict[str, Any]]) -> str:
    lines = []
    for spec in openai_tools(tools):
        function = spec["function"]
        params = function.get("parameters", {}).get("properties", {})
        args = ", ".join(
            f"{name}: {prop.get('type', 'any')}"
            + (f" in [{prop['minimum']}, {prop['maximum']}]" if "minimum" in prop and "maximum" in prop else "")
            + (f" one of {prop['enum']}" if "enum" in prop else "")
            for name, prop in params.items()
        )
        lines.append(f"- {function['name']}({args}): {function.get('description', '')}")
    return "\n".join(lines)


def self_edit_messages(
    task: ArcTask, tools: Sequence[BaseTool], include_demonstrations: bool = True
) -> list[BaseMessage]:
    system = INSTRUCTIONS.format(tools=describe_tools(tools), example=json.dumps(EXAMPLE_CALLS))
    if include_demonstrations:
        body = "".join(example_text(p.input, p.output) for p in task.train)
        body += "".join(query_text(p.input) + "?\n" for p in task.test)
    else:
        body = f"{len(task.train)} demonstrations, {len(task.test)} test input(s).\n"
    return [SystemMessage(system), HumanMessage(f"Task {task.task_id}:\n{body}Your self-edit:")]


def self_edit_json_schema(tools: Sequence[BaseTool | dict[str, Any]]) -> dict[str, Any]:
    """JSON schema of a self-edit: an array of 1..len(tools) calls, each to a known tool."""
    cases = []
    for spec in openai_tools(tools):
        function = spec["function"]
        parameters = dict(function.get("parameters") or {"type": "object", "properties": {}})
        parameters.setdefault("type", "object")
        parameters.setdefault("properties", {})
        parameters["additionalProperties"] = False
        cases.append(
            {
                "type": "object",
                "properties": {"name": {"const": function["name"]}, "arguments": parameters},
                "required": ["name", "arguments"],
                "additionalProperties": False,
            }
        )
    return {"type": "array", "minItems": 1, "maxItems": len(cases), "items": {"anyOf": cases}}
