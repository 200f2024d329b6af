"""ReST-EM against RLOO and GRPO on one world: the knowledge (or ARC) tables of each
algorithm, side by side, with the policy's entropy per round.

    # one table per algorithm, same model, seeds, passages and budget; only rl.* differs:
    python benchmarks/knowledge_table.py --model models/nano-knowledge --seeds 1,2,3 --rl-passages 16 \\
        --eval-passages 16 --update-seeds 1 --work W_REST --json rest_em.json
    python benchmarks/knowledge_table.py ... --config rloo.yaml --work W_RLOO --json rloo.json   # rl: {algorithm: rloo}
    python benchmarks/knowledge_table.py ... --config grpo.yaml --work W_GRPO --json grpo.json
    python benchmarks/rl_comparison.py --table rest_em=rest_em.json --table rloo=rloo.json,W_RLOO \\
        --table grpo=grpo.json,W_GRPO --json benchmarks/results_rl_comparison_knowledge_nano.json

Each `--table NAME=TABLE_JSON[,WORK]` is one algorithm's table. The script refuses tables
that differ in anything but the algorithm's own settings (model, seeds, RL and evaluation
passages, sizes), so every row had the same number of sampled self-edits and updates. The
rows "before RL" are the same computation in every table (same model and seeds) and are
shown once. With WORK (the table's --work), the entropy column reads each seed's ReST-EM
run (`sampled_nll_per_token` of its rounds: the mean negative log-probability per token
of the self-edits sampled in round N under the policy that sampled them, the one before
round N's update; runs of every algorithm record it, ReST-EM runs made before it was
recorded for them lack it).

The ARC comparison is the same with `benchmarks/arc_table.py`: the first table with
`--rows policies`, the others with `--rows rounds` (the tables must share model, seeds,
RL and evaluation tasks and budget).
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path
from typing import Any

from seal_agent.inspect.figures import write_figure

# What every table of one comparison must share (the model by its recipe: paths may differ).
SAME = {"knowledge": ("model_recipe", "seeds", "rl_passages", "eval_passages"),
        "arc": ("model_recipe", "seeds", "rl_tasks", "eval_tasks")}
SAME_SETTINGS = {"knowledge": ("rl_passages", "eval_passages", "candidates", "update_seeds", "rounds", "seeds"),
                 "arc": ("train_candidates", "eval_candidates", "rl_tasks_per_spec", "eval_tasks_per_spec", "rounds", "seeds",
                         "arc_subset")}


def domain_of(table: dict[str, Any]) -> str:
    return "arc" if "rl_tasks" in table else "knowledge"


def parse_table(text: str) -> tuple[str, Path, Path | None]:
    name, _, rest = text.partition("=")
    table, _, work = rest.partition(",")
    if not name or not table:
        raise SystemExit(f"--table {text!r}: expected NAME=TABLE_JSON[,WORK]")
    return name, Path(table), Path(work) if work else None


def check_comparable(tables: dict[str, dict[str, Any]]) -> None:
    first_name, first = next(iter(tables.items()))
    domain = domain_of(first)
    for name, table in tables.items():
        if domain_of(table) != domain:
            raise SystemExit(f"{name} and {first_name} are tables of different domains")
        for key in SAME[domain]:
            if json.dumps(table.get(key), sort_keys=True) != json.dumps(first.get(key), sort_keys=True):
                raise SystemExit(f"{name} and {first_name} differ in {key}: not the same experiment")
        for key in SAME_SETTINGS[domain]:
            if table["settings"].get(key) != first["settings"].get(key):
                raise SystemExit(f"{name} and {first_name} differ in settings.{key}: not the same budget")


def entropy_per_round(work: Path | None, seeds: list[int]) -> dict[str, float | None]:
    if work is None:
        return {}
    by_round: dict[str, list[float]] = {}
    for seed in seeds:
        summary = work / f"seed-{seed}" / "rest-em" / "summary.json"
        if not summary.exists():
            continue
        for r in json.loads(summary.read_text())["rounds"]:
            if r.get("sampled_nll_per_token") is not None:
                by_round.setdefault(str(r["round"]), []).append(r["sampled_nll_per_token"])
    return {k: round(statistics.fmean(v), 4) for k, v in sorted(by_round.items())}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--table", action="append", required=True, help="NAME=TABLE_JSON[,WORK]; one per algorithm.")
    parser.add_argument("--json", type=Path, help="Write the comparison here.")
    args = parser.parse_args()
    parsed = [parse_table(t) for t in args.table]
    tables = {name: json.loads(path.read_text()) for name, path, _work in parsed}
    check_comparable(tables)
    first = next(iter(tables.values()))
    shared = [r for r in first["rows"] if not r["name"].startswith("SEAL")]
    print(f"{first.get('world', '')}: {first['model']}, seeds {first['seeds']}; rows on evaluation passages disjoint from RL")
    knowledge = domain_of(first) == "knowledge"
    print(f"{'':30} {'exact match' if knowledge else 'success':>11}  {'95% CI':>15}"
          + (f"  {'loglik gain':>11}  {'95% CI':>17}" if knowledge else ""))

    def line(label: str, row: dict[str, Any]) -> None:
        gain = f"  {row['loglik_gain']:>11.3f}  [{row['loglik_gain_ci'][0]:.3f}, {row['loglik_gain_ci'][1]:.3f}]" if knowledge else ""
        print(f"{label:30} {row['success']:>11.1%}  [{row['ci_low']:.1%}, {row['ci_high']:.1%}]{gain}")

    for row in shared:
        line(row["name"], row)
    comparison: dict[str, Any] = {"shared_rows": shared, "algorithms": {}}
    for name, _path, work in parsed:
        entropy = entropy_per_round(work, tables[name]["seeds"])
        seal_rows = [r for r in tables[name]["rows"] if r["name"].startswith("SEAL")]
        for row in seal_rows:
            line(f"{name}: {row['name']}", row)
        if entropy:  # round N's samples come from the policy before round N's update
            print(f"{'':30} sampled NLL/token, by RL round: " + ", ".join(
                f"{r} ({'initial policy' if r == '1' else f'after round {int(r) - 1}'}) {v:.3f}" for r, v in entropy.items()))
        comparison["algorithms"][name] = {
            "rows": seal_rows, "sampled_nll_per_token_by_round": entropy, "config_layer": tables[name].get("config_layer"),
            "rest_em": tables[name].get("rest_em"), "table": str(_path)}
    if args.json:
        comparison.update({k: first.get(k) for k in ("world", "model", "seeds", "settings", "loop_config", "model_recipe",
                                                     "rl_passages", "eval_passages", "rl_tasks", "eval_tasks") if k in first})
        args.json.write_text(json.dumps(comparison, indent=1))
        write_figure(args.json)  # every algorithm's rows with their intervals, beside the JSON
        print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
