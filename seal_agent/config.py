"""Run configuration: the sections every domain shares, presets, and loading with clear errors.

Each domain's config (`seal_agent.arc.config.RunConfig`,
`seal_agent.knowledge.config.KnowledgeRunConfig`) builds on `RunConfigBase` and the
shared sections here (model, LoRA, the update engine's settings, the policy's sampling
and ReST-EM settings), and holds only what is its own.

A config is resolved in layers: the preset (`seal_agent/presets/<name>.yaml`), then a user
config file (`--config FILE`), then command-line overrides. Unknown keys and wrong types
are errors; all of them are reported at once, each with the file and the field, before any
work starts (`ConfigError`).
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Any, ClassVar, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator



class ConfigError(Exception):
    """A config that cannot be used; the message lists every problem."""


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class TinyModelConfig(_Section):
    seed: int = Field(0, description="Seed of the random initialisation.")
    hidden_size: int = Field(128, ge=16, description="Width of the residual stream.")
    num_hidden_layers: int = Field(2, ge=1, description="Number of transformer blocks.")
    num_attention_heads: int = Field(4, ge=1, description="Query heads per layer.")
    num_key_value_heads: int = Field(2, ge=1, description="Key/value heads (grouped-query attention).")
    intermediate_size: int = Field(384, ge=16, description="Width of the SwiGLU MLP.")
    initializer_range: float = Field(
        0.02,
        gt=0,
        description="Std of the random weights. Larger values give a random model richer "
        "features, which LoRA needs to learn anything on top of random weights.",
    )

    @model_validator(mode="after")
    def _heads_divide(self) -> "TinyModelConfig":
        if self.hidden_size % self.num_attention_heads:
            raise ValueError("hidden_size must be divisible by num_attention_heads")
        if self.num_attention_heads % self.num_key_value_heads:
            raise ValueError("num_attention_heads must be divisible by num_key_value_heads")
        return self


class ModelConfig(_Section):
    name_or_path: str = Field(
        "tiny",
        description="A hub id (e.g. meta-llama/Llama-3.2-1B-Instruct), a local directory "
        "saved with save_pretrained, or 'tiny' to build a tiny Llama in the run directory.",
    )
    dtype: Literal["float32", "bfloat16", "float16"] = Field(
        "float32", description="Weights' dtype. bfloat16 on GPU for real models."
    )
    device: str = Field("auto", description="'auto' (CUDA when present, else CPU), 'cpu', 'cuda', 'cuda:1'...")
    gguf_file: str | None = Field(
        None, description="A GGUF file (llama.cpp's format) inside name_or_path's directory or hub repository, loaded "
        "and dequantized by transformers (needs the 'gguf' package: pip install 'seal-agent[gguf]').",
    )
    tiny: TinyModelConfig = Field(default_factory=TinyModelConfig, description="Used when name_or_path is 'tiny'.")


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


class ChatModelConfig(_Section):
    """Any LangChain chat model, by import path and keyword arguments.

    For example an OpenAI-compatible endpoint:
        class_path: langchain_openai.ChatOpenAI
        kwargs: {model: gpt-4.1, base_url: http://localhost:8000/v1, api_key: EMPTY}
    """

    class_path: str = Field(description="module.ClassName of a langchain_core BaseChatModel.")
    kwargs: dict[str, Any] = Field(default_factory=dict, description="Passed to the class.")



class RunConfigBase(_Section):
    """What every domain's run config holds; a domain's config adds only its own sections."""

    preset_prefix: ClassVar[str] = ""  # presets are seal_agent/presets/<prefix><name>.yaml
    presets: ClassVar[tuple[str, ...]] = ("smoke", "cpu", "paper")

    domain: str = Field(description="Which SEAL loop this config is for.")
    preset: str | None = Field(None, description="The preset this config started from, for the record.")
    seed: int = Field(0, description="Seeds sampling, data sampling and training; same seed, same run.")
    model: ModelConfig = Field(default_factory=ModelConfig)

    @classmethod
    def resolve(cls, preset: str | None = None, config_file: str | Path | None = None, overrides: dict[str, Any] | None = None):
        """This config from a preset, then a file, then overrides (`resolve_config`)."""
        return resolve_config(preset, config_file, overrides, schema=cls)

    def with_absolute_paths(self):
        """A copy with every file path made absolute, so config.yaml means the same from any directory."""
        config = self.model_copy(deep=True)
        if config.data.path:  # every domain's data section may name a file
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
        loaded = yaml.safe_load(path.read_text())
    except OSError as err:
        raise ConfigError(f"{path}: cannot read: {err.strerror or err}") from None
    except yaml.YAMLError as err:
        raise ConfigError(f"{path}: not valid YAML: {err}") from None
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
