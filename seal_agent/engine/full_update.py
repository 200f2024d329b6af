"""Updates of every weight of the base model instead of a LoRA adapter (`update.method: full`).

SEAL's continued-pretraining runs were reported with LoRA and, in the paper's second
version, with full fine-tuning as well. This engine answers the same `train_and_score` /
`score_base` protocol as the LoRA engines (`seal_agent.engine.sequential`), so the CPT
update (`seal_agent.graphs.knowledge.cpt_update`, `seal eval knowledge` in mode cpt) can use either.

Each job: the base weights are copied aside, every one of them is trained with adapters
switched off (the same loop, optimiser and schedule as a LoRA update), the job's `score`
runs on the trained model, and the copy is put back. The copy lives on the CPU: for a
model of P parameters it costs P values of host memory, and the optimiser 2P on the
model's device.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import torch

from seal_agent.engine.sequential import (
    CandidateFailed, CandidateOutcome, TrainJob, TrainResult, greedy_generate, in_batches, train_and_decode, train_parameters,
)


def base_parameters(peft_model) -> list[tuple[str, torch.nn.Parameter]]:
    """The model's own weights: every parameter that is not part of a LoRA adapter."""
    return [(name, p) for name, p in peft_model.named_parameters() if "lora_" not in name]


class FullUpdateEngine:
    """Trains every base weight for each job, scores, restores: one job at a time."""

    def __init__(self, peft_model, tokenizer, *, batch_size: int, max_grad_norm: float = 1.0, time_limit: float | None = None,
                 lr_schedule: str = "cosine"):
        self.model = peft_model
        self.tokenizer = tokenizer
        self.batch_size = batch_size
        self.max_grad_norm = max_grad_norm
        self.time_limit = time_limit
        self.lr_schedule = lr_schedule

    def release(self) -> None:
        """Nothing held between jobs."""

    def shutdown(self) -> None:
        """Nothing outside this process."""

    def train(self, job: TrainJob) -> TrainResult:
        """Every base weight trained on the job's examples, adapters off; the weights end frozen."""
        trainable = [p for _name, p in base_parameters(self.model)]
        for param in trainable:
            param.requires_grad = True
        with self.model.disable_adapter():
            return train_parameters(
                self.model, trainable, job.examples, pad_token_id=self.tokenizer.pad_token_id,
                learning_rate=job.learning_rate, epochs=job.epochs, batch_size=self.batch_size, seed=job.seed,
                max_grad_norm=self.max_grad_norm, time_limit=self.time_limit, lr_schedule=self.lr_schedule,
            )

    def train_and_score(self, jobs: list[TrainJob], score: Callable[[Any], Any]) -> list[CandidateOutcome]:
        """Each job trains the whole base model, `score(model)` runs on it (adapters off), then the weights go back."""
        outcomes = []
        for job in jobs:
            saved = {name: p.detach().to("cpu", copy=True) for name, p in base_parameters(self.model)}
            try:
                result = self.train(job)
                start = time.perf_counter()
                with self.model.disable_adapter():
                    evaluation = score(self.model)
                result.eval_seconds = time.perf_counter() - start
                outcomes.append(CandidateOutcome(train=result, evaluation=evaluation))
            except CandidateFailed as failure:
                outcomes.append(CandidateOutcome(failure=str(failure)))
            except torch.OutOfMemoryError as failure:
                torch.cuda.empty_cache()
                outcomes.append(CandidateOutcome(failure=f"out of memory: {str(failure)[:300]}"))
            finally:
                params = dict(base_parameters(self.model))
                with torch.no_grad():
                    for name, value in saved.items():
                        params[name].copy_(value)
        return outcomes

    def score_base(self, score: Callable[[Any], Any]) -> Any:
        with self.model.disable_adapter():
            return score(self.model)

    def train_and_generate(
        self, jobs: list[TrainJob], prompts: list[str], max_new_tokens: int, batch_size: int
    ) -> list[CandidateOutcome]:
        """Greedy answers to `prompts` from each job's fully trained model."""
        return train_and_decode(self, jobs, prompts, max_new_tokens, batch_size)

    def generate_base(self, prompts: list[str], max_new_tokens: int, batch_size: int) -> list[str]:
        return self.score_base(
            lambda model: in_batches(lambda chunk: greedy_generate(model, self.tokenizer, chunk, max_new_tokens), prompts, batch_size))
