"""Passages with questions, for knowledge incorporation: loading and validation.

Two formats are read:
    SQuAD v1.1 JSON   {"data": [{"title", "paragraphs": [{"context", "qas": [{"question",
                      "answers": [{"text", ...}], "id"?}]}]}]}; one passage per paragraph.
    JSONL             one passage per line: {"title", "context", "questions": [{"question",
                      "answers": ["...", ...]}]}; "title" is optional.

Files are untrusted: `PassageError` names the file, the record (line number, or data /
paragraph index) and the field. Nothing is downloaded; the tests write passages with
made-up facts.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any


class PassageError(Exception):
    """A passage file that cannot be used; the message names the file, record and field."""


@dataclass(frozen=True)
class Question:
    question: str
    answers: tuple[str, ...]


@dataclass(frozen=True)
class Passage:
    passage_id: str
    title: str
    context: str
    questions: tuple[Question, ...]


def _text(value: Any, where: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise PassageError(f"{where} must be a non-empty string")
    return value


def _questions(raw: Any, where: str, answer_key: str | None) -> tuple[Question, ...]:
    if not isinstance(raw, list) or not raw:
        raise PassageError(f"{where} must be a non-empty list of questions")
    questions = []
    for i, item in enumerate(raw):
        here = f"{where}[{i}]"
        if not isinstance(item, dict):
            raise PassageError(f"{here} must be an object with 'question' and 'answers'")
        question = _text(item.get("question"), f"{here}.question")
        answers = item.get("answers")
        if not isinstance(answers, list) or not answers:
            raise PassageError(f"{here}.answers must be a non-empty list")
        texts = []
        for j, answer in enumerate(answers):
            value = answer.get(answer_key) if answer_key and isinstance(answer, dict) else answer
            texts.append(_text(value, f"{here}.answers[{j}]" + (f".{answer_key}" if answer_key else "")))
        questions.append(Question(question, tuple(texts)))
    return tuple(questions)


def load_squad(path: Path) -> list[Passage]:
    try:
        raw = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError, UnicodeDecodeError) as err:
        raise PassageError(f"{path}: not a readable JSON file: {err}") from None
    if not isinstance(raw, dict) or not isinstance(raw.get("data"), list):
        raise PassageError(f"{path}: the top level must be an object with a 'data' list (SQuAD v1.1)")
    passages = []
    for d, article in enumerate(raw["data"]):
        where = f"{path}: data[{d}]"
        if not isinstance(article, dict) or not isinstance(article.get("paragraphs"), list):
            raise PassageError(f"{where}.paragraphs must be a list")
        title = article.get("title") if isinstance(article.get("title"), str) else f"article {d}"
        for p, paragraph in enumerate(article["paragraphs"]):
            here = f"{where}.paragraphs[{p}]"
            if not isinstance(paragraph, dict):
                raise PassageError(f"{here} must be an object with 'context' and 'qas'")
            context = _text(paragraph.get("context"), f"{here}.context")
            questions = _questions(paragraph.get("qas"), f"{here}.qas", answer_key="text")
            passages.append(Passage(f"{d}-{p}", title, context, questions))
    return passages


def load_jsonl(path: Path) -> list[Passage]:
    try:
        lines = path.read_text().splitlines()
    except (OSError, UnicodeDecodeError) as err:
        raise PassageError(f"{path}: cannot read: {err}") from None
    passages = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        where = f"{path}: line {number}"
        try:
            record = json.loads(line)
        except json.JSONDecodeError as err:
            raise PassageError(f"{where}: not valid JSON: {err.msg}") from None
        if not isinstance(record, dict):
            raise PassageError(f"{where}: must be an object with 'context' and 'questions'")
        title = record.get("title", "")
        if not isinstance(title, str):
            raise PassageError(f"{where}: title must be a string")
        context = _text(record.get("context"), f"{where}: context")
        questions = _questions(record.get("questions"), f"{where}: questions", answer_key=None)
        passages.append(Passage(str(record.get("id", number)), title, context, questions))
    return passages


def load_passages(path: str | Path) -> list[Passage]:
    """Passages from a SQuAD v1.1 .json file or a .jsonl file."""
    path = Path(path)
    if not path.is_file():
        raise PassageError(f"{path}: no such file")
    passages = load_jsonl(path) if path.suffix == ".jsonl" else load_squad(path)
    if not passages:
        raise PassageError(f"{path}: no passages")
    seen: set[str] = set()
    for passage in passages:
        if passage.passage_id in seen:
            raise PassageError(f"{path}: passage id {passage.passage_id!r} appears twice")
        seen.add(passage.passage_id)
    return passages


def sample_passages_path() -> Path:
    """The small sample bundled with the package: made-up facts no model has seen."""
    from importlib import resources

    return Path(str(resources.files("seal_agent.presets").joinpath("knowledge_sample.jsonl")))


def load_configured_passages(data) -> list[Passage]:
    """The passages a config's `data` section names (the bundled sample when it names no file)."""
    passages = load_passages(data.path or sample_passages_path())
    return passages[: data.limit] if data.limit else passages
