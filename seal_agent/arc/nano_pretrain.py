"""`seal pretrain nano`: a small Llama pretrained on the nano ARC world, saved for `from_pretrained`.

    seal pretrain nano --out models/nano                 # the small size: minutes on a CPU
    seal pretrain nano --out models/nano-m --size medium # for a GPU

The data: pretraining tasks (`seal_agent.arc.nano_world.pretraining_tasks`, held-out families
excluded) in the exact in-context format the ARC loop queries with (demonstrations, then
the test input and its answer; every output grid in the loss), plus self-edits written
*after the policy prompt the loop really renders* (`PROMPT`: the compact
prompt of a pretraining task, through the chat template), with only the self-edit in the
loss. So the initial policy samples its self-edits from this prior in the very context it
is asked in: learning rates log-uniform over `PRIOR_LEARNING_RATES`, epochs uniform over
`PRIOR_EPOCHS`, each augmentation group and the loss strategy a fair coin. The prior knows
nothing about which choices earn reward. That is SEAL's vocabulary; with `vocabulary="open"`
(`seal pretrain nano --world contextual`, for `seal_agent.arc.contextual_world`) the
self-edits are instead 0-3 rotations and 0-3 colour permutations of the open vocabulary
(each group a fair coin, then a uniform count), the augmentations whose effect on a rule
differs by the rule's kind, then the same `train` prior. The whole model is trained (AdamW, cosine
schedule). The directory gets the model and tokenizer, and `nano_recipe.json`: size,
steps, seeds, the self-edit prior and prompt, and the loss of every step.
"""

from __future__ import annotations

import json
import math
import random
import time
from pathlib import Path

from seal_agent.arc.data import ArcTask
from seal_agent.arc.grid_text import answer_text, query_text
from seal_agent.arc.nano_world import pretraining_tasks
from seal_agent.engine.examples import IGNORE_INDEX, TrainingExample
from seal_agent.engine.full_training import train_full_model
from seal_agent.model.loading import load_model_and_tokenizer
from seal_agent.policy.local import render_chat
from seal_agent.arc.prompts import self_edit_messages
from seal_agent.policy.tool_format import SEPARATORS
from seal_agent.rl.sft import completion_example
from seal_agent.model.tiny import SIZES, build_tiny_model
from seal_agent.tools import arc_tools



# The initial policy's prior over self-edits (see the module docstring).
PRIOR_LEARNING_RATES = (1e-5, 1e-2)
PRIOR_EPOCHS = (1, 10)
# The policy prompt the self-edits follow; the ARC loop on a nano model must use the same
# (`policy.prompt: compact`, SEAL's vocabulary), or the prior is not what it samples from.
PROMPT = "compact"
# The open vocabulary's prior: each group on with probability 1/2, then 1..PRIOR_CALLS_PER_GROUP calls.
PRIOR_CALLS_PER_GROUP = 3
VOCABULARIES = ("seal", "open")


def decimal_text(value: float) -> str:
    """Two significant digits without an exponent (0.000026, 0.0031): how the grammar writes a bounded number."""
    digits = max(1, 1 - math.floor(math.log10(value)))
    return f"{float(f'{value:.1e}'):.{digits}f}"


def train_call(rng: random.Random) -> dict:
    """The `train` call of the prior; its learning rate a placeholder for `decimal_text`'s digits."""
    return {"name": "train", "arguments": {"learning_rate": "LR", "num_train_epochs": rng.randint(*PRIOR_EPOCHS),
                                           "strategy": rng.choice(["all_tokens", "output_tokens"])}}


def augmentation_calls(rng: random.Random, vocabulary: str) -> list[dict]:
    if vocabulary == "seal":
        return [{"name": "data_generation",
                 "arguments": {f"use_{k}_augmentations": rng.random() < 0.5 for k in ("basic", "size", "chain", "repeat")}}]
    if vocabulary != "open":
        raise ValueError(f"unknown vocabulary {vocabulary!r}; choose {', '.join(VOCABULARIES)}")
    calls = []
    if rng.random() < 0.5:
        turns = sorted(rng.sample([1, 2, 3], rng.randint(1, PRIOR_CALLS_PER_GROUP)))
        calls += [{"name": "rotate", "arguments": {"quarter_turns": k}} for k in turns]
    if rng.random() < 0.5:
        calls += [{"name": "permute_colours", "arguments": {"seed": rng.randrange(1000)}}
                  for _ in range(rng.randint(1, PRIOR_CALLS_PER_GROUP))]
    return calls


