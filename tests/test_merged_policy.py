"""`policy.merge_into_base`: SEAL's released ReST-EM, where each round's fine-tuned policy is merged
into the base weights, so it is also the base that test-time training starts from."""

from __future__ import annotations

import pytest
import torch
from langgraph.runtime import Runtime

from seal_agent.graphs.arc import reinforce
from seal_agent.config import ConfigError
from seal_agent.model.adapters import POLICY_ADAPTER, adapter_state
from seal_agent.rl.rest_em import policy_base_weights
from seal_agent.jobs.arc import build_context, prepare_run

from .conftest import fast_config

COMPLETION = '[{"name": "train", "arguments": {"learning_rate": 0.001, "num_train_epochs": 2, "strategy": "all_tokens"}}]'


def rewarded_state(round_: int, previous: str | None):
    prompt = "<|user|>\nTask\n<|assistant|>\n"
    return {
        "round": round_, "task_ids": ["6e02f1e3"], "policy_checkpoint": previous,
        "proposals": [{"round": round_, "task_id": "6e02f1e3", "prompt": prompt, "seconds": 0.0}],
        "results": [{"round": round_, "task_id": "6e02f1e3", "candidate": 0, "status": "ok", "reward": 1.0,
                     "completion": COMPLETION, "seconds": 0.0}],
    }


def weights(model) -> dict[str, torch.Tensor]:
    return {name: w.detach().clone() for name, w in policy_base_weights(model).items()}


def test_each_round_is_merged_into_the_base_and_any_round_can_be_rebuilt_exactly(tmp_path):
    ctx = build_context(prepare_run(fast_config(policy={"merge_into_base": True}), tmp_path / "run", resume=False))
    model = ctx.engine.model
    original, fresh_adapter = weights(model), adapter_state(model, POLICY_ADAPTER)
    first = reinforce(rewarded_state(1, None), Runtime(context=ctx))
    assert first["rounds"][0]["policy_updated"] and first["policy_checkpoint"] == "policy/round_1"
    after_one = weights(model)
    assert any(not torch.equal(original[k], after_one[k]) for k in original)  # the base itself changed...
    assert all(torch.equal(fresh_adapter[k], v) for k, v in adapter_state(model, POLICY_ADAPTER).items())  # ...the adapter is fresh
    reinforce(rewarded_state(2, "policy/round_1"), Runtime(context=ctx))
    after_two = weights(model)
    assert any(not torch.equal(after_one[k], after_two[k]) for k in original)

    ctx.policy_slot.use(None)  # the initial policy: the original weights, exactly
    assert all(torch.equal(original[k], v) for k, v in weights(model).items())
    ctx.policy_slot.use("policy/round_1")  # round 1 rebuilt from its saved adapter
    assert all(torch.allclose(after_one[k], v, atol=1e-6) for k, v in weights(model).items())
    ctx.policy_slot.use("policy/round_2")  # rounds 1 then 2, merged in order
    assert all(torch.allclose(after_two[k], v, atol=1e-6) for k, v in weights(model).items())


def test_a_round_missing_from_the_chain_is_a_clear_error(tmp_path):
    import shutil

    ctx = build_context(prepare_run(fast_config(policy={"merge_into_base": True}), tmp_path / "run", resume=False))
    reinforce(rewarded_state(1, None), Runtime(context=ctx))
    reinforce(rewarded_state(2, "policy/round_1"), Runtime(context=ctx))
    shutil.rmtree(tmp_path / "run" / "policy" / "round_1")
    ctx.policy_slot.use(None)
    with pytest.raises(ValueError, match="needs every earlier round's adapter"):
        ctx.policy_slot.use("policy/round_2")


@pytest.mark.parametrize("other", [{"backend": "vllm"}, {"executor": {"kind": "ray"}}])
def test_merging_needs_the_in_process_backend_and_executor(other):
    with pytest.raises(ConfigError, match="merge_into_base"):
        fast_config(policy={"merge_into_base": True}, **other)
