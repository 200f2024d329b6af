"""The options that give SEAL's released knowledge code its settings (`knowledge_paper`,
`knowledge_paper_cpt`): each changes what it should, and the presets set them."""

from __future__ import annotations

import pytest
import torch
from transformers import AutoTokenizer

from seal_agent.config import ConfigError
from seal_agent.knowledge import reward as reward_module
from seal_agent.knowledge.config import ALL_PROJECTIONS, KnowledgeRunConfig, UpdateConfig
from seal_agent.knowledge.data import Passage, Question
from seal_agent.knowledge.scoring import rest_em_kept
from seal_agent.knowledge.update import self_edit_examples
from seal_agent.model.adapters import TTT_ADAPTER, adapter_state, attach_adapters
from seal_agent.model.loading import load_model_and_tokenizer

PASSAGE = Passage(passage_id="p", title="Zorbania", context="The capital of Zorbania is Quillmont.",
                  questions=(Question(question="What is the capital of Zorbania?", answers=("Quillmont",)),))
EDITS = [["Quillmont is Zorbania's capital.", "Zorbania is governed from Quillmont."], ["Quillmont lies in Zorbania."]]


def test_the_paper_presets_carry_the_reference_settings():
    single = KnowledgeRunConfig.resolve("paper")
    assert single.update.lora.target_modules == ["q_proj", "v_proj"] and single.update.lr_schedule == "linear"
    assert (single.policy.top_p, single.policy.keep, single.policy.merge_into_base) == (0.95, "best", True)
    assert (single.policy.lora.rank, single.policy.lora.alpha, single.policy.lora.target_modules) == (64, 128, ALL_PROJECTIONS)
    assert (single.policy.sft_learning_rate, single.policy.sft_epochs, single.policy.sft_batch_size) == (3e-4, 2, 10)
    assert (single.eval.answer_max_new_tokens, single.eval.first_line_only) == (64, False)
    cpt = KnowledgeRunConfig.resolve("paper_cpt")
    assert (cpt.mode, cpt.passages_per_round, cpt.update.epochs, cpt.update.batch_size) == ("cpt", 200, 3, 8)
    assert (cpt.update.split_items, cpt.update.passage_per_self_edit) == (False, True)
    defaults = KnowledgeRunConfig()
    assert (defaults.update.lr_schedule, defaults.policy.keep, defaults.update.split_items) == ("cosine", "improved", True)


def test_the_q_v_update_adapter_has_no_mlp_weights(tiny_model_dir):
    config = KnowledgeRunConfig.resolve("paper")
    model, _tokenizer = load_model_and_tokenizer(str(tiny_model_dir), device="cpu")
    peft_model = attach_adapters(model, config.update.lora, config.policy.lora, seed=0)
    names = list(adapter_state(peft_model, TTT_ADAPTER))
    assert names and all(("q_proj" in n or "v_proj" in n) for n in names)
    assert not any(part in n for n in names for part in ("mlp", "gate_proj", "up_proj", "down_proj", "k_proj", "o_proj"))
    policy = list(adapter_state(peft_model, "policy"))
    assert any("gate_proj" in n for n in policy)  # the policy adapter still covers every projection


def result(candidate: int, reward: float, improvement: float, passage: str = "p") -> dict:
    return {"task_id": passage, "candidate": candidate, "status": "ok", "reward": reward, "improvement": improvement}


def test_keep_best_keeps_the_top_self_edit_whatever_its_gain():
    results = [result(0, -0.5, -0.5), result(1, -0.2, -0.2), result(0, 0.3, 0.3, "q"), result(1, 0.1, 0.1, "q")]
    assert [r["task_id"] for r in rest_em_kept(results, ["p", "q"], "improved")] == ["q"]
    kept = rest_em_kept(results, ["p", "q"], "best")
    assert [(r["task_id"], r["candidate"]) for r in kept] == [("p", 1), ("q", 0)]
    with pytest.raises(ValueError, match="unknown selection"):
        rest_em_kept(results, ["p"], "all")


