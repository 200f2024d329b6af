import numpy as np

from seal_agent.arc.data import ArcTask
from seal_agent.grids import Pair
from seal_agent.arc.ttt_data import IGNORE_INDEX, augment_pairs, build_training_data, permute_colours, tokenize_example
from seal_agent.engine.sequential import collate
from seal_agent.model.tiny import build_byte_tokenizer
from seal_agent.tools import GridTransform
from seal_agent.tools.seal_groups import basic_group, size_group

BASIC, SIZE = basic_group(), size_group()

TOKENIZER = build_byte_tokenizer()
TASK = ArcTask(
    "t",
    train=tuple(Pair([[i, 0], [0, 0]], [[0, i], [0, 0]]) for i in (1, 2, 3)),
    test=(Pair([[4, 0], [0, 0]], [[0, 4], [0, 0]]),),
)


def test_output_tokens_mask_covers_only_the_answer_and_eos():
    example = tokenize_example(TOKENIZER, "input:\n1\noutput:\n", "2\n", "output_tokens")
    supervised = [t for t, label in zip(example.input_ids, example.labels) if label != IGNORE_INDEX]
    assert TOKENIZER.decode(supervised[:-1]) == "2\n"
    assert supervised[-1] == TOKENIZER.eos_token_id
    assert example.labels[: len(example.labels) - 3] == [IGNORE_INDEX] * (len(example.labels) - 3)


def test_all_tokens_mask_covers_everything():
    example = tokenize_example(TOKENIZER, "input:\n1\noutput:\n", "2\n", "all_tokens")
    assert example.labels == example.input_ids


def test_padding_is_never_in_the_loss():
    short = tokenize_example(TOKENIZER, "a", "1\n", "all_tokens")
    long = tokenize_example(TOKENIZER, "a much longer prompt", "1\n", "all_tokens")
    batch = collate([short, long], TOKENIZER.pad_token_id, "cpu")
    padded = batch["attention_mask"] == 0
    assert padded.any()
    assert (batch["labels"][padded] == IGNORE_INDEX).all()
    assert (batch["input_ids"][padded] == TOKENIZER.pad_token_id).all()


def test_no_augmentation_gives_leave_one_out_then_leave_two_out():
    data = build_training_data(TASK, [], TOKENIZER, "output_tokens", max_examples=100, max_sequence_tokens=4096, seed=0)
    assert data.counts["augmented_tasks"] == 1
    assert data.counts["generated"] == 3 + 6  # 3 leave-one-out, 6 leave-two-out
    assert data.counts["examples"] == 9


def test_augmentations_grow_the_data_and_are_counted():
    plain = build_training_data(TASK, [], TOKENIZER, "output_tokens", 1000, 4096, seed=0)
    augmented = build_training_data(TASK, BASIC, TOKENIZER, "output_tokens", 1000, 4096, seed=0)
    assert augmented.counts["augmented_tasks"] == 2 * (1 + len(BASIC))  # each copy and its colour twin
    assert augmented.counts["examples"] > plain.counts["examples"]


def test_oversize_grids_are_dropped():
    big = ArcTask("big", train=(Pair([[1] * 20] * 20, [[1] * 20] * 20), Pair([[2] * 20] * 20, [[2] * 20] * 20)), test=TASK.test)
    data = build_training_data(big, SIZE, TOKENIZER, "output_tokens", 100, 100_000, seed=0)
    assert data.counts["dropped_oversize"] == len(SIZE)  # 40 rows or columns is over 30


def test_duplicates_removed_and_cap_respected():
    same = ArcTask("same", train=tuple(Pair([[1]], [[1]]) for _ in range(4)), test=TASK.test)
    data = build_training_data(same, [], TOKENIZER, "output_tokens", 100, 4096, seed=0)
    assert data.counts["examples"] < data.counts["generated"]
    assert data.counts["duplicates_removed"] > 0
    capped = build_training_data(TASK, BASIC, TOKENIZER, "output_tokens", 5, 4096, seed=0)
    assert capped.counts["examples"] == 5


def test_same_seed_same_data():
    a = build_training_data(TASK, BASIC, TOKENIZER, "all_tokens", 20, 4096, seed=7)
    b = build_training_data(TASK, BASIC, TOKENIZER, "all_tokens", 20, 4096, seed=7)
    assert [e.input_ids for e in a.examples] == [e.input_ids for e in b.examples]


def test_augmentation_applies_to_inputs_and_outputs():
    import random

    flip = GridTransform("flip", np.fliplr)
    (pair,) = augment_pairs([Pair([[1, 2]], [[3, 4]])], flip, random.Random(0))
    assert pair == Pair([[2, 1]], [[4, 3]])


def test_colour_permutation_keeps_background_and_is_a_bijection():
    import random

    pairs = [Pair([[0, 1, 2, 3, 4, 5, 6, 7, 8, 9]], [[0, 9]])]
    (permuted,) = permute_colours(pairs, random.Random(0))
    assert permuted.input[0][0] == 0
    assert sorted(permuted.input[0]) == list(range(10))
