"""Read a run directory for inspection: its config, summary, traces, and the tasks or passages.

Used by `seal trace ...` and `seal report`. Reading never changes the run (the database is
opened read-only), and works while the run is still going (SQLite in WAL mode): what has
finished so far is shown. A damaged file is an error naming it, never a traceback.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from seal_agent.run.directory import CONFIG_FILE, DB_FILE, SUMMARY_FILE
from seal_agent.run.traces import read_traces


class NotARunError(Exception):
    """The directory holds no run (no run.sqlite)."""


class UnreadableRunError(NotARunError):
    """One of the run's files cannot be read: its message names the file and why."""


@dataclass
class RunView:
    run_dir: Path
    domain: str  # "arc" or "knowledge"
    config: dict[str, Any]
    summary: dict[str, Any]
    candidates: list[dict[str, Any]]
    baseline: list[dict[str, Any]]
    tasks: dict[str, Any] = field(default_factory=dict)  # ARC task id -> ArcTask, or passage id -> Passage
    sources_note: str | None = None  # why tasks/passages could not be loaded, if they could not


def load_sources(domain: str, config: dict[str, Any]) -> tuple[dict[str, Any], str | None]:
    """The run's ARC tasks or passages, for drawing grids and questions; best effort."""
    try:
        if domain == "knowledge":
            from seal_agent.knowledge.config import KnowledgeRunConfig
            from seal_agent.knowledge.data import load_configured_passages

            passages = load_configured_passages(KnowledgeRunConfig.model_validate(config).data)
            return {p.passage_id: p for p in passages}, None
        from seal_agent.arc.data import load_configured_tasks
        from seal_agent.arc.config import RunConfig

        return {t.task_id: t for t in load_configured_tasks(RunConfig.model_validate(config).data)}, None
    except Exception as err:  # moved data, changed config schema: inspect the rest anyway
        return {}, f"the run's {'passages' if domain == 'knowledge' else 'tasks'} could not be loaded: {err}"


def problem(err: BaseException) -> str:
    """One line saying what is wrong with a file's content."""
    mark = getattr(err, "problem_mark", None)  # YAML: where it broke
    if mark is not None:
        return f"{getattr(err, 'problem', None) or 'invalid YAML'} at line {mark.line + 1}, column {mark.column + 1}"
    if isinstance(err, RecursionError):
        return "nested too deeply"
    text = str(err).strip()
    return text.splitlines()[0] if text else type(err).__name__


def read_mapping(path: Path, parse: Callable[[str], Any]) -> dict[str, Any]:
    """A YAML or JSON file of the run as a mapping ({} when absent or empty)."""
    if not path.exists():
        return {}
    try:
        value = parse(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, yaml.YAMLError, RecursionError) as err:  # ValueError: JSON and bad UTF-8 too
        raise UnreadableRunError(f"{path}: cannot be read ({problem(err)})") from None
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise UnreadableRunError(f"{path}: expected a mapping at the top, found {type(value).__name__}")
    return value


def read_summary(path: Path) -> dict[str, Any]:
    summary = read_mapping(path, json.loads)
    rounds = summary.get("rounds", [])
    if not isinstance(rounds, list) or not all(isinstance(r, dict) and isinstance(r.get("round"), int) for r in rounds):
        raise UnreadableRunError(f"{path}: 'rounds' is not a list of rounds, each with its number")
    return summary


def open_run(run_dir: str | Path, with_sources: bool = False) -> RunView:
    run_dir = Path(run_dir)
    db = run_dir / DB_FILE
    if not db.is_file():
        raise NotARunError(f"{run_dir}: no {DB_FILE}; is this a run directory?")
    config = read_mapping(run_dir / CONFIG_FILE, yaml.safe_load)
    summary = read_summary(run_dir / SUMMARY_FILE)
    try:
        candidates, baseline = read_traces(db)
    except (sqlite3.Error, ValueError, TypeError) as err:  # not a database; a damaged table or row
        raise UnreadableRunError(f"{db}: cannot be read as a run's traces ({problem(err)})") from None
    domain = config.get("domain") or summary.get("domain") or "arc"
    if domain not in ("arc", "knowledge"):
        raise UnreadableRunError(f"{run_dir}: unknown domain {domain!r} in {CONFIG_FILE} or {SUMMARY_FILE}")
    view = RunView(run_dir, domain, config, summary, candidates, baseline)
    if with_sources and config:
        view.tasks, view.sources_note = load_sources(domain, config)
    return view


def filter_candidates(
    rows: list[dict[str, Any]],
    round: int | None = None,
    task: str | None = None,
    candidate: int | None = None,
    min_reward: float | None = None,
    status: str | None = None,
    tool: str | None = None,
) -> list[dict[str, Any]]:
    """The rows matching every given filter (None: no filter)."""
    return [
        r for r in rows
        if (round is None or r["round"] == round)
        and (task is None or r["task_id"] == task)
        and (candidate is None or r["candidate"] == candidate)
        and (min_reward is None or r["reward"] >= min_reward)
        and (status is None or r["status"] == status)
        and (tool is None or tool in (r.get("tool_names") or []))
    ]


def final_loss(row: dict[str, Any]) -> float | None:
    losses = row.get("loss_curve") or []
    return losses[-1] if losses else None


def data_size(row: dict[str, Any]) -> int | None:
    counts = row.get("data_counts") or {}
    return counts.get("examples", counts.get("sequences"))