@pytest.fixture(scope="module")
def tokenizer(tiny_model_dir):
    return AutoTokenizer.from_pretrained(tiny_model_dir)


def texts(tokenizer, examples) -> list[str]:
    return [tokenizer.decode(e.input_ids, skip_special_tokens=True) for e in examples]


def test_split_items_makes_one_sequence_per_statement_or_per_self_edit(tokenizer):
    split = texts(tokenizer, self_edit_examples(tokenizer, PASSAGE, EDITS, UpdateConfig()))
    assert len(split) == 4 and split[0].endswith(PASSAGE.context)  # the passage, then three statements
    whole = texts(tokenizer, self_edit_examples(tokenizer, PASSAGE, EDITS, UpdateConfig(split_items=False)))
    assert len(whole) == 3 and whole[1].endswith("Quillmont is Zorbania's capital.\nZorbania is governed from Quillmont.")


def test_passage_per_self_edit_trains_the_passage_once_per_self_edit(tokenizer):
    settings = UpdateConfig(split_items=False, passage_per_self_edit=True)
    examples = texts(tokenizer, self_edit_examples(tokenizer, PASSAGE, EDITS, settings))
    assert len(examples) == 4 and sum(t.endswith(PASSAGE.context) for t in examples) == 2
    alone = texts(tokenizer, self_edit_examples(tokenizer, PASSAGE, [], settings))
    assert len(alone) == 1 and alone[0].endswith(PASSAGE.context)  # no valid self-edit: the passage still trains


def test_first_line_only_cuts_the_graded_answer(monkeypatch, tiny_peft):
    model, tok = tiny_peft
    monkeypatch.setattr(reward_module, "greedy_generate", lambda _m, _t, prompts, _n: ["Quillmont\nand more"] * len(prompts))
    cut = reward_module.score_passage(model, tok, PASSAGE, batch_size=4, answer_max_new_tokens=8)
    whole = reward_module.score_passage(model, tok, PASSAGE, batch_size=4, answer_max_new_tokens=8, first_line_only=False)
    assert cut["answers"] == ["Quillmont"] and whole["answers"] == ["Quillmont\nand more"]


def test_a_merged_policy_needs_rounds():
    with pytest.raises(ConfigError, match="only mode single has rounds"):
        KnowledgeRunConfig.resolve("paper", overrides={"mode": "cpt"})


def test_the_knowledge_job_hands_merge_into_base_to_the_policy_slot(tmp_path):
    from seal_agent.jobs.knowledge import build_knowledge_context, prepare_knowledge_run

    from .test_knowledge_graph import knowledge_config

    config = knowledge_config(policy={"merge_into_base": True})
    ctx = build_knowledge_context(prepare_knowledge_run(config, tmp_path / "run", resume=False))
    assert ctx.policy_slot.merge is True


def test_the_compact_prompt_is_the_passage_and_one_line_naming_the_tool():
    from seal_agent.knowledge.prompts import knowledge_messages, variant_tools
    from seal_agent.tools import knowledge_tools

    tools = variant_tools("self-qa", knowledge_tools())
    (message,) = knowledge_messages(PASSAGE, "self-qa", tools, "compact")
    assert message.type == "human" and PASSAGE.context in message.text
    assert message.text.endswith("Training data (a JSON array with one call of write_qa_pairs):")
    assert len(knowledge_messages(PASSAGE, "self-qa", tools)) == 2  # the full prompt: system + user
    with pytest.raises(ValueError, match="unknown prompt form"):
        knowledge_messages(PASSAGE, "self-qa", tools, "tiny")


def test_a_merged_policy_cannot_start_from_a_checkpoint_yet():
    with pytest.raises(ConfigError, match="not supported"):
        KnowledgeRunConfig.resolve("paper", overrides={"policy_checkpoint": "runs/x/policy/round_1"})


