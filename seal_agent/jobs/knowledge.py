"""`seal run knowledge` as a function: prepare a run directory, build the context, drive the graph.

A run directory holds what an ARC run's does (config.yaml, run.sqlite with checkpoints
and traces, base_model/ for `tiny`, policy/round_N/, summary.json), and for
`--mode continual` also:
    continual/step_N.safetensors   the update of step N (merged, or kept in the adapter library;
                                   a resumed run rebuilds the state from these)
    continual/step_N.json          its passage, its training texts, what it replayed
    forgetting.json                the (K+1) x K forgetting matrix, rewritten after every step

Which passages each round uses is fixed at the start from the seed (a seeded shuffle,
then consecutive blocks of `passages_per_round`: fresh passages every round) and recorded
in the state and in summary.json, with every sampling and update seed.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from seal_agent.graphs.knowledge import KnowledgeContext, build_knowledge_graph
from seal_agent.engine.local import local_engine
from seal_agent.knowledge.config import KnowledgeRunConfig
from seal_agent.knowledge.data import Passage, load_configured_passages
from seal_agent.knowledge.prompts import variant_tools
from seal_agent.knowledge.reward import mean_metrics
from seal_agent.model.adapters import TTT_ADAPTER, adapter_state
from seal_agent.model.loading import ModelLoadError, check_model_source, load_run_model
from seal_agent.policy.chat_models import load_chat_model
from seal_agent.policy.local import LocalToolPolicy
from seal_agent.rl.rest_em import PolicySlot
from seal_agent.rl.sft import load_policy, policy_state
from seal_agent.run.directory import DB_FILE, create_run_dir, run_config, write_atomic
from seal_agent.run.driver import drive_graph, exclusive_run
from seal_agent.run.traces import TraceStore
from seal_agent.tools import knowledge_tools

THREAD_ID = "seal-knowledge"
FORGETTING_FILE = "forgetting.json"


def plan_passages(passage_ids: list[str], config: KnowledgeRunConfig) -> list[list[str]]:
    """The passages of each round (single), or the one set (cpt) or sequence (continual).

    A seeded shuffle cut into consecutive blocks, so every round gets fresh passages; when
    the file runs out, the shuffle starts over (the summary lists exactly what was used).
    """
    order = list(passage_ids)
    random.Random(config.seed).shuffle(order)
    n = min(config.passages_per_round, len(order))
    rounds = config.rounds if config.mode == "single" else 1
    return [[order[(r * n + i) % len(order)] for i in range(n)] for r in range(rounds)]


@dataclass
class PreparedKnowledgeRun:
    config: KnowledgeRunConfig
    run_dir: Path
    passages: list[Passage]
    resume: bool


def prepare_knowledge_run(config: KnowledgeRunConfig | None, run_dir: str | Path, resume: bool) -> PreparedKnowledgeRun:
    """Check everything, then (for a new run) take the directory: lock, check, marker, config.yaml."""
    run_dir = Path(run_dir)
    config = run_config(run_dir, config, resume, KnowledgeRunConfig)
    passages = load_configured_passages(config.data)  # may raise PassageError: nothing created yet
    if not resume:
        variant_tools(config.policy.prompt, knowledge_tools(), no_update=config.policy.no_update)
        check_model_source(config.model, {"update.lora": config.update.lora, "policy.lora": config.policy.lora})
        if config.policy_checkpoint and not (Path(config.policy_checkpoint) / "policy").is_dir():
            raise ModelLoadError(
                f"policy checkpoint {config.policy_checkpoint}: no policy/ adapter inside (expected a run's policy/round_N)"
            )
        create_run_dir(run_dir, config)
    return PreparedKnowledgeRun(config, run_dir, passages, resume)


def build_knowledge_context(prepared: PreparedKnowledgeRun):
    config = prepared.config
    peft_model, tokenizer, _source = load_run_model(config, config.update.lora, prepared.run_dir)
    initial_policy = policy_state(peft_model)
    if config.policy_checkpoint:  # start from a trained policy (e.g. a single-mode run's last round)
        load_policy(peft_model, Path(config.policy_checkpoint), initial_policy)
        initial_policy = policy_state(peft_model)
    # Continual mode merges what the sequential engine trained; the other modes use the configured one.
    sequential = local_engine(config.update, peft_model, tokenizer, engine="sequential")
    engine = sequential if config.update.engine == "sequential" else local_engine(config.update, peft_model, tokenizer)
    policy = LocalToolPolicy(
        model=peft_model, tokenizer=tokenizer, temperature=config.policy.temperature, top_p=config.policy.top_p,
        max_new_tokens=config.policy.max_new_tokens, constrained=config.policy.constrained,
    )
    return KnowledgeContext(
        config=config,
        passages={p.passage_id: p for p in prepared.passages},
        engine=engine,
        sequential=sequential,
        policy=policy,
        traces=TraceStore(prepared.run_dir / DB_FILE),
        run_dir=prepared.run_dir,
        policy_slot=PolicySlot(peft_model, prepared.run_dir, initial_policy, merge=config.policy.merge_into_base),
        tools=variant_tools(config.policy.prompt, knowledge_tools(), no_update=config.policy.no_update),
        judge=load_chat_model(config.reward.judge) if config.reward.kind == "judge" else None,
        initial_update_state=adapter_state(peft_model, TTT_ADAPTER),
    )


def forgetting_matrix(state: dict[str, Any], config: KnowledgeRunConfig) -> dict[str, Any]:
    """Row 0: the base model on every passage of the sequence; row i: after the i-th merged
    update, on passages 1..i (null above the diagonal: not seen yet)."""
    sequence = (state.get("round_passages") or [[]])[0]
    metric = config.reward.kind
    baseline = state.get("baseline") or {}
    matrix = [[baseline[p][metric] if p in baseline else None for p in sequence]]
    for step in sorted(state.get("steps", []), key=lambda s: s["step"]):
        matrix.append(step["row"] + [None] * (len(sequence) - len(step["row"])))
    return {
        "metric": metric,
        "strategy": config.continual.strategy,
        "passages": sequence,
        "rows": ["base"] + [f"after update {i}" for i in range(1, len(matrix))],
        "matrix": matrix,
    }


def knowledge_summary(config: KnowledgeRunConfig, state: dict[str, Any], seconds: float | None = None) -> dict[str, Any]:
    baseline = state.get("baseline") or {}
    summary = {
        "domain": "knowledge",
        "mode": config.mode,
        "seed": config.seed,
        "model": config.model.name_or_path,
        "prompt": config.policy.prompt,
        "reward_kind": config.reward.kind,
        "round_passages": state.get("round_passages", []),
        "baseline": {"mean": mean_metrics(list(baseline.values())), "per_passage": baseline},
        "rounds": sorted(state.get("rounds", []), key=lambda r: r["round"]),
        "stop_reason": state.get("stop_reason"),
        "seconds": seconds,
    }
    if config.mode == "continual":
        summary["steps"] = sorted(state.get("steps", []), key=lambda s: s["step"])
        summary["forgetting"] = forgetting_matrix(state, config)
    return summary


def run_knowledge(
    prepared: PreparedKnowledgeRun,
    on_update: Callable[[str, dict[str, Any]], None] | None = None,
    interrupt_after: list[str] | None = None,
    context=None,
) -> dict[str, Any]:
    """Run (or resume) the configured mode's graph to the end; returns the summary (summary.json)."""
    config = prepared.config
    ids = [p.passage_id for p in prepared.passages]
    plan = plan_passages(ids, config)
    used = list(dict.fromkeys(p for block in plan for p in block))
    initial = {"round": 0, "passage_ids": used, "round_passages": plan}

    def summarise(state: dict[str, Any], seconds: float | None) -> dict[str, Any]:
        summary = knowledge_summary(config, state, seconds)
        if config.mode == "continual":
            write_atomic(prepared.run_dir / FORGETTING_FILE, json.dumps(summary["forgetting"], indent=2))
        return summary

    with exclusive_run(prepared.run_dir):
        ctx = context or build_knowledge_context(prepared)
        try:
            return drive_graph(
                build_knowledge_graph(config.mode), prepared.run_dir, THREAD_ID, ctx, initial, prepared.resume,
                summarise, ("reinforce", "cpt_update", "continual_step"), on_update, interrupt_after,
            )
        finally:
            if context is None:
                ctx.traces.close()
