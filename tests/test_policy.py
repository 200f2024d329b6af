import json

import pytest

from langchain_core.messages import AIMessage

from seal_agent.arc.data import ArcTask
from seal_agent.grids import Pair
from seal_agent.policy.candidates import parse_tool_calls
from seal_agent.policy.local import LocalToolPolicy
from seal_agent.arc.prompts import self_edit_messages
from seal_agent.policy.tool_format import openai_tools
from seal_agent.policy.self_edit import SelfEdit, validate_self_edit
from seal_agent.tools import TrainingSettings, arc_tools

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


def step_by_step_greedy(policy, prompt: str, tools) -> str:
    """The plainest constrained greedy decode: one row, one token per forward pass, no forced text
    and no padding (Hugging Face's own key-value cache, so the reference costs linear time)."""
    import torch
    import xgrammar as xgr

    matcher = xgr.GrammarMatcher(policy.compile_grammar(tools))
    bitmask = xgr.allocate_token_bitmask(1, policy._tokenizer_info.vocab_size)
    ids = policy.tokenizer(prompt, add_special_tokens=False)["input_ids"]
    written, past, step_ids = [], None, ids
    with torch.no_grad():
        for _ in range(policy.max_new_tokens):
            out = policy.model(input_ids=torch.tensor([step_ids]), past_key_values=past, use_cache=True)
            past, logits = out.past_key_values, out.logits[:, -1].float()
            matcher.fill_next_token_bitmask(bitmask, 0)
            xgr.apply_token_bitmask_inplace(logits, bitmask, vocab_size=policy._tokenizer_info.vocab_size)
            token = int(logits.argmax(dim=-1))
            if token == policy.tokenizer.eos_token_id:
                break
            assert matcher.accept_token(token)
            written.append(token)
            step_ids = [token]
    return policy.tokenizer.decode(written, skip_special_tokens=True)


def test_batched_jump_forward_sampling_writes_what_step_by_step_decoding_writes(tiny_peft):
    # Greedy, so both must pick the same tokens: the shared prefill, the forced text fed in
    # one pass, the left padding of rows of different lengths and the rows leaving the batch
    # must not change a single logit's winner.
    model, tokenizer = tiny_peft
    tools = arc_tools("open")
    policy = LocalToolPolicy(model=model, tokenizer=tokenizer, temperature=0, max_new_tokens=900, max_optional_calls=3)
    messages = self_edit_messages(TASK, tools)
    sampled = policy.generate([messages], tools=openai_tools(tools), n=3, seed=0).generations[0]
    reference = step_by_step_greedy(policy, policy.render_prompt(messages), openai_tools(tools))
    assert [g.message.text for g in sampled] == [reference] * 3


def test_rows_that_run_out_of_tokens_are_cut_at_the_budget(tiny_peft):
    model, tokenizer = tiny_peft
    policy = LocalToolPolicy(model=model, tokenizer=tokenizer, temperature=1.0, max_new_tokens=25)
    result = policy.generate([self_edit_messages(TASK, ARC_TOOLS)], tools=openai_tools(ARC_TOOLS), n=4, seed=2)
    for generation in result.generations[0]:
        message = generation.message
        assert message.response_metadata["finish_reason"] == "length" and message.invalid_tool_calls
        assert len(tokenizer(message.text, add_special_tokens=False)["input_ids"]) <= 25


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_a_row_samples_the_same_alone_as_in_a_batch(tiny_peft, seed):
    # In the batch the rows write different lengths: forced text of different lengths is
    # padded, rows leave as they finish. Row 0 alone has none of that; with its own random
    # stream it must write the same self-edit, which wrong padding, positions or cache
    # selection would change.
    model, tokenizer = tiny_peft
    tools = arc_tools("open")
    policy = LocalToolPolicy(model=model, tokenizer=tokenizer, temperature=1.0, max_new_tokens=900, max_optional_calls=3)
    messages = self_edit_messages(TASK, tools)
    batch = [g.message.text for g in policy.generate([messages], tools=openai_tools(tools), n=5, seed=seed).generations[0]]
    alone = policy.generate([messages], tools=openai_tools(tools), n=1, seed=seed).generations[0][0].message.text
    assert len({len(text) for text in batch}) > 1  # the batch really had rows of different lengths
    assert batch[0] == alone


def test_feeding_rows_of_different_lengths_gives_each_row_its_own_logits(tiny_peft):
    import torch
    from transformers import DynamicCache

    model, tokenizer = tiny_peft
    policy = LocalToolPolicy(model=model, tokenizer=tokenizer)
    model.set_adapter(policy.adapter_name, inference_mode=True)
    prompt = tokenizer("a prompt shared by both rows", add_special_tokens=False)["input_ids"]
    rows = [[[11, 12, 13], [14]], [[21], [22, 23]]]  # per row: the tokens fed at step 1, at step 2
    with torch.no_grad():
        cache = DynamicCache()
        model(input_ids=torch.tensor([prompt]), past_key_values=cache, use_cache=True)
        cache.batch_repeat_interleave(2)
        attention = torch.ones(2, len(prompt), dtype=torch.long)
        for step in range(2):
            logits, attention = policy._feed(cache, attention, [row[step] for row in rows], "cpu")
        for index, row in enumerate(rows):
            whole = model(input_ids=torch.tensor([prompt + row[0] + row[1]])).logits[0, -1]
            torch.testing.assert_close(logits[index], whole, atol=1e-4, rtol=1e-4)
