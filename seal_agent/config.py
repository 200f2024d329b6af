"""Run configuration: the sections every domain shares, presets, and loading with clear errors.

Each domain's config (`seal_agent.arc.config.RunConfig`,
`seal_agent.knowledge.config.KnowledgeRunConfig`) builds on `RunConfigBase` and the
shared sections here (model, LoRA, the update engine's settings, the policy's sampling
and ReST-EM settings), and holds only what is its own.

A config is resolved in layers: the preset (`seal_agent/presets/<name>.yaml`), then a user
config file (`--config FILE`), then command-line overrides. Unknown keys and wrong types
are errors; all of them are reported at once, each with the file and the field, before any
work starts (`ConfigError`). So are values that would only fail later, deep in a run: a
seed torch cannot take, a device string torch cannot parse, an infinite or NaN float, a
string that is not valid Unicode, a tiny model too big for this machine's memory.
"""

from __future__ import annotations

import os
from importlib import resources
from pathlib import Path
from typing import Any, ClassVar, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from seal_agent.untrusted import first_unicode_problem

# torch.manual_seed takes up to 2**64-1, but a seed is also stored where integers are signed
# 64-bit (SQLite, checkpoints); negative seeds are refused by numpy's generators.
MAX_SEED = 2**63 - 1
MIN_TEMPERATURE = 1e-4


class ConfigError(Exception):
    """A config that cannot be used; the message lists every problem."""


class _Section(BaseModel):
    # allow_inf_nan=False: no setting here means anything as inf or NaN (a learning rate, a
    # temperature, a LoRA alpha); they would pass and then turn the run's numbers into NaN.
    model_config = ConfigDict(extra="forbid", validate_assignment=True, allow_inf_nan=False)

    @field_validator("*", mode="after")
    @classmethod
    def _valid_unicode(cls, value: Any) -> Any:
        # YAML's "\ud800" escape gives a lone surrogate, which fails only when the string is
        # encoded: in the tokenizer, in SQLite, or when the config is printed.
        problem = first_unicode_problem(value) if not isinstance(value, BaseModel) else None
        if problem:
            raise ValueError(problem)
        return value


class TinyModelConfig(_Section):
    seed: int = Field(0, ge=0, le=MAX_SEED, description="Seed of the random initialisation.")
    hidden_size: int = Field(128, ge=16, description="Width of the residual stream.")
    num_hidden_layers: int = Field(2, ge=1, description="Number of transformer blocks.")
    num_attention_heads: int = Field(4, ge=1, description="Query heads per layer.")
    num_key_value_heads: int = Field(2, ge=1, description="Key/value heads (grouped-query attention).")
    intermediate_size: int = Field(384, ge=16, description="Width of the SwiGLU MLP.")
    initializer_range: float = Field(
        0.02,
        gt=0,
        le=1,
        description="Std of the random weights (above 0, at most 1). Larger values give a random model richer "
        "features, which LoRA needs to learn anything on top of random weights.",
    )

    @model_validator(mode="after")
    def _heads_divide(self) -> "TinyModelConfig":
        if self.hidden_size % self.num_attention_heads:
            raise ValueError("hidden_size must be divisible by num_attention_heads")
        if self.num_attention_heads % self.num_key_value_heads:
            raise ValueError("num_attention_heads must be divisible by num_key_value_heads")
        if (self.hidden_size // self.num_attention_heads) % 2:
            raise ValueError(f"hidden_size / num_attention_heads (the head size, {self.hidden_size // self.num_attention_heads}) "
                             "must be even: rotary position embeddings rotate pairs of dimensions")
        return self

    def parameter_count(self) -> int:
        """Parameters of the tiny Llama these sizes build (`seal_agent.model.tiny`, untied embeddings)."""
        vocab = 256 + 6  # the byte tokenizer: one token per byte and six special tokens
        hidden, inner = self.hidden_size, self.intermediate_size
        key_value = hidden // self.num_attention_heads * self.num_key_value_heads
        per_layer = 2 * hidden * hidden + 2 * hidden * key_value + 3 * hidden * inner + 2 * hidden
        return 2 * vocab * hidden + self.num_hidden_layers * per_layer + hidden


def machine_memory_bytes() -> int | None:
    """This machine's memory, or a container's limit if lower; None where neither can be read."""
    try:
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):
        total = None
    for limit_file in ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"):
        try:
            limit = int(Path(limit_file).read_text().strip())
        except (OSError, ValueError):  # absent, or "max"
            continue
        total = limit if total is None else min(total, limit)
    return total


