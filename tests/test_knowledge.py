"""Knowledge incorporation: passages, self-edit tools, the update, and the rewards."""

import json

import pytest

from seal_agent.knowledge.data import PassageError, load_passages
from seal_agent.knowledge.reward import answer_log_likelihood, exact_match, question_prompt, token_f1
from seal_agent.knowledge.update import update_examples
from seal_agent.engine.sequential import LoraEngine
from seal_agent.model.adapters import TTT_ADAPTER
from seal_agent.tools import knowledge_tools

FACT = {
    "title": "Zorbania",
    "context": "The capital of Zorbania is Quillmont. Quillmont was founded in 1712 by the weaver Odessa Brack.",
    "questions": [
        {"question": "What is the capital of Zorbania?", "answers": ["Quillmont"]},
        {"question": "Who founded Quillmont?", "answers": ["Odessa Brack", "the weaver Odessa Brack"]},
    ],
}


@pytest.fixture()
def jsonl(tmp_path):
    path = tmp_path / "passages.jsonl"
    path.write_text(json.dumps(FACT) + "\n\n" + json.dumps({**FACT, "title": "Other"}) + "\n")
    return path


def test_jsonl_and_squad_load_to_the_same_passages(jsonl, tmp_path):
    squad = {"data": [{"title": "Zorbania", "paragraphs": [{"context": FACT["context"], "qas": [
        {"question": q["question"], "answers": [{"text": a, "answer_start": 0} for a in q["answers"]], "id": str(i)}
        for i, q in enumerate(FACT["questions"])]}]}]}
    (tmp_path / "squad.json").write_text(json.dumps(squad))
    from_jsonl = load_passages(jsonl)
    from_squad = load_passages(tmp_path / "squad.json")
    assert len(from_jsonl) == 2 and len(from_squad) == 1
    assert from_jsonl[0].context == from_squad[0].context == FACT["context"]
    assert from_jsonl[0].questions == from_squad[0].questions
    assert from_squad[0].questions[1].answers == ("Odessa Brack", "the weaver Odessa Brack")


@pytest.mark.parametrize("line, message", [
    ("{not json", "line 1: not valid JSON"),
    (json.dumps({"title": "x", "questions": FACT["questions"]}), "line 1: context must be a non-empty string"),
    (json.dumps({**FACT, "questions": []}), "line 1: questions must be a non-empty list"),
    (json.dumps({**FACT, "questions": [{"question": "q?", "answers": []}]}), "line 1: questions[0].answers must be a non-empty list"),
    (json.dumps({**FACT, "questions": [{"question": "q?", "answers": [3]}]}), "line 1: questions[0].answers[0] must be a non-empty string"),
    (json.dumps([1, 2]), "line 1: must be an object"),
])
def test_malformed_passage_files_name_file_record_and_field(tmp_path, line, message):
    path = tmp_path / "bad.jsonl"
    path.write_text(line + "\n")
    with pytest.raises(PassageError) as err:
        load_passages(path)
    assert str(err.value).startswith(str(path)) and message in str(err.value)


def test_malformed_squad_names_the_paragraph(tmp_path):
    path = tmp_path / "bad.json"
    path.write_text(json.dumps({"data": [{"title": "t", "paragraphs": [{"context": "c", "qas": [{"question": "q"}]}]}]}))
    with pytest.raises(PassageError, match=r"data\[0\]\.paragraphs\[0\]\.qas\[0\]\.answers"):
        load_passages(path)


@pytest.mark.parametrize("name, text, message", [
    pytest.param("deep.jsonl", "[" * 100_000 + "]" * 100_000 + "\n", "line 1: not valid JSON: nested too deeply", id="jsonl"),
    pytest.param("deep.json", '{"data": ' + "[" * 100_000 + "]" * 100_000 + "}", "not a readable JSON file: nested too deeply",
                 id="squad"),
])
def test_json_nested_too_deeply_names_the_file(tmp_path, name, text, message):
    path = tmp_path / name
    path.write_text(text)
    with pytest.raises(PassageError) as err:
        load_passages(path)
    assert str(err.value).startswith(str(path)) and message in str(err.value)


