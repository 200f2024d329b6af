import torch
from transformers import AutoModelForCausalLM, AutoTokenizer, LlamaForCausalLM

from seal_agent.model.loading import load_model_and_tokenizer
from seal_agent.model.tiny import build_tiny_model


def test_tiny_model_loads_through_from_pretrained(tiny_model_dir):
    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    assert isinstance(model, LlamaForCausalLM)
    assert model.config.vocab_size == len(tokenizer)
    for text in ["input:\n012\n345\noutput:\n", '[{"name": "train", "arguments": {"learning_rate": 0.001}}]', "ünïcode ✓ <script>"]:
        ids = tokenizer(text, add_special_tokens=False)["input_ids"]
        assert tokenizer.decode(ids) == text
    assert len(tokenizer("0123", add_special_tokens=False)["input_ids"]) == 4  # one token per byte
    prompt = tokenizer.apply_chat_template([{"role": "user", "content": "hi"}], add_generation_prompt=True, tokenize=False)
    assert prompt == "<|user|>\nhi<|end|>\n<|assistant|>\n"


def test_building_is_deterministic_and_reused(tmp_path):
    a = build_tiny_model(tmp_path / "a", seed=3, hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                         num_key_value_heads=1, intermediate_size=64)
    b = build_tiny_model(tmp_path / "b", seed=3, hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                         num_key_value_heads=1, intermediate_size=64)
    ma, _ = load_model_and_tokenizer(str(a), device="cpu")
    mb, _ = load_model_and_tokenizer(str(b), device="cpu")
    assert all(torch.equal(p, q) for p, q in zip(ma.parameters(), mb.parameters()))
    stamp = (a / "model.safetensors").stat().st_mtime_ns
    build_tiny_model(a, seed=3, hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                     num_key_value_heads=1, intermediate_size=64)
    assert (a / "model.safetensors").stat().st_mtime_ns == stamp


def test_a_word_tokenizer_keeps_words_whole_wherever_they_stand_and_covers_every_text(tmp_path):
    from seal_agent.model.tiny import build_word_tokenizer

    corpus = ["They say Ostrava is the home town of Venel Muurk.", '["Venel Muurk lives in Ostrava."]'] * 50
    tokenizer = build_word_tokenizer(corpus, vocab_size=400)
    # The same word is the same tokens after a space, a quote or a line break: a nano model can copy it.
    after = [tokenizer.tokenize(text)[1:] for text in (" Venel", '"Venel', "\nVenel")]
    assert after[0] == after[1] == after[2] == ["Venel"]
    for text in ['[{"name":"write_implications"}]', "ünïcode ✓ <script>", "Title: Jisil Fuash\n"]:
        assert tokenizer.decode(tokenizer(text, add_special_tokens=False)["input_ids"]) == text
    path = build_tiny_model(tmp_path / "m", seed=0, tokenizer=tokenizer, hidden_size=32, num_hidden_layers=1,
                            num_attention_heads=2, num_key_value_heads=1, intermediate_size=64)
    model, loaded = load_model_and_tokenizer(str(path), device="cpu")
    assert model.config.vocab_size == len(loaded) == len(tokenizer) <= 400
    assert loaded.tokenize("Venel Muurk") == tokenizer.tokenize("Venel Muurk")
    import json

    assert json.loads((path / "tiny_recipe.json").read_text())["tokenizer"] == {"kind": "word-bpe", "vocab_size": len(tokenizer)}


def test_half_precision_on_a_cpu_without_its_instructions_is_named_as_slow(monkeypatch, tiny_model_dir):
    import warnings

    import pytest

    from seal_agent.model import loading

    monkeypatch.setattr(loading, "cpu_slowdown", lambda dtype: 60.0)  # an AVX2-only CPU, as measured on one
    with pytest.warns(RuntimeWarning, match="60x slower than in float32.*model.dtype: float32"):
        load_model_and_tokenizer(str(tiny_model_dir), dtype="bfloat16", device="cpu")
    monkeypatch.setattr(loading, "cpu_slowdown", lambda dtype: 0.8)  # a CPU with avx512_bf16 or AMX
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        load_model_and_tokenizer(str(tiny_model_dir), dtype="bfloat16", device="cpu")
        load_model_and_tokenizer(str(tiny_model_dir), dtype="float32", device="cpu")


def test_the_cpu_slowdown_is_measured_not_assumed():
    from seal_agent.model.loading import cpu_slowdown

    assert cpu_slowdown(torch.float32) == cpu_slowdown(torch.float32)  # measured once per process
    assert cpu_slowdown(torch.bfloat16) > 0
