"""Any LangChain chat model as a frozen proposer of self-edits (a teacher) or as a grader.

A model is named in a config by import path and keyword arguments (`ChatModelConfig`),
for example an OpenAI-compatible server:

    teacher: {class_path: langchain_openai.ChatOpenAI, kwargs: {model: gpt-4.1}}

`self_edit_from` asks it for a self-edit with the same messages and tools the policy
gets: native tool calls when the model has them, else the JSON array its text holds (the
prompt asks for one). Either way the answer is validated like the policy's.
"""

from __future__ import annotations

import importlib
from typing import Any

from langchain_core.messages import AIMessage

from seal_agent.policy.candidates import parse_tool_calls
from seal_agent.policy.tool_format import openai_tools


def load_chat_model(section) -> Any:
    """A LangChain chat model from a `ChatModelConfig` (import path and keyword arguments)."""
    module_name, _, class_name = section.class_path.rpartition(".")
    try:
        cls = getattr(importlib.import_module(module_name), class_name)
    except (ImportError, AttributeError, ValueError) as err:
        raise ValueError(f"chat model {section.class_path!r} cannot be imported: {err}") from None
    return cls(**section.kwargs)


def self_edit_from(chat_model, messages, tools) -> AIMessage:
    """One self-edit from a chat model, as the `AIMessage` a validator reads."""
    try:
        bound = chat_model.bind_tools(openai_tools(tools))
    except NotImplementedError:
        bound = chat_model
    message = bound.invoke(messages)
    if not message.tool_calls and not message.invalid_tool_calls:
        calls, invalid = parse_tool_calls(message.text.strip())
        message = message.model_copy(update={"tool_calls": calls, "invalid_tool_calls": invalid})
    return message
