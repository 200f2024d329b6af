"""The LoRA engine: train a candidate's test-time-training adapter, generate with it.

The reference procedure, one candidate at a time: reset the TTT adapter to its initial
weights, train it on the candidate's data (AdamW, a cosine or linear decay, batch `batch_size`,
gradient clipping), then generate greedily with it. The base model is held once; every
candidate starts from the same initial adapter, so candidates never leak into each other.

Failures a candidate causes (its loss goes NaN, a step budget it would exceed) raise
`CandidateFailed`, which the graph records as data; bugs in this code raise as usual.
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch

from seal_agent.engine.examples import IGNORE_INDEX, TrainingExample
from seal_agent.model.adapters import TTT_ADAPTER, activate, adapter_state, load_adapter_state


class CandidateFailed(Exception):
    """A candidate update that cannot complete, for a reason the self-edit caused."""


@dataclass
class TrainResult:
    losses: list[float] = field(default_factory=list)
    steps: int = 0
    seconds: float = 0.0
    eval_seconds: float = 0.0


@dataclass
class TrainJob:
    """One candidate's update: its examples and hyperparameters."""

    examples: list[TrainingExample]
    learning_rate: float
    epochs: int
    seed: int


@dataclass
class CandidateOutcome:
    """What an engine returns per job: its training (or why it failed) and its answers."""

    train: TrainResult | None = None
    failure: str | None = None
    outputs: list[str] = field(default_factory=list)
    evaluation: Any = None  # what `train_and_score`'s scoring function returned


def time_limit_reason(limit: float, steps_done: int, steps_planned: int) -> str:
    return f"exceeded the per-candidate time limit of {limit:g}s after {steps_done} of {steps_planned} training steps"


def planned_steps(num_examples: int, epochs: int, batch_size: int) -> int:
    return math.ceil(num_examples / batch_size) * epochs


def micro_batches(num_examples: int, epochs: int, batch_size: int, seed: int) -> list[list[int]]:
    """The order training visits the examples: a seeded shuffle per epoch, cut into batches.

    Both engines train in exactly this order, which is what makes them comparable step by step.
    """
    rng = random.Random(seed)
    batches = []
    for _ in range(epochs):
        order = list(range(num_examples))
        rng.shuffle(order)
        batches += [order[i : i + batch_size] for i in range(0, num_examples, batch_size)]
    return batches


def split_on_out_of_memory(
    engine, jobs: list[TrainJob], run: Callable[[list[TrainJob]], list[CandidateOutcome]]
) -> list[CandidateOutcome]:
    """`run(jobs)`; out of memory is the candidates' problem, not the run's.

    The engine's memory is released and the jobs are retried in two halves; a single job
    that still does not fit fails with the reason.
    """
    if not jobs:
        return []
    message = None
    try:
        return run(jobs)
    except torch.OutOfMemoryError as failure:
        message = f"out of memory: {str(failure)[:300]}"
    # Outside the except block, so the traceback no longer pins the tensors being freed.
    engine.release()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
    if len(jobs) == 1:
        return [CandidateOutcome(failure=message)]
    half = len(jobs) // 2
    return split_on_out_of_memory(engine, jobs[:half], run) + split_on_out_of_memory(engine, jobs[half:], run)


def in_batches(generate, prompts: list[str], batch_size: int) -> list[str]:
    """Call `generate(chunk)` on consecutive chunks of at most `batch_size` prompts."""
    outputs: list[str] = []
    for first in range(0, len(prompts), batch_size):
        outputs += generate(prompts[first : first + batch_size])
    return outputs


@torch.no_grad()
def greedy_generate(model, tokenizer, prompts: list[str], max_new_tokens: int) -> list[str]:
    """Greedy completions with whatever adapters `model` has switched on; the prompt is not returned."""
    encoded = [tokenizer(p, add_special_tokens=True)["input_ids"] for p in prompts]
    length = max(len(ids) for ids in encoded)
    pad = tokenizer.pad_token_id
    device = next(model.parameters()).device
    # Left padding, so every row's next token is generated at the same position.
    input_ids = torch.tensor([[pad] * (length - len(ids)) + ids for ids in encoded], device=device)
    attention_mask = torch.tensor([[0] * (length - len(ids)) + [1] * len(ids) for ids in encoded], device=device)
    output = model.generate(
        input_ids=input_ids, attention_mask=attention_mask, max_new_tokens=max_new_tokens,
        do_sample=False, pad_token_id=pad, eos_token_id=tokenizer.eos_token_id,
    )
    return [tokenizer.decode(row[length:], skip_special_tokens=True) for row in output]


