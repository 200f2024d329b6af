"""Evaluate adapted models on a task's test inputs: the reward.

Evaluation is split in two so that an engine can decode the queries of many candidates in
shared batches: `plan_queries` lists the prompts (the same for every candidate of a task),
the engine generates an answer per (candidate, prompt), and `score` turns one candidate's
answers into attempts and a verdict.

Two strategies (`eval.strategy`):
    vote   - SEAL's evaluation: many augmented queries per test input, answers mapped
             back and voted to `attempts` answers (`seal_agent.arc.voting`); pass@2 by default.
    greedy - one greedy answer per test input, from all demonstrations; pass@1. Cheaper.
A task is solved when every test output is among its test input's attempts.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from seal_agent.arc.data import ArcTask
from seal_agent.arc.grid_text import task_prompt
from seal_agent.grids import Grid
from seal_agent.arc.voting import answer_in_original_frame, build_queries, vote
from seal_agent.arc.config import EvalConfig
from seal_agent.engine.sequential import in_batches
from seal_agent.run.seeding import derive_seed


@dataclass
class Evaluation:
    attempts: list[list[Grid]]              # per test input, the submitted answers
    correct: list[bool]                     # per test input
    raw_outputs: list[str] = field(default_factory=list)  # per test input, one thing the model wrote
    votes: list[list[dict]] = field(default_factory=list)  # per test input, the top of the vote table
    queries: int = 0

    @property
    def solved(self) -> bool:
        return bool(self.correct) and all(self.correct)


@dataclass
class QueryPlan:
    """The prompts to decode for one task, and for each which test input and view it serves."""

    task: ArcTask
    config: EvalConfig
    prompts: list[str]
    test_index: list[int]
    views: list[str]


def plan_queries(task: ArcTask, config: EvalConfig, seed: int) -> QueryPlan:
    prompts, test_index, views = [], [], []
    demos = [(p.input, p.output) for p in task.train]
    for index, pair in enumerate(task.test):
        if config.strategy == "greedy":
            queries = [("identity", task_prompt(demos, pair.input))]
        else:
            built = build_queries(
                task, pair.input, config.views, config.orderings, config.max_queries_per_view, derive_seed(seed, "queries", index)
            )
            queries = [(q.view, q.prompt) for q in built]
        for view, prompt in queries:
            prompts.append(prompt)
            test_index.append(index)
            views.append(view)
    return QueryPlan(task, config, prompts, test_index, views)


def score(plan: QueryPlan, outputs: list[str]) -> Evaluation:
    """One candidate's answers (one per prompt of the plan) -> attempts, votes, verdict."""
    result = Evaluation(attempts=[], correct=[], queries=len(outputs))
    for index, pair in enumerate(plan.task.test):
        rows = [i for i, t in enumerate(plan.test_index) if t == index]
        answers = [(plan.views[i], answer_in_original_frame(outputs[i], plan.views[i])) for i in rows]
        if plan.config.strategy == "greedy":
            attempts = [a for _, a in answers if a is not None][:1]
            table = []
        else:
            voted = vote(answers, top_per_view=plan.config.top_per_view, attempts=plan.config.attempts)
            attempts, table = voted.attempts, voted.table[:5]
        result.attempts.append(attempts)
        result.correct.append(pair.output in attempts)
        result.votes.append(table)
        result.raw_outputs.append(outputs[rows[0]] if rows else "")
    return result


def evaluate(engine, task: ArcTask, config: EvalConfig, seed: int, use_adapter: bool = True) -> Evaluation:
    """Evaluate the engine's current TTT adapter (or the bare base model) on `task`."""
    plan = plan_queries(task, config, seed)
    outputs = in_batches(
        lambda chunk: engine.generate(chunk, max_new_tokens=config.max_new_tokens, use_adapter=use_adapter),
        plan.prompts,
        config.batch_size,
    )
    return score(plan, outputs)


def evaluate_base(engine, task: ArcTask, config: EvalConfig, seed: int) -> Evaluation:
    """The base model in context, with no update: what the run's baseline measures."""
    plan = plan_queries(task, config, seed)
    return score(plan, engine.generate_base(plan.prompts, config.max_new_tokens, config.batch_size))


def evaluate_voting(engine, task: ArcTask, config: EvalConfig, seed: int, use_adapter: bool = True) -> Evaluation:
    return evaluate(engine, task, config.model_copy(update={"strategy": "vote"}), seed, use_adapter)
