"""`seal eval arc`: score sources of self-edits on ARC tasks, through the path training uses.

    seal eval arc --preset smoke --tasks 6e02f1e3 --self-edit '[{"name": "data_generation", ...}, ...]'
    seal eval arc --run-dir runs/arc-... --tasks ID,ID --policy initial --policy latest --json eval.json

Each row of the table is one source of self-edits, scored on the same tasks and the same
evaluation queries:

    no update        the base model in context, no update (the run's baseline node)
    fixed NAME       one given self-edit, applied K times per task (K seeds of its data sample)
    policy CKPT      K self-edits per task sampled from a policy checkpoint (or the initial policy)
    teacher NAME     K self-edits per task from any LangChain chat model with tool calling

Every self-edit goes through `seal_agent.arc.scoring.score_self_edits`, exactly as in the
graph's `execute` node: validation, TTT data, the engine, voting, pass@2. A row's success is
solved (task, self-edit) pairs over all pairs (the paper's measure), with a 95% Wilson
interval and the breakdown by task. Each row's candidates are traced as one "round" of
the eval's run directory, so `seal trace` and `seal report` read an eval like a run.

With `policy.merge_into_base` a policy checkpoint is merged into the base weights, so it is
also the base that its row's test-time training starts from; the other rows use the
original base model.
"""

from __future__ import annotations

import json
import math
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from statistics import median
from typing import Any

from langchain_core.messages import BaseMessage

from seal_agent.arc.data import ArcTask
from seal_agent.arc.evaluate import evaluate_base
from seal_agent.arc.scoring import prepare_self_edits, query_seed, train_and_reward
from seal_agent.policy.candidates import candidates_from, message_from_json
from seal_agent.policy.chat_models import self_edit_from
from seal_agent.arc.prompts import prompt_options, self_edit_messages
from seal_agent.policy.tool_format import SEPARATORS, openai_tools
from seal_agent.run.seeding import derive_seed
from seal_agent.state import Candidate
from seal_agent.stats import success_row

# (task, the self-edit prompt's messages, K, seed) -> (the rendered prompt, K candidates)
Propose = Callable[[ArcTask, list[BaseMessage], int, int], tuple[str | None, list[Candidate]]]


@dataclass
class Source:
    """One row of the table: where its self-edits come from."""

    name: str
    kind: str  # "fixed" | "policy" | "teacher"
    propose: Propose
    checkpoint: str | None = None  # the policy adapter in place while this row is sampled and scored
    detail: dict[str, Any] = field(default_factory=dict)  # written to the JSON


def fixed_source(name: str, calls: list[dict[str, Any]]) -> Source:
    """A given self-edit (a JSON array of {"name", "arguments"} calls), applied K times per task."""
    message = message_from_json(json.dumps(calls, separators=SEPARATORS))

    def propose(task, messages, k, seed):
        return None, candidates_from([message] * k)

    return Source(name, "fixed", propose, detail={"self_edit": calls})


def policy_source(ctx, checkpoint: str | None, name: str, shown: Callable[[ArcTask], ArcTask] | None = None) -> Source:
    """K self-edits per task sampled from `checkpoint` (a policy adapter directory; None: the initial policy).

    `shown`: the task whose demonstrations the policy's prompt shows instead of the task's own
    (a blind policy: another task's); the self-edit is still trained and scored on the task.
    """

    def propose(task, messages, k, seed):
        if shown is not None:
            messages = self_edit_messages(shown(task), ctx.tools, **prompt_options(ctx.config.policy))
        with ctx.model_lock:
            ctx.policy_slot.use(checkpoint)
            result = ctx.policy.generate([messages], tools=openai_tools(ctx.tools), n=k, seed=seed)
        return ctx.policy.render_prompt(messages), candidates_from([g.message for g in result.generations[0]])

    detail = {"checkpoint": checkpoint or "initial", **({"prompt_shows": "another task's demonstrations"} if shown else {})}
    return Source(name, "policy", propose, checkpoint=checkpoint, detail=detail)


def teacher_source(chat_model, name: str, tools: list) -> Source:
    """K self-edits per task from a frozen chat model, asked with the policy's own messages."""

    def propose(task, messages, k, seed):
        return None, candidates_from([self_edit_from(chat_model, messages, tools) for _ in range(k)])

    return Source(name, "teacher", propose, detail={"model": type(chat_model).__name__})


