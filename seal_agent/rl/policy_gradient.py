"""Group-relative policy gradients over self-edits (`rl.algorithm: rloo | grpo`), beside ReST-EM.

ReST-EM keeps the rewarded self-edits and fine-tunes on them: an unrewarded sample, and any
difference between two rewards, teaches nothing. These use every sample. For each task's
(or passage's) K self-edits, with rewards r_1..r_K:

    rloo   advantage a_i = r_i - mean(r_j, j != i)   (leave-one-out baseline), and the loss
           -a_i * mean over the self-edit's tokens of log p(token)
    grpo   a_i = (r_i - mean r) / (std r + eps), and the clipped surrogate
           -min(rho * a_i, clip(rho, 1 - c, 1 + c) * a_i) per token, rho = p / p_sampling

both optionally plus `kl_coef` x the k3 estimate of KL(policy || reference) per token, the
reference being the base model with every adapter off. The log-probabilities are those of
the policy adapter with no sampling transform (temperature 1, no grammar mask), the same
figures `completion_logprobs` records when a self-edit is sampled (`sampling_logprob`).
Rewards are ARC's 0/1 or knowledge's continuous gain: the group baseline takes either.
"""

from __future__ import annotations

import math
import random
import statistics
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from seal_agent.config import RL_ALGORITHMS as ALGORITHMS
from seal_agent.engine.sequential import CandidateFailed, TrainResult
from seal_agent.model.adapters import POLICY_ADAPTER, activate
from seal_agent.rl.rest_em import PolicySlot, rest_em_update, save_round, train_from
from seal_agent.run.seeding import derive_seed

__all__ = ["ALGORITHMS", "Sample", "completion_logprobs", "group_advantages", "grouped_samples", "policy_gradient_update",
           "sampled_nll", "update_policy"]


@dataclass
class Sample:
    """One sampled self-edit: what the policy saw, what it wrote, and how much better than its group it did."""

    prompt: str
    completion: str
    advantage: float


def group_advantages(rewards: list[float], algorithm: str, eps: float = 1e-6) -> list[float]:
    """Each reward against its group's: leave-one-out mean (rloo) or mean and deviation (grpo)."""
    if algorithm == "rloo":
        if len(rewards) < 2:
            return [0.0] * len(rewards)
        total = sum(rewards)
        return [r - (total - r) / (len(rewards) - 1) for r in rewards]
    if algorithm == "grpo":
        mean = statistics.fmean(rewards) if rewards else 0.0
        spread = statistics.pstdev(rewards) if len(rewards) > 1 else 0.0
        return [(r - mean) / (spread + eps) if spread > 0 else 0.0 for r in rewards]
    raise ValueError(f"no advantages for algorithm {algorithm!r}; choose rloo or grpo")


def completion_ids(tokenizer, prompt: str, completion: str) -> tuple[list[int], int]:
    """prompt + completion + EOS as token ids, and where the completion starts (as ReST-EM's SFT encodes it)."""
    prompt_ids = tokenizer(prompt, add_special_tokens=False)["input_ids"]
    body = tokenizer(completion, add_special_tokens=False)["input_ids"] + [tokenizer.eos_token_id]
    return prompt_ids + body, len(prompt_ids)


def token_logprobs(model, ids: list[int], start: int) -> torch.Tensor:
    """log p(token_t | tokens before it) for the completion's tokens (t >= start), differentiable."""
    device = next(model.parameters()).device
    tensor = torch.tensor([ids], device=device)
    logits = model(input_ids=tensor).logits.float()[0, start - 1:-1]
    return F.log_softmax(logits, dim=-1).gather(1, tensor[0, start:, None])[:, 0]


@torch.no_grad()
def completion_logprobs(peft_model, tokenizer, prompt: str, completions: list[str]) -> list[dict[str, float]]:
    """Per completion: the summed log-probability of its tokens under the policy adapter as it is
    now (the one that just sampled them), and how many tokens; what the trace records."""
    peft_model.set_adapter(POLICY_ADAPTER, inference_mode=True)
    peft_model.eval()
    records = []
    for completion in completions:
        ids, start = completion_ids(tokenizer, prompt, completion)
        values = token_logprobs(peft_model, ids, start)
        records.append({"sampling_logprob": round(values.sum().item(), 5), "tokens": len(values)})
    return records


def policy_gradient_step_loss(new: torch.Tensor, old: torch.Tensor, reference: torch.Tensor | None, advantage: float,
                              algorithm: str, clip: float, kl_coef: float) -> torch.Tensor:
    """The loss of one self-edit (mean over its tokens)."""
    if algorithm == "rloo":
        loss = -(advantage * new).mean()
    else:
        ratio = torch.exp(new - old)
        surrogate = torch.minimum(ratio * advantage, torch.clamp(ratio, 1 - clip, 1 + clip) * advantage)
        loss = -surrogate.mean()
    if kl_coef and reference is not None:
        log_ratio = reference - new  # k3: exp(x) - x - 1 >= 0, an unbiased estimate of KL(policy || reference)
        loss = loss + kl_coef * (torch.exp(log_ratio) - log_ratio - 1).mean()
    return loss


