"""Config validation: sections that share a base keep their own names in errors, and values
that would only fail deep in a run (seeds, devices, infinite floats, invalid Unicode, a tiny
model too big for the machine) are refused with the other config errors, all at once."""

import math

import pytest

from seal_agent.arc.config import RunConfig
from seal_agent.config import MAX_SEED, ConfigError
from seal_agent.knowledge.config import KnowledgeRunConfig


@pytest.mark.parametrize("section", ["ttt", "update"])
def test_the_batched_engine_refuses_lora_dropout_naming_the_section(section):
    from pydantic import ValidationError

    from seal_agent.arc.config import TTTConfig
    from seal_agent.knowledge.config import UpdateConfig

    schema = {"ttt": TTTConfig, "update": UpdateConfig}[section]
    with pytest.raises(ValidationError, match=f"needs {section}.lora.dropout 0"):
        schema(lora={"dropout": 0.1})
    assert schema(lora={"dropout": 0.1}, engine="sequential").engine == "sequential"


# -- values that would pass a type check and fail later, deep in a run ----------------------

def config_problems(schema, overrides: dict) -> str:
    with pytest.raises(ConfigError) as err:
        schema.resolve("smoke", overrides=overrides)
    return str(err.value)


@pytest.mark.parametrize("schema", [RunConfig, KnowledgeRunConfig])
def test_seeds_torch_and_sqlite_cannot_hold_are_refused(schema):
    assert schema.resolve("smoke", overrides={"seed": MAX_SEED}).seed == 2**63 - 1
    for seed in (2**64, 2**63, -1):
        assert "seed: Input should be" in config_problems(schema, {"seed": seed})
    assert "model.tiny.seed" in config_problems(schema, {"model": {"tiny": {"seed": 2**70}}})


@pytest.mark.parametrize("device", ["auto", "cpu", "cuda", "cuda:1", "mps", "cpu:0"])
def test_devices_torch_names_are_accepted(device):
    assert RunConfig.resolve("smoke", overrides={"model": {"device": device}}).model.device == device


@pytest.mark.parametrize("device", ["gpu", "CUDA", "cuda:x", "cuda:-1", "", "meta"])
def test_unknown_devices_are_refused(device):
    assert "model.device: Value error" in config_problems(RunConfig, {"model": {"device": device}})


@pytest.mark.parametrize("section, key", [
    ("policy", "temperature"), ("policy", "top_p"), ("policy", "sft_learning_rate"), ("ttt", "default_learning_rate"),
    ("ttt", "max_grad_norm"), ("ttt", "max_seconds_per_candidate"), ("executor", "num_cpus_per_actor"),
])
@pytest.mark.parametrize("value", [math.inf, math.nan])
def test_infinite_or_nan_floats_are_refused(section, key, value):
    assert f"{section}.{key}: Input should be a finite number" in config_problems(RunConfig, {section: {key: value}})


def test_knowledge_floats_must_be_finite_too():
    message = config_problems(KnowledgeRunConfig, {
        "policy": {"temperature": math.inf, "lora": {"alpha": math.nan}}, "update": {"learning_rate": math.inf}})
    assert "3 problem(s)" in message
    for field in ("policy.temperature", "policy.lora.alpha", "update.learning_rate"):
        assert f"{field}: Input should be a finite number" in message


def test_a_temperature_that_overflows_the_logits_is_refused():
    assert RunConfig.resolve("smoke", overrides={"policy": {"temperature": 0}}).policy.temperature == 0
    assert "overflows the logits; use 0 for greedy" in config_problems(RunConfig, {"policy": {"temperature": 1e-40}})


@pytest.mark.parametrize("value", [math.inf, math.nan, 1.5, 0])
def test_tiny_initializer_range_must_be_above_0_and_at_most_1(value):
    assert "model.tiny.initializer_range" in config_problems(RunConfig, {"model": {"tiny": {"initializer_range": value}}})


def test_tiny_sizes_beyond_this_machines_memory_are_refused():
    huge = {"hidden_size": 2**20, "intermediate_size": 2**22, "num_hidden_layers": 64}
    message = config_problems(RunConfig, {"model": {"tiny": huge}})
    assert "model: Value error, model.tiny's sizes give about" in message and "more than half this machine's memory" in message
    # the tiny section is ignored, and not checked against memory, when another model is named
    assert RunConfig.resolve("smoke", overrides={"model": {"name_or_path": "org/name", "tiny": huge}}).model.tiny.hidden_size == 2**20


def test_tiny_head_size_must_be_even_for_rotary_embeddings():
    message = config_problems(RunConfig, {"model": {"tiny": {"hidden_size": 36, "num_attention_heads": 4, "num_key_value_heads": 2}}})
    assert "head size, 9) must be even" in message


def test_the_parameter_estimate_is_the_built_models_count():
    from transformers import LlamaForCausalLM

    from seal_agent.config import TinyModelConfig
    from seal_agent.model.tiny import build_byte_tokenizer, tiny_llama_config

    tiny = TinyModelConfig(hidden_size=64, num_hidden_layers=3, num_attention_heads=4, num_key_value_heads=1, intermediate_size=96)
    model = LlamaForCausalLM(tiny_llama_config(len(build_byte_tokenizer()), **tiny.model_dump(exclude={"seed"})))
    assert tiny.parameter_count() == sum(p.numel() for p in model.parameters())


def test_strings_that_are_not_valid_unicode_are_refused_naming_the_field(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text('data:\n  tasks: ["ok", "x\\ud800"]\nmodel:\n  name_or_path: "m\\udc00"\n')
    with pytest.raises(ConfigError) as err:
        RunConfig.resolve("smoke", path)
    message = str(err.value)
    assert "2 problem(s)" in message and "not valid Unicode: lone surrogate" in message
    assert "data.tasks: Value error" in message and "model.name_or_path: Value error" in message
    message.encode("utf-8")


def test_yaml_nested_too_deeply_names_the_file(tmp_path):
    path = tmp_path / "deep.yaml"
    path.write_text("rounds: " + "[" * 5_000 + "]" * 5_000 + "\n")
    with pytest.raises(ConfigError, match="deep.yaml: not valid YAML: nested too deeply"):
        RunConfig.resolve("smoke", path)


def test_every_problem_of_these_kinds_is_listed_at_once():
    message = config_problems(RunConfig, {
        "seed": 2**64, "model": {"device": "gpu", "tiny": {"initializer_range": math.inf}},
        "policy": {"temperature": math.inf, "top_p": math.nan}, "ttt": {"lora": {"alpha": math.inf}}})
    assert "6 problem(s)" in message
