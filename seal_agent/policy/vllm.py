"""The self-edit policy sampled by vLLM (`--backend vllm`), and the check that vLLM really
samples from the policy adapter transformers holds.

After each ReST-EM update the new policy adapter becomes a new `LoRARequest`;
`check_policy_sync` compares vLLM's log-probabilities of a few probe tokens with the
transformers model's, so a vLLM still sampling from an old adapter stops the run with
`PolicyNotSyncedError` instead of silently training on stale samples. The client and the
engine are `seal_agent.engine.vllm`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from seal_agent.engine.vllm import greedy_sampling, lora_request_args
from seal_agent.policy.local import LocalToolPolicy
from seal_agent.policy.tool_format import self_edit_grammar


class PolicyNotSyncedError(Exception):
    """vLLM's samples do not come from the policy adapter transformers holds."""


def self_edit_sampling(policy_config, n: int, seed: int, tools) -> dict[str, Any]:
    """`SamplingParams` for K self-edits, decoded under the local policy's own grammar.

    The grammar (`self_edit_grammar`, as EBNF: vLLM compiles it with xgrammar too) fixes
    what the tool-call JSON schema leaves open: no free whitespace, required tools once each
    and last, at most `max_optional_calls` others. Under the bare JSON schema a small model
    wanders (a second `train`, whitespace until the token budget runs out); under the
    grammar both backends sample the same language. Unconstrained policies sample freely.
    """
    spec = {
        "n": n,
        "temperature": policy_config.temperature,
        "top_p": policy_config.top_p,
        "max_tokens": policy_config.max_new_tokens,
        "seed": seed,
    }
    if getattr(policy_config, "constrained", True):
        spec["structured_outputs"] = {"grammar": str(self_edit_grammar(tools, policy_config.max_optional_calls))}
    return spec


@torch.no_grad()
def transformers_logprobs(model, token_ids: list[int]) -> list[float]:
    """The same figures as `VllmClient.prompt_logprobs`, from the transformers model as it is now."""
    device = next(model.parameters()).device
    ids = torch.tensor([token_ids], device=device)
    log_probs = F.log_softmax(model(input_ids=ids).logits.float()[0, :-1], dim=-1)
    return log_probs.gather(1, ids[0, 1:, None])[:, 0].tolist()


def check_policy_sync(vllm_logprobs: list[float], torch_logprobs: list[float], tolerance: float, checkpoint: str) -> float:
    """The largest difference; raises `PolicyNotSyncedError` above `tolerance`."""
    worst = max((abs(a - b) for a, b in zip(vllm_logprobs, torch_logprobs)), default=0.0)
    if len(vllm_logprobs) != len(torch_logprobs) or worst > tolerance:
        raise PolicyNotSyncedError(
            f"vLLM does not sample from policy {checkpoint}: its log-probabilities differ from transformers' by up to "
            f"{worst:.3f} nats (tolerance {tolerance}); the adapter was saved but vLLM is not using it"
        )
    return worst


class VllmPolicy(LocalToolPolicy):
    """The local policy's interface, sampled by vLLM with the policy's current adapter attached."""

    client: Any = None
    policy_lora: Any = None  # lora_request_args of the adapter vLLM should sample from
    seed_offset: int = 0

    def attach(self, adapter_dir: Path, checkpoint: str, sync_tokens: int, tolerance: float, probe: str) -> float:
        """Point vLLM at a saved policy adapter and check it really samples from it."""
        self.policy_lora = lora_request_args(f"policy-{checkpoint}", adapter_dir)
        token_ids = self.tokenizer(probe, add_special_tokens=True)["input_ids"][: sync_tokens + 1]
        self.model.set_adapter(self.adapter_name, inference_mode=True)
        return check_policy_sync(self.client.prompt_logprobs(token_ids, self.policy_lora),
                                 transformers_logprobs(self.model, token_ids), tolerance, checkpoint)

    def sample(self, prompt: str, n: int, tools, seed: int) -> list[tuple[str, bool]]:
        spec = self_edit_sampling(self, n, seed, tools) if tools else {**greedy_sampling(self.max_new_tokens), "n": n, "seed": seed}
        (output,) = self.client.generate([prompt], spec, [self.policy_lora])
        return [(choice.text, choice.finish_reason == "stop") for choice in output.outputs]