def _gib(n: float) -> str:
    return f"{n / 2**30:,.1f} GiB"


class ModelConfig(_Section):
    name_or_path: str = Field(
        "tiny",
        description="A hub id (e.g. meta-llama/Llama-3.2-1B-Instruct), a local directory "
        "saved with save_pretrained, or 'tiny' to build a tiny Llama in the run directory.",
    )
    dtype: Literal["float32", "bfloat16", "float16"] = Field(
        "float32", description="Weights' dtype. bfloat16 on GPU for real models."
    )
    device: str = Field(
        "auto", description="'auto' (CUDA when present, else CPU), or any device torch names: 'cpu', 'cuda', 'cuda:1', 'mps'...",
    )
    gguf_file: str | None = Field(
        None, description="A GGUF file (llama.cpp's format) inside name_or_path's directory or hub repository, loaded "
        "and dequantized by transformers (needs the 'gguf' package: pip install gguf).",
    )
    tiny: TinyModelConfig = Field(default_factory=TinyModelConfig, description="Used when name_or_path is 'tiny'.")

    @field_validator("device")
    @classmethod
    def _torch_device(cls, value: str) -> str:
        if value == "auto":
            return value
        import torch  # here, not at the top: reading a config must not cost a torch import

        try:
            device = torch.device(value)
        except (RuntimeError, ValueError, TypeError):
            raise ValueError(f"{value!r} is not a device torch knows; use 'auto', 'cpu', 'cuda', 'cuda:N' or 'mps'") from None
        if device.type == "meta":
            raise ValueError("'meta' holds no weights; use 'auto', 'cpu', 'cuda', 'cuda:N' or 'mps'")
        return value

    @model_validator(mode="after")
    def _tiny_fits_in_memory(self) -> "ModelConfig":
        if self.name_or_path != "tiny":
            return self
        parameters = self.tiny.parameter_count()
        needed = 4 * parameters  # built in float32
        memory = machine_memory_bytes()
        # Half the memory: the run also holds activations, adapters and optimiser state.
        if memory is not None and needed > memory // 2:
            raise ValueError(
                f"model.tiny's sizes give about {parameters:,} parameters ({_gib(needed)} in float32), more than half "
                f"this machine's memory ({_gib(memory)}); make hidden_size, intermediate_size or num_hidden_layers smaller"
            )
        return self


class LoraConfigSection(_Section):
    rank: int = Field(128, ge=1, description="LoRA rank r.")
    alpha: float = Field(16.0, gt=0, description="LoRA alpha (scale alpha/r).")
    dropout: float = Field(0.0, ge=0, lt=1, description="LoRA dropout.")
    target_modules: list[str] = Field(
        default_factory=lambda: ["q_proj", "v_proj", "gate_proj", "up_proj", "down_proj"],
        description="Linear layers that get adapters (SEAL: q/v projections and the MLP).",
    )


class UpdateEngineSettings(_Section):
    """What every LoRA-update section shares (ARC's `ttt`, knowledge's `update`): the engine
    that runs the updates and the limits on each one. A section adds its own `lora`, batch
    size, step and length limits."""

    section: ClassVar[str] = "ttt"  # the config key, for error messages

    max_grad_norm: float = Field(1.0, gt=0, description="Gradient clipping.")
    lr_schedule: Literal["cosine", "linear"] = Field(
        "cosine", description="How the learning rate decays to 0 over an update, no warmup (SEAL's knowledge code: "
        "linear, transformers' default; its ARC code: cosine).",
    )
    max_seconds_per_candidate: float | None = Field(
        None, gt=0, description="An update still training after this many seconds fails with the reason; none: no limit."
    )
    engine: Literal["batched", "sequential"] = Field(
        "batched",
        description="batched: the updates of a task's (or passage's) candidates train and evaluate together, "
        "each row routed to its own adapter. sequential: the reference procedure, one update at a time.",
    )
    max_tokens_per_pass: int = Field(
        8192, ge=64, description="Batched engine: most tokens (rows x padded length) in one forward pass."
    )
    max_padding_fraction: float = Field(
        0.15, ge=0, lt=1,
        description="Batched engine: a pass is cut where more than this fraction of its tokens would be padding.",
    )

    @model_validator(mode="after")
    def _batched_needs_no_dropout(self):
        if self.engine == "batched" and self.lora.dropout > 0:
            raise ValueError(f"the batched engine needs {self.section}.lora.dropout 0 (SEAL uses 0); "
                             f"or set {self.section}.engine: sequential")
        return self