def train_and_decode(engine, jobs: list[TrainJob], prompts: list[str], max_new_tokens: int, batch_size: int
                     ) -> list[CandidateOutcome]:
    """`train_and_generate` for an engine that has `train_and_score`: greedy answers to
    `prompts` from each job's trained model, as each outcome's `outputs`."""
    def decode(model) -> list[str]:
        return in_batches(lambda chunk: greedy_generate(model, engine.tokenizer, chunk, max_new_tokens), prompts, batch_size)

    outcomes = engine.train_and_score(jobs, decode)
    for outcome in outcomes:
        if outcome.failure is None:
            outcome.outputs, outcome.evaluation = outcome.evaluation, None
    return outcomes


def collate(examples: list[TrainingExample], pad_token_id: int, device) -> dict[str, torch.Tensor]:
    """Right-pad a batch; padding is masked out of attention and out of the loss."""
    length = max(len(e.input_ids) for e in examples)
    input_ids = torch.full((len(examples), length), pad_token_id, dtype=torch.long)
    labels = torch.full((len(examples), length), IGNORE_INDEX, dtype=torch.long)
    attention_mask = torch.zeros((len(examples), length), dtype=torch.long)
    for row, example in enumerate(examples):
        n = len(example.input_ids)
        input_ids[row, :n] = torch.tensor(example.input_ids)
        labels[row, :n] = torch.tensor(example.labels)
        attention_mask[row, :n] = 1
    return {
        "input_ids": input_ids.to(device),
        "labels": labels.to(device),
        "attention_mask": attention_mask.to(device),
    }


def lr_factor(schedule: str, step: int, total: int) -> float:
    """The learning rate's multiplier at optimiser step `step` (0-based) of `total`, no warmup:
    transformers' cosine or linear schedule, the same figures as its `get_*_schedule_with_warmup`."""
    progress = step / max(1, total)
    if schedule == "linear":
        return max(0.0, 1.0 - progress)
    if schedule == "cosine":
        return max(0.0, 0.5 * (1.0 + math.cos(math.pi * progress)))
    raise ValueError(f"unknown learning-rate schedule {schedule!r}; choose cosine or linear")


def train_adapter(peft_model, adapter: str, examples: list[TrainingExample], **settings) -> TrainResult:
    """Fine-tune one LoRA adapter of `peft_model` in place: AdamW, a decaying schedule, clipping
    (`settings`: those of `train_parameters`).

    Shared by test-time training (the "ttt" adapter) and ReST-EM (the "policy" adapter).
    The example order of each epoch is a seeded shuffle, so a run is reproducible.
    """
    return train_parameters(peft_model, activate(peft_model, adapter), examples, **settings)


def train_parameters(
    model,
    params: list[torch.nn.Parameter],
    examples: list[TrainingExample],
    *,
    pad_token_id: int,
    learning_rate: float,
    epochs: int,
    batch_size: int,
    seed: int,
    max_grad_norm: float = 1.0,
    time_limit: float | None = None,
    lr_schedule: str = "cosine",
    max_steps: int | None = None,
) -> TrainResult:
    """Fine-tune `params` (already trainable, the rest frozen) of `model` in place on `examples`.

    The loop of every update: a LoRA adapter's (`train_adapter`) or every weight of the base
    model's (`seal_agent.engine.full_update`). `params` end frozen, their gradients dropped.
    `max_steps`: exactly this many optimiser steps instead of `epochs` passes (as many passes
    as they need, the last one cut), the schedule decaying over them.
    """
    result = TrainResult()
    if not examples:
        return result
    device = next(model.parameters()).device
    if max_steps is not None:
        epochs = math.ceil(max_steps / planned_steps(len(examples), 1, batch_size))
    batches = micro_batches(len(examples), epochs, batch_size, seed)[:max_steps]
    total_steps = len(batches)
    optimizer = torch.optim.AdamW(params, lr=learning_rate, weight_decay=0.0)
    lr_factor(lr_schedule, 0, total_steps)  # an unknown schedule fails before any step
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: lr_factor(lr_schedule, step, total_steps))
    start = time.perf_counter()
    model.train()
    try:
        for indices in batches:
            batch = collate([examples[i] for i in indices], pad_token_id, device)
            loss = model(**batch).loss
            if not torch.isfinite(loss):
                raise CandidateFailed(f"training loss became {loss.item()} at step {result.steps + 1}")
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, max_grad_norm)
            optimizer.step()
            schedule.step()
            optimizer.zero_grad(set_to_none=True)
            result.losses.append(round(loss.item(), 6))
            result.steps += 1
            if time_limit is not None and time.perf_counter() - start > time_limit and result.steps < total_steps:
                raise CandidateFailed(time_limit_reason(time_limit, result.steps, total_steps))
    finally:
        model.eval()
        for param in params:
            param.grad = None
            param.requires_grad = False
    result.seconds = time.perf_counter() - start
    return result


