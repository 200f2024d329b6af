"""Continual strategies (`continual.strategy`): replay's budget, the adapter library's
retrieval and that it never merges (resuming each strategy: test_knowledge_graph)."""

from __future__ import annotations

import json

import pytest
import torch

from seal_agent.jobs.knowledge import build_knowledge_context, prepare_knowledge_run, run_knowledge
from seal_agent.knowledge.continual import replay_texts, retrieve, score_through_library
from seal_agent.knowledge.data import Passage, Question
from tests.test_knowledge_graph import knowledge_config, run


def test_replay_draws_at_most_its_budget_from_earlier_steps_only_and_the_same_for_a_seed():
    earlier = [{"step": 1, "texts": ["a", "b", "c"]}, {"step": 2, "texts": ["d", "e"]}]
    drawn = replay_texts(earlier, 3, seed=7)
    assert len(drawn) == 3 and len(set(drawn)) == 3 and set(drawn) <= {"a", "b", "c", "d", "e"}
    assert drawn == replay_texts(earlier, 3, seed=7)
    assert sorted(replay_texts(earlier, 10, seed=7)) == ["a", "b", "c", "d", "e"]  # the whole pool when it fits
    assert replay_texts([], 4, seed=7) == []


def test_retrieval_finds_the_passage_a_question_names_prefers_rare_words_and_newer_ties():
    keys = {1: "Vantor Quell\nThey say Pelmora is the home town of Vantor Quell.",
            2: "Misa Dell\nThey say a baker by trade is Misa Dell.",
            3: "Kalin Dell\nThey say an owl is the pet of Kalin Dell."}
    assert retrieve("Where does Vantor Quell live?", keys) == 1
    assert retrieve("What does Misa Dell do?", keys) == 2  # "dell" is in two keys, "misa" in one
    assert retrieve("What pet does Kalin Dell keep?", keys) == 3
    assert retrieve("Who wrote Hamlet?", keys) is None  # nothing shared: the bare base model
    assert retrieve("Dell?", keys) == 3  # a tie: the newer adapter


def test_library_scores_come_back_in_question_order():
    passage = Passage("p", "T", "text", (Question("q0 alpha", ("a",)), Question("q1 beta", ("b",)), Question("q2 alpha", ("c",))))
    keys = {1: "alpha", 2: "beta"}
    calls = []

    def score_with(step, sub):
        calls.append((step, [q.question for q in sub.questions]))
        return {"loglik": [float(step)] * len(sub.questions), "answers": [f"{step}:{q.question}" for q in sub.questions]}

    scored, routes = score_through_library(passage, keys, score_with)
    assert routes == [1, 2, 1] and calls == [(1, ["q0 alpha", "q2 alpha"]), (2, ["q1 beta"])]
    assert scored == {"loglik": [1.0, 2.0, 1.0], "answers": ["1:q0 alpha", "2:q1 beta", "1:q2 alpha"]}


def test_replay_trains_each_update_on_its_own_texts_plus_at_most_the_budget(tmp_path):
    prepared, summary = run(tmp_path, "replay", mode="continual", passages_per_round=3,
                            continual={"strategy": "replay", "replay_budget": 2})
    records = [json.loads((prepared.run_dir / "continual" / f"step_{n}.json").read_text()) for n in (1, 2, 3)]
    assert records[0]["replayed"] == []
    earlier_texts = set(records[0]["texts"])
    assert 0 < len(records[1]["replayed"]) <= 2 and set(records[1]["replayed"]) <= earlier_texts
    assert len(records[2]["replayed"]) == 2 and set(records[2]["replayed"]) <= earlier_texts | set(records[1]["texts"])
    for step, record in zip(summary["steps"], records):
        assert step["replayed"] == len(record["replayed"])
        assert step["sequences"] == len(record["texts"]) + len(record["replayed"])


def base_weights(model) -> dict[str, torch.Tensor]:
    return {name: p.detach().clone() for name, p in model.named_parameters() if "lora_" not in name}


def test_the_adapter_library_never_merges_and_answers_each_passage_with_its_own_adapter(tmp_path):
    config = knowledge_config(mode="continual", passages_per_round=3, continual={"strategy": "adapter_library"})
    prepared = prepare_knowledge_run(config, tmp_path / "library", resume=False)
    ctx = build_knowledge_context(prepared)
    before = base_weights(ctx.engine.model)
    summary = run_knowledge(prepared, context=ctx)
    after = base_weights(ctx.engine.model)
    assert ctx.merged_steps == 0 and before.keys() == after.keys()
    assert all(torch.equal(before[name], after[name]) for name in before)  # nothing merged, ever
    assert len(list((prepared.run_dir / "continual").glob("step_*.safetensors"))) == 3
    # The sample passages' questions name what their passage names: each reaches its own adapter...
    assert [s["routed_to_own_adapter"] for s in summary["steps"]] == [[1.0], [1.0, 1.0], [1.0, 1.0, 1.0]]
    # ...so a passage scores after every later step exactly as right after its own: no forgetting.
    matrix = summary["forgetting"]["matrix"]
    for j in range(3):
        assert matrix[j + 1][j] != pytest.approx(matrix[0][j], abs=1e-3)  # its update changed it
        assert all(matrix[i][j] == pytest.approx(matrix[j + 1][j], abs=1e-5) for i in range(j + 1, 4))


def test_the_cli_runs_a_strategy_and_the_report_shows_its_forgetting_heat_map(tmp_path):
    from typer.testing import CliRunner

    from seal_agent.cli import app
    from seal_agent.inspect.report import build_report

    config = tmp_path / "small.yaml"
    config.write_text("policy: {candidates_per_passage: 1, max_new_tokens: 200, max_text_chars: 16, max_items: 2}\n"
                      "update: {epochs: 2, seeds: 1}\neval: {answer_max_new_tokens: 4}\n")
    run_dir = tmp_path / "run"
    result = CliRunner().invoke(app, ["run", "knowledge", "--preset", "smoke", "--config", str(config), "--mode", "continual",
                                      "--passages", "2", "--strategy", "replay", "--run-dir", str(run_dir)])
    assert result.exit_code == 0, result.output
    assert "strategy replay" in result.output and "updates made: 2 of 2 passages" in result.output
    summary = json.loads((run_dir / "summary.json").read_text())
    assert [s["strategy"] for s in summary["steps"]] == ["replay", "replay"] and summary["forgetting"]["strategy"] == "replay"
    html = build_report(run_dir)
    assert "strategy replay" in html and html.count("background: rgba(31, 119, 180") == 2 + 1 + 2  # base row, then 1, then 2
    bad = CliRunner().invoke(app, ["run", "knowledge", "--preset", "smoke", "--mode", "continual", "--strategy", "forget",
                                   "--run-dir", str(tmp_path / "bad")])
    assert bad.exit_code == 2 and "continual.strategy" in bad.output
