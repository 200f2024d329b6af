"""Rewards for knowledge incorporation: how well the model answers without the passage.

The question is asked with the passage's title but not its text (`question_prompt`).
    answer log-likelihood  mean over questions of log p(gold answer | question), summed
                           over the answer's tokens; the reward is its gain after the
                           update vs before. Needs no grader and is deterministic: the
                           default.
    exact match, token F1  SQuAD's standard metrics on greedy answers, best over the gold
                           answers (lower-cased, punctuation and articles removed).
    contains               a gold answer appears as whole words in the greedy answer (a
                           lenient grade that needs no grader; reported, not a reward kind).
    judge                  an LLM grader (any LangChain chat model) answers yes or no to
                           "is this answer correct?"; optional, never required.

`score_passage` evaluates one model (with whatever adapter is switched on) on a passage's
questions; `passage_metrics` turns that into the figures; `reward_of` gives a candidate's
reward and its improvement over the base model, for the chosen reward kind.
"""

from __future__ import annotations

import re
import string
from collections import Counter
from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F

from seal_agent.knowledge.data import Passage
from seal_agent.engine.sequential import greedy_generate


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


def contains_answer(prediction: str, golds: Sequence[str]) -> float:
    """1.0 if a gold answer appears, as whole words, in the prediction (both normalised):
    "He lives in Pelmora" answers "Pelmora". Lenient like SEAL's grader, and needs none."""
    padded = f" {normalize_answer(prediction)} "
    return float(any(normalize_answer(g) and f" {normalize_answer(g)} " in padded for g in golds))


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


def first_line(text: str) -> str:
    """A greedy answer ends at its first line break (the model may go on with anything)."""
    return text.strip().split("\n", 1)[0].strip()


def score_passage(
    model, tokenizer, passage: Passage, *, batch_size: int, answer_max_new_tokens: int | None, first_line_only: bool = True,
) -> dict[str, Any]:
    """Per question: the best log-likelihood over its gold answers, and the greedy answer.

    `answer_max_new_tokens=None` skips decoding (the log-likelihood reward needs none).
    `first_line_only`: the answer is cut at its first line break; otherwise the whole greedy
    continuation is graded (SEAL's code: up to 64 tokens, to a lenient grader).
    """
    pairs = [(q, i, gold) for i, q in enumerate(passage.questions) for gold in q.answers]
    prompts = [question_prompt(passage, q.question) for q, _i, _gold in pairs]
    scores: list[float] = []
    for first in range(0, len(pairs), batch_size):
        chunk = pairs[first : first + batch_size]
        scores += answer_log_likelihood(model, tokenizer, prompts[first : first + batch_size], [g for _q, _i, g in chunk])
    best = [max(s for s, (_q, i, _g) in zip(scores, pairs) if i == index) for index in range(len(passage.questions))]
    result: dict[str, Any] = {"loglik": best, "answers": None}
    if answer_max_new_tokens is not None:
        questions = [question_prompt(passage, q.question) for q in passage.questions]
        answers: list[str] = []
        for first in range(0, len(questions), batch_size):
            answers += greedy_generate(model, tokenizer, questions[first : first + batch_size], answer_max_new_tokens)
        result["answers"] = [first_line(a) if first_line_only else a.strip() for a in answers]
    return result


JUDGE_PROMPT = """Grade a quiz answer. Reply with one word: yes if the answer given means the same as one of the correct answers, no otherwise.
Question: {question}
Correct answers: {golds}
Answer given: {prediction}
Is the answer given correct?"""


def judge_answers(judge, passage: Passage, answers: Sequence[str]) -> list[float]:
    """1.0 per answer the judge calls correct, else 0.0; the judge sees no passage either."""
    grades = []
    for question, answer in zip(passage.questions, answers):
        prompt = JUDGE_PROMPT.format(question=question.question, golds=" | ".join(question.answers), prediction=answer or "(none)")
        reply = judge.invoke(prompt)
        grades.append(1.0 if reply.text.strip().lower().startswith("yes") else 0.0)
    return grades


def passage_metrics(scored: dict[str, Any], passage: Passage, judge=None) -> dict[str, Any]:
    """Means over the passage's questions: loglik always; exact_match and f1 with answers; judge with a judge."""
    count = len(passage.questions)
    metrics: dict[str, Any] = {"loglik": sum(scored["loglik"]) / count}
    answers = scored.get("answers")
    if answers is not None:
        golds = [q.answers for q in passage.questions]
        metrics["exact_match"] = sum(exact_match(a, g) for a, g in zip(answers, golds)) / count
        metrics["f1"] = sum(token_f1(a, g) for a, g in zip(answers, golds)) / count
        metrics["contains"] = sum(contains_answer(a, g) for a, g in zip(answers, golds)) / count
        if judge is not None:
            metrics["judge"] = sum(judge_answers(judge, passage, answers)) / count
    return metrics


def mean_metrics(items: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Key-wise means of metric dicts (over seeds, passages or self-edits); {} for none."""
    return {key: sum(m[key] for m in items) / len(items) for key in items[0]} if items else {}


def reward_of(kind: str, after: dict[str, Any], base: dict[str, Any]) -> tuple[float, float]:
    """(reward, improvement over the base model) for the reward kind.

    loglik: the reward is the gain itself. exact_match, f1, judge: the reward is the score
    after the update; the improvement is that minus the base model's score.
    """
    if kind == "loglik":
        gain = after["loglik"] - base["loglik"]
        return gain, gain
    return after[kind], after[kind] - base[kind]
