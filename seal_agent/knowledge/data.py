"""Passages with questions, for knowledge incorporation: loading and validation.

Three sources are read:
    SQuAD v1.1 JSON   {"data": [{"title", "paragraphs": [{"context", "qas": [{"question",
                      "answers": [{"text", ...}], "id"?}]}]}]}; one passage per paragraph.
    JSONL             one passage per line: {"title", "context", "questions": [{"question",
                      "answers": ["...", ...]}]}; "title" is optional.
    hf:NAME[:SPLIT]   SQuAD-format rows through Hugging Face `datasets` (`load_hf_squad`):
                      a hub id, a local data directory, or a `save_to_disk` directory.

Files are untrusted: `PassageError` names the file, the record (line number, or data /
paragraph index) and the field. Every text must be valid Unicode (a lone surrogate such
as "\\ud800" would make the tokenizer raise mid-run) and at most `max_chars` characters
long (`data.max_passage_chars`): a passage is tokenised whole and trained on, so one huge
record would take the run's memory with it. Nothing is downloaded; the tests write
passages with made-up facts.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from seal_agent.untrusted import parse_json, unicode_problem

# Longest text (a passage, a title, a question, an answer) a file may hold unless the config
# says otherwise: far above any SQuAD paragraph, far below what would exhaust memory.
MAX_PASSAGE_CHARS = 20_000
HF_PREFIX = "hf:"  # data.path "hf:NAME[:SPLIT]": read through Hugging Face datasets


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


def _checked(value: str, where: str, max_chars: int | None) -> str:
    """`value` if it is valid Unicode and not over `max_chars`; else a PassageError naming `where`."""
    problem = unicode_problem(value)
    if problem:
        raise PassageError(f"{where} {problem}")
    if max_chars is not None and len(value) > max_chars:
        raise PassageError(f"{where} has {len(value):,} characters; at most {max_chars:,} (data.max_passage_chars)")
    return value


def _text(value: Any, where: str, max_chars: int | None) -> str:
    if not isinstance(value, str) or not value.strip():
        raise PassageError(f"{where} must be a non-empty string")
    return _checked(value, where, max_chars)


def _questions(raw: Any, where: str, answer_key: str | None, max_chars: int | None) -> tuple[Question, ...]:
    if not isinstance(raw, list) or not raw:
        raise PassageError(f"{where} must be a non-empty list of questions")
    questions = []
    for i, item in enumerate(raw):
        here = f"{where}[{i}]"
        if not isinstance(item, dict):
            raise PassageError(f"{here} must be an object with 'question' and 'answers'")
        question = _text(item.get("question"), f"{here}.question", max_chars)
        answers = item.get("answers")
        if not isinstance(answers, list) or not answers:
            raise PassageError(f"{here}.answers must be a non-empty list")
        texts = []
        for j, answer in enumerate(answers):
            value = answer.get(answer_key) if answer_key and isinstance(answer, dict) else answer
            texts.append(_text(value, f"{here}.answers[{j}]" + (f".{answer_key}" if answer_key else ""), max_chars))
        questions.append(Question(question, tuple(texts)))
    return tuple(questions)


def load_squad(path: Path, max_chars: int | None = MAX_PASSAGE_CHARS) -> list[Passage]:
    try:
        raw = parse_json(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:  # ValueError: malformed JSON, nesting too deep, not UTF-8
        raise PassageError(f"{path}: not a readable JSON file: {err}") from None
    if not isinstance(raw, dict) or not isinstance(raw.get("data"), list):
        raise PassageError(f"{path}: the top level must be an object with a 'data' list (SQuAD v1.1)")
    passages = []
    for d, article in enumerate(raw["data"]):
        where = f"{path}: data[{d}]"
        if not isinstance(article, dict) or not isinstance(article.get("paragraphs"), list):
            raise PassageError(f"{where}.paragraphs must be a list")
        title = article.get("title") if isinstance(article.get("title"), str) else f"article {d}"
        _checked(title, f"{where}.title", max_chars)
        for p, paragraph in enumerate(article["paragraphs"]):
            here = f"{where}.paragraphs[{p}]"
            if not isinstance(paragraph, dict):
                raise PassageError(f"{here} must be an object with 'context' and 'qas'")
            context = _text(paragraph.get("context"), f"{here}.context", max_chars)
            questions = _questions(paragraph.get("qas"), f"{here}.qas", answer_key="text", max_chars=max_chars)
            passages.append(Passage(f"{d}-{p}", title, context, questions))
    return passages


def load_jsonl(path: Path, max_chars: int | None = MAX_PASSAGE_CHARS) -> list[Passage]:
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as err:
        raise PassageError(f"{path}: cannot read: {err}") from None
    passages = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        where = f"{path}: line {number}"
        try:
            record = parse_json(line)
        except ValueError as err:  # malformed JSON or nesting too deep
            raise PassageError(f"{where}: not valid JSON: {err}") from None
        if not isinstance(record, dict):
            raise PassageError(f"{where}: must be an object with 'context' and 'questions'")
        title = record.get("title", "")
        if not isinstance(title, str):
            raise PassageError(f"{where}: title must be a string")
        _checked(title, f"{where}: title", max_chars)
        context = _text(record.get("context"), f"{where}: context", max_chars)
        questions = _questions(record.get("questions"), f"{where}: questions", answer_key=None, max_chars=max_chars)
        passage_id = _checked(str(record.get("id", number)), f"{where}: id", max_chars)
        passages.append(Passage(passage_id, title, context, questions))
    return passages


def hf_source(spec: str) -> tuple[str, str | None]:
    """`hf:NAME[:SPLIT]` -> (NAME, SPLIT or None). NAME is a hub id or a local directory;
    the split may carry a slice (`validation[:200]`), so only the first colon separates."""
    name, _, split = spec[len(HF_PREFIX):].partition(":")
    return name, split or None


def load_hf_squad(spec: str, max_chars: int | None = MAX_PASSAGE_CHARS) -> list[Passage]:
    """Passages from SQuAD-format rows read by Hugging Face `datasets` (`hf:NAME[:SPLIT]`).

    NAME is what `datasets.load_dataset` takes (a hub id such as `rajpurkar/squad`, which
    needs the hub or its cache; a local directory of data files), or a directory written by
    `save_to_disk` (read with `load_from_disk`). Rows are SQuAD's: one per question, with
    `context`, `question`, `answers` ({"text": [...]} or a list of strings) and optionally
    `title` and `id`; the rows of one (title, context) become one passage.
    """
    name, split = hf_source(spec)
    try:
        import datasets
    except ImportError:
        raise PassageError(f"{spec}: reading through Hugging Face datasets needs the datasets package: "
                           "pip install datasets (the datasets extra)") from None
    try:
        saved = Path(name).is_dir() and any((Path(name) / f).is_file() for f in ("dataset_dict.json", "dataset_info.json"))
        loaded = datasets.load_from_disk(name) if saved else datasets.load_dataset(name, split=split)
        if saved and split is not None and isinstance(loaded, datasets.DatasetDict):
            loaded = loaded[split]
    except Exception as err:  # the library's many errors (not found, offline, bad files), each named
        raise PassageError(f"{spec}: datasets could not load it: {type(err).__name__}: {err}") from None
    if isinstance(loaded, datasets.DatasetDict):
        if len(loaded) != 1:
            raise PassageError(f"{spec}: has splits {', '.join(loaded)}; name one: hf:{name}:{next(iter(loaded))}")
        loaded = next(iter(loaded.values()))
    missing = [c for c in ("context", "question", "answers") if c not in loaded.column_names]
    if missing:
        raise PassageError(f"{spec}: no column {missing[0]!r}; SQuAD rows have context, question, answers "
                           f"(this one has {', '.join(loaded.column_names)})")
    grouped: dict[tuple[str, str], dict[str, Any]] = {}
    for i, row in enumerate(loaded):
        where = f"{spec}: row {i}"
        title = row.get("title") or ""
        if not isinstance(title, str):
            raise PassageError(f"{where}: title must be a string")
        context = _text(row["context"], f"{where}: context", max_chars)
        answers = row["answers"]
        texts = answers.get("text") if isinstance(answers, dict) else answers
        (question,) = _questions([{"question": row["question"], "answers": texts}], f"{where}: questions", None, max_chars)
        key = (_checked(title, f"{where}: title", max_chars), context)
        if key not in grouped:
            grouped[key] = {"id": str(row.get("id") or i), "questions": []}
        grouped[key]["questions"].append(question)
    return [Passage(entry["id"], title, context, tuple(entry["questions"])) for (title, context), entry in grouped.items()]


def load_passages(path: str | Path, max_chars: int | None = MAX_PASSAGE_CHARS) -> list[Passage]:
    """Passages from a SQuAD v1.1 .json file, a .jsonl file, or `hf:NAME[:SPLIT]` (Hugging Face
    datasets); no text may be over `max_chars` (None: no bound)."""
    if str(path).startswith(HF_PREFIX):
        passages = load_hf_squad(str(path), max_chars)
    else:
        path = Path(path)
        if not path.is_file():
            raise PassageError(f"{path}: no such file")
        passages = load_jsonl(path, max_chars) if path.suffix == ".jsonl" else load_squad(path, max_chars)
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
    passages = load_passages(data.path or sample_passages_path(), data.max_passage_chars)
    return passages[: data.limit] if data.limit else passages
