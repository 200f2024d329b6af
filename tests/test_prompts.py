"""The self-edit prompt: a placeholder template (no values to copy), no task id unless asked."""

from __future__ import annotations

import json
import re

import pytest

from seal_agent.arc.data import ArcTask
from seal_agent.grids import Pair
from seal_agent.arc.config import RunConfig
from seal_agent.arc.prompts import prompt_options, self_edit_messages
from seal_agent.tools import arc_tools

TASK = ArcTask("a1b2c3d4", (Pair([[1, 0]], [[2, 0]]), Pair([[0, 1]], [[0, 2]])), (Pair([[1, 1]], [[2, 2]]),))


def rendered(messages) -> str:
    return "\n".join(m.text for m in messages)


@pytest.mark.parametrize("vocabulary", ["seal", "open"])
@pytest.mark.parametrize("prompt", ["full", "compact"])
def test_the_default_prompt_carries_no_task_id_and_no_values_to_copy(vocabulary, prompt):
    text = rendered(self_edit_messages(TASK, arc_tools(vocabulary), **prompt_options(RunConfig().policy.model_copy(update={"prompt": prompt}))))
    assert TASK.task_id not in text
    # No concrete choice anywhere: no learning rate, no epoch count, no switch set to a value.
    # (The only numbers are the grids' digits and the tools' bounds.)
    assert "0.0001" not in text and "1e-4" not in text and '"num_train_epochs": 2' not in text
    assert not re.search(r'"use_\w+_augmentations": (true|false)', text)
    assert '"strategy": "output_tokens"' not in text and '"strategy": "all_tokens"' not in text


def test_the_full_prompt_shows_a_placeholder_template_of_every_required_call():
    system, user = self_edit_messages(TASK, arc_tools("seal"))
    template = system.text.split("(fill in each <...>):\n", 1)[1]
    assert template.startswith('[{"name": "data_generation"') and '{"name": "train"' in template
    assert '"learning_rate": <number in [1e-06, 0.01]>' in template
    assert '"use_basic_augmentations": <true or false>' in template
    with pytest.raises(json.JSONDecodeError):  # a template, not a self-edit one could copy
        json.loads(template)
    assert user.text.startswith("Task:\n") and user.text.endswith("Your self-edit:")


def test_the_task_id_is_shown_only_when_the_config_asks():
    options = prompt_options(RunConfig().policy.model_copy(update={"show_task_id": True}))
    assert self_edit_messages(TASK, arc_tools("seal"), **options)[-1].text.startswith(f"Task {TASK.task_id}:\n")


def test_the_compact_prompt_is_the_demonstrations_and_one_line_of_format():
    (message,) = self_edit_messages(TASK, arc_tools("seal"), prompt="compact")
    lines = message.text.split("\n")
    assert lines[0] == "Task:" and lines[-1] == "Self-edit (a JSON array of tool calls: data_generation, train):"
    assert "input:\n10\noutput:\n20\n" in message.text and "input:\n11\noutput:\n?" in message.text
    with pytest.raises(ValueError, match="unknown self-edit prompt"):
        self_edit_messages(TASK, arc_tools("seal"), prompt="chatty")