def test_full_update_trains_every_base_weight_scores_them_then_restores(tiny_peft):
    from seal_agent.engine.full_update import FullUpdateEngine, base_parameters
    from seal_agent.engine.sequential import TrainJob
    from seal_agent.knowledge.update import update_examples

    peft_model, tokenizer = tiny_peft
    before = {name: p.detach().clone() for name, p in peft_model.named_parameters()}
    trainable = {name: p.requires_grad for name, p in peft_model.named_parameters()}
    engine = FullUpdateEngine(peft_model, tokenizer, batch_size=1)
    examples = update_examples(tokenizer, PASSAGE, ["Quillmont is Zorbania's capital."])
    seen = {}

    def score(model):  # what the scorer sees: the trained base weights, no adapter
        seen.update({name: p.detach().clone() for name, p in base_parameters(model)})
        return {"loss": model(**{k: v for k, v in zip(("input_ids",), (torch.tensor([examples[0].input_ids]),))},
                              labels=torch.tensor([examples[0].labels])).loss.item()}

    (outcome,) = engine.train_and_score([TrainJob(examples, 1e-2, 3, 0)], score)
    assert outcome.failure is None and outcome.train.steps == 6 and outcome.train.losses[-1] < outcome.train.losses[0]
    changed = [name for name, value in seen.items() if not torch.equal(value, before[name])]
    assert len(changed) == len(seen)  # every base weight trained, embeddings and norms too
    assert outcome.evaluation["loss"] < engine.score_base(score)["loss"]
    (answered,) = engine.train_and_generate([TrainJob(examples, 1e-2, 1, 0)], ["Zorbania"], 3, 1)
    assert len(answered.outputs) == 1 and isinstance(engine.generate_base(["Zorbania"], 3, 1)[0], str)
    for name, p in peft_model.named_parameters():  # back as it was, adapters untouched, base weights frozen again
        assert torch.equal(p, before[name]), name
        assert p.requires_grad == trainable[name], name


def test_update_method_full_is_for_cpt_only_and_cpt_eval_trains_one_update_per_row(tmp_path):
    from seal_agent.jobs.knowledge import PreparedKnowledgeRun, build_knowledge_context
    from seal_agent.knowledge.baselines import evaluate_baselines
    from seal_agent.knowledge.data import load_configured_passages
    from tests.conftest import SMALL_TINY

    with pytest.raises(ConfigError, match="only mode cpt"):
        KnowledgeRunConfig.resolve("smoke", overrides={"update": {"method": "full"}})
    config = KnowledgeRunConfig.resolve("smoke", overrides={
        "model": {"tiny": SMALL_TINY}, "mode": "cpt", "data": {"limit": 3},
        "policy": {"max_new_tokens": 120, "max_text_chars": 16, "max_items": 2},
        "update": {"epochs": 2, "seeds": 2, "method": "full"}, "eval": {"answer_max_new_tokens": 4}})
    passages = load_configured_passages(config.data)
    ctx = build_knowledge_context(PreparedKnowledgeRun(config, tmp_path, passages, resume=True))
    engine = ctx.cpt_engine()
    jobs = []
    real = engine.train_and_score
    engine.train_and_score = lambda some, score: jobs.extend(some) or real(some, score)
    ctx.cpt_engine = lambda: engine
    results = evaluate_baselines(ctx, passages, self_edits=2)
    ctx.traces.close()
    assert results["mode"] == "cpt"
    # passage only and the policy's self-edits: one update each over all three passages, two seeds
    assert len(jobs) == 4
    texts = [ctx.tokenizer.decode(e.input_ids) for e in jobs[0].examples]  # passage only: the three passages
    assert len(texts) == 3 and all(any(p.context[:20] in t for t in texts) for p in passages)
    assert all(len(j.examples) >= 3 for j in jobs[2:])
    rows = {r["name"]: r for r in results["rows"]}
    assert rows["passage only"]["passages"] == 3 and rows["passage + policy self-edits"]["self_edits"] == 6
    assert all(results["scored_updates"]["passage only"][p.passage_id] == 2 for p in passages)
    assert rows["passage only"]["metrics"]["loglik"] > rows["base model"]["metrics"]["loglik"]
