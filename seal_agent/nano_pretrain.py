"""`seal pretrain nano`: a small Llama pretrained on the nano ARC world, saved for `from_pretrained`.

    seal pretrain nano --out models/nano                 # the small size: minutes on a CPU
    seal pretrain nano --out models/nano-m --size medium # for a GPU

The data: pretraining tasks (`seal_agent.nano_world.pretraining_tasks`, held-out families
excluded) in the exact in-context format the ARC loop queries with (demonstrations, then
the test input and its answer; every output grid in the loss), plus well-formed self-edits of SEAL's vocabulary
(all tokens in the loss), so the policy side already speaks the tool-call format. The
whole model is trained (AdamW, cosine schedule). The directory gets the model and
tokenizer, and `nano_recipe.json`: size, steps, seeds, and the loss of every step.
"""

from __future__ import annotations

import json
import random
import time
from pathlib import Path

import torch
from transformers import get_cosine_schedule_with_warmup

from seal_agent.arc_data import ArcTask
from seal_agent.grid_text import answer_text, query_text
from seal_agent.lora_engine import collate
from seal_agent.models import load_model_and_tokenizer
from seal_agent.nano_world import pretraining_tasks
from seal_agent.tiny_model import build_tiny_model
from seal_agent.ttt_data import IGNORE_INDEX, TrainingExample

SIZES = {
    "small": dict(hidden_size=128, num_hidden_layers=4, num_attention_heads=4, num_key_value_heads=2,
                  intermediate_size=384, initializer_range=0.02),
    "medium": dict(hidden_size=384, num_hidden_layers=8, num_attention_heads=6, num_key_value_heads=2,
                   intermediate_size=1024, initializer_range=0.02),
}


def self_edit_text(rng: random.Random) -> str:
    """A well-formed self-edit of SEAL's vocabulary, with random choices."""
    flags = {f"use_{k}_augmentations": rng.random() < 0.5 for k in ("basic", "size", "chain", "repeat")}
    train = {"learning_rate": float(f"{10 ** rng.uniform(-4, -2):.1e}"), "num_train_epochs": rng.randint(1, 10),
             "strategy": rng.choice(["all_tokens", "output_tokens"])}
    return json.dumps([{"name": "data_generation", "arguments": flags}, {"name": "train", "arguments": train}],
                      separators=(", ", ": "))


def task_example(tokenizer, task: ArcTask) -> TrainingExample:
    """A task in the in-context format, with every output grid in the loss (inputs are random, so never).

    The demonstrations' outputs follow the same rule as the answer, so putting them in the
    loss gives each sequence several lessons instead of one.
    """
    ids = tokenizer("", add_special_tokens=True)["input_ids"]  # the beginning-of-sequence token
    labels = [IGNORE_INDEX] * len(ids)
    for pair in (*task.train, *task.test):
        shown = tokenizer(query_text(pair.input), add_special_tokens=False)["input_ids"]
        written = tokenizer(answer_text(pair.output), add_special_tokens=False)["input_ids"]
        ids += shown + written
        labels += [IGNORE_INDEX] * len(shown) + written
    ids.append(tokenizer.eos_token_id)
    labels.append(tokenizer.eos_token_id)
    return TrainingExample(input_ids=ids, labels=labels)


def pretraining_examples(tokenizer, count: int, seed: int, self_edit_share: float = 0.1) -> list[TrainingExample]:
    rng = random.Random(seed)
    examples = [task_example(tokenizer, task) for task in pretraining_tasks(count, seed)]
    for _ in range(int(count * self_edit_share)):
        ids = tokenizer(self_edit_text(rng), add_special_tokens=True)["input_ids"] + [tokenizer.eos_token_id]
        examples.append(TrainingExample(input_ids=ids, labels=list(ids)))
    rng.shuffle(examples)
    return examples


def pretrain_nano(out: str | Path, size: str = "small", steps: int = 1500, batch_size: int = 16, learning_rate: float = 3e-3,
                  seed: int = 0, data_seed: int = 1, device: str = "auto", on_step=None) -> dict:
    """Build, pretrain and save; returns the recipe (also written to `out/nano_recipe.json`)."""
    out = Path(out)
    build_tiny_model(out, seed=seed, **SIZES[size])
    model, tokenizer = load_model_and_tokenizer(str(out), "float32", device)
    examples = pretraining_examples(tokenizer, steps * batch_size // 2, data_seed)
    torch.manual_seed(seed)
    optimizer = torch.optim.AdamW(model.parameters(), lr=learning_rate, weight_decay=0.01)
    schedule = get_cosine_schedule_with_warmup(optimizer, num_warmup_steps=min(100, steps // 10), num_training_steps=steps)
    rng = random.Random(seed)
    device_ = next(model.parameters()).device
    losses, start = [], time.perf_counter()
    model.train()
    for step in range(steps):
        batch = collate(rng.sample(examples, batch_size), tokenizer.pad_token_id, device_)
        loss = model(**batch).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        schedule.step()
        optimizer.zero_grad(set_to_none=True)
        losses.append(round(loss.item(), 5))
        if on_step is not None:
            on_step(step + 1, losses[-1])
    model.eval()
    model.save_pretrained(out)
    recipe = {
        "size": size, "architecture": SIZES[size], "parameters": sum(p.numel() for p in model.parameters()),
        "steps": steps, "batch_size": batch_size, "learning_rate": learning_rate, "seed": seed, "data_seed": data_seed,
        "examples": len(examples), "seconds": round(time.perf_counter() - start, 1), "loss_curve": losses,
    }
    (out / "nano_recipe.json").write_text(json.dumps(recipe, indent=1))
    return recipe