def self_edit_text(rng: random.Random, vocabulary: str = "seal") -> str:
    """A well-formed self-edit of `vocabulary` drawn from the prior, as the policy's grammar writes it."""
    low, high = (math.log10(x) for x in PRIOR_LEARNING_RATES)
    calls = augmentation_calls(rng, vocabulary)
    learning_rate = decimal_text(10 ** rng.uniform(low, high))
    text = json.dumps([*calls, train_call(rng)], separators=SEPARATORS)
    return text.replace('"LR"', learning_rate)


def self_edit_example(tokenizer, task: ArcTask, rng: random.Random, vocabulary: str = "seal") -> TrainingExample:
    """The rendered policy prompt of `task`, then a self-edit from the prior; only the self-edit in the loss."""
    prompt = render_chat(tokenizer, self_edit_messages(task, arc_tools(vocabulary), prompt=PROMPT))
    return completion_example(tokenizer, prompt, self_edit_text(rng, vocabulary))


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


def pretraining_examples(tokenizer, count: int, seed: int, self_edit_share: float = 0.1,
                         vocabulary: str = "seal", unseen_test_share: float = 0.0) -> list[TrainingExample]:
    rng = random.Random(seed)
    examples = [task_example(tokenizer, task) for task in pretraining_tasks(count, seed, unseen_test_share)]
    prompt_tasks = pretraining_tasks(int(count * self_edit_share), seed + 1)
    examples += [self_edit_example(tokenizer, task, rng, vocabulary) for task in prompt_tasks]
    rng.shuffle(examples)
    return examples


def pretrain_nano(out: str | Path, size: str = "small", steps: int = 2000, batch_size: int = 16, learning_rate: float = 3e-3,
                  seed: int = 0, data_seed: int = 1, device: str = "auto", on_step=None, vocabulary: str = "seal",
                  unseen_test_share: float = 0.0) -> dict:
    """Build, pretrain and save; returns the recipe (also written to `out/nano_recipe.json`).

    `unseen_test_share`: the share of pretraining tasks whose test grid holds a colour no
    demonstration shows (`nano_world.pretraining_tasks`), so that the model learns to read
    what a rule does to colours it has not seen (the contextual world's colour-free rules
    need it: `seal_agent.arc.contextual_world`).
    """
    if vocabulary not in VOCABULARIES:
        raise ValueError(f"unknown vocabulary {vocabulary!r}; choose {', '.join(VOCABULARIES)}")
    out = Path(out)
    build_tiny_model(out, seed=seed, **SIZES[size])
    model, tokenizer = load_model_and_tokenizer(str(out), "float32", device)
    examples = pretraining_examples(tokenizer, steps * batch_size // 2, data_seed, vocabulary=vocabulary,
                                    unseen_test_share=unseen_test_share)
    start = time.perf_counter()
    losses = train_full_model(model, tokenizer, examples, steps=steps, batch_size=batch_size, learning_rate=learning_rate,
                              seed=seed, on_step=on_step)
    model.save_pretrained(out)
    recipe = {
        "size": size, "architecture": SIZES[size], "parameters": sum(p.numel() for p in model.parameters()),
        "steps": steps, "batch_size": batch_size, "learning_rate": learning_rate, "seed": seed, "data_seed": data_seed,
        "examples": len(examples), "self_edit_prompt": PROMPT, "self_edit_vocabulary": vocabulary,
        "unseen_test_share": unseen_test_share,
        "self_edit_prior": {"learning_rate_log_uniform": list(PRIOR_LEARNING_RATES), "epochs_uniform": list(PRIOR_EPOCHS),
                            **({"calls_per_group": [1, PRIOR_CALLS_PER_GROUP], "groups": ["rotate", "permute_colours"]}
                               if vocabulary == "open" else {})},
        "seconds": round(time.perf_counter() - start, 1), "loss_curve": losses,
    }
    (out / "nano_recipe.json").write_text(json.dumps(recipe, indent=1))
    return recipe
