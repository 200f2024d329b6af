"""The knowledge diagnosis: its figures on hand-made ReST-EM records, and the worked-example prompt."""

import json
import sys
from pathlib import Path

import pytest
from langchain_core.messages import AIMessage, HumanMessage, SystemMessage

from seal_agent.knowledge import nano_world
from seal_agent.knowledge.config import KnowledgePolicyConfig
from seal_agent.knowledge.prompts import COPIED_FROM_EXAMPLE, VARIANTS, knowledge_messages, variant_tools
from seal_agent.policy.self_edit import Rejection, validate_knowledge_edit
from seal_agent.tools import knowledge_tools

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import knowledge_diagnosis  # noqa: E402


def record(passage, candidate, reward, seed_rewards, facts, copies=False, gains=((True, 4.0), (False, -1.0)), round_=1):
    return {"seed": "seed-1", "round": round_, "passage": passage, "candidate": candidate, "reward": reward,
            "seed_rewards": seed_rewards, "lines": [f"line {candidate}"], "facts": facts, "copies_example": copies,
            "question_gains": list(gains)}


def test_kept_is_the_best_of_k_that_beat_the_base_model():
    records = [record("a", 0, 1.0, [1, 1], 1), record("a", 1, 2.0, [2, 2], 2),
               record("b", 0, -0.5, [-1, 0], 0), record("b", 1, -0.2, [0, -0.4], 0)]
    assert knowledge_diagnosis.kept_flags(records) == [False, True, False, False]


def test_noise_is_separated_from_the_spread_between_self_edits():
    # Passage a: two self-edits 2 apart; each one's two update seeds 2 apart.
    records = [record("a", 0, 1.0, [0.0, 2.0], 1), record("a", 1, 3.0, [2.0, 4.0], 2, copies=True)]
    out = knowledge_diagnosis.diagnose(records)
    noise = out["reward_noise"]
    assert noise["sd_across_update_seeds"] == pytest.approx(2 ** 0.5)  # variance of (0, 2) is 2
    assert noise["sd_between_self_edits_of_a_passage"] == pytest.approx(2 ** 0.5)  # variance of (1, 3)
    assert noise["sd_between_self_edits_noise_removed"] == pytest.approx(1.0)  # 2 - 2/2
    assert out["reward_validity"]["question_gain_when_its_fact_is_stated"][0] == 4.0
    assert out["reward_validity"]["question_gain_when_it_is_not"][0] == -1.0
    assert out["kept_by_rest_em"]["self_edits"] == 1 and out["kept_by_rest_em"]["share_copying_the_example"] == 1.0
    assert out["left_by_rest_em"]["facts_per_self_edit"] == 1.0
    assert out["sparsity"]["share_passages_where_no_self_edit_states_a_fact"] == 0.0


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_the_worked_example_is_an_earlier_exchange_whose_call_validates(variant):
    passage = nano_world.passages("rl", 1, seed=1)[0]
    tools = variant_tools(variant, knowledge_tools())
    messages = knowledge_messages(passage, variant, tools, "worked")
    assert [type(m) for m in messages] == [SystemMessage, HumanMessage, AIMessage, HumanMessage]
    assert "<" not in messages[0].content  # no placeholder to copy
    assert passage.context in messages[3].content and "Orvel" not in messages[3].content
    call = json.loads(messages[2].content)[0]
    worked = AIMessage("", tool_calls=[{"name": call["name"], "args": call["arguments"], "id": "worked"}])
    assert not isinstance(validate_knowledge_edit(worked, tools), Rejection)
    # A statement copied from the worked example is read as copied.
    assert all(COPIED_FROM_EXAMPLE.search(line) for line in call["arguments"].get("statements", []))


def implications(*statements):
    return AIMessage("", tool_calls=[{"name": "write_implications", "args": {"statements": list(statements)}, "id": "c"}])


@pytest.mark.parametrize("copied", ["<another one>", "The Orvel Bridge crosses the river Tam."])
def test_reject_copied_example_rejects_a_self_edit_that_copies_the_prompt(copied):
    from seal_agent.knowledge.baselines import sequences_or_none
    from seal_agent.knowledge.scoring import validated
    from seal_agent.policy.candidates import candidates_from

    tools = variant_tools("implications", knowledge_tools())
    message = implications("Vantor Quell lives in Pelmora.", copied)
    row = {}
    assert validated(candidates_from([message])[0], tools, row) is not None and "status" not in row  # off by default
    policy = KnowledgePolicyConfig(reject_copied_example=True)
    assert validated(candidates_from([message])[0], tools, row, policy) is None
    assert row["status"] == "rejected" and "copies the prompt's example" in row["reason"]
    assert sequences_or_none(message, tools) is not None and sequences_or_none(message, tools, policy) is None
    clean = implications("Vantor Quell lives in Pelmora.")
    assert sequences_or_none(clean, tools, policy) == ["Vantor Quell lives in Pelmora."]


