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
from seal_agent.knowledge.config import KnowledgeRunConfig
from seal_agent.model.tiny import recipe_summary
from seal_agent.run.seeding import each_seed
from seal_agent.stats import mean_and_interval

METRICS = ("exact_match", "loglik")


def run_seed(args, seed: int, work: Path) -> dict[str, Any]:
    start = time.perf_counter()
    work.mkdir(parents=True, exist_ok=True)
    sequence = nano_world.passages("eval", args.passages, seed)
    nano_world.write_passages(sequence, work / "sequence.jsonl")
    layers = read_yaml_mapping(args.config) if args.config else {}
    policy = None
    if args.policy_work:
        policy = args.policy_work / f"seed-{seed}" / "rest-em" / "policy" / f"round_{args.policy_round}"
        if not policy.is_dir():
            raise SystemExit(f"--policy-work: no policy {policy}")
    config = KnowledgeRunConfig.resolve(None, overrides=deep_merge(deep_merge(LOOP_CONFIG, layers), {
        "model": {"name_or_path": args.model}, "seed": seed, "data": {"path": str(work / "sequence.jsonl")},
        "mode": "continual", "passages_per_round": args.passages, "eval": {"greedy_answers": True, "teacher": None},
        "policy_checkpoint": str(policy) if policy else None}))
    run_dir = work / "continual"
    resume = (run_dir / "config.yaml").exists()  # a seed cut mid-sequence goes on from its last merged update
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
    return {"seed": seed, "passages": order, "policy": str(policy) if policy else None, "matrices": matrices,
            "rejected": sum(s["status"] == "rejected" for s in summary["steps"]),
            "seconds": round(time.perf_counter() - start, 1)}


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
    args = parser.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="seal-forgetting-"))
    per_seed = each_seed(args.seeds, work, lambda seed, directory: run_seed(args, seed, directory))
    policy = f"ReST-EM round {args.policy_round}" if args.policy_work else "the initial policy"
    print(f"continual knowledge incorporation, nano world, {args.passages} passages, {policy}, seeds {args.seeds}")
    result: dict[str, Any] = {"matrices": {}, "forgetting": {}}
    for metric in METRICS:
        matrix = pooled_matrix(per_seed, metric)
        mean, interval = forgetting(per_seed, metric)
        print_matrix(matrix, metric)
        print(f"forgetting ({metric}, right after its update minus after update {args.passages}): "
              f"{mean:.3f} [{interval[0]:.3f}, {interval[1]:.3f}]\n")
        result["matrices"][metric] = matrix
        result["forgetting"][metric] = {"mean": mean, "ci": interval}
    if args.json:
        args.json.write_text(json.dumps({
            "world": "nano-knowledge", "model": args.model, "seeds": args.seeds, "passages": args.passages, "policy": policy,
            "command": " ".join([Path(sys.argv[0]).name, *sys.argv[1:]]),
            "machine": {"platform": platform.platform(), "processor": platform.processor(), "cpus": os.cpu_count()},
            "loop_config": LOOP_CONFIG, "config_layer": read_yaml_mapping(args.config) if args.config else None,
            "model_recipe": recipe_summary(args.model), **result, "per_seed": per_seed,
        }, indent=1))
        print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
