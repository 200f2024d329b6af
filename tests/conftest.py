"""Shared fixtures: a tiny model built once per session, small configs, task files on disk."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch


from seal_agent.arc.config import RunConfig
from seal_agent.model.adapters import attach_adapters
from seal_agent.model.loading import load_model_and_tokenizer
from seal_agent.model.tiny import build_tiny_model

torch.set_num_threads(2)

SMALL_TINY = dict(hidden_size=64, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
                  intermediate_size=128, initializer_range=0.08)


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory) -> Path:
    return build_tiny_model(tmp_path_factory.mktemp("tiny") / "model", seed=0, **SMALL_TINY)


@pytest.fixture()
def tiny_peft(tiny_model_dir):
    """A freshly loaded tiny model with its ttt and policy adapters, and its tokenizer."""
    model, tokenizer = load_model_and_tokenizer(str(tiny_model_dir), device="cpu")
    config = RunConfig()
    config.ttt.lora.rank, config.ttt.lora.alpha = 8, 16
    config.policy.lora.rank, config.policy.lora.alpha = 4, 8
    return attach_adapters(model, config.ttt.lora, config.policy.lora, seed=0), tokenizer


def fast_config(**overrides) -> RunConfig:
    """The smoke preset, made smaller so an end-to-end run takes seconds in the test suite."""
    base = {
        "seed": 0,
        "rounds": 2,
        "model": {"tiny": SMALL_TINY},
        "data": {"tasks": ["6e02f1e3", "6150a2bd"]},
        "policy": {"candidates_per_task": 3, "sft_epochs": 2},
        "ttt": {"max_steps": 24, "max_examples": 8},
        "eval": {"max_new_tokens": 16},
    }
    from seal_agent.config import deep_merge

    return RunConfig.resolve("smoke", overrides=deep_merge(base, overrides))


TASK = {
    "train": [
        {"input": [[1, 0], [0, 0]], "output": [[2, 0], [0, 0]]},
        {"input": [[0, 1], [0, 0]], "output": [[0, 2], [0, 0]]},
        {"input": [[0, 0], [1, 0]], "output": [[0, 0], [2, 0]]},
    ],
    "test": [{"input": [[0, 0], [0, 1]], "output": [[0, 0], [0, 2]]}],
}


@pytest.fixture()
def task_dir(tmp_path) -> Path:
    directory = tmp_path / "tasks"
    directory.mkdir()
    (directory / "recolour.json").write_text(json.dumps(TASK))
    return directory
