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

Tables run with `arc_table.py --rl-learning-rates` carry each seed's learning-rate sweep
(`rl_sweep`): for every algorithm the script then shows each rate's rounds on the RL tasks
(success, optimizer steps, valid fraction, sampled NLL per token, averaged over seeds), how
often each rate was chosen, and whether a rate collapsed (`COLLAPSE_RULE`); the entropy
column comes from the chosen rates' rounds, with no WORK needed.

`--reference NAME=TABLE_JSON` adds another table's rows on the same model and evaluation
tasks (e.g. the contextual table's "before RL" and "tuned constant"), pooled again over the
comparison's seeds only from its per-seed records. When the reference holds the contextual
world's spread matrices (`arc_table.py --world contextual`) and a table keeps its seed records
(`--seed-records`), each algorithm's rounds also get their choices against each evaluation
family's wanted augmentation set (`choices_toward_best`: the share on it, and specificity,
how much more a family gets its set than the families that want another; 0 for a constant
choice), the wanted sets taken from the reference's matrices over the same seeds. Every
algorithm's last round is compared with the other algorithms' and with each reference row
seed by seed: the mean per-seed difference with its between-seed t-interval (`paired`), the
seeds being the replicates.
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path
from typing import Any

from seal_agent.inspect.figures import write_figure
from seal_agent.stats import between_seed_interval, mean_and_interval, success_row

ROOT = Path(__file__).resolve().parents[1]

# What every table of one comparison must share, beside the model (`same_model`: by its
# recipe, since paths may differ).
SAME = {"knowledge": ("seeds", "rl_passages", "eval_passages"),
        "arc": ("seeds", "rl_tasks", "eval_tasks")}
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
        if same_model(table) != same_model(first):
            raise SystemExit(f"{name} and {first_name} differ in model_recipe: not the same experiment")
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


def reference_rows(reference: dict[str, Any], first: dict[str, Any], name: str) -> list[dict[str, Any]]:
    """The reference table's rows pooled again over the comparison's seeds from its per-seed
    records; refused unless it holds every seed, on the same model and evaluation tasks."""
    if domain_of(first) != "arc" or domain_of(reference) != "arc":
        raise SystemExit(f"--reference {name}: only ARC tables take a reference")
    if same_model(reference) != same_model(first):
        raise SystemExit(f"reference {name} was run on another model")
    for key in ("eval_candidates", "eval_tasks_per_spec", "arc_subset"):
        if reference["settings"].get(key) != first["settings"].get(key):
            raise SystemExit(f"reference {name} differs in settings.{key}: not the same evaluation")
    records = {int(s["seed"]): s for s in reference.get("per_seed", [])}
    rows: dict[str, dict[str, Any]] = {}
    for seed in first["seeds"]:
        if seed not in records:
            raise SystemExit(f"reference {name} has no record of seed {seed}")
        if reference["eval_tasks"].get(str(seed)) != first["eval_tasks"].get(str(seed)):
            raise SystemExit(f"reference {name} differs in eval_tasks of seed {seed}: not the same experiment")
        for row in records[seed]["rows"]:
            if not row["n"]:
                continue
            entry = rows.setdefault(row["name"], {"solved": 0, "n": 0, "per_seed": [], "by_seed": {}})
            entry["solved"] += row["solved"]
            entry["n"] += row["n"]
            entry["per_seed"].append([1.0] * row["solved"] + [0.0] * (row["n"] - row["solved"]))
            entry["by_seed"][str(seed)] = row["solved"] / row["n"]
    return [success_row(f"{name}: {row_name}", e["solved"], e["n"], between_seeds=between_seed_interval(e["per_seed"]),
                        by_seed=e["by_seed"])
            for row_name, e in rows.items() if len(e["by_seed"]) == len(first["seeds"])]


def same_model(table: dict[str, Any]) -> str:
    """The model a table ran on, by its recipe without the seconds its pretraining took (the
    same model rebuilt on another machine is the same model), as `seal_agent.model.tiny.model_identity`
    counts it; not imported from there, which would load torch into a script that reads JSON."""
    recipe = table.get("model_recipe")
    if isinstance(recipe, dict):
        recipe = {k: v for k, v in recipe.items() if k != "seconds"}
    return json.dumps(recipe, sort_keys=True)


def by_seed(table: dict[str, Any], row_name: str) -> dict[str, float]:
    """One row's success in each seed, from the table's per-seed records: {seed: solved / n}."""
    return {str(s["seed"]): r["solved"] / r["n"] for s in table.get("per_seed", []) for r in s.get("rows", [])
            if r["name"] == row_name and r.get("n")}


