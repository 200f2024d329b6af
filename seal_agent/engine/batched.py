"""The batched multi-adapter engine: K candidates' LoRA updates trained and evaluated together.

The reference procedure (`seal_agent.engine.sequential.LoraEngine`) trains one candidate's
adapter at a time on batches of 2: a small model leaves the machine mostly idle, and
every candidate pays its own per-step overhead. Here the base model is still held once,
but the K candidates' adapters are stacked (`A: [K, r, in]`, `B: [K, out, r]` per target
layer) and applied by forward hooks on the frozen base linears: every row of a batch
carries the index of its candidate, and

    y_row = W x_row + scale * B[k_row] (A[k_row] x_row)

is the same LoRA update peft computes, for many adapters in one pass. Each training step
takes the next micro-batch of every candidate that is still training (its own data, loss
mask, learning rate and its schedule, epochs), runs one shared forward and backward, and
updates each candidate's slice with its own AdamW step and gradient clipping. Candidates
that finish drop out; the rest go on. Rows are sorted by length and split into chunks
under a token budget, so short sequences are not padded to the longest one; gradients
accumulate across chunks, so the update is the same.

Evaluation decodes every candidate's queries in shared batches, each row with its own
adapter and a KV cache (HF `generate`), greedily: the same tokens as each adapter alone.

With the same seeds, in fp32, each candidate's loss curve matches the reference procedure
to within floating-point error (tests/test_batched_engine.py). LoRA dropout must be 0 (the
paper's setting): dropout would make the two procedures draw different masks.
"""

from __future__ import annotations

import math
import time
import warnings
from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F

from seal_agent.engine.sequential import (
    CandidateFailed, CandidateOutcome, TrainJob, TrainResult, collate, greedy_generate, in_batches, lr_factor, micro_batches,
    time_limit_reason,
)
from seal_agent.engine.examples import IGNORE_INDEX, TrainingExample
from seal_agent.engine.stacked_lora import StackedLora, segments_of
from seal_agent.model.adapters import TTT_ADAPTER, adapter_state, load_adapter_state

BETAS = (0.9, 0.999)
EPS = 1e-8


