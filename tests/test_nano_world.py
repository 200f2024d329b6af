"""The nano ARC world: deterministic, valid tasks; a split that keeps held-out families out of
pretraining; and a pretraining recipe that is recorded and reproducible."""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from seal_agent.arc.data import validate_task
from seal_agent.cli import app
from seal_agent.arc.nano_world import (
    FamilySpec, eval_specs, eval_tasks, family_of, family_transform, held_out_specs, make_task, pretraining_specs,
    pretraining_tasks, rl_specs, rl_tasks,
)


def test_generation_is_deterministic_in_the_seed():
    assert pretraining_tasks(20, seed=3) == pretraining_tasks(20, seed=3)
    assert pretraining_tasks(20, seed=3) != pretraining_tasks(20, seed=4)
    assert eval_tasks(2, seed=5) == eval_tasks(2, seed=5) and rl_tasks(1, seed=5) != rl_tasks(1, seed=6)


def test_the_default_pretraining_data_is_what_earlier_versions_generated():
    """`seal pretrain nano`'s models (and the nano tables made with them) stay reproducible."""
    import hashlib

    tasks = json.dumps([t.to_json() for t in pretraining_tasks(200, 1)])
    assert hashlib.sha256(tasks.encode()).hexdigest()[:16] == "44b9e7cc64a470f7"


def test_an_unseen_test_colour_is_absent_from_every_demonstration_and_treated_by_the_rule():
    tasks = pretraining_tasks(60, 1, unseen_test_share=0.5)
    with_unseen = 0
    for task in tasks:
        shown = {c for pair in task.train for row in pair.input for c in row}
        unseen = {c for row in task.test[0].input for c in row} - shown
        with_unseen += bool(unseen)
        spec = next(s for s in pretraining_specs() if task.task_id.rsplit("-", 1)[0] == s.name)
        assert np.array_equal(family_transform(spec.family, spec.params)(np.array(task.test[0].input)), np.array(task.test[0].output))
    assert 20 <= with_unseen <= 40  # about half
    for task in pretraining_tasks(20, 1, unseen_test_share=1.0):
        assert {c for row in task.test[0].input for c in row} - {c for pair in task.train for row in pair.input for c in row}


def test_every_generated_task_is_a_valid_arc_task_that_follows_its_rule():
    for spec in pretraining_specs() + held_out_specs():
        for seed in range(5):
            task = make_task(spec, seed)
            validate_task(task.task_id, task.to_json(), "generated")  # raises on anything malformed
            transform = family_transform(spec.family, spec.params)
            for pair in task.train + task.test:
                assert np.array_equal(transform(np.array(pair.input)), np.array(pair.output))
                assert pair.input != pair.output  # every pair shows the rule


def test_the_split_keeps_held_out_families_out_of_pretraining_and_rl_families_out_of_evaluation():
    held = set(held_out_specs())
    assert held and not held & set(pretraining_specs())
    # ReST-EM's tasks and the evaluation tasks differ in family, not only in parameters.
    assert {s.family for s in rl_specs()}.isdisjoint({s.family for s in eval_specs()})
    assert {family_of(t.task_id) for t in rl_tasks(1, 0)}.isdisjoint({family_of(t.task_id) for t in eval_tasks(1, 0)})
    held_names = {s.name for s in held}
    seen = {t.task_id.rsplit("-", 1)[0] for t in pretraining_tasks(2000, seed=0)}
    assert not seen & held_names
    assert {s.name for s in pretraining_specs()} == seen  # and pretraining covers all of its own


def test_pretraining_writes_a_loadable_model_and_its_recipe(tmp_path):
    result = CliRunner().invoke(app, ["pretrain", "nano", "--out", str(tmp_path / "nano"), "--steps", "6", "--batch-size", "4"])
    assert result.exit_code == 0, result.output
    recipe = json.loads((tmp_path / "nano" / "nano_recipe.json").read_text())
    assert len(recipe["loss_curve"]) == 6 and recipe["data_seed"] == 1 and recipe["parameters"] > 100_000
    assert recipe["unseen_test_share"] == 0.0  # the nano ARC world's data, as before
    contextual = CliRunner().invoke(app, ["pretrain", "nano", "--world", "contextual", "--out", str(tmp_path / "ctx"),
                                          "--steps", "2", "--batch-size", "4"])
    assert contextual.exit_code == 0, contextual.output
    assert json.loads((tmp_path / "ctx" / "nano_recipe.json").read_text())["unseen_test_share"] == 0.5
    from seal_agent.model.loading import load_model_and_tokenizer

    model, tokenizer = load_model_and_tokenizer(str(tmp_path / "nano"), device="cpu")
    assert model.config.num_hidden_layers == recipe["architecture"]["num_hidden_layers"]
    again = CliRunner().invoke(app, ["pretrain", "nano", "--out", str(tmp_path / "nano2"), "--steps", "6", "--batch-size", "4"])
    assert again.exit_code == 0
    assert json.loads((tmp_path / "nano2" / "nano_recipe.json").read_text())["loss_curve"] == recipe["loss_curve"]
    assert CliRunner().invoke(app, ["pretrain", "nano", "--out", str(tmp_path / "nano")]).exit_code == 2  # not empty


