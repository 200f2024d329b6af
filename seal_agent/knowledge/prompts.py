"""The messages that ask for a knowledge self-edit, one template per variant of the paper.

Every variant shows the passage and offers one tool; the model writes its training data
as that tool's arguments:

    implications             a handful of statements that follow from the passage
    implications-long        many statements, each spelling out one consequence
    implications-very-long   as many statements as it can, covering every detail
    rewrite                  the passage in other words
    self-qa                  question-answer pairs about the passage

Forms: `full` shows the call's shape with placeholders (`<a fact that follows from the
passage>`); `worked` shows instead a worked example as an earlier exchange (a passage
about a bridge, no person and none of the knowledge world's attributes, and its call),
because a small model copies placeholders, or an example shown inside the instructions,
into its own self-edit, and ReST-EM then teaches it to copy more (docs/results/knowledge-smollm2.md, the
diagnosis); `compact` is the passage and one line naming the tool.

The same tool specs give the prompt's tool list and the decoding grammar; the grammar's
string and list lengths are capped by the config (`bounded_tool_specs`), so a sampled
self-edit always fits the token budget.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Sequence
from typing import Any

from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage
from langchain_core.tools import BaseTool

from seal_agent.knowledge.data import Passage
from seal_agent.policy.tool_format import describe_tools, openai_tools
from seal_agent.tools.knowledge import NO_UPDATE

# variant -> (the tool it offers, what the model is asked to do, an example call's arguments)
VARIANTS: dict[str, tuple[str, str, dict[str, Any]]] = {
    "implications": (
        "write_implications",
        "Read the passage and write a few statements that follow from it: consequences, "
        "restatements of its facts, and connections between them. Each statement must stand "
        "on its own, without the passage.",
        {"statements": ["<a fact that follows from the passage>", "<another one>"]},
    ),
    "implications-long": (
        "write_implications",
        "Read the passage and write a long list of statements that follow from it. Spell out "
        "every consequence in a full sentence that names who or what it is about, so each "
        "statement stands on its own.",
        {"statements": ["<a full sentence naming its subject>", "<another one>", "<and more>"]},
    ),
    "implications-very-long": (
        "write_implications",
        "Read the passage and write as many statements that follow from it as you can: every "
        "fact, every relation between facts, and every consequence, each in a full sentence "
        "that stands on its own. Leave no detail out.",
        {"statements": ["<a full sentence>", "<another>", "<another>", "<and many more>"]},
    ),
    "rewrite": (
        "rewrite_passage",
        "Rewrite the passage in your own words, keeping every fact, name, date and number.",
        {"text": "<the passage, rewritten>"},
    ),
    "self-qa": (
        "write_qa_pairs",
        "Write questions a reader might be asked about the passage, each with its short answer. "
        "Cover every fact.",
        {"pairs": [{"question": "<a question about the passage>", "answer": "<its short answer>"}]},
    ),
}

# The worked example (`policy.prompt_form: worked`): a passage about a bridge, and per variant
# the call a good self-edit of it would be. Nothing in it names a person or an attribute the
# knowledge world asks about, so it shows the form without giving away the questions.
WORKED_TITLE, WORKED_CONTEXT = "The Orvel Bridge", "The Orvel Bridge crosses the river Tam. It was built of grey stone in 1821."
_BRIDGE = ["The Orvel Bridge crosses the river Tam.", "The Orvel Bridge is made of grey stone.",
           "The Orvel Bridge was built in 1821.", "The river Tam is crossed by the Orvel Bridge."]
_BRIDGE_LONG = _BRIDGE + ["The Orvel Bridge is a stone bridge over the river Tam.",
                          "In 1821 the Orvel Bridge was built over the Tam."]
WORKED_ARGUMENTS: dict[str, dict[str, Any]] = {
    "implications": {"statements": _BRIDGE},
    "implications-long": {"statements": _BRIDGE_LONG},
    "implications-very-long": {"statements": _BRIDGE_LONG + [
        "The stone of the Orvel Bridge is grey.", "The Orvel Bridge was built in the nineteenth century."]},
    "rewrite": {"text": "Built in 1821 of grey stone, the Orvel Bridge spans the river Tam."},
    "self-qa": {"pairs": [
        {"question": "What river does the Orvel Bridge cross?", "answer": "the river Tam"},
        {"question": "What is the Orvel Bridge made of?", "answer": "grey stone"},
        {"question": "When was the Orvel Bridge built?", "answer": "in 1821"}]},
}

# What a line copied from the prompt's example looks like: a placeholder or the worked example's subject.
COPIED_FROM_EXAMPLE = re.compile(r"<[^<>]+>|\bOrvel\b|\briver Tam\b", re.IGNORECASE)

INSTRUCTIONS = """You will be fine-tuned on training data you write yourself, and later \
asked questions about a passage without seeing it again. {task}
Tool:
{tools}
Answer with a JSON array holding one call of the tool and nothing else{example}"""


def variant_tools(variant: str, tools: Sequence[BaseTool], no_update: bool = False) -> list[BaseTool]:
    """The tool a prompt variant offers, from the loaded knowledge tools (and `no_update`, if asked)."""
    if variant not in VARIANTS:
        raise ValueError(f"unknown prompt {variant!r}; choose one of {', '.join(VARIANTS)}")
    names = [VARIANTS[variant][0]] + ([NO_UPDATE] if no_update else [])
    chosen = [t for name in names for t in tools if t.name == name]
    if len(chosen) < len(names):
        missing = [name for name in names if name not in {t.name for t in chosen}]
        raise ValueError(f"prompt {variant!r} needs the tool {missing[0]!r}, which is not loaded")
    return chosen


# The compact prompt (`policy.prompt_form: compact`) for small models: the passage and this one line.
COMPACT_FORMAT = "Training data (a JSON array with one call of {name}):"
COMPACT_FORMAT_GATED = "Training data (a JSON array with one call of {name}, or of no_update to make no update):"
GATE_INSTRUCTION = " If you already know what the passage says, call no_update instead: an update has a cost."


def passage_block(title: str | None, context: str) -> str:
    """A passage as every prompt form shows it: its title line (if any), then its text."""
    return (f"Title: {title}\n" if title else "") + f"Passage:\n{context}"


def knowledge_messages(passage: Passage, variant: str, tools: Sequence[BaseTool], form: str = "full") -> list[BaseMessage]:
    """The messages that ask for a self-edit of `passage`.

    `form` "full": a system message with the variant's task, the tool and an example call
    with placeholders, then the passage; "worked": the system message without the example,
    then a worked example as an earlier exchange (a passage about a bridge, and its call as
    the assistant's answer), then the passage; "compact": one user message, the
    passage and one line naming the tool (for small models, like ARC's compact prompt).
    """
    name, task, example_args = VARIANTS[variant]
    gated = any(t.name == NO_UPDATE for t in tools)
    if form == "compact":
        line = (COMPACT_FORMAT_GATED if gated else COMPACT_FORMAT).format(name=name)
        return [HumanMessage(f"{passage_block(passage.title, passage.context)}\n\n{line}")]
    if form not in ("full", "worked"):
        raise ValueError(f"unknown prompt form {form!r}; choose full, worked or compact")
    example = "." if form == "worked" else ", for example:\n" + json.dumps([{"name": name, "arguments": example_args}])
    system = INSTRUCTIONS.format(task=task + (GATE_INSTRUCTION if gated else ""), tools=describe_tools(tools), example=example)
    ask = HumanMessage(f"{passage_block(passage.title, passage.context)}\n\nYour training data:")
    if form == "worked":
        worked_ask = HumanMessage(f"{passage_block(WORKED_TITLE, WORKED_CONTEXT)}\n\nYour training data:")
        worked_call = json.dumps([{"name": name, "arguments": WORKED_ARGUMENTS[variant]}])
        return [SystemMessage(system), worked_ask, AIMessage(worked_call), ask]
    return [SystemMessage(system), ask]


def bounded_tool_specs(tools: Sequence[BaseTool | dict[str, Any]], max_chars: int, max_items: int) -> list[dict[str, Any]]:
    """OpenAI tool specs with every string capped at `max_chars` and every list at `max_items`.

    Tighter than the tools' own schemas (never looser), so what the grammar lets the
    policy write still validates.
    """

    def cap(node: Any) -> Any:
        if isinstance(node, dict):
            node = {key: cap(value) for key, value in node.items()}
            if node.get("type") == "string":
                node["maxLength"] = min(node.get("maxLength", max_chars), max_chars)
            if node.get("type") == "array":
                node["maxItems"] = min(node.get("maxItems", max_items), max_items)
                node["minItems"] = min(node.get("minItems", 0), node["maxItems"])
            return node
        if isinstance(node, list):
            return [cap(item) for item in node]
        return node

    return [cap(copy.deepcopy(spec)) for spec in openai_tools(tools)]
