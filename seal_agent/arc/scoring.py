"""Score one task's self-edits: validate, build the TTT data, train and evaluate, reward.

This is the whole inner loop of SEAL's ARC domain for one task, as a plain function. The
graph's `execute` node calls it, and so do `seal eval arc` and the benchmarks, so a
self-edit is scored by exactly the same path wherever it comes from:

1. each candidate's tool calls are validated (pydantic, the tool registry); a bad one is
   rejected with its reason;
2. a valid one's augmentations build its TTT data (`seal_agent.arc.ttt_data`), and a budget
   check rejects one needing more than `ttt.max_steps` optimiser steps;
3. the engine trains every accepted candidate's LoRA from the same initial weights and
   decodes the task's evaluation queries with it (the batched engine: all together);
4. the answers are voted to `eval.attempts` attempts per test input (`seal_agent.arc.evaluate`);
   reward 1 if every test output is among them (pass@2), else 0.

A candidate whose training fails (NaN loss, out of memory, time limit) is marked failed
with the reason. Every row is a full trace record (`seal_agent.run.traces`).
"""

from __future__ import annotations

import time
from typing import Any

from seal_agent.arc.data import ArcTask
from seal_agent.arc.evaluate import plan_queries, score
from seal_agent.arc.ttt_data import build_training_data
from seal_agent.arc.config import RunConfig
from seal_agent.engine.sequential import CandidateOutcome, TrainJob, planned_steps, split_on_out_of_memory
from seal_agent.policy.candidates import rebuild_message
from seal_agent.policy.self_edit import Rejection, SelfEdit, validate_self_edit
from seal_agent.run.seeding import derive_seed
from seal_agent.state import Candidate
from seal_agent.tools import ToolOutputError, TrainingSettings


def score_self_edits(
    task: ArcTask,
    candidates: list[Candidate],
    *,
    config: RunConfig,
    engine,
    tools: list,
    round_: int,
) -> list[dict[str, Any]]:
    """Trace rows for `candidates` (one per candidate, in order), each with its reward.

    Candidate i's data and LoRA are seeded by (run seed, round, task, i). The evaluation
    queries depend only on (run seed, task): every candidate of the task, in every round
    and every row of `seal eval arc`, answers the same queries, so their rewards compare.
    """
    prepared = prepare_self_edits(task, candidates, config=config, tokenizer=engine.tokenizer, tools=tools, round_=round_)
    return train_and_reward(task, prepared, config=config, engine=engine)


def prepare_self_edits(
    task: ArcTask, candidates: list[Candidate], *, config: RunConfig, tokenizer, tools: list, round_: int
) -> list[tuple[dict[str, Any], TrainJob | None]]:
    """Steps 1-2 for each candidate: its trace row, and its training job (None if rejected)."""
    defaults = TrainingSettings(
        learning_rate=config.ttt.default_learning_rate,
        num_train_epochs=config.ttt.default_epochs,
        strategy=config.ttt.default_strategy,
    )
    prepared = []
    for candidate in candidates:
        start = time.perf_counter()
        row: dict[str, Any] = {
            "round": round_,
            "task_id": task.task_id,
            "candidate": candidate["candidate"],
            "completion": candidate["completion"],
            "tool_calls": candidate["tool_calls"],
            "status": "ok",
            "reason": None,
            "reward": 0.0,
            "tool_names": [],
            "timings": {},
        }
        job = None
        self_edit = validate_self_edit(rebuild_message(candidate), tools, defaults)
        if isinstance(self_edit, Rejection):
            row.update(status="rejected", reason=self_edit.reason)
        else:
            row["tool_names"] = self_edit.tool_names
            row["training"] = {**self_edit.training.model_dump(), "from_defaults": self_edit.training_from_defaults}
            seed = derive_seed(config.seed, round_, task.task_id, candidate["candidate"])
            job = prepare_job(config, tokenizer, task, self_edit, seed, row)
        row["seconds"] = time.perf_counter() - start
        prepared.append((row, job))
    return prepared


