"""`seal run knowledge` and `seal eval knowledge`: knowledge incorporation from the command line.

    seal run knowledge --preset smoke                         ReST-EM on the bundled sample passages
    seal run knowledge --preset smoke --data passages.jsonl   ... on your passages (SQuAD .json or .jsonl)
    seal run knowledge --mode cpt --passages 200 ...          all self-edits in one update
    seal run knowledge --mode continual --passages 8 ...      updates one after another; forgetting matrix
    seal eval knowledge --run-dir runs/knowledge-...          base / passage only / + policy self-edits
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any, Optional

import typer
from rich.markup import escape
from rich.table import Table

from seal_agent.cli.common import (
    console, echo_updates, fail, open_feed, progress_bar, run_to_end, start_run, write_output,
)
from seal_agent.config import ConfigError, load_run_config, resolve_config
from seal_agent.knowledge.config import KnowledgeRunConfig
from seal_agent.knowledge.data import PassageError
from seal_agent.run.directory import CONFIG_FILE

METRICS = ("loglik", "exact_match", "f1", "contains", "judge")


def knowledge_overrides(**options: Any) -> dict[str, Any]:
    """Command-line options as a config layer (None means not given)."""
    paths = {
        "data": ("data", "path"), "mode": ("mode",), "rounds": ("rounds",), "passages": ("passages_per_round",),
        "candidates": ("policy", "candidates_per_passage"), "seeds": ("update", "seeds"), "prompt": ("policy", "prompt"),
        "reward": ("reward", "kind"), "model": ("model", "name_or_path"), "seed": ("seed",),
        "policy": ("policy_checkpoint",), "engine": ("update", "engine"), "rl_algorithm": ("rl", "algorithm"),
        "strategy": ("continual", "strategy"),
    }
    overrides: dict[str, Any] = {}
    for option, value in options.items():
        if value is None:
            continue
        *sections, key = paths[option]
        target = overrides
        for section in sections:
            target = target.setdefault(section, {})
        target[key] = value
    return overrides


def fmt(value: Any) -> str:
    return "-" if value is None else f"{value:.3f}" if isinstance(value, float) else str(value)


def metric_cells(metrics: dict[str, Any] | None) -> list[str]:
    return [fmt((metrics or {}).get(m)) for m in METRICS]


def rounds_table(summary: dict[str, Any]) -> Table:
    table = Table(title=f"SEAL knowledge ({summary['mode']}): reward {summary['reward_kind']}")
    for column in ("round", "passages", "self-edits", "valid", "mean reward", "best per passage", "kept", "policy updated", "seconds"):
        table.add_column(column, justify="right")
    for r in summary["rounds"]:
        table.add_row(
            str(r["round"]), str(len(r["passages"])), str(r["candidates"]), f"{r['valid_fraction']:.0%}",
            fmt(r["mean_reward"]), fmt(r["best_reward"]), str(r["kept"]), "yes" if r["policy_updated"] else "no",
            f"{r['seconds']:.1f}",
        )
    return table


def scores_table(title: str, rows: list[tuple[str, dict[str, Any] | None]]) -> Table:
    table = Table(title=title)
    table.add_column("")
    for metric in METRICS:
        table.add_column(metric, justify="right")
    for name, metrics in rows:
        table.add_row(escape(name), *metric_cells(metrics))
    return table


def forgetting_table(forgetting: dict[str, Any]) -> Table:
    table = Table(title=f"forgetting matrix ({forgetting['metric']}): row = after update, column = passage")
    table.add_column("")
    for index, passage in enumerate(forgetting["passages"], start=1):
        table.add_column(f"{index}: {escape(passage)}", justify="right")
    for name, row in zip(forgetting["rows"], forgetting["matrix"]):
        table.add_row(name, *[fmt(v) for v in row])
    return table


def run_knowledge_command(
    preset: Optional[str] = typer.Option(None, help="smoke (tiny model, a minute), cpu (minutes), paper or paper_cpt (GPU, real model; SEAL's settings)."),
    config: Optional[Path] = typer.Option(None, "--config", help="A YAML config; its values override the preset's."),
    run_dir: Optional[Path] = typer.Option(None, "--run-dir", help="Where the run is kept. Default: runs/knowledge-<mode>-<preset>-<time>."),
    resume: bool = typer.Option(False, "--resume", help="Continue the run in --run-dir from its last completed step."),
    data: Optional[str] = typer.Option(None, help="Passages: SQuAD v1.1 .json or .jsonl, or hf:NAME[:SPLIT] (Hugging Face datasets). Default: the bundled sample."),
    mode: Optional[str] = typer.Option(None, help="single (ReST-EM, one update per passage), cpt (one update), continual."),
    rounds: Optional[int] = typer.Option(None, help="ReST-EM rounds (mode single)."),
    passages: Optional[int] = typer.Option(None, help="Passages per round (single), in the update (cpt), in the sequence (continual)."),
    candidates: Optional[int] = typer.Option(None, help="k: self-edits sampled per passage."),
    seeds: Optional[int] = typer.Option(None, help="s: seeds each update is run with."),
    prompt: Optional[str] = typer.Option(None, help="implications, implications-long, implications-very-long, rewrite, self-qa."),
    reward: Optional[str] = typer.Option(None, help="loglik (default, no grader), exact_match, f1, judge."),
    model: Optional[str] = typer.Option(None, help="Hub id, local directory, or 'tiny'."),
    seed: Optional[int] = typer.Option(None, help="Seed of the whole run."),
    policy: Optional[str] = typer.Option(None, help="Start from a trained policy: a run's policy/round_N directory."),
    engine: Optional[str] = typer.Option(None, help="batched (a passage's updates together) or sequential."),
    rl_algorithm: Optional[str] = typer.Option(None, "--rl-algorithm", help="rest_em (default, SEAL's), rloo or grpo: how a round updates the policy."),
    strategy: Optional[str] = typer.Option(None, "--strategy", help="Mode continual: merge (SEAL's), replay or adapter_library."),
    threads: Optional[int] = typer.Option(None, help="CPU threads for torch (default: all cores)."),
    stream: bool = typer.Option(False, "--stream", help="Print every node's update as it happens, one line each."),
    log_to: list[str] = typer.Option([], "--log-to", help="Also send figures to tensorboard or mlflow; repeatable."),
) -> None:
    """Knowledge incorporation: the model writes its own training data about a passage, is
    updated on it, and is rewarded by how well it answers questions without the passage."""
    from transformers.utils import logging as hf_logging

    from seal_agent.jobs.knowledge import FORGETTING_FILE, prepare_knowledge_run, run_knowledge
    from seal_agent.model.loading import ModelLoadError
    from seal_agent.run.directory import RunDirError

    hf_logging.disable_progress_bar()
    overrides = knowledge_overrides(
        data=data, mode=mode, rounds=rounds, passages=passages, candidates=candidates, seeds=seeds, prompt=prompt,
        reward=reward, model=model, seed=seed, policy=policy, engine=engine, rl_algorithm=rl_algorithm,
        strategy=strategy,
    )
    prepared = start_run(
        prepare_knowledge_run, KnowledgeRunConfig, resume=resume, run_dir=run_dir, preset=preset, config=config,
        overrides=overrides, name=lambda c: f"knowledge-{c.mode}-{c.preset or 'custom'}",
        errors=(ConfigError, PassageError, RunDirError, ModelLoadError),
    )
    feed = open_feed(prepared, log_to, threads)
    cfg = prepared.config
    per_round = min(cfg.passages_per_round, len(prepared.passages))
    total = {"single": cfg.rounds * per_round * cfg.policy.candidates_per_passage,
             "cpt": per_round * cfg.policy.candidates_per_passage, "continual": per_round}[cfg.mode]
    console.print(
        f"[bold]seal run knowledge[/] {'(resumed) ' if resume else ''}→ {escape(str(prepared.run_dir))}\n"
        f"  mode {cfg.mode}{f' · strategy {cfg.continual.strategy}' if cfg.mode == 'continual' else ''} · "
        f"model {escape(cfg.model.name_or_path)} · {len(prepared.passages)} passages loaded · "
        f"prompt {cfg.policy.prompt} · reward {cfg.reward.kind} · seed {cfg.seed}"
    )
    progress = progress_bar()
    bar = progress.add_task("self-edits" if cfg.mode != "continual" else "steps", total=total)

    echo = echo_updates(progress, feed, stream)

    def on_update(node: str, update: dict[str, Any]) -> None:
        echo(node, update)
        if node == "baseline":
            scores = list(update["baseline"].values())
            mean = sum(s["loglik"] for s in scores) / len(scores)
            progress.console.print(f"  base model: mean answer log-likelihood {mean:.3f} over {len(scores)} passages")
        elif node in ("execute", "cpt_update", "continual_step"):
            for r in update.get("results", []):
                progress.advance(bar)
                progress.update(bar, description=escape(f"round {r['round']} · {r['task_id']}"))
        if node == "reinforce":
            r = update["rounds"][0]
            progress.console.print(
                f"  round {r['round']}: mean reward {r['mean_reward']:.3f} · best per passage {r['best_reward']:.3f} · "
                f"valid {r['valid_fraction']:.0%} · kept {r['kept']}"
                + (f" ({r['no_update_kept']} no_update)" if "no_update_kept" in r else "") + " · "
                f"policy {'updated' if r['policy_updated'] else 'unchanged'} · {r['seconds']:.1f}s"
            )

    summary = run_to_end(lambda: run_knowledge(prepared, on_update=on_update), prepared, progress, feed, "knowledge")
    if cfg.mode == "single":
        console.print(rounds_table(summary))
    elif cfg.mode == "cpt":
        r = summary["rounds"][0]
        console.print(scores_table(
            f"continued pretraining: {len(r['passages'])} passages, {r['sequences']} sequences, one update",
            [("base model", r["base"]), ("after the update", r["after"])]))
    else:
        console.print(forgetting_table(summary["forgetting"]))
        steps = summary["steps"]
        # (Steps of a run made before these were recorded count as updated, with no seconds.)
        console.print(f"updates made: {sum(s.get('updated', True) for s in steps)} of {len(steps)} passages · training "
                      f"{sum(s.get('update_seconds', 0.0) for s in steps):.1f}s · strategy {cfg.continual.strategy}")
        console.print(f"forgetting matrix: {escape(str(prepared.run_dir / FORGETTING_FILE))}")
    console.print(f"summary: {escape(str(prepared.run_dir / 'summary.json'))}  ·  traces: seal trace show {escape(str(prepared.run_dir))}")


def latest_policy(run_dir: Path) -> Path | None:
    rounds = sorted((run_dir / "policy").glob("round_*"), key=lambda p: int(p.name.split("_")[1]))
    return rounds[-1] if rounds else None


def eval_knowledge_command(
    run_dir: Optional[Path] = typer.Option(None, "--run-dir", help="A knowledge run: its config, model and latest policy."),
    preset: Optional[str] = typer.Option(None, help="Without --run-dir: a preset (default smoke)."),
    config: Optional[Path] = typer.Option(None, "--config", help="A YAML config over the preset."),
    data: Optional[str] = typer.Option(None, help="Passages to evaluate on (SQuAD .json or .jsonl, or hf:NAME[:SPLIT])."),
    passages: Optional[int] = typer.Option(None, help="Evaluate on the first N passages."),
    policy: Optional[str] = typer.Option(None, help="A policy checkpoint (policy/round_N); default: the run's latest."),
    self_edits: int = typer.Option(1, "--self-edits", min=1, help="Policy self-edits per passage."),
    mode: Optional[str] = typer.Option(
        None, help="single: one update per passage and self-edit. cpt: each row is one update over every passage "
        "(continued pretraining; update.method full trains every weight). Default: the config's mode."),
    seeds: Optional[int] = typer.Option(None, help="s: seeds each update is run with."),
    model: Optional[str] = typer.Option(None, help="Hub id, local directory, or 'tiny'."),
    json_path: Optional[Path] = typer.Option(None, "--json", help="Also write the results here as JSON."),
) -> None:
    """Base model, passage only, passage + the policy's self-edits, and (with eval.teacher
    configured) passage + a second chat model's self-edits, on the same passages; with
    --mode cpt, each row is one update over all of them."""
    from transformers.utils import logging as hf_logging

    from seal_agent.jobs.knowledge import PreparedKnowledgeRun, build_knowledge_context
    from seal_agent.knowledge.baselines import evaluate_baselines
    from seal_agent.knowledge.data import load_configured_passages
    from seal_agent.policy.chat_models import load_chat_model
    from seal_agent.model.loading import ModelLoadError

    hf_logging.disable_progress_bar()
    overrides = knowledge_overrides(data=data, seeds=seeds, model=model, mode=mode)
    if passages is not None:
        overrides.setdefault("data", {})["limit"] = passages
    try:
        if run_dir is not None:
            if preset or config:
                fail("--run-dir evaluates with the run's own config; drop --preset and --config")
            base = load_run_config(run_dir / CONFIG_FILE, KnowledgeRunConfig).model_dump(mode="json")
            base["data"]["limit"] = None
            from seal_agent.config import deep_merge

            resolved = KnowledgeRunConfig.model_validate(deep_merge(base, overrides))
            chosen = policy or (str(latest_policy(run_dir)) if latest_policy(run_dir) else resolved.policy_checkpoint)
            resolved.policy_checkpoint = chosen
            work_dir = run_dir
        else:
            resolved = resolve_config(preset or ("smoke" if not config else None), config, overrides, schema=KnowledgeRunConfig)
            resolved.policy_checkpoint = policy
            work_dir = Path(tempfile.mkdtemp(prefix="seal-eval-"))
        resolved = resolved.with_absolute_paths()
        loaded = load_configured_passages(resolved.data)
        teacher = load_chat_model(resolved.eval.teacher) if resolved.eval.teacher else None
        prepared = PreparedKnowledgeRun(resolved, work_dir, loaded, resume=True)
        ctx = build_knowledge_context(prepared)
    except (ConfigError, PassageError, ModelLoadError, ValueError) as err:
        fail(str(err))
    teacher_name = resolved.eval.teacher.class_path.rsplit(".", 1)[-1] if teacher is not None else "teacher"
    console.print(
        f"[bold]seal eval knowledge[/] · {len(loaded)} passages{' in one update per row (cpt)' if resolved.mode == 'cpt' else ''} · model {escape(resolved.model.name_or_path)} · "
        f"policy {escape(resolved.policy_checkpoint or 'initial')} · {resolved.update.seeds} seeds per update"
    )
    progress = progress_bar()
    bar = progress.add_task("passages", total=len(loaded))
    with progress:
        results = evaluate_baselines(
            ctx, loaded, self_edits=self_edits, teacher=teacher, teacher_name=teacher_name,
            on_passage=lambda _p: progress.advance(bar),
        )
    ctx.traces.close()
    results["policy_checkpoint"] = resolved.policy_checkpoint
    console.print(scores_table(
        "knowledge incorporation: questions answered without the passage",
        [(r["name"] + (f" ({r['rejected']}/{r['self_edits']} rejected)" if r["rejected"] else ""), r["metrics"]) for r in results["rows"]],
    ))
    if json_path is not None:
        write_output(json_path, json.dumps(results, indent=2))
        console.print(f"results: {escape(str(json_path))}")
