"""`seal run arc` as a function: prepare a run directory, build the context, drive the ARC graph.

A run directory holds:
    config.yaml       the resolved config (a resumed run reads it back)
    run.sqlite        LangGraph's checkpoints and the traces (`seal_agent.run.traces`)
    base_model/       the tiny model, when the config asks for `tiny`
    policy/round_N/   the policy adapter after each round's ReST-EM update (peft format)
    summary.json      per-round figures and the no-update baseline

Everything that can be checked is checked before the directory is created (config, task
files, task ids, tool modules, the model's path), so a bad input leaves nothing behind.

    prepared = prepare_run(RunConfig.resolve("smoke"), "runs/x", resume=False)
    summary = run_arc(prepared)
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from seal_agent.graphs.arc import ArcContext, build_arc_graph
from seal_agent.arc.data import ArcTask, load_configured_tasks
from seal_agent.arc.config import RunConfig
from seal_agent.engine.local import local_engine
from seal_agent.model.loading import check_model_source, load_run_model
from seal_agent.policy.local import LocalToolPolicy
from seal_agent.rl.rest_em import PolicySlot
from seal_agent.rl.sft import policy_state, save_policy
from seal_agent.run.directory import DB_FILE, create_run_dir, run_config
from seal_agent.run.driver import drive_graph, exclusive_run
from seal_agent.run.traces import TraceStore
from seal_agent.tools import arc_tools

THREAD_ID = "seal-arc"


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


@dataclass
class PreparedRun:
    config: RunConfig
    run_dir: Path
    tasks: list[ArcTask]
    resume: bool


def prepare_run(config: RunConfig | None, run_dir: str | Path, resume: bool) -> PreparedRun:
    """Check everything, then (for a new run) take the directory: lock, check, marker, config.yaml."""
    run_dir = Path(run_dir)
    config = run_config(run_dir, config, resume, RunConfig)
    tasks = load_configured_tasks(config.data)  # may raise TaskError: nothing has been created yet
    if not resume:
        arc_tools(config.tools.vocabulary, config.tools.modules)  # may raise ToolLoadError, likewise
        check_model_source(config.model, {"ttt.lora": config.ttt.lora, "policy.lora": config.policy.lora})  # ModelLoadError, likewise
        create_run_dir(run_dir, config)
    return PreparedRun(config, run_dir, tasks, resume)


def build_context(prepared: PreparedRun):
    config = prepared.config
    peft_model, tokenizer, source = load_run_model(config, config.ttt.lora, prepared.run_dir)
    engine = local_engine(config.ttt, peft_model, tokenizer)
    if config.executor.kind == "ray":
        from seal_agent.engine.ray import RayEngine

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
    from seal_agent.engine.vllm import VllmClient, VllmEngine, cpu_environment, engine_args
    from seal_agent.policy.vllm import VllmPolicy

    client = VllmClient(args=engine_args(config, source), cpu_env=cpu_environment(config))
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


def run_arc(
    prepared: PreparedRun,
    on_update: Callable[[str, dict[str, Any]], None] | None = None,
    interrupt_after: list[str] | None = None,
    context=None,
) -> dict[str, Any]:
    """Run (or resume) the ARC graph to the end; returns the summary, also written to summary.json."""
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
