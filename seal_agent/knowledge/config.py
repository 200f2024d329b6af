"""The configuration of a knowledge-incorporation run (`seal run knowledge`, `seal eval knowledge`).

Same layering and error reporting as the ARC config (`seal_agent.config`): a preset
(`seal_agent/presets/knowledge_<name>.yaml`), then `--config FILE`, then command-line
options; unknown keys and wrong types are all reported at once.

Defaults are the paper's single-passage setting: k=5 self-edits per passage, each
evaluated over s=3 update seeds; the update is LoRA r=32, alpha=64, 10 epochs, lr 1e-3,
batch 1, on the self-edit's sequences plus the passage.
"""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar, Literal

from pydantic import Field, model_validator

from seal_agent.config import MAX_SEED, ChatModelConfig, LoraConfigSection, PolicySettings, RunConfigBase, UpdateEngineSettings, _Section
from seal_agent.knowledge.data import MAX_PASSAGE_CHARS

PROMPTS = ("implications", "implications-long", "implications-very-long", "rewrite", "self-qa")
REWARDS = ("loglik", "exact_match", "f1", "judge")
MODES = ("single", "cpt", "continual")
STRATEGIES = ("merge", "replay", "adapter_library")
ALL_PROJECTIONS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]


class PassageDataConfig(_Section):
    path: str | None = Field(
        None, description="SQuAD v1.1 .json or .jsonl passages, or hf:NAME[:SPLIT] for SQuAD-format rows through "
        "Hugging Face datasets (a hub id, a local data directory, a save_to_disk directory); none: the small sample "
        "bundled with the package."
    )
    limit: int | None = Field(None, ge=1, description="Use only the first N passages of the file.")
    max_passage_chars: int = Field(
        MAX_PASSAGE_CHARS, ge=1,
        description="Longest passage (and title, question or answer) in characters; a file holding a longer one is "
        "refused before the run starts, naming the record. A passage is tokenised whole and trained on, so one huge "
        "record would take all the run's memory.",
    )


class KnowledgePolicyConfig(PolicySettings):
    """The self-edit policy for knowledge: which prompt, how many samples, and its ReST-EM fine-tuning."""

    prompt: Literal[PROMPTS] = Field(  # type: ignore[valid-type]
        "implications", description="Self-edit prompt: " + ", ".join(PROMPTS) + "."
    )
    prompt_form: Literal["full", "worked", "compact"] = Field(
        "full", description="full: instructions, the tool and an example call with placeholders, then the passage. worked: "
        "the instructions without that example, then a worked example as an earlier exchange (a passage about a bridge "
        "and its call), since small models copy placeholders. compact: the passage and one line naming the tool (for small models).",
    )
    reject_copied_example: bool = Field(
        False, description="Reject a self-edit with a line copied from the prompt's example (a placeholder, or the worked "
        "example's subject), as a malformed one is rejected: it earns no reward, so ReST-EM never keeps it, and a row "
        "that samples it trains on the passage alone.",
    )
    reject_repeated_lines: bool = Field(
        False, description="Reject a self-edit that writes one line twice, as a malformed one is rejected. The update "
        "trains on each distinct line once, so a repeat earns no reward, but ReST-EM's M-step trains on the kept "
        "self-edit's whole text and would teach the repetition (seen on SmolLM2 at M-step lr 1e-3).",
    )
    candidates_per_passage: int = Field(5, ge=1, description="k self-edits sampled per passage (paper: 5).")
    temperature: float = Field(1.0, ge=0, description="Sampling temperature; 0 is greedy.")
    max_new_tokens: int = Field(1024, ge=8, description="Token budget of one self-edit.")
    max_text_chars: int = Field(
        1000, ge=1, description="Longest string (a statement, a rewrite, an answer) the grammar lets the policy write."
    )
    max_items: int = Field(20, ge=1, description="Most statements or question-answer pairs in one self-edit.")
    keep: Literal["improved", "best"] = Field(
        "improved",
        description="ReST-EM's selection per passage: improved keeps the best of k self-edits only if it beat the "
        "base model; best keeps it whatever its gain (SEAL's released code).",
    )
    lora: LoraConfigSection = Field(
        default_factory=lambda: LoraConfigSection(rank=16, alpha=32, target_modules=ALL_PROJECTIONS),
        description="The policy's own LoRA adapter, trained by ReST-EM.",
    )
    no_update: bool = Field(
        False, description="Also offer the no_update tool: the policy may decide a passage needs no update. Its reward "
        "is 0, an update's is its improvement minus reward.update_cost (seal_agent.knowledge.gate).",
    )


class UpdateConfig(UpdateEngineSettings):
    """How a self-edit becomes a LoRA update of the model (the inner loop)."""

    section: ClassVar[str] = "update"

    lora: LoraConfigSection = Field(
        default_factory=lambda: LoraConfigSection(rank=32, alpha=64, target_modules=ALL_PROJECTIONS),
        description="The update's adapter (paper: r=32, alpha=64).",
    )
    epochs: int = Field(10, ge=1, description="Epochs over the update's sequences (paper: 10).")
    learning_rate: float = Field(1e-3, gt=0, description="Paper: 1e-3.")
    batch_size: int = Field(1, ge=1, description="Sequences per optimiser step (paper: 1).")
    seeds: int = Field(3, ge=1, description="s: each self-edit's update is run with this many seeds, rewards averaged (paper: 3).")
    include_passage: bool = Field(True, description="Train on the passage itself as well as the self-edit's sequences.")
    split_items: bool = Field(
        True, description="Each statement, rewrite or question-answer pair is its own training sequence; false: each "
        "self-edit is one sequence (SEAL's CPT runs do not split completions).",
    )
    passage_per_self_edit: bool = Field(
        False, description="Mode cpt: the passage is added once per self-edit, as SEAL's CPT code does; false: once.",
    )
    method: Literal["lora", "full"] = Field(
        "lora", description="lora: the update is the adapter above. full: mode cpt only, every weight of the base model "
        "is trained (the paper's second version reports CPT both ways), then restored after scoring.",
    )
    max_steps: int = Field(2000, ge=1, description="A self-edit whose update needs more steps is rejected.")
    max_sequence_tokens: int = Field(2048, ge=16, description="Longer sequences are cut to this many tokens.")


