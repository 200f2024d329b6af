"""Build a tiny Llama-architecture model and a byte-level tokenizer, save them, load them back.

The smoke preset and the test suite never download weights. Instead they build a model of
a real architecture (Llama: RoPE, SwiGLU MLP, RMSNorm, grouped-query attention) from a
config, save it with `save_pretrained`, and load it through the ordinary `from_pretrained`
path in `seal_agent.model.loading` — exactly the path a hub model such as
`meta-llama/Llama-3.2-1B-Instruct` takes.

The tokenizer is byte-level BPE with no merges: one token per byte, so it covers ARC grid
text, the JSON of tool calls, and any unicode a model might be shown, with 256 tokens plus a
few special ones. It carries a small chat template so the policy can format chat messages
the same way it would for an instruct model.

    python -c "from seal_agent.model.tiny import build_tiny_model; build_tiny_model('tiny')"
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

from seal_agent.run.directory import write_atomic

BOS, EOS, PAD = "<|begin|>", "<|end|>", "<|pad|>"
USER, ASSISTANT, SYSTEM = "<|user|>", "<|assistant|>", "<|system|>"
SPECIAL_TOKENS = [PAD, BOS, EOS, SYSTEM, USER, ASSISTANT]

# A minimal chat format: each message is "<|role|>\n{content}<|end|>\n"; the generation
# prompt opens an assistant turn. `<|end|>` is also the EOS token, so a model trained on
# this format stops after its turn.
CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|' + message['role'] + '|>\n' + message['content'] + '<|end|>\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|assistant|>\n' }}{% endif %}"
)


# The nano worlds' model sizes (`seal pretrain nano --size`): small pretrains in minutes on a CPU.
SIZES = {
    "small": dict(hidden_size=128, num_hidden_layers=4, num_attention_heads=4, num_key_value_heads=2,
                  intermediate_size=384, initializer_range=0.02),
    "medium": dict(hidden_size=384, num_hidden_layers=8, num_attention_heads=6, num_key_value_heads=2,
                   intermediate_size=1024, initializer_range=0.02),
}

def with_chat_format(tokenizer: Tokenizer) -> PreTrainedTokenizerFast:
    """A `tokenizers` tokenizer as a transformers one with the special tokens and chat template above."""
    return PreTrainedTokenizerFast(
        tokenizer_object=tokenizer,
        bos_token=BOS,
        eos_token=EOS,
        pad_token=PAD,
        chat_template=CHAT_TEMPLATE,
        model_max_length=8192,
    )


def build_byte_tokenizer() -> PreTrainedTokenizerFast:
    """A byte-level BPE tokenizer with an empty merge list: exactly one token per byte."""
    byte_to_unicode = pre_tokenizers.ByteLevel.alphabet()
    vocab = {symbol: index for index, symbol in enumerate(sorted(byte_to_unicode))}
    for token in SPECIAL_TOKENS:
        vocab[token] = len(vocab)
    tokenizer = Tokenizer(models.BPE(vocab=vocab, merges=[], fuse_unk=False))
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)
    tokenizer.decoder = decoders.ByteLevel()
    tokenizer.add_special_tokens(SPECIAL_TOKENS)
    return with_chat_format(tokenizer)


def build_word_tokenizer(corpus, vocab_size: int = 1024) -> PreTrainedTokenizerFast:
    """A byte-level BPE tokenizer whose merges are learned from `corpus` (an iterable of texts).

    Text is first cut at every space and punctuation mark, each kept as its own piece, so a
    word is the same token sequence wherever it stands: "Venel" after a quote, a space or a
    line break. (GPT-2's pre-tokenizer glues the space to the word, so a nano model would
    have to learn that " Venel" and "Venel" are one name before it could copy a name from a
    passage into a statement that starts with it.) Any byte still has its own token, so the
    tokenizer covers every text, as the byte tokenizer does.
    """
    tokenizer = Tokenizer(models.BPE(fuse_unk=False))
    tokenizer.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(r"\s|[^\w\s]"), behavior="isolated"),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
    ])
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=SPECIAL_TOKENS, show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tokenizer.train_from_iterator(corpus, trainer=trainer)
    return with_chat_format(tokenizer)


# The tiny model's architecture unless a caller says otherwise (`build_tiny_model(**architecture)`).
TINY_ARCHITECTURE = dict(hidden_size=256, num_hidden_layers=4, num_attention_heads=8, num_key_value_heads=4,
                         intermediate_size=768, max_position_embeddings=8192, initializer_range=0.02,
                         tie_word_embeddings=False)


def tiny_llama_config(vocab_size: int, **settings) -> LlamaConfig:
    """A Llama config of `TINY_ARCHITECTURE` with `settings` over it (sizes, special token ids)."""
    unknown = set(settings) - set(TINY_ARCHITECTURE) - {"bos_token_id", "eos_token_id", "pad_token_id"}
    if unknown:
        raise TypeError(f"unknown tiny-model settings: {sorted(unknown)}")
    return LlamaConfig(vocab_size=vocab_size, rope_theta=10000.0, **{**TINY_ARCHITECTURE, **settings})


def build_tiny_model(out_dir: str | Path, seed: int = 0, tokenizer: PreTrainedTokenizerFast | None = None,
                     **architecture: float) -> Path:
    """Build a randomly initialised tiny Llama and its tokenizer, save both to `out_dir`.

    `tokenizer`: the byte tokenizer unless given (a nano world passes one of
    `build_word_tokenizer`, recorded in the recipe by its vocabulary size). `architecture` is passed to `tiny_llama_config` (hidden_size, num_hidden_layers,
    num_attention_heads, num_key_value_heads, intermediate_size, initializer_range).
    Building is deterministic in `seed`. If `out_dir` already holds a model built with the
    same recipe it is reused, so a resumed run sees the very same weights.
    """
    out_dir = Path(out_dir)
    recipe = {"seed": seed, **architecture}
    if tokenizer is not None:
        recipe["tokenizer"] = {"kind": "word-bpe", "vocab_size": len(tokenizer)}
    recipe_path = out_dir / "tiny_recipe.json"
    if recipe_path.exists() and json.loads(recipe_path.read_text()) == recipe:
        return out_dir

    tokenizer = tokenizer or build_byte_tokenizer()
    config = tiny_llama_config(
        vocab_size=len(tokenizer),
        **architecture,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    # Seed a private generator state so building never disturbs the caller's RNG.
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = LlamaForCausalLM(config)
    out_dir.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out_dir)
    tokenizer.save_pretrained(out_dir)
    # Written last, and atomically: its presence means the directory is complete.
    write_atomic(recipe_path, json.dumps(recipe, indent=2))
    return out_dir


def recipe_summary(model_dir: str | Path) -> dict | None:
    """A `seal pretrain nano` model's recipe without its per-step losses (None for another model):
    what a results table records to say which model it measured."""
    path = Path(model_dir) / "nano_recipe.json"
    if not path.exists():
        return None
    recipe = json.loads(path.read_text())
    losses = recipe.pop("loss_curve", [])
    return {**recipe, "first_loss": losses[0] if losses else None,
            "last_100_mean_loss": sum(losses[-100:]) / max(1, len(losses[-100:]))}


def model_identity(model: str | Path) -> Any:
    """What a results table records to tell models apart: a `seal pretrain nano` model's recipe
    and losses (not the seconds it took, not where it lies), another model directory's full
    path, a hub id as given."""
    path = Path(model)
    if not path.is_dir():
        return str(model)
    recipe = recipe_summary(path)
    if recipe is None:
        return str(path.resolve())
    return {"recipe": {k: v for k, v in recipe.items() if k != "seconds"}}
