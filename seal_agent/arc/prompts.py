"""The messages that ask the policy for a self-edit of an ARC task.

Two prompts: "full" (a system message describing every tool and the answer's shape with
placeholders, then the task) and "compact" (the task and one line naming the tools, for
small models). The tool descriptions and the answer format come from
`seal_agent.policy.tool_format`, so what the policy is shown and what its grammar lets it
write never disagree.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from langchain_core.messages import BaseMessage, HumanMessage, SystemMessage
from langchain_core.tools import BaseTool

from seal_agent.arc.data import ArcTask
from seal_agent.arc.grid_text import example_text, query_text
from seal_agent.policy.tool_format import describe_argument, describe_tools, openai_tools

INSTRUCTIONS = """You adapt yourself to a new ARC task before solving it. Write a self-edit: the tool \
calls that say which augmented training data to build from the task's demonstrations and \
how to fine-tune on it. You will be fine-tuned with it and then asked to solve the task.
Tools:
{tools}
Call the optional tools as often as you like (each call adds one augmented copy), then each \
required tool exactly once, in the order listed.
Answer with a JSON array of tool calls and nothing else, in this form (fill in each <...>):
{template}"""

# The compact prompt (`policy.prompt: compact`) for small models: the demonstrations and this one line.
COMPACT_FORMAT = "Self-edit (a JSON array of tool calls: {names}):"


def placeholder(prop: dict[str, Any]) -> str:
    """`<...>` standing for one argument's value: its type and bounds, never a value."""
    if prop.get("type") == "boolean":
        return "<true or false>"
    return f"<{describe_argument(prop)}>"


def call_template(spec: dict[str, Any]) -> str:
    """One call with a placeholder for every argument, e.g. {"name": "train", "arguments": {"learning_rate": <...>}}."""
    function = spec["function"]
    properties = function.get("parameters", {}).get("properties", {})
    arguments = ", ".join(f"{json.dumps(name)}: {placeholder(prop)}" for name, prop in properties.items())
    return f'{{"name": {json.dumps(function["name"])}, "arguments": {{{arguments}}}}}'


def format_template(tools: Sequence[BaseTool | dict[str, Any]]) -> str:
    """The answer's shape with placeholders: the first optional tool (if any), then each required tool.

    The prompt shows a template, not an example with values: a concrete example would hand
    the policy one particular self-edit (SEAL's reference prompt has placeholders too).
    """
    specs = openai_tools(tools)
    required = [s for s in specs if s.get("required")]
    optional = [s for s in specs if not s.get("required")]
    shown = (optional[:1] + required) if required else specs[:1]
    calls = [call_template(s) for s in shown]
    if required and optional:
        calls.insert(1, "...")
    return "[" + ", ".join(calls) + "]"


def self_edit_messages(
    task: ArcTask,
    tools: Sequence[BaseTool],
    include_demonstrations: bool = True,
    prompt: str = "full",
    show_task_id: bool = False,
) -> list[BaseMessage]:
    """The chat messages that ask for a self-edit of `task`.

    `prompt`: "full" (a system message describing every tool, then the task) or "compact"
    (one user message: the task and one line naming the tools, for small models). The task
    id is left out unless `show_task_id`: a policy should tie what it writes to what the
    demonstrations look like, not to a task's name.
    """
    if include_demonstrations:
        body = "".join(example_text(p.input, p.output) for p in task.train)
        body += "".join(query_text(p.input) + "?\n" for p in task.test)
    else:
        body = f"{len(task.train)} demonstrations, {len(task.test)} test input(s).\n"
    heading = f"Task {task.task_id}:\n" if show_task_id else "Task:\n"
    if prompt == "compact":
        names = ", ".join(s["function"]["name"] for s in openai_tools(tools))
        return [HumanMessage(heading + body + COMPACT_FORMAT.format(names=names))]
    if prompt != "full":
        raise ValueError(f"unknown self-edit prompt {prompt!r}; choose full or compact")
    system = INSTRUCTIONS.format(tools=describe_tools(tools), template=format_template(tools))
    return [SystemMessage(system), HumanMessage(heading + body + "Your self-edit:")]


def prompt_options(policy_config) -> dict[str, Any]:
    """The `self_edit_messages` options a config's `policy` section sets."""
    return {
        "include_demonstrations": policy_config.include_demonstrations,
        "prompt": policy_config.prompt,
        "show_task_id": policy_config.show_task_id,
    }