class PolicySettings(_Section):
    """What every domain's policy section holds: how self-edits are sampled, and ReST-EM's fine-tuning."""

    temperature: float = Field(0.8, ge=0, description="Sampling temperature (SEAL: 0.8); 0 is greedy.")
    top_p: float = Field(1.0, gt=0, le=1, description="Nucleus sampling.")
    max_new_tokens: int = Field(384, ge=8, description="Token budget of one self-edit.")
    constrained: bool = Field(True, description="Decode under the grammar of the tool schemas (xgrammar).")
    lora: LoraConfigSection = Field(
        default_factory=lambda: LoraConfigSection(rank=16, alpha=32),
        description="The policy's own LoRA adapter, trained by ReST-EM.",
    )
    sft_learning_rate: float = Field(1e-4, gt=0, description="ReST-EM fine-tuning learning rate.")
    sft_epochs: int = Field(2, ge=1, description="ReST-EM fine-tuning epochs over the kept self-edits.")
    sft_batch_size: int = Field(4, ge=1, description="ReST-EM fine-tuning batch size.")
    merge_into_base: bool = Field(
        False,
        description="SEAL's released code: after each ReST-EM fine-tune, merge the policy adapter into the base "
        "weights, so the fine-tuned model is also the base that test-time training starts from and that "
        "answers; the next round fine-tunes a fresh adapter. Off: the policy is a separate adapter and "
        "test-time training always starts from the original base model.",
    )

    @field_validator("temperature")
    @classmethod
    def _temperature_divides_safely(cls, value: float) -> float:
        # Sampling divides the logits by the temperature: below this they overflow to inf and
        # the probabilities become NaN.
        if 0 < value < MIN_TEMPERATURE:
            raise ValueError(f"a temperature between 0 and {MIN_TEMPERATURE} overflows the logits; use 0 for greedy decoding")
        return value


class ChatModelConfig(_Section):
    """Any LangChain chat model, by import path and keyword arguments.

    For example an OpenAI-compatible endpoint:
        class_path: langchain_openai.ChatOpenAI
        kwargs: {model: gpt-4.1, base_url: http://localhost:8000/v1, api_key: EMPTY}
    """

    class_path: str = Field(description="module.ClassName of a langchain_core BaseChatModel.")
    kwargs: dict[str, Any] = Field(default_factory=dict, description="Passed to the class.")



RL_ALGORITHMS = ("rest_em", "rloo", "grpo")


class RLConfig(_Section):
    """The outer loop's update of the policy from a round's rewarded self-edits."""

    algorithm: Literal[RL_ALGORITHMS] = Field(  # type: ignore[valid-type]
        "rest_em",
        description="rest_em: fine-tune on the kept self-edits (SEAL; policy.sft_* settings). rloo, grpo: a policy "
        "gradient on every sample with group-relative advantages (seal_agent.rl.policy_gradient).",
    )
    learning_rate: float = Field(1e-4, gt=0, description="rloo/grpo: the policy adapter's learning rate.")
    epochs: int = Field(1, ge=1, le=100, description="rloo/grpo: passes over the round's self-edits.")
    clip: float = Field(0.2, gt=0, lt=1, description="grpo: the ratio's clip range, 1 +- clip.")
    kl_coef: float = Field(0.0, ge=0, description="rloo/grpo: weight of the KL penalty to the base model (0: none).")
    steps_per_round: int | None = Field(
        None, ge=1, le=100_000,
        description="The policy update's optimizer steps per round, whatever the algorithm: it goes through its samples "
        "in a seeded order, again and again, until it has taken this many (rest_em: batches of policy.sft_batch_size "
        "kept self-edits; rloo/grpo: one self-edit a step), so algorithms compare at the same number of steps. "
        "None: rl.epochs and policy.sft_epochs decide.",
    )