def train_and_reward(
    task: ArcTask, prepared: list[tuple[dict[str, Any], TrainJob | None]], *, config: RunConfig, engine
) -> list[dict[str, Any]]:
    """Steps 3-4: train every prepared job together, vote, reward; returns the rows, completed."""
    with_jobs = [(row, job) for row, job in prepared if job is not None]
    plan = plan_queries(task, config.eval, query_seed(config.seed, task.task_id))
    for (row, _job), outcome in zip(with_jobs, run_jobs(config, engine, [job for _row, job in with_jobs], plan)):
        if outcome.failure is not None:
            row.update(status="failed", reason=outcome.failure, reward=0.0)
            continue
        evaluation = score(plan, outcome.outputs)
        row["loss_curve"] = outcome.train.losses
        row["timings"].update(train=outcome.train.seconds, eval=outcome.train.eval_seconds)
        row["seconds"] += outcome.train.seconds + outcome.train.eval_seconds
        row["predictions"], row["raw_outputs"], row["votes"] = evaluation.attempts, evaluation.raw_outputs, evaluation.votes
        row["reward"] = arc_reward(evaluation.solved)
    return [row for row, _job in prepared]


def query_seed(seed: int, task_id: str) -> int:
    """The seed of a task's evaluation queries (which demonstration subsets and orderings are asked)."""
    return derive_seed(seed, task_id, "eval")


def arc_reward(solved: bool) -> float:
    """SEAL's ARC reward: 1 if the adapted model solved the task (pass@2 by default), else 0."""
    return 1.0 if solved else 0.0


def prepare_job(config: RunConfig, tokenizer, task: ArcTask, self_edit: SelfEdit, seed: int, row: dict[str, Any]) -> TrainJob | None:
    """Build a validated self-edit's data and check its step budget; None if it is rejected (reason in `row`)."""
    start = time.perf_counter()
    try:
        data = build_training_data(
            task,
            self_edit.augmentations,
            tokenizer,
            strategy=self_edit.training.strategy,
            max_examples=config.ttt.max_examples,
            max_sequence_tokens=config.ttt.max_sequence_tokens,
            seed=seed,
            colour_twins=config.ttt.colour_twins,
        )
    except ToolOutputError as bad_output:
        row.update(status="rejected", reason=f"bad tool output: {bad_output}")
        return None
    except Exception as failure:  # an augmentation the policy chose crashed while applied
        row.update(status="rejected", reason=f"augmentation failed: {type(failure).__name__}: {str(failure)[:300]}")
        return None
    row["data_counts"], row["data_sample"] = data.counts, data.sample_text
    row["timings"]["data"] = time.perf_counter() - start
    epochs = self_edit.training.num_train_epochs
    steps = planned_steps(len(data.examples), epochs, config.ttt.batch_size)
    if not data.examples:
        row.update(status="rejected", reason="the self-edit produced no training examples")
        return None
    if steps > config.ttt.max_steps:
        row.update(
            status="rejected",
            reason=f"needs {steps} training steps ({len(data.examples)} examples x {epochs} epochs / batch "
            f"{config.ttt.batch_size}); the budget is {config.ttt.max_steps}",
        )
        return None
    return TrainJob(data.examples, self_edit.training.learning_rate, epochs, seed)


def run_jobs(config: RunConfig, engine, jobs: list[TrainJob], plan) -> list[CandidateOutcome]:
    """Train and evaluate the jobs with the engine (halving the batch on out of memory)."""
    return split_on_out_of_memory(
        engine, jobs,
        lambda some: engine.train_and_generate(some, plan.prompts, config.eval.max_new_tokens, config.eval.batch_size),
    )


def rest_em_kept(results: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """ReST-EM's selection for ARC: the self-edits whose adapted model solved their task (reward 1).

    In (task, candidate) order, whatever order the graph's branches finished in: the policy's
    fine-tune is seeded by position, so the same run keeps the same examples in the same order.
    """
    return sorted((r for r in results if r["reward"] >= 1.0), key=lambda r: (r["task_id"], r["candidate"]))

