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


# The layer types peft's LoRA can wrap; a target naming anything else (a whole block, a norm)
# fails inside peft.
ADAPTABLE = (torch.nn.Linear, torch.nn.Embedding, torch.nn.Conv1d, torch.nn.Conv2d, torch.nn.Conv3d)


def adaptable_layer_names(model: torch.nn.Module) -> list[str]:
    """The qualified names of the layers of `model` that LoRA can adapt."""
    return [name for name, module in model.named_modules()
            if isinstance(module, ADAPTABLE) or type(module).__name__ == "Conv1D"]  # GPT-2's transposed linear


def unmatched_targets(target_modules: list[str], layer_names: list[str]) -> list[str]:
    """The targets that match no layer, by peft's rule: a target names a layer or the end of its dotted name."""
    return [target for target in target_modules
            if not any(name == target or name.endswith("." + target) for name in layer_names)]


def lora_target_problems(layer_names: list[str], sections: dict[str, LoraConfigSection]) -> list[str]:
    """One message per config section (`{"ttt.lora": section, ...}`) whose targets include one matching no layer.

    peft is silent when some targets match and others do not, so a misspelt target would
    quietly give a smaller adapter than asked for.
    """
    short = sorted({name.rsplit(".", 1)[-1] for name in layer_names})
    problems = []
    for key, section in sections.items():
        missing = unmatched_targets(section.target_modules, layer_names)
        if missing:
            problems.append(f"{key}.target_modules: {', '.join(repr(m) for m in missing)} match(es) no layer of the model; "
                            f"the layers LoRA can adapt are named: {', '.join(short)}")
    return problems


def attach_adapters(model, ttt: LoraConfigSection, policy: LoraConfigSection, seed: int) -> PeftModel:
    """Wrap the base model with the TTT and policy adapters, initialised from `seed`."""
    problems = lora_target_problems(adaptable_layer_names(model), {"ttt": ttt, "policy": policy})
    if problems:
        raise ValueError("; ".join(problems))
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
