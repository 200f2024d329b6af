"""Load the base model and tokenizer once per run, from a hub id, a directory or `tiny`.

Models load through the ordinary `from_pretrained` path from a hub id or a local
directory (a GGUF file inside one too). The name `tiny` first builds a tiny Llama into
the run directory (`seal_agent.model.tiny`) and then loads it through that same path.
"""

from __future__ import annotations

from pathlib import Path

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from seal_agent.config import LoraConfigSection, ModelConfig, RunConfigBase
from seal_agent.model.adapters import attach_adapters
from seal_agent.model.tiny import build_tiny_model


class ModelLoadError(Exception):
    """The configured model or tokenizer cannot be loaded."""


DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def model_source(model_config: ModelConfig, run_dir: Path) -> str:
    """The hub id or directory to load; builds the tiny model first when asked for `tiny`."""
    if model_config.name_or_path != "tiny":
        return model_config.name_or_path
    tiny = model_config.tiny
    path = build_tiny_model(run_dir / "base_model", **tiny.model_dump())
    return str(path)


def load_model_and_tokenizer(name_or_path: str, dtype: str = "float32", device: str = "auto", gguf_file: str | None = None):
    """Any causal LM and its tokenizer, from a hub id or a local path.

    `gguf_file`: a GGUF file inside `name_or_path` (llama.cpp's format); transformers reads
    its tokenizer and dequantizes its weights (needs the `gguf` package).
    """
    extra = {"gguf_file": gguf_file} if gguf_file else {}
    tokenizer = AutoTokenizer.from_pretrained(name_or_path, **extra)
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    model = AutoModelForCausalLM.from_pretrained(name_or_path, dtype=DTYPES[dtype], **extra)
    model.to(resolve_device(device))
    model.eval()
    return model, tokenizer


def check_model_source(model_config: ModelConfig) -> None:
    """Fail early on a model that is plainly not there: a path-like name that does not exist."""
    name = model_config.name_or_path
    if name == "tiny" or Path(name).is_dir():
        return
    if name.startswith((".", "/", "~")) or name.count("/") > 1 or Path(name).exists():
        raise ModelLoadError(f"model {name!r}: no such directory (give a hub id like org/name, a local directory, or 'tiny')")


def load_run_model(config: RunConfigBase, update_lora: LoraConfigSection, run_dir: Path):
    """The run's base model with its update ("ttt") and policy adapters, its tokenizer and source."""
    torch.manual_seed(config.seed)
    source = model_source(config.model, run_dir)
    try:
        model, tokenizer = load_model_and_tokenizer(source, config.model.dtype, config.model.device, config.model.gguf_file)
    except (OSError, ValueError) as err:
        raise ModelLoadError(f"model {source!r} could not be loaded: {err}") from None
    return attach_adapters(model, update_lora, config.policy.lora, seed=config.seed), tokenizer, source