def valid_by_seed(table: dict[str, Any], row_name: str) -> list[float]:
    """The valid fraction of one policy row's self-edits on the evaluation tasks, per seed."""
    return [r["valid_fraction"] for s in table.get("per_seed", []) for r in s.get("rows", [])
            if r["name"] == row_name and r.get("valid_fraction") is not None]


# A learning rate "collapsed" when, in some round, the policy it trained samples under half
# the valid self-edits the initial policy did, or self-edits four times less likely per
# token: the failure RLOO showed on the knowledge world (valid fraction down, NLL per token
# up 90-fold). A falling NLL per token is the policy sharpening, which ReST-EM does by
# design: it is shown, not flagged. Round N's samples come from the policy before update N,
# so the sweep's rounds check every update but the last; the SEAL rows' own valid fractions
# on the evaluation tasks (printed beside them) check that one.
COLLAPSE_RULE = {"valid_fraction_below": 0.5, "nll_per_token_ratio_above": 4.0,
                 "relative_to": "the round-1 samples (the initial policy's)",
                 "covers": "the updates before the last round; the last update shows in the SEAL rows' valid fractions"}


def collapsed(rounds: list[dict[str, Any]]) -> list[str]:
    """Why these rounds (one seed, one rate, from `rl_sweep`) count as a collapse; [] if they do not."""
    if not rounds:
        return []
    first, why = rounds[0], []
    for r in rounds[1:]:
        if first.get("valid_fraction") and r.get("valid_fraction") is not None \
                and r["valid_fraction"] < COLLAPSE_RULE["valid_fraction_below"] * first["valid_fraction"]:
            why.append(f"round {r['round']}: valid fraction {r['valid_fraction']:.2f} (round 1: {first['valid_fraction']:.2f})")
        if first.get("sampled_nll_per_token") and r.get("sampled_nll_per_token") is not None:
            ratio = r["sampled_nll_per_token"] / first["sampled_nll_per_token"]
            if ratio > COLLAPSE_RULE["nll_per_token_ratio_above"]:
                why.append(f"round {r['round']}: sampled NLL/token {r['sampled_nll_per_token']:.3f} "
                           f"(round 1: {first['sampled_nll_per_token']:.3f})")
    return why


def sweep_summary(table: dict[str, Any]) -> dict[str, Any] | None:
    """Each swept rate's rounds on the RL tasks averaged over seeds, how many seeds chose it,
    and each seed's collapse findings; None when the table's seeds swept no rate."""
    sweeps = {int(s["seed"]): s["rl_sweep"] for s in table.get("per_seed", []) if s.get("rl_sweep")}
    if not sweeps:
        return None
    keys = ("success_rate", "policy_optimizer_steps", "valid_fraction", "sampled_nll_per_token")
    rates: dict[str, Any] = {}
    for rate in dict.fromkeys(rate for sweep in sweeps.values() for rate in sweep["rates"]):  # every seed's, in order
        by_round: dict[int, dict[str, list[float]]] = {}
        for sweep in sweeps.values():
            for r in sweep["rates"].get(rate, []):
                cell = by_round.setdefault(r["round"], {k: [] for k in keys})
                for k in keys:
                    if r.get(k) is not None:
                        cell[k].append(r[k])
        rates[rate] = {
            "chosen_by_seeds": [seed for seed, sweep in sweeps.items() if f"{sweep['chosen']:g}" == rate],
            "rounds": [{"round": n, **{k: round(statistics.fmean(v), 4) if v else None for k, v in cell.items()}}
                       for n, cell in sorted(by_round.items())],
            "collapse": {str(seed): why for seed, sweep in sweeps.items() if (why := collapsed(sweep["rates"].get(rate, [])))}}
    return {"algorithm": next(iter(sweeps.values()))["algorithm"], "criterion": next(iter(sweeps.values()))["criterion"],
            "chosen": {str(seed): sweep["chosen"] for seed, sweep in sweeps.items()}, "rates": rates}


def chosen_entropy(table: dict[str, Any]) -> dict[str, float]:
    """Sampled NLL per token by round of the chosen rates' outer loops, averaged over seeds."""
    by_round: dict[str, list[float]] = {}
    for seed in table.get("per_seed", []):
        sweep = seed.get("rl_sweep")
        for r in sweep["rates"][f"{sweep['chosen']:g}"] if sweep else []:
            if r.get("sampled_nll_per_token") is not None:
                by_round.setdefault(str(r["round"]), []).append(r["sampled_nll_per_token"])
    return {k: round(statistics.fmean(v), 4) for k, v in sorted(by_round.items())}


