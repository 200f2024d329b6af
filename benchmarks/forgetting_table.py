"""Continual knowledge incorporation on the nano world: the forgetting matrix over K passages
in sequence, pooled over seeds (the paper's catastrophic-forgetting figure).

    python benchmarks/forgetting_table.py --model models/nano-knowledge --seeds 1,2,3 --passages 8 \\
        --json benchmarks/results_forgetting_nano.json
    # with the policy after ReST-EM round 2 of an earlier knowledge table (same model, seeds):
    python benchmarks/forgetting_table.py --model models/nano-knowledge --policy-work WORK --policy-round 2 ...

For each seed, K evaluation people of the nano world (never in pretraining or RL) are
taken one after another by `seal run knowledge --mode continual`: the policy writes one
self-edit for the passage, its update (the knowledge table's settings) is merged into the
base weights, and every passage seen so far is asked about without its passage. Cell (i, j)
is passage j after update i; row 0 is the base model. Cells are means over seeds of exact
match and of the log-likelihood of the gold answers (`--json` keeps every seed's matrices).

Forgetting of passage j is its score right after its own update minus its score after the
last one; the table reports its mean over (seed, passage) pairs with a normal 95% interval.

`--strategies merge,replay,adapter_library` runs the same sequence (same seeds, passages and
policy) under each `continual.strategy` and prints, per strategy and metric, with normal
95% intervals over seeds: the first passage right after its own update and after the last
one (and their paired difference), the newest passage after its update (and its paired
difference from merge's), the mean over all passages after the last update, forgetting
over all passages, and the updates made and their seconds (training, plus merging).

    python benchmarks/forgetting_table.py --model models/nano-knowledge --seeds 1,2,3,4,5 --passages 8 \
        --strategies merge,replay,adapter_library --json benchmarks/results_continual_strategies_nano.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from seal_agent.config import deep_merge, read_yaml_mapping
from seal_agent.jobs.knowledge import prepare_knowledge_run, run_knowledge
from seal_agent.knowledge import nano_world
from seal_agent.knowledge.nano_world import LOOP_CONFIG
from seal_agent.knowledge.config import STRATEGIES, KnowledgeRunConfig
from seal_agent.model.tiny import recipe_summary
from seal_agent.run.seeding import each_seed, table_settings
from seal_agent.stats import mean_and_interval

METRICS = ("exact_match", "loglik")


def run_seed(args, seed: int, work: Path) -> dict[str, Any]:
    """Every strategy's run of this seed's sequence; the first strategy's keys also at the top."""
    work.mkdir(parents=True, exist_ok=True)
    sequence = nano_world.passages("eval", args.passages, seed)
    nano_world.write_passages(sequence, work / "sequence.jsonl")
    layers = read_yaml_mapping(args.config) if args.config else {}
    policy = None
    if args.policy_work:
        policy = args.policy_work / f"seed-{seed}" / "rest-em" / "policy" / f"round_{args.policy_round}"
        if not policy.is_dir():
            raise SystemExit(f"--policy-work: no policy {policy}")
    runs = {}
    for strategy in args.strategies:
        start = time.perf_counter()
        config = KnowledgeRunConfig.resolve(None, overrides=deep_merge(deep_merge(LOOP_CONFIG, layers), {
            "model": {"name_or_path": args.model}, "seed": seed, "data": {"path": str(work / "sequence.jsonl")},
            "mode": "continual", "passages_per_round": args.passages, "eval": {"greedy_answers": True, "teacher": None},
            "policy_checkpoint": str(policy) if policy else None,
            "continual": {"strategy": strategy, "replay_budget": args.replay_budget}}))
        # The first strategy's runs keep their old place, so earlier work directories are reused.
        run_dir = work / ("continual" if strategy == args.strategies[0] else f"continual-{strategy}")
        resume = (run_dir / "config.yaml").exists()  # a seed cut mid-sequence goes on from its last update
        summary = run_knowledge(prepare_knowledge_run(None if resume else config, run_dir, resume=resume))
        order = summary["forgetting"]["passages"]
        baseline = summary["baseline"]["per_passage"]
        matrices = {}
        for metric in METRICS:
            rows = [[baseline[p][metric] for p in order]]
            for step in summary["steps"]:
                scores = [m[metric] for m in step["metrics"]]
                rows.append(scores + [None] * (len(order) - len(scores)))
            matrices[metric] = rows
        steps = summary["steps"]
        runs[strategy] = {
            "passages": order, "matrices": matrices, "rejected": sum(s["status"] == "rejected" for s in steps),
            "updates": sum(bool(s.get("updated", True)) for s in steps),
            "update_seconds": round(sum(s.get("update_seconds", 0.0) for s in steps), 2),
            "routed_to_own_adapter": steps[-1].get("routed_to_own_adapter"),
            "seconds": round(time.perf_counter() - start, 1)}
    first = runs[args.strategies[0]]
    return {"seed": seed, "policy": str(policy) if policy else None, **first, "strategies": runs}


