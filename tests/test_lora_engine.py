import torch

from seal_agent.arc.data import ArcTask
from seal_agent.grids import Pair
from seal_agent.arc.ttt_data import build_training_data
from seal_agent.engine.sequential import LoraEngine
from seal_agent.model.adapters import TTT_ADAPTER, adapter_state

TASK = ArcTask(
    "t",
    train=tuple(Pair([[i, 0], [0, i]], [[0, i], [i, 0]]) for i in (1, 2, 3, 4)),
    test=(Pair([[5, 0], [0, 5]], [[0, 5], [5, 0]]),),
)


def mean_loss(engine, examples):
    from seal_agent.engine.sequential import collate

    engine.model.set_adapter(TTT_ADAPTER)
    with torch.no_grad():
        return engine.model(**collate(examples, engine.tokenizer.pad_token_id, "cpu")).loss.item()


def test_ttt_lowers_the_training_loss_on_a_fixed_task(tiny_peft):
    model, tokenizer = tiny_peft
    engine = LoraEngine(model, tokenizer, batch_size=2)
    data = build_training_data(TASK, [], tokenizer, "output_tokens", 16, 4096, seed=0)
    engine.reset()
    before = mean_loss(engine, data.examples)
    result = engine.train(data.examples, learning_rate=3e-3, epochs=8, seed=0)
    after = mean_loss(engine, data.examples)
    assert result.steps == len(result.losses) == 8 * ((len(data.examples) + 1) // 2)
    assert after < 0.7 * before, (before, after)


def test_every_candidate_starts_from_the_same_adapter(tiny_peft):
    model, tokenizer = tiny_peft
    engine = LoraEngine(model, tokenizer, batch_size=2)
    initial = adapter_state(model, TTT_ADAPTER)
    data = build_training_data(TASK, [], tokenizer, "all_tokens", 8, 4096, seed=0)
    first = engine.train(data.examples, 1e-3, 2, seed=1)
    second = engine.train(data.examples, 1e-3, 2, seed=1)
    assert first.losses == second.losses  # the second did not start from the first's weights
    engine.reset()
    assert all(torch.equal(initial[k], v) for k, v in adapter_state(model, TTT_ADAPTER).items())


def test_base_model_is_untouched_and_adapter_off_means_base(tiny_peft):
    model, tokenizer = tiny_peft
    engine = LoraEngine(model, tokenizer, batch_size=2)
    base_before = {n: p.clone() for n, p in model.named_parameters() if "lora_" not in n}
    prompts = ["input:\n1\noutput:\n"]
    base_text = engine.generate(prompts, 8, use_adapter=False)
    data = build_training_data(TASK, [], tokenizer, "all_tokens", 8, 4096, seed=0)
    engine.train(data.examples, 5e-3, 3, seed=0)
    assert all(torch.equal(p, base_before[n]) for n, p in model.named_parameters() if "lora_" not in n)
    assert engine.generate(prompts, 8, use_adapter=False) == base_text
