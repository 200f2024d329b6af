"""Evaluate an adapted model on a task's test inputs: greedy decoding, parse, exact match.

The prompt is every demonstration followed by the test input (the format of
`seal_agent.grid_text`). A task is solved when every test output is predicted exactly;
this is pass@1 (augmentation voting comes with the full augmentation library).
"""

from __future__ import annotations

from dataclasses import dataclass

from seal_agent.arc_data import ArcTask
from seal_agent.grid_text import Grid, parse_grid, task_prompt


@dataclass
class Evaluation:
    predictions: list[Grid | None]
    raw_outputs: list[str]
    correct: list[bool]

    @property
    def solved(self) -> bool:
        return bool(self.correct) and all(self.correct)


def evaluate_task(engine, task: ArcTask, max_new_tokens: int, use_adapter: bool = True) -> Evaluation:
    demos = [(p.input, p.output) for p in task.train]
    prompts = [task_prompt(demos, pair.input) for pair in task.test]
    raw = engine.generate(prompts, max_new_tokens=max_new_tokens, use_adapter=use_adapter)
    predictions = [parse_grid(text) for text in raw]
    correct = [pred == pair.output for pred, pair in zip(predictions, task.test)]
    return Evaluation(predictions=predictions, raw_outputs=raw, correct=correct)
