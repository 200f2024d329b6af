"""`seal pretrain nano --world knowledge`: a small Llama pretrained on the nano knowledge world.

    seal pretrain nano --world knowledge --out models/nano-knowledge \
        --steps 4000 --self-edit-steps 2700 --refresh-steps 800

The pretraining people (`nano_world.people("pretraining", ...)`; no rl or eval person can
appear) come in two groups:
    qa     their passage, their facts restated person first, and one question per fact
           with its answer (in the question format the reward asks with, the answer alone
           in the loss): the model learns to answer from facts it holds in its weights;
    text   their passage and restatements only, no question: held out, they show whether
           answering reaches facts the model only read (`qa_accuracy_on_text_people` in
           the recipe).
Every text sequence has the update's own format ("title\\ntext", every token in the loss).

And self-edits written after the real knowledge prompt (`knowledge_messages`, variant
`implications`, its compact form, through the chat template), only the tool call in the loss: the initial
policy's prior. Each fact of the passage is, independently, restated person first
(`PRIOR["restate"]`), copied as the passage says it (`PRIOR["copy"]`) or left out; the
prior knows nothing about which of these makes a fact answerable later.

The mixed corpus teaches answering, and copying only slowly (after 4000 steps the prior
copied no name or value of a new passage). So two later phases (`pretrain_knowledge_nano`):
self-edits alone, a fresh person each (none can be recalled instead of copied), until the
model copies; then the answering corpus again beside fresh self-edits, since the second
phase alone erodes answering (docs/results/knowledge-nano.md).
"""

from __future__ import annotations

import json
import random
import time
from pathlib import Path

import torch

from seal_agent.engine.examples import TrainingExample
from seal_agent.engine.full_training import train_full_model
from seal_agent.engine.sequential import greedy_generate
from seal_agent.knowledge import nano_world
from seal_agent.knowledge.prompts import knowledge_messages, variant_tools
from seal_agent.knowledge.reward import answer_text, first_line, question_prompt
from seal_agent.knowledge.update import update_examples
from seal_agent.model.loading import load_model_and_tokenizer
from seal_agent.model.tiny import SIZES, build_byte_tokenizer, build_tiny_model, build_word_tokenizer
from seal_agent.policy.local import render_chat
from seal_agent.policy.tool_format import SEPARATORS
from seal_agent.rl.sft import completion_example
from seal_agent.tools import knowledge_tools

PROMPT, PROMPT_FORM = "implications", "compact"  # a nano run must ask with the same (policy.prompt, policy.prompt_form)
TOKENIZERS = ("bytes", "words")
PRIOR = {"restate": 0.35, "copy": 0.45}  # the rest of the time a fact is left out


def qa_examples(tokenizer, passage) -> list[TrainingExample]:
    return [completion_example(tokenizer, question_prompt(passage, q.question), answer_text(q.answers[0]))
            for q in passage.questions]


def prior_statements(person: nano_world.Person, rng: random.Random) -> list[str]:
    """One self-edit's statements drawn from the prior (never empty)."""
    copies, restated = nano_world.passage_sentences(person), nano_world.restatements(person)
    statements = []
    for copy, restatement in zip(copies, restated):
        draw = rng.random()
        if draw < PRIOR["restate"]:
            statements.append(restatement)
        elif draw < PRIOR["restate"] + PRIOR["copy"]:
            statements.append(copy)
    return statements or [copies[rng.randrange(len(copies))]]


def self_edit_example(tokenizer, person: nano_world.Person, rng: random.Random, tools) -> TrainingExample:
    passage = nano_world.passage_of(person)
    prompt = render_chat(tokenizer, knowledge_messages(passage, PROMPT, tools, PROMPT_FORM))
    call = [{"name": "write_implications", "arguments": {"statements": prior_statements(person, rng)}}]
    return completion_example(tokenizer, prompt, json.dumps(call, separators=SEPARATORS))


def pretraining_examples(tokenizer, qa_people: int, text_people: int, self_edits: int, seed: int):
    """The corpus, and the held-out text people (for the recipe's extraction check)."""
    rng = random.Random(seed)
    crowd = nano_world.people("pretraining", qa_people + text_people + self_edits, seed)
    qa, text, prompts = crowd[:qa_people], crowd[qa_people:qa_people + text_people], crowd[qa_people + text_people:]
    tools = variant_tools(PROMPT, knowledge_tools())
    examples: list[TrainingExample] = []
    for person in qa + text:
        passage = nano_world.passage_of(person)
        examples += update_examples(tokenizer, passage, nano_world.restatements(person))
    for person in qa:
        examples += qa_examples(tokenizer, nano_world.passage_of(person))
    examples += [self_edit_example(tokenizer, person, rng, tools) for person in prompts]
    rng.shuffle(examples)
    return examples, text


@torch.no_grad()
def qa_accuracy(model, tokenizer, people: list[nano_world.Person], max_new_tokens: int = 8) -> float:
    """Exact match of greedy answers (first line) to every question about `people`, without their passages."""
    passages = [nano_world.passage_of(p) for p in people]
    prompts = [question_prompt(p, q.question) for p in passages for q in p.questions]
    golds = [q.answers[0] for p in passages for q in p.questions]
    answers = []
    for first in range(0, len(prompts), 32):
        answers += greedy_generate(model, tokenizer, prompts[first:first + 32], max_new_tokens)
    return sum(first_line(a) == g for a, g in zip(answers, golds)) / max(1, len(golds))


