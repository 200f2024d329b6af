"""The outer loop's policy-gradient alternatives to ReST-EM (`rl.algorithm: rloo | grpo`):
advantages, the direction of each update on a hand-made batch, the recorded sampling
log-probabilities, and both domains' loops running with them."""

from __future__ import annotations

import pytest
import torch

from seal_agent.config import ConfigError
from seal_agent.model.adapters import POLICY_ADAPTER
from seal_agent.rl.policy_gradient import (
    Sample, completion_ids, completion_logprobs, group_advantages, grouped_samples, policy_gradient_train, token_logprobs,
)
from seal_agent.rl.rest_em import PolicySlot, rest_em_update
from seal_agent.rl.sft import policy_state

PROMPT = "Write a self-edit for task 1.\n"
GOOD, BAD = '[{"name": "train", "arguments": {"learning_rate": 0.001}}]', '[{"name": "flip", "arguments": {"axis": 1}}]'


def test_group_advantages():
    assert group_advantages([1.0, 0.0, 0.0, 0.0], "rloo") == pytest.approx([1.0, -1 / 3, -1 / 3, -1 / 3])
    assert group_advantages([0.5, 0.5], "rloo") == [0.0, 0.0] and group_advantages([1.0], "rloo") == [0.0]
    grpo = group_advantages([2.0, 0.0], "grpo")
    assert grpo == pytest.approx([1.0, -1.0], abs=1e-5)
    assert group_advantages([0.0, 0.0, 0.0], "grpo") == [0.0, 0.0, 0.0]  # nothing to learn from a tied group
    with pytest.raises(ValueError, match="rloo or grpo"):
        group_advantages([1.0], "rest_em")
    rows = [{"task_id": "b", "candidate": 1, "reward": 0.0, "completion": BAD},
            {"task_id": "b", "candidate": 0, "reward": 1.0, "completion": GOOD},
            {"task_id": "a", "candidate": 0, "reward": 0.0, "completion": ""}]  # nothing written: no sample
    samples = grouped_samples(rows, {"a": "pa", "b": "pb"}, "rloo")
    assert [(s.prompt, s.completion, s.advantage) for s in samples] == [("pb", GOOD, 1.0), ("pb", BAD, -1.0)]
    # a rejected self-edit is the worst of its group: below a valid one that hurt (rewards can be negative)
    rows = [{"task_id": "p", "candidate": 0, "reward": 2.0, "completion": GOOD, "status": "ok"},
            {"task_id": "p", "candidate": 1, "reward": -1.0, "completion": BAD, "status": "ok"},
            {"task_id": "p", "candidate": 2, "reward": 0.0, "completion": "copied", "status": "rejected"}]
    advantages = [s.advantage for s in grouped_samples(rows, {"p": "pp"}, "rloo")]
    assert advantages == pytest.approx([2.0 - (-2.0) / 2, -1.0 - 1.0 / 2, -1.0 - 1.0 / 2])
    assert min(advantages) == advantages[2] and advantages[2] < 0
    # with 0/1 rewards (ARC) it is a failure, as before
    arc = [{**rows[0], "reward": 1.0}, {**rows[1], "reward": 0.0}, rows[2]]
    assert [s.advantage for s in grouped_samples(arc, {"p": "pp"}, "rloo")] == pytest.approx([1.0, -0.5, -0.5])


def logprob(model, tokenizer, completion: str) -> float:
    model.set_adapter(POLICY_ADAPTER, inference_mode=True)
    with torch.no_grad():
        return token_logprobs(model, *completion_ids(tokenizer, PROMPT, completion)).sum().item()


@pytest.mark.parametrize("algorithm", ["rloo", "grpo"])
def test_a_rewarded_self_edit_goes_up_and_an_unrewarded_one_down(tiny_peft, algorithm):
    model, tokenizer = tiny_peft
    before = {text: logprob(model, tokenizer, text) for text in (GOOD, BAD)}
    advantages = group_advantages([1.0, 0.0], algorithm)
    samples = [Sample(PROMPT, GOOD, advantages[0]), Sample(PROMPT, BAD, advantages[1])]
    result = policy_gradient_train(model, tokenizer, samples, algorithm=algorithm, learning_rate=3e-3, epochs=3, clip=0.2,
                                   kl_coef=0.0, seed=0)
    assert result.steps == 6
    assert logprob(model, tokenizer, GOOD) > before[GOOD] + 0.1
    assert logprob(model, tokenizer, BAD) < before[BAD] - 0.1
    assert not any(p.requires_grad for n, p in model.named_parameters() if f".{POLICY_ADAPTER}." in n)  # frozen again