def test_reject_repeated_lines_rejects_a_self_edit_that_writes_a_line_twice():
    from seal_agent.knowledge.baselines import sequences_or_none
    from seal_agent.knowledge.scoring import validated
    from seal_agent.policy.candidates import candidates_from

    tools = variant_tools("implications", knowledge_tools())
    repeated = implications("Pelmora is the home town of Vantor Quell.", "Vantor Quell keeps a fox.",
                            " Pelmora is the home town of Vantor Quell.")
    assert sequences_or_none(repeated, tools, KnowledgePolicyConfig()) is not None  # off by default
    policy = KnowledgePolicyConfig(reject_repeated_lines=True)
    row = {}
    assert validated(candidates_from([repeated])[0], tools, row, policy) is None
    assert row["status"] == "rejected" and "1 statement(s) repeat an earlier one" in row["reason"]
    distinct = implications("Pelmora is the home town of Vantor Quell.", "Vantor Quell keeps a fox.")
    assert sequences_or_none(distinct, tools, policy) == ["Pelmora is the home town of Vantor Quell.", "Vantor Quell keeps a fox."]


def test_an_mstep_setting_is_a_learning_rate_times_epochs():
    assert knowledge_diagnosis.parse_step("1e-4x2") == (1e-4, 2)
    assert knowledge_diagnosis.parse_step("0.001x8") == (1e-3, 8)
    with pytest.raises(Exception, match="LEARNING_RATExEPOCHS"):
        knowledge_diagnosis.parse_step("1e-4")


def test_the_mstep_and_probe_people_are_rl_people_of_two_disjoint_rounds():
    trained, probes = knowledge_diagnosis.probe_people(1, 12)
    assert len(trained) == len(probes) == 12
    assert not {p.title for p in trained} & {p.title for p in probes}
    assert {nano_world.role_of(p.title) for p in trained + probes} == {"rl"}
    # The table's first two RL rounds of that seed: the same draw.
    assert [p.title for p in trained + probes] == [p.title for p in nano_world.passages("rl", 24, 1)]


def test_gain_summary_averages_passages_and_measures_the_spread_within_one():
    out = knowledge_diagnosis.gain_summary([[1.0, 3.0], [0.0, 0.0, 0.0]])
    assert out["gain"][0] == pytest.approx(1.0)  # the passages' means 2 and 0
    assert out["passages"] == 2
    assert out["sd_between_self_edits_of_a_passage"] == pytest.approx((2 ** 0.5 + 0.0) / 2)


@pytest.mark.parametrize("name", list(knowledge_diagnosis.UPDATE_SETTINGS))
def test_every_update_setting_is_a_valid_config_layer(name, tmp_path):
    class Args:
        config, model, seed, candidates, dtype = None, "some/model", 1, 4, "float32"
    config = knowledge_diagnosis.diagnosis_config(Args, tmp_path / "p.jsonl", knowledge_diagnosis.UPDATE_SETTINGS[name])
    assert config.update.seeds == 1 and config.policy.candidates_per_passage == 4 and config.model.dtype == "float32"
    if name == "all-projections":
        assert set(config.update.lora.target_modules) == set(knowledge_diagnosis.ALL_PROJECTIONS)


@pytest.mark.slow
def test_the_mstep_and_update_parts_run_on_a_tiny_model(tmp_path):
    from typer.testing import CliRunner

    from seal_agent.cli import app

    model = tmp_path / "model"
    assert CliRunner().invoke(app, ["pretrain", "nano", "--world", "knowledge", "--out", str(model), "--steps", "10"]).exit_code == 0
    out = tmp_path / "d.json"
    common = ["--model", str(model), "--seed", "1", "--people", "2", "--candidates", "2", "--work", str(tmp_path / "w"),
              "--json", str(out)]
    knowledge_diagnosis.main(["mstep", "--steps", "1e-3x2", "--kept", "teacher", "--score", "teacher:0.001x2", *common])
    knowledge_diagnosis.main(["update", "--settings", "table,lr-3e-4", *common])
    document = json.loads(out.read_text())
    mstep = document["mstep"]
    assert set(mstep["arms"]) == {"initial", "teacher:0.001x2"}
    assert mstep["kept"]["teacher"]["pairs"] == 2 and mstep["arms"]["teacher:0.001x2"]["steps"] == 2  # 2 pairs x 2 epochs / batch 4
    scored = mstep["arms"]["teacher:0.001x2"]["scored"]
    assert len(scored["gains"]) == 2 and all(len(g) == 2 for g in scored["gains"])
    assert "minus_initial_paired" in scored
    assert (tmp_path / "w" / "mstep" / "arms" / "teacher-0.001x2").is_dir()
    update = document["update"]
    assert set(update["settings"]) == {"table", "lr-3e-4"}
    rows = update["settings"]["table"]["rows"]
    assert [len(g) for g in rows["implications before RL"]["gains"]] == [2, 2]
    assert update["probe_people"] == mstep["probe_people"]