def pooled_matrix(per_seed: list[dict[str, Any]], metric: str) -> list[list[float | None]]:
    size = len(per_seed[0]["matrices"][metric])
    cells = [[[s["matrices"][metric][i][j] for s in per_seed] for j in range(size - 1)] for i in range(size)]
    return [[None if None in values else round(statistics.fmean(values), 4) for values in row] for row in cells]


def forgetting(per_seed: list[dict[str, Any]], metric: str) -> tuple[float, list[float]]:
    """Score right after a passage's own update minus after the last update, over (seed, passage)."""
    drops = []
    for s in per_seed:
        matrix = s["matrices"][metric]
        last = len(matrix) - 1
        drops += [matrix[j + 1][j] - matrix[last][j] for j in range(last - 1)]
    return mean_and_interval(drops)


def interval_row(values: list[float]) -> dict[str, Any]:
    mean, interval = mean_and_interval(values)
    return {"mean": mean, "ci": interval}


def strategy_rows(per_seed: list[dict[str, Any]], strategy: str, metric: str) -> dict[str, Any]:
    """The summary rows of one strategy and metric, each a mean over seeds with its 95% interval."""
    matrices = [s["strategies"][strategy]["matrices"][metric] for s in per_seed]
    rows = {
        "first_after_own_update": interval_row([m[1][0] for m in matrices]),
        "first_after_last_update": interval_row([m[-1][0] for m in matrices]),
        "first_forgetting": interval_row([m[1][0] - m[-1][0] for m in matrices]),
        "newest_after_its_update": interval_row([m[-1][-1] for m in matrices]),
        "mean_all_after_last_update": interval_row([statistics.fmean(m[-1]) for m in matrices]),
    }
    mean, interval = forgetting([{"matrices": s["strategies"][strategy]["matrices"]} for s in per_seed], metric)
    rows["forgetting_all"] = {"mean": mean, "ci": interval}
    if strategy != "merge" and all("merge" in s["strategies"] for s in per_seed):
        merged = [s["strategies"]["merge"]["matrices"][metric] for s in per_seed]
        rows["newest_minus_merge"] = interval_row([m[-1][-1] - b[-1][-1] for m, b in zip(matrices, merged)])
    return rows


def strategy_costs(per_seed: list[dict[str, Any]], strategy: str) -> dict[str, Any]:
    runs = [s["strategies"][strategy] for s in per_seed]
    return {"updates": interval_row([float(r["updates"]) for r in runs]),
            "update_seconds": interval_row([r["update_seconds"] for r in runs]),
            "run_seconds": statistics.fmean(r["seconds"] for r in runs)}


def print_strategies(table: dict[str, Any], metric: str) -> None:
    labels = {"first_after_own_update": "first passage, right after its update",
              "first_after_last_update": "first passage, after the last update",
              "first_forgetting": "first passage: forgetting (paired)",
              "newest_after_its_update": "newest passage, after its update",
              "newest_minus_merge": "newest passage: minus merge's (paired)",
              "mean_all_after_last_update": "all passages, after the last update",
              "forgetting_all": "forgetting, all passages"}
    print(f"strategies, {metric} (mean over seeds [95% interval])")
    print(f"{'':40}" + "".join(f"{name:>26}" for name in table))
    for key, label in labels.items():
        cells = []
        for rows in table.values():
            r = rows[metric].get(key)
            cells.append("" if r is None else f"{r['mean']:.3f} [{r['ci'][0]:.3f}, {r['ci'][1]:.3f}]")
        print(f"{label:40}" + "".join(f"{c:>26}" for c in cells))
    print(f"{'updates made':40}" + "".join(f"{rows['costs']['updates']['mean']:>26.1f}" for rows in table.values()))
    print(f"{'update seconds, whole sequence':40}" + "".join(f"{rows['costs']['update_seconds']['mean']:>26.1f}"
                                                            for rows in table.values()))
    print()


