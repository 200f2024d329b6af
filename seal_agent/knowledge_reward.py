"""Rewards for knowledge incorporation: how well the model answers without the passage.

The question is asked with the passage's title but not its text (`question_prompt`).
    answer log-likelihood  mean over questions of log p(gold answer | question), summed
                           over the answer's tokens; the reward is its gain after the
                           update vs before. Needs no grader and is deterministic: the
                           default.
    exact match, token F1  SQuAD's standard metrics on greedy answers, best over the gold
                           answers (lower-cased, punctuation and articles removed).
"""

from __future__ import annotations

import re
import string
from collections import Counter
from collections.abc import Sequence

import torch
import torch.nn.functional as F

from seal_agent.knowledge_data import Passage


def question_prompt(passage: Passage, question: str) -> str:
    title = f"Topic: {passage.title}\n" if passage.title else ""
    return f"{title}Question: {question}\nAnswer:"


def answer_text(answer: str) -> str:
    return " " + answer.strip()


@torch.no_grad()
def answer_log_likelihood(model, tokenizer, prompts: Sequence[str], answers: Sequence[str]) -> list[float]:
    """log p(answer | prompt), summed over the answer's tokens, for each pair (one batch)."""
    rows, spans = [], []
    for prompt, answer in zip(prompts, answers):
        prompt_ids = tokenizer(prompt, add_special_tokens=True)["input_ids"]
        answer_ids = tokenizer(answer_text(answer), add_special_tokens=False)["input_ids"]
        rows.append(prompt_ids + answer_ids)
        spans.append((len(prompt_ids), len(prompt_ids) + len(answer_ids)))
    length = max(len(r) for r in rows)
    device = next(model.parameters()).device
    pad = tokenizer.pad_token_id
    input_ids = torch.tensor([r + [pad] * (length - len(r)) for r in rows], device=device)
    attention = torch.tensor([[1] * len(r) + [0] * (length - len(r)) for r in rows], device=device)
    log_probs = F.log_softmax(model(input_ids=input_ids, attention_mask=attention).logits.float(), dim=-1)
    scores = []
    for row, (start, end) in enumerate(spans):
        targets = input_ids[row, start:end]
        # Token t is predicted at position t - 1.
        scores.append(log_probs[row, start - 1 : end - 1].gather(1, targets[:, None]).sum().item())
    return scores


def normalize_answer(text: str) -> str:
    """SQuAD's normalisation: lower case, no punctuation, no articles, single spaces."""
    text = text.lower()
    text = "".join(ch for ch in text if ch not in set(string.punctuation))
    text = re.sub(r"\b(a|an|the)\b", " ", text)
    return " ".join(text.split())


def exact_match(prediction: str, golds: Sequence[str]) -> float:
    return float(any(normalize_answer(prediction) == normalize_answer(g) for g in golds))


def token_f1(prediction: str, golds: Sequence[str]) -> float:
    def f1(pred: str, gold: str) -> float:
        pred_tokens, gold_tokens = normalize_answer(pred).split(), normalize_answer(gold).split()
        common = Counter(pred_tokens) & Counter(gold_tokens)
        same = sum(common.values())
        if not pred_tokens or not gold_tokens:
            return float(pred_tokens == gold_tokens)
        if same == 0:
            return 0.0
        precision, recall = same / len(pred_tokens), same / len(gold_tokens)
        return 2 * precision * recall / (precision + recall)

    return max(f1(prediction, g) for g in golds)
