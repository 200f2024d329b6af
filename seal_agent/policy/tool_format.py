"""The format a policy answers in: tool specs, their descriptions, the JSON schema, the grammar.

The policy answers with one JSON array of tool calls, each `{"name": ..., "arguments":
{...}}`. The same tool definitions produce the tool list a prompt shows
(`describe_tools`) and the JSON schema of that array (`self_edit_json_schema`), which the
local policy compiles into its decoding grammar (`self_edit_grammar`). The domains'
prompts (`seal_agent.arc.prompts`, `seal_agent.knowledge.prompts`) build on these.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from langchain_core.tools import BaseTool
from langchain_core.utils.function_calling import convert_to_openai_tool

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
            # Options given as $refs carry no const here; the discriminator's mapping names them.
            ops = [o for o in ops if o] or list(items.get("discriminator", {}).get("mapping", {}))
            return f"list of steps, each an object with op in {ops} and that op's arguments"
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
