"""Build a self-edit's test-time-training data from a task's demonstrations.

Only the demonstrations are used (the test outputs are what the update is judged on).
The procedure, following SEAL's ARC setup:

1. The task as given, plus one copy per augmentation the self-edit chose, each applied to
   every input and output grid (or, for a task-level augmentation, to the list of
   demonstrations). Copies with a grid over 30x30 are dropped; a tool whose output is not
   a grid of colours 0-9 raises `ToolOutputError` (the candidate is rejected). With
   `colour_twins`, when any augmentation is on, each copy also gets a colour-permuted
   twin (a seeded bijection on colours 1-9, background 0 kept), as in SEAL.
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

from seal_agent.arc.data import ArcTask, leave_one_out, leave_two_out
from seal_agent.arc.grid_text import answer_text, task_prompt
from seal_agent.engine.examples import IGNORE_INDEX, TrainingExample
from seal_agent.grids import MAX_GRID_SIDE, Pair
from seal_agent.tools import Augmentation, ToolOutputError, as_grid
from seal_agent.tools.colour import colour_permutation


@dataclass
class TrainingData:
    examples: list[TrainingExample]
    counts: dict[str, int] = field(default_factory=dict)
    sample_text: str = ""


def _fits(grid) -> bool:
    return 1 <= len(grid) <= MAX_GRID_SIDE and 1 <= len(grid[0]) <= MAX_GRID_SIDE


def augment_pairs(pairs: Sequence[Pair], augmentation: Augmentation, rng: random.Random) -> list[Pair] | None:
    """Apply one augmentation to a task's pairs; None if any resulting grid is over 30x30."""
    out = augmentation.apply(list(pairs), rng)
    if not out:
        raise ToolOutputError(f"{augmentation.name} returned no demonstrations")
    if not all(isinstance(p, Pair) for p in out):
        raise ToolOutputError(f"{augmentation.name} returned {type(out[0]).__name__}s; expected Pair(input, output)")
    # Every augmentation's grids are checked, task-level ones too (GridTransform checks its own).
    out = [Pair(as_grid(p.input, augmentation.name), as_grid(p.output, augmentation.name)) for p in out]
    if not all(_fits(p.input) and _fits(p.output) for p in out):
        return None
    return out


def permute_colours(pairs: Sequence[Pair], rng: random.Random) -> list[Pair]:
    return colour_permutation(rng.randrange(1000)).apply(pairs, rng)


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
    colour_twins: bool = True,
) -> TrainingData:
    rng = random.Random(seed)
    counts = {"augmentations": len(augmentations), "augmented_tasks": 1, "dropped_oversize": 0}
    versions: list[list[Pair]] = [list(task.train)]
    for augmentation in augmentations:
        augmented = augment_pairs(task.train, augmentation, rng)
        if augmented is None:
            counts["dropped_oversize"] += 1
            continue
        versions.append(augmented)
    if augmentations and colour_twins:
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
