"""Turn a policy's tool calls into a validated self-edit, or a rejection with its reason.

ARC self-edits (`validate_self_edit`) become augmentations and training settings;
knowledge self-edits (`validate_knowledge_edit`) become the texts to train on.

The tool calls are untrusted model output. A self-edit is rejected (reward 0, reason kept
in the trace) when the message holds a call that could not be parsed, calls no tool, calls
an unknown tool, passes arguments its pydantic schema refuses, calls a required tool
(`train`, `data_generation`) more than once, or calls a tool that fails or returns nothing
usable. Nothing here raises on bad model output or a failing tool: errors the model (or a
tool it chose) caused are data.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from langchain_core.messages import AIMessage
from langchain_core.tools import BaseTool
from pydantic import ValidationError

from seal_agent.tools import Augmentation, TrainingSettings
from seal_agent.tools.knowledge import NO_UPDATE


@dataclass
class SelfEdit:
    """A validated self-edit: the augmentations it switched on and how to train."""

    tool_names: list[str]
    augmentations: list[Augmentation]
    training: TrainingSettings
    training_from_defaults: bool = False


@dataclass
class Rejection:
    reason: str
    tool_calls: list[dict[str, Any]] = field(default_factory=list)


def _short(value: Any, limit: int = 200) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + "..."


def _message_problem(message: AIMessage) -> Rejection | None:
    if message.invalid_tool_calls:
        bad = message.invalid_tool_calls[0]
        return Rejection(f"unparsable tool call: {bad.get('error') or 'invalid'}; text: {_short(bad.get('args'))}")
    if not message.tool_calls:
        return Rejection("the self-edit calls no tool")
    return None


def _run_call(call: dict[str, Any], by_name: dict[str, BaseTool], called: list[str]) -> Any:
    """Validate one call's arguments and run its tool; a Rejection if anything is wrong."""
    name = call["name"]
    if name not in by_name:
        return Rejection(f"unknown tool {_short(name)}; known tools: {', '.join(by_name)}")
    args = call.get("args")
    if not isinstance(args, dict):
        return Rejection(f"{name}: arguments must be an object, got {_short(args)}")
    tool = by_name[name]
    try:
        # Validate explicitly so a refusal becomes a reason, never an exception.
        parsed = tool.args_schema.model_validate(args)
    except ValidationError as err:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc']) or 'arguments'}: {e['msg']}" for e in err.errors())
        return Rejection(f"{name}: {problems}")
    required = (tool.metadata or {}).get("self_edit") == "required"
    if required and name in called:
        return Rejection(f"{name} is called more than once; a self-edit calls it once")
    try:
        result = tool.invoke(dict(parsed))
    except Exception as err:  # a tool the policy chose failed: that candidate's problem
        return Rejection(f"{name} failed: {type(err).__name__}: {_short(str(err))}")
    if result is None:
        return Rejection(f"{name} returned nothing")
    return result


def validate_self_edit(
    message: AIMessage,
    tools: Sequence[BaseTool],
    default_training: TrainingSettings,
) -> SelfEdit | Rejection:
    """Validate every call of `message` against the ARC `tools`; the first problem rejects it."""
    by_name = {t.name: t for t in tools}
    problem = _message_problem(message)
    if problem:
        return problem
    augmentations: list[Augmentation] = []
    seen_augmentations: set[str] = set()
    names: list[str] = []
    training: TrainingSettings | None = None
    for call in message.tool_calls:
        result = _run_call(call, by_name, names)
        if isinstance(result, Rejection):
            return result
        if isinstance(result, TrainingSettings):
            training = result
        elif isinstance(result, list) and all(isinstance(a, Augmentation) for a in result):
            for augmentation in result:
                if augmentation.name not in seen_augmentations:  # the same copy twice adds nothing
                    seen_augmentations.add(augmentation.name)
                    augmentations.append(augmentation)
        else:
            return Rejection(
                f"{call['name']} returned {type(result).__name__}; a tool returns augmentations or training settings"
            )
        names.append(call["name"])
    return SelfEdit(
        tool_names=names,
        augmentations=augmentations,
        training=training or default_training,
        training_from_defaults=training is None,
    )


@dataclass
class KnowledgeEdit:
    """A validated knowledge self-edit: the training sequences its tools wrote."""

    tool_names: list[str]
    sequences: list[str]

    @property
    def skips_update(self) -> bool:
        """The self-edit is the policy's decision to make no update (`no_update`)."""
        return self.tool_names == [NO_UPDATE]


def validate_knowledge_edit(message: AIMessage, tools: Sequence[BaseTool]) -> KnowledgeEdit | Rejection:
    """Validate a knowledge self-edit's calls; each tool returns the sequences to train on."""
    by_name = {t.name: t for t in tools}
    problem = _message_problem(message)
    if problem:
        return problem
    names: list[str] = []
    sequences: list[str] = []
    for call in message.tool_calls:
        result = _run_call(call, by_name, names)
        if isinstance(result, Rejection):
            return result
        if not isinstance(result, list) or not all(isinstance(text, str) for text in result):
            return Rejection(f"{call['name']} returned {type(result).__name__}; a knowledge tool returns a list of texts")
        names.append(call["name"])
        sequences += result
    if NO_UPDATE in names:
        if names != [NO_UPDATE]:
            return Rejection("no_update must be the self-edit's only call")
        return KnowledgeEdit(tool_names=names, sequences=[])
    if not any(text.strip() for text in sequences):
        return Rejection("the self-edit wrote no text to train on")
    return KnowledgeEdit(tool_names=names, sequences=sequences)
