"""`seal trace list|show|export`: the decisions recorded in a run directory, from the terminal.

    seal trace list RUN_DIR                          rounds, tasks, candidates, rewards at a glance
    seal trace show RUN_DIR --round 2 --min-reward 1 the rewarded candidates of round 2
    seal trace show RUN_DIR --task 44f52bb0 --grids  ... with the ARC grids drawn in colour
    seal trace export RUN_DIR --format csv -o c.csv  every candidate, every field

Model-written text goes through `escape()`: rich never interprets it as markup.
"""

from __future__ import annotations

import csv
import io
import json
import sys
from pathlib import Path
from typing import Any, Optional

import typer
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from seal_agent.arc.colours import colour
from seal_agent.cli.common import console, fail, write_output
from seal_agent.inspect.run_view import NotARunError, filter_candidates, open_run
from seal_agent.run.traces import CANDIDATE_COLUMNS, JSON_COLUMNS

trace_app = typer.Typer(help="Inspect the decisions recorded in a run directory.", no_args_is_help=True)


def load(run_dir: Path, with_sources: bool = False):
    try:
        return open_run(run_dir, with_sources=with_sources)
    except NotARunError as err:
        fail(str(err))


def grid_text(grid: Any) -> Text:
    """A grid drawn with two spaces of background colour per cell."""
    text = Text()
    for row in grid or []:
        for cell in row:
            text.append("  ", style=f"on {colour(cell)}")
        text.append("\n")
    return text


def grids_side_by_side(title: str, grids: list[tuple[str, Any]]) -> Table:
    table = Table(title=title, show_lines=False, box=None, padding=(0, 2))
    for label, _grid in grids:
        table.add_column(escape(label))
    table.add_row(*[grid_text(grid) if grid else Text("(none)") for _label, grid in grids])
    return table


@trace_app.command("list")
def trace_list(run_dir: Path = typer.Argument(..., help="A run directory.")) -> None:
    """Rounds, tasks (or passages), candidates and rewards at a glance."""
    view = load(run_dir)
    rounds = {r["round"]: r for r in view.summary.get("rounds", [])}
    table = Table(title=f"{view.domain} run {escape(str(run_dir))}")
    for column in ("round", "task" if view.domain == "arc" else "passage", "candidates", "valid", "failed", "mean reward", "best reward", "rewarded"):
        table.add_column(column, justify="right")
    groups: dict[tuple[int, str], list[dict[str, Any]]] = {}
    for row in view.candidates:
        groups.setdefault((row["round"], row["task_id"]), []).append(row)
    last_round = None
    for (round_, task), rows in sorted(groups.items()):
        if last_round is not None and round_ != last_round and last_round in rounds:
            table.add_section()
        last_round = round_
        rewards = [r["reward"] for r in rows]
        table.add_row(
            str(round_), escape(task), str(len(rows)),
            str(sum(r["status"] != "rejected" for r in rows)), str(sum(r["status"] == "failed" for r in rows)),
            f"{sum(rewards) / len(rewards):.3f}", f"{max(rewards):.3f}", str(sum(x > 0 for x in rewards)),
        )
    console.print(table)
    for number, r in sorted(rounds.items()):
        figures = [f"round {number}" + (f" ({escape(r['name'])})" if r.get("name") else "")]
        for key in ("success_rate", "mean_reward", "valid_fraction", "kept", "rewarded", "seconds"):
            if isinstance(r.get(key), (int, float)):
                figures.append(f"{key.replace('_', ' ')} {r[key]:.3g}")
        console.print("  " + " · ".join(figures))
    if not view.candidates:
        console.print("no candidates recorded yet")


def prediction_cell(row: dict[str, Any], domain: str) -> str:
    predictions = row.get("predictions")
    if domain == "knowledge":
        return "\n".join(f"{i + 1}. {a}" for i, a in enumerate(predictions or [])) or "-"
    attempts = (predictions or [[]])[0]
    if attempts:
        return "\n\n".join("\n".join("".join(map(str, line)) for line in grid) for grid in attempts)
    return "-" if row["status"] != "ok" else "(none parsable)"


def training_cell(row: dict[str, Any]) -> str:
    """A row's training settings: learning rate, epochs, then the loss strategy (ARC) or the seeds (knowledge)."""
    training = row.get("training") or {}
    epochs = training.get("num_train_epochs", training.get("epochs"))  # "epochs": older knowledge runs
    if epochs is None:
        return "-"
    parts = [f"lr {training['learning_rate']:g}", f"{epochs} ep"]
    if "strategy" in training:
        parts.append(training["strategy"])
    if "seeds" in training:
        parts.append(f"{len(training['seeds'])} seeds")
    return ", ".join(parts)


