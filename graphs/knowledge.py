"""SEAL's knowledge incorporation as LangGraph state machines: the ARC skeleton, other tools.

mode single (ReST-EM training; one update per passage):

    START -> baseline -> start_round -(Send per passage)-> propose -(Send)-> execute
                              ^                                                 |
                              +---------- next round <- reinforce <-------------+ -> END

mode cpt (all passages' self-edits in one update):

    START -> baseline -> start_round -(Send per passage)-> propose -> cpt_update -> END

mode continual (passages one after another, each update kept before the next):

    START -> baseline -> continual_step -> continual_step -> ... -> END

baseline        the base model on every passage's questions, without the passage.
propose         the policy writes k self-edits for a passage (tool calls: implications,
                a rewrite, question-answer pairs), sampled together under the tool grammar.
execute         each self-edit's update (its sequences plus the passage) is trained with
                s seeds, all k x s together (the batched engine), then scored without the
                passage; the reward (mean over seeds) is recorded per candidate.
reinforce       ReST-EM: per passage keep the best self-edit (if it beat the base model,
                or whatever its gain with policy.keep best), fine-tune the policy on the
                kept ones, save it; the next round takes fresh passages.
cpt_update      one update on every passage and all valid self-edits, s seeds, then every
                passage is scored.
continual_step  one self-edit for the next passage, its update trained (saved to
                continual/step_N.safetensors, with its texts in step_N.json, so a resumed
                run rebuilds the same state) and kept as `continual.strategy` says: merged
                into the base weights (merge, replay) or into a library of adapters
                (seal_agent.knowledge.continual); then every passage seen so far is
                scored: one row of the forgetting matrix.

Heavy objects come through the runtime context (`KnowledgeContext`); the state is JSON.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from langgraph.graph import END, StateGraph
from langgraph.runtime import Runtime
from langgraph.types import Command, Send
from safetensors.torch import load_file, save_file

from seal_agent.graphs.serving import add_nodes, add_start
from seal_agent.engine import ScoringEngine
from seal_agent.engine.full_update import FullUpdateEngine
from seal_agent.engine.sequential import CandidateFailed, LoraEngine, TrainJob, planned_steps, split_on_out_of_memory
from seal_agent.knowledge.config import KnowledgeRunConfig
from seal_agent.knowledge.data import Passage
from seal_agent.knowledge.reward import mean_metrics, passage_metrics
from seal_agent.knowledge.scoring import (
    candidate_row, passage_scorer, rest_em_kept, sample_self_edits, score_self_edits, update_seeds, validated,
    within_budget,
)
from seal_agent.knowledge.continual import (
    MERGING, library_keys, read_step_records, replay_texts, score_through_library, write_step_record,
)
from seal_agent.knowledge.update import self_edit_examples, self_edit_texts, text_examples
from seal_agent.model.adapters import TTT_ADAPTER, adapter_state, load_adapter_state, merge_adapter_into_base
from seal_agent.policy.local import LocalToolPolicy
from seal_agent.rl.policy_gradient import completion_logprobs, sampled_nll, update_policy
from seal_agent.rl.rest_em import PolicySlot, candidate_counts, end_of_round
from seal_agent.run.directory import replaced_atomically
from seal_agent.run.seeding import derive_seed
from seal_agent.run.traces import TraceStore
from seal_agent.state import KnowledgeState, PassageCandidates, PassageInput


@dataclass
class KnowledgeContext:
    """What the nodes need besides the state: built once per process by `seal_agent.jobs.knowledge`."""

    config: KnowledgeRunConfig
    passages: dict[str, Passage]
    engine: ScoringEngine  # batched or sequential: seal_agent.engine
    sequential: LoraEngine  # continual mode: its trained adapter is what gets merged
    policy: LocalToolPolicy
    traces: TraceStore
    run_dir: Path
    policy_slot: PolicySlot
    tools: list  # the prompt variant's tool
    judge: Any = None  # a LangChain chat model, for reward kind "judge"
    merged_steps: int = 0  # continual (merge, replay): how many saved updates the in-memory base weights hold
    library: dict[int, dict] = field(default_factory=dict)  # continual (adapter_library): step -> its adapter's weights
    initial_update_state: dict = field(default_factory=dict)

    @property
    def tokenizer(self):
        return self.engine.tokenizer

    def scorer(self, passage: Passage):
        """`score(model)` for the engines: the passage's questions, asked without the passage."""
        return passage_scorer(self.config, self.tokenizer, passage)

    def metrics(self, scored: dict[str, Any], passage: Passage) -> dict[str, Any]:
        return passage_metrics(scored, passage, self.judge)

    def cpt_engine(self):
        """The engine of mode cpt's one update: the configured LoRA engine, or (update.method full) every weight."""
        if self.config.update.method != "full":
            return self.engine
        update = self.config.update
        return FullUpdateEngine(self.sequential.model, self.tokenizer, batch_size=update.batch_size,
                                max_grad_norm=update.max_grad_norm, time_limit=update.max_seconds_per_candidate,
                                lr_schedule=update.lr_schedule)

    def step_file(self, step: int) -> Path:
        return self.run_dir / "continual" / f"step_{step}.safetensors"

    def score_with_library_adapter(self, step: int | None, passage: Passage) -> dict[str, Any]:
        """`passage`'s questions scored with continual step `step`'s adapter (None: the bare base model)."""
        if step is None:
            return self.engine.score_base(self.scorer(passage))
        if step not in self.library:  # read once; a resumed run reads the same files
            self.library[step] = load_file(str(self.step_file(step)))
        model = self.sequential.model
        load_adapter_state(model, self.library[step])
        model.set_adapter(TTT_ADAPTER, inference_mode=True)
        return self.scorer(passage)(model)

    def ensure_merged(self, steps: int) -> None:
        """Make the in-memory base weights hold the first `steps` continual updates (after a resume too)."""
        if self.merged_steps > steps:
            raise RuntimeError(f"the model holds {self.merged_steps} merged updates, more than the {steps} asked for")
        while self.merged_steps < steps:
            self.merged_steps += 1
            load_adapter_state(self.engine.model, load_file(str(self.step_file(self.merged_steps))))
            merge_adapter_into_base(self.engine.model, TTT_ADAPTER)
            load_adapter_state(self.engine.model, self.initial_update_state)


