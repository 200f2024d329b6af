import math

import pytest
from langchain_core.messages import AIMessage

from seal_agent.self_edit import Rejection, SelfEdit, validate_self_edit
from tools import ARC_TOOLS, TrainingSettings

DEFAULTS = TrainingSettings(learning_rate=1e-4, num_train_epochs=2, strategy="output_tokens")


def message(*calls, invalid=()):
    return AIMessage(
        content="",
        tool_calls=[{"name": n, "args": a, "id": f"c{i}"} for i, (n, a) in enumerate(calls)],
        invalid_tool_calls=list(invalid),
    )


def test_valid_self_edit():
    edit = validate_self_edit(
        message(("basic_augmentations", {}), ("train", {"learning_rate": 1e-3, "num_train_epochs": 3, "strategy": "all_tokens"})),
        ARC_TOOLS, DEFAULTS,
    )
    assert isinstance(edit, SelfEdit)
    assert edit.tool_names == ["basic_augmentations", "train"]
    assert len(edit.augmentations) == 11  # 3 rotations, 2 flips, transpose, 4 mirrors, translation
    assert edit.training.learning_rate == 1e-3 and not edit.training_from_defaults


def test_missing_train_uses_defaults_and_repeat_group_counts_once():
    edit = validate_self_edit(message(("size_augmentations", {}), ("size_augmentations", {})), ARC_TOOLS, DEFAULTS)
    assert isinstance(edit, SelfEdit)
    assert edit.training == DEFAULTS and edit.training_from_defaults
    assert len(edit.augmentations) == 3


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
        ([("basic_augmentations", {"k": 1})], "Extra inputs"),
        ([("train", {"learning_rate": 1e-3, "num_train_epochs": 1, "strategy": "all_tokens"})] * 2, "more than once"),
    ],
)
def test_rejections_carry_a_reason(calls, reason):
    result = validate_self_edit(message(*calls), ARC_TOOLS, DEFAULTS)
    assert isinstance(result, Rejection)
    assert reason in result.reason


def test_unparsable_call_is_rejected_not_raised():
    result = validate_self_edit(
        message(invalid=[{"name": None, "args": "[{", "id": "x", "error": "not valid JSON", "type": "invalid_tool_call"}]),
        ARC_TOOLS, DEFAULTS,
    )
    assert isinstance(result, Rejection) and "not valid JSON" in result.reason
