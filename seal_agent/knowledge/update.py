"""The knowledge update's training data: the self-edit's sequences plus the passage.

As in the reference procedure, each sequence (the passage itself, and every implication,
rewrite or question-answer pair the self-edit wrote) is one training example, prefixed by
the passage's title, with the loss on all of its tokens. The update runs through the same
LoRA engine as ARC (defaults of the paper's single-passage setting: r=32, alpha=64, 10
epochs, lr 1e-3, batch 1).
"""

from __future__ import annotations

from collections.abc import Sequence

from seal_agent.engine.examples import TrainingExample
from seal_agent.knowledge.data import Passage


def update_examples(
    tokenizer, passage: Passage, sequences: Sequence[str], include_passage: bool = True, max_tokens: int | None = None
) -> list[TrainingExample]:
    """One all-token example per distinct text; texts longer than `max_tokens` are cut."""
    texts = ([passage.context] if include_passage else []) + [s for s in sequences if s.strip()]
    examples = []
    for text in dict.fromkeys(texts):  # a sequence written twice is trained on once
        body = f"{passage.title}\n{text}" if passage.title else text
        ids = tokenizer(body, add_special_tokens=True)["input_ids"]
        if max_tokens is not None:
            ids = ids[: max_tokens - 1]
        ids = ids + [tokenizer.eos_token_id]
        examples.append(TrainingExample(input_ids=ids, labels=list(ids)))
    return examples
