"""ReST-EM: keep the self-edits that earned reward, fine-tune the policy to write them.

One round of the paper's outer loop: from this round's candidates keep those with reward
1 (rejection sampling, the E-step), then supervised fine-tuning of the policy's LoRA
adapter on (prompt -> the self-edit it wrote), with the loss on the completion only (the
M-step). A round with nothing rewarded leaves the policy as it was.

Policy checkpoints are peft adapters saved per round (`<run_dir>/policy/round_<n>`), so
any peft user can load them and a resumed run reloads exactly the policy it had.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from peft import set_peft_model_state_dict
from peft.utils import load_peft_weights

from seal_agent.engine.examples import IGNORE_INDEX, TrainingExample
from seal_agent.engine.sequential import TrainResult, train_adapter
from seal_agent.model.adapters import POLICY_ADAPTER, adapter_state, load_adapter_state
from seal_agent.run.directory import replaced_atomically


def completion_example(tokenizer, prompt: str, completion: str) -> TrainingExample:
    """prompt + completion + EOS, with only the completion and EOS in the loss."""
    prompt_ids = tokenizer(prompt, add_special_tokens=False)["input_ids"]
    completion_ids = tokenizer(completion, add_special_tokens=False)["input_ids"] + [tokenizer.eos_token_id]
    return TrainingExample(
        input_ids=prompt_ids + completion_ids,
        labels=[IGNORE_INDEX] * len(prompt_ids) + completion_ids,
    )


def fine_tune_policy(
    peft_model, tokenizer, pairs: list[tuple[str, str]], *, learning_rate: float, epochs: int, batch_size: int, seed: int,
    steps: int | None = None,
) -> TrainResult:
    """ReST-EM's M-step: `epochs` passes over the pairs, or exactly `steps` optimiser steps."""
    examples = [completion_example(tokenizer, prompt, completion) for prompt, completion in pairs]
    return train_adapter(
        peft_model,
        POLICY_ADAPTER,
        examples,
        pad_token_id=tokenizer.pad_token_id,
        learning_rate=learning_rate,
        epochs=epochs,
        batch_size=batch_size,
        seed=seed,
        max_steps=steps,
    )


def save_policy(peft_model, directory: Path) -> Path:
    """Save the policy adapter in peft's format; written to a temporary name, then renamed."""
    directory = Path(directory)
    shutil.rmtree(directory.with_name(directory.name + ".tmp"), ignore_errors=True)  # a killed save's leftover
    with replaced_atomically(directory) as tmp:
        peft_model.save_pretrained(str(tmp), selected_adapters=[POLICY_ADAPTER])
        shutil.rmtree(directory, ignore_errors=True)  # os.replace cannot replace a directory that holds files
    return directory


def load_policy(peft_model, directory: Path | None, initial_state: dict) -> None:
    """Load a saved policy adapter into `peft_model`; None restores the initial adapter."""
    if directory is None:
        load_adapter_state(peft_model, initial_state)
        return
    # peft saves a non-default adapter in a sub-folder named after it.
    weights = load_peft_weights(str(Path(directory) / POLICY_ADAPTER))
    result = set_peft_model_state_dict(peft_model, weights, adapter_name=POLICY_ADAPTER)
    marker = f".{POLICY_ADAPTER}."
    unexpected = [k for k in getattr(result, "unexpected_keys", []) if marker in k]
    missing = [k for k in getattr(result, "missing_keys", []) if marker in k and "lora_" in k]
    if unexpected or missing:
        raise RuntimeError(
            f"policy checkpoint {directory} does not match the model: missing {missing[:3]}, unexpected {unexpected[:3]}"
        )


def merged_chain(checkpoint: Path) -> list[Path]:
    """The round adapters that, merged in order, make policy `.../round_N`: rounds 1..N beside it."""
    checkpoint = Path(checkpoint)
    prefix, _, number = checkpoint.name.rpartition("_")
    if prefix != "round" or not number.isdigit():
        raise ValueError(f"{checkpoint}: a merged policy is named round_N (its rounds 1..N are merged in order)")
    chain = [checkpoint.with_name(f"round_{i}") for i in range(1, int(number) + 1)]
    missing = [str(p) for p in chain if not (p / POLICY_ADAPTER).is_dir()]
    if missing:
        raise ValueError(f"{checkpoint}: a merged policy needs every earlier round's adapter; missing {', '.join(missing)}")
    return chain


def policy_state(peft_model) -> dict:
    return adapter_state(peft_model, POLICY_ADAPTER)
