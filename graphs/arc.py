"""The SEAL ARC loop as a LangGraph state machine.

    START -> baseline -> start_round -(Send per task)-> propose -(Send per task)-> execute
                              ^                                                          |
                              +------------- next round <- reinforce <-------------------+
                                                              |
                                                              +-> END (all rounds done)

baseline     evaluates the base model with no update (in-context only), once.
propose      the policy writes K self-edits for one task (tool calls, sampled together).
execute      one task's K candidates: validate each one's tool calls and build its TTT
             data, then train and evaluate them together (the batched engine; or one by
             one with `ttt.engine: sequential`); reward 1 if solved, else 0. A rejected
             or failed candidate is recorded with its reason, reward 0.
reinforce    ReST-EM: fine-tune the policy on the rewarded self-edits, save it, summarise.

Each Send branch is its own task in LangGraph's superstep, and the SQLite checkpointer
stores each finished branch's writes, so a run killed mid-round resumes without redoing
the tasks whose candidates had finished (a task's candidates are trained together, so a
task is the unit of work that is redone). Heavy objects (model, engine, policy, trace store) come
in through the runtime context, `ArcContext`; the state holds only JSON.

    seal run arc --preset smoke
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from langgraph.graph import END, StateGraph
from langgraph.runtime import Runtime
from langgraph.types import Command, Send

from seal_agent.graphs.serving import add_nodes, add_start
from seal_agent.arc.data import ArcTask
from seal_agent.arc.evaluate import evaluate_base
from seal_agent.arc.scoring import query_seed, rest_em_kept, score_self_edits
from seal_agent.arc.config import RunConfig
from seal_agent.engine import Engine
from seal_agent.policy.candidates import candidates_from
from seal_agent.policy.local import LocalToolPolicy
from seal_agent.arc.prompts import prompt_options, self_edit_messages
from seal_agent.policy.tool_format import openai_tools
from seal_agent.rl.policy_gradient import completion_logprobs, sampled_nll, update_policy
from seal_agent.rl.rest_em import PolicySlot, candidate_counts, end_of_round
from seal_agent.run.seeding import derive_seed
from seal_agent.run.traces import TraceStore
from seal_agent.state import ArcState, ExecuteInput, ProposeInput


@dataclass
class ArcContext:
    """What the nodes need besides the state: built once per process by `seal_agent.jobs.arc`."""

    config: RunConfig
    tasks: dict[str, ArcTask]
    engine: Engine  # sequential, batched, Ray or vLLM: seal_agent.engine
    policy: LocalToolPolicy
    traces: TraceStore
    run_dir: Path
    policy_slot: PolicySlot  # which policy checkpoint the in-memory adapter holds
    tools: list  # the self-edit tools of the configured vocabulary, in prompt/grammar order
    # Branches may run in threads (several Ray actors): the one local model samples for one at a time.
    model_lock: threading.Lock = field(default_factory=threading.Lock)

    def use_policy(self, checkpoint: str | None) -> None:
        self.policy_slot.use(checkpoint)


# -- nodes ----------------------------------------------------------------------------------


def baseline(state: ArcState, runtime: Runtime[ArcContext]) -> dict[str, Any]:
    ctx = runtime.context
    if not ctx.config.eval.baseline:
        return {"baseline": {"evaluated": False}}
    solved = {}
    for task_id in state["task_ids"]:
        start = time.perf_counter()
        evaluation = evaluate_base(ctx.engine, ctx.tasks[task_id], ctx.config.eval, query_seed(ctx.config.seed, task_id))
        seconds = time.perf_counter() - start
        ctx.traces.record_baseline(task_id, evaluation.solved, evaluation.attempts, evaluation.raw_outputs, seconds)
        solved[task_id] = evaluation.solved
    rate = sum(solved.values()) / len(solved) if solved else 0.0
    return {"baseline": {"evaluated": True, "success_rate": rate, "solved": solved}}


def start_round(state: ArcState) -> dict[str, Any]:
    return {"round": state.get("round", 0) + 1}


def send_tasks(state: ArcState) -> list[Send]:
    return [
        Send("propose", ProposeInput(round=state["round"], task_id=t, policy_checkpoint=state.get("policy_checkpoint")))
        for t in state["task_ids"]
    ]


def propose(payload: ProposeInput, runtime: Runtime[ArcContext]) -> Command:
    ctx = runtime.context
    config = ctx.config
    start = time.perf_counter()
    task = ctx.tasks[payload["task_id"]]
    messages = self_edit_messages(task, ctx.tools, **prompt_options(config.policy))
    seed = derive_seed(config.seed, payload["round"], payload["task_id"], "propose")
    with ctx.model_lock:
        ctx.use_policy(payload["policy_checkpoint"])
        result = ctx.policy.generate([messages], tools=openai_tools(ctx.tools), n=config.policy.candidates_per_task, seed=seed)
    prompt = ctx.policy.render_prompt(messages)
    generated = [g.message for g in result.generations[0]]
    proposal = {
        "round": payload["round"],
        "task_id": payload["task_id"],
        "prompt": prompt,
        "completions": [m.text for m in generated],
    }
    # What the policy-gradient update's ratios start from, and (for every algorithm) the
    # round's sampled NLL per token, the policy's entropy estimate: one forward pass.
    with ctx.model_lock:
        proposal["sampling_logprobs"] = completion_logprobs(ctx.policy_slot.model, ctx.engine.tokenizer, prompt,
                                                            proposal["completions"])
    proposal["seconds"] = time.perf_counter() - start
    candidates = candidates_from(generated)
    sends = [Send("execute", ExecuteInput(round=payload["round"], task_id=payload["task_id"], candidates=candidates))]
    return Command(update={"proposals": [proposal]}, goto=sends)


def execute(payload: ExecuteInput, runtime: Runtime[ArcContext]) -> dict[str, Any]:
    """All of one task's candidates: validate, build data, then train and evaluate them together."""
    ctx = runtime.context
    rows = score_self_edits(
        ctx.tasks[payload["task_id"]], payload["candidates"], config=ctx.config, engine=ctx.engine, tools=ctx.tools, round_=payload["round"],
    )
    ctx.traces.record_candidates([{**row, "prompt": None} for row in rows])
    # The state keeps what later nodes and the summary need; the full record is in the trace.
    keep = ("round", "task_id", "candidate", "status", "reason", "reward", "tool_names", "completion", "seconds")
    return {"results": [{key: row.get(key) for key in keep} for row in rows]}