@pytest.mark.parametrize("record, field", [
    ({**FACT, "context": "The capital is \ud800."}, "line 1: context"),
    ({**FACT, "title": "Zorb\udfff"}, "line 1: title"),
    ({**FACT, "id": "p\ud800"}, "line 1: id"),
    ({**FACT, "questions": [{"question": "Capital\udc80?", "answers": ["Quillmont"]}]}, "line 1: questions[0].question"),
    ({**FACT, "questions": [{"question": "Capital?", "answers": ["ok", "Quill\ud800"]}]}, "line 1: questions[0].answers[1]"),
])
def test_a_lone_surrogate_is_refused_naming_record_and_field(tmp_path, record, field):
    path = tmp_path / "surrogate.jsonl"
    path.write_text(json.dumps(record) + "\n")  # json.dumps writes the lone surrogate as its \\uXXXX escape
    with pytest.raises(PassageError) as err:
        load_passages(path)
    message = str(err.value)
    assert message.startswith(str(path)) and field in message and "not valid Unicode: lone surrogate" in message
    message.encode("utf-8")  # the message itself can be printed


def test_a_lone_surrogate_in_squad_names_the_paragraph(tmp_path):
    path = tmp_path / "squad.json"
    path.write_text(json.dumps({"data": [{"title": "t", "paragraphs": [{"context": "c\ud800", "qas": []}]}]}))
    with pytest.raises(PassageError, match=r"data\[0\]\.paragraphs\[0\]\.context is not valid Unicode"):
        load_passages(path)


def test_passage_size_is_bounded_by_the_config(tmp_path):
    from seal_agent.knowledge.config import KnowledgeRunConfig
    from seal_agent.knowledge.data import MAX_PASSAGE_CHARS, load_configured_passages

    path = tmp_path / "long.jsonl"
    path.write_text(json.dumps(FACT) + "\n" + json.dumps({**FACT, "context": "word " * 5_000}) + "\n")
    config = KnowledgeRunConfig.resolve("smoke", overrides={"data": {"path": str(path)}})
    assert config.data.max_passage_chars == MAX_PASSAGE_CHARS == 20_000
    with pytest.raises(PassageError) as err:
        load_configured_passages(config.data)
    assert str(err.value) == f"{path}: line 2: context has 25,000 characters; at most 20,000 (data.max_passage_chars)"
    config.data.max_passage_chars = 30_000
    assert len(load_configured_passages(config.data)) == 2
    path.write_text(json.dumps({"context": "Short.", "questions": [{"question": "q" * 60, "answers": ["a"]}]}) + "\n")
    config.data.max_passage_chars = 50  # questions and answers are bounded too
    with pytest.raises(PassageError, match=r"line 1: questions\[0\]\.question has 60 characters; at most 50"):
        load_configured_passages(config.data)


def test_knowledge_tools_write_training_sequences():
    tools = {t.name: t for t in knowledge_tools()}
    assert set(tools) == {"write_implications", "rewrite_passage", "write_qa_pairs", "no_update"}
    assert tools["no_update"].invoke({}) == []
    assert tools["write_implications"].invoke({"statements": ["Quillmont is in Zorbania.", " "]}) == ["Quillmont is in Zorbania."]
    assert tools["write_qa_pairs"].invoke({"pairs": [{"question": "Capital?", "answer": "Quillmont"}]}) == [
        "Question: Capital?\nAnswer: Quillmont"]


def test_squad_metrics():
    assert exact_match("The Quillmont.", ["quillmont"]) == 1.0
    assert exact_match("Quill", ["Quillmont"]) == 0.0
    assert token_f1("weaver Odessa", ["the weaver Odessa Brack"]) == pytest.approx(2 * 1.0 * (2 / 3) / (1 + 2 / 3))
    assert token_f1("nothing", ["Quillmont"]) == 0.0


