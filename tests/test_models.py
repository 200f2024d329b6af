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
