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

from seal_agent.arc.data import ArcTask
from seal_agent.arc.grid_text import example_text, query_text

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


def openai_tools(tools: Sequence[BaseTool | dict[str, Any]]) -> list[dict[str, Any]]:
    """OpenAI-style tool specs; a tool with metadata `self_edit: required` is marked `required`."""
    specs = []
    for t in tools:
        if isinstance(t, dict):
            specs.append(t)
            continue
        spec = convert_to_openai_tool(t)
        if (t.metadata or {}).get("self_edit") == "required":
            spec["required"] = True
        specs.append(spec)
    return specs


def describe_argument(prop: dict[str, Any]) -> str:
    if "enum" in prop:
        return " | ".join(json.dumps(v) for v in prop["enum"])
    kind = prop.get("type", "any")
    if kind == "array":
        items = prop.get("items", {})
        options = items.get("oneOf") or items.get("anyOf")
        if options:
            ops = [o.get("properties", {}).get("op", {}).get("const") for o in options]
            return f"list of steps, each an object with op in {[o for o in ops if o]} and that op's arguments"
        return f"list of {describe_argument(items)}"
    if "minimum" in prop and "maximum" in prop:
        return f"{kind} in [{prop['minimum']}, {prop['maximum']}]"
    if kind == "object" or "$ref" in prop:
        fields = prop.get("properties") or {}
        return "object" + (f" {{{', '.join(fields)}}}" if fields else "")
    return kind


def describe_tools(tools: Sequence[BaseTool | dict[str, Any]]) -> str:
    lines = []
    for spec in openai_tools(tools):
        function = spec["function"]
        params = function.get("parameters", {}).get("properties", {})
        args = ", ".join(f"{name}: {describe_argument(prop)}" for name, prop in params.items())
        note = " (required)" if spec.get("required") else ""
        lines.append(f"- {function['name']}({args}){note}: {function.get('description', '')}")
    return "\n".join(lines)


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


def tool_call_schema(spec: dict[str, Any]) -> dict[str, Any]:
    """JSON schema of one call `{"name": <this tool>, "arguments": {...}}`."""
    function = spec["function"]
    parameters = dict(function.get("parameters") or {"type": "object", "properties": {}})
    parameters.setdefault("type", "object")
    parameters.setdefault("properties", {})
    parameters["additionalProperties"] = False
    parameters = json.loads(json.dumps(parameters).replace('"oneOf"', '"anyOf"'))  # disjoint by "op" anyway
    return {
        "type": "object",
        "properties": {"name": {"const": function["name"]}, "arguments": parameters},
        "required": ["name", "arguments"],
        "additionalProperties": False,
    }


def self_edit_json_schema(tools: Sequence[BaseTool | dict[str, Any]]) -> dict[str, Any]:
    """JSON schema of a self-edit: an array of 1..len(tools) calls, each to a known tool.

    This is the shape any tool-calling model may answer in; the local policy's grammar
    (`self_edit_grammar`) is stricter still.
    """
    cases = [tool_call_schema(spec) for spec in openai_tools(tools)]
    return {"type": "array", "minItems": 1, "maxItems": len(cases), "items": {"anyOf": cases}}


SEPARATORS = (", ", ": ")


def self_edit_grammar(tools: Sequence[BaseTool | dict[str, Any]], max_optional_calls: int = 6):
    """The xgrammar grammar a local policy decodes under.

    A JSON array of 0..`max_optional_calls` calls to optional tools (any of them, any
    order, repeats allowed), followed by each required tool exactly once in the listed
    order: `[<rotate>, <upscale>, ..., <train>]` (open vocabulary) or
    `[<data_generation>, <train>]` (SEAL's). Every call's arguments follow its tool's JSON
    schema, bounds included. With no required tool: 1..len(tools) calls of any tool.
    """
    import xgrammar as xgr

    specs = openai_tools(tools)
    required = [s for s in specs if s.get("required")]
    optional = [s for s in specs if not s.get("required")]
    if not required:
        return xgr.Grammar.from_json_schema(
            json.dumps(self_edit_json_schema(specs)), any_whitespace=False, separators=SEPARATORS
        )

    def call(spec):
        return xgr.Grammar.from_json_schema(json.dumps(tool_call_schema(spec)), any_whitespace=False, separators=SEPARATORS)

    def literal(text: str):
        return xgr.Grammar.from_ebnf(f"root ::= {json.dumps(text)}")

    parts = [literal("[")]
    if optional and max_optional_calls > 0:
        any_optional = xgr.Grammar.union(*[call(s) for s in optional]) if len(optional) > 1 else call(optional[0])
        one = xgr.Grammar.concat(any_optional, literal(SEPARATORS[0]))
        repeated = xgr.Grammar.union(literal(""), one)
        for _ in range(max_optional_calls - 1):  # (one (one (...)?)?)?: up to max calls
            repeated = xgr.Grammar.union(literal(""), xgr.Grammar.concat(one, repeated))
        parts.append(repeated)
    for i, spec in enumerate(required):
        if i:
            parts.append(literal(SEPARATORS[0]))
        parts.append(call(spec))
    parts.append(literal("]"))
    return xgr.Grammar.concat(*parts)
