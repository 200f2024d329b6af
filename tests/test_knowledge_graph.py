"""Knowledge incorporation end to end: the three modes, rewards in the trace, the forgetting
matrix, resuming, the baselines command, judge and teacher through LangChain chat models."""

from __future__ import annotations

import json

import pytest
import torch
from langchain_core.language_models.fake_chat_models import FakeListChatModel
from typer.testing import CliRunner

from seal_agent.cli import app
from seal_agent.config import deep_merge, resolve_config
from seal_agent.knowledge.config import KnowledgeRunConfig
from seal_agent.knowledge.data import load_passages, sample_passages_path
from seal_agent.knowledge.prompts import VARIANTS, bounded_tool_specs, knowledge_messages, variant_tools
from seal_agent.knowledge.reward import judge_answers, passage_metrics, reward_of
from seal_agent.jobs.knowledge import build_knowledge_context, prepare_knowledge_run, run_knowledge
from seal_agent.policy.chat_models import load_chat_model
from seal_agent.run.traces import TraceStore
from tests.conftest import SMALL_TINY
from seal_agent.tools import knowledge_tools

FAKE = "langchain_core.language_models.fake_chat_models.FakeListChatModel"


def knowledge_config(**overrides) -> KnowledgeRunConfig:
    """The knowledge smoke preset, smaller: two passages a round, two self-edits, two seeds."""
    base = {
        "model": {"tiny": SMALL_TINY},
        "passages_per_round": 2,
        "policy": {"candidates_per_passage": 2, "max_new_tokens": 200, "max_text_chars": 16, "max_items": 2},
        "update": {"epochs": 2, "seeds": 2},
        "eval": {"answer_max_new_tokens": 4},
    }
    return resolve_config("smoke", overrides=deep_merge(base, overrides), schema=KnowledgeRunConfig)


def run(tmp_path, name, **overrides):
    prepared = prepare_knowledge_run(knowledge_config(**overrides), tmp_path / name, resume=False)
    return prepared, run_knowledge(prepared)


def test_single_mode_rewards_every_candidate_and_records_passages_and_seeds(tmp_path):
    prepared, summary = run(tmp_path, "single")
    assert [r["round"] for r in summary["rounds"]] == [1, 2]
    on_disk = json.loads((prepared.run_dir / "summary.json").read_text())
    assert on_disk["rounds"] == summary["rounds"]
    round_passages = summary["round_passages"]
    assert len(round_passages) == 2 and not set(round_passages[0]) & set(round_passages[1])  # fresh passages
    rows = TraceStore(prepared.run_dir / "run.sqlite").candidates()
    assert len(rows) == 2 * 2 * 2
    for r in summary["rounds"]:
        assert r["passages"] == round_passages[r["round"] - 1]
        assert set(r["seeds"]) == set(r["passages"])
        assert all(len(seeds) == 2 for p in r["passages"] for seeds in r["seeds"][p]["update"])
    ok = [row for row in rows if row["status"] == "ok"]
    assert ok, [row["reason"] for row in rows]
    for row in ok:
        metrics = row["metrics"]
        assert len(metrics["per_seed"]) == 2 and len(metrics["rewards"]) == 2
        assert row["reward"] == pytest.approx(sum(metrics["rewards"]) / 2)
        gain = metrics["after"]["loglik"] - metrics["base"]["loglik"]
        assert row["reward"] == pytest.approx(gain, abs=1e-6)  # loglik reward: the gain over the base model
        assert row["training"]["seeds"] and len(row["loss_curve"]) > 0
    assert (prepared.run_dir / "policy" / "round_2").is_dir()
    kept = summary["rounds"][0]["kept"]
    assert summary["rounds"][0]["policy_updated"] == (kept > 0)


def test_forgetting_matrix_shape_fill_and_reproducibility(tmp_path):
    first, summary = run(tmp_path, "a", mode="continual", passages_per_round=3)
    matrix = json.loads((first.run_dir / "forgetting.json").read_text())
    assert matrix == summary["forgetting"]
    k = 3
    values = matrix["matrix"]
    assert len(values) == k + 1 and all(len(row) == k for row in values)
    assert all(v is not None for v in values[0])  # the base model on every passage
    for i in range(1, k + 1):
        assert all(values[i][j] is not None for j in range(i)), values  # diagonal and below
        assert all(values[i][j] is None for j in range(i, k)), values  # not seen yet
    assert len(list((first.run_dir / "continual").glob("step_*.safetensors"))) == k
    # The merged updates are in the weights: each step moves the score of the passage it learned.
    assert all(abs(values[i][i - 1] - values[0][i - 1]) > 1e-3 for i in range(1, k + 1))
    _, again = run(tmp_path, "b", mode="continual", passages_per_round=3)
    assert again["forgetting"] == summary["forgetting"]