def test_rest_em_leaves_the_policy_alone_when_nothing_is_rewarded(tiny_peft, tmp_path):
    from seal_agent.arc.config import RunConfig

    model, tokenizer = tiny_peft
    slot = PolicySlot(model, tmp_path, policy_state(model))
    before = {text: logprob(model, tokenizer, text) for text in (GOOD, BAD)}
    policy = RunConfig.resolve("smoke").policy
    unchanged = rest_em_update(slot, tokenizer, policy, 0, 1, None, [])  # the unrewarded BAD is never trained on
    assert unchanged["policy_updated"] is False
    assert {text: logprob(model, tokenizer, text) for text in (GOOD, BAD)} == before
    rest_em_update(slot, tokenizer, policy, 0, 2, "policy/round_1", [(PROMPT, GOOD)])
    assert logprob(model, tokenizer, GOOD) > before[GOOD]


@pytest.mark.parametrize("algorithm", ["rest_em", "rloo", "grpo"])
@pytest.mark.parametrize("steps", [1, 5])
def test_steps_per_round_gives_every_algorithm_the_same_optimizer_steps(tiny_peft, tmp_path, algorithm, steps):
    # Three self-edits, one rewarded: ReST-EM keeps one (batches of 2: one batch a pass),
    # rloo/grpo learn from all three (one a step). Epochs would give them 8 steps and 3 x 4;
    # with rl.steps_per_round both take exactly `steps`, cycling through their samples.
    from seal_agent.arc.config import RunConfig
    from seal_agent.rl.policy_gradient import update_policy

    model, tokenizer = tiny_peft
    config = RunConfig.resolve("smoke", overrides={
        "rl": {"algorithm": algorithm, "learning_rate": 1e-3, "epochs": 4, "steps_per_round": steps},
        "policy": {"sft_epochs": 8, "sft_batch_size": 2}})
    rows = [{"task_id": "t", "candidate": i, "reward": r, "completion": c} for i, (r, c) in enumerate([(1.0, GOOD), (0.0, BAD), (0.0, BAD)])]
    slot = PolicySlot(model, tmp_path, policy_state(model))
    result = update_policy(slot, tokenizer, config, 1, None, [(PROMPT, GOOD)], rows, {"t": PROMPT})
    assert result["policy_updated"] and result["policy_optimizer_steps"] == steps
    unset = config.model_copy(update={"rl": config.rl.model_copy(update={"steps_per_round": None})})
    result = update_policy(slot, tokenizer, unset, 2, "policy/round_1", [(PROMPT, GOOD)], rows, {"t": PROMPT})
    assert result["policy_optimizer_steps"] == (8 if algorithm == "rest_em" else 3 * 4)  # epochs decide


def test_the_recorded_sampling_logprobs_match_a_recomputation(tiny_peft):
    model, tokenizer = tiny_peft
    (record,) = completion_logprobs(model, tokenizer, PROMPT, [GOOD])
    ids, start = completion_ids(tokenizer, PROMPT, GOOD)
    assert record["tokens"] == len(ids) - start
    assert record["sampling_logprob"] == pytest.approx(logprob(model, tokenizer, GOOD), abs=1e-4)


def test_an_unknown_algorithm_is_a_config_error():
    from seal_agent.arc.config import RunConfig

    with pytest.raises(ConfigError, match="rl.algorithm"):
        RunConfig.resolve("smoke", overrides={"rl": {"algorithm": "ppo"}})


@pytest.mark.parametrize("algorithm", ["rloo", "rest_em"])
def test_the_arc_loop_runs_and_records_what_it_sampled(tmp_path, algorithm):
    from seal_agent.jobs.arc import prepare_run, run_arc
    from tests.conftest import fast_config

    config = fast_config(rounds=1, rl={"algorithm": algorithm, "learning_rate": 1e-3})
    summary = run_arc(prepare_run(config, tmp_path / algorithm, resume=False))
    (round_1,) = summary["rounds"]
    if algorithm == "rloo":
        assert round_1["rl_algorithm"] == "rloo" and round_1["rl_samples"] == round_1["candidates"]
    assert round_1["sampled_nll_per_token"] > 0  # the entropy estimate, whatever the algorithm
    assert (tmp_path / algorithm / "policy" / "round_1").is_dir()


def test_the_knowledge_loop_runs_grpo_on_its_continuous_reward(tmp_path):
    from seal_agent.jobs.knowledge import prepare_knowledge_run, run_knowledge
    from tests.test_knowledge_graph import knowledge_config

    config = knowledge_config(rounds=1, rl={"algorithm": "grpo", "learning_rate": 1e-3})
    summary = run_knowledge(prepare_knowledge_run(config, tmp_path / "grpo", resume=False))
    (round_1,) = summary["rounds"]
    assert round_1["rl_algorithm"] == "grpo" and round_1["rl_samples"] == round_1["candidates"]
    assert round_1["policy_updated"] is True  # continuous rewards: the group's advantages are not all 0
    assert len(round_1["rl_loss"]) == round_1["candidates"]