def paired(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    """Row a minus row b seed by seed (their `by_seed` successes, matched by seed): the mean
    difference, its t-interval over seeds, and each seed's difference."""
    if set(a["by_seed"]) != set(b["by_seed"]):
        raise SystemExit(f"{a['name']} and {b['name']} were scored on different seeds "
                         f"({sorted(a['by_seed'])} and {sorted(b['by_seed'])}): no seed-by-seed difference")
    seeds = sorted(a["by_seed"], key=int)
    differences = [a["by_seed"][seed] - b["by_seed"][seed] for seed in seeds]
    mean, interval = mean_and_interval(differences)
    return {"row": a["name"], "minus": b["name"], "mean": mean, "ci": interval, "seeds": [int(x) for x in seeds],
            "per_seed": differences}


def print_sweep(name: str, sweep: dict[str, Any]) -> None:
    print(f"{name}: learning-rate sweep on the RL tasks ({sweep['criterion']}), means over seeds")
    print(f"  {'rate':>7} {'chosen':>7}  {'round':>5} {'RL success':>10} {'opt steps':>9} {'valid':>6} {'NLL/token':>9}")
    for rate, entry in sweep["rates"].items():
        for i, r in enumerate(entry["rounds"]):
            def cell(key, form):  # noqa: E306
                return format(r[key], form) if r.get(key) is not None else "-"
            head = f"  {rate:>7} {len(entry['chosen_by_seeds']):>7}" if i == 0 else f"  {'':>7} {'':>7}"
            print(f"{head}  {r['round']:>5} {cell('success_rate', '.1%'):>10} {cell('policy_optimizer_steps', '.0f'):>9} "
                  f"{cell('valid_fraction', '.2f'):>6} {cell('sampled_nll_per_token', '.3f'):>9}")
        for seed, why in entry["collapse"].items():
            print(f"  {'':>7} collapse at rate {rate}, seed {seed}: " + "; ".join(why))


def wanted_sets(references: list[dict[str, Any]], seeds: list[int]) -> dict[str, str] | None:
    """Each evaluation family's wanted augmentation set, from the first reference whose seed
    records hold the evaluation spread matrix of every comparison seed; None if none does."""
    for reference in references:
        records = {int(s["seed"]): s for s in reference.get("per_seed", [])}
        if all(seed in records and records[seed].get("eval_spread") for seed in seeds):
            from seal_agent.arc import contextual_rows  # imports the model stack: only for the contextual world

            return contextual_rows.best_sets(contextual_rows.add_matrices([records[seed]["eval_spread"] for seed in seeds]))
    return None


def seed_records(table: dict[str, Any], seeds: list[int]) -> list[dict[str, Any]] | None:
    """The table's seed records (`arc_table.py --seed-records`, a path as given, from here or
    from the repository root), when every seed's is there with its scored self-edits."""
    if not table.get("seed_records"):
        return None
    folder = Path(table["seed_records"])
    folder = folder if folder.is_dir() else ROOT / folder
    files = [folder / f"seed-{seed}.json" for seed in seeds]
    if missing := [str(f) for f in files if not f.is_file()]:
        print(f"no choices toward the wanted sets: no seed record {', '.join(missing)}")
        return None
    records = [json.loads(f.read_text()) for f in files]
    for record, seed in zip(records, seeds):
        if record.get("eval_tasks") != table["eval_tasks"].get(str(seed)) or not record.get("candidates"):
            print(f"no choices toward the wanted sets: {folder}/seed-{seed}.json is not this table's seed or keeps no self-edits")
            return None
    return records


def choices_toward_wanted(records: list[dict[str, Any]], best: dict[str, str]) -> dict[str, Any]:
    from seal_agent.arc import contextual_rows

    return contextual_rows.choices_toward(contextual_rows.policy_candidates(records), best)


def print_toward(name: str, toward: dict[str, Any]) -> None:
    for row_name, row in toward["rows"].items():
        cells = ", ".join(f"{family} {cell['on_best']:.0%}" for family, cell in row["by_family"].items() if cell["on_best"] is not None)
        specificity = "-" if row["mean_specificity"] is None else f"{row['mean_specificity']:+.2f}"
        print(f"  {name}: {row_name}: on the wanted set {cells}; specificity {specificity}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--table", action="append", required=True, help="NAME=TABLE_JSON[,WORK]; one per algorithm.")
    parser.add_argument("--reference", action="append", default=[],
                        help="NAME=TABLE_JSON: another table's rows on the same model and evaluation tasks, over these seeds.")
    parser.add_argument("--json", type=Path, help="Write the comparison here.")
    args = parser.parse_args()
    parsed = [parse_table(t) for t in args.table]
    tables = {name: json.loads(path.read_text()) for name, path, _work in parsed}
    check_comparable(tables)
    first = next(iter(tables.values()))
    shared = [{**r, "by_seed": by_seed(first, r["name"])} for r in first["rows"] if not r["name"].startswith("SEAL")]
    references, reference_paths = [], {}
    for text in args.reference:
        ref_name, _, ref_path = text.partition("=")
        if not ref_name or not ref_path:
            raise SystemExit(f"--reference {text!r}: expected NAME=TABLE_JSON")
        references.append(json.loads(Path(ref_path).read_text()))
        reference_paths[ref_name] = ref_path
        shared += reference_rows(references[-1], first, ref_name)
    best = wanted_sets(references, first["seeds"])
    print(f"{first.get('world', '')}: {first['model']}, seeds {first['seeds']}; rows on evaluation {'passages' if domain_of(first) == 'knowledge' else 'tasks'} disjoint from RL")
    knowledge = domain_of(first) == "knowledge"
    print(f"{'':30} {'exact match' if knowledge else 'success':>11}  {'95% CI':>15}"
          + (f"  {'loglik gain':>11}  {'95% CI':>17}" if knowledge else ""))

    def line(label: str, row: dict[str, Any]) -> None:
        gain = f"  {row['loglik_gain']:>11.3f}  [{row['loglik_gain_ci'][0]:.3f}, {row['loglik_gain_ci'][1]:.3f}]" if knowledge else ""
        print(f"{label:30} {row['success']:>11.1%}  [{row['ci_low']:.1%}, {row['ci_high']:.1%}]{gain}")

    for row in shared:
        line(row["name"], row)
    comparison: dict[str, Any] = {"shared_rows": shared, "references": reference_paths, "algorithms": {}, "wanted_sets": best}
    if best:
        print("each evaluation family's wanted augmentation set (the reference's spread, these seeds): "
              + ", ".join(f"{family} {wanted}" for family, wanted in best.items()))
    for name, _path, work in parsed:
        entropy = chosen_entropy(tables[name]) or entropy_per_round(work, tables[name]["seeds"])
        seal_rows = [{**r, "by_seed": by_seed(tables[name], r["name"])} for r in tables[name]["rows"] if r["name"].startswith("SEAL")]
        for row in seal_rows:
            line(f"{name}: {row['name']}", row)
            if valid := valid_by_seed(tables[name], row["name"]):  # the policy after the row's update, on new tasks
                row["valid_fraction_by_seed"] = valid
                print(f"{'':30} valid self-edits on the evaluation tasks, by seed: " + ", ".join(f"{v:.2f}" for v in valid))
        if entropy:  # round N's samples come from the policy before round N's update
            print(f"{'':30} sampled NLL/token, by RL round: " + ", ".join(
                f"{r} ({'initial policy' if r == '1' else f'after round {int(r) - 1}'}) {v:.3f}" for r, v in entropy.items()))
        sweep = sweep_summary(tables[name])
        records = seed_records(tables[name], first["seeds"]) if best else None
        toward = choices_toward_wanted(records, best) if records else None
        if toward:
            print_toward(name, toward)
        if sweep:
            print_sweep(name, sweep)
            comparison["collapse_rule"] = COLLAPSE_RULE
        comparison["algorithms"][name] = {
            "rows": seal_rows, "sampled_nll_per_token_by_round": entropy, "config_layer": tables[name].get("config_layer"),
            "rest_em": tables[name].get("rest_em"), "table": str(_path), **({"rl_sweep": sweep} if sweep else {}),
            **({"choices_toward_best": toward} if toward else {})}
    comparison["paired"] = paired_comparisons(comparison, shared) if len(first["seeds"]) > 1 else []
    if comparison["paired"]:
        print(f"last rounds, seed by seed (mean difference [95% t-interval over {len(first['seeds'])} seeds])")
        for d in comparison["paired"]:
            print(f"  {d['row']} - {d['minus']}: {d['mean']:+.1%} [{d['ci'][0]:+.1%}, {d['ci'][1]:+.1%}]")
    if args.json:
        comparison.update({k: first.get(k) for k in ("world", "model", "seeds", "settings", "loop_config", "model_recipe",
                                                     "rl_passages", "eval_passages", "rl_tasks", "eval_tasks") if k in first})
        args.json.write_text(json.dumps(comparison, indent=1))
        write_figure(args.json)  # every algorithm's rows with their intervals, beside the JSON
        print(f"wrote {args.json}")


def paired_comparisons(comparison: dict[str, Any], shared: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Every algorithm's last round minus every later-listed algorithm's last round and minus
    each shared row that has per-seed figures."""
    last = {name: a["rows"][-1] for name, a in comparison["algorithms"].items() if a["rows"] and a["rows"][-1]["by_seed"]}
    names = list(last)
    out = []
    for i, name in enumerate(names):
        row = {**last[name], "name": f"{name}: {last[name]['name']}"}
        for other in names[i + 1:]:
            out.append(paired(row, {**last[other], "name": f"{other}: {last[other]['name']}"}))
        out += [paired(row, s) for s in shared if s["by_seed"]]
    return out


if __name__ == "__main__":
    main()