def world_tokenizer(qa_people: int, text_people: int, self_edits: int, seed: int, vocab_size: int):
    """A word tokenizer (`build_word_tokenizer`) learned from the pretraining corpus itself.

    With one token per byte a name is a dozen tokens, and a small model spends thousands of
    steps before it copies one from a passage into a statement; with 640 word pieces a name
    is four or five. The pieces come from pretraining people only, and every role's
    names are made of the same syllables, so an evaluation name splits into pieces the model
    has seen.
    """
    bytes_tokenizer = build_byte_tokenizer()
    examples, _ = pretraining_examples(bytes_tokenizer, qa_people, text_people, self_edits, seed)
    return build_word_tokenizer((bytes_tokenizer.decode(e.input_ids, skip_special_tokens=True) for e in examples),
                                vocab_size)


def fresh_self_edit_examples(tokenizer, count: int, seed: int, skip: int = 0) -> list[TrainingExample]:
    """Self-edit examples of `count` pretraining people after the first `skip` of `people(..., seed)`:
    a fresh person for every example of the later phases, as far as the names go, so no
    self-edit can be recalled instead of copied from its passage."""
    count = min(count, nano_world.capacity("pretraining") - skip)
    rng = random.Random(f"prior:{seed}:{skip}")
    tools = variant_tools(PROMPT, knowledge_tools())
    return [self_edit_example(tokenizer, person, rng, tools)
            for person in nano_world.people("pretraining", skip + count, seed)[skip:]]


def pretrain_knowledge_nano(
    out: str | Path, size: str = "small", steps: int = 2000, batch_size: int = 16, learning_rate: float = 3e-3,
    seed: int = 0, data_seed: int = 1, qa_people: int = 600, text_people: int = 100, self_edits: int = 2400,
    device: str = "auto", on_step=None, self_edit_steps: int = 0, self_edit_learning_rate: float = 1e-3,
    refresh_steps: int = 0, tokenizer_kind: str = "bytes", vocab_size: int = 640,
) -> dict:
    """Build, pretrain and save; returns the recipe (also written to `out/nano_recipe.json`).

    Up to three phases:
      1. `steps` on the mixed corpus (`pretraining_examples`) at `learning_rate`;
      2. `self_edit_steps` on self-edit examples alone, a fresh person each
         (`fresh_self_edit_examples`), at `self_edit_learning_rate`: the prior must copy
         names and values from the passage, which the mixed corpus teaches slowly;
      3. `refresh_steps` on phase 1's qa and text people with fresh self-edits, at
         `self_edit_learning_rate`: phase 2 alone erodes answering from trained-in facts
         (docs/results/knowledge-nano.md), this brings it back and keeps the copying.
    `tokenizer_kind`: "bytes" (one token per byte) or "words" (`world_tokenizer` with
    `vocab_size` pieces: three times fewer tokens per step; it did not copy better).
    """
    out = Path(out)
    if tokenizer_kind not in TOKENIZERS:
        raise ValueError(f"unknown tokenizer {tokenizer_kind!r}; choose {', '.join(TOKENIZERS)}")
    words = world_tokenizer(qa_people, text_people, self_edits, data_seed, vocab_size) if tokenizer_kind == "words" else None
    build_tiny_model(out, seed=seed, tokenizer=words, **SIZES[size])
    model, tokenizer = load_model_and_tokenizer(str(out), "float32", device)
    examples, held_out = pretraining_examples(tokenizer, qa_people, text_people, self_edits, data_seed)
    used = qa_people + text_people + self_edits  # phase 1's people come first in `people(..., data_seed)`
    phases = [(steps, learning_rate, lambda: examples)]
    if self_edit_steps:
        phases.append((self_edit_steps, self_edit_learning_rate,
                       lambda: fresh_self_edit_examples(tokenizer, self_edit_steps * batch_size, data_seed, skip=used)))
    if refresh_steps:
        answering, _ = pretraining_examples(tokenizer, qa_people, text_people, 0, data_seed)
        phases.append((refresh_steps, self_edit_learning_rate,
                       lambda: answering + fresh_self_edit_examples(tokenizer, len(answering), data_seed + 1)))
    start, losses = time.perf_counter(), []
    for number, (phase_steps, phase_rate, phase_examples) in enumerate(phases):
        done = len(losses)
        losses += train_full_model(
            model, tokenizer, phase_examples(), steps=phase_steps, batch_size=batch_size, learning_rate=phase_rate,
            seed=seed + number, on_step=None if on_step is None else lambda step, loss: on_step(done + step, loss))
    model.save_pretrained(out)
    recipe = {
        "world": "knowledge", "size": size, "architecture": SIZES[size],
        "parameters": sum(p.numel() for p in model.parameters()), "tokenizer": tokenizer_kind, "vocab_size": len(tokenizer),
        "steps": steps, "batch_size": batch_size, "learning_rate": learning_rate, "seed": seed, "data_seed": data_seed,
        "examples": len(examples), "self_edit_steps": self_edit_steps, "refresh_steps": refresh_steps,
        "self_edit_learning_rate": self_edit_learning_rate,
        "people": {"qa": qa_people, "text": text_people, "self_edit_prompts": self_edits},
        "self_edit_prompt": PROMPT, "self_edit_prompt_form": PROMPT_FORM, "self_edit_prior": PRIOR,
        "qa_accuracy_on_text_people": round(qa_accuracy(model, tokenizer, held_out), 4),
        "seconds": round(time.perf_counter() - start, 1), "loss_curve": losses,
    }
    (out / "nano_recipe.json").write_text(json.dumps(recipe, indent=1))
    return recipe