class RunConfigBase(_Section):
    """What every domain's run config holds; a domain's config adds only its own sections."""

    preset_prefix: ClassVar[str] = ""  # presets are seal_agent/presets/<prefix><name>.yaml
    presets: ClassVar[tuple[str, ...]] = ("smoke", "cpu", "paper")

    domain: str = Field(description="Which SEAL loop this config is for.")
    preset: str | None = Field(None, description="The preset this config started from, for the record.")
    seed: int = Field(0, ge=0, le=MAX_SEED, description="Seeds sampling, data sampling and training; same seed, same run "
                      "(0 to 2**63-1).")
    model: ModelConfig = Field(default_factory=ModelConfig)
    rl: RLConfig = Field(default_factory=RLConfig)

    @classmethod
    def resolve(cls, preset: str | None = None, config_file: str | Path | None = None, overrides: dict[str, Any] | None = None):
        """This config from a preset, then a file, then overrides (`resolve_config`)."""
        return resolve_config(preset, config_file, overrides, schema=cls)

    def with_absolute_paths(self):
        """A copy with every file path made absolute, so config.yaml means the same from any directory."""
        config = self.model_copy(deep=True)
        if config.data.path and config.data.path.startswith("hf:"):  # a datasets source: its local directory only
            name, colon, split = config.data.path[3:].partition(":")
            if Path(name).exists():
                config.data.path = f"hf:{Path(name).resolve()}{colon}{split}"
        elif config.data.path:  # every domain's data section may name a file
            config.data.path = str(Path(config.data.path).resolve())
        if config.model.name_or_path != "tiny" and Path(config.model.name_or_path).exists():
            config.model.name_or_path = str(Path(config.model.name_or_path).resolve())
        return config


def preset_dict(name: str, prefix: str = "", presets: tuple[str, ...] = ()) -> dict[str, Any]:
    if name not in presets:
        raise ConfigError(f"unknown preset {name!r}; choose one of: {', '.join(presets)}")
    text = resources.files("seal_agent.presets").joinpath(f"{prefix}{name}.yaml").read_text()
    return yaml.safe_load(text) or {}


def deep_merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """Merge nested dicts; values in `override` win, lists are replaced whole."""
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def read_yaml_mapping(path: Path) -> dict[str, Any]:
    try:
        loaded = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as err:
        raise ConfigError(f"{path}: cannot read: {err.strerror or err}") from None
    except (yaml.YAMLError, UnicodeDecodeError) as err:
        raise ConfigError(f"{path}: not valid YAML: {err}") from None
    except RecursionError:  # PyYAML builds nested values recursively
        raise ConfigError(f"{path}: not valid YAML: nested too deeply to parse") from None
    if loaded is None:
        return {}
    if not isinstance(loaded, dict):
        raise ConfigError(f"{path}: the top level must be a mapping of sections, not {type(loaded).__name__}")
    return loaded


def format_validation_error(err: ValidationError, source: str) -> str:
    lines = [f"{source}: {err.error_count()} problem(s) in the config:"]
    for problem in err.errors():
        field = ".".join(str(part) for part in problem["loc"]) or "(top level)"
        message = problem["msg"]
        if problem["type"] == "extra_forbidden":
            message = "unknown key"
        lines.append(f"  - {field}: {message}")
    return "\n".join(lines)


def resolve_config(
    preset: str | None = None,
    config_file: str | Path | None = None,
    overrides: dict[str, Any] | None = None,
    *,
    schema: type[BaseModel],
) -> Any:
    """Preset, then file, then overrides; validated once, every problem reported together.

    `schema` is the domain's config model (`seal_agent.arc.config.RunConfig`, `seal_agent.knowledge.config.KnowledgeRunConfig`).
    """
    layers: dict[str, Any] = {}
    sources = []
    if preset is not None:
        layers = deep_merge(layers, preset_dict(preset, schema.preset_prefix, schema.presets))
        layers["preset"] = preset
        sources.append(f"preset {preset!r}")
    if config_file is not None:
        layers = deep_merge(layers, read_yaml_mapping(Path(config_file)))
        sources.append(str(config_file))
    if overrides:
        layers = deep_merge(layers, overrides)
        sources.append("command-line options")
    try:
        return schema.model_validate(layers)
    except ValidationError as err:
        raise ConfigError(format_validation_error(err, " + ".join(sources) or "config")) from None


def load_run_config(path: str | Path, schema: type[BaseModel]) -> Any:
    """Load a resolved config.yaml written into a run directory."""
    path = Path(path)
    try:
        return schema.model_validate(read_yaml_mapping(path))
    except ValidationError as err:
        raise ConfigError(format_validation_error(err, str(path))) from None


def dump_config(config: BaseModel) -> str:
    return yaml.safe_dump(config.model_dump(mode="json"), sort_keys=False)
