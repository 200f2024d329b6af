"""The nano knowledge world: deterministic, answerable from its passages, roles that never meet."""

from __future__ import annotations

import random

import pytest
from transformers import AutoTokenizer

from seal_agent.knowledge import nano_world
from seal_agent.knowledge.nano_pretrain import prior_statements, pretraining_examples


def test_people_are_deterministic_in_role_and_seed():
    assert nano_world.people("eval", 20, 3) == nano_world.people("eval", 20, 3)
    assert nano_world.people("eval", 20, 3) != nano_world.people("eval", 20, 4)
    names = [p.name for p in nano_world.people("pretraining", 1000, 0)]
    assert len(set(names)) == len(names)


def test_roles_never_share_a_person():
    by_role = {role: {p.name for p in nano_world.people(role, 300, seed)} for role in nano_world.ROLES for seed in (0, 1)}
    assert all(nano_world.role_of(name) == role for role, names in by_role.items() for name in names)
    assert not (by_role["pretraining"] & by_role["eval"]) and not (by_role["pretraining"] & by_role["rl"])
    assert not (by_role["rl"] & by_role["eval"])
    with pytest.raises(ValueError, match="unknown role"):
        nano_world.people("test", 1, 0)


def test_every_answer_is_stated_in_its_passage_value_first():
    for passage in nano_world.passages("eval", 50, 0):
        facts = nano_world.facts_in(passage.context)
        assert len(facts) == len(passage.questions) == len(nano_world.ATTRIBUTES)
        for (name, _attribute, value), question in zip(facts, passage.questions):
            assert name == passage.title and question.answers == (value,)
            sentence = next(s for s in passage.context.split(". ") if value in s)
            assert sentence.index(value) < sentence.index(name)  # the value comes before the person


def test_the_ideal_self_edit_restates_every_fact_person_first():
    person = nano_world.people("rl", 1, 7)[0]
    passage = nano_world.passage_of(person)
    (call,) = nano_world.ideal_self_edit(passage.context)
    assert call["name"] == "write_implications"
    assert call["arguments"]["statements"] == nano_world.restatements(person)
    assert all(s.startswith(person.name) for s in call["arguments"]["statements"])


def test_the_self_edit_prior_mixes_restatements_and_copies_and_is_never_empty():
    rng = random.Random(0)
    person = nano_world.people("pretraining", 1, 0)[0]
    allowed = set(nano_world.restatements(person)) | set(nano_world.passage_sentences(person))
    drawn = [prior_statements(person, rng) for _ in range(200)]
    assert all(d and set(d) <= allowed for d in drawn)
    restated = sum(s in nano_world.restatements(person) for d in drawn for s in d) / (200 * 4)
    assert 0.25 < restated < 0.45


def test_pretraining_never_sees_an_rl_or_eval_person(tiny_model_dir):
    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    examples, held_out = pretraining_examples(tokenizer, qa_people=40, text_people=10, self_edits=10, seed=1)
    corpus = "\n".join(tokenizer.decode(e.input_ids) for e in examples)
    outsiders = [p.name for role in ("rl", "eval") for p in nano_world.people(role, 200, 0)]
    assert not [name for name in outsiders if name in corpus]
    assert all(p.name in corpus for p in held_out)  # held-out people are read, never asked about
    assert not any(f"Question: {q.question}" in corpus for p in held_out for q in nano_world.passage_of(p).questions)


def test_the_restating_teacher_answers_through_the_chat_model_interface():
    from seal_agent.config import ChatModelConfig
    from seal_agent.knowledge.prompts import knowledge_messages, variant_tools
    from seal_agent.policy.chat_models import load_chat_model, self_edit_from
    from seal_agent.policy.self_edit import validate_knowledge_edit
    from seal_agent.tools import knowledge_tools

    teacher = load_chat_model(ChatModelConfig(class_path="seal_agent.knowledge.nano_world.RestatingTeacher"))
    person = nano_world.people("eval", 1, 2)[0]
    tools = variant_tools("implications", knowledge_tools())
    message = self_edit_from(teacher, knowledge_messages(nano_world.passage_of(person), "implications", tools), tools)
    assert validate_knowledge_edit(message, tools).sequences == nano_world.restatements(person)


@pytest.mark.slow  # ~17 s: a second pretraining
def test_pretraining_can_add_a_phase_on_self_edits_alone(tmp_path):
    import json

    from typer.testing import CliRunner

    from seal_agent.cli import app

    out = tmp_path / "nano"
    result = CliRunner().invoke(app, ["pretrain", "nano", "--world", "knowledge", "--out", str(out), "--steps", "2",
                                      "--self-edit-steps", "2", "--refresh-steps", "2",
                                      "--batch-size", "2", "--tokenizer", "words"])
    assert result.exit_code == 0, result.output
    recipe = json.loads((out / "nano_recipe.json").read_text())
    assert recipe["steps"] == recipe["self_edit_steps"] == recipe["refresh_steps"] == 2 and len(recipe["loss_curve"]) == 6
    # The word tokenizer learned from the corpus: a name is a few pieces, not a dozen bytes.
    tokenizer = AutoTokenizer.from_pretrained(out)
    assert recipe["tokenizer"] == "words" and recipe["vocab_size"] == len(tokenizer) <= 640
    assert len(tokenizer.tokenize(nano_world.people("eval", 1, 0)[0].name)) <= 6
    refused = CliRunner().invoke(app, ["pretrain", "nano", "--out", str(tmp_path / "arc"), "--self-edit-steps", "2"])
    assert refused.exit_code == 2 and "knowledge" in refused.output
    unknown = CliRunner().invoke(app, ["pretrain", "nano", "--world", "knowledge", "--out", str(tmp_path / "k"),
                                       "--tokenizer", "letters"])
    assert unknown.exit_code == 2 and "bytes, words" in unknown.output


def test_later_phases_see_each_pretraining_person_once_and_never_a_phase_one_person(tiny_model_dir):
    from seal_agent.knowledge.nano_pretrain import fresh_self_edit_examples

    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    phase_one = {p.name for p in nano_world.people("pretraining", 50, 1)}
    examples = fresh_self_edit_examples(tokenizer, 30, seed=1, skip=50)
    titles = [tokenizer.decode(e.input_ids).split("Title: ")[1].split("\n")[0] for e in examples]
    assert len(examples) == len(set(titles)) == 30
    assert not set(titles) & phase_one
    assert all(nano_world.role_of(name) == "pretraining" for name in titles)
