"""The base model's two LoRA adapters, and moving weights in and out of them.

One base model serves the whole run. It carries two adapters:
    "ttt"    - the test-time-training adapter, reset to the same initial weights before
               every candidate self-edit (`seal_agent.engine.sequential`);
    "policy" - the adapter that writes self-edits, trained by ReST-EM (`seal_agent.rl.sft`).
Only one adapter is active at a time, so the policy never sees a candidate's update and a
candidate's update starts from the base model, not from the policy.
"""

from __future__ import annotations

import torch
from peft import LoraConfig, PeftModel, get_peft_model

from seal_agent.config import LoraConfigSection

TTT_ADAPTER = "ttt"
POLICY_ADAPTER = "policy"


def lora_config(section: LoraConfigSection) -> LoraConfig:
    return LoraConfig(
        r=section.rank,
        lora_alpha=section.alpha,
        lora_dropout=section.dropout,
        target_modules=list(section.target_modules),
        bias="none",
        task_type="CAUSAL_LM",
    )


def attach_adapters(model, ttt: LoraConfigSection, policy: LoraConfigSection, seed: int) -> PeftModel:
    """Wrap the base model with the TTT and policy adapters, initialised from `seed`."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        peft_model = get_peft_model(model, lora_config(ttt), adapter_name=TTT_ADAPTER)
        peft_model.add_adapter(POLICY_ADAPTER, lora_config(policy))
    peft_model.eval()
    return peft_model


def activate(peft_model: PeftModel, adapter: str) -> list[torch.nn.Parameter]:
    """Make `adapter` the active one and the only trainable parameters; return them."""
    peft_model.set_adapter(adapter)
    trainable = []
    marker = f".{adapter}."
    for name, param in peft_model.named_parameters():
        param.requires_grad = marker in name and "lora_" in name
        if param.requires_grad:
            trainable.append(param)
    return trainable


def adapter_state(peft_model: PeftModel, adapter: str) -> dict[str, torch.Tensor]:
    """A detached copy of one adapter's weights, keyed by parameter name."""
    marker = f".{adapter}."
    return {
        name: param.detach().clone()
        for name, param in peft_model.named_parameters()
        if marker in name and "lora_" in name
    }


def load_adapter_state(peft_model: PeftModel, state: dict[str, torch.Tensor]) -> None:
    params = dict(peft_model.named_parameters())
    with torch.no_grad():
        for name, value in state.items():
            params[name].copy_(value)


def merge_adapter_into_base(peft_model: PeftModel, adapter: str) -> None:
    """Add `adapter`'s current update (scale * B @ A) into the frozen base weights, in place.

    Continual knowledge incorporation applies updates one after another: after a merge,
    every adapter (the policy's included) sits on top of the updated base model, and the
    merged adapter can be reset for the next update.
    """
    from peft.tuners.lora import LoraLayer

    with torch.no_grad():
        for module in peft_model.modules():
            if isinstance(module, LoraLayer) and adapter in module.lora_A and hasattr(module, "get_delta_weight"):
                base = module.get_base_layer()
                base.weight += module.get_delta_weight(adapter).to(base.weight.dtype)
