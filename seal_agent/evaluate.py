"""Evaluate an adapted model on a task's test inputs: the reward.

Two strategies (`eval.strategy`):
    vote   - SEAL's evaluation: many augmented queries per test input, answers mapped
             back and voted to `attempts` answers (`seal_agent.voting`); pass@2 by default.
    greedy - one greedy answer per test input, from all demonstrations; pass@1. Cheaper.
A task is solved when every test output is among its test input's attempts.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from seal_agent.arc_data import ArcTask
from seal_agent.config import EvalConfig
from seal_agent.grid_text import Grid, parse_grid, task_prompt
from seal_agent.seeding import derive_seed
from seal_agent.voting import answer_in_original_frame, build_queries, vote


@dataclass
class Evaluation:
    attempts: list[list[Grid]]              # per test input, the submitted answers
    correct: list[bool]                     # per test input
    raw_outputs: list[str] = field(default_factory=list)  # a sample of what the model wrote
    votes: list[list[dict]] = field(default_factory=list)  # per test input, the vote table
    queries: int = 0

    @property
    def solved(self) -> bool:
        return bool(self.correct) and all(self.correct)


def _generate_batched(engine, prompts: list[str], max_new_tokens: int, batch_size: int, use_adapter: bool) -> list[str]:
    outputs: list[str] = []
    for first in range(0, len(prompts), batch_size):
        outputs += engine.generate(prompts[first : first + batch_size], max_new_tokens=max_new_tokens, use_adapter=use_adapter)
    return outputs


def evaluate_greedy(engine, task: ArcTask, max_new_tokens: int, use_adapter: bool = True) -> Evaluation:
    demos = [(p.input, p.output) for p in task.train]
    raw = engine.generate([task_prompt(demos, p.input) for p in task.test], max_new_tokens=max_new_tokens, use_adapter=use_adapter)
    attempts = [[g] if (g := parse_grid(text)) is not None else [] for text in raw]
    correct = [pair.output in tries for pair, tries in zip(task.test, attempts)]
    return Evaluation(attempts=attempts, correct=correct, raw_outputs=raw, queries=len(raw))


def evaluate_voting(engine, task: ArcTask, config: EvalConfig, seed: int, use_adapter: bool = True) -> Evaluation:
    result = Evaluation(attempts=[], correct=[])
    for index, pair in enumerate(task.test):
        queries = build_queries(
            task, pair.input, config.views, config.orderings, config.max_queries_per_view, derive_seed(seed, "queries", index)
        )
        raw = _generate_batched(engine, [q.prompt for q in queries], config.max_new_tokens, config.batch_size, use_adapter)
        answers = [(q.view, answer_in_original_frame(text, q.view)) for q, text in zip(queries, raw)]
        voted = vote(answers, top_per_view=config.top_per_view, attempts=config.attempts)
        result.attempts.append(voted.attempts)
        result.correct.append(pair.output in voted.attempts)
        result.votes.append(voted.table[:5])
        result.raw_outputs.append(raw[0] if raw else "")
        result.queries += len(queries)
    return result


def evaluate(engine, task: ArcTask, config: EvalConfig, seed: int, use_adapter: bool = True) -> Evaluation:
    if config.strategy == "greedy":
        return evaluate_greedy(engine, task, config.max_new_tokens, use_adapter)
    return evaluate_voting(engine, task, config, seed, use_adapter)