def evaluate_arc(
    ctx,
    sources: list[Source],
    *,
    self_edits_per_task: int,
    no_update: bool = True,
    on_step: Callable[[str, str], None] | None = None,
) -> dict[str, Any]:
    """Score every source on every task of `ctx` (an `ArcContext`); the results as JSON-ready data.

    Source i's candidates are traced as round i (1-based) of the run directory; the no-update
    answers go to the trace's baseline table. Per task, every row's self-edits train together
    (one batch for the engine), except that with `policy.merge_into_base` each policy
    checkpoint's rows train on their own merged base. `on_step(stage, task_id)` is told as
    each task finishes a stage ("no update", then "self-edits").
    """
    config, tasks = ctx.config, list(ctx.tasks.values())
    start = time.perf_counter()
    rows: list[dict[str, Any]] = []
    if no_update:
        ctx.policy_slot.use(None)
        solved = {}
        for task in tasks:
            began = time.perf_counter()
            evaluation = evaluate_base(ctx.engine, task, config.eval, query_seed(config.seed, task.task_id))
            ctx.traces.record_baseline(task.task_id, evaluation.solved, evaluation.attempts, evaluation.raw_outputs,
                                       time.perf_counter() - began)
            solved[task.task_id] = evaluation.solved
            if on_step is not None:
                on_step("no update", task.task_id)
        rows.append(success_row("no update", sum(solved.values()), len(solved), kind="no_update", round=None, detail={},
                                per_task={t: {"solved": int(s), "n": 1} for t, s in solved.items()}))
    scored: dict[int, list[dict[str, Any]]] = {index: [] for index in range(1, len(sources) + 1)}
    for task in tasks:
        messages = self_edit_messages(task, ctx.tools, **prompt_options(config.policy))
        by_base: dict[str | None, list[tuple[dict[str, Any], Any]]] = {}
        for index, source in enumerate(sources, start=1):
            seed = derive_seed(config.seed, "eval", source.name, task.task_id)
            prompt, candidates = source.propose(task, messages, self_edits_per_task, seed)
            base = source.checkpoint if ctx.policy_slot.merge else None
            for row, job in prepare_self_edits(task, candidates, config=config, tokenizer=ctx.engine.tokenizer,
                                               tools=ctx.tools, round_=index):
                row["prompt"] = prompt
                by_base.setdefault(base, []).append((row, job))
        task_rows = []
        for base, prepared in by_base.items():
            ctx.policy_slot.use(base)  # merge mode: the policy's merged weights are the TTT base too
            task_rows += train_and_reward(task, prepared, config=config, engine=ctx.engine)
        ctx.traces.record_candidates(task_rows)
        for row in task_rows:
            scored[row["round"]].append(row)
        if on_step is not None:
            on_step("self-edits", task.task_id)
    ctx.policy_slot.use(None)
    rows += [row_figures(source, index, scored[index]) for index, source in enumerate(sources, start=1)]
    return {
        "kind": "arc-eval",
        "model": config.model.name_or_path,
        "seed": config.seed,
        "self_edits_per_task": self_edits_per_task,
        "tasks": [t.task_id for t in tasks],
        "rows": rows,
        "seconds": round(time.perf_counter() - start, 1),
    }


def row_figures(source: Source, index: int, rows: list[dict[str, Any]]) -> dict[str, Any]:
    per_task: dict[str, dict[str, int]] = {}
    for row in rows:
        entry = per_task.setdefault(row["task_id"], {"solved": 0, "n": 0})
        entry["solved"] += int(row["reward"] >= 1)
        entry["n"] += 1
    return success_row(
        source.name, sum(e["solved"] for e in per_task.values()), len(rows), kind=source.kind, round=index,
        detail=source.detail, per_task=per_task,
        valid_fraction=sum(r["status"] != "rejected" for r in rows) / len(rows) if rows else 0.0,
        failed=sum(r["status"] == "failed" for r in rows), choices=choice_summary(rows),
        seconds=round(sum(r.get("seconds") or 0.0 for r in rows), 2),  # each candidate's own data, training, evaluation
    )


def choice_summary(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """What the valid self-edits chose: learning rates (median, share per decade), epochs, loss
    strategy, and the share that switched each augmentation on (SEAL's groups or open tools)."""
    valid = [r for r in rows if r.get("training")]
    if not valid:
        return {"valid": 0}
    rates = [r["training"]["learning_rate"] for r in valid]
    decades = Counter(f"1e{math.floor(math.log10(lr))}" for lr in rates)
    augmentations: Counter = Counter()
    for row in valid:
        chosen = set()
        for call in row.get("tool_calls") or []:
            if call.get("name") == "data_generation":
                chosen.update(k for k, v in (call.get("args") or {}).items() if v is True)
            elif call.get("name") != "train":
                chosen.add(call.get("name"))  # an open tool called three times is still one choice
        augmentations.update(chosen)
    share = lambda counter: {k: round(v / len(valid), 3) for k, v in sorted(counter.items())}  # noqa: E731
    return {
        "valid": len(valid),
        "learning_rate_median": float(f"{median(rates):.3g}"),
        "learning_rate_decades": share(decades),
        "epochs": share(Counter(r["training"]["num_train_epochs"] for r in valid)),
        "epochs_mean": round(sum(r["training"]["num_train_epochs"] for r in valid) / len(valid), 2),
        "strategy": share(Counter(r["training"]["strategy"] for r in valid)),
        "augmentations": share(augmentations),
    }


def eval_summary(results: dict[str, Any]) -> dict[str, Any]:
    """The eval's summary.json: the results, plus its rows in the shape `seal trace` and `seal report` read."""
    no_update = next((r for r in results["rows"] if r["kind"] == "no_update"), None)
    rounds = [
        {"round": r["round"], "name": r["name"], "success_rate": r["success"], "mean_reward": r["success"],
         "candidates": r["n"], "valid_fraction": r["valid_fraction"], "failed": r["failed"], "rewarded": r["solved"],
         "seconds": r.get("seconds")}
        for r in results["rows"] if r["kind"] != "no_update"
    ]
    baseline = {"evaluated": no_update is not None}
    if no_update is not None:
        baseline.update(success_rate=no_update["success"], solved={t: bool(v["solved"]) for t, v in no_update["per_task"].items()})
    return {"domain": "arc", **results, "baseline": baseline, "rounds": rounds, "stop_reason": "done"}
