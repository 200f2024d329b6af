import json

import pytest

from langchain_core.messages import AIMessage

from seal_agent.arc_data import ArcTask, Pair
from seal_agent.candidates import parse_tool_calls
from seal_agent.policy import LocalToolPolicy
from seal_agent.prompts import openai_tools, self_edit_messages
from seal_agent.self_edit import SelfEdit, validate_self_edit
from tools import TrainingSettings, arc_tools

ARC_TOOLS = arc_tools("seal")

TASK = ArcTask("t", train=(Pair([[1]], [[2]]), Pair([[3]], [[4]])), test=(Pair([[5]], [[6]]),))
DEFAULTS = TrainingSettings(learning_rate=1e-4, num_train_epochs=1, strategy="output_tokens")


@pytest.mark.parametrize("vocabulary", ["seal", "open"])
def test_random_model_under_the_grammar_writes_only_schema_valid_calls(tiny_peft, vocabulary):
    model, tokenizer = tiny_peft
    tools = arc_tools(vocabulary)
    policy = LocalToolPolicy(model=model, tokenizer=tokenizer, temperature=1.0, max_new_tokens=900, max_optional_calls=3)
    result = policy.generate([self_edit_messages(TASK, tools)], tools=openai_tools(tools), n=6, seed=3)
    messages = [g.message for g in result.generations[0]]
    assert len(messages) == 6
    names = {t.name for t in tools}
    for m in messages:
        assert isinstance(m, AIMessage)
        assert m.response_metadata["finish_reason"] == "stop", m.text
        assert m.tool_calls and not m.invalid_tool_calls
        for call in m.tool_calls:
            assert call["name"] in names
            # every argument the grammar let through also passes the pydantic schema
            next(t for t in tools if t.name == call["name"]).args_schema.model_validate(call["args"])
        assert m.tool_calls[-1]["name"] == "train" and sum(c["name"] == "train" for c in m.tool_calls) == 1
        assert len(m.tool_calls) <= 3 + (2 if vocabulary == "seal" else 1)
        assert isinstance(validate_self_edit(m, tools, DEFAULTS), SelfEdit)


def test_bind_tools_and_invoke_return_one_message(tiny_peft):
    model, tokenizer = tiny_peft
    policy = LocalToolPolicy(model=model, tokenizer=tokenizer, max_new_tokens=600).bind_tools(ARC_TOOLS)
    message = policy.invoke(self_edit_messages(TASK, ARC_TOOLS), seed=1)
    assert isinstance(message, AIMessage) and message.tool_calls


def test_sampling_is_seeded(tiny_peft):
    model, tokenizer = tiny_peft
    policy = LocalToolPolicy(model=model, tokenizer=tokenizer, temperature=1.0, max_new_tokens=600)
    tools = openai_tools(ARC_TOOLS)
    a = policy.generate([self_edit_messages(TASK, ARC_TOOLS)], tools=tools, n=3, seed=5)
    b = policy.generate([self_edit_messages(TASK, ARC_TOOLS)], tools=tools, n=3, seed=5)
    assert [g.message.text for g in a.generations[0]] == [g.message.text for g in b.generations[0]]


def test_unconstrained_output_is_parsed_never_raised(tiny_peft):
    model, tokenizer = tiny_peft
    # A short budget: the random model is cut off, which is one kind of invalid self-edit.
    policy = LocalToolPolicy(model=model, tokenizer=tokenizer, constrained=False, max_new_tokens=20)
    message = policy.invoke(self_edit_messages(TASK, ARC_TOOLS), tools=openai_tools(ARC_TOOLS), seed=0)
    assert message.invalid_tool_calls and not message.tool_calls
    assert message.response_metadata["finish_reason"] == "length"
    assert not isinstance(validate_self_edit(message, ARC_TOOLS, DEFAULTS), SelfEdit)


def test_garbage_that_ended_is_an_invalid_call_with_the_json_error(tiny_peft, monkeypatch):
    model, tokenizer = tiny_peft
    policy = LocalToolPolicy(model=model, tokenizer=tokenizer, constrained=False)
    monkeypatch.setattr(LocalToolPolicy, "sample", lambda self, prompt, n, tools, seed: [('[{"name": "train", ', True)] * n)
    message = policy.invoke(self_edit_messages(TASK, ARC_TOOLS), seed=0)
    assert message.response_metadata["finish_reason"] == "stop"
    assert "not valid JSON" in message.invalid_tool_calls[0]["error"]
    assert "not valid JSON" in validate_self_edit(message, ARC_TOOLS, DEFAULTS).reason


def test_parse_tool_calls():
    calls, invalid = parse_tool_calls(json.dumps([{"name": "train", "arguments": {"learning_rate": 0.001}}]))
    assert calls[0]["name"] == "train" and calls[0]["args"] == {"learning_rate": 0.001} and not invalid
    for text in ["", "[{", "42", '[{"name": 3}]', '["x"]']:
        calls, invalid = parse_tool_calls(text)
        assert not calls and invalid and invalid[0]["error"]
