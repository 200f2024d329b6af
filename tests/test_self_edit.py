import math

import pytest
from langchain_core.messages import AIMessage

from seal_agent.policy.self_edit import Rejection, SelfEdit, validate_self_edit
from seal_agent.tools import TrainingSettings, arc_tools

SEAL = arc_tools("seal")
OPEN = arc_tools("open")

DEFAULTS = TrainingSettings(learning_rate=1e-4, num_train_epochs=2, strategy="output_tokens")


def message(*calls, invalid=()):
    return AIMessage(
        content="",
        tool_calls=[{"name": n, "args": a, "id": f"c{i}"} for i, (n, a) in enumerate(calls)],
        invalid_tool_calls=list(invalid),
    )


TRAIN = ("train", {"learning_rate": 1e-3, "num_train_epochs": 3, "strategy": "all_tokens"})
GROUPS = {"use_basic_augmentations": True, "use_size_augmentations": False,
          "use_chain_augmentations": False, "use_repeat_augmentations": False}


def test_valid_seal_self_edit():
    edit = validate_self_edit(message(("data_generation", GROUPS), TRAIN), SEAL, DEFAULTS)
    assert isinstance(edit, SelfEdit)
    assert edit.tool_names == ["data_generation", "train"]
    assert len(edit.augmentations) == 11  # 3 rotations, 2 flips, transpose, 4 mirrors, translation
    assert edit.training.learning_rate == 1e-3 and not edit.training_from_defaults


def test_every_group_of_the_seal_vocabulary():
    everything = {key: True for key in GROUPS}
    edit = validate_self_edit(message(("data_generation", everything), TRAIN), SEAL, DEFAULTS)
    assert len(edit.augmentations) == 11 + 3 + 6 + 3
    nothing = {key: False for key in GROUPS}
    assert validate_self_edit(message(("data_generation", nothing), TRAIN), SEAL, DEFAULTS).augmentations == []


def test_open_vocabulary_calls_repeat_with_arguments_and_identical_calls_count_once():
    edit = validate_self_edit(
        message(("rotate", {"quarter_turns": 1}), ("rotate", {"quarter_turns": 2}), ("rotate", {"quarter_turns": 1}),
                ("chain", {"steps": [{"op": "flip", "axis": "vertical"}, {"op": "upscale", "factor": 2, "axis": "both"}]})),
        OPEN, DEFAULTS,
    )
    assert isinstance(edit, SelfEdit)
    assert [a.name for a in edit.augmentations] == ["rotate_90", "rotate_180", "flip_vertical+upscale_both_2"]
    assert edit.training == DEFAULTS and edit.training_from_defaults


def test_a_vocabulary_refuses_the_other_vocabularys_tools():
    result = validate_self_edit(message(("rotate", {"quarter_turns": 1}), TRAIN), SEAL, DEFAULTS)
    assert isinstance(result, Rejection) and "unknown tool" in result.reason


@pytest.mark.parametrize(
    "calls, reason",
    [
        ([], "calls no tool"),
        ([("rm_rf", {})], "unknown tool"),
        ([("train", {"learning_rate": 5.0, "num_train_epochs": 1, "strategy": "all_tokens"})], "learning_rate"),
        ([("train", {"learning_rate": math.nan, "num_train_epochs": 1, "strategy": "all_tokens"})], "learning_rate"),
        ([("train", {"learning_rate": 1e-3, "num_train_epochs": -1, "strategy": "all_tokens"})], "num_train_epochs"),
        ([("train", {"learning_rate": 1e-3, "num_train_epochs": 2, "strategy": "everything"})], "strategy"),
        ([("train", {"learning_rate": "fast", "num_train_epochs": 2, "strategy": "all_tokens"})], "learning_rate"),
        ([("transpose", {"k": 1})], "Extra inputs"),
        ([("rotate", {"quarter_turns": 4})], "quarter_turns"),
        ([("chain", {"steps": []})], "steps"),
        ([("chain", {"steps": [{"op": "explode"}]})], "steps"),
        ([("train", {"learning_rate": 1e-3, "num_train_epochs": 1, "strategy": "all_tokens"})] * 2, "called more than once"),
    ],
)
def test_rejections_carry_a_reason(calls, reason):
    result = validate_self_edit(message(*calls), OPEN, DEFAULTS)
    assert isinstance(result, Rejection)
    assert reason in result.reason


def test_unparsable_call_is_rejected_not_raised():
    result = validate_self_edit(
        message(invalid=[{"name": None, "args": "[{", "id": "x", "error": "not valid JSON", "type": "invalid_tool_call"}]),
        OPEN, DEFAULTS,
    )
    assert isinstance(result, Rejection) and "not valid JSON" in result.reason