class LoraEngine:
    """The reference procedure: one candidate at a time, reset, train, evaluate, next.

    Both engines answer the same protocol: `train_and_generate(jobs, prompts, ...)` trains
    each job's adapter and decodes `prompts` with it; `generate_base(prompts, ...)`
    decodes with the bare base model. `train_and_score(jobs, score)` and
    `score_base(score)` do the same for any evaluation: `score(model)` runs with the job's
    adapter (or none) applied, and may call the model, `generate` it, or both.
    """

    def __init__(self, peft_model, tokenizer, *, batch_size: int, max_grad_norm: float = 1.0, time_limit: float | None = None,
                 lr_schedule: str = "cosine"):
        self.model = peft_model
        self.lr_schedule = lr_schedule
        self.time_limit = time_limit  # seconds of training a candidate may take; None: no limit
        self.tokenizer = tokenizer
        self.batch_size = batch_size
        self.max_grad_norm = max_grad_norm
        self.device = next(peft_model.parameters()).device
        self.initial_state = adapter_state(peft_model, TTT_ADAPTER)

    def release(self) -> None:
        """Nothing to drop: one adapter, reset before every candidate."""

    def shutdown(self) -> None:
        """Nothing outside this process."""

    def reset(self) -> None:
        load_adapter_state(self.model, self.initial_state)

    def train(self, examples: list[TrainingExample], learning_rate: float, epochs: int, seed: int) -> TrainResult:
        """Reset the TTT adapter, then fine-tune it on `examples`; the loss of every step is kept."""
        self.reset()
        return train_adapter(
            self.model,
            TTT_ADAPTER,
            examples,
            pad_token_id=self.tokenizer.pad_token_id,
            learning_rate=learning_rate,
            epochs=epochs,
            batch_size=self.batch_size,
            seed=seed,
            max_grad_norm=self.max_grad_norm,
            time_limit=self.time_limit,
            lr_schedule=self.lr_schedule,
        )

    def generate(self, prompts: list[str], max_new_tokens: int, use_adapter: bool = True) -> list[str]:
        """Greedy completions of `prompts`, with the TTT adapter or with the bare base model."""
        if use_adapter:
            self.model.set_adapter(TTT_ADAPTER, inference_mode=True)
            return greedy_generate(self.model, self.tokenizer, prompts, max_new_tokens)
        with self.model.disable_adapter():
            return greedy_generate(self.model, self.tokenizer, prompts, max_new_tokens)

    def train_and_generate(
        self, jobs: list[TrainJob], prompts: list[str], max_new_tokens: int, batch_size: int
    ) -> list[CandidateOutcome]:
        return train_and_decode(self, jobs, prompts, max_new_tokens, batch_size)

    def generate_base(self, prompts: list[str], max_new_tokens: int, batch_size: int) -> list[str]:
        return in_batches(lambda chunk: self.generate(chunk, max_new_tokens, use_adapter=False), prompts, batch_size)

    def train_and_score(self, jobs: list[TrainJob], score: Callable[[Any], Any]) -> list[CandidateOutcome]:
        """Train each job's adapter, then call `score(model)` with that adapter switched on."""
        outcomes = []
        for job in jobs:
            try:
                result = self.train(job.examples, job.learning_rate, job.epochs, job.seed)
            except CandidateFailed as failure:
                outcomes.append(CandidateOutcome(failure=str(failure)))
                continue
            except torch.OutOfMemoryError as failure:  # this candidate alone did not fit
                torch.cuda.empty_cache()
                outcomes.append(CandidateOutcome(failure=f"out of memory: {str(failure)[:300]}"))
                continue
            start = time.perf_counter()
            self.model.set_adapter(TTT_ADAPTER, inference_mode=True)
            evaluation = score(self.model)
            result.eval_seconds = time.perf_counter() - start
            outcomes.append(CandidateOutcome(train=result, evaluation=evaluation))
        return outcomes

    def score_base(self, score: Callable[[Any], Any]) -> Any:
        """`score(model)` on the bare base model (every adapter off)."""
        with self.model.disable_adapter():
            return score(self.model)