# -- shared steps ---------------------------------------------------------------------------


KEEP = ("round", "task_id", "candidate", "status", "reason", "reward", "improvement", "tool_names", "completion", "seconds",
        "skipped")


def record(ctx: KnowledgeContext, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Write the rows to the trace; return what the state keeps of them."""
    ctx.traces.record_candidates([{**row, "prompt": None} for row in rows])
    return [{key: row.get(key) for key in KEEP} for row in rows]


# -- nodes ----------------------------------------------------------------------------------


def baseline(state: KnowledgeState, runtime: Runtime[KnowledgeContext]) -> dict[str, Any]:
    ctx = runtime.context
    results = {}
    for passage_id in state["passage_ids"]:
        start = time.perf_counter()
        passage = ctx.passages[passage_id]
        scored = ctx.engine.score_base(ctx.scorer(passage))
        metrics = ctx.metrics(scored, passage)
        ctx.traces.record_baseline(passage_id, False, scored["answers"], scored["loglik"], time.perf_counter() - start, metrics)
        results[passage_id] = metrics
    return {"baseline": results}


def start_round(state: KnowledgeState) -> dict[str, Any]:
    return {"round": state.get("round", 0) + 1}


def send_passages(state: KnowledgeState) -> list[Send]:
    current = state["round"]
    return [
        Send("propose", PassageInput(
            round=current, passage_id=p, policy_checkpoint=state.get("policy_checkpoint"), base=state["baseline"][p]))
        for p in state["round_passages"][current - 1]
    ]


def propose(payload: PassageInput, runtime: Runtime[KnowledgeContext]) -> Command:
    ctx = runtime.context
    config = ctx.config
    start = time.perf_counter()
    ctx.policy_slot.use(payload["policy_checkpoint"])
    seed = derive_seed(config.seed, payload["round"], payload["passage_id"], "propose")
    prompt, candidates = sample_self_edits(
        ctx.policy, ctx.tools, ctx.passages[payload["passage_id"]], config, config.policy.candidates_per_passage, seed
    )
    proposal = {
        "round": payload["round"], "task_id": payload["passage_id"], "prompt": prompt, "seed": seed,
        "candidates": candidates,
    }
    # What the policy-gradient update's ratios start from, and (for every algorithm) the
    # round's sampled NLL per token, the policy's entropy estimate: one forward pass.
    proposal["sampling_logprobs"] = completion_logprobs(ctx.policy_slot.model, ctx.tokenizer, prompt,
                                                        [c["completion"] for c in candidates])
    proposal["seconds"] = time.perf_counter() - start
    if config.mode == "cpt":  # the one update waits for every passage's self-edits
        return Command(update={"proposals": [proposal]})
    work = PassageCandidates(
        round=payload["round"], passage_id=payload["passage_id"], base=payload["base"], prompt=prompt, candidates=candidates
    )
    return Command(update={"proposals": [proposal]}, goto=[Send("execute", work)])


def execute(payload: PassageCandidates, runtime: Runtime[KnowledgeContext]) -> dict[str, Any]:
    """One passage's k self-edits: each update trained with s seeds (k x s together), scored, rewarded."""
    ctx = runtime.context
    rows = score_self_edits(
        ctx.passages[payload["passage_id"]], payload["candidates"], payload["base"],
        config=ctx.config, engine=ctx.engine, tools=ctx.tools, round_=payload["round"], judge=ctx.judge,
    )
    return {"results": record(ctx, rows)}


def reinforce(state: KnowledgeState, runtime: Runtime[KnowledgeContext]) -> dict[str, Any]:
    """ReST-EM: per passage keep the best self-edit (`policy.keep`); fine-tune the policy on them."""
    ctx = runtime.context
    config = ctx.config
    current = state["round"]
    start = time.perf_counter()
    results = [r for r in state["results"] if r["round"] == current]
    proposals = {p["task_id"]: p for p in state["proposals"] if p["round"] == current}
    kept = rest_em_kept(results, state["round_passages"][current - 1], config.policy.keep, gated=config.policy.no_update)
    pairs = [(proposals[r["task_id"]]["prompt"], r["completion"]) for r in kept]
    prompts = {passage: proposal["prompt"] for passage, proposal in proposals.items()}
    policy = update_policy(ctx.policy_slot, ctx.tokenizer, config, current, state.get("policy_checkpoint"), pairs,
                           results, prompts)
    ok = [r for r in results if r["status"] == "ok"]
    passages = state["round_passages"][current - 1]
    summary = {
        "round": current,
        "reward_kind": config.reward.kind,
        "mean_reward": sum(r["reward"] for r in ok) / len(ok) if ok else 0.0,
        "best_reward": sum(max((r["reward"] for r in ok if r["task_id"] == p), default=0.0) for p in passages) / len(passages),
        "base": mean_metrics([state["baseline"][p] for p in passages]),
        **candidate_counts(results),
        "kept": len(kept),
        **({"no_update_sampled": sum(bool(r.get("skipped")) for r in results),
            "no_update_kept": sum(bool(r.get("skipped")) for r in kept)} if config.policy.no_update else {}),
        **sampled_nll(state["proposals"], current),
        **policy,
        "passages": passages,
        "seeds": {
            p: {"propose": proposals[p]["seed"],
                "update": [update_seeds(config, current, p, c["candidate"]) for c in proposals[p]["candidates"]]}
            for p in passages
        },
        "seconds": sum(p["seconds"] for p in proposals.values()) + sum(r["seconds"] for r in results)
        + (time.perf_counter() - start),
    }
    return end_of_round(summary, policy, current, config.rounds)


def next_round_or_end(state: KnowledgeState) -> str:
    return END if state.get("stop_reason") else "start_round"


def cpt_update(state: KnowledgeState, runtime: Runtime[KnowledgeContext]) -> dict[str, Any]:
    """Continued pretraining: every passage and every valid self-edit in one update, s seeds."""
    ctx = runtime.context
    config = ctx.config
    start = time.perf_counter()
    passages = state["round_passages"][0]
    proposals = {p["task_id"]: p for p in state["proposals"] if p["round"] == 1}
    rows, examples = [], []
    for passage_id in passages:
        passage = ctx.passages[passage_id]
        self_edits = []
        for candidate in proposals[passage_id]["candidates"]:
            row = candidate_row(1, passage_id, candidate)
            rows.append(row)
            edit = validated(candidate, ctx.tools, row, config.policy)
            if edit is not None:
                self_edits.append(edit.sequences)
        examples += self_edit_examples(ctx.tokenizer, passage, self_edits, config.update)
    seeds = update_seeds(config, 1, "cpt", "all")
    jobs = [TrainJob(examples, config.update.learning_rate, config.update.epochs, seed) for seed in seeds]

    def score_all(model):
        return {p: ctx.scorer(ctx.passages[p])(model) for p in passages}

    engine = ctx.cpt_engine()
    outcomes = split_on_out_of_memory(engine, jobs, lambda some: engine.train_and_score(some, score_all))
    failures = [o.failure for o in outcomes if o.failure is not None]
    after: dict[str, Any] = {}
    if not failures:
        for p in passages:
            after[p] = mean_metrics([ctx.metrics(o.evaluation[p], ctx.passages[p]) for o in outcomes])
    kept = record(ctx, rows)
    summary = {
        "round": 1,
        "mode": "cpt",
        "reward_kind": config.reward.kind,
        "passages": passages,
        "seeds": {"propose": {p: proposals[p]["seed"] for p in passages}, "update": seeds},
        "candidates": len(rows),
        "valid_fraction": sum(r["status"] != "rejected" for r in rows) / len(rows) if rows else 0.0,
        "sequences": len(examples),
        "steps": planned_steps(len(examples), config.update.epochs, config.update.batch_size),
        "update_failure": failures[0] if failures else None,
        "loss_curve": outcomes[0].train.losses if not failures and outcomes else [],
        "base": mean_metrics([state["baseline"][p] for p in passages]),
        "after": mean_metrics(list(after.values())) if after else None,
        "after_per_passage": after,
        "seconds": sum(p["seconds"] for p in proposals.values()) + time.perf_counter() - start,
    }
    return {"results": kept, "rounds": [summary], "stop_reason": "done"}


def continual_step(state: KnowledgeState, runtime: Runtime[KnowledgeContext]) -> dict[str, Any]:
    """The next passage's self-edit and its update, kept as `continual.strategy` says; then
    every passage seen so far is scored: one row of the forgetting matrix."""
    ctx = runtime.context
    config = ctx.config
    strategy = config.continual.strategy
    start = time.perf_counter()
    sequence = state["round_passages"][0]
    step = len(state.get("steps", [])) + 1
    if strategy in MERGING:
        ctx.ensure_merged(step - 1)
    passage_id = sequence[step - 1]
    passage = ctx.passages[passage_id]
    ctx.policy_slot.use(state.get("policy_checkpoint"))
    seed = derive_seed(config.seed, "continual", step, passage_id, "propose")
    _prompt, (candidate,) = sample_self_edits(ctx.policy, ctx.tools, passage, config, 1, seed)
    row = candidate_row(step, passage_id, candidate)
    edit = validated(candidate, ctx.tools, row, config.policy)
    skipped = edit is not None and edit.skips_update  # the policy decided this passage needs no update
    # A rejected self-edit still leaves the passage itself to learn from (when configured).
    texts = [] if skipped else self_edit_texts(passage, [edit.sequences if edit is not None else []], config.update)
    earlier = read_step_records(ctx.run_dir, step - 1) if strategy != "merge" else []
    replayed = (replay_texts(earlier, config.continual.replay_budget, derive_seed(config.seed, "continual", step, "replay"))
                if strategy == "replay" and not skipped else [])
    examples = text_examples(ctx.tokenizer, texts + replayed, config.update.max_sequence_tokens)
    update_seed = update_seeds(config, step, passage_id, 0)[0]
    weights = ctx.initial_update_state  # LoRA's B starts at zero: merging it changes nothing
    trained_at = time.perf_counter()
    trained = False
    if texts and within_budget(config, examples, row):
        try:
            result = ctx.sequential.train(examples, config.update.learning_rate, config.update.epochs, update_seed)
            row["loss_curve"] = result.losses
            weights = adapter_state(ctx.engine.model, TTT_ADAPTER)
            trained = True
        except CandidateFailed as failure:  # no update this step; the sequence goes on
            row.update(status="failed", reason=str(failure))
    # Every step leaves its files (a zero update when there was none), so a resumed run
    # rebuilds exactly what this one held.
    path = ctx.step_file(step)
    path.parent.mkdir(parents=True, exist_ok=True)
    with replaced_atomically(path) as tmp:
        save_file({k: v.detach().contiguous() for k, v in weights.items()}, str(tmp))
    write_step_record(ctx.run_dir, step, {"step": step, "passage": passage_id, "trained": trained, "texts": texts,
                                          "replayed": replayed})
    if strategy in MERGING:
        ctx.ensure_merged(step)
    update_seconds = time.perf_counter() - trained_at
    row_scores, routing = [], None
    if strategy == "adapter_library":
        keys = library_keys(earlier + [{"step": step, "trained": trained, "texts": texts}])
        routing = []
        for index, seen in enumerate(sequence[:step]):
            scored, routes = score_through_library(ctx.passages[seen], keys, ctx.score_with_library_adapter)
            row_scores.append(ctx.metrics(scored, ctx.passages[seen]))
            routing.append(sum(r == index + 1 for r in routes) / len(routes) if routes else None)
        ctx.sequential.reset()
    else:
        for seen in sequence[:step]:
            scored = ctx.engine.score_base(ctx.scorer(ctx.passages[seen]))
            row_scores.append(ctx.metrics(scored, ctx.passages[seen]))
    metric = config.reward.kind
    row["metrics"] = {"seen": list(sequence[:step]), "after_step": row_scores}
    row["seconds"] = time.perf_counter() - start
    kept = record(ctx, [row])
    record_ = {
        "step": step, "passage": passage_id, "status": row["status"], "reason": row["reason"],
        "metric": metric, "row": [m[metric] for m in row_scores], "metrics": row_scores,
        "seeds": {"propose": seed, "update": update_seed}, "seconds": row["seconds"],
        "strategy": strategy, "updated": trained, "skipped": skipped, "update_seconds": round(update_seconds, 3),
        "replayed": len(replayed), "sequences": len(examples),
    }
    if routing is not None:  # per seen passage: the fraction of its questions answered with its own adapter
        record_["routed_to_own_adapter"] = routing
    update: dict[str, Any] = {"results": kept, "steps": [record_]}
    if step >= len(sequence):
        update["stop_reason"] = "done"
    return update


def next_step_or_end(state: KnowledgeState) -> str:
    return END if state.get("stop_reason") else "continual_step"


def build_knowledge_graph(mode: str = "single", context_schema=KnowledgeContext, context_from=None,
                          initial_state=None) -> StateGraph:
    """The knowledge loop of `mode`; `context_schema`, `context_from` and `initial_state`
    as in `seal_agent.graphs.arc.build_arc_graph` (LangGraph's server)."""
    builder = StateGraph(KnowledgeState, context_schema=context_schema)
    add_nodes(builder, {"baseline": baseline}, context_from)
    add_start(builder, "baseline", context_from, initial_state)
    if mode == "continual":
        add_nodes(builder, {"continual_step": continual_step}, context_from)
        builder.add_edge("baseline", "continual_step")
        builder.add_conditional_edges("continual_step", next_step_or_end, ["continual_step", END])
        return builder
    builder.add_node("start_round", start_round)
    builder.add_edge("baseline", "start_round")
    builder.add_conditional_edges("start_round", send_passages, ["propose"])
    if mode == "cpt":
        add_nodes(builder, {"propose": propose, "cpt_update": cpt_update}, context_from)
        builder.add_edge("propose", "cpt_update")
        builder.add_edge("cpt_update", END)
        return builder
    add_nodes(builder, {"propose": propose, "execute": execute, "reinforce": reinforce}, context_from,
              {"propose": ("execute",)})
    builder.add_edge("execute", "reinforce")
    builder.add_conditional_edges("reinforce", next_round_or_end, ["start_round", END])
    return builder


# The compiled single-mode graph (no checkpointer). Running it needs a `KnowledgeContext`
# as the runtime context: `seal run knowledge` builds one. LangGraph's server runs
# `seal_agent.jobs.serve`'s.
graph = build_knowledge_graph("single").compile()
