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
of the sampled self-edits under the policy that sampled them, recorded by the policy-
gradient algorithms; ReST-EM runs do not record it).
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path
from typing import Any

SAME = ("model_recipe", "seeds", "rl_passages", "eval_passages")  # the model by its recipe: paths may differ
SAME_SETTINGS = ("rl_passages", "eval_passages", "candidates", "update_seeds", "rounds", "seeds")


def parse_table(text: str) -> tuple[str, Path, Path | None]:
    name, _, rest = text.partition("=")
    table, _, work = rest.partition(",")
    if not name or not table:
        raise SystemExit(f"--table {text!r}: expected NAME=TABLE_JSON[,WORK]")
    return name, Path(table), Path(work) if work else None


def check_comparable(tables: dict[str, dict[str, Any]]) -> None:
    first_name, first = next(iter(tables.items()))
    for name, table in tables.items():
        for key in SAME:
            if json.dumps(table.get(key), sort_keys=True) != json.dumps(first.get(key), sort_keys=True):
                raise SystemExit(f"{name} and {first_name} differ in {key}: not the same experiment")
        for key in SAME_SETTINGS:
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
    print(f"{'':30} {'exact match':>11}  {'95% CI':>15}  {'loglik gain':>11}  {'95% CI':>17}  {'sampled NLL/token':>17}")

    def line(label: str, row: dict[str, Any], nll: float | None = None) -> None:
        low, high = row["loglik_gain_ci"]
        print(f"{label:30} {row['success']:>11.1%}  [{row['ci_low']:.1%}, {row['ci_high']:.1%}]  {row['loglik_gain']:>11.3f}  "
              f"[{low:.3f}, {high:.3f}]  {'-' if nll is None else f'{nll:.3f}':>17}")

    for row in shared:
        line(row["name"], row)
    comparison: dict[str, Any] = {"shared_rows": shared, "algorithms": {}}
    for name, _path, work in parsed:
        entropy = entropy_per_round(work, tables[name]["seeds"])
        seal_rows = [r for r in tables[name]["rows"] if r["name"].startswith("SEAL")]
        for row in seal_rows:
            line(f"{name}: {row['name']}", row, entropy.get(row["name"].rsplit(" ", 1)[-1]))
        comparison["algorithms"][name] = {
            "rows": seal_rows, "sampled_nll_per_token_by_round": entropy, "config_layer": tables[name].get("config_layer"),
            "rest_em": tables[name].get("rest_em"), "table": str(_path)}
    if args.json:
        comparison.update({k: first.get(k) for k in ("world", "model", "seeds", "settings", "loop_config", "model_recipe",
                                                     "rl_passages", "eval_passages")})
        args.json.write_text(json.dumps(comparison, indent=1))
        print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
