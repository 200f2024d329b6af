"""Training a whole model (every weight, no adapter) on prepared examples: how the nano
worlds' base models are pretrained (`seal_agent.arc.nano_pretrain`,
`seal_agent.knowledge.nano_pretrain`).

AdamW with weight decay 0.01, a short warmup then a cosine decay, gradient clipping at 1,
batches of similar-length examples. Deterministic in `seed` on one device.
"""

from __future__ import annotations

import random
from collections.abc import Callable

import torch
from transformers import get_cosine_schedule_with_warmup

from seal_agent.engine.examples import TrainingExample
from seal_agent.engine.sequential import collate


def length_grouped_batches(examples: list[TrainingExample], batch_size: int, rng: random.Random):
    """Endless batches of examples of similar length, in random order, each example once per pass.

    Self-edit sequences are several times longer than task sequences: a random batch would
    almost always hold one and be padded to its length, tripling the cost of a step.
    """
    while True:
        ordered = sorted(examples, key=lambda e: (len(e.input_ids), rng.random()))
        batches = [ordered[i:i + batch_size] for i in range(0, len(ordered) - batch_size + 1, batch_size)]
        rng.shuffle(batches)
        yield from batches


def train_full_model(
    model, tokenizer, examples: list[TrainingExample], *, steps: int, batch_size: int, learning_rate: float, seed: int,
    on_step: Callable[[int, float], None] | None = None,
) -> list[float]:
    """Train every weight of `model` for `steps` batches; returns the loss of every step (the model ends in eval mode)."""
    torch.manual_seed(seed)
    optimizer = torch.optim.AdamW(model.parameters(), lr=learning_rate, weight_decay=0.01)
    schedule = get_cosine_schedule_with_warmup(optimizer, num_warmup_steps=min(100, steps // 10), num_training_steps=steps)
    batches = length_grouped_batches(examples, batch_size, random.Random(seed))
    device = next(model.parameters()).device
    losses = []
    model.train()
    for step in range(steps):
        batch = collate(next(batches), tokenizer.pad_token_id, device)
        loss = model(**batch).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        schedule.step()
        optimizer.zero_grad(set_to_none=True)
        losses.append(round(loss.item(), 5))
        if on_step is not None:
            on_step(step + 1, losses[-1])
    model.eval()
    return losses
