"""Load the base model and tokenizer once per run, from a hub id, a directory or `tiny`.

Models load through the ordinary `from_pretrained` path from a hub id or a local
directory (a GGUF file inside one too). The name `tiny` first builds a tiny Llama into
the run directory (`seal_agent.model.tiny`) and then loads it through that same path.
"""

from __future__ import annotations

import functools
import time
import warnings
from pathlib import Path

import torch
from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

from seal_agent.config import LoraConfigSection, ModelConfig, RunConfigBase
from seal_agent.model.adapters import adaptable_layer_names, attach_adapters, lora_target_problems
from seal_agent.model.tiny import build_byte_tokenizer, build_tiny_model, tiny_llama_config


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


@functools.lru_cache(maxsize=None)
def cpu_slowdown(dtype: torch.dtype) -> float:
    """How many times slower a matrix product runs in `dtype` than in float32 on this CPU.

    A CPU without native bf16 (or fp16) instructions (AVX2 only, say) falls back to a
    generic kernel, measured here 40-70x slower than float32; one with them (avx512_bf16,
    AMX) runs bf16 faster. Measured once per process on a small product (a few ms)."""
    a, b = torch.randn(64, 256), torch.randn(256, 256)

    def best_of_three(x, y) -> float:
        torch.mm(x, y)  # the first call pays for kernel selection
        times = []
        for _ in range(3):
            start = time.perf_counter()
            torch.mm(x, y)
            times.append(time.perf_counter() - start)
        return min(times)

    return best_of_three(a.to(dtype), b.to(dtype)) / max(best_of_three(a, b), 1e-9)


def warn_if_slow_on_cpu(dtype: str, device: torch.device, threshold: float = 4.0) -> None:
    """Half precision on a CPU that has no instructions for it is far slower than float32: say so."""
    if device.type != "cpu" or dtype == "float32":
        return
    slowdown = cpu_slowdown(DTYPES[dtype])
    if slowdown > threshold:
        warnings.warn(f"model.dtype {dtype} on this CPU: its matrix products run {slowdown:.0f}x slower than in "
                      f"float32 (no native {dtype} instructions here); set model.dtype: float32 on this machine",
                      RuntimeWarning, stacklevel=3)


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
    warn_if_slow_on_cpu(dtype, model.device)
    model.eval()
    return model, tokenizer


def check_model_source(model_config: ModelConfig, loras: dict[str, LoraConfigSection] | None = None) -> None:
    """Fail early on a device this machine lacks, on a model that is plainly not there (a
    path-like name that does not exist), and on LoRA targets (`{"ttt.lora": section, ...}`)
    that match none of its layers."""
    if model_config.device != "auto":
        try:  # the config check parses the name; whether this machine has the device shows only here
            torch.empty(0, device=model_config.device)
        except Exception as err:  # AssertionError (not compiled with CUDA), RuntimeError (no such ordinal), ...
            raise ModelLoadError(f"model.device {model_config.device!r} is not available on this machine "
                                 f"({type(err).__name__}: {str(err).splitlines()[0] if str(err) else 'no detail'}); "
                                 "use 'auto' or 'cpu'") from None
    name = model_config.name_or_path
    if name != "tiny" and not Path(name).is_dir():
        if name.startswith((".", "/", "~")) or name.count("/") > 1 or Path(name).exists():
            raise ModelLoadError(f"model {name!r}: no such directory (give a hub id like org/name, a local directory, or 'tiny')")
    if loras:
        problems = lora_target_problems(adaptable_layer_names(skeleton_model(model_config)), loras)
        if problems:
            raise ModelLoadError("\n".join(problems))


def skeleton_model(model_config: ModelConfig) -> torch.nn.Module:
    """The configured model built from its config alone on the meta device: its layers and their
    names, with no weights read or memory allocated."""
    if model_config.name_or_path == "tiny":
        sizes = model_config.tiny.model_dump(exclude={"seed"})
        architecture = tiny_llama_config(vocab_size=len(build_byte_tokenizer()), **sizes)
    else:
        extra = {"gguf_file": model_config.gguf_file} if model_config.gguf_file else {}
        try:
            architecture = AutoConfig.from_pretrained(model_config.name_or_path, **extra)
        except (OSError, ValueError) as err:
            raise ModelLoadError(f"model {model_config.name_or_path!r} could not be loaded: {err}") from None
    with torch.device("meta"):
        return AutoModelForCausalLM.from_config(architecture)


def load_run_model(config: RunConfigBase, update_lora: LoraConfigSection, run_dir: Path):
    """The run's base model with its update ("ttt") and policy adapters, its tokenizer and source."""
    torch.manual_seed(config.seed)
    source = model_source(config.model, run_dir)
    try:
        model, tokenizer = load_model_and_tokenizer(source, config.model.dtype, config.model.device, config.model.gguf_file)
    except (OSError, ValueError) as err:
        raise ModelLoadError(f"model {source!r} could not be loaded: {err}") from None
    return attach_adapters(model, update_lora, config.policy.lora, seed=config.seed), tokenizer, source
