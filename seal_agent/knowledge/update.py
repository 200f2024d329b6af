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


def update_texts(passage: Passage, sequences: Sequence[str], include_passage: bool = True) -> list[str]:
    """The update's training texts: each distinct sequence (and the passage), prefixed by the title."""
    texts = ([passage.context] if include_passage else []) + [s for s in sequences if s.strip()]
    # A sequence written twice is trained on once.
    return [f"{passage.title}\n{text}" if passage.title else text for text in dict.fromkeys(texts)]


def repeated_lines(sequences: list[str]) -> list[str]:
    """The lines of a self-edit that repeat an earlier one (surrounding spaces aside).

    The update trains on each distinct line once (`update_texts`), so a repeat adds nothing to
    the reward; yet ReST-EM's M-step, trained on a kept self-edit's whole text, would teach it."""
    seen: set[str] = set()
    repeats = []
    for line in sequences:
        key = line.strip()
        if key in seen:
            repeats.append(line)
        seen.add(key)
    return repeats


def text_examples(tokenizer, texts: Sequence[str], max_tokens: int | None = None) -> list[TrainingExample]:
    """One all-token example per text, ending in EOS; texts longer than `max_tokens` are cut."""
    examples = []
    for body in texts:
        ids = tokenizer(body, add_special_tokens=True)["input_ids"]
        if max_tokens is not None:
            ids = ids[: max_tokens - 1]
        ids = ids + [tokenizer.eos_token_id]
        examples.append(TrainingExample(input_ids=ids, labels=list(ids)))
    return examples


def update_examples(
    tokenizer, passage: Passage, sequences: Sequence[str], include_passage: bool = True, max_tokens: int | None = None
) -> list[TrainingExample]:
    """One all-token example per distinct text; texts longer than `max_tokens` are cut."""
    return text_examples(tokenizer, update_texts(passage, sequences, include_passage), max_tokens)


def self_edit_texts(passage: Passage, self_edits: Sequence[Sequence[str]], settings) -> list[str]:
    """The training texts of one update on `passage` from the sequences of some self-edits.

    `settings` is the config's `update` section:
        split_items            each statement / rewrite / question-answer pair is its own
                               sequence (true); or each self-edit is one (SEAL's CPT runs);
        passage_per_self_edit  the passage joins every self-edit (SEAL's CPT: the passage is
                               trained as often as there are self-edits); or once (false);
        include_passage        as in `update_texts`.
    """
    edits = [list(items) if settings.split_items else ["\n".join(items)] for items in self_edits]
    if not settings.passage_per_self_edit:
        return update_texts(passage, [text for edit in edits for text in edit], settings.include_passage)
    texts: list[str] = []
    for edit in edits or [[]]:
        texts += update_texts(passage, edit, settings.include_passage)
    return texts


def self_edit_examples(tokenizer, passage: Passage, self_edits: Sequence[Sequence[str]], settings) -> list[TrainingExample]:
    """`self_edit_texts` as training examples, cut at `settings.max_sequence_tokens`."""
    return text_examples(tokenizer, self_edit_texts(passage, self_edits, settings), settings.max_sequence_tokens)