def reinforce(state: ArcState, runtime: Runtime[ArcContext]) -> dict[str, Any]:
    ctx = runtime.context
    config = ctx.config
    current = state["round"]
    start = time.perf_counter()
    results = [r for r in state["results"] if r["round"] == current]
    prompts = {p["task_id"]: p["prompt"] for p in state["proposals"] if p["round"] == current}
    rewarded = rest_em_kept(results)
    pairs = [(prompts[r["task_id"]], r["completion"]) for r in rewarded]
    policy = update_policy(ctx.policy_slot, ctx.engine.tokenizer, config, current, state.get("policy_checkpoint"), pairs,
                           results, prompts)
    proposal_seconds = sum(p["seconds"] for p in state["proposals"] if p["round"] == current)
    summary = {
        "round": current,
        "success_rate": sum(r["reward"] for r in results) / len(results) if results else 0.0,
        "mean_reward": sum(r["reward"] for r in results) / len(results) if results else 0.0,
        **candidate_counts(results),
        "rewarded": len(rewarded),
        **sampled_nll(state["proposals"], current),
        **policy,
        "seconds": proposal_seconds + sum(r["seconds"] for r in results) + (time.perf_counter() - start),
    }
    return end_of_round(summary, policy, current, config.rounds)


def next_round_or_end(state: ArcState) -> str:
    return END if state.get("stop_reason") else "start_round"


def build_arc_graph(context_schema=ArcContext, context_from=None, initial_state=None) -> StateGraph:
    """The ARC loop. `seal run arc` passes an `ArcContext` at run time; under LangGraph's
    server, `context_from` turns the request (of type `context_schema`) into one and
    `initial_state` gives the first state (`seal_agent.graphs.serving`, `seal_agent.jobs.serve`)."""
    builder = StateGraph(ArcState, context_schema=context_schema)
    add_nodes(builder, {"baseline": baseline, "start_round": start_round, "propose": propose, "execute": execute,
                        "reinforce": reinforce}, context_from, {"propose": ("execute",)})
    add_start(builder, "baseline", context_from, initial_state)
    builder.add_edge("baseline", "start_round")
    builder.add_conditional_edges("start_round", send_tasks, ["propose"])
    builder.add_edge("execute", "reinforce")
    builder.add_conditional_edges("reinforce", next_round_or_end, ["start_round", END])
    return builder


# The compiled graph (no checkpointer). Running it needs an `ArcContext` as the runtime
# context: `seal run arc` builds one. LangGraph's server runs `seal_agent.jobs.serve`'s.
graph = build_arc_graph().compile()