class ContinualConfig(_Section):
    """Mode continual: what each update leaves behind, and how a question reaches it
    (`seal_agent.knowledge.continual`)."""

    strategy: Literal[STRATEGIES] = Field(  # type: ignore[valid-type]
        "merge",
        description="merge: each update is merged into the base weights (SEAL). replay: as merge, and each update also "
        "trains on up to replay_budget texts sampled from earlier updates. adapter_library: each update stays its own "
        "LoRA, never merged; a question is answered with the adapter whose training texts best match it.",
    )
    replay_budget: int = Field(16, ge=1, description="replay: most earlier training texts added to one update.")


class RewardConfig(_Section):
    kind: Literal[REWARDS] = Field(  # type: ignore[valid-type]
        "loglik",
        description="loglik: gain in log p(gold answer | question) over the base model (no grader, deterministic). "
        "exact_match, f1: SQuAD metrics of greedy answers. judge: an LLM grader (reward.judge).",
    )
    judge: ChatModelConfig | None = Field(None, description="The grader for kind 'judge': any LangChain chat model.")
    update_cost: float = Field(
        0.0, ge=0, description="With policy.no_update: what one update costs, in the reward's units; an update's reward "
        "is its improvement minus this, a no_update self-edit's is 0.",
    )

    @model_validator(mode="after")
    def _judge_given(self) -> "RewardConfig":
        if self.kind == "judge" and self.judge is None:
            raise ValueError("reward kind 'judge' needs reward.judge (class_path and kwargs of a LangChain chat model)")
        return self


class KnowledgeEvalConfig(_Section):
    greedy_answers: bool = Field(True, description="Also decode greedy answers (EM and F1); needed by exact_match, f1, judge.")
    answer_max_new_tokens: int = Field(24, ge=1, description="Token budget of one answer (SEAL's code: 64).")
    first_line_only: bool = Field(
        True, description="Grade a greedy answer up to its first line break; false: the whole continuation (SEAL's "
        "code, whose grader is an LLM told to be lenient).",
    )
    batch_size: int = Field(16, ge=1, description="Questions scored or decoded together.")
    teacher: ChatModelConfig | None = Field(
        None, description="`seal eval knowledge`: a second chat model whose self-edits are also evaluated (the paper's GPT-4.1 row)."
    )


class KnowledgeRunConfig(RunConfigBase):
    """Everything a `seal run knowledge` needs."""

    preset_prefix: ClassVar[str] = "knowledge_"
    presets: ClassVar[tuple[str, ...]] = ("smoke", "cpu", "paper", "paper_cpt")

    domain: Literal["knowledge"] = Field("knowledge", description="Which SEAL loop this config is for.")
    seed: int = Field(0, ge=0, le=MAX_SEED, description="Seeds passage order, sampling and updates; same seed, same run "
                      "(0 to 2**63-1).")
    mode: Literal[MODES] = Field(  # type: ignore[valid-type]
        "single",
        description="single: one update per passage, ReST-EM rounds. cpt: all passages' self-edits in one update. "
        "continual: passages one after another, each update merged before the next.",
    )
    rounds: int = Field(2, ge=1, description="ReST-EM rounds (mode single).")
    passages_per_round: int = Field(
        50, ge=1, description="Fresh passages per round (single); passages in the update (cpt) or the sequence (continual)."
    )
    policy_checkpoint: str | None = Field(
        None, description="Start from a trained policy adapter: a run's policy/round_N directory. None: a fresh one."
    )
    data: PassageDataConfig = Field(default_factory=PassageDataConfig)
    policy: KnowledgePolicyConfig = Field(default_factory=KnowledgePolicyConfig)
    update: UpdateConfig = Field(default_factory=UpdateConfig)
    reward: RewardConfig = Field(default_factory=RewardConfig)
    continual: ContinualConfig = Field(default_factory=ContinualConfig)
    eval: KnowledgeEvalConfig = Field(default_factory=KnowledgeEvalConfig)

    @model_validator(mode="after")
    def _answers_when_needed(self) -> "KnowledgeRunConfig":
        if self.reward.kind != "loglik" and not self.eval.greedy_answers:
            raise ValueError(f"reward kind {self.reward.kind!r} grades greedy answers: set eval.greedy_answers true")
        if self.update.method == "full" and self.mode != "cpt":
            raise ValueError(f"update.method full trains every weight once per update: only mode cpt (one update) "
                             f"supports it, not mode {self.mode!r}")
        if self.reward.update_cost and not self.policy.no_update:
            raise ValueError("reward.update_cost prices the policy's choice to update: set policy.no_update true")
        if self.policy.merge_into_base and self.mode != "single":
            raise ValueError("policy.merge_into_base merges ReST-EM rounds into the base weights; only mode single has rounds")
        if self.policy.merge_into_base and self.policy_checkpoint:
            raise ValueError("starting from a policy checkpoint with policy.merge_into_base is not supported: the "
                             "checkpoint's earlier rounds would have to be merged first; set policy.merge_into_base false")
        return self

    def with_absolute_paths(self) -> "KnowledgeRunConfig":
        config = super().with_absolute_paths()
        if config.policy_checkpoint:
            config.policy_checkpoint = str(Path(config.policy_checkpoint).resolve())
        return config