@trace_app.command("show")
def trace_show(
    run_dir: Path = typer.Argument(..., help="A run directory."),
    round: Optional[int] = typer.Option(None, "--round", help="Only this round."),
    task: Optional[str] = typer.Option(None, "--task", help="Only this task (or passage) id."),
    candidate: Optional[int] = typer.Option(None, "--candidate", help="Only this candidate number."),
    min_reward: Optional[float] = typer.Option(None, "--min-reward", help="Only candidates with at least this reward."),
    status: Optional[str] = typer.Option(None, "--status", help="Only ok, rejected or failed candidates."),
    tool: Optional[str] = typer.Option(None, "--tool", help="Only candidates whose self-edit called this tool."),
    full: bool = typer.Option(False, "--full", help="Print every field of each candidate as JSON, not the table."),
    grids: bool = typer.Option(False, "--grids", help="ARC: draw each candidate's task, target and prediction in colour."),
) -> None:
    """Each candidate's tool calls, validation, data, loss, prediction and reward."""
    view = load(run_dir, with_sources=grids)
    rows = filter_candidates(view.candidates, round, task, candidate, min_reward, status, tool)
    if full:
        for row in rows:
            console.print_json(json.dumps(row, default=str))
        return
    table = Table(title=f"candidates in {escape(str(run_dir))} ({len(rows)} of {len(view.candidates)})")
    for column in ("round", "task", "cand", "status", "tool calls", "training", "data", "loss first→last",
                   "answers" if view.domain == "knowledge" else "attempts (test 1)", "reward", "s"):
        table.add_column(column)
    for row in rows:
        losses = row.get("loss_curve") or []
        counts = row.get("data_counts") or {}
        table.add_row(
            str(row["round"]), escape(row["task_id"]), str(row["candidate"]),
            row["status"] + (f"\n{escape(row['reason'])}" if row["reason"] else ""),
            escape(", ".join(row.get("tool_names") or []) or "-"),
            training_cell(row),
            str(counts.get("examples", counts.get("sequences", "-"))),
            f"{losses[0]:.3f}→{losses[-1]:.3f}" if losses else "-",
            escape(prediction_cell(row, view.domain)), f"{row['reward']:g}", f"{row['seconds'] or 0:.1f}",
        )
    console.print(table)
    if grids:
        if view.domain != "arc":
            fail("--grids draws ARC grids; this is a knowledge run")
        if view.sources_note:
            console.print(escape(view.sources_note))
        for row in rows:
            arc_task = view.tasks.get(row["task_id"])
            if arc_task is None:
                continue
            for index, test in enumerate(arc_task.test):
                attempts = (row.get("predictions") or [])[index] if index < len(row.get("predictions") or []) else []
                shown = [("test input", test.input), ("target", test.output)]
                shown += [(f"attempt {i + 1}", grid) for i, grid in enumerate(attempts)] or [("prediction", None)]
                console.print(grids_side_by_side(
                    escape(f"round {row['round']} · {row['task_id']} · candidate {row['candidate']} · test {index + 1} · "
                           f"reward {row['reward']:g}"), shown))


def export_rows(rows: list[dict[str, Any]], fmt: str) -> str:
    if fmt == "jsonl":
        return "".join(json.dumps(row, default=str) + "\n" for row in rows)
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=CANDIDATE_COLUMNS, extrasaction="ignore")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: json.dumps(row.get(k)) if k in JSON_COLUMNS else row.get(k) for k in CANDIDATE_COLUMNS})
    return buffer.getvalue()


@trace_app.command("export")
def trace_export(
    run_dir: Path = typer.Argument(..., help="A run directory."),
    fmt: str = typer.Option("jsonl", "--format", help="jsonl (one candidate per line) or csv (JSON fields as JSON text)."),
    output: Optional[Path] = typer.Option(
        None, "-o", "--output", help="Write here instead of standard output (missing folders are created)."),
) -> None:
    """Every candidate with every field, for pandas, spreadsheets or jq."""
    if fmt not in ("jsonl", "csv"):
        fail(f"unknown format {fmt!r}; choose jsonl or csv")
    text = export_rows(load(run_dir).candidates, fmt)
    if output is None:
        sys.stdout.write(text)
    else:
        write_output(output, text)
        console.print(f"wrote {escape(str(output))}")