def test_arc_table_statistics():
    from seal_agent.stats import success_row, wilson

    low, high = wilson(50, 100)
    assert low == pytest.approx(0.4038, abs=1e-3) and high == pytest.approx(0.5962, abs=1e-3)
    assert wilson(0, 10)[0] == 0.0 and success_row("x", 3, 4)["success"] == 0.75
    assert FamilySpec("colour_map", ((1, 5),)).name == "colour_map-1-5"


def test_pretraining_sequences_put_every_output_grid_and_only_those_in_the_loss():
    from seal_agent.arc.grid_text import answer_text, task_prompt
    from seal_agent.arc.nano_pretrain import task_example
    from seal_agent.model.tiny import build_byte_tokenizer

    tokenizer = build_byte_tokenizer()
    task = pretraining_tasks(1, seed=0)[0]
    example = task_example(tokenizer, task)
    pairs = (*task.train, *task.test)
    # The sequence is exactly what the ARC loop queries with, followed by the answer.
    whole = task_prompt([(p.input, p.output) for p in task.train], task.test[0].input) + answer_text(task.test[0].output)
    assert tokenizer.decode(example.input_ids, skip_special_tokens=True) == whole
    in_loss = [token for token, label in zip(example.input_ids, example.labels) if label != -100]
    assert in_loss[-1] == tokenizer.eos_token_id
    assert tokenizer.decode(in_loss[:-1]) == "".join(answer_text(p.output) for p in pairs)


def test_cell_wise_families_do_what_they_say():
    grid = np.array([[1, 0, 5], [0, 1, 2]])
    assert family_transform("colour_map", ((1, 5),))(grid).tolist() == [[5, 0, 1], [0, 5, 2]]
    assert family_transform("mask", (1,))(grid).tolist() == [[1, 0, 0], [0, 1, 0]]
    assert family_transform("recolour", (7,))(grid).tolist() == [[7, 0, 7], [0, 7, 7]]
    assert family_transform("replace", (1, 9))(grid).tolist() == [[9, 0, 5], [0, 9, 2]]
    assert family_transform("fill", (4,))(grid).tolist() == [[1, 4, 5], [4, 1, 2]]
    assert family_transform("compose:mask+recolour", ((1,), (3,)))(grid).tolist() == [[3, 0, 0], [0, 3, 0]]
    with pytest.raises(ValueError, match="unknown family"):
        family_transform("rotate", (1,))


@pytest.mark.parametrize("vocabulary", ["seal", "open"])
def test_pretraining_self_edits_follow_the_rendered_policy_prompt_and_fit_the_grammar(vocabulary):
    """The initial policy's prior is learnt in the very context the loop asks in, in a form its grammar allows."""
    import random

    import xgrammar as xgr

    from seal_agent.arc.nano_pretrain import PROMPT, self_edit_example, self_edit_text
    from seal_agent.policy.local import render_chat
    from seal_agent.arc.prompts import self_edit_messages
    from seal_agent.policy.tool_format import openai_tools, self_edit_grammar
    from seal_agent.model.tiny import build_byte_tokenizer
    from seal_agent.tools import arc_tools

    tokenizer = build_byte_tokenizer()
    task = pretraining_tasks(1, seed=3)[0]
    example = self_edit_example(tokenizer, task, random.Random(0), vocabulary)
    prompt = render_chat(tokenizer, self_edit_messages(task, arc_tools(vocabulary), prompt=PROMPT))
    prompt_length = len(tokenizer(prompt, add_special_tokens=False)["input_ids"])
    assert tokenizer.decode(example.input_ids[:prompt_length]) == prompt
    assert all(label == -100 for label in example.labels[:prompt_length])  # the prompt is never in the loss
    assert example.labels[prompt_length:] == example.input_ids[prompt_length:]
    info = xgr.TokenizerInfo.from_huggingface(tokenizer, vocab_size=len(tokenizer), stop_token_ids=[tokenizer.eos_token_id])
    grammar = xgr.GrammarCompiler(info).compile_grammar(self_edit_grammar(openai_tools(arc_tools(vocabulary)), 0 if vocabulary == "seal" else 6))
    rng = random.Random(1)
    names = []
    for _ in range(200):  # small learning rates too: the grammar writes no exponents
        matcher = xgr.GrammarMatcher(grammar)
        text = self_edit_text(rng, vocabulary)
        ids = tokenizer(text, add_special_tokens=False)["input_ids"] + [tokenizer.eos_token_id]
        assert all(matcher.accept_token(token) for token in ids)
        names.append([call["name"] for call in json.loads(text)][:-1])
    if vocabulary == "open":  # rotations and colour permutations, each group on about half the time
        for group in ("rotate", "permute_colours"):
            assert 0.35 < sum(group in n for n in names) / len(names) < 0.65
        assert {name for n in names for name in n} == {"rotate", "permute_colours"} and [] in names