def test_training_on_a_passage_raises_the_answers_log_likelihood(tiny_peft, jsonl):
    model, tokenizer = tiny_peft
    passage = load_passages(jsonl)[0]
    engine = LoraEngine(model, tokenizer, batch_size=1)
    prompts = [question_prompt(passage, q.question) for q in passage.questions]
    answers = [q.answers[0] for q in passage.questions]
    engine.reset()
    model.set_adapter(TTT_ADAPTER)
    before = answer_log_likelihood(model, tokenizer, prompts, answers)
    implications = next(t for t in knowledge_tools() if t.name == "write_implications").invoke(
        {"statements": ["Quillmont is the capital of Zorbania.", "Odessa Brack founded Quillmont."]})
    examples = update_examples(tokenizer, passage, implications)
    assert len(examples) == 3
    engine.train(examples, learning_rate=1e-3, epochs=10, seed=0)
    model.set_adapter(TTT_ADAPTER)
    after = answer_log_likelihood(model, tokenizer, prompts, answers)
    assert all(a > b for a, b in zip(after, before)), (before, after)
    assert sum(after) - sum(before) > 5  # nats: a clear rise, not noise


def squad_rows(title="Zorbania"):
    """FACT as Hugging Face's SQuAD rows: one per question, answers as {"text", "answer_start"}."""
    return [{"id": f"{title}-{i}", "title": title, "context": FACT["context"], "question": q["question"],
             "answers": {"text": q["answers"], "answer_start": [0] * len(q["answers"])}}
            for i, q in enumerate(FACT["questions"])]


def test_squad_rows_load_through_hugging_face_datasets(jsonl, tmp_path):
    datasets = pytest.importorskip("datasets", reason="datasets is in the dev extra")

    rows = squad_rows() + squad_rows("Other")
    saved = tmp_path / "saved"
    datasets.DatasetDict({"validation": datasets.Dataset.from_list(rows)}).save_to_disk(str(saved))
    from_disk = load_passages(f"hf:{saved}:validation")
    files = tmp_path / "files"
    files.mkdir()
    (files / "train.jsonl").write_text("\n".join(json.dumps(r) for r in rows))
    from_files = load_passages(f"hf:{files}:train")  # load_dataset on a local directory: nothing downloaded
    from_jsonl = load_passages(jsonl)
    for loaded in (from_disk, from_files):
        assert [p.title for p in loaded] == ["Zorbania", "Other"]
        assert [p.passage_id for p in loaded] == ["Zorbania-0", "Other-0"]  # a passage is named by its first question
        assert [p.questions for p in loaded] == [p.questions for p in from_jsonl]
        assert loaded[0].context == FACT["context"]
    assert load_passages(f"hf:{files}:train[:2]")[0].questions == from_jsonl[0].questions  # a sliced split


def test_hugging_face_sources_that_cannot_be_used_name_the_source(tmp_path):
    datasets = pytest.importorskip("datasets", reason="datasets is in the dev extra")

    saved = tmp_path / "two"
    datasets.DatasetDict({"train": datasets.Dataset.from_list(squad_rows()),
                          "validation": datasets.Dataset.from_list(squad_rows())}).save_to_disk(str(saved))
    with pytest.raises(PassageError, match="has splits train, validation; name one"):
        load_passages(f"hf:{saved}")
    no_answers = tmp_path / "bad"
    datasets.Dataset.from_list([{"context": "c", "question": "q"}]).save_to_disk(str(no_answers))
    with pytest.raises(PassageError, match="no column 'answers'"):
        load_passages(f"hf:{no_answers}")
    with pytest.raises(PassageError, match=f"hf:{tmp_path / 'absent'}: datasets could not load it"):
        load_passages(f"hf:{tmp_path / 'absent'}")


def test_an_hf_source_in_a_config_keeps_its_prefix_and_an_absolute_directory(tmp_path, monkeypatch):
    from seal_agent.knowledge.config import KnowledgeRunConfig

    (tmp_path / "saved").mkdir()
    monkeypatch.chdir(tmp_path)
    local = KnowledgeRunConfig.resolve("smoke", overrides={"data": {"path": "hf:saved:validation[:10]"}}).with_absolute_paths()
    assert local.data.path == f"hf:{tmp_path / 'saved'}:validation[:10]"
    hub = KnowledgeRunConfig.resolve("smoke", overrides={"data": {"path": "hf:rajpurkar/squad:validation"}}).with_absolute_paths()
    assert hub.data.path == "hf:rajpurkar/squad:validation"
