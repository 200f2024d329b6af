"""Build a self-edit's test-time-training data from a task's demonstrations.

Only the demonstrations are used (the test outputs are what the update is judged on).
The procedure, following SEAL's ARC setup:

1. The task as given, plus one copy per augmentation the self-edit switched on, each
   augmentation applied to every input and output grid. Copies with a grid over 30x30
   are dropped. When any augmentation is on, each copy also gets a colour-permuted twin
   (a random bijection on colours 1-9, background 0 kept).
2. From every copy, leave-one-out tasks (n demonstrations give n examples, the other
   demonstrations shuffled); if that gives fewer than `max_examples`, leave-two-out tasks
   are added.
3. Duplicates (same text) are removed; if more than `max_examples` remain, a seeded sample
   of `max_examples` is kept; examples longer than `max_sequence_tokens` are dropped.

Each example is tokenised as prompt + answer + EOS. The loss mask follows the strategy:
`all_tokens` puts every token in the loss, `output_tokens` only the answer and EOS.
Padding is added later, by the batcher, and is never in the loss.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from seal_agent.arc_data import MAX_GRID_SIDE, ArcTask, Pair, leave_one_out, leave_two_out
from seal_agent.grid_text import answer_text, task_prompt
from tools import Augmentation

IGNORE_INDEX = -100


@dataclass
class TrainingExample:
    input_ids: list[int]
    labels: list[int]


@dataclass
class TrainingData:
    examples: list[TrainingExample]
    counts: dict[str, int] = field(default_factory=dict)
    sample_text: str = ""


def _fits(grid: np.ndarray) -> bool:
    return grid.ndim == 2 and 1 <= grid.shape[0] <= MAX_GRID_SIDE and 1 <= grid.shape[1] <= MAX_GRID_SIDE


def augment_pairs(pairs: Sequence[Pair], augmentation: Augmentation) -> list[Pair] | None:
    """Apply one augmentation to every grid; None if any result is over 30x30."""
    out = []
    for pair in pairs:
        new_in = np.asarray(augmentation(np.asarray(pair.input)))
        new_out = np.asarray(augmentation(np.asarray(pair.output)))
        if not (_fits(new_in) and _fits(new_out)):
            return None
        out.append(Pair(new_in.tolist(), new_out.tolist()))
    return out


def permute_colours(pairs: Sequence[Pair], rng: random.Random) -> list[Pair]:
    colours = list(range(1, 10))
    shuffled = colours[:]
    rng.shuffle(shuffled)
    table = np.array([0] + shuffled)
    return [Pair(table[np.asarray(p.input)].tolist(), table[np.asarray(p.output)].tolist()) for p in pairs]


def tokenize_example(tokenizer, prompt: str, answer: str, strategy: str) -> TrainingExample:
    prompt_ids = tokenizer(prompt, add_special_tokens=True)["input_ids"]
    answer_ids = tokenizer(answer, add_special_tokens=False)["input_ids"] + [tokenizer.eos_token_id]
    if strategy == "all_tokens":
        labels = prompt_ids + answer_ids
    elif strategy == "output_tokens":
        labels = [IGNORE_INDEX] * len(prompt_ids) + answer_ids
    else:
        raise ValueError(f"unknown loss strategy {strategy!r}")
    return TrainingExample(input_ids=prompt_ids + answer_ids, labels=labels)


def build_training_data(
    task: ArcTask,
    augmentations: Sequence[Augmentation],
    tokenizer,
    strategy: str,
    max_examples: int,
    max_sequence_tokens: int,
    seed: int,
) -> TrainingData:
    rng = random.Random(seed)
    counts = {"augmentations": len(augmentations), "augmented_tasks": 1, "dropped_oversize": 0}
    versions: list[list[Pair]] = [list(task.train)]
    for augmentation in augmentations:
        augmented = augment_pairs(task.train, augmentation)
        if augmented is None:
            counts["dropped_oversize"] += 1
            continue
        versions.append(augmented)
    if augmentations:
        versions += [permute_colours(v, rng) for v in list(versions)]
    counts["augmented_tasks"] = len(versions)

    texts: list[tuple[str, str]] = []
    for builder in (leave_one_out, leave_two_out):
        if builder is leave_two_out and len(texts) >= max_examples:
            break
        for version in versions:
            for demos, query in builder(version):
                demos = demos[:]
                rng.shuffle(demos)
                prompt = task_prompt([(d.input, d.output) for d in demos], query.input)
                texts.append((prompt, answer_text(query.output)))
    counts["generated"] = len(texts)
    unique = list(dict.fromkeys(texts))
    counts["duplicates_removed"] = len(texts) - len(unique)
    if len(unique) > max_examples:
        unique = rng.sample(unique, max_examples)
    counts["capped_to"] = len(unique)

    examples = [tokenize_example(tokenizer, prompt, answer, strategy) for prompt, answer in unique]
    kept = [e for e in examples if len(e.input_ids) <= max_sequence_tokens]
    counts["dropped_too_long"] = len(examples) - len(kept)
    counts["examples"] = len(kept)
    counts["tokens"] = sum(len(e.input_ids) for e in kept)
    sample = unique[0][0] + unique[0][1] if unique else ""
    return TrainingData(examples=kept, counts=counts, sample_text=sample)