@pytest.mark.parametrize("strategy", ["merge", "replay", "adapter_library"])
def test_continual_resume_rebuilds_the_same_state_for_each_strategy(tmp_path, strategy):
    settings = {"mode": "continual", "passages_per_round": 3, "continual": {"strategy": strategy, "replay_budget": 2}}
    _, whole = run(tmp_path, "whole", **settings)
    prepared = prepare_knowledge_run(knowledge_config(**settings), tmp_path / "cut", resume=False)
    # Stop after the second step, as a kill would; the resumed process starts from fresh weights.
    run_knowledge(prepared, interrupt_after=["continual_step"])
    run_knowledge(prepared, interrupt_after=["continual_step"])
    resumed = run_knowledge(prepare_knowledge_run(None, tmp_path / "cut", resume=True))
    for got, want in zip(resumed["forgetting"]["matrix"], whole["forgetting"]["matrix"], strict=True):
        assert [v is None for v in got] == [v is None for v in want]
        assert [v for v in got if v is not None] == pytest.approx([v for v in want if v is not None], abs=1e-4)
    assert [s["step"] for s in resumed["steps"]] == [1, 2, 3]
    assert [s["replayed"] for s in resumed["steps"]] == [s["replayed"] for s in whole["steps"]]
    assert all(s["strategy"] == strategy for s in resumed["steps"])


def test_cpt_mode_trains_one_update_on_every_passage(tmp_path):
    prepared, summary = run(tmp_path, "cpt", mode="cpt", passages_per_round=3, update={"epochs": 2, "seeds": 1})
    (cpt,) = summary["rounds"]
    assert cpt["mode"] == "cpt" and len(cpt["passages"]) == 3 and cpt["update_failure"] is None
    valid = round(cpt["valid_fraction"] * cpt["candidates"])
    assert cpt["sequences"] >= 3  # the passages themselves at least
    assert cpt["steps"] == cpt["sequences"] * 2  # one update: every sequence x epochs, batch 1
    assert set(cpt["after_per_passage"]) == set(cpt["passages"]) and valid >= 0
    assert cpt["after"]["loglik"] > cpt["base"]["loglik"]


def test_cpt_mode_honours_the_policys_rejections(tmp_path, monkeypatch):
    import seal_agent.knowledge.scoring as scoring

    # Every self-edit counts as repeating a line: with the rejection on, none is trained on.
    monkeypatch.setattr(scoring, "repeated_lines", lambda sequences: list(sequences[:1]) or ["(empty)"])
    _prepared, summary = run(tmp_path, "cpt", mode="cpt", passages_per_round=3, update={"epochs": 1, "seeds": 1},
                             policy={"reject_repeated_lines": True})
    (cpt,) = summary["rounds"]
    assert cpt["valid_fraction"] == 0.0 and cpt["sequences"] == 3  # the passages alone


def test_batched_and_sequential_engines_score_alike(tmp_path):
    from seal_agent.knowledge.update import update_examples
    from seal_agent.engine.sequential import TrainJob

    prepared = prepare_knowledge_run(knowledge_config(), tmp_path / "engines", resume=False)
    ctx = build_knowledge_context(prepared)
    passage = prepared.passages[0]
    examples = update_examples(ctx.tokenizer, passage, ["A made-up fact."])
    jobs = [TrainJob(examples, 1e-3, 2, seed) for seed in (1, 2)]
    batched = ctx.engine.train_and_score(jobs, ctx.scorer(passage))
    sequential = ctx.sequential.train_and_score(jobs, ctx.scorer(passage))
    for b, s in zip(batched, sequential):
        assert b.train.losses == pytest.approx(s.train.losses, abs=1e-4)
        assert b.evaluation["loglik"] == pytest.approx(s.evaluation["loglik"], abs=1e-3)
    base = ctx.engine.score_base(ctx.scorer(passage))
    assert all(a != pytest.approx(b) for a, b in zip(batched[0].evaluation["loglik"], base["loglik"]))
    ctx.traces.close()


def test_merging_an_update_into_the_base_matches_the_adapter(tiny_peft):
    from seal_agent.model.adapters import TTT_ADAPTER, adapter_state, load_adapter_state, merge_adapter_into_base

    model, tokenizer = tiny_peft
    initial = adapter_state(model, TTT_ADAPTER)
    with torch.no_grad():
        for name, param in model.named_parameters():
            if ".ttt." in name and "lora_B" in name:
                param.normal_(0, 0.05)
    ids = torch.tensor([tokenizer("Quillmont is a town.")["input_ids"]])
    model.set_adapter(TTT_ADAPTER)
    with torch.no_grad():
        adapted = model(input_ids=ids).logits
        merge_adapter_into_base(model, TTT_ADAPTER)
        load_adapter_state(model, initial)  # B = 0: the adapter itself now adds nothing
        with model.disable_adapter():
            merged = model(input_ids=ids).logits
    assert torch.allclose(adapted, merged, atol=1e-4)