def policy_gradient_train(peft_model, tokenizer, samples: list[Sample], *, algorithm: str, learning_rate: float,
                          epochs: int, clip: float, kl_coef: float, seed: int, max_grad_norm: float = 1.0,
                          steps: int | None = None) -> TrainResult:
    """Update the policy adapter in place on `samples`: one optimiser step per self-edit,
    `epochs` passes in a seeded order, or passes until exactly `steps` steps (the last pass
    cut). The "old" log-probabilities (grpo's ratio) are the policy's before the first step,
    i.e. the sampling policy's."""
    result = TrainResult()
    samples = [s for s in samples if s.advantage != 0.0 or kl_coef]
    if not samples:
        return result
    encoded = [completion_ids(tokenizer, s.prompt, s.completion) for s in samples]
    peft_model.set_adapter(POLICY_ADAPTER, inference_mode=True)
    with torch.no_grad():
        old = [token_logprobs(peft_model, ids, start) for ids, start in encoded]
        reference = None
        if kl_coef:
            with peft_model.disable_adapter():
                reference = [token_logprobs(peft_model, ids, start) for ids, start in encoded]
    params = activate(peft_model, POLICY_ADAPTER)
    optimizer = torch.optim.AdamW(params, lr=learning_rate, weight_decay=0.0)
    order = random.Random(seed)
    torch.manual_seed(seed)
    peft_model.train()
    if steps is not None:
        epochs = math.ceil(steps / len(samples))
    try:
        for _epoch in range(epochs):
            indices = list(range(len(samples)))
            order.shuffle(indices)
            if steps is not None:
                indices = indices[: steps - result.steps]
            for i in indices:
                ids, start = encoded[i]
                new = token_logprobs(peft_model, ids, start)
                loss = policy_gradient_step_loss(new, old[i], reference[i] if reference else None, samples[i].advantage,
                                                 algorithm, clip, kl_coef)
                if not torch.isfinite(loss):
                    raise CandidateFailed(f"policy-gradient loss became {loss.item()} at step {result.steps + 1}")
                loss.backward()
                torch.nn.utils.clip_grad_norm_(params, max_grad_norm)
                optimizer.step()
                optimizer.zero_grad(set_to_none=True)
                result.losses.append(round(loss.item(), 6))
                result.steps += 1
    finally:
        peft_model.eval()
        for param in params:
            param.grad = None
            param.requires_grad = False
    return result


def sampled_nll(proposals: list[dict], current: int) -> dict[str, float]:
    """The round's mean negative log-probability per token of its sampled self-edits under
    the policy that sampled them (a Monte-Carlo estimate of the policy's entropy per token:
    it falls as sampling concentrates); {} when the round recorded none."""
    records = [r for p in proposals if p["round"] == current for r in p.get("sampling_logprobs") or []]
    tokens = sum(r["tokens"] for r in records)
    return {"sampled_nll_per_token": round(-sum(r["sampling_logprob"] for r in records) / tokens, 5)} if tokens else {}


def grouped_samples(rows: list[dict], prompts: dict[str, str], algorithm: str) -> list[Sample]:
    """A round's scored self-edits as samples, each with its advantage within its task's (or
    passage's) group. Rows: task_id, candidate, reward, completion, status.

    A rejected self-edit (status "rejected": invalid calls, a copied example) counts as the
    worst of its group, so the policy learns to avoid it: its reward (0), or the group's
    lowest valid reward where that is below 0. Where rewards can be negative (knowledge: the
    gain over the passage alone), a 0 would rank it above every valid self-edit that hurts."""
    groups: dict[str, list[dict]] = {}
    for row in sorted(rows, key=lambda r: (r["task_id"], r["candidate"])):  # the same order whatever finished first
        if row.get("completion"):
            groups.setdefault(row["task_id"], []).append(row)
    samples = []
    for task_id, members in groups.items():
        valid = [float(r.get("reward") or 0.0) for r in members if r.get("status") != "rejected"]
        floor = min([0.0, *valid])
        advantages = group_advantages([floor if r.get("status") == "rejected" else float(r.get("reward") or 0.0)
                                       for r in members], algorithm)
        samples += [Sample(prompts[task_id], r["completion"], a) for r, a in zip(members, advantages)]
    return samples


def policy_gradient_update(slot: PolicySlot, tokenizer, rl_config, seed: int, current: int, previous: str | None,
                           samples: list[Sample]) -> dict:
    """One round's rloo/grpo update of the policy adapter, saved as policy/round_N (as ReST-EM's is)."""
    slot.use(previous)
    informative = [s for s in samples if s.advantage != 0.0] or ([] if not rl_config.kl_coef else samples)
    losses, failure = train_from(slot, previous, lambda: policy_gradient_train(
        slot.model, tokenizer, samples, algorithm=rl_config.algorithm, learning_rate=rl_config.learning_rate,
        epochs=rl_config.epochs, clip=rl_config.clip, kl_coef=rl_config.kl_coef,
        seed=derive_seed(seed, current, rl_config.algorithm), steps=rl_config.steps_per_round)) if informative else ([], None)
    checkpoint = save_round(slot, current)
    return {
        "policy_checkpoint": checkpoint,
        "policy_updated": bool(informative) and failure is None,
        "policy_update_failure": failure,
        "rl_algorithm": rl_config.algorithm,
        "rl_samples": len(samples),
        "rl_loss": losses,
        "policy_optimizer_steps": len(losses),
    }


def update_policy(slot: PolicySlot, tokenizer, config, current: int, previous: str | None,
                  kept_pairs: list[tuple[str, str]], rows: list[dict], prompts: dict[str, str]) -> dict:
    """The round's policy update under `config.rl.algorithm`: ReST-EM on the kept (prompt,
    self-edit) pairs, or rloo/grpo on every scored row grouped by task or passage."""
    if config.rl.algorithm == "rest_em":
        return rest_em_update(slot, tokenizer, config.policy, config.seed, current, previous, kept_pairs,
                              steps=config.rl.steps_per_round)
    samples = grouped_samples(rows, prompts, config.rl.algorithm)
    return policy_gradient_update(slot, tokenizer, config.rl, config.seed, current, previous, samples)
