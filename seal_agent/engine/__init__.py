"""Engines: what turns self-edits into trained LoRA updates and their answers.

An engine holds the base model once and, for a batch of training jobs (one per self-edit:
its examples, learning rate, epochs, seed), trains each job's LoRA adapter from the same
initial weights and then evaluates it. The graphs never see how:

    sequential.LoraEngine    the reference procedure, one candidate at a time
    batched.BatchedEngine    K candidates' adapters stacked and trained together
    ray.RayEngine            tasks spread over Ray actors, each with its own engine
    vllm.VllmEngine          trains with the batched engine, evaluates through vLLM
    full_update.FullUpdateEngine  trains every base weight instead of an adapter, then restores
                             them (knowledge CPT with update.method full)

    stacked_lora             the batched engine's K adapters, applied per row by hooks
    local.local_engine       the in-process engine a config section asks for

What they train on is `examples.TrainingExample` (token ids and labels), whichever domain
built it. `Engine` is what the ARC loop needs; `ScoringEngine` adds what the knowledge loop needs
(a scoring callback run with each candidate's adapter in place). Every engine class
implements its protocol completely (`tests/test_engine_protocol.py`), so callers never
probe for methods.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol, runtime_checkable

from seal_agent.engine.sequential import CandidateOutcome, TrainJob


@runtime_checkable
class Engine(Protocol):
    """Train and evaluate ARC candidates (also has a `tokenizer` attribute)."""

    def train_and_generate(
        self, jobs: list[TrainJob], prompts: list[str], max_new_tokens: int, batch_size: int
    ) -> list[CandidateOutcome]:
        """Train every job, then answer every prompt with each trained adapter (one outcome per job, in order)."""

    def generate_base(self, prompts: list[str], max_new_tokens: int, batch_size: int) -> list[str]:
        """Greedy answers of the base model with no update."""

    def release(self) -> None:
        """Drop what a batch of jobs left behind (stacked adapters, optimiser state), e.g. after out of memory."""

    def shutdown(self) -> None:
        """Free what the engine holds outside this process (actors, servers) at the end of a run."""


@runtime_checkable
class ScoringEngine(Engine, Protocol):
    """An engine that can also hand each trained adapter to a scoring callback (the knowledge loop)."""

    def train_and_score(self, jobs: list[TrainJob], score: Callable[[Any], Any]) -> list[CandidateOutcome]:
        """Train every job, then call `score(model)` once per job with its adapter in place."""

    def score_base(self, score: Callable[[Any], Any]) -> Any:
        """`score(model)` on the base model with no update."""