def print_matrix(matrix: list[list[float | None]], metric: str) -> None:
    print(f"{metric}: row i = after update i (0: base model), column j = passage j")
    print("          " + "".join(f"{'p' + str(j + 1):>8}" for j in range(len(matrix[0]))))
    for i, row in enumerate(matrix):
        cells = "".join(f"{'':>8}" if v is None else (f"{v:>8.1%}" if metric == "exact_match" else f"{v:>8.2f}") for v in row)
        print(f"{'base' if i == 0 else 'update ' + str(i):>10}{cells}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True, help="A `seal pretrain nano --world knowledge` model directory.")
    parser.add_argument("--seeds", default="1,2,3", type=lambda text: [int(s) for s in text.split(",")])
    parser.add_argument("--passages", type=int, default=8, help="K: passages in the sequence (paper: 8).")
    parser.add_argument("--policy-work", type=Path, help="A knowledge table's --work: use its ReST-EM policies.")
    parser.add_argument("--policy-round", type=int, default=2, help="With --policy-work: the ReST-EM round's policy.")
    parser.add_argument("--config", type=Path, help="A YAML config layered over the knowledge table's loop.")
    parser.add_argument("--work", type=Path, help="Where the runs go (default: a temporary directory); finished seeds are reused.")
    parser.add_argument("--json", type=Path, help="Write the matrices and everything behind them here.")
    parser.add_argument("--strategies", default="merge", type=lambda text: text.split(","),
                        help="Comma-separated continual.strategy values, each run on the same sequences (merge first "
                        "for the paired differences from it).")
    parser.add_argument("--replay-budget", type=int, default=16, help="continual.replay_budget for the replay strategy.")
    args = parser.parse_args()
    unknown = [s for s in args.strategies if s not in STRATEGIES]
    if unknown:
        raise SystemExit(f"--strategies: unknown {', '.join(unknown)}; choose from {', '.join(STRATEGIES)}")
    work = args.work or Path(tempfile.mkdtemp(prefix="seal-forgetting-"))
    per_seed = each_seed(args.seeds, work, lambda seed, directory: run_seed(args, seed, directory), table_settings(args))
    for s in per_seed:
        missing = [name for name in args.strategies if name not in s.get("strategies", {})]
        if missing:
            raise SystemExit(f"{work}/seed-{s['seed']}.json has no run of {', '.join(missing)}: give a fresh --work")
    policy = f"ReST-EM round {args.policy_round}" if args.policy_work else "the initial policy"
    print(f"continual knowledge incorporation, nano world, {args.passages} passages, {policy}, seeds {args.seeds}")
    result: dict[str, Any] = {"strategies": {}}
    for strategy in args.strategies:
        runs = [{"matrices": s["strategies"][strategy]["matrices"]} for s in per_seed]
        entry: dict[str, Any] = {"matrices": {}, "forgetting": {}}
        for metric in METRICS:
            matrix = pooled_matrix(runs, metric)
            mean, interval = forgetting(runs, metric)
            print(f"strategy {strategy}")
            print_matrix(matrix, metric)
            print(f"forgetting ({metric}, right after its update minus after update {args.passages}): "
                  f"{mean:.3f} [{interval[0]:.3f}, {interval[1]:.3f}]\n")
            entry["matrices"][metric] = matrix
            entry["forgetting"][metric] = {"mean": mean, "ci": interval}
            entry[metric] = strategy_rows(per_seed, strategy, metric)
        entry["costs"] = strategy_costs(per_seed, strategy)
        result["strategies"][strategy] = entry
    for metric in METRICS:
        print_strategies(result["strategies"], metric)
    first = result["strategies"][args.strategies[0]]
    result.update(matrices=first["matrices"], forgetting=first["forgetting"])  # the first strategy's, as before
    if args.json:
        args.json.write_text(json.dumps({
            "world": "nano-knowledge", "model": args.model, "seeds": args.seeds, "passages": args.passages, "policy": policy,
            "replay_budget": args.replay_budget,
            "command": " ".join([Path(sys.argv[0]).name, *sys.argv[1:]]),
            "machine": {"platform": platform.platform(), "processor": platform.processor(), "cpus": os.cpu_count()},
            "loop_config": LOOP_CONFIG, "config_layer": read_yaml_mapping(args.config) if args.config else None,
            "model_recipe": recipe_summary(args.model), **result, "per_seed": per_seed,
        }, indent=1))
        print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