def test_every_prompt_variant_offers_its_tool_and_the_grammar_caps_lengths():
    passage = load_passages(sample_passages_path())[0]
    for variant, (tool_name, _task, _example) in VARIANTS.items():
        tools = variant_tools(variant, knowledge_tools())
        assert [t.name for t in tools] == [tool_name]
        system, human = knowledge_messages(passage, variant, tools)
        assert tool_name in system.text and passage.context in human.text
    (spec,) = bounded_tool_specs(variant_tools("self-qa", knowledge_tools()), max_chars=12, max_items=2)
    pairs = spec["function"]["parameters"]["properties"]["pairs"]
    assert pairs["maxItems"] == 2 and pairs["items"]["properties"]["answer"]["maxLength"] == 12
    (spec,) = bounded_tool_specs(variant_tools("rewrite", knowledge_tools()), max_chars=10_000, max_items=2)
    assert spec["function"]["parameters"]["properties"]["text"]["maxLength"] == 6000  # never looser than the tool


def test_judge_reward_through_a_langchain_chat_model():
    passage = load_passages(sample_passages_path())[0]
    judge = FakeListChatModel(responses=["Yes.", "no", "YES"])
    assert judge_answers(judge, passage, ["Quillmont", "someone", "the Tamsel"]) == [1.0, 0.0, 1.0]
    scored = {"loglik": [-1.0, -2.0, -3.0], "answers": ["Quillmont", "x", "Tamsel"]}
    metrics = passage_metrics(scored, passage, FakeListChatModel(responses=["yes"]))
    assert metrics["judge"] == 1.0 and metrics["exact_match"] == pytest.approx(2 / 3)
    assert reward_of("judge", metrics, {**metrics, "judge": 0.25}) == (1.0, 0.75)
    with pytest.raises(ValueError, match="cannot be imported"):
        load_chat_model(type("S", (), {"class_path": "no_such_module.Chat", "kwargs": {}})())


def test_cli_run_and_eval_knowledge_with_a_teacher_and_a_judge(tmp_path):
    runner = CliRunner()
    teacher_reply = json.dumps([{"name": "write_implications", "arguments": {"statements": ["Quillmont is a capital."]}}])
    config = tmp_path / "k.yaml"
    config.write_text(json.dumps({
        "model": {"tiny": SMALL_TINY}, "rounds": 1, "passages_per_round": 1,
        "policy": {"candidates_per_passage": 2, "max_new_tokens": 200, "max_text_chars": 16, "max_items": 2},
        "update": {"epochs": 1, "seeds": 1},
        "reward": {"kind": "judge", "judge": {"class_path": FAKE, "kwargs": {"responses": ["no"]}}},
        "eval": {"answer_max_new_tokens": 4, "teacher": {"class_path": FAKE, "kwargs": {"responses": [teacher_reply]}}},
    }))
    result = runner.invoke(app, ["run", "knowledge", "--preset", "smoke", "--config", str(config), "--run-dir", str(tmp_path / "r")])
    assert result.exit_code == 0, result.output
    summary = json.loads((tmp_path / "r" / "summary.json").read_text())
    assert summary["reward_kind"] == "judge" and summary["baseline"]["mean"]["judge"] == 0.0
    out = tmp_path / "eval.json"
    result = runner.invoke(app, ["eval", "knowledge", "--run-dir", str(tmp_path / "r"), "--passages", "2", "--json", str(out)])
    assert result.exit_code == 0, result.output
    rows = {r["name"]: r for r in json.loads(out.read_text())["rows"]}
    assert list(rows) == ["base model", "passage only", "passage + policy self-edits", "passage + FakeListChatModel self-edits"]
    assert rows["passage + FakeListChatModel self-edits"]["rejected"] == 0
    assert all(r["passages"] == 2 for r in rows.values())
    assert rows["passage only"]["metrics"]["loglik"] > rows["base model"]["metrics"]["loglik"]


def test_cli_knowledge_bad_input_exits_2_and_leaves_nothing(tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"title": "t", "context": "c", "questions": [{"question": "q?", "answers": []}]}\n')
    result = CliRunner().invoke(app, ["run", "knowledge", "--data", str(bad), "--run-dir", str(tmp_path / "r")])
    assert result.exit_code == 2 and "questions[0].answers must be a non-empty list" in result.output
    assert not (tmp_path / "r").exists()
    result = CliRunner().invoke(app, ["run", "knowledge", "--reward", "judge", "--run-dir", str(tmp_path / "r")])
    assert result.exit_code == 2 and "reward.judge" in result.output


def test_tools_list_shows_the_knowledge_tools():
    result = CliRunner().invoke(app, ["tools", "list", "--domain", "knowledge", "--json"])
    assert result.exit_code == 0, result.output
    names = [t["name"] for t in json.loads(result.output)]
    assert names == ["no_update", "rewrite_passage", "write_implications", "write_qa_pairs"]