class BatchedEngine:
    """Trains and evaluates K candidate adapters together against one base model."""

    def __init__(
        self, peft_model, tokenizer, *, batch_size: int, max_grad_norm: float = 1.0, max_tokens_per_pass: int = 8192,
        max_padding_fraction: float = 0.15, time_limit: float | None = None, lr_schedule: str = "cosine",
    ):
        self.model = peft_model
        self.time_limit = time_limit  # seconds of training a candidate may take; None: no limit
        self.max_padding_fraction = max_padding_fraction
        self.tokenizer = tokenizer
        self.batch_size = batch_size
        self.max_grad_norm = max_grad_norm
        self.max_tokens_per_pass = max_tokens_per_pass
        self.lr_schedule = lr_schedule
        lr_factor(lr_schedule, 0, 1)  # an unknown schedule fails here, not mid-run
        self.device = next(peft_model.parameters()).device
        self.stack: StackedLora | None = None
        # Captured now, before anything trains the "ttt" adapter: every slot starts from it.
        self.initial_state = adapter_state(peft_model, TTT_ADAPTER)

    # -- training ---------------------------------------------------------------------------
    def release(self) -> None:
        """Drop the stacked adapters (and their hooks): memory goes back before anything else runs."""
        if self.stack is not None:
            self.stack.remove()
            self.stack = None

    def shutdown(self) -> None:
        """Nothing outside this process."""
        self.release()

    def _load_stack(self, slots: int) -> StackedLora:
        self.release()
        # Every slot starts from the TTT adapter's initial weights, like every reference candidate.
        load_adapter_state(self.model, self.initial_state)
        self.stack = StackedLora(self.model, TTT_ADAPTER, slots)
        return self.stack

    def _token_losses(self, rows: list[tuple[int, TrainingExample]], stack: StackedLora) -> torch.Tensor:
        """Per-row sums of token cross-entropy."""
        batch = collate([example for _slot, example in rows], self.tokenizer.pad_token_id, self.device)
        stack.segments = segments_of([slot for slot, _example in rows])
        try:
            base = self.model.get_base_model()
            hidden = base.get_decoder()(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).last_hidden_state
        finally:
            stack.segments = None
        labels = batch["labels"][:, 1:]
        supervised = labels != IGNORE_INDEX
        # Logits only where there is a label: output-only loss needs a small fraction of them.
        logits = base.get_output_embeddings()(hidden[:, :-1][supervised]).float()
        token_loss = F.cross_entropy(logits, labels[supervised], reduction="none")
        row_of_token = supervised.nonzero()[:, 0]
        return torch.zeros(len(rows), device=self.device).index_add(0, row_of_token, token_loss)

    def train_many(self, jobs: list[TrainJob]) -> list[TrainResult | CandidateFailed]:
        """Train every job's adapter (slot k = jobs[k]) together; per job its losses or failure."""
        stack = self._load_stack(len(jobs))
        exp_avg, exp_avg_sq = torch.zeros_like(stack.flat), torch.zeros_like(stack.flat)
        schedules = [micro_batches(len(j.examples), j.epochs, self.batch_size, j.seed) for j in jobs]
        # Supervised tokens per example (the label predicted at each position), counted once.
        supervised = [[sum(1 for label in e.labels[1:] if label != IGNORE_INDEX) for e in j.examples] for j in jobs]
        results: list[TrainResult | CandidateFailed] = [TrainResult() for _ in jobs]
        steps = [0] * len(jobs)
        active = [bool(s) for s in schedules]
        start = time.perf_counter()
        self.model.eval()  # no dropout anywhere; the base stays frozen
        with self.model.disable_adapter():
            while any(active):
                rows = []
                counts = [0] * len(jobs)
                for k, job in enumerate(jobs):
                    if active[k]:
                        rows += [(k, job.examples[i]) for i in schedules[k][steps[k]]]
                        counts[k] = sum(supervised[k][i] for i in schedules[k][steps[k]])
                tokens_per_slot = torch.tensor(counts, dtype=torch.float32, device=self.device)
                stack.zero_grad()
                loss_per_slot = torch.zeros(len(jobs), device=self.device)
                # Sorted by length and cut under a token budget: little padding, same gradients.
                rows.sort(key=lambda r: len(r[1].input_ids))
                for chunk in self._chunks(rows):
                    chunk.sort(key=lambda r: r[0])  # rows of one candidate together: one block each
                    sums = self._token_losses(chunk, stack)
                    slots = torch.tensor([slot for slot, _ in chunk], device=self.device)
                    per_slot = torch.zeros(len(jobs), device=self.device).index_add(0, slots, sums)
                    per_slot = per_slot / tokens_per_slot.clamp(min=1)
                    finite = torch.isfinite(per_slot)
                    with warnings.catch_warnings():
                        # The gradients are views of one buffer (see StackedLora), not the layout
                        # autograd prefers; it accumulates into them in place all the same.
                        warnings.filterwarnings("ignore", message="grad and param do not obey the gradient layout contract")
                        per_slot.where(finite, torch.zeros_like(per_slot)).sum().backward()
                    loss_per_slot += per_slot.detach().where(finite, torch.full_like(per_slot, float("nan")))
                self._update(jobs, stack, exp_avg, exp_avg_sq, steps, schedules, active, loss_per_slot, results)
                if self.time_limit is not None and time.perf_counter() - start > self.time_limit:
                    for k in range(len(jobs)):  # still training when the time ran out
                        if active[k]:
                            results[k] = CandidateFailed(time_limit_reason(self.time_limit, steps[k], len(schedules[k])))
                            active[k] = False
        stack.freeze()  # the adapters stay for evaluation; their gradients and Adam state do not
        del exp_avg, exp_avg_sq
        seconds = time.perf_counter() - start
        for result in results:
            if isinstance(result, TrainResult):
                result.seconds = seconds / len(jobs)  # the shared time, split evenly
        return results

    def _chunks(self, rows):
        """Cut length-sorted rows into passes: under the token budget, and with at most
        `max_padding_fraction` of each pass's tokens being padding."""
        chunk, real = [], 0
        for row in rows:
            length = len(row[1].input_ids)  # rows are sorted: `length` is the longest so far
            padded = length * (len(chunk) + 1)
            too_big = padded > self.max_tokens_per_pass
            too_padded = 1 - (real + length) / padded > self.max_padding_fraction
            if chunk and (too_big or too_padded):
                yield chunk
                chunk, real = [], 0
            chunk.append(row)
            real += length
        if chunk:
            yield chunk

    @torch.no_grad()
    def _update(self, jobs, stack: StackedLora, exp_avg, exp_avg_sq, steps, schedules, active, losses, results) -> None:
        """Every active candidate's AdamW step at once (torch's formula), each with its own
        learning rate, schedule, bias correction and gradient clipping; one host sync per step.
        Row k of the flat buffers is candidate k's every LoRA weight."""
        k_count = len(jobs)
        loss_values = losses.tolist()  # the one sync: losses are recorded and checked on the host
        for k in range(k_count):
            if active[k] and not math.isfinite(loss_values[k]):
                results[k] = CandidateFailed(f"training loss became {loss_values[k]} at step {steps[k] + 1}")
                active[k] = False
        updating = [k for k in range(k_count) if active[k]]
        if not updating:
            return
        p, g, m, v = stack.flat, stack.flat_grad, exp_avg, exp_avg_sq
        keep = torch.zeros(k_count, 1, dtype=torch.bool, device=p.device)
        keep[updating] = True
        # Per-candidate gradient norm over all of its weights, as clip_grad_norm_ computes it.
        clip = (self.max_grad_norm / (g.pow(2).sum(dim=1, keepdim=True).sqrt() + 1e-6)).clamp(max=1.0)
        t = torch.tensor([steps[k] + 1 for k in range(k_count)], dtype=torch.float64)
        lr = torch.tensor([jobs[k].learning_rate * lr_factor(self.lr_schedule, steps[k], len(schedules[k])) for k in range(k_count)],
                          dtype=torch.float64)
        step_size = (lr / (1 - BETAS[0] ** t)).to(device=p.device, dtype=p.dtype).view(k_count, 1)
        bias2_sqrt = (1 - BETAS[1] ** t).sqrt().to(device=p.device, dtype=p.dtype).view(k_count, 1)
        g = g * clip
        m.copy_(torch.where(keep, m * BETAS[0] + g * (1 - BETAS[0]), m))
        v.copy_(torch.where(keep, v * BETAS[1] + g * g * (1 - BETAS[1]), v))
        p.sub_(torch.where(keep, step_size * m / (v.sqrt() / bias2_sqrt + EPS), torch.zeros_like(p)))
        for k in updating:
            results[k].losses.append(round(loss_values[k], 6))
            results[k].steps += 1
            steps[k] += 1
            active[k] = steps[k] < len(schedules[k])

    def export_adapters(self, directory, slots: list[int]) -> list:
        """Save each trained slot as a peft adapter, `directory/slot_<k>/ttt`, for another engine to load.

        The vLLM backend evaluates candidates this way (one `LoRARequest` per directory).
        The peft adapter is put back to its initial weights afterwards.
        """
        from pathlib import Path

        if self.stack is None:
            raise RuntimeError("no trained adapters to export: call train_many first")
        paths = []
        try:
            for slot in slots:
                self.stack.copy_slot_to_adapter(slot)
                out = Path(directory) / f"slot_{slot}"
                self.model.save_pretrained(str(out), selected_adapters=[TTT_ADAPTER])
                paths.append(out / TTT_ADAPTER)
        finally:
            load_adapter_state(self.model, self.initial_state)
        return paths

    # -- generation -------------------------------------------------------------------------
    def generate(self, prompts: list[str], max_new_tokens: int, slots: list[int] | None = None) -> list[str]:
        """Greedy completions; row i uses adapter slot `slots[i]` (None: the bare base model).

        Rows of the same slot must be contiguous (a block per candidate)."""
        if slots is not None and self.stack is None:
            raise RuntimeError("no trained adapters to generate with: call train_many first")
        with self.model.disable_adapter():
            if slots is not None:
                self.stack.segments = segments_of(slots)
            try:
                return greedy_generate(self.model, self.tokenizer, prompts, max_new_tokens)
            finally:
                if self.stack is not None:
                    self.stack.segments = None

    # -- the engine protocol ----------------------------------------------------------------
    def train_and_generate(
        self, jobs: list[TrainJob], prompts: list[str], max_new_tokens: int, batch_size: int
    ) -> list[CandidateOutcome]:
        """Train all jobs together, then decode every (job, prompt) pair in shared batches."""
        if not jobs:
            return []
        trained = self.train_many(jobs)
        outcomes = [
            CandidateOutcome(failure=str(r)) if isinstance(r, CandidateFailed) else CandidateOutcome(train=r) for r in trained
        ]
        rows = [(k, p) for k, o in enumerate(outcomes) if o.failure is None for p in range(len(prompts))]
        start = time.perf_counter()
        for first in range(0, len(rows), batch_size):
            chunk = rows[first : first + batch_size]
            texts = self.generate([prompts[p] for _, p in chunk], max_new_tokens, slots=[k for k, _ in chunk])
            for (k, _p), text in zip(chunk, texts):
                outcomes[k].outputs.append(text)
        eval_seconds = (time.perf_counter() - start) / max(1, sum(o.failure is None for o in outcomes))
        for outcome in outcomes:
            if outcome.train is not None:
                outcome.train.eval_seconds = eval_seconds
        self.release()
        return outcomes

    def generate_base(self, prompts: list[str], max_new_tokens: int, batch_size: int) -> list[str]:
        return in_batches(lambda chunk: self.generate(chunk, max_new_tokens), prompts, batch_size)

    def train_and_score(self, jobs: list[TrainJob], score: Callable[[Any], Any]) -> list[CandidateOutcome]:
        """Train all jobs together, then call `score(model)` once per job with its slot routed."""
        if not jobs:
            return []
        trained = self.train_many(jobs)
        outcomes = []
        try:
            with self.model.disable_adapter():
                for k, result in enumerate(trained):
                    if isinstance(result, CandidateFailed):
                        outcomes.append(CandidateOutcome(failure=str(result)))
                        continue
                    start = time.perf_counter()
                    self.stack.segments = k
                    try:
                        evaluation = score(self.model)
                    finally:
                        self.stack.segments = None
                    result.eval_seconds = time.perf_counter() - start
                    outcomes.append(CandidateOutcome(train=result, evaluation=evaluation))
        finally:
            self.release()
        return outcomes

    def score_base(self, score: Callable[[Any], Any]) -> Any:
        """`score(model)` on the bare base model (every adapter off)."""
        self.release()
        with self.model.disable_adapter():
            return score(self.model)
