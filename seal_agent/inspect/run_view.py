"""Read a run directory for inspection: its config, summary, traces, and the tasks or passages.

Used by `seal trace ...` and `seal report`. Reading never changes the run, and works while
the run is still going (SQLite in WAL mode): what has finished so far is shown.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from seal_agent.run.directory import CONFIG_FILE, DB_FILE, SUMMARY_FILE
from seal_agent.run.traces import TraceStore



class NotARunError(Exception):
    """The directory holds no run (no run.sqlite)."""


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


def open_run(run_dir: str | Path, with_sources: bool = False) -> RunView:
    run_dir = Path(run_dir)
    if not (run_dir / DB_FILE).exists():
        raise NotARunError(f"{run_dir}: no {DB_FILE}; is this a run directory?")
    config_path = run_dir / CONFIG_FILE
    config = yaml.safe_load(config_path.read_text()) if config_path.exists() else {}
    summary_path = run_dir / SUMMARY_FILE
    summary = json.loads(summary_path.read_text()) if summary_path.exists() else {}
    domain = (config or {}).get("domain") or summary.get("domain") or "arc"
    store = TraceStore(run_dir / DB_FILE)
    try:
        candidates, baseline = store.candidates(), store.baseline()
    finally:
        store.close()
    view = RunView(run_dir, domain, config or {}, summary, candidates, baseline)
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
